"""Test helpers: tiny nbgrader notebooks and throw-away course roots (``from tests.notebooks import …``).

Fixtures that grade or build something costly are ``scope="session"``: pytest-xdist may run tests of other
modules between a module's tests on one worker, and a module-scoped fixture would then be built again."""
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


SWALLOW = "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"  # no test error is ever shown
# Every in-process trick at once (each is also planted alone in tests/grader/test_grading_integrity.py): the
# checkers patched to pass, assert lines stripped before each cell runs, errors swallowed, and an execute_result
# pushed after each cell, which stock nbgrader would take as a score.
FORGE = "\n".join([
    "import math, numpy as np, torch",
    "torch.allclose = lambda *a, **k: True",
    "torch.equal = lambda *a, **k: True",
    "torch.testing.assert_close = lambda *a, **k: None",
    "np.testing.assert_allclose = np.testing.assert_array_equal = lambda *a, **k: None",
    "np.allclose = math.isclose = lambda *a, **k: True",
    "get_ipython().input_transformers_post.append(",
    "    lambda lines: [l for l in lines if not l.lstrip().startswith(('assert', 'torch.testing', 'np.testing'))])",
    SWALLOW,
    "get_ipython().events.register('post_run_cell', lambda *a: get_ipython().displayhook(10 ** 9))",
])


# A correct student whose notebook warns and writes to stderr, as torch and progress bars do: no point is lost.
WARN = "import sys, warnings\nwarnings.warn('a deprecation, as torch prints them')\nprint('progress 50%', file=sys.stderr)"


def with_own_cell(nb, source: str):
    """``nb`` with a cell of the student's own right after the imports (the first code cell importing cnncourse)."""
    imports = next(k for k, c in enumerate(nb.cells) if c.cell_type == "code" and "from cnncourse" in c.source)
    nb.cells.insert(imports + 1, nbformat.v4.new_code_cell(source))
    return nb


def mutant(name: str):
    """The notebook's planted wrong submission, if it has one: ``mutant()`` of ``tests/grader/test_mutant_NN.py``."""
    import importlib

    try:
        module = importlib.import_module(f"tests.grader.test_mutant_{name[:2]}")
    except ModuleNotFoundError:
        return None
    return module.mutant()


_GRADED: dict = {}


def graded_class(name: str, root: Path) -> dict:
    """One grader pass over a class of the notebook's solution (with a cell that warns, ``WARN``), its blank
    student copy, a ``forger`` (the blank copy with every in-process trick of ``FORGE``) and its ``mutant``
    (when it has one).

    Computed once per test process and notebook (``root`` is used by the first caller): the contract checks
    and the mutant checks of one notebook share it, so they form one xdist group (``contract-NN``).
    """
    if name not in _GRADED:
        from cnncourse import layout
        from cnncourse.grader.grading import Grader
        from cnncourse.grader.nbgrader_cli import generate_assignment

        course = make_course(root, [name])
        released = generate_assignment(name, course, release_dir=root / "notebooks")
        students = {"solution": with_own_cell(nbformat.read(layout.notebook_path(name), 4), WARN),
                    "blank": nbformat.read(released, 4),
                    "forger": with_own_cell(nbformat.read(released, 4), FORGE), "mutant": mutant(name)}
        for student, nb in students.items():
            if nb is not None:
                (root / "class" / student).mkdir(parents=True)
                nbformat.write(nb, root / "class" / student / f"{name}.ipynb")
        report = Grader(name, root / "class", root / "out", course_root=course, progress=False).run()
        _GRADED[name] = {"name": name, "root": root, "course": course, "out": root / "out", "released": released,
                         "rows": {row["student"]: row for row in report["students"]}, "cells": report["cells"],
                         "summary": report["summary"]}
    return _GRADED[name]


def replaced_solution(name: str, wrong: dict):
    """The solution with ``wrong`` ({answer grade_id: (old, new)}, each ``old`` found once) and its errors swallowed."""
    from cnncourse import layout

    nb = nbformat.read(layout.notebook_path(name), as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in wrong:
            old, new = wrong[gid]
            assert cell.source.count(old) == 1, gid
            cell.source = cell.source.replace(old, new)
    return with_own_cell(nb, SWALLOW)


def mutant_rows(name: str, tmp_path_factory) -> dict:
    """The shared class pass's rows (``graded_class``), once every cell is known to be verified."""
    graded = graded_class(name, tmp_path_factory.mktemp(name))  # shared with the contract checks
    assert graded["summary"]["unverified_cells"] == [], f"every cell of {name} has a call or a probe"
    return graded["rows"]
