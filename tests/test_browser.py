"""A real browser in the students' JupyterLab: Debian's Chromium, driven by Playwright, on 127.0.0.1.

The student opens a notebook with the course's setup cell, runs it, fills in an exercise, runs its test
and sees the ✓ line; a tqdm bar renders as a widget, not as text; the page logs no JavaScript error; and
nbgrader's instructor menu is not there (``make lab``'s configuration). Skipped, saying why, where
Chromium or Playwright is missing (``.ci/run`` installs Chromium; Playwright is pinned in requirements.txt).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.notebooks import nb_cell, write_notebook

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
sys.path.insert(0, str(REPO / "scripts"))
from stamp_colab import repository_url, setup_source  # noqa: E402

STUB = 'def double(x):\n    """2 * x"""\n    # YOUR CODE HERE\n    raise NotImplementedError()'
ANSWER = 'def double(x):\n    """2 * x"""\n    return 2 * x'
TEST = "assert double(2) == 4, 'double(2) should be 4'\npassed('double')"
PROGRESS = "for _ in tqdm(range(3), desc='epochs'):\n    pass"
LIMIT_S = 180  # the whole browser session; each step waits at most its own share
NOT_STARTED = re.compile(r"^\[ \]:$")  # JupyterLab's prompt of a cell never run; "[*]:" while queued or running
DONE = re.compile(r"^\[(\d+)\]:$")


def _ready(url: str, deadline: float, server) -> bool:
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(1)
    return False


@pytest.fixture
def lab(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed ({CHROMIUM}); .ci/run installs it with apt-get")
    pytest.importorskip(
        "playwright.sync_api", reason="the python package playwright is not installed (requirements.txt)"
    )
    config = tmp_path / "jupyter"
    subprocess.run([sys.executable, str(REPO / "scripts" / "lab_config.py"), "student", str(config)], check=True)
    work = tmp_path / "work"
    write_notebook(
        work / "00_tiny.ipynb",
        [
            nb_cell("# Tiny\n\n**Exercise 1.** Write `double(x)`.", "markdown"),
            nb_cell(setup_source(repository_url())),
            nb_cell("QUICK = True\nSEED = 0", tags=("parameters",)),
            nb_cell("from tqdm.auto import tqdm\n\nfrom cnncourse.student import passed"),
            nb_cell(STUB, "solution", "double"),
            nb_cell(TEST, "tests", "test_double", points=1),
            nb_cell(PROGRESS, grade_id="progress"),
        ],
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "browser-test"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "PYTHONPATH": str(REPO / "src"),
        "CNNCOURSE_ROOT": str(REPO),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    as_root = ["--allow-root"] if os.geteuid() == 0 else []  # CI runs as root
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={work}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            *as_root,
        ],
        cwd=work,
        env=env,
        stdout=open(tmp_path / "lab.log", "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert _ready(f"{base}/api/status?token={token}", time.monotonic() + 120, server), (
            tmp_path / "lab.log"
        ).read_text()
        yield {"url": f"{base}/lab/tree/00_tiny.ipynb?token={token}", "log": tmp_path / "lab.log"}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


def test_student_runs_setup_fills_an_exercise_and_sees_the_check_mark(lab):
    from playwright.sync_api import expect, sync_playwright

    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(LIMIT_S * 1000 // 4)
            expect.set_options(timeout=LIMIT_S * 1000 // 4)
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.goto(lab["url"])
            cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
            expect(cells).to_have_count(7)
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(1)

            def run(k: int):
                """Select cell k and run it; a keypress the page drops while it is still rendering (a loaded
                machine) is pressed again once the cell shows it did not start."""
                prompt = cells.nth(k).locator(".jp-InputPrompt")
                for _ in range(3):
                    cells.nth(k).locator(".jp-InputArea").click()
                    page.keyboard.press("Escape")  # command mode: Shift+Enter runs the selected cell
                    page.keyboard.press("Shift+Enter")
                    try:
                        expect(prompt).not_to_have_text(NOT_STARTED, timeout=15_000)
                        return
                    except AssertionError:
                        continue
                raise AssertionError(f"cell {k} did not start after three Shift+Enter")

            for k in (1, 2, 3):  # setup, parameters, imports
                run(k)
            counts = []
            for k in (1, 2, 3):
                expect(cells.nth(k).locator(".jp-InputPrompt")).to_have_text(DONE)
                counts.append(int(DONE.search(cells.nth(k).locator(".jp-InputPrompt").inner_text()).group(1)))
            assert counts == sorted(counts) and len(set(counts)) == 3, f"cells ran out of order: {counts}"
            editor = cells.nth(4).locator(".cm-content")
            editor.click()
            page.keyboard.press("Control+a")
            page.keyboard.insert_text(ANSWER)  # typed text, without the editor's auto-indent
            run(4)
            run(5)
            expect(cells.nth(5).locator(".jp-OutputArea-output")).to_contain_text("✓ double: passed")
            run(6)
            bar = cells.nth(6).locator(
                ".jp-OutputArea-output .widget-hprogress, .jp-OutputArea-output .widget-progress"
            )
            expect(bar.first).to_be_visible()
            expect(cells.nth(6).locator(".jp-OutputArea-output")).to_contain_text("3/3")
            expect(cells.nth(6).locator("[data-mime-type='application/vnd.jupyter.stderr']")).to_have_count(0)
            menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
            assert menus and not [m for m in menus if "nbgrader" in m.lower()], menus  # no instructor menu
            assert errors == [], errors
        except AssertionError:
            page.screenshot(path=str(lab["log"].with_name("failure.png")))
            raise
        finally:
            browser.close()
