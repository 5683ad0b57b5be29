"""Metrics recorded in a notebook travel to the run report."""
from __future__ import annotations

import math

import nbformat
import numpy as np
import pytest
import torch

from cnncourse.report import METRICS_MIME, metrics_from_notebook, record
from cnncourse.run import render_markdown


def _display_outputs(monkeypatch):
    shown = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    return shown


def test_record_converts_scalars_and_round_trips(monkeypatch):
    shown = _display_outputs(monkeypatch)
    clean = record(acc=np.float32(0.875), loss=torch.tensor(0.25), epochs=np.int64(3), model="lenet")
    assert clean == {"acc": 0.875, "loss": 0.25, "epochs": 3, "model": "lenet"}
    assert isinstance(clean["epochs"], int) and "acc = 0.875" in shown[0]["text/plain"]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("record(...)"), nbformat.v4.new_code_cell("record(...)")]
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data=shown[0])]
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={METRICS_MIME: {"acc": 0.9}})]
    assert metrics_from_notebook(nb) == {"acc": 0.9, "loss": 0.25, "epochs": 3, "model": "lenet"}


@pytest.mark.parametrize("bad, error, said", [
    (math.nan, ValueError, "not finite: nan"),
    (float("inf"), ValueError, "not finite: inf"),
    (torch.tensor(float("nan")), ValueError, "not finite: nan"),  # .item() first, then the same check
    ([1, 2], TypeError, "got list"),
    (None, TypeError, "got NoneType"),
    (True, TypeError, "got bool"),  # a bool is a Number, but not a metric
])
def test_record_rejects_non_scalars(monkeypatch, bad, error, said):
    shown = _display_outputs(monkeypatch)
    with pytest.raises(error, match=said):
        record(x=bad)
    assert shown == [], "nothing is displayed when a value is refused"


def test_markdown_report_names_the_failing_cell():
    report = {"environment": {"mode": "quick", "generated": "now", "device": "auto", "resolved_device": "cpu",
                              "python": "3.11", "torch": "2.11.0"},
              "total_seconds": 3.0, "ok": False,
              "notebooks": [{"notebook": "01_a", "status": "ok", "seconds": 1.0, "metrics": {"acc": 0.91234}},
                            {"notebook": "02_b", "status": "failed", "seconds": 2.0, "metrics": {},
                             "error": {"ename": "ValueError", "evalue": "bad shape", "cell": 7,
                                       "execution_count": 5, "source_head": ["y = f(x)"]}}]}
    text = render_markdown(report)
    assert "| 01_a | ok | 1.0 | acc = 0.9123 |" in text
    assert "**02_b** failed at cell 7 (execution count 5): `ValueError: bad shape`" in text
    assert "`y = f(x)`" in text
