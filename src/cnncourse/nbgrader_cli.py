"""Calling stock nbgrader on a course root, and generating the student copies (``make release``)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import layout


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
