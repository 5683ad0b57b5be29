"""cnncourse.grader.bench's arithmetic: the class estimate and the table, on figures made up here."""
from __future__ import annotations

import pytest

from cnncourse.grader import bench


def _row(name, fixed, job, grader, stock_per_submission, n=3):
    return {"assignment": name, "submissions": n, "workers": 2, "ours_seconds": fixed + n * (job + grader) / 2,
            "reference_seconds": fixed / 2, "correct_seconds": job * 1.5, "job_seconds": job,
            "grader_seconds": grader, "fixed_seconds": fixed, "skipped_cells": 0,
            "stock_seconds": n * stock_per_submission, "same_scores": True, "ratio": 1.0}


def test_the_class_estimate_pays_the_fixed_cost_once_per_notebook_and_shares_the_rest():
    rows = [_row("a", fixed=20.0, job=1.5, grader=0.5, stock_per_submission=20.0),
            _row("b", fixed=40.0, job=3.0, grader=1.0, stock_per_submission=30.0)]
    e = bench.class_estimate(rows, students=200, workers=2, dask_workers=16)
    ours = (20 + 200 * 2 / 2) + (40 + 200 * 4 / 2)  # 220 + 440 s: runs and coordinator share the 2 cores
    assert e["ours_hours"] == pytest.approx(ours / 3600, abs=0.005)
    # on 16 Dask workers the runs take 200 × 1.5 / 16 = 18.75 s and 37.5 s, the coordinator 100 s and 200 s
    assert e["dask_hours"] == pytest.approx((20 + 100 + 40 + 200) / 3600, abs=0.005)
    assert e["stock_hours"] == pytest.approx(200 * 50 / 3600, abs=0.005)
    assert e["ratio"] == pytest.approx(200 * 50 / ours, abs=0.05)
    slow_runs = bench.class_seconds(_row("c", 10.0, job=32.0, grader=0.5, stock_per_submission=1.0), 200, 16, dask=True)
    assert slow_runs == pytest.approx(10 + 200 * 2.0)  # the runs are the slower side


def test_without_stock_figures_the_estimate_has_no_ratio():
    row = {k: v for k, v in _row("a", 10.0, 1.0, 0.2, 5.0).items() if k not in ("stock_seconds", "same_scores", "ratio")}
    e = bench.class_estimate([row], students=10, workers=1, dask_workers=4)
    assert "ratio" not in e and "stock_hours" not in e
    assert "stock" not in bench.table({"notebooks": [row], "estimate": e})


def test_the_table_has_a_row_per_notebook_and_says_when_scores_disagree():
    rows = [_row("a", 20.0, 1.5, 0.5, 20.0), {**_row("b", 40.0, 3.0, 1.0, 30.0), "same_scores": False}]
    figures = {"notebooks": rows, "estimate": bench.class_estimate(rows, 200, 2, 16),
               "total": {"ours_seconds": 1.0, "stock_seconds": 9.0, "ratio": 9.0, "same_scores": False}}
    text = bench.table(figures)
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert [line.split("|")[1].strip() for line in lines[1:]] == ["a", "b", "**course**"]
    big_a = 200 * 20 / (20 + 200 * 2 / 2)  # the 200-student ratio of notebook a
    assert f"{big_a:.1f}×" in lines[1] and lines[2].rstrip().endswith("NO |")
    assert f"{figures['estimate']['ratio']:.1f}×" in lines[3]
