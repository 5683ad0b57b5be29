"""``make bench``: class grading throughput per notebook and for the whole course.

For each notebook a planted class (thirds: the solution, the blank copy, half the answers done) is graded
by ``cnncourse grade`` and, on the same files in the same run, by stock ``nbgrader autograde``. Figures:
seconds per correct submission (in-notebook run + trusted run, wall time of both jobs), wall seconds of
both graders on the class, their ratio, whether the scores agree, and the class estimates for
``students`` students on this machine's cores and on ``dask_workers`` Dask workers.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from .. import layout
from .grading import Grader
from .nbgrader_cli import generate_assignment, stock_autograde


def course_copy(root: Path, names=()) -> Path:
    """A throw-away course like the repository's: autograder/nbgrader_config.py + solutions/NAME.

    Returns the course root (``root/autograder``); the config resolves solutions/ and notebooks/ next to
    it, so nothing in the repository is touched (``make bench``, the tests).
    """
    course = Path(root) / "autograder"
    course.mkdir(parents=True)
    shutil.copy(layout.AUTOGRADER / "nbgrader_config.py", course / "nbgrader_config.py")
    for name in names:
        shutil.copytree(layout.SOLUTIONS / name, Path(root) / "solutions" / name)
    return course


def planted_class(folder, solution, release, n: int = 40) -> dict:
    """``n`` submissions in thirds: the solution, the blank student copy, half the answers done."""
    solved = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
              if c.metadata.get("nbgrader", {}).get("solution")}
    half = set(list(solved)[: len(solved) // 2])
    kinds = {}
    for k in range(n):
        kind = ("correct", "blank", "half")[k % 3]
        nb = nbformat.reads(nbformat.writes(release), as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in solved and (kind == "correct" or (kind == "half" and gid in half)):
                cell.source = solved[gid]
        student = f"s{k:02d}_{kind}"
        path = Path(folder) / student / "submission.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
        kinds[student] = kind
    return kinds


def bench_notebook(assignment: str, n: int = 3, workers: int | None = None, root=None, stock: bool = True) -> dict:
    """Grade one planted class with ``cnncourse grade`` (and stock ``nbgrader autograde``); the figures.

    Per submission, ``job_seconds`` is the wall time of its two runs (on the workers) and ``grader_seconds``
    the coordinator's own work on it (intake, scoring, feedback page, gradebook); ``fixed_seconds`` is what
    the class costs whatever its size (the zygote's imports, the reference run, the report): the class's wall
    time less its submissions' work shared among the workers.
    """
    own = root is None
    root = Path(root or tempfile.mkdtemp(prefix="cnncourse-bench-"))
    course = course_copy(root / "course", [assignment])
    release = nbformat.read(generate_assignment(assignment, course, release_dir=root / "course" / "notebooks"), 4)
    solution = nbformat.read(layout.notebook_path(assignment, root / "course" / "solutions"), 4)
    kinds = planted_class(root / "class", solution, release, n)
    start = time.perf_counter()
    report = Grader(assignment, root / "class", root / "out", course_root=course, workers=workers, force=True,
                    progress=False).run()
    ours_s = time.perf_counter() - start
    rows, summary = {r["student"]: r for r in report["students"]}, report["summary"]
    job, grader = (statistics.mean(r[key] for r in rows.values()) for key in ("job_seconds", "grader_seconds"))
    figures = {"assignment": assignment, "submissions": n, "workers": summary["workers"], "cores": os.cpu_count(),
               "ours_seconds": round(ours_s, 2), "reference_seconds": summary["reference_seconds"],
               "correct_seconds": round(statistics.mean(rows[s]["job_seconds"] for s, k in kinds.items()
                                                        if k == "correct"), 2),
               "job_seconds": round(job, 3), "grader_seconds": round(grader, 3),
               "fixed_seconds": round(max(0.0, ours_s - n * (job + grader) / summary["workers"]), 2),
               "skipped_cells": len(summary["skipped_cells"])}
    if stock:
        stock_course = course_copy(root / "stock", [assignment])
        start = time.perf_counter()
        scores = stock_autograde(assignment, {s: root / "class" / s / "submission.ipynb" for s in kinds}, stock_course)
        figures["stock_seconds"] = round(time.perf_counter() - start, 2)
        theirs = {s: sum(p or 0.0 for p, _ in cells.values()) for s, cells in scores.items()}
        figures["same_scores"] = theirs == {s: r["total"] for s, r in rows.items()}
        figures["ratio"] = round(figures["stock_seconds"] / figures["ours_seconds"], 2)
    if own:
        shutil.rmtree(root, ignore_errors=True)
    return figures


def class_seconds(row: dict, students: int, workers: int, dask: bool = False) -> float:
    """``cnncourse grade`` on ``students`` submissions of one notebook: its fixed cost, then each submission's
    runs and the coordinator's work on it sharing ``workers`` cores. On Dask the runs spread over ``workers``
    machines while the coordinator works through the submissions on its own, whichever is slower."""
    if dask:
        return row["fixed_seconds"] + students * max(row["job_seconds"] / workers, row["grader_seconds"])
    return row["fixed_seconds"] + students * (row["job_seconds"] + row["grader_seconds"]) / workers


def class_estimate(rows: list, students: int, workers: int, dask_workers: int) -> dict:
    """Hours to grade ``students`` × every benched notebook: ours on this machine and on Dask, stock serial.

    The planted class's mix (a third correct, blank, half done) stands for the class; stock nbgrader grades one
    submission after another at its measured seconds per submission.
    """
    ours = sum(class_seconds(r, students, workers) for r in rows)
    estimate = {"students": students, "notebooks": len(rows), "workers": workers,
                "ours_hours": round(ours / 3600, 2), "dask_workers": dask_workers,
                "dask_hours": round(sum(class_seconds(r, students, dask_workers, dask=True) for r in rows) / 3600, 2)}
    if all("stock_seconds" in r for r in rows):
        stock = sum(r["stock_seconds"] / r["submissions"] for r in rows) * students
        estimate.update(stock_hours=round(stock / 3600, 2), ratio=round(stock / ours, 1))
    return estimate


def bench_course(names=None, n: int = 3, workers: int | None = None, stock: bool = True, students: int = 200,
                 dask_workers: int = 16, out: Path | None = None, progress: bool = True) -> dict:
    """``bench_notebook`` for each notebook (all by default), totals and class estimates; written to ``out``
    after each notebook, so an interrupted run keeps what it measured."""
    from tqdm.auto import tqdm

    names = list(names) if names else layout.assignments()
    rows, figures = [], {}
    for name in tqdm(names, desc="bench", unit="notebook", disable=not progress):
        rows.append(bench_notebook(name, n, workers, stock=stock))
        figures = {"notebooks": rows, "estimate": class_estimate(rows, students, rows[0]["workers"], dask_workers)}
        if stock:
            ours, theirs = sum(r["ours_seconds"] for r in rows), sum(r["stock_seconds"] for r in rows)
            figures["total"] = {"ours_seconds": round(ours, 1), "stock_seconds": round(theirs, 1),
                                "ratio": round(theirs / ours, 2), "same_scores": all(r["same_scores"] for r in rows)}
        if out is not None:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_text(json.dumps(figures, indent=1))
    return figures


def table(figures: dict) -> str:
    """The figures as a Markdown table and the class estimate, for the terminal and the README."""
    stock = "total" in figures
    e = figures["estimate"]
    head = ("| notebook | s per correct submission (both runs) | fixed s (reference run) | class of "
            f"{figures['notebooks'][0]['submissions']} (s) |"
            + (f" stock (s) | ratio | {e['students']} students: ratio | same scores |" if stock else ""))
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in figures["notebooks"]:
        line = (f"| {r['assignment']} | {r['correct_seconds']:.1f} | {r['fixed_seconds']:.0f} "
                f"({r['reference_seconds']:.0f}) | {r['ours_seconds']:.1f} |")
        if stock:
            big = r["stock_seconds"] / r["submissions"] * e["students"] / class_seconds(r, e["students"], e["workers"])
            line += (f" {r['stock_seconds']:.1f} | {r['ratio']:.1f}× | {big:.1f}× |"
                     f" {'yes' if r['same_scores'] else 'NO'} |")
        lines.append(line)
    if stock:
        t = figures["total"]
        lines.append(f"| **course** | | | {t['ours_seconds']:.1f} | {t['stock_seconds']:.1f} | {t['ratio']:.1f}× | "
                     f"{e['ratio']:.1f}× | {'yes' if t['same_scores'] else 'NO'} |")
    lines.append(f"\n{e['students']} students × {e['notebooks']} notebook(s): cnncourse grade {e['ours_hours']} h on "
                 f"{e['workers']} worker(s), {e['dask_hours']} h on {e['dask_workers']} Dask workers"
                 + (f"; stock nbgrader autograde {e['stock_hours']} h ({e['ratio']}× on this machine)" if stock else ""))
    return "\n".join(lines)
