"""Plot helpers and the pure parts of the class grader (finding submissions, grades.csv)."""
from __future__ import annotations

import csv

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from cnncourse import viz  # noqa: E402
from cnncourse.grader import intake  # noqa: E402
from cnncourse.grader.report import write_grades_csv  # noqa: E402
from cnncourse.train import History  # noqa: E402


@pytest.mark.parametrize("image, shape", [(torch.rand(3, 5, 7), (5, 7, 3)), (torch.rand(1, 5, 7), (5, 7)),
                                          (np.zeros((5, 7, 3)), (5, 7, 3)), (np.zeros((5, 7)), (5, 7)),
                                          (torch.rand(5, 7, 1), (5, 7))])
def test_to_displayable_layouts(image, shape):
    assert viz.to_displayable(image).shape == shape


def test_show_images_grid_and_titles():
    fig = viz.show_images([torch.rand(1, 4, 4)] * 5, titles=list("abcde"), ncols=3, suptitle="grid")
    axes = fig.axes
    assert len(axes) == 6 and [ax.get_title() for ax in axes[:5]] == list("abcde")
    assert not axes[5].images, "the spare axis stays empty"
    assert fig._suptitle.get_text() == "grid"


def test_plot_history_labels_every_axis():
    history = History()
    for epoch in (1, 2):
        history.append(epoch=epoch, train_loss=1.0 / epoch, train_accuracy=0.5 * epoch, val_loss=float("nan"),
                       val_accuracy=float("nan"), seconds=1.0)
    fig = viz.plot_history(history, title="demo")
    for ax in fig.axes:
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() and ax.get_title().startswith("demo")
        assert len(ax.lines) == 1, "validation curves are skipped when there is no validation data"


def test_collect_accepts_the_documented_shapes(tmp_path):
    subs = tmp_path / "export" / "subs"  # one wrapper folder is looked through
    (subs / "bob").mkdir(parents=True)
    (subs / "bob" / "01_x.ipynb").write_text("{}")
    (subs / "alice" / "01_x").mkdir(parents=True)  # nbgrader's submitted/ layout
    (subs / "alice" / "01_x" / "01_x.ipynb").write_text("{}")
    (subs / "alice" / "01_x" / "timestamp.txt").write_text("2026-11-30 10:00:00 UTC")
    (subs / "carol").mkdir()
    (subs / "carol" / "answers.py").write_text("x = 1")
    (subs / "dave_01_x_final.ipynb").write_text("{}")
    (subs / "README.txt").write_text("LMS")
    found, ignored = intake.collect(tmp_path / "export", "01_x")
    by_student = {s.student: s for s in found}
    assert sorted(by_student) == ["alice", "bob", "carol", "dave"] and ignored == ["README.txt"]
    assert by_student["carol"].problem[0] == "missing-notebook" and "answers.py" in by_student["carol"].problem[1]
    assert by_student["alice"].timestamp.isoformat() == "2026-11-30T10:00:00+00:00"
    assert by_student["dave"].path.name == "dave_01_x_final.ipynb" and "not 01_x.ipynb" in by_student["dave"].notes[0]


def test_grades_csv_has_status_and_reason(tmp_path):
    report = {"cells": {"t1": 2.0, "t2": 3.0}, "students": [
        {"student": "alice", "notebook": "01_x", "cells": {"t1": 2.0, "t2": 0.0}, "total": 2.0, "max": 5.0,
         "status": "partial", "reason": "cell t2 timed out after 5 s"},
        {"student": "bob", "notebook": "01_x", "cells": {"t1": 0.0, "t2": 0.0}, "total": 0.0, "max": 5.0,
         "status": "invalid-notebook", "reason": "empty file (0 bytes)"}]}
    rows = list(csv.reader(write_grades_csv(tmp_path / "out" / "grades.csv", report).open()))
    assert rows[0] == ["student", "notebook", "t1", "t2", "total", "max", "status", "reason"]
    assert rows[1] == ["alice", "01_x", "2", "0", "2", "5", "partial", "cell t2 timed out after 5 s"]
    assert rows[2][-2:] == ["invalid-notebook", "empty file (0 bytes)"]
