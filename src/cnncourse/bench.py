"""Timing helpers for the notebooks' benchmark cells, and ``make bench`` (class grading throughput)."""
from __future__ import annotations

import contextlib
import statistics
import time

import torch


def median_seconds(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` intra-op threads, then restore the previous count.

    Benchmarks use one thread: they compare arithmetic, not how a shared machine schedules its cores.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------- make bench: class grading throughput
def planted_class(folder, solution, release, n: int = 40) -> dict:
    """``n`` submissions in thirds: the solution, the blank student copy, half the answers done."""
    from pathlib import Path

    import nbformat

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


def grading_throughput(assignment: str = "01_images_as_tensors", n: int = 40, workers: int | None = None,
                       root=None, stock: bool = True) -> dict:
    """Grade the same planted class with stock ``nbgrader autograde`` and with ``cnncourse grade``."""
    import json
    import os
    import tempfile
    from pathlib import Path

    import nbformat

    from . import layout
    from .grader.grading import Grader
    from .grader.nbgrader_cli import generate_assignment, stock_autograde

    root = Path(root or tempfile.mkdtemp(prefix="cnncourse-bench-"))
    course = layout.scratch_course(root / "course", [assignment])
    release = nbformat.read(generate_assignment(assignment, course, release_dir=root / "course" / "notebooks"), 4)
    solution = nbformat.read(layout.notebook_path(assignment, root / "course" / "solutions"), 4)
    kinds = planted_class(root / "class", solution, release, n)
    figures = {"assignment": assignment, "submissions": n, "cores": os.cpu_count()}

    start = time.perf_counter()
    report = Grader(assignment, root / "class", root / "out", course_root=course, workers=workers, force=True).run()
    figures["ours_seconds"] = round(time.perf_counter() - start, 2)
    figures["workers"] = report["summary"]["workers"]
    ours = {r["student"]: r["total"] for r in report["students"]}
    if stock:
        stock_course = layout.scratch_course(root / "stock", [assignment])
        subs = {s: root / "class" / s / "submission.ipynb" for s in kinds}
        start = time.perf_counter()
        scores = stock_autograde(assignment, subs, stock_course)
        figures["stock_seconds"] = round(time.perf_counter() - start, 2)
        theirs = {s: sum(p or 0.0 for p, _ in cells.values()) for s, cells in scores.items()}
        figures["same_scores"] = theirs == ours
        figures["ratio"] = round(figures["stock_seconds"] / figures["ours_seconds"], 2)
    for key in ("ours", "stock"):
        if f"{key}_seconds" in figures:
            figures[f"{key}_per_minute"] = round(60 * n / figures[f"{key}_seconds"], 1)
    (root / "bench.json").write_text(json.dumps(figures, indent=1))
    return figures
