"""Attacks on the grader, one planted submission each, graded through the real CLI in one batch.

Every attack pairs a wrong answer with a trick that makes the in-kernel nbgrader test pass (or tries to
escape the sandbox). The trusted re-run (``cnncourse.trusted``) must take the credit back and flag the
submission; a correct submission that merely emits warnings must keep full credit. The isolation attacks
of tests/test_grading.py (reading solutions and other students' files, network, writing outside, memory
bombs, infinite loops, os._exit, sys.exit, huge prints, edited or deleted test cells) complete the table.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

from cnncourse import cli
from cnncourse.grader import sandbox
from cnncourse.grader.nbgrader_cli import generate_assignment
from tests.notebooks import make_course, nb_cell, write_notebook


NAME = "00_guard"
ISOLATED = os.geteuid() == 0 and sys.platform.startswith("linux")
IMPORTS = "import math\nimport numpy as np\nimport torch\nimport torch.nn.functional as F"
SCALE = "def scale(t):\n    ### BEGIN SOLUTION\n    return 3 * t\n    ### END SOLUTION"
SMOOTH = ("def smooth(x):\n    ### BEGIN SOLUTION\n    padded = F.pad(x, (1, 1, 1, 1))\n"
          "    h, w = x.shape[-2:]\n    return sum(padded[..., i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9\n"
          "    ### END SOLUTION")
COUNT = "def count_positive(t):\n    ### BEGIN SOLUTION\n    return int((t > 0).sum())\n    ### END SOLUTION"
TEST_SCALE = ("t = torch.arange(4.0)\nassert torch.allclose(scale(t), 3 * t)\n### BEGIN HIDDEN TESTS\n"
              "_g = torch.Generator().manual_seed(5)\n_h = torch.randn(3, 4, generator=_g, dtype=torch.float64)\n"
              "torch.testing.assert_close(scale(_h), 3 * _h)\nnp.testing.assert_allclose(scale(_h).numpy(), 3 * _h.numpy())\n"
              "assert math.isclose(float(scale(_h).sum()), float(3 * _h.sum()), rel_tol=1e-9)\n### END HIDDEN TESTS")
TEST_SMOOTH = ("x = torch.ones(1, 1, 4, 4)\nassert smooth(x).shape == x.shape\n### BEGIN HIDDEN TESTS\n"
               "_g = torch.Generator().manual_seed(6)\n_x = torch.randn(2, 1, 5, 6, generator=_g)\n"
               "torch.testing.assert_close(smooth(_x), F.conv2d(_x, torch.ones(1, 1, 3, 3) / 9, padding=1))\n"
               "### END HIDDEN TESTS")
TEST_COUNT = ("assert count_positive(torch.tensor([1, -1, 2])) == 2\n### BEGIN HIDDEN TESTS\n"
              "_t = torch.linspace(-1, 2, 13)\nassert count_positive(_t) == int((_t > 0).sum())\n### END HIDDEN TESTS")
NET = ("class TinyNet(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
       "        ### BEGIN SOLUTION\n        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)\n        ### END SOLUTION\n"
       "    def forward(self, x):\n        ### BEGIN SOLUTION\n        return torch.relu(self.conv(x))\n"
       "        ### END SOLUTION")
# a module-valued answer: the probe's observations are compared outside the student's process
TEST_NET = ("assert TinyNet()(torch.zeros(1, 1, 4, 4)).shape == (1, 2, 4, 4)\n### BEGIN HIDDEN TESTS\n"
            "def probe_tiny_net():\n    torch.manual_seed(3)\n    net = TinyNet()\n    x = torch.randn(2, 1, 5, 5)\n"
            "    out = net(x)\n    out.sum().backward()\n"
            "    return {'out': out.detach(), 'params': sum(p.numel() for p in net.parameters()),\n"
            "            'grads': [p.grad for p in net.parameters()]}\n"
            "_seen = probe_tiny_net()\nassert _seen['params'] == 20 and bool((_seen['out'] >= 0).all())\n"
            "### END HIDDEN TESTS")
POINTS = {"test_scale": 2, "test_smooth": 2, "test_count": 1, "test_net": 2}
RIGHT = {"scale": "def scale(t):\n    return 3 * t",
         "smooth": "def smooth(x):\n    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1)), 3, stride=1)",
         "count_positive": "def count_positive(t):\n    return int((t > 0).sum())",
         "tiny_net": ("class TinyNet(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                      "        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)\n"
                      "    def forward(self, x):\n        return self.conv(x).clamp(min=0)")}
WRONG = {"scale": "def scale(t):\n    return t", "smooth": "def smooth(x):\n    return x",
         "count_positive": "def count_positive(t):\n    return 2",
         "tiny_net": ("class TinyNet(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                      "        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)\n"
                      "    def forward(self, x):\n        return self.conv(x)")}
EVERYTHING = ("scale", "smooth", "count_positive", "tiny_net")
# a graded function that implements nothing and looks for the expected result in the frames above it, in
# every object of the process and in the job file: the trusted run hands it only the inputs
STEAL = ("import gc, sys\ndef _steal(t):\n    f = sys._getframe(1)\n    while f is not None:\n"
         "        for key in ('expected', 'after', 'call'):\n            if key in f.f_locals:\n"
         "                return f.f_locals[key]\n        f = f.f_back\n"
         "    for o in gc.get_objects():\n        if isinstance(o, dict) and 'expected' in o:\n"
         "            return o['expected']\n    try:\n        return open('job.json').read()\n"
         "    except OSError:\n        return t")
ANSWERS = {"steals_expected_results": {"scale": "def scale(t):\n    return _steal(t)"},
           "always_equal_object": {"count_positive": "def count_positive(t):\n    return Liar(2)"}}

# student: (prelude run before the answers, answers to get wrong, statuses allowed, points, sandboxed only)
ATTACKS = {
    "patches_torch_allclose": ("torch.allclose = lambda *a, **k: True", ["scale"]),
    "patches_torch_testing": ("torch.testing.assert_close = lambda *a, **k: None", ["smooth"]),
    "patches_np_testing": ("np.testing.assert_allclose = lambda *a, **k: None", ["scale"]),
    "patches_math_isclose": ("math.isclose = lambda *a, **k: True", ["scale"]),
    "patches_every_checker": ("torch.allclose = lambda *a, **k: True\ntorch.testing.assert_close = lambda *a, **k: None\n"
                              "np.testing.assert_allclose = lambda *a, **k: None\nmath.isclose = lambda *a, **k: True",
                              ["scale"]),
    # the patch also breaks the student's own TinyNet (nn.Conv2d calls F.conv2d): its points are lost honestly
    "patches_reference_conv2d": ("_real_conv2d = F.conv2d\nF.conv2d = lambda x, *a, **k: smooth(x)",
                                 ["smooth", "tiny_net"]),
    "always_equal_object": ("class Liar(int):\n    def __eq__(self, other):\n        return True\n"
                            "    __hash__ = int.__hash__", ["count_positive"]),
    "input_transformer_strips_asserts": (
        "def _strip(lines):\n    return [l for l in lines if not l.lstrip().startswith(('assert', 'torch.testing', "
        "'np.testing'))]\nget_ipython().input_transformers_post.append(_strip)", EVERYTHING),
    "custom_exc_swallows_errors": ("get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)", EVERYTHING),
    "redefines_builtin_int": ("import builtins\nbuiltins.int = lambda *a, **k: 2", ["count_positive"]),
    "forges_result_lines": (
        "import json, os\nfor fd in range(3, 64):\n    try:\n        target = os.readlink(f'/proc/self/fd/{fd}')\n"
        "    except OSError:\n        continue\n    if target.endswith('cells.jsonl'):\n"
        "        for i in range(60):\n            os.write(fd, (json.dumps({'index': i, 'outputs': [], 'timed_out': False, "
        "'seconds': 0}) + '\\n').encode())", EVERYTHING),
    "steals_expected_results": (STEAL, ["scale"]),
    "pushes_a_result_into_test_cells": (
        "from IPython.display import display\nget_ipython().events.register('post_run_cell', "
        "lambda *a: get_ipython().displayhook('1.0'))", ["tiny_net"]),
    "reads_job_file": ("try:\n    leaked = open('job.json').read()\nexcept OSError:\n    leaked = ''", ["scale"]),
    "ignores_alarm_and_loops": ("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass", []),
    "kills_itself": ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", []),
    "fork_bomb": ("import os, time\nkids = 0\nwhile kids < 2000:\n    try:\n        pid = os.fork()\n    except OSError:\n"
                  "        break\n    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n    kids += 1", []),
    "writes_a_huge_file": ("try:\n    with open('big.bin', 'wb') as f:\n        for _ in range(3 * 1024):\n"
                           "            f.write(b'0' * 2**20)\nexcept OSError:\n    pass", []),
    "leaves_a_thread_running": ("import threading\ndef _spin():\n    while True:\n        pass\n"
                                "threading.Thread(target=_spin, daemon=True).start()", []),
    "signals_the_grader": ("import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\nexcept OSError:\n    pass\n"
                           "try:\n    os.kill(1, signal.SIGKILL)\nexcept OSError:\n    pass", []),
    "correct_with_warnings": ("import warnings, sys\nwarnings.warn('torch-style deprecation')\n"
                              "print('progress', file=sys.stderr)", []),
}

PLANTED_ATTACKS = sorted(ATTACKS)
if not ISOLATED:  # without the per-job user, a fork bomb would count against the grader's own user
    del ATTACKS["fork_bomb"]  # not planted; its test case is skipped, not deleted


def _expected(student):
    """Points earned by the honest part of the submission, and the statuses that may describe it."""
    prelude, wrong = ATTACKS[student]
    points = sum(p for gid, p in POINTS.items() if _answer_of(gid) not in wrong)
    if student == "kills_itself" and ISOLATED:
        return points, ("graded",)  # the job is pid 1 of its own namespace: the kernel ignores its own SIGKILL
    if student in ("kills_itself", "ignores_alarm_and_loops"):
        return points, ("partial",)  # the attacking cell is dropped; the answers after it still count
    if student == "fork_bomb":
        return points, ("graded", "partial")  # forking hundreds of copies of torch may outlast the cell limit
    return points, ("graded", "suspicious")


def _answer_of(test_id):
    return {"test_scale": "scale", "test_smooth": "smooth", "test_count": "count_positive", "test_net": "tiny_net"}[test_id]


def _submission(release, student):
    prelude, wrong = ATTACKS[student]
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in RIGHT:
            cell.source = WRONG[gid] if gid in wrong else RIGHT[gid]
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        cell.source = ANSWERS.get(student, {}).get(gid, cell.source)
    imports = next(k for k, c in enumerate(nb.cells) if c.get("id") == "imports")
    nb.cells.insert(imports + 1, nbformat.v4.new_code_cell(prelude))
    return nb


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def attacked(tmp_path_factory):
    root = tmp_path_factory.mktemp("guard")
    course = make_course(root)
    write_notebook(root / "solutions" / NAME / f"{NAME}.ipynb", [
        nb_cell("# Guard", "markdown"), nb_cell(IMPORTS, grade_id="imports"),
        nb_cell(SCALE, "solution", "scale"), nb_cell(TEST_SCALE, "tests", "test_scale", points=2),
        nb_cell(SMOOTH, "solution", "smooth"), nb_cell(TEST_SMOOTH, "tests", "test_smooth", points=2),
        nb_cell(COUNT, "solution", "count_positive"), nb_cell(TEST_COUNT, "tests", "test_count", points=1),
        nb_cell(NET, "solution", "tiny_net"), nb_cell(TEST_NET, "tests", "test_net", points=2)])
    release = generate_assignment(NAME, course, release_dir=root / "notebooks")
    for student in ATTACKS:
        (root / "class" / student).mkdir(parents=True)
        nbformat.write(_submission(release, student), root / "class" / student / f"{NAME}.ipynb")
    args = ["grade", NAME, str(root / "class"), "--out", str(root / "out"), "--course", str(course),
            "--timeout", "6", "--workers", "2", "--quiet"]
    assert cli.main(args) == 0, "the batch must complete"
    report = json.loads((root / "out" / "report.json").read_text())
    return {"root": root, "course": course, "report": report,
            "rows": {r["student"]: r for r in report["students"]}}


@pytest.mark.parametrize("student", PLANTED_ATTACKS)
def test_attack_earns_nothing_it_did_not_earn(attacked, student):
    if student not in ATTACKS:
        pytest.skip("needs root: the per-job user that keeps a fork bomb off the grader's own user")
    row = attacked["rows"][student]
    points, statuses = _expected(student)
    if student == "fork_bomb":  # hundreds of forked copies of torch may also cost the bomber its own points
        assert row["total"] <= points, (row["cells"], row["status"], row["reason"])
    else:
        assert row["total"] == points, (row["cells"], row["status"], row["reason"])
    assert row["status"] in statuses, (row["status"], row["reason"])


def test_forged_passes_are_flagged_suspicious(attacked):
    for student in ("patches_every_checker", "patches_reference_conv2d", "always_equal_object",
                    "input_transformer_strips_asserts", "custom_exc_swallows_errors"):  # tiny_net: by its probe
        row = attacked["rows"][student]
        assert row["status"] == "suspicious", (student, row["status"], row["reason"])
        assert "trusted re-run" in row["reason"], row["reason"]


def test_every_graded_cell_is_verified_by_the_trusted_run(attacked):
    row = attacked["rows"]["correct_with_warnings"]
    assert row["verified"] == sorted(POINTS) and row["unverified"] == [], row
    assert row["total"] == sum(POINTS.values()) and row["status"] == "graded"
    summary = attacked["report"]["summary"]
    assert summary["verified_points"] == sum(POINTS.values()) and summary["unverified_cells"] == [], summary


def test_a_module_answer_is_judged_by_its_probe_not_by_the_notebook(attacked):
    """tiny_net is a class: no call to replay, its probe's observations decide (a clamp is a ReLU: full points)."""
    rows = attacked["rows"]
    assert rows["correct_with_warnings"]["cells"]["test_net"] == 2
    for student in ("input_transformer_strips_asserts", "custom_exc_swallows_errors"):
        assert rows[student]["cells"]["test_net"] == 0, rows[student]
        assert "test_net passed in the notebook but not in the trusted re-run" in rows[student]["reason"]


def test_the_gradebook_is_intact(attacked):
    from nbgrader.api import Gradebook

    assert set(attacked["rows"]) == set(ATTACKS), "every planted attack has a row"
    with Gradebook("sqlite:///" + str(attacked["course"] / "gradebook.db")) as gradebook:
        for student, row in attacked["rows"].items():
            notebook = gradebook.find_submission_notebook(NAME, NAME, student)
            assert {g.name: g.auto_score for g in notebook.grades} == row["cells"], student


@pytest.mark.skipif(not ISOLATED, reason="needs root for the namespaces")
def test_no_process_outlives_the_batch(attacked):
    import subprocess

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    ps = subprocess.run(["ps", "-eo", "pid=,ppid=,uid=,stat=,args="], capture_output=True, text=True).stdout
    running, orphaned = [], []
    for line in ps.splitlines():
        pid, ppid, uid, stat, *args = line.split()
        if int(uid) < sandbox.FIRST_UID:
            continue
        if stat.startswith("Z"):  # dead; a zombie is left only if nobody will ever reap it
            orphaned += [line] if ppid == "1" else []
        elif worker is None or _environ_has(pid, f"PYTEST_XDIST_WORKER={worker}"):  # ours, not another test's
            running.append(line)
    assert not running, f"sandboxed processes left running: {running}"
    assert not orphaned, f"zombies nobody reaps (the zygote must be their subreaper): {orphaned}"


def _environ_has(pid: str, entry: str) -> bool:
    try:
        return entry.encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False  # gone meanwhile
