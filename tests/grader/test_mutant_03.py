"""Notebook 03's kernel constants (IDENTITY, SHARPEN, EDGE, SOBEL_X, SOBEL_Y) are verified by their hidden tests'
probes: a submission that swallows its errors keeps no point for Sobel kernels of the wrong sign."""
from __future__ import annotations

import pytest

from tests.notebooks import mutant_rows, replaced_solution

NAME = "03_filters_and_padding"
pytestmark = pytest.mark.slow  # one scope with the contract checks of NAME (tests/conftest.py)
WRONG = {"kernel_constants": ("torch.tensor([-1.0, 0.0, 1.0])", "torch.tensor([1.0, 0.0, -1.0])")}  # Sobel sign


def mutant():
    return replaced_solution(NAME, WRONG)


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def rows(tmp_path_factory):
    return mutant_rows(NAME, tmp_path_factory)


def test_wrong_constants_with_swallowed_errors_earn_nothing(rows):
    row = rows["mutant"]
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_kernel_constants"] == 0, row["cells"]
    assert row["total"] == row["max"] - 2, row["cells"]  # the other cells keep theirs
    assert "probe_kernel_constants returned a different result" in row["reason"]
