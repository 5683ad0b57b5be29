"""Notebook 05's answers that take or are modules (flattened_features, LeNet5, train_epoch, evaluate, GausNet) are
verified by their hidden tests' probes: a submission that swallows its errors keeps no point for a wrong one."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from tests.notebooks import mutant_rows, SWALLOW, with_own_cell

NAME = "05_first_cnn_lenet"
pytestmark = pytest.mark.slow  # one scope with the contract checks of NAME (tests/conftest.py)
WRONG = {  # appended to the answer cell that defines the name: each is plausible and passes the visible test
    "def flattened_features": "\n_ff = flattened_features\ndef flattened_features(features, input_shape):\n"
                              "    was = features.training\n    n = _ff(features, input_shape)\n"
                              "    features.train(was)  # wakes up a frozen BatchNorm\n    return n",
    "class LeNet5": "\nLeNet5.forward = lambda self, x: self.classifier[5](self.classifier[3](self.classifier[:3]("
                    "self.features(x))))  # no ReLU after F6",
    "def train_epoch": "\n_te = train_epoch\ndef train_epoch(model, loader, optimizer, loss_fn, device):\n"
                       "    optimizer.zero_grad = lambda *a, **k: None  # the gradients pile up\n"
                       "    return _te(model, loader, optimizer, loss_fn, device)",
    "def evaluate": "\n_ev = evaluate\ndef evaluate(model, loader, device):\n    model.eval = lambda: model  # stays in train mode\n"
                    "    return _ev(model, loader, device)",
    "class GausNet": "\nGausNet.forward = lambda self, x: self.classifier[2](torch.relu(self.classifier[:2]("
                     "self.features(x))))  # a ReLU between the two Linears",
}


def mutant():
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source += "".join(code for head, code in WRONG.items() if head in cell.source)
    return with_own_cell(nb, SWALLOW)


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def rows(tmp_path_factory):
    return mutant_rows(NAME, tmp_path_factory)


def test_wrong_answers_with_swallowed_errors_earn_nothing(rows):
    row = rows["mutant"]
    assert row["status"] == "suspicious", row
    mutated = ["test_flattened_features", "test_LeNet5", "test_train_epoch", "test_evaluate", "test_GausNet"]
    assert all(row["cells"][cell] == 0 for cell in mutated), row["cells"]
    assert row["total"] == row["max"] - 2 - 3 - 3 - 2 - 2, row["cells"]  # accuracy, left right, keeps its point
    for cell in mutated:
        assert f"probe_{cell[len('test_'):]} returned a different result" in row["reason"], row["reason"]
