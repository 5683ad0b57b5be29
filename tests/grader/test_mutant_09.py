"""Notebook 09's answers take models (count_trainable, freeze, replace_classifier, param_groups), so no call
can be replayed: their hidden tests' probes build the models themselves, and a submission that swallows its
errors keeps no point for a wrong tool."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from tests.notebooks import mutant_rows, SWALLOW, with_own_cell

NAME = "09_transfer_learning"
pytestmark = pytest.mark.slow  # one scope with the contract checks of NAME (tests/conftest.py)
SUBSTRING = ("\ndef freeze(model, trainable_prefixes):\n    for name, p in model.named_parameters():\n"
             "        p.requires_grad_(any(prefix in name for prefix in trainable_prefixes))\n    return model")
EMPTY_GROUPS = ("\n_groups = param_groups\ndef param_groups(model, head_prefix, base_lr, head_lr):\n"
                "    groups = _groups(model, head_prefix, base_lr, head_lr)\n"
                "    return groups + [{\"params\": [], \"lr\": head_lr}] if len(groups) == 1 else groups")


def mutant():
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source += SUBSTRING if "def freeze" in cell.source else ""
            cell.source += EMPTY_GROUPS if "def param_groups" in cell.source else ""
    return with_own_cell(nb, SWALLOW)


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def rows(tmp_path_factory):
    return mutant_rows(NAME, tmp_path_factory)


def test_wrong_tools_with_swallowed_errors_earn_nothing(rows):
    row = rows["mutant"]
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_freeze"] == 0 and row["cells"]["test_param_groups"] == 0, row["cells"]
    assert row["total"] == row["max"] - 3 - 3, row["cells"]  # count_trainable and replace_classifier keep theirs
    assert "probe_freeze returned a different result" in row["reason"]
