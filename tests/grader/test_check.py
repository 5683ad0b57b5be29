"""``cnncourse check``: a student's notebook, blank, partial, correct or run out of order, checked as the
grader runs it; ``--zip`` makes a submission that ``cnncourse grade`` grades."""

from __future__ import annotations

import copy
import json
import zipfile

import nbformat
import pytest

from cnncourse import __version__, cli
from cnncourse.grader import check
from cnncourse.grader.nbgrader_cli import generate_assignment
from tests.notebooks import make_course, nb_cell, write_notebook

NAME = "00_tiny"
TIMEOUT = 5  # generous for these cells on a loaded machine
DOUBLE = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
SQUARE = "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION"
TEST_DOUBLE = (
    "assert double(2) == 4, 'double(2) should be 4: check the factor'\nprint('✓ test_double: passed')\n"
    "### BEGIN HIDDEN TESTS\nassert double(21) == 42\n### END HIDDEN TESTS"
)
TEST_SQUARE = "assert square(3) == 9, 'square(3) should be 9'\n### BEGIN HIDDEN TESTS\nassert square(-4) == 16\n### END HIDDEN TESTS"
PARAMETERS = "QUICK = False\nSEED = 0"


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    course = make_course(root)
    cells = [
        nb_cell("# Tiny assignment", "markdown"),
        nb_cell(PARAMETERS, grade_id="parameters", tags=("parameters",)),
        nb_cell(DOUBLE, "solution", "double"),
        nb_cell(TEST_DOUBLE, "tests", "test_double", points=3),
        nb_cell(SQUARE, "solution", "square"),
        nb_cell(TEST_SQUARE, "tests", "test_square", points=2),
        nb_cell("raise RuntimeError('after the last test: not run by check')", grade_id="experiment"),
    ]
    write_notebook(root / "solutions" / NAME / f"{NAME}.ipynb", cells)
    release = generate_assignment(NAME, course, release_dir=root / "notebooks")
    return {"root": root, "autograder": course, "release": nbformat.read(release, as_version=4)}


def student(course, tmp_path, double=None, square=None, counts=None):
    nb = copy.deepcopy(course["release"])
    answers = {c.metadata.nbgrader["grade_id"]: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}
    if double:
        answers["double"].source = double
    if square:
        answers["square"].source = square
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell, n in zip(code, counts or [None] * len(code)):
        cell.execution_count = n
    path = tmp_path / "work" / f"{NAME}.ipynb"
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nb, path)
    return path


def run_check(path, capsys, *extra):
    code = cli.main(["check", str(path), "--timeout", str(TIMEOUT), *extra])
    return code, capsys.readouterr().out


def test_blank_copy_fails_every_test_as_not_done(course, tmp_path, capsys):
    code, out = run_check(student(course, tmp_path), capsys)
    assert code == 1
    assert "✗ test_double: not done yet (NotImplementedError from the exercise stub)" in out
    assert "✗ test_square: not done yet" in out and "0/2 visible tests pass" in out
    assert "out of order" not in out and "hidden" not in out.split("\n")[0]


def test_partial_copy_shows_the_first_line_of_the_failure(course, tmp_path, capsys):
    path = student(
        course, tmp_path, double="def double(x):\n    return 2 * x", square="def square(x):\n    return x + x"
    )
    code, out = run_check(path, capsys)
    assert code == 1
    assert "✓ test_double\n" in out
    assert "✗ test_square: AssertionError: square(3) should be 9" in out
    assert "1/2 visible tests pass; hidden tests also run when your notebook is graded" in out


def test_correct_copy_passes_in_quick_mode_and_never_runs_later_cells(course, tmp_path, capsys):
    path = student(
        course, tmp_path, double="def double(x):\n    return 2 * x", square="def square(x):\n    return x * x"
    )
    assert check.cells_to_check(nbformat.read(path, 4))[0].source.endswith(
        "QUICK = True  # added by cnncourse check: the grader runs quick mode"
    )
    code, out = run_check(path, capsys)
    assert code == 0, out
    assert "✓ test_double\n✓ test_square\n2/2 visible tests pass" in out
    assert "RuntimeError" not in out  # the cell after the last test did not run


def test_out_of_order_execution_is_warned_about(course, tmp_path, capsys):
    right = {"double": "def double(x):\n    return 2 * x", "square": "def square(x):\n    return x * x"}
    path = student(course, tmp_path, **right, counts=[1, 5, 3, 4, 2, None])
    code, out = run_check(path, capsys)
    assert code == 0  # the fresh run passes: the warning is about the saved notebook
    assert "⚠ out of order: cell 4 ran before cell 3 (execution counts 3 and 5)" in out
    assert "Restart Kernel and Run All Cells" in out
    skipped = check.execution_order_problems(
        nbformat.read(student(course, tmp_path, counts=[1, None, 2, None, None, None]), 4)
    )
    assert skipped == ["cell 3 was never run, though later cells were"]
    fine = student(course, tmp_path, counts=[1, 2, 3, 4, 5, None])
    assert check.execution_order_problems(nbformat.read(fine, 4)) == []


def test_a_cell_over_the_limit_is_reported_as_the_graders_timeout(course, tmp_path, capsys):
    path = student(course, tmp_path, double="def double(x):\n    while True:\n        pass")
    code, out = run_check(path, capsys)
    assert code == 1
    assert f"✗ test_double: ran longer than {TIMEOUT} s, the grader's limit per cell" in out


def test_zip_is_a_submission_the_grader_accepts(course, tmp_path, capsys):
    right = {"double": "def double(x):\n    return 2 * x", "square": "def square(x):\n    return x * x"}
    path = student(course, tmp_path, **right)
    code, out = run_check(path, capsys, "--zip", str(tmp_path / "ada.zip"), "--name", "Ada Lovelace")
    assert code == 0 and f"→ {tmp_path / 'ada.zip'}" in out
    with zipfile.ZipFile(tmp_path / "ada.zip") as z:
        assert sorted(z.namelist()) == ["Ada-Lovelace/00_tiny.ipynb", "Ada-Lovelace/submission.json"]
        manifest = json.loads(z.read("Ada-Lovelace/submission.json"))
        notebook = z.read("Ada-Lovelace/00_tiny.ipynb")
    assert manifest["name"] == "Ada Lovelace" and manifest["cnncourse"] == __version__
    import hashlib

    assert manifest["sha256"] == hashlib.sha256(notebook).hexdigest() and manifest["notebook"] == "00_tiny.ipynb"
    out_dir = tmp_path / "grades"
    args = ["grade", NAME, str(tmp_path / "ada.zip"), "--course", str(course["autograder"]), "--out", str(out_dir)]
    assert cli.main([*args, "--timeout", str(TIMEOUT), "--workers", "1", "--quiet"]) == 0
    row = json.loads((out_dir / "report.json").read_text())["students"][0]
    assert (row["student"], row["status"], row["total"], row["max"]) == ("Ada-Lovelace", "graded", 5.0, 5.0)


def test_zip_needs_a_name_and_a_notebook_needs_tests(course, tmp_path, capsys):
    path = student(course, tmp_path)
    assert cli.main(["check", str(path), "--timeout", str(TIMEOUT), "--zip"]) == 2
    assert "--zip needs --name" in capsys.readouterr().err
    plain = write_notebook(tmp_path / "plain.ipynb", [nb_cell("x = 1")])
    assert cli.main(["check", str(plain)]) == 2
    assert "has no test cells" in capsys.readouterr().err
