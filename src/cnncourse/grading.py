"""Autograding submissions with stock nbgrader on a course root, scores read back from the gradebook.

This is the thin first version of ``cnncourse grade``: a folder of ``<student>/<notebook>.ipynb`` in,
per-cell scores and ``grades.csv`` out. Validation, parallel workers and sandboxing come on top of it.
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

from . import layout
from .nbgrader_cli import generate_assignment, nbgrader


def submit(course_root: Path, assignment: str, submissions: dict[str, Path]) -> None:
    """Place each student's notebook where nbgrader expects it: submitted/<student>/<assignment>/."""
    for student, notebook in submissions.items():
        target = Path(course_root) / "submitted" / student / assignment
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        shutil.copy(notebook, target / f"{assignment}.ipynb")


def scores(course_root: Path, assignment: str, students) -> dict[str, dict[str, tuple[float, float]]]:
    """``{student: {grade_id: (auto_score, max_score)}}`` read from the course's gradebook."""
    from nbgrader.api import Gradebook

    db_url = "sqlite:///" + str(Path(course_root) / "gradebook.db")
    result = {}
    with Gradebook(db_url) as gradebook:
        for student in students:
            notebook = gradebook.find_submission_notebook(assignment, assignment, student)
            result[student] = {g.name: (g.auto_score, g.max_score) for g in notebook.grades}
    return result


def autograde(assignment: str, submissions: dict[str, Path], course_root: Path = layout.AUTOGRADER,
              feedback: bool = False) -> dict[str, dict[str, tuple[float, float]]]:
    """Register the assignment, autograde every submission (one nbgrader run), return the scores."""
    course_root = Path(course_root)
    release_tmp = course_root / "release_check"  # keeps notebooks/ untouched while the gradebook learns the cells
    try:
        generate_assignment(assignment, course_root, release_dir=release_tmp)
    finally:
        shutil.rmtree(release_tmp, ignore_errors=True)
    submit(course_root, assignment, submissions)
    nbgrader("autograde", assignment, "--force", course_root=course_root)
    if feedback:
        nbgrader("generate_feedback", assignment, "--force", course_root=course_root)
    return scores(course_root, assignment, list(submissions))


def collect(folder: Path, assignment: str) -> dict[str, Path]:
    """Submissions laid out as ``folder/<student>/<assignment>.ipynb``."""
    found = {p.parent.name: p for p in sorted(Path(folder).glob(f"*/{assignment}.ipynb"))}
    if not found:
        raise FileNotFoundError(f"no submissions {folder}/<student>/{assignment}.ipynb found")
    return found


def write_grades_csv(path: Path, assignment: str, results: dict) -> Path:
    """One row per student: each graded cell's points, total and max."""
    cells = sorted({cell for per_cell in results.values() for cell in per_cell})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "notebook", *cells, "total", "max"])
        for student, per_cell in sorted(results.items()):
            points = [per_cell.get(cell, (0.0, 0.0))[0] or 0.0 for cell in cells]
            writer.writerow([student, assignment, *points, sum(points), sum(m for _, m in per_cell.values())])
    return path
