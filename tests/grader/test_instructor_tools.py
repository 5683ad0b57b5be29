"""Instructor tools on a planted class of 31 through the real CLI: late policy, extensions, overrides kept
across a regrade after a hidden-test fix, LMS exports, the dashboard (in headless Chromium) and the
similarity report (a renamed and a reordered copy flagged, independent correct answers not).

The class is graded twice in one module fixture (first run, then ``--force`` after the fix); every
submission time is explicit and the deadline is relative to it.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from cnncourse import cli
from cnncourse.grader.nbgrader_cli import generate_assignment
from tests.notebooks import make_course, nb_cell, write_notebook

NAME = "00_tiny"
DOUBLE = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
SQUARE = "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION"
TEST_DOUBLE = ("assert double(2) == 4, 'double(2) should be 4'\n### BEGIN HIDDEN TESTS\n"
               "assert double(21) == 42, 'double is wrong on a hidden case'\n### END HIDDEN TESTS")
TEST_SQUARE = "assert square(3) == 9\n### BEGIN HIDDEN TESTS\nassert square(-4) == 16\n### END HIDDEN TESTS"
# The "hidden-test fix" of the regrade: square must also work on floats.
TEST_SQUARE_FIXED = TEST_SQUARE.replace("### END", "assert square(-1.5) == 2.25\n### END")
TIMEOUT = 6
SUBMITTED = datetime(2026, 11, 30, 10, tzinfo=timezone.utc)
DEADLINE = SUBMITTED + timedelta(days=1)
POLICY = "grace=1h,per-day=10%,cap=30%"

# -- answers: (double, square)
SOLUTION = ("def double(x):\n    return 2 * x", "def square(x):\n    return x * x")
ORIGINAL = ('''def _check_number(value):
    """Reject anything that is not a number."""
    if not isinstance(value, (int, float)):
        raise TypeError("expected a number, got %r" % (value,))
    return value


def double(x):
    x = _check_number(x)
    total = 0
    for _ in range(2):
        total = total + x
    return total''', '''def square(x):
    x = _check_number(x)
    magnitude = -x if x < 0 else x
    product = 0
    for _ in range(magnitude):
        product += magnitude
    return product''')
RENAMED = ('''def _ensure_numeric(v):
    # make sure it's numeric
    if not isinstance(v, (int, float)): raise TypeError('need numeric input: %r' % (v,))
    return v
def double(n):
    n = _ensure_numeric(n)
    acc = 0
    for _ in range(2):  acc = acc + n
    return acc''', '''def square(n):
    n = _ensure_numeric(n)   # my own work
    size = -n if n < 0 else n
    out = 0
    for _ in range(size):
        out += size
    return out''')
REORDERED = ('''def double(x):
    x = _check_number(x)
    total = 0
    for _ in range(2):
        total = total + x
    return total


def _check_number(value):
    if not isinstance(value, (int, float)):
        raise TypeError("expected a number, got %r" % (value,))
    return value''', ORIGINAL[1])
INDEPENDENT = [
    ('def double(x):\n    """Twice x."""\n    return x + x', "def square(x):\n    return x ** 2"),
    ("import operator\n\ndef double(x):\n    return operator.mul(x, 2)",
     "def square(x):\n    return operator.mul(x, x)"),
    ("def double(x):\n    doubled = 0\n    doubled += x\n    doubled += x\n    return doubled",
     "def square(x):\n    return pow(x, 2)"),
    ("def double(x):\n    return sum([x, x])",
     "def square(number):\n    result = 1\n    result *= number\n    result *= number\n    return result"),
]
WRONG_ON_HIDDEN = "def double(x):\n    return x + 2"  # right on 2, wrong on 21
PARTIAL_SQUARE = "def square(x):\n    return abs(x) * x"  # right on 3, wrong on -4

# student -> (answers or None for blank, submitted, status, total, word of the reason) after the first run
PLANTED = {f"correct_{k:02d}": (SOLUTION, SUBMITTED, "graded", 5, "") for k in range(1, 15)}
PLANTED |= {f"independent_{k}": (answers, SUBMITTED, "graded", 5, "") for k, answers in enumerate(INDEPENDENT, 1)}
PLANTED |= {
    "wrong_on_hidden": ((WRONG_ON_HIDDEN, SOLUTION[1]), SUBMITTED, "graded", 2, ""),
    "partial_square": ((SOLUTION[0], PARTIAL_SQUARE), SUBMITTED, "graded", 3, ""),
    "blank_1": (None, SUBMITTED, "graded", 0, ""),
    "blank_2": (None, SUBMITTED, "graded", 0, ""),
    "original": (ORIGINAL, SUBMITTED, "graded", 5, ""),
    "renamed_copy": (RENAMED, SUBMITTED, "graded", 5, ""),
    "reordered_copy": (REORDERED, SUBMITTED, "graded", 5, ""),
    "late_one_day": (SOLUTION, DEADLINE + timedelta(hours=10), "late", 4.5, "1 day(s) × 10% = -0.5"),
    "late_four_days": (SOLUTION, DEADLINE + timedelta(days=3, hours=12), "late", 3.5, "(cap)"),
    "within_grace": (SOLUTION, DEADLINE + timedelta(minutes=30), "graded", 5, "within the 1.0 h grace period"),
    "extended": (SOLUTION, DEADLINE + timedelta(days=2), "graded", 5,
                 "medical: deadline 2026-12-04T10:00+00:00, on time"),
    "overridden_1": ((WRONG_ON_HIDDEN, SOLUTION[1]), SUBMITTED, "graded", 4,
                     "override test_double: 0 → 2 (right idea)"),
    "overridden_2": (None, SUBMITTED, "graded", 2, "override test_square: 0 → 2 (answer emailed on time)"),
}
OVERRIDES = [("overridden_1", "test_double", "2", "right idea"),
             ("overridden_2", "test_square", "2", "answer emailed on time")]
COPIES = {"original", "renamed_copy", "reordered_copy"}


def _source(test_square=TEST_SQUARE):
    return [nb_cell("# Tiny assignment", "markdown"), nb_cell("SEED = 0", grade_id="parameters", tags=("parameters",)),
            nb_cell(DOUBLE, "solution", "double"), nb_cell(TEST_DOUBLE, "tests", "test_double", points=3),
            nb_cell(SQUARE, "solution", "square"), nb_cell(test_square, "tests", "test_square", points=2)]


def _student_notebook(release: Path, answers):
    nb = nbformat.read(release, as_version=4)
    if answers:
        for gid, code in zip(("double", "square"), answers):
            next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid).source = code
    return nb


def _grade(root: Path, *extra) -> dict:
    args = ["grade", NAME, str(root / "submissions"), "--out", str(root / "out"), "--course", str(root / "autograder"),
            "--timeout", str(TIMEOUT), "--workers", "2", "--deadline", DEADLINE.isoformat(), "--quiet",
            "--late-policy", POLICY, "--extensions", str(root / "extensions.csv"), *extra]
    assert cli.main(args) == 0
    return json.loads((root / "out" / "report.json").read_text())


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("instructor")
    make_course(root)
    write_notebook(root / "solutions" / NAME / f"{NAME}.ipynb", _source())
    release = generate_assignment(NAME, root / "autograder", release_dir=root / "notebooks")
    for student, (answers, when, *_) in PLANTED.items():
        target = root / "submissions" / student / f"{NAME}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(_student_notebook(release, answers), target)
        (target.parent / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S UTC"))
        os.utime(target, (when.timestamp(), when.timestamp()))
    (root / "extensions.csv").write_text("student,extension,reason\nextended,3d,medical\n")
    with (root / "overrides.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([("student", "cell", "points", "comment"), *OVERRIDES])
    first = _grade(root, "--overrides", str(root / "overrides.csv"), "--export", "canvas")
    snapshot = root / "first"
    shutil.copytree(root / "out", snapshot, ignore=shutil.ignore_patterns(".state", ".unpacked"))
    gradebook_first = _gradebook(root)
    # a hidden test is fixed; regrade with --force and without passing the overrides again
    write_notebook(root / "solutions" / NAME / f"{NAME}.ipynb", _source(TEST_SQUARE_FIXED))
    second = _grade(root, "--force", "--export", "moodle", "--export-by", "cell")
    return {"root": root, "first": first, "second": second, "snapshot": snapshot,
            "gradebook_first": gradebook_first, "gradebook_second": _gradebook(root),
            "rows": {r["student"]: r for r in first["students"]}}


def _gradebook(root: Path) -> dict:
    """{student: ({cell: score}, {cell: auto_score}, late penalty)} as nbgrader's gradebook holds them."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook("sqlite:///" + str(root / "autograder" / "gradebook.db")) as gradebook:
        for student in PLANTED:
            notebook = gradebook.find_submission_notebook(NAME, NAME, student)
            out[student] = ({g.name: g.score for g in notebook.grades}, {g.name: g.auto_score for g in notebook.grades},
                            notebook.late_submission_penalty)
    return out


def _csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


# ---------------------------------------------------------------- first run: policy, extensions, overrides
@pytest.mark.parametrize("student", sorted(PLANTED))
def test_planted_student(graded, student):
    _, _, status, total, word = PLANTED[student]
    row = graded["rows"][student]
    assert (row["status"], row["total"]) == (status, total), row
    assert word in row["reason"], row


def test_the_class_is_large_enough_and_every_kind_is_planted(graded):
    assert len(graded["rows"]) >= 30
    assert graded["first"]["summary"]["counts"]["late"] == 2
    assert graded["first"]["late_policy"]["policy"] == "grace 1 h, 10% per day late, at most 30%"


def test_overrides_keep_the_autograded_points_beside_them(graded):
    row = graded["rows"]["overridden_1"]
    assert row["autograded"] == {"test_double": 0.0, "test_square": 2.0}
    assert row["cells"] == {"test_double": 2.0, "test_square": 2.0}
    assert row["overrides"] == {"test_double": {"points": 2.0, "comment": "right idea"}}
    assert "after the deadline" not in graded["rows"]["late_one_day"]["reason"], "the grader's note is replaced"


def test_grades_csv_and_gradebook_agree_after_policy_and_overrides(graded):
    table = _csv(graded["snapshot"] / "grades.csv")
    head = table[0]
    by_student = {r[0]: dict(zip(head, r)) for r in table[1:]}
    for student, (scores, auto, penalty) in graded["gradebook_first"].items():
        row, line = graded["rows"][student], by_student[student]
        assert scores == row["cells"] == {c: float(line[c]) for c in ("test_double", "test_square")}, student
        assert auto == row["autograded"], student
        assert round(sum(scores.values()) - penalty, 4) == row["total"] == float(line["total"]), student
        assert line["reason"] == row["reason"]


def test_canvas_export_has_the_layout_canvas_imports(graded):
    table = _csv(graded["snapshot"] / "export-canvas.csv")
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", NAME]
    assert table[1] == ["Points Possible", "", "", "", "", "5"]
    values = {r[3]: float(r[5]) for r in table[2:]}
    assert values == {s: r["total"] for s, r in graded["rows"].items()}


def test_csv_export_per_cell(graded):
    from cnncourse.grader import lms_export

    table = lms_export.rows(graded["first"], "csv", by="cell")
    assert table[0] == ["student", f"{NAME} test_double", f"{NAME} test_square", "total", "max", "percent", "status",
                        "reason"]
    line = next(r for r in table if r[0] == "late_four_days")
    assert line[1:7] == ["3", "2", "3.5", "5", "70.0", "late"]
    with pytest.raises(ValueError, match="unknown export format"):
        lms_export.rows(graded["first"], "blackboard")


# ---------------------------------------------------------------- the regrade after the hidden-test fix
def test_regrade_reports_whose_scores_changed_and_by_how_much(graded):
    changes = {c["student"]: c for c in graded["second"]["changes"]}
    assert set(changes) == COPIES, changes  # their loop over range(magnitude) fails on -1.5
    for change in changes.values():
        assert (change["before"], change["after"], change["delta"]) == (5, 3, -2)
        assert change["cells"] == {"test_square": {"before": 2.0, "after": 0.0}}
    table = _csv(graded["root"] / "out" / "changes.csv")
    assert sorted(r[0] for r in table[1:]) == sorted(COPIES) and {r[3] for r in table[1:]} == {"-2"}


def test_overrides_and_policy_survive_the_regrade(graded):
    rows = {r["student"]: r for r in graded["second"]["students"]}
    unchanged = {s: plan for s, plan in PLANTED.items() if s not in COPIES}
    assert set(rows) == set(PLANTED) and unchanged, sorted(rows)
    for student, (_, _, status, total, _) in unchanged.items():
        assert (rows[student]["status"], rows[student]["total"], rows[student]["reason"]) == (
            status, total, graded["rows"][student]["reason"]), student
    assert graded["gradebook_second"]["overridden_1"][0] == {"test_double": 2.0, "test_square": 2.0}
    assert graded["gradebook_second"]["original"][0] == {"test_double": 3.0, "test_square": 0.0}


def test_moodle_export_per_cell(graded):
    table = _csv(graded["root"] / "out" / "export-moodle.csv")
    assert table[0] == ["Username", f"{NAME} test_double", f"{NAME} test_square", "Feedback"]
    line = next(r for r in table if r[0] == "overridden_2")
    assert line[1:3] == ["0", "2"] and "override test_square" in line[3]


# ---------------------------------------------------------------- dashboard
class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text, self.links, self.svgs = [], [], 0

    def handle_starttag(self, tag, attrs):
        self.svgs += tag == "svg"
        if tag == "a" and dict(attrs).get("href"):
            self.links.append(dict(attrs)["href"])

    def handle_data(self, data):
        self.text.append(data)


def _read_page(markup: str) -> _Page:
    page = _Page()
    page.feed(markup)
    page.words = " ".join(" ".join(page.text).split())
    return page


def _check_dashboard(page: _Page, folder: Path):
    assert page.svgs >= 2, "histogram and pass-rate plots"
    assert f"{len(PLANTED)} students, {len(PLANTED)} with a notebook" in page.words
    # the most frequent failure of test_double, grouped: wrong_on_hidden and overridden_1 fail the hidden case
    assert "2× AssertionError: double is wrong on a hidden case (overridden_1, wrong_on_hidden)" in page.words
    assert "3× NotImplementedError (blank_1, blank_2, overridden_2)" in page.words
    rates = re.search(r"test_double 3 (\d+)%", page.words)
    expected = round(100 * sum(r["cells"]["test_double"] >= 3 for r in PLANTED_ROWS(folder)) / len(PLANTED))
    assert rates and int(rates.group(1)) == expected
    assert "late_four_days" in page.words and "-1.5 point(s) (cap)" in page.words
    feedback = [link for link in page.links if link.startswith("feedback/")]
    assert len(feedback) == len(PLANTED) and all((folder / link).is_file() for link in feedback)
    assert "Time per cell" in page.words


def PLANTED_ROWS(folder: Path):
    return json.loads((folder / "report.json").read_text())["students"]


def test_dashboard_content(graded):
    folder = graded["snapshot"]
    _check_dashboard(_read_page((folder / "index.html").read_text()), folder)
    assert "<script" not in (folder / "index.html").read_text()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: apt-get install -y chromium (the dashboard "
                                             "browser test is skipped)")
def test_dashboard_renders_in_headless_chromium(graded, tmp_path):
    folder = graded["snapshot"]
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    url = (folder / "index.html").resolve().as_uri()
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    _check_dashboard(_read_page(dom.stdout), folder)
    shot = tmp_path / "dashboard.png"
    done = subprocess.run([*base, f"--screenshot={shot}", "--window-size=1200,2400", url], capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0 and shot.stat().st_size > 20_000, done.stderr[-2000:]


# ---------------------------------------------------------------- similarity
@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def similarity(graded):
    root = graded["root"]
    out = root / "similarity"
    assert cli.main(["similarity", NAME, str(root / "submissions"), "--out", str(out), "--course",
                     str(root / "autograder")]) == 0
    return {"out": out, "found": json.loads((out / "similarity.json").read_text())}


def test_renamed_and_reordered_copies_are_one_group(similarity):
    assert similarity["found"]["groups"] == [sorted(COPIES)]
    flagged = {frozenset((p["a"], p["b"])) for p in similarity["found"]["pairs"] if p["flagged"]}
    assert flagged == {frozenset(pair) for pair in [("original", "renamed_copy"), ("original", "reordered_copy"),
                                                      ("renamed_copy", "reordered_copy")]}
    assert all(p["score"] > 0.9 for p in similarity["found"]["pairs"] if p["flagged"])


def test_independent_and_solution_identical_answers_are_not_flagged(similarity):
    honest = {s for s in PLANTED if s not in COPIES}
    pairs = [p for p in similarity["found"]["pairs"] if {p["a"], p["b"]} <= honest]
    assert len(pairs) == len(honest) * (len(honest) - 1) // 2 and not any(p["flagged"] for p in pairs)
    # code identical to the solution is not counted at all; independent answers share no fingerprint
    solution_like = {s for s, plan in PLANTED.items() if plan[0] == SOLUTION or plan[0] is None}
    independent = {s for s in PLANTED if s.startswith("independent_")} | {"original"}
    unrelated = [p for p in similarity["found"]["pairs"] if {p["a"], p["b"]} & solution_like or
                 {p["a"], p["b"]} <= independent]
    assert len(unrelated) >= len(independent) * (len(independent) - 1) // 2, "independent answers are compared"
    assert [p for p in unrelated if p["score"] != 0] == []


def test_similarity_pages_highlight_the_matches(similarity):
    page = (similarity["out"] / "pairs" / "original__renamed_copy.html").read_text()
    marked = re.findall(r"<mark>(.*?)</mark>", page, re.S)
    assert any("_ensure_numeric" in m for m in marked) and any("_check_number" in m for m in marked)
    index = _read_page((similarity["out"] / "index.html").read_text())
    assert "pairs/original__renamed_copy.html" in index.links
    assert "original, renamed_copy, reordered_copy" in index.words


def test_feedback_of_adjusted_students_shows_what_counts(graded):
    folder = graded["snapshot"] / "feedback"
    for student, said in {"overridden_1": "4 / 5 points", "late_one_day": "4.5 / 5 points",
                          "correct_01": "5 / 5 points"}.items():
        page = _read_page((folder / student / f"{NAME}.html").read_text())
        assert f"Grader: {said}" in page.words, (student, page.words[:400])
    assert "override test_double: 0 → 2 (right idea)" in _read_page(
        (folder / "overridden_1" / f"{NAME}.html").read_text()).words
