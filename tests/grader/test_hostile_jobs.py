"""Hostile submissions against the grader itself, each planted beside an honest bystander, graded in one batch.

Each case is a trick a student can play on the grading machine rather than on a test: characters no UTF-8
file can hold, lines forged into the job's result file, the executor's failure code with its log replaced by
a link to ``/proc/self/environ``, the result file replaced by a FIFO, output that keeps the watchdog fed
forever, many cells that each stay just under the time limit, a grandchild that calls ``setsid()``, a disk
filled across many files, output floods, scripts in the feedback page, a notebook nested 100,000 deep.
The batch must complete, the bystander keep full marks, every folder get its own row with a status and a
reason, the gradebook agree with ``grades.csv``, nothing of the grader's environment appear in any output,
and no process outlive the batch.
"""
from __future__ import annotations

import csv
import json
import os
import sys
from html.parser import HTMLParser

import nbformat
import pytest

from cnncourse import cli
from cnncourse.grader import sandbox
from cnncourse.grader.nbgrader_cli import generate_assignment
from tests.notebooks import make_course, nb_cell, write_notebook

NAME = "00_hostile"
ISOLATED = os.geteuid() == 0 and sys.platform.startswith("linux")
TIMEOUT, BUDGET = 4, 16  # seconds per cell; per submission, both runs together (each gets half)
SECRET = "grader-secret-7f3a9c"  # in the grader's environment: must never reach an output
POINTS = {"test_scale": 2, "test_count": 1}
FULL = sum(POINTS.values())
SCALE = "def scale(t):\n    ### BEGIN SOLUTION\n    return 3 * t\n    ### END SOLUTION"
COUNT = "def count_positive(t):\n    ### BEGIN SOLUTION\n    return int((t > 0).sum())\n    ### END SOLUTION"
TEST_SCALE = ("assert torch.equal(scale(torch.arange(3.0)), torch.tensor([0.0, 3.0, 6.0]))\n### BEGIN HIDDEN TESTS\n"
              "_h = torch.randn(3, 4, generator=torch.Generator().manual_seed(5))\n"
              "torch.testing.assert_close(scale(_h), 3 * _h)\n### END HIDDEN TESTS")
TEST_COUNT = ("assert count_positive(torch.tensor([1, -1, 2])) == 2\n### BEGIN HIDDEN TESTS\n"
              "_t = torch.linspace(-1, 2, 13)\nassert count_positive(_t) == int((_t > 0).sum())\n### END HIDDEN TESTS")

REGULAR_FDS = ("import os, stat\n"
               "fds = [fd for fd in range(3, 256) if os.path.exists(f'/proc/self/fd/{fd}')\n"
               "       and stat.S_ISREG(os.fstat(fd).st_mode)]\n")
# student -> (code cells of its own, right after the imports; expected (total, statuses); needs root)
CASES = {
    "bystander": ([], (FULL, {"graded"})),
    "lone_surrogates": (["label = 'x\ud800y'  # a lone surrogate in the source\nprint('out' + chr(0xDCFF))"],
                        (FULL, {"graded"})),
    "forges_result_lines": ([REGULAR_FDS + "junk = (b'{\"timed_out\": false}\\n{\"index\": \"x\"}\\n{\"replayed\": \"a\"}\\n'\n"
                             "        + b'[' * 100_000 + b'\\n{\"sandbox\": 7}\\n')\nfor fd in fds:\n    os.write(fd, junk)"],
                            (FULL, {"graded"})),
    "exits_70_with_blank_log": (["import os\nos._exit(70)"], (FULL, {"partial"})),
    "links_its_log_to_the_environment": ([
        "import os\nfor path in ('stdio.log', '../stdio.log'):\n    try:\n        os.remove(path)\n    except OSError:\n"
        "        pass\n    try:\n        os.symlink('/proc/self/environ', path)\n    except OSError:\n        pass\n"
        "os._exit(70)"], (FULL, {"partial"})),
    "prints_the_environment": ([
        "import os\nprint(dict(os.environ))\nfor path in ('/proc/self/environ', '/proc/1/environ'):\n    try:\n"
        "        print(open(path, 'rb').read())\n    except OSError as error:\n        print(error)"],
        (FULL, {"graded"})),
    "replaces_results_with_a_fifo": ([
        "import os\ntry:\n    os.remove('../cells.jsonl')\n    os.mkfifo('../cells.jsonl')\nexcept OSError:\n    pass"],
        (FULL, {"graded"}) if ISOLATED else (None, {"graded", "crashed", "timeout"})),
    "feeds_the_watchdog_forever": ([
        REGULAR_FDS + "import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n"
        "    for fd in fds:\n        os.write(fd, b'\\n')\n    time.sleep(0.001)"], (0, {"timeout"})),
    "many_cells_just_under_the_limit": ([f"import time\ntime.sleep({TIMEOUT - 0.5})"] * 6, (0, {"timeout"})),
    "setsid_grandchild": (["import subprocess\nsubprocess.Popen(['sleep', '300'], start_new_session=True)"],
                          (FULL, {"graded"})),
    "fills_the_disk": ([
        "written = 0\ntry:\n    for k in range(8):\n        with open(f'fill{k}.bin', 'wb') as f:\n"
        "            for _ in range(128):\n                f.write(b'\\0' * 2**20)\n                written += 1\n"
        "except OSError as error:\n    print('stopped:', type(error).__name__)\nprint('wrote MiB:', written)"],
        (FULL, {"graded"})),
    "floods_its_output": (["print('\\0' * 10**6)"] * 20 + [
        REGULAR_FDS + "for fd in fds:\n    for _ in range(80):\n        os.write(fd, b'x' * 2**20 + b'\\n')"],
        (None, {"graded", "crashed", "partial", "timeout"})),
    "scripts_in_the_feedback": ([
        "from IPython.display import HTML, Javascript, display\n"
        "display(HTML('<img src=x onerror=\"alert(1)\" title=\"pwned-img\"><script>pwned_html()</script>'))\n"
        "display(Javascript('pwned_js()'))"], (FULL, {"graded"})),
}
ROOT_ONLY = {"fills_the_disk"}  # without the tmpfs working folder it would write 800 MiB to the host's disk
if not ISOLATED:
    for student in ROOT_ONLY:
        del CASES[student]  # not planted; its test case is skipped, not deleted


def _submission(release, student):
    nb = nbformat.read(release, as_version=4)
    answers = {"scale": "def scale(t):\n    return 3 * t", "count_positive": "def count_positive(t):\n    return int((t > 0).sum())"}
    for cell in nb.cells:
        cell.source = answers.get(cell.metadata.get("nbgrader", {}).get("grade_id"), cell.source)
    imports = next(k for k, c in enumerate(nb.cells) if c.get("id") == "imports")
    nb.cells[imports + 1:imports + 1] = [nbformat.v4.new_code_cell(source) for source in CASES[student][0]]
    return nb


def _write(nb, path):
    """As nbformat writes it, but with ``\\uXXXX`` escapes: a lone surrogate cannot be written as UTF-8."""
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(nbformat.from_dict(nb), ensure_ascii=True, indent=1))


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    course = make_course(root)
    write_notebook(root / "solutions" / NAME / f"{NAME}.ipynb", [
        nb_cell("# Hostile", "markdown"), nb_cell("import torch", grade_id="imports"),
        nb_cell(SCALE, "solution", "scale"), nb_cell(TEST_SCALE, "tests", "test_scale", points=2),
        nb_cell(COUNT, "solution", "count_positive"), nb_cell(TEST_COUNT, "tests", "test_count", points=1)])
    release = generate_assignment(NAME, course, release_dir=root / "notebooks")
    for student in CASES:
        _write(_submission(release, student), root / "class" / student / f"{NAME}.ipynb")
    deep = root / "class" / "nested_100000_deep" / f"{NAME}.ipynb"
    deep.parent.mkdir(parents=True)
    deep.write_text('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}")
    args = ["grade", NAME, str(root / "class"), "--out", str(root / "out"), "--course", str(course),
            "--timeout", str(TIMEOUT), "--budget", str(BUDGET), "--workers", "2", "--quiet"]
    os.environ["GRADER_SECRET_TOKEN"] = SECRET
    try:
        code = cli.main(args)
    finally:
        del os.environ["GRADER_SECRET_TOKEN"]
    assert code == 0, "the batch must complete"
    report = json.loads((root / "out" / "report.json").read_text())
    return {"root": root, "course": course, "out": root / "out", "report": report,
            "rows": {r["student"]: r for r in report["students"]}}


def test_every_folder_has_its_own_row(hostile):
    assert set(hostile["rows"]) == {*CASES, "nested_100000_deep"}
    for row in hostile["rows"].values():
        assert row["status"] and (row["status"] in ("graded",) or row["reason"]), row


@pytest.mark.parametrize("student", sorted(CASES))
def test_case_gets_its_own_status(hostile, student):
    row = hostile["rows"][student]
    total, statuses = CASES[student][1]
    assert row["status"] in statuses, (row["status"], row["reason"], row["notes"])
    # total None: the case may cost its own points (how many depends on where the kill lands), never more
    assert row["total"] == total if total is not None else 0 <= row["total"] <= FULL, (
        row["cells"], row["status"], row["reason"], row["notes"])
    assert not any("executor error" in note for note in row["notes"]), row["notes"]  # never the student's text


def test_the_bystander_keeps_full_marks_verified(hostile):
    row = hostile["rows"]["bystander"]
    assert (row["status"], row["total"], row["unverified"]) == ("graded", FULL, []), row


def test_a_notebook_nested_too_deeply_is_invalid_not_fatal(hostile):
    row = hostile["rows"]["nested_100000_deep"]
    assert row["status"] == "invalid-notebook" and "nested too deeply" in row["reason"], row


def test_lone_surrogates_are_replaced_and_said(hostile):
    row = hostile["rows"]["lone_surrogates"]
    assert any("lone surrogates" in note for note in row["notes"]), row["notes"]
    graded = (hostile["out"] / "autograded" / "lone_surrogates" / f"{NAME}.ipynb").read_text(encoding="utf-8")
    assert "out\ufffd" in graded, "the output's lone surrogate became U+FFFD"


def test_the_budget_stops_a_job_on_the_graders_clock(hostile):
    for student in ("feeds_the_watchdog_forever", "many_cells_just_under_the_limit"):
        row = hostile["rows"][student]
        assert any("budget" in note for note in row["notes"]), (student, row["notes"])
        assert row["job_seconds"] < BUDGET + 4 * TIMEOUT, (student, row["job_seconds"])  # not cells × timeout × 2


@pytest.mark.skipif(not ISOLATED, reason="the tmpfs working folder needs root")
def test_the_disk_is_never_filled(hostile):
    nb = nbformat.read(hostile["out"] / "autograded" / "fills_the_disk" / f"{NAME}.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    wrote = int(text.split("wrote MiB:")[1].split()[0])
    assert "stopped: OSError" in text and wrote <= int(sandbox.WRITABLE_SIZE.rstrip("m")), text[-300:]


def test_nothing_of_the_graders_environment_reaches_an_output(hostile):
    leaked = [str(p) for p in hostile["out"].rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert not leaked, leaked
    graded = (hostile["out"] / "autograded" / "prints_the_environment" / f"{NAME}.ipynb").read_text()
    assert "HOME" in graded, "the student's own environment is printed (the case ran)"


def test_outputs_stay_bounded(hostile):
    assert (hostile["out"] / "report.json").stat().st_size < 2**20
    flooded = hostile["out"] / "autograded" / "floods_its_output" / f"{NAME}.ipynb"
    assert flooded.is_file() and flooded.stat().st_size < 64 * 2**20


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self.handlers, self.links, self._in_script = [], [], [], False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append((tag, name, value))
            if name in ("href", "src") and (value or "").strip().lower().startswith("javascript:"):
                self.links.append((tag, value))

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def test_feedback_pages_run_no_student_script(hostile):
    page = (hostile["out"] / "feedback" / "scripts_in_the_feedback" / f"{NAME}.html").read_text()
    tags = _Tags()
    tags.feed(page)
    assert not [s for s in tags.scripts if "pwned" in s], "a student script is live in the feedback page"
    assert not tags.handlers and not tags.links, (tags.handlers, tags.links)
    assert "pwned_html()" in page, "the student's HTML is shown, as text"


def test_student_markdown_is_sanitized_and_the_assignments_is_not():
    """Markdown answers come from the student; the other markdown cells are the instructor's."""
    from cnncourse.grader.feedback import sanitize

    own = "## Title\n\n<script>pwned_markdown()</script> <a href=\"javascript:pwned_link()\">x</a> | a | b |"
    theirs = "<details><summary>Hint</summary><script>instructor_demo()</script></details>"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(own), nbformat.v4.new_markdown_cell(theirs)]
    clean = nbformat.from_dict(json.loads(json.dumps(nb)))
    sanitize(clean, frozenset({theirs}))
    tags = _Tags()
    tags.feed(clean.cells[0].source)
    assert not tags.scripts and not tags.links, clean.cells[0].source
    assert "## Title" in clean.cells[0].source and "pwned_markdown()" in clean.cells[0].source
    assert clean.cells[1].source == theirs, "the instructor's text as written"


def test_the_gradebook_agrees_with_grades_csv(hostile):
    from nbgrader.api import Gradebook, MissingEntry

    with open(hostile["out"] / "grades.csv", newline="", encoding="utf-8") as handle:
        csv_rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert set(csv_rows) == set(hostile["rows"])
    with Gradebook("sqlite:///" + str(hostile["course"] / "gradebook.db")) as gradebook:
        for student, row in hostile["rows"].items():
            assert float(csv_rows[student]["total"]) == row["total"], student
            if row["status"] == "invalid-notebook":
                with pytest.raises(MissingEntry):
                    gradebook.find_submission(NAME, student)
                continue
            notebook = gradebook.find_submission_notebook(NAME, NAME, student)
            assert {g.name: g.auto_score for g in notebook.grades} == row["cells"], student


@pytest.mark.skipif(not ISOLATED, reason="needs root for the namespaces")
def test_no_process_outlives_the_batch(hostile):
    import subprocess
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ps = subprocess.run(["ps", "-eo", "uid=,stat=,args="], capture_output=True, text=True).stdout.splitlines()
        left = [line for line in ps if int(line.split()[0]) >= sandbox.FIRST_UID and "sleep 300" in line]
        if not left:
            break
        time.sleep(0.2)
    assert not left, left
