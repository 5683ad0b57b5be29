"""The package as a pip user gets it: the built wheel (not editable) in a fresh venv, outside any clone.

Without a course or data it says how to get them; after ``cnncourse data fetch`` it runs a solution
notebook (papermill), releases a student copy (nbgrader), checks it (``cnncourse check``) and grades a
small planted class (``cnncourse grade``), every time with the wheel's code and the fetched data.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from tests.notebooks import nb_cell, write_notebook
from tests.install_venv import clean_env, make_venv

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
NAME = "00_data"
MEAN = "def mean_pixel(ds):\n    ### BEGIN SOLUTION\n    return float(ds.tensors()[0].mean())\n    ### END SOLUTION"
TEST = (
    "x, _ = images.tensors()\nassert abs(mean_pixel(images) - float(x.mean())) < 1e-6, 'the mean of every pixel'\n"
    "print('✓ mean_pixel: passed')\n### BEGIN HIDDEN TESTS\nassert 0 < mean_pixel(images) < 1\n### END HIDDEN TESTS"
)
LOAD = (
    "import cnncourse\nfrom cnncourse import data, pretrained\nfrom cnncourse.report import record\n"
    "images = data.fashion_mnist('test', subset=50)\nsounds = data.fsdd('test')\nmodel = pretrained.source_model()\n"
    "print('package', cnncourse.__file__)\nprint('data', data.DATA_DIR, data.DATA_ORIGIN)\n"
    "record(images=len(images), sounds=len(sounds))"
)


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("wheel")
    # pip builds in an isolated environment with the build backend of pyproject.toml (from the registry)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    wheel = next((root / "dist").glob("cnncourse-*.whl"))
    python = make_venv(root / "venv")
    env = clean_env(root / "venv", CNNCOURSE_CACHE=str(root / "cache"), HOME=str(root / "home"))
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    (root / "away").mkdir()
    return {"root": root, "wheel": wheel, "python": python, "env": env}


def cnncourse(installed, *args, cwd=None):
    return subprocess.run(
        [str(installed["root"] / "venv" / "bin" / "cnncourse"), *args],
        cwd=cwd or installed["root"] / "away",
        env=installed["env"],
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_wheel_holds_the_package_and_its_manifest_not_the_data(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    assert "cnncourse/MANIFEST.sha256" in names and "cnncourse/cli.py" in names and "cnncourse/grader/check.py" in names
    assert not [n for n in names if n.endswith((".gz", ".npz", ".pt", ".ipynb"))]
    with zipfile.ZipFile(installed["wheel"]) as z:
        assert z.read("cnncourse/MANIFEST.sha256") == (REPO / "datasets" / "MANIFEST.sha256").read_bytes()
    where = subprocess.run(
        [str(installed["python"]), "-c", "import cnncourse; print(cnncourse.__file__)"],
        env=installed["env"],
        cwd=installed["root"] / "away",
        capture_output=True,
        text=True,
    )
    assert where.stdout.strip().startswith(str(installed["root"] / "venv")), where


def test_without_a_course_or_data_the_commands_say_what_to_do(installed):
    no_data = cnncourse(installed, "data", "verify")
    assert no_data.returncode == 2 and "cnncourse data fetch SOURCE" in no_data.stderr, no_data
    no_course = cnncourse(installed, "release")
    assert no_course.returncode == 2 and "pass --course PATH" in no_course.stderr, no_course


def test_fetch_then_run_release_check_and_grade(installed):
    root = installed["root"]
    fetched = cnncourse(installed, "data", "fetch", str(REPO))  # a clone on disk; a release URL works alike
    assert fetched.returncode == 0, fetched.stderr
    assert cnncourse(installed, "data", "verify").stdout.startswith(
        f"data folder: {root / 'cache' / 'datasets'} (from cache)"
    )

    course = root / "course"
    (course / "autograder").mkdir(parents=True)
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", course / "autograder")
    write_notebook(
        course / "solutions" / NAME / f"{NAME}.ipynb",
        [
            nb_cell("# Data from an installed package", "markdown"),
            nb_cell("QUICK = True\nSEED = 0", grade_id="parameters", tags=("parameters",)),
            nb_cell(LOAD, grade_id="load"),
            nb_cell(MEAN, "solution", "mean_pixel"),
            nb_cell(TEST, "tests", "test_mean_pixel", points=2),
        ],
    )

    ran = cnncourse(installed, "--course", str(course), "run", NAME, "--build", str(root / "build"))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    report = json.loads((root / "build" / "report.json").read_text())
    assert report["notebooks"][0]["metrics"] == {"images": 50, "sounds": 300}
    executed = (root / "build" / "executed" / f"{NAME}.ipynb").read_text()
    assert str(root / "venv") in executed and f"data {root / 'cache' / 'datasets'} cache" in executed

    released = cnncourse(installed, "release", cwd=course)  # the course found from the working directory
    assert released.returncode == 0, released.stderr
    student = course / "notebooks" / NAME / f"{NAME}.ipynb"
    checked = cnncourse(installed, "check", str(student), "--timeout", "60")
    assert checked.returncode == 1 and "✗ test_mean_pixel: not done yet" in checked.stdout, checked

    nb = nbformat.read(student, as_version=4)
    next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
    ).source = "def mean_pixel(ds):\n    return float(ds.tensors()[0].mean())"
    done = root / "done.ipynb"
    nbformat.write(nb, done)
    checked = cnncourse(
        installed, "check", str(done), "--timeout", "60", "--zip", str(root / "ada.zip"), "--name", "ada"
    )
    assert checked.returncode == 0 and "✓ test_mean_pixel" in checked.stdout, checked
    (root / "class").mkdir()
    with zipfile.ZipFile(root / "ada.zip") as z:
        z.extractall(root / "class")
    (root / "class" / "bob").mkdir()
    shutil.copy(student, root / "class" / "bob" / f"{NAME}.ipynb")
    graded = cnncourse(
        installed,
        "grade",
        NAME,
        str(root / "class"),
        "--course",
        str(course),
        "--out",
        str(root / "grades"),
        "--timeout",
        "60",
        "--workers",
        "1",
        "--quiet",
    )
    assert graded.returncode == 0, graded.stdout + graded.stderr
    rows = {r["student"]: r for r in json.loads((root / "grades" / "report.json").read_text())["students"]}
    assert {s: (r["status"], r["total"]) for s, r in rows.items()} == {"ada": ("graded", 2.0), "bob": ("graded", 0.0)}
