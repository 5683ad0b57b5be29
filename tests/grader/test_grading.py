"""The class grader through the real CLI: a planted class covering every malformed case, one run.

Each planted student has an expected status, points and a word of the reason; the batch must complete,
the gradebook must agree with grades.csv, feedback must not show hidden tests, re-runs must resume and
regrading must give identical points.
"""
from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nbformat
import pytest

from cnncourse import cli
from cnncourse.grader import sandbox
from cnncourse.grader.nbgrader_cli import generate_assignment
from tests.notebooks import make_course, nb_cell, write_notebook


NAME = "00_tiny"
SECRET = "_hidden_case_7731"  # a name that only hidden test code contains
DOUBLE = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
SQUARE = "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION"
TEST_DOUBLE = ("import warnings\nwarnings.warn('a torch-style warning on stderr')\nassert double(2) == 4\n"
               f"### BEGIN HIDDEN TESTS\n{SECRET} = 21\nassert double({SECRET}) == 42, 'double is wrong on a hidden case'\n"
               "### END HIDDEN TESTS")
TEST_SQUARE = (f"assert square(3) == 9\n### BEGIN HIDDEN TESTS\n{SECRET} = -4\nassert square({SECRET}) == 16\n"
               "### END HIDDEN TESTS")
# Generous for honest cells on a loaded machine; hanging students cost about this per hung cell.
TIMEOUT = 5
# Every planted submission time is explicit and the deadline is relative to it: nothing depends on today.
SUBMITTED = datetime(2026, 11, 30, 10, tzinfo=timezone.utc)
DEADLINE = SUBMITTED + timedelta(days=1)
LATE = DEADLINE + timedelta(hours=10)


def _source_cells():
    return [nb_cell("# Tiny assignment", "markdown"),
            nb_cell("import numpy as np", grade_id="imports"),
            nb_cell("SEED = 0", grade_id="parameters", tags=("parameters",)),
            nb_cell(DOUBLE, "solution", "double"), nb_cell(TEST_DOUBLE, "tests", "test_double", points=3),
            nb_cell(SQUARE, "solution", "square"), nb_cell(TEST_SQUARE, "tests", "test_square", points=2),
            nb_cell("## After the exercises", "markdown"),
            nb_cell("raise RuntimeError('cells after the last graded one are not run')", grade_id="experiment")]


# ---------------------------------------------------------------- planted students: (builder, status, points, reason word)
def _answer(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _fill(nb, double="def double(x):\n    return 2 * x", square="def square(x):\n    return x * x"):
    _answer(nb, "double").source, _answer(nb, "square").source = double, square
    return nb


PLANTED = {}


def planted(status, points, reason="", layout="folder"):
    def register(build):
        PLANTED[build.__name__] = {"build": build, "status": status, "points": points, "reason": reason,
                                   "layout": layout}
        return build
    return register


@planted("graded", 5)
def correct(nb):
    return _fill(nb)


@planted("graded", 0)
def blank(nb):
    return nb


@planted("graded", 2)
def wrong_on_hidden(nb):
    return _fill(nb, double="def double(x):\n    return x + 2")  # right on 2, wrong on 21


@planted("graded", 3)
def partly_correct(nb):
    return _fill(nb, square="def square(x):\n    return abs(x) * x")


@planted("graded", 5, layout="flat")
def flatfile(nb):
    return _fill(nb)


@planted("partial", 3, "test_square timed out")
def loops_in_test(nb):
    return _fill(nb, square="def square(x):\n    while True:\n        pass")


@planted("partial", 3, "timed out")
def loops_ignoring_timeout(nb):
    return _fill(nb, square="import time\nwhile True:\n    try:\n        time.sleep(5)\n    except BaseException:\n        pass")


@planted("partial", 3, "crashed")
def exits_process(nb):
    return _fill(nb, square="import os\nos._exit(3)")


@planted("graded", 3)
def raises_in_answer(nb):
    return _fill(nb, square="def square(x):\n    raise ValueError('not done')")


@planted("graded", 3)
def sys_exit(nb):
    return _fill(nb, square="import sys\nsys.exit(1)")


@planted("timeout", 0, "not run")
def hangs_everywhere(nb):
    hang = "import time\nwhile True:\n    try:\n        time.sleep(5)\n    except BaseException:\n        pass"
    nb.cells.insert(1, nbformat.v4.new_code_cell(hang))
    return _fill(nb, double=hang, square=hang)


# -- isolation (needs root for the namespaces; without root these students would earn what they steal)
ISOLATED = os.geteuid() == 0 and sys.platform.startswith("linux")
STEAL = ("def square(x):\n    import json\n    for path in {paths!r}:\n        try:\n            open(path).read()\n"
         "            return x * x\n        except OSError:\n            pass\n    return None")


@planted("graded", 3 if ISOLATED else 5)
def reads_solutions(nb):
    return _fill(nb, square=STEAL.format(paths=[str(ROOT / "solutions" / NAME / f"{NAME}.ipynb")]))


@planted("graded", 3 if ISOLATED else 5)
def reads_other_students(nb):
    return _fill(nb, square=STEAL.format(paths=[str(ROOT / "submissions" / "correct" / f"{NAME}.ipynb"),
                                               str(ROOT / "autograder" / "gradebook.db")]))


@planted("graded", 3 if ISOLATED else 5)
def uses_network(nb):
    return _fill(nb, square="import socket\ndef square(x):\n    try:\n        socket.create_connection(('127.0.0.1', 9), 1)\n"
                            "    except ConnectionRefusedError:\n        return x * x\n    except OSError:\n"
                            "        return None\n    return x * x")


@planted("graded", 5)
def memory_bomb(nb):
    nb.cells.insert(2, nbformat.v4.new_code_cell("hog = bytearray(64 * 2**30)"))
    return _fill(nb)


@planted("graded", 3 if ISOLATED else 5)
def writes_outside(nb):
    return _fill(nb, square=f"open({str(ROOT / 'planted.txt')!r}, 'w').write('x')\ndef square(x):\n    return x * x")


@planted("invalid-notebook", 0, "not valid JSON")
def invalid_json(path):
    path.write_text('{"cells": [')


@planted("invalid-notebook", 0, "empty file")
def empty_file(path):
    path.write_bytes(b"")


@planted("invalid-notebook", 0, "no list of cells")
def not_a_notebook(path):
    path.write_text('{"hello": "world"}')


@planted("graded", 5, "")
def non_utf8(path):
    nb = _fill(_release())
    _answer(nb, "double").source = "# caf\u00e9\ndef double(x):\n    return 2 * x"
    path.write_bytes(nbformat.writes(nb).encode("utf-8").replace("caf\u00e9".encode(), b"caf\xe9"))


@planted("graded", 5)
def nbformat_five(path):
    data = json.loads(nbformat.writes(_fill(_release())))
    data["nbformat"] = 5
    path.write_text(json.dumps(data))


@planted("graded", 5)
def wrong_kernel(nb):
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    return _fill(nb)


@planted("graded", 2)
def deleted_answer(nb):
    _fill(nb)
    nb.cells.remove(_answer(nb, "double"))
    return nb


@planted("tampered", 5, "deleted")
def deleted_test(nb):
    _fill(nb)
    nb.cells.remove(_answer(nb, "test_square"))
    return nb


@planted("tampered", 2, "edited")
def edited_test(nb):
    _fill(nb, double="def double(x):\n    return 0")
    _answer(nb, "test_double").source = "pass  # nothing to see"
    return nb


@planted("tampered", 5, "points")
def changed_points(nb):
    _answer(nb, "test_square").metadata.nbgrader["points"] = 50
    return _fill(nb)


@planted("graded", 5)
def duplicated_answer(nb):
    _fill(nb, double="def double(x):\n    return 0")
    copy_cell = copy.deepcopy(_answer(nb, "double"))
    copy_cell.source, copy_cell["id"] = "def double(x):\n    return 2 * x", "copy-of-double"
    nb.cells.insert(nb.cells.index(_answer(nb, "double")) + 1, copy_cell)
    return nb


@planted("graded", 5)
def reordered(nb):
    _fill(nb)
    test = _answer(nb, "test_square")
    nb.cells.remove(test)
    nb.cells.insert(1, test)
    return nb


@planted("graded", 5)
def retyped_answer(nb):
    _fill(nb)
    cell = _answer(nb, "square")
    markdown = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)
    markdown["id"] = cell["id"]
    nb.cells[nb.cells.index(cell)] = markdown
    return nb


@planted("graded", 5)
def changed_grade_id(nb):
    _fill(nb)
    cell = _answer(nb, "double")
    cell.metadata.nbgrader["grade_id"], cell["id"] = "my-double", "my-double"
    return nb


@planted("graded", 5)
def stripped_metadata(nb):
    _fill(nb)
    for cell in nb.cells:
        cell.metadata = {}
    return nb


@planted("graded", 5)
def own_helper_cell(nb):
    nb.cells.insert(2, nbformat.v4.new_code_cell("def times(a, b):\n    return a * b"))
    return _fill(nb, double="def double(x):\n    return times(2, x)", square="def square(x):\n    return times(x, x)")


@planted("graded", 5)
def huge_output(nb):
    _fill(nb)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 5_000_000)]
    return nb


@planted("graded", 5)
def prints_a_lot(nb):
    return _fill(nb, square="print('y' * 3_000_000)\ndef square(x):\n    return x * x")


@planted("graded", 5)
def warns_on_stderr(nb):
    return _fill(nb, square="import sys, warnings\ndef square(x):\n    warnings.warn('deprecated'); "
                            "print('tqdm', file=sys.stderr)\n    return x * x")


@planted("graded", 5)
def renamed_notebook(nb):
    return _fill(nb)


@planted("graded", 5)
def extra_files(nb):
    return _fill(nb)


@planted("late", 5, "after the deadline")
def late(nb):
    return _fill(nb)


@planted("late", 5, "after the deadline")
def stamp_dodger(nb):  # writes its own timestamp.txt, before the deadline: not a trusted source
    return _fill(nb)


@planted("missing-notebook", 0, "no .ipynb")
def missing(path):
    path.with_name("answers.py").write_text("def double(x): return 2 * x\n")
    path.unlink(missing_ok=True)


def _release():
    return nbformat.read(RELEASE, as_version=4)


RELEASE = None
ROOT = Path("/nonexistent")


def _build_class(folder: Path) -> None:
    for student, plan in PLANTED.items():
        when = LATE if student in ("late", "stamp_dodger") else SUBMITTED
        claimed = SUBMITTED if student == "stamp_dodger" else when
        if plan["layout"] == "flat":
            target = folder / f"{student}_{NAME}.ipynb"
        else:
            target = folder / student / f"{NAME}.ipynb"
            target.parent.mkdir(parents=True)
            (target.parent / "timestamp.txt").write_text(claimed.strftime("%Y-%m-%d %H:%M:%S UTC"))
        build = plan["build"]
        if build.__code__.co_varnames[0] == "nb":
            nbformat.write(build(_release()), target)
        else:
            build(target)
        if target.exists():  # the file's time on the grader's disk is the submission time (not timestamp.txt)
            os.utime(target, (when.timestamp(), when.timestamp()))
    (folder / "renamed_notebook" / f"{NAME}.ipynb").rename(folder / "renamed_notebook" / "my work.ipynb")
    (folder / "extra_files" / "notes.txt").write_text("scratch")
    (folder / "extra_files" / ".ipynb_checkpoints").mkdir()
    (folder / "extra_files" / ".ipynb_checkpoints" / f"{NAME}-checkpoint.ipynb").write_text("{}")
    (folder / "README.txt").write_text("LMS export")


def _grade(course, submissions, out, *extra):
    args = ["grade", NAME, str(submissions), "--out", str(out), "--course", str(course), "--timeout", str(TIMEOUT),
            "--workers", "2", "--deadline", DEADLINE.isoformat(), "--quiet", *extra]
    assert cli.main(args) == 0
    return json.loads((out / "report.json").read_text())


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def graded(tmp_path_factory):
    global RELEASE, ROOT
    root = ROOT = tmp_path_factory.mktemp("class")
    course = make_course(root)
    write_notebook(root / "solutions" / NAME / f"{NAME}.ipynb", _source_cells())
    RELEASE = generate_assignment(NAME, course, release_dir=root / "notebooks")
    _build_class(root / "submissions")
    report = _grade(course, root / "submissions", root / "out")
    return {"root": root, "course": course, "report": report,
            "rows": {r["student"]: r for r in report["students"]}}


@pytest.mark.parametrize("student", sorted(PLANTED))
def test_planted_student(graded, student):
    plan, row = PLANTED[student], graded["rows"][student]
    assert (row["status"], row["total"]) == (plan["status"], plan["points"]), row
    assert plan["reason"] in row["reason"] + " ".join(row["notes"]), row


@pytest.mark.skipif(not ISOLATED, reason="needs root for the namespaces")
def test_nothing_was_written_outside_the_working_copy(graded):
    assert not (graded["root"] / "planted.txt").exists()
    assert {r["sandbox"] for r in graded["rows"].values() if r.get("sandbox")} == {
        "no network; only the system, Python, the course package and data visible (read-only); own IPC and "
        f"process namespaces; an unprivileged user of its own; {sandbox.WRITABLE_SIZE} tmpfs working folder, /tmp "
        "and /dev/shm; resource limits"}


def test_submission_times_are_the_planted_ones_not_the_clock(graded):
    stamps = {r["student"]: r["timestamp"] for r in graded["rows"].values() if r.get("timestamp")}
    assert stamps and set(stamps) >= {"flatfile", "late", "correct"}
    for student, stamp in stamps.items():
        assert datetime.fromisoformat(stamp) == (LATE if student in ("late", "stamp_dodger") else SUBMITTED), \
            (student, stamp)
    assert {r["timestamp_source"] for r in graded["rows"].values() if r.get("timestamp")} == {"file modification time"}


def test_every_student_has_a_row_and_the_batch_completed(graded):
    assert set(graded["rows"]) == set(PLANTED)
    assert graded["report"]["ignored"] == ["README.txt (not a notebook or a student folder)"]
    with (graded["root"] / "out" / "grades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["student"]: r["status"] for r in rows} == {s: p["status"] for s, p in PLANTED.items()}
    assert all(r["reason"] for r in rows if r["status"] not in ("graded",)), "a non-graded status needs a reason"
    executed = [r for r in graded["rows"].values() if r["job_seconds"] is not None]
    assert executed and all(r["grader_seconds"] > 0 for r in executed), "the coordinator's time per submission"
    assert graded["report"]["summary"]["reference_seconds"] > 0


def test_notes_explain_repairs(graded):
    notes = {s: " ".join(r["notes"]) for s, r in graded["rows"].items()}
    expected = {"non_utf8": "non-UTF-8", "nbformat_five": "nbformat 5", "wrong_kernel": "kernel 'ir'",
                "deleted_answer": "missing", "duplicated_answer": "2 times", "reordered": "reordered",
                "retyped_answer": "markdown", "changed_grade_id": "names it defines", "own_helper_cell": "own",
                "renamed_notebook": "my work.ipynb", "extra_files": "other file"}
    for student, word in expected.items():
        assert word in notes[student], (student, notes[student])


def test_gradebook_agrees_with_grades_csv(graded):
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook("sqlite:///" + str(graded["course"] / "gradebook.db")) as gradebook:
        for student, row in graded["rows"].items():
            if row["status"] in ("invalid-notebook", "missing-notebook"):
                with pytest.raises(MissingEntry):
                    gradebook.find_submission(NAME, student)
                continue
            notebook = gradebook.find_submission_notebook(NAME, NAME, student)
            assert {g.name: g.auto_score for g in notebook.grades} == row["cells"], student


def test_feedback_never_shows_hidden_tests(graded):
    pages = list((graded["root"] / "out" / "feedback").rglob("*.html"))
    assert pages and len(pages) == sum(r["status"] not in ("invalid-notebook", "missing-notebook")
                             for r in graded["rows"].values())
    for page in pages:
        text = page.read_text()
        assert SECRET not in text, page
        assert "status" in text


def test_a_feedback_page_does_not_depend_on_the_pages_rendered_before_it(graded):
    """One exporter (and its remembered highlighting) serves a whole class: a page is the same whether it is
    rendered first, after another student's, or by a fresh exporter."""
    from cnncourse.grader import feedback

    graded_rows = sorted(s for s, r in graded["rows"].items() if r["status"] == "graded")
    a, b = (nbformat.read(graded["root"] / "out" / "autograded" / s / f"{NAME}.ipynb", 4) for s in graded_rows[:2])
    db = "sqlite:///" + str(graded["course"] / "gradebook.db")
    first = feedback.feedback_html(a, NAME, graded_rows[0], db, "heading")
    other = feedback.feedback_html(b, NAME, graded_rows[1], db, "heading")
    again = feedback.feedback_html(a, NAME, graded_rows[0], db, "heading")
    feedback._exporter.cache_clear()
    fresh = feedback.feedback_html(a, NAME, graded_rows[0], db, "heading")
    assert first == again == fresh and first != other
    assert 'class="highlight hl-' in first


def test_rerun_resumes_and_force_regrades_identically(graded):
    root = graded["root"]
    again = _grade(graded["course"], root / "submissions", root / "out")
    assert again["summary"]["graded_now"] == 0
    assert again["summary"]["resumed"] == len(PLANTED) - 1, "all but the missing notebook come from the state"
    assert {r["student"]: r["total"] for r in again["students"]} == {s: r["total"] for s, r in graded["rows"].items()}
    subset = root / "subset"
    for student in ("correct", "wrong_on_hidden", "partly_correct", "loops_in_test"):
        shutil.copytree(root / "submissions" / student, subset / student)
    first = _grade(graded["course"], subset, root / "out-subset")
    second = _grade(graded["course"], subset, root / "out-subset", "--force")
    assert second["summary"]["graded_now"] == 4
    assert [(r["student"], r["cells"]) for r in first["students"]] == \
           [(r["student"], r["cells"]) for r in second["students"]]


def test_zip_input_gives_the_same_grades(graded):
    root = graded["root"]
    archive = root / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for student in ("correct", "blank", "flatfile_00_tiny.ipynb"):
            path = root / "submissions" / student
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            for file in files:
                zf.write(file, "export/" + str(file.relative_to(root / "submissions")))
        zf.writestr("../evil.ipynb", "{}")
    report = _grade(graded["course"], archive, root / "out-zip")
    got = {r["student"]: (r["status"], r["total"]) for r in report["students"]}
    assert got == {s: (graded["rows"][s]["status"], graded["rows"][s]["total"]) for s in ("correct", "blank", "flatfile")}
    assert not (root / "evil.ipynb").exists()


def test_dask_cluster_runs_the_same_jobs(graded):
    import distributed  # pinned in requirements.txt: a missing one is a failure, not a skip

    root = graded["root"]
    subset = root / "subset-dask"
    for student in ("correct", "partly_correct", "exits_process"):
        shutil.copytree(root / "submissions" / student, subset / student)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  dashboard_address=None) as cluster:
        report = _grade(graded["course"], subset, root / "out-dask", "--scheduler", cluster.scheduler_address)
    assert report["summary"]["executor"].startswith("tcp://")
    got = {r["student"]: (r["status"], r["total"]) for r in report["students"]}
    assert got == {s: (graded["rows"][s]["status"], graded["rows"][s]["total"]) for s in got}


def test_bad_submissions_path_is_a_clear_error(graded, tmp_path, capsys):
    code = cli.main(["grade", NAME, str(tmp_path / "nope"), "--out", str(tmp_path / "o"),
                     "--course", str(graded["course"]), "--quiet"])
    assert code == 2
    assert "submissions not found" in capsys.readouterr().err
    (tmp_path / "bad.zip").write_text("not a zip")
    assert cli.main(["grade", NAME, str(tmp_path / "bad.zip"), "--out", str(tmp_path / "o"),
                     "--course", str(graded["course"]), "--quiet"]) == 2
