"""Notebook 02's honesty rules, end to end: a submission that reaches forbidden operations by routes the
in-notebook ``mock.patch`` misses (an alias saved before the patch, ``torch.ops.aten``, a loop hidden behind
another name) and swallows its test errors keeps no point for those functions, and the report says why."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from tests.notebooks import SWALLOW, graded_class, with_own_cell

NAME = "02_convolution_by_hand"
pytestmark = pytest.mark.slow  # one scope with the contract checks of NAME (tests/conftest.py)
ROUTES = {
    "def conv1d_full(": "\n_np_convolve = np.convolve\ndef conv1d_full(x, h):\n"
                        "    return _np_convolve(np.asarray(x, dtype=float), np.asarray(h, dtype=float))\n",
    "def conv2d(": "\n_aten = torch.ops.aten.convolution\ndef conv2d(x, weight, bias=None, stride=1, padding=0):\n"
                   "    from torch.nn.modules.utils import _pair\n"
                   "    return _aten(x, weight, bias, list(_pair(stride)), list(_pair(padding)), [1, 1], False, [0, 0], 1)\n",
    "def conv2d_im2col(": "\ndef conv2d_im2col(x, weight, bias=None, stride=1, padding=0):\n"
                          "    return _loop_conv2d(x, weight, bias, stride, padding)\n",
}


def mutant():
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            for marker, route in ROUTES.items():
                if marker in cell.source:
                    cell.source += route
            if "def conv2d(" in cell.source:  # keep the hand-written loop under another name for conv2d_im2col
                cell.source = cell.source.replace("def conv2d(", "def _loop_conv2d(", 1)
    return with_own_cell(nb, SWALLOW)


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def row(tmp_path_factory):
    return graded_class(NAME, tmp_path_factory.mktemp(NAME))["rows"]["mutant"]  # shared with the contract checks


def test_forbidden_routes_earn_nothing(row):
    assert row["status"] == "suspicious", row
    cells = row["cells"]
    assert cells["test_conv1d_full"] == cells["test_conv2d"] == cells["test_conv2d_im2col"] == 0, cells
    assert cells["test_fft_convolve"] > 0 and cells["test_correlate2d"] > 0, "untouched answers keep their points"


def test_the_reason_names_the_forbidden_operation(row):
    reason = row["reason"]
    assert "conv1d_full used numpy.convolve" in reason and "conv2d used aten.convolution" in reason, reason
    assert "conv2d_im2col used" in reason and "lines of Python (at most 150)" in reason, reason
