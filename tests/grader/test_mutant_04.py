"""Notebook 04's count_params(model) is verified by its hidden tests' probes: a submission that swallows its errors
keeps no point for a count that takes a shared layer twice."""
from __future__ import annotations

import pytest

from tests.notebooks import mutant_rows, replaced_solution

NAME = "04_shapes_pooling_receptive_fields"
pytestmark = pytest.mark.slow  # one scope with the contract checks of NAME (tests/conftest.py)
WRONG = {"count_params": ("for p in model.parameters()",  # a layer used twice counted twice
                          "for _, p in model.named_parameters(remove_duplicate=False)")}


def mutant():
    return replaced_solution(NAME, WRONG)


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def rows(tmp_path_factory):
    return mutant_rows(NAME, tmp_path_factory)


def test_wrong_count_with_swallowed_errors_earn_nothing(rows):
    row = rows["mutant"]
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_count_params"] == 0, row["cells"]
    assert row["total"] == row["max"] - 2, row["cells"]  # the other cells keep theirs
    assert "probe_count_params returned a different result" in row["reason"]
