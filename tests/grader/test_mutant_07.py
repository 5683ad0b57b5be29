"""Notebook 07's honesty rule, end to end: a hand-written backward pass that lets autograd do the work (and
swallows its test errors) gets the right numbers and no point; the reason names the route."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from tests.notebooks import SWALLOW, graded_class, with_own_cell

NAME = "07_gradients_through_convolution"
pytestmark = pytest.mark.slow  # one scope with the contract checks of NAME (tests/conftest.py)
BY_AUTOGRAD = '''
def conv2d_backward(grad_out, x, weight, stride=1, padding=0):
    xs, ws = x.detach().clone().requires_grad_(), weight.detach().clone().requires_grad_()
    b = torch.zeros(weight.shape[0], dtype=x.dtype, requires_grad=True)
    F.conv2d(xs, ws, b, stride=stride, padding=padding).backward(grad_out)
    return xs.grad, ws.grad, b.grad
'''


def mutant():
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and "def conv2d_backward(" in cell.source:
            cell.source += BY_AUTOGRAD
    return with_own_cell(nb, SWALLOW)


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def row(tmp_path_factory):
    return graded_class(NAME, tmp_path_factory.mktemp(NAME))["rows"]["mutant"]  # shared with the contract checks


def test_autograd_in_a_hand_written_backward_pass_earns_nothing(row):
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_conv2d_backward"] == 0, row["cells"]
    assert row["total"] == row["max"] - 4, "the other answers keep their points"
    assert "conv2d_backward used torch.autograd.backward" in row["reason"], row["reason"]
