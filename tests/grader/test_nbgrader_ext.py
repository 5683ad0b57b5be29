"""Stock nbgrader made robust for torch: stderr, deleted test cells, hidden tests in feedback, alembic."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys

import nbformat
import pytest

from cnncourse.grader import nbgrader_ext
from cnncourse.grader.nbgrader_cli import stock_autograde as autograde
from tests.notebooks import nb_cell, write_notebook


ANSWER = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
SECRET = "assert double(21) == 42, 'hidden message shown to students'"
TESTS = ("import sys, warnings\n"
         "warnings.warn('torch-style UserWarning on stderr')\n"
         "print('progress bar on stderr', file=sys.stderr)\n"
         "assert double(2) == 4\n"
         f"### BEGIN HIDDEN TESTS\n{SECRET}\n### END HIDDEN TESTS")


def _assignment(course, name="00_tiny", answer=ANSWER):
    cells = [nb_cell("# Tiny", "markdown"), nb_cell(answer, "solution", "double"),
             nb_cell(TESTS, "tests", "test_double", points=3)]
    return write_notebook(course.parent / "solutions" / name / f"{name}.ipynb", cells)


def _submission(path, transform):
    nb = nbformat.read(path, as_version=4)
    transform(nb)
    out = path.parent.parent.parent / "subs" / f"{path.stem}-{transform.__name__}.ipynb"
    out.parent.mkdir(exist_ok=True)
    nbformat.write(nb, out)
    return out


def _unchanged(nb):
    pass


def _wrong(nb):
    nb.cells[1].source = "def double(x):\n    return x + 2"  # right on 2, wrong on 21


def _deleted_tests(nb):
    del nb.cells[2]


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def tiny_graded(tmp_path_factory):
    from tests.notebooks import make_course

    course = make_course(tmp_path_factory.mktemp("tiny"))
    source = _assignment(course)
    subs = {t.__name__.strip("_"): _submission(source, t) for t in (_unchanged, _wrong, _deleted_tests)}
    # alembic must be found even when the venv's bin/ is not on PATH (the first-run pitfall)
    saved = os.environ["PATH"]
    os.environ["PATH"] = "/usr/bin:/bin"
    try:
        scores = autograde("00_tiny", subs, course, feedback=True)
    finally:
        os.environ["PATH"] = saved
    return course, scores


def test_stderr_output_does_not_cost_points(tiny_graded):
    _, scores = tiny_graded
    assert scores["unchanged"]["test_double"] == (3.0, 3.0)


def test_wrong_answer_gets_zero_through_hidden_test(tiny_graded):
    _, scores = tiny_graded
    assert scores["wrong"]["test_double"] == (0.0, 3.0)


def test_deleted_test_cell_is_reinserted_and_run(tiny_graded):
    course, scores = tiny_graded
    assert scores["deleted_tests"]["test_double"] == (3.0, 3.0)
    graded = nbformat.read(course / "autograded" / "deleted_tests" / "00_tiny" / "00_tiny.ipynb", as_version=4)
    assert any(SECRET in c.source for c in graded.cells), "the hidden test ran in the autograded copy"


def test_feedback_never_shows_hidden_tests(tiny_graded):
    course, _ = tiny_graded
    for student in ("unchanged", "wrong", "deleted_tests"):
        html = (course / "feedback" / student / "00_tiny" / "00_tiny.html").read_text()
        assert "double(21)" not in html, f"hidden test code in {student}'s feedback"
    wrong = (course / "feedback" / "wrong" / "00_tiny" / "00_tiny.html").read_text()
    assert "AssertionError" in wrong and "hidden message shown to students" in wrong  # the message, not the code
    assert nbgrader_ext.HIDDEN_NOTICE in wrong


def test_first_gradebook_is_healthy(tiny_graded):
    course, _ = tiny_graded
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == nbgrader_ext.alembic_head()


def test_alembic_head_matches_the_alembic_command():
    bin_dir = os.path.dirname(sys.executable)
    from nbgrader.api import get_alembic_version

    env_path = os.environ["PATH"]
    os.environ["PATH"] = bin_dir + os.pathsep + env_path
    try:
        assert nbgrader_ext.alembic_head() == get_alembic_version()
    finally:
        os.environ["PATH"] = env_path


def test_repair_stamps_a_half_created_gradebook(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    db_path = tmp_path / "gradebook.db"
    with Gradebook(f"sqlite:///{db_path}") as gradebook:
        gradebook.add_assignment("a1")
    with sqlite3.connect(db_path) as db:  # what a failed `alembic` call leaves behind
        db.execute("DROP TABLE alembic_version")
    assert nbgrader_ext.repair_gradebook(str(db_path)) is True
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(nbgrader_ext.alembic_head(),)]
    with Gradebook(f"sqlite:///{db_path}") as gradebook:
        assert [a.name for a in gradebook.assignments] == ["a1"], "repairing keeps what the gradebook held"
    assert nbgrader_ext.repair_gradebook(str(db_path)) is False, "a healthy gradebook is left alone"


def test_repair_ignores_missing_and_empty_files(tmp_path):
    assert nbgrader_ext.repair_gradebook(str(tmp_path / "none.db")) is False
    (tmp_path / "empty.db").write_bytes(b"")
    assert nbgrader_ext.repair_gradebook(str(tmp_path / "empty.db")) is False


def test_prepare_environment_puts_this_python_first(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    nbgrader_ext.prepare_environment(str(tmp_path / "gradebook.db"))
    assert os.environ["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert shutil.which("alembic") == os.path.join(os.path.dirname(sys.executable), "alembic")


def test_hide_hidden_tests_redacts_region_and_traceback():
    cell = nb_cell(f"assert True\n### BEGIN HIDDEN TESTS\n{SECRET}\n### END HIDDEN TESTS", "tests", "t", 1)
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="boom",
                                           traceback=[f"----> 2 {SECRET}"]),
                    nbformat.v4.new_output("stream", name="stdout", text="kept"),
                    nbformat.v4.new_output("stream", name="stderr", text=f"UserWarning: x\n  {SECRET}\n")]
    out, _ = nbgrader_ext.HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert SECRET not in out.source and "assert True" in out.source
    assert all(SECRET not in line for line in out.outputs[0]["traceback"])
    assert out.outputs[0]["traceback"][0] == "AssertionError: boom"
    assert out.outputs[1]["text"] == "kept"
    assert SECRET not in out.outputs[2]["text"], "a warning quotes the line that raised it"


def test_config_is_loadable_from_anywhere(tmp_path):
    """nbgrader reads the config from the course root; its paths are absolute, whatever the cwd."""
    from tests.notebooks import make_course

    course = make_course(tmp_path)
    code = ("from traitlets.config.loader import PyFileConfigLoader\n"
            f"c = PyFileConfigLoader('nbgrader_config.py', path={str(course)!r}).load_config()\n"
            "print(c.CourseDirectory.root)\n"
            "print(c.Execute.timeout)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path.parent, capture_output=True, text=True, check=True)
    root, timeout = out.stdout.split()
    assert root == str(course) and int(timeout) >= 300
