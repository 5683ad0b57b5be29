"""Every default and layout rule of the grader, in one place."""
from __future__ import annotations

import os
from pathlib import Path

from .. import layout

GRADER_VERSION = "4"  # part of the resume key: a new grader regrades
DEFAULT_TIMEOUT_S = 120.0  # per cell, both runs
BUDGET_PER_TIMEOUT = 10  # a submission's default budget: this many cell timeouts, both runs together
DEFAULT_ATTEMPTS = 3  # a cell that kills or hangs its process is dropped and the rest re-run, this often
STATUSES = ("missing-notebook", "invalid-notebook", "tampered", "suspicious", "timeout", "crashed", "partial",
            "late", "graded")  # most serious first
UNREADABLE = ("missing-notebook", "invalid-notebook")


def submission_budget(timeout: float, budget: float | None = None) -> float:
    """Wall seconds one submission may take, its notebook run and trusted run together (each gets half)."""
    return float(budget) if budget else BUDGET_PER_TIMEOUT * float(timeout)


def solutions_dir(course_root: Path) -> Path:
    """nbgrader's source folder: ``solutions/`` beside the course root (see autograder/nbgrader_config.py)."""
    return Path(course_root).parent / "solutions"


def source_notebook(name: str, course_root: Path) -> Path:
    return solutions_dir(course_root) / name / f"{name}.ipynb"


def data_dir() -> Path:
    """The course's data folder (``cnncourse.data.DATA_DIR``), without importing torch for a path."""
    return layout.locate_data()[0]


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def threads_per_job(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))
