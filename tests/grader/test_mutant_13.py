"""Notebook 13's class answers (ConvAutoencoder, TiedAutoencoder) are verified by their hidden tests' probes:
a submission that swallows its errors keeps no point for a wrong autoencoder."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from tests.notebooks import mutant_rows, SWALLOW, with_own_cell

NAME = "13_autoencoders"
pytestmark = pytest.mark.slow  # one scope with the contract checks of NAME (tests/conftest.py)
MISTAKES = {  # grade id of the answer: (the solution's text, the wrong one)
    "ConvAutoencoder": ("y = F.relu(self.dec1(z))", "y = self.dec1(z)"),  # no ReLU after the first decoder layer
    "TiedAutoencoder": ("self.weight.t(), self.decoder_bias", "self.weight.t().detach(), self.decoder_bias"),  # one use
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


def test_wrong_autoencoders_with_swallowed_errors_earn_nothing(rows):
    row = rows["mutant"]
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_ConvAutoencoder"] == 0 and row["cells"]["test_TiedAutoencoder"] == 0, row["cells"]
    assert row["total"] == row["max"] - 3 - 3, row["cells"]  # the five right functions keep theirs
    assert "probe_TiedAutoencoder returned a different result" in row["reason"]
