"""The notebook runner: papermill in quick mode, metrics, failures reported after the others ran."""
from __future__ import annotations

import json

import nbformat
import pytest

from cnncourse import cli
from cnncourse.run import run_all
from tests.notebooks import nb_cell, write_notebook

PARAMS = nb_cell('QUICK = False\nDEVICE = "cpu"\nSEED = 0', tags=("parameters",))


@pytest.fixture
def solutions(tmp_path):
    folder = tmp_path / "solutions"
    write_notebook(folder / "01_ok" / "01_ok.ipynb", [
        PARAMS, nb_cell("from cnncourse.report import record\nrecord(quick=int(QUICK), device=DEVICE)")])
    write_notebook(folder / "02_fails" / "02_fails.ipynb", [
        PARAMS, nb_cell("x = 1"), nb_cell("raise ValueError('bad shape ' + str(x))"), nb_cell("never = 1")])
    write_notebook(folder / "03_after" / "03_after.ipynb", [PARAMS, nb_cell("from cnncourse.report import record\nrecord(ran=1)")])
    return folder


def test_run_all_reports_every_notebook(solutions, tmp_path):
    report = run_all(quick=True, device="auto", build_dir=tmp_path / "build", solutions=solutions)
    rows = {row["notebook"]: row for row in report["notebooks"]}
    assert list(rows) == ["01_ok", "02_fails", "03_after"], "all ran, in course order, after a failure"
    assert rows["01_ok"]["status"] == "ok" and rows["01_ok"]["metrics"] == {"quick": 1, "device": "auto"}
    assert rows["03_after"]["metrics"] == {"ran": 1}
    failed = rows["02_fails"]
    assert failed["status"] == "failed" and failed["error"]["ename"] == "ValueError"
    assert "bad shape 1" in failed["error"]["evalue"]
    assert failed["error"]["source_head"] == ["raise ValueError('bad shape ' + str(x))"]
    source = nbformat.read(solutions / "02_fails" / "02_fails.ipynb", as_version=4)
    assert source.cells[failed["error"]["cell"] - 1].source.startswith("raise ValueError")
    assert failed["error"]["execution_count"] == 4  # parameters, injected parameters, x = 1, then this one
    assert report["ok"] is False
    saved = json.loads((tmp_path / "build" / "report.json").read_text())
    assert saved["notebooks"][1]["status"] == "failed"
    assert "02_fails** failed at cell" in (tmp_path / "build" / "report.md").read_text()


def test_cli_run_exits_nonzero_on_failure(solutions, tmp_path, monkeypatch, capsys):
    from cnncourse import layout

    monkeypatch.setattr(layout, "SOLUTIONS", solutions)
    monkeypatch.setattr("cnncourse.run.layout.assignments", lambda folder=solutions: ["01_ok", "02_fails"])
    monkeypatch.setattr("cnncourse.run.layout.notebook_path", lambda name, folder=None: solutions / name / f"{name}.ipynb")
    assert cli.main(["run", "--build", str(tmp_path / "b")]) == 1
    assert "FAILED: 02_fails" in capsys.readouterr().err
    assert cli.main(["run", "01_ok", "--build", str(tmp_path / "b2")]) == 0


def test_unknown_notebook_is_a_clear_error(capsys):
    assert cli.main(["run", "99_nope"]) == 2
    assert "no notebook" in capsys.readouterr().err
    assert cli.main(["release", "99_nope"]) == 2


def test_a_stalled_cell_times_out_with_a_reason(tmp_path):
    from cnncourse.run import run_notebook

    path = write_notebook(tmp_path / "s" / "05_slow" / "05_slow.ipynb",
                          [PARAMS, nb_cell("import time\ntime.sleep(3600)")])
    row = run_notebook(path, tmp_path / "out", timeout=3)
    assert row["status"] == "failed"  # without the timeout the cell would sleep an hour, not fail
    assert "timed out" in (row["error"]["ename"] + row["error"]["evalue"]).lower()
