"""Colab, simulated: a module named ``google.colab``, a fresh environment, and a local bare clone standing in
for the repository of ``[project.urls]`` (git's ``insteadOf``). The first cells of every student notebook
(setup, parameters, imports) run as on Colab: the setup cell clones, installs and points the package at
the clone's data; when a step fails it says so in one line.

The clone is made from the committed HEAD: uncommitted changes are not part of what Colab would see.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.install_venv import clean_env, make_venv

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from stamp_colab import repository_url  # noqa: E402

NOTEBOOKS = sorted(REPO.glob("notebooks/*/*.ipynb"))
RUNNER = r"""
import json, sys
from pathlib import Path
import google.colab  # noqa: F401  (imported by Colab's kernel before any cell)
import nbformat
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
results = []
for path in sys.argv[2:]:
    code = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    first = int(sys.argv[1]) or 1 + next(k for k, s in enumerate(code) if "cnncourse" in s and "IN_COLAB" not in s)
    shell.reset(new_session=False)
    ok = [shell.run_cell(source).success for source in code[:first]]
    try:
        import cnncourse, cnncourse.data
        package, data = cnncourse.__file__, str(cnncourse.data.DATA_DIR)
    except ImportError:
        package = data = None
    results.append({"notebook": Path(path).name, "ok": ok, "package": package, "data": data})
print("RESULTS " + json.dumps(results))
"""


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def colab(tmp_path_factory):
    root = tmp_path_factory.mktemp("colab")
    remote = root / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    subprocess.run(["git", "-C", str(REPO), "push", "-q", str(remote), "HEAD:refs/heads/main"], check=True)
    subprocess.run(["git", "--git-dir", str(remote), "symbolic-ref", "HEAD", "refs/heads/main"], check=True)
    fake = root / "fake" / "google" / "colab"  # a namespace package google, as on Colab
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('"""Stands in for Colab\'s module in the test."""\n')
    (root / "runner.py").write_text(RUNNER)
    python = make_venv(root / "venv")
    return {"root": root, "remote": remote, "python": python}


@pytest.fixture
def fresh(colab, tmp_path):
    """A Colab runtime of its own (the first test installed the package into the shared one)."""
    return {**colab, "python": make_venv(tmp_path / "venv"), "venv": tmp_path / "venv"}


def run(colab, content: Path, remote: Path, notebooks, cells: int = 0):
    root = colab["root"]
    (root / f"gitconfig-{content.name}").write_text(f'[url "{remote}"]\n\tinsteadOf = {repository_url()}\n')
    env = clean_env(
        colab.get("venv", root / "venv"),
        shared_bin=False,
        PYTHONPATH=str(root / "fake"),
        HOME=str(root / "home"),
        GIT_CONFIG_GLOBAL=str(root / f"gitconfig-{content.name}"),
        GIT_CONFIG_NOSYSTEM="1",
    )
    content.mkdir(exist_ok=True)
    done = subprocess.run(
        [str(colab["python"]), str(root / "runner.py"), str(cells), *map(str, notebooks)],
        cwd=content,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULTS ")), None)
    return done, json.loads(line[8:]) if line else None


def test_first_cells_of_every_notebook_run_as_on_colab(colab):
    content = colab["root"] / "content"
    done, results = run(colab, content, colab["remote"], NOTEBOOKS)
    assert results is not None, done.stdout[-3000:] + done.stderr[-3000:]
    clone = content / repository_url().rsplit("/", 1)[1]
    assert f"✓ setup: the course is in {clone}" in done.stdout
    assert [r["notebook"] for r in results] == [p.name for p in NOTEBOOKS]
    for r in results:
        assert all(r["ok"]) and len(r["ok"]) >= 3, (r, done.stdout[-3000:])
        assert r["package"] == str(clone / "src" / "cnncourse" / "__init__.py") and r["data"] == str(clone / "datasets")
    assert (colab["root"] / "venv" / "bin" / "cnncourse").exists()  # `!cnncourse check ...` works there


def _one_line_failure(done) -> list[str]:
    lines = [x for x in done.stdout.splitlines() if "setup" in x]
    assert "Traceback" not in done.stdout + done.stderr
    return lines


def test_a_failed_clone_says_so_in_one_line(fresh):
    colab = fresh
    done, results = run(colab, colab["root"] / "offline", colab["root"] / "no-such-remote.git", NOTEBOOKS[:1], cells=1)
    assert results and results[0]["ok"] == [False]
    (line,) = _one_line_failure(done)
    assert line.startswith(f"✗ setup: downloading the course from {repository_url()} failed: fatal:"), line


def test_a_failed_install_says_so_in_one_line(fresh):
    colab = fresh
    content = colab["root"] / "broken"
    (content / repository_url().rsplit("/", 1)[1] / "src" / "cnncourse").mkdir(
        parents=True
    )  # a clone without pyproject
    done, results = run(colab, content, colab["remote"], NOTEBOOKS[:1], cells=1)
    assert results and results[0]["ok"] == [False]
    (line,) = _one_line_failure(done)
    assert line.startswith("✗ setup: installing the course package failed:"), line
