"""Test helpers: tiny nbgrader notebooks and throw-away course roots (``from tests.notebooks import …``)."""
from __future__ import annotations

from pathlib import Path

import nbformat

from cnncourse.grader.bench import course_copy as make_course  # noqa: F401 — the one copy, shared with make bench


def nb_cell(source: str, kind: str = "code", grade_id: str | None = None, points: int = 0,
            tags: tuple = ()) -> nbformat.NotebookNode:
    """A notebook cell; ``kind`` is code, markdown, solution (answer) or tests (locked grade cell)."""
    cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
    cell["id"] = grade_id or f"cell-{abs(hash(source)) % 10**8}"
    if tags:
        cell.metadata["tags"] = list(tags)
    if kind in ("solution", "tests"):
        cell.metadata["nbgrader"] = {"schema_version": 3, "grade_id": grade_id, "task": False,
                                     "solution": kind == "solution", "grade": kind == "tests",
                                     "locked": kind == "tests"}
        if kind == "tests":
            cell.metadata.nbgrader["points"] = points
    return cell


def write_notebook(path: Path, cells) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    nb.cells = list(cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
