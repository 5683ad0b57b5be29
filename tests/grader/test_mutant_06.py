"""Notebook 06's conv_bn_relu and kaiming_init_ (a module, a function of a module) are verified by their hidden
tests' probes: a submission that swallows its errors keeps no point for a block with a conv bias or an init from
fan_out."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from tests.notebooks import SWALLOW, graded_class, with_own_cell

NAME = "06_training_cnns"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(f"contract-{NAME}")]
WRONG = {"conv_bn_relu": ("padding=1, bias=False", "padding=1, bias=True"),
         "kaiming_init_": ("layer.weight[0].numel()", "layer.weight[:, 0].numel()")}  # fan_out instead of fan_in


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


def test_wrong_block_and_init_with_swallowed_errors_earn_nothing(rows):
    row = rows["mutant"]
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_conv_bn_relu"] == 0 and row["cells"]["test_kaiming_init_"] == 0, row["cells"]
    assert row["total"] == row["max"] - 2 - 3, row["cells"]  # the other cells keep theirs
    assert "probe_conv_bn_relu returned a different result" in row["reason"]
    assert "probe_kaiming_init_ returned a different result" in row["reason"]
