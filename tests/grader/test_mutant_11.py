"""Notebook 11's build_transforms (an answer that is a transform) is verified by its hidden tests' probes: a submission
that swallows its errors keeps no point for a crop that pads by reflection."""
from __future__ import annotations

import pytest

from tests.notebooks import mutant_rows, replaced_solution

NAME = "11_data_augmentation"
pytestmark = pytest.mark.slow  # one scope with the contract checks of NAME (tests/conftest.py)
WRONG = {"build_transforms": ("v2.RandomCrop(28, padding=2)", "v2.RandomCrop(28, padding=2, padding_mode=\"reflect\")")}


def mutant():
    return replaced_solution(NAME, WRONG)


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def rows(tmp_path_factory):
    return mutant_rows(NAME, tmp_path_factory)


def test_wrong_transform_with_swallowed_errors_earn_nothing(rows):
    row = rows["mutant"]
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_build_transforms"] == 0, row["cells"]
    assert row["total"] == row["max"] - 3, row["cells"]  # the other cells keep theirs
    assert "probe_build_transforms returned a different result" in row["reason"]
