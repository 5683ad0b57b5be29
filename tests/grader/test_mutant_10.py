"""Notebook 10's answers take a model (saliency_map, grad_cam, occlusion_map, fgsm), so their calls cannot be replayed:
the hidden tests' probes verify them. A submission that swallows its errors keeps no point for a wrong answer."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from tests.notebooks import mutant_rows, SWALLOW, with_own_cell

NAME = "10_what_a_cnn_looks_at"
pytestmark = pytest.mark.slow  # one scope with the contract checks of NAME (tests/conftest.py)
MISTAKES = {  # grade id of the answer: (the solution's text, the wrong one)
    "saliency_map": ("grad.abs().amax(dim=1)", "grad.abs().mean(dim=1)"),  # mean over the channels, not the max
    "grad_cam": ("        handle.remove()\n", "        pass\n"),  # the hook stays on the layer
    "occlusion_map": ("batch = x.repeat(len(lefts), 1, 1, 1)",  # the occlusions of one row stay for the next
                      "batch = x.repeat(len(lefts), 1, 1, 1) if i == 0 else batch"),
}


def mutant():
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    for cell in nb.cells:
        old, new = MISTAKES.get(cell.metadata.get("nbgrader", {}).get("grade_id"), ("", ""))
        if old:
            assert cell.source.count(old) == 1, old
            cell.source = cell.source.replace(old, new)
    return with_own_cell(nb, SWALLOW)


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def rows(tmp_path_factory):
    return mutant_rows(NAME, tmp_path_factory)


def test_wrong_answers_with_swallowed_errors_earn_nothing(rows):
    row = rows["mutant"]
    assert row["status"] == "suspicious", row
    assert all(row["cells"][f"test_{gid}"] == 0 for gid in MISTAKES), row["cells"]
    assert row["total"] == row["max"] - 3 - 4 - 4, row["cells"]  # the right fgsm keeps its points
    assert "probe_saliency_map returned a different result" in row["reason"]
