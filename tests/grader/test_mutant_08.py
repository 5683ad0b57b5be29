"""Notebook 08's class answers (vgg_block, InceptionBlock, ResidualBlock, DenseBlock) are verified by their
hidden tests' probes: a submission that swallows its errors keeps no point for a wrong block."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from tests.notebooks import mutant_rows, SWALLOW, with_own_cell

NAME = "08_architectures"
pytestmark = pytest.mark.slow  # one scope with the contract checks of NAME (tests/conftest.py)
HALVED = "\nResidualBlock.forward = (lambda f: (lambda self, x: f(self, x) * 0.5))(ResidualBlock.forward)"
EXTRA_LAYER = "\n_vgg = vgg_block\ndef vgg_block(*a, **k):\n    b = _vgg(*a, **k)\n    b.append(nn.Identity())\n    return b"


def mutant():
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source += HALVED if "class ResidualBlock" in cell.source else ""
            cell.source += EXTRA_LAYER if "def vgg_block" in cell.source else ""
    return with_own_cell(nb, SWALLOW)


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def rows(tmp_path_factory):
    return mutant_rows(NAME, tmp_path_factory)


def test_wrong_blocks_with_swallowed_errors_earn_nothing(rows):
    row = rows["mutant"]
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_vgg_block"] == 0 and row["cells"]["test_ResidualBlock"] == 0, row["cells"]
    assert row["total"] == row["max"] - 3 - 4, row["cells"]  # the three right blocks and compound_scaling keep theirs
    assert "probe_ResidualBlock returned a different result" in row["reason"]
