"""Calling stock nbgrader on a course root: student copies (``make release``) and stock autograding.

The class grader (``cnncourse.grading``) replaces ``nbgrader autograde``; the stock path stays for
nbgrader compatibility tests and as the baseline of ``make bench``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .. import layout


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message carries the tail of its log."""


def nbgrader(*args: str, course_root: Path = layout.AUTOGRADER, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` with this interpreter, in ``course_root`` (where nbgrader_config.py lives)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")  # alembic, jupyter
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_root, env=env,
                          capture_output=True, text=True)
    if check and done.returncode != 0:
        log = (done.stdout + done.stderr).strip().splitlines()
        raise NbgraderError(f"nbgrader {' '.join(args)} failed ({done.returncode}):\n" + "\n".join(log[-25:]))
    return done


def generate_assignment(name: str, course_root: Path = layout.AUTOGRADER, release_dir: Path | None = None) -> Path:
    """``nbgrader generate_assignment NAME --force``; returns the student notebook it wrote.

    ``release_dir`` redirects the output (e.g. to compare with ``notebooks/`` without touching it).
    """
    args = ["generate_assignment", name, "--force"]
    if release_dir is not None:
        args.append(f"--CourseDirectory.release_directory={Path(release_dir).resolve()}")
    nbgrader(*args, course_root=course_root)
    out_root = Path(release_dir) if release_dir is not None else layout.NOTEBOOKS
    return out_root / name / f"{name}.ipynb"


def release(names=None, course_root: Path = layout.AUTOGRADER) -> list[Path]:
    """Regenerate the student copies in ``notebooks/`` from ``solutions/`` (all by default)."""
    from tqdm.auto import tqdm

    names = list(names) if names else layout.assignments()
    written = []
    for name in tqdm(names, desc="release", unit="nb"):
        layout.notebook_path(name)  # clear error for an unknown name
        written.append(generate_assignment(name, course_root))
    stale = sorted(set(layout.assignments(layout.NOTEBOOKS)) - set(layout.assignments()))
    for name in stale:  # a solution that was removed or renamed must not leave its student copy behind
        shutil.rmtree(layout.NOTEBOOKS / name)
    return written


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


def stock_autograde(assignment: str, submissions: dict[str, Path], course_root: Path = layout.AUTOGRADER,
              feedback: bool = False) -> dict[str, dict[str, tuple[float, float]]]:
    """Stock ``nbgrader autograde`` of every submission (one run, one kernel each); returns the scores."""
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
