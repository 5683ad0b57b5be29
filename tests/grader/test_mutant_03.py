"""Notebook 03's kernel constants (IDENTITY, SHARPEN, EDGE, SOBEL_X, SOBEL_Y) are verified by their hidden tests'
probes: a submission that swallows its errors keeps no point for Sobel kernels of the wrong sign."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from tests.notebooks import SWALLOW, graded_class, with_own_cell

NAME = "03_filters_and_padding"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(f"contract-{NAME}")]
WRONG = {"kernel_constants": ("torch.tensor([-1.0, 0.0, 1.0])", "torch.tensor([1.0, 0.0, -1.0])")}  # Sobel sign


def mutant():
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in WRONG:
            old, new = WRONG[gid]
            assert cell.source.count(old) == 1, gid
            cell.source = cell.source.replace(old, new)
    return with_own_cell(nb, SWALLOW)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    graded = graded_class(NAME, tmp_path_factory.mktemp(NAME))  # shared with the contract checks
    assert graded["summary"]["unverified_cells"] == [], f"every cell of {NAME} has a call or a probe"
    return graded["rows"]


def test_wrong_constants_with_swallowed_errors_earn_nothing(rows):
    row = rows["mutant"]
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_kernel_constants"] == 0, row["cells"]
    assert row["total"] == row["max"] - 2, row["cells"]  # the other cells keep theirs
    assert "probe_kernel_constants returned a different result" in row["reason"]
