"""The assignment being graded: the instructor's notebook, the released one, points and cell roles."""
from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from . import config
from .nbgrader_cli import generate_assignment
from .zygote import imported_modules


def grade_id(cell) -> str | None:
    """The grade id of a graded (test) cell, None for any other cell."""
    meta = cell.metadata.get("nbgrader", {})
    return meta.get("grade_id") if meta.get("grade") else None


def is_answer(cell) -> bool:
    return cell.cell_type == "code" and bool(cell.metadata.get("nbgrader", {}).get("solution"))


def label(cell) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id") or cell.get("id") or "?"


@dataclass
class Assignment:
    name: str
    source: nbformat.NotebookNode  # instructor's notebook: solutions and hidden tests
    release: nbformat.NotebookNode  # what students got
    points: dict  # grade_id -> max points, in notebook order
    modules: list  # what its code imports: pre-imported by the zygote
    fingerprint: str

    @property
    def max_score(self) -> float:
        return float(sum(self.points.values()))

    @property
    def cell_ids(self) -> set:
        """Ids of the assignment's own cells: any other cell in a graded notebook is the student's."""
        return {c.get("id") for c in self.source.cells}


def load_assignment(name: str, course_root: Path) -> Assignment:
    """Register ``name`` in the gradebook (``generate_assignment``) and read its source and student versions."""
    source_path = config.source_notebook(name, course_root)
    if not source_path.is_file():
        raise FileNotFoundError(f"no assignment {name}: {source_path} does not exist")
    release_dir = Path(tempfile.mkdtemp(prefix="release-", dir=course_root))
    try:
        release = nbformat.read(generate_assignment(name, course_root, release_dir=release_dir), as_version=4)
    finally:
        shutil.rmtree(release_dir, ignore_errors=True)
    source = nbformat.read(source_path, as_version=4)
    points = {grade_id(c): float(c.metadata["nbgrader"].get("points", 0)) for c in source.cells if grade_id(c)}
    modules = imported_modules(c.source for c in source.cells if c.cell_type == "code")
    fingerprint = hashlib.sha256(source_path.read_bytes()).hexdigest()[:16]
    return Assignment(name, source, release, points, modules, fingerprint)
