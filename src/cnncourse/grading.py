"""The class grader behind ``cnncourse grade``: submissions in, gradebook + grades.csv + report + feedback out.

One pass per run:
  1. the assignment is registered in nbgrader's gradebook (``generate_assignment``) and read back;
  2. every submission is found and read (``intake``); unreadable ones get a status, never an exception;
  3. each readable one is rebuilt from the assignment (locked cells restored, answers matched) and its
     code cells up to the last graded cell run in a process forked from a pre-warmed one (``executor``),
     in parallel, or as Dask tasks with ``--scheduler``;
  4. this process alone scores the cells (nbgrader's rule, stderr ignored), writes the gradebook one
     submission at a time, the feedback HTML and a per-student state file that makes re-runs resumable.
Statuses, most serious first: missing-notebook, invalid-notebook, tampered, timeout, crashed, partial,
late, graded. The reason column says why; nothing is a silent 0.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from . import data, executor, intake, layout, trusted
from .nbgrader_cli import generate_assignment

STATUSES = ("missing-notebook", "invalid-notebook", "tampered", "suspicious", "timeout", "crashed", "partial", "late", "graded")
GRADER_VERSION = "2"  # part of the resume key: a new grader regrades


# ---------------------------------------------------------------- the assignment
@dataclass
class Assignment:
    name: str
    source: nbformat.NotebookNode  # instructor's notebook: solutions and hidden tests
    release: nbformat.NotebookNode  # what students got
    points: dict  # grade_id -> max points, in notebook order
    modules: list  # what its code imports: pre-imported by the executor
    fingerprint: str

    @property
    def max_score(self) -> float:
        return float(sum(self.points.values()))


def load_assignment(name: str, course_root: Path) -> Assignment:
    """Register ``name`` in the gradebook and read its source and student versions."""
    source_path = Path(course_root).parent / "solutions" / name / f"{name}.ipynb"
    if not source_path.is_file():
        raise FileNotFoundError(f"no assignment {name}: {source_path} does not exist")
    release_dir = Path(tempfile.mkdtemp(prefix="release-", dir=course_root))
    try:
        release = nbformat.read(generate_assignment(name, course_root, release_dir=release_dir), as_version=4)
    finally:
        shutil.rmtree(release_dir, ignore_errors=True)
    source = nbformat.read(source_path, as_version=4)
    points = {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"].get("points", 0))
              for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")}
    modules = executor.imported_modules(c.source for c in source.cells if c.cell_type == "code")
    fingerprint = hashlib.sha256(source_path.read_bytes()).hexdigest()[:16]
    return Assignment(name, source, release, points, modules, fingerprint)


# ---------------------------------------------------------------- scoring one executed notebook
def _grade_id(cell) -> str | None:
    meta = cell.metadata.get("nbgrader", {})
    return meta.get("grade_id") if meta.get("grade") else None


def cells_to_run(notebook, all_cells: bool = False) -> list[dict]:
    """Code cells up to the last graded one: later cells cannot change a score."""
    graded = [k for k, c in enumerate(notebook.cells) if _grade_id(c)]
    stop = len(notebook.cells) if all_cells or not graded else graded[-1] + 1
    return [{"index": k, "source": c.source} for k, c in enumerate(notebook.cells[:stop]) if c.cell_type == "code"]


def score_cell(cell, status: str) -> float:
    """nbgrader's rule (an error output costs the points, a numeric result is partial credit), minus stderr."""
    from nbgrader.utils import determine_grade

    if status in ("timeout", "crashed", "not-run"):
        return 0.0
    quiet = intake.copy_node(cell)
    quiet.outputs = [nbformat.from_dict(o) for o in cell.outputs
                     if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    quiet.metadata.nbgrader.pop("checksum", None)
    earned, _ = determine_grade(quiet)
    return float(earned or 0.0)


def apply_execution(notebook, execution: dict) -> dict:
    """Put outputs into the notebook; return {grade_id: (points, cell status)} and the failures."""
    scores, failures = {}, []
    for index, record in execution["cells"].items():  # keys are str after a JSON round trip
        cell = notebook.cells[int(index)]
        cell.outputs = [nbformat.from_dict(o) for o in record["outputs"]]
        if record["status"] in ("timeout", "crashed"):
            failures.append((cell, record["status"]))
    for k, cell in enumerate(notebook.cells):
        gid = _grade_id(cell)
        if gid:
            status = _record(execution, k).get("status", "not-run")
            scores[gid] = (score_cell(cell, status), status)
    return {"scores": scores, "failures": failures}


def _record(execution: dict, index: int) -> dict:
    cells = execution["cells"]
    return cells.get(index) or cells.get(str(index)) or {}


def _label(cell) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id") or cell.get("id") or "?"


def overall_status(result: dict, tampered: list, late_by: float | None, attempts: list, timeout: float,
                   suspicious=()):
    """The one status of a submission and the reason, from everything that happened to it."""
    reasons = list(tampered) + list(suspicious)
    failed = result["failures"]
    for cell, kind in failed:
        reasons.append(f"cell {_label(cell)} {'timed out after %g s' % timeout if kind == 'timeout' else 'crashed'}")
    unfinished = attempts and attempts[-1]["cell"] is not None
    not_run = [gid for gid, (_, status) in result["scores"].items() if status == "not-run"]
    if not_run:
        reasons.append(f"not run: {', '.join(not_run)}")
    if late_by is not None and late_by > 0:
        reasons.append(f"submitted {_duration(late_by)} after the deadline")
    if tampered:
        status = "tampered"
    elif suspicious:
        status = "suspicious"
    elif unfinished or not_run:
        status = "timeout" if any(kind == "timeout" for _, kind in failed) else "crashed"
    elif failed:
        status = "partial"
    elif late_by is not None and late_by > 0:
        status = "late"
    else:
        status = "graded"
    return status, "; ".join(reasons)


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min {int(seconds % 60)} s"


# ---------------------------------------------------------------- gradebook and files
def write_gradebook(db_url: str, assignment: Assignment, student: str, points: dict, timestamp) -> None:
    """One submission's scores, committed together."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with Gradebook(db_url) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own autoflush chatter
        gradebook.update_or_create_student(student)
        gradebook.update_or_create_submission(assignment.name, student, timestamp=timestamp)
        for gid, earned in points.items():
            grade = gradebook.find_grade(gid, assignment.name, assignment.name, student)
            grade.auto_score, grade.needs_manual_grade = earned, False
        gradebook.db.commit()


def feedback_html(notebook, assignment: str, student: str, db_url: str, banner: str) -> str:
    """nbgrader's feedback page, without hidden tests or the tracebacks that quote them."""
    from nbconvert.exporters import HTMLExporter
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades
    from traitlets.config import Config

    from .nbgrader_ext import HideHiddenTests

    import nbgrader

    nb = intake.copy_node(notebook)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(banner))
    from jupyter_core.paths import jupyter_config_dir

    resources = {"nbgrader": {"notebook": assignment, "assignment": assignment, "student": student,
                              "db_url": db_url}, "config_dir": jupyter_config_dir()}
    for preprocessor in (GetGrades(), HideHiddenTests(), CSSHTMLHeaderPreprocessor()):
        nb, resources = preprocessor.preprocess(nb, resources)
    formgrader = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
    css = formgrader / "static" / "node_modules" / "bootstrap" / "dist" / "css"
    config = Config({"HTMLExporter": {"template_name": "feedback", "extra_template_paths": [str(css)],
                                      "extra_template_basedirs": [str(formgrader / "templates")]}})
    body, _ = HTMLExporter(config=config).from_notebook_node(nb, resources=resources)
    return body


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------- the run
class Grader:
    """Grades one assignment for a class; ``run`` returns the report it also writes to ``out``."""

    def __init__(self, assignment: str, submissions: Path, out: Path, course_root: Path = layout.AUTOGRADER,
                 workers: int | None = None, timeout: float = 120.0, force: bool = False, deadline=None,
                 scheduler: str | None = None, all_cells: bool = False, progress: bool = True):
        self.name, self.submissions, self.out = assignment, Path(submissions), Path(out)
        self.course_root = Path(course_root)
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.timeout, self.force, self.scheduler = float(timeout), force, scheduler
        self.deadline = parse_deadline(deadline)
        self.all_cells, self.progress = all_cells, progress
        self.db_url = "sqlite:///" + str(self.course_root / "gradebook.db")

    # -- resumability
    def _key(self, submission) -> str:
        return f"{GRADER_VERSION}:{self.assignment.fingerprint}:{submission.sha256}:{self.timeout:g}:{self.all_cells}"

    def _state_path(self, student: str) -> Path:
        return self.out / ".state" / f"{student}.json"

    def _cached(self, submission):
        path = self._state_path(submission.student)
        if self.force or not path.exists():
            return None
        try:
            saved = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return saved["result"] if saved.get("key") == self._key(submission) else None

    # -- the pipeline
    def run(self) -> dict:
        from tqdm.auto import tqdm

        started = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        self.assignment = load_assignment(self.name, self.course_root)
        root = self.submissions
        if root.is_file():
            root = intake.unpack(root, self.out / ".unpacked")
        elif not root.is_dir():
            raise FileNotFoundError(f"submissions not found: {root} (a folder or a .zip)")
        found, ignored = intake.collect(root, self.name, list(self.assignment.points))
        results, jobs = {}, {}
        for submission in found:
            cached = None if submission.problem else self._cached(submission)
            if cached is not None:
                results[submission.student] = {**cached, "resumed": True}
            elif submission.problem:
                results[submission.student] = self._unreadable(submission, *submission.problem)
            else:
                job = self._prepare(submission)
                if "status" in job:
                    results[submission.student] = job
                else:
                    jobs[submission.student] = job
        bar = tqdm(total=len(jobs), desc=f"grading {self.name}", unit="nb", disable=not self.progress)
        for student, execution in self._execute(jobs):
            results[student] = self._finish(jobs[student], execution)
            bar.update(1)
        bar.close()
        report = self._report(results, ignored, time.perf_counter() - started, len(jobs))
        return report

    def _unreadable(self, submission, status: str, reason: str) -> dict:
        result = self._result(submission, status, reason, {gid: 0.0 for gid in self.assignment.points})
        self._save_state(submission, result)
        return result

    def _prepare(self, submission) -> dict:
        cells, notes, problem = intake.read_notebook(submission.path)
        submission.notes += notes
        if problem:
            return self._unreadable(submission, "invalid-notebook", problem)
        assembled = intake.assemble(self.assignment.source, self.assignment.release, cells)
        submission.notes += assembled.notes
        cells = cells_to_run(assembled.notebook, self.all_cells)
        trusted_cells = [c for c in cells_to_run(assembled.notebook) if not _grade_id(assembled.notebook.cells[c["index"]])]
        return {"submission": submission, "notebook": assembled.notebook, "tampered": assembled.tampered,
                "cells": cells, "trusted_cells": trusted_cells}

    def _execute(self, jobs: dict):
        """Yield (student, {"kernel": execution, "trusted": replay execution}) as they finish.

        The reference (the solution, recording its graded calls) runs first; then every submission runs
        twice: once with its test cells (feedback, in-kernel scores), once without any test cell, its
        functions called on the recorded inputs (the scores that count).
        """
        if not jobs:
            return
        with self._runner() as run_all:
            reference = dict(run_all({"reference": self._reference_payload()}))["reference"]
            self.calls = reference.get("recorded") or []
            self.reference_failed = [gid for gid, (earned, status) in apply_execution(
                intake.copy_node(self.assignment.source), reference)["scores"].items()
                if earned < self.assignment.points[gid]]
            payloads = {}
            for student, job in jobs.items():
                payloads[student, "kernel"] = self._payload(job["cells"])
                if self.calls:
                    payloads[student, "trusted"] = self._payload(job["trusted_cells"], replay=self.calls)
            pending = {}
            for (student, kind), execution in run_all(payloads):
                pending.setdefault(student, {})[kind] = execution
                if len(pending[student]) == (2 if self.calls else 1):
                    yield student, pending.pop(student)

    def _payload(self, cells, record=None, replay=None) -> dict:
        return {"modules": self.assignment.modules, "cells": cells, "timeout": self.timeout,
                "threads": max(1, (os.cpu_count() or 1) // self.workers), "sandbox": self._confinement(),
                "record": record, "replay": replay}

    def _reference_payload(self) -> dict:
        source = self.assignment.source
        cells = cells_to_run(source)
        answers = {c["index"]: sorted(intake.defined_names(c["source"])) for c in cells
                   if source.cells[c["index"]].metadata.get("nbgrader", {}).get("solution")}
        tests = {c["index"]: _grade_id(source.cells[c["index"]]) for c in cells if _grade_id(source.cells[c["index"]])}
        return self._payload(cells, record={"answers": answers, "tests": tests})

    @contextlib.contextmanager
    def _runner(self):
        """A function running payloads ({key: payload}) and yielding (key, execution) as they finish."""
        if self.scheduler:
            from distributed import Client, as_completed as dask_completed

            with Client(self.scheduler) as client:
                def run_all(payloads):
                    futures = {client.submit(executor.execute_remote, payload, pure=False): key
                               for key, payload in payloads.items()}
                    for future in dask_completed(futures):
                        yield futures[future], future.result()
                yield run_all
            return
        with executor.Zygote(self.assignment.modules) as zygote, ThreadPoolExecutor(self.workers) as pool:
            def run_all(payloads):
                futures = {pool.submit(zygote.execute, p["cells"], p["timeout"], 0, p["threads"], 3, p["sandbox"],
                                       p["record"], p["replay"]): key for key, p in payloads.items()}
                for future in as_completed(futures):
                    yield futures[future], future.result()
            yield run_all

    def _trusted_verdicts(self, replay) -> dict:
        """{grade_id: {ok, why}} for the test cells that have replayable calls."""
        if not self.calls:
            return {}
        if replay is None or replay.get("replayed") is None:
            return {call["cell"]: {"ok": False, "why": "the trusted re-run did not finish"} for call in self.calls}
        return trusted.verdicts(self.calls, replay["replayed"])

    def _confinement(self) -> dict:
        """What student code may read besides Python and the course package: the data, nothing else."""
        return {"readable": [str(Path(data.DATA_DIR).resolve())]}

    def _finish(self, job: dict, executions: dict) -> dict:
        submission, notebook, execution = job["submission"], job["notebook"], executions["kernel"]
        scored = apply_execution(notebook, execution)
        checked = self._trusted_verdicts(executions.get("trusted"))
        suspicious = []
        for gid, verdict in checked.items():
            earned, status = scored["scores"][gid]
            if not verdict["ok"]:
                if earned > 0:
                    suspicious.append(f"{gid} passed in the notebook but not in the trusted re-run ({verdict['why']})")
                scored["scores"][gid] = (0.0, status)
        late_by = None
        if self.deadline and submission.timestamp:
            late_by = (submission.timestamp - self.deadline).total_seconds()
        status, reason = overall_status(scored, job["tampered"], late_by, execution["attempts"], self.timeout,
                                        suspicious)
        points = {gid: earned for gid, (earned, _) in scored["scores"].items()}
        for attempt in execution["attempts"]:
            if attempt.get("log"):  # the grader's own failure, not the student's: say so
                submission.notes.append("executor error: " + attempt["log"].strip().splitlines()[-1])
        result = self._result(submission, status, reason, points)
        result["seconds"] = round(sum(r["seconds"] for r in execution["cells"].values()), 3)
        result["cell_seconds"] = {_label(notebook.cells[int(i)]): r["seconds"] for i, r in execution["cells"].items()}
        result["attempts"] = len(execution["attempts"])
        result["sandbox"] = execution["attempts"][-1].get("sandbox") if execution["attempts"] else None
        result["verified"] = sorted(gid for gid, verdict in checked.items() if verdict["ok"])
        result["unverified"] = sorted(set(self.assignment.points) - set(checked))
        write_gradebook(self.db_url, self.assignment, submission.student, points, submission.timestamp)
        student_dir = self.out / "autograded" / submission.student
        student_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, student_dir / f"{self.name}.ipynb")
        banner = (f"**Grader:** {result['total']:g} / {result['max']:g} points, status **{status}**"
                  + (f" ({reason})" if reason else "") + "".join(f"\n- {n}" for n in submission.notes))
        html = feedback_html(notebook, self.name, submission.student, self.db_url, banner)
        _atomic_write(self.out / "feedback" / submission.student / f"{self.name}.html", html)
        self._save_state(submission, result)
        return result

    def _result(self, submission, status: str, reason: str, points: dict) -> dict:
        return {"student": submission.student, "notebook": self.name, "file": submission.origin,
                "sha256": submission.sha256, "status": status, "reason": reason, "notes": submission.notes,
                "timestamp": submission.timestamp.isoformat() if submission.timestamp else None,
                "cells": {gid: points.get(gid, 0.0) for gid in self.assignment.points},
                "total": round(sum(points.values()), 4), "max": self.assignment.max_score}

    def _save_state(self, submission, result: dict) -> None:
        if submission.sha256:
            _atomic_write(self._state_path(submission.student),
                          json.dumps({"key": self._key(submission), "result": result}))

    def _report(self, results: dict, ignored: list, seconds: float, graded_now: int) -> dict:
        rows = [results[s] for s in sorted(results)]
        counts = {status: sum(r["status"] == status for r in rows) for status in STATUSES}
        scored = [r["total"] for r in rows if r["status"] not in ("missing-notebook", "invalid-notebook")]
        report = {"assignment": self.name, "max": self.assignment.max_score, "cells": self.assignment.points,
                  "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "summary": {"students": len(rows), "counts": counts, "graded_now": graded_now,
                              "resumed": sum(bool(r.get("resumed")) for r in rows),
                              "mean_total": round(sum(scored) / len(scored), 3) if scored else None,
                              "seconds": round(seconds, 2), "workers": self.workers,
                              "trusted_calls": len(getattr(self, "calls", [])),
                              "reference_failed": getattr(self, "reference_failed", []),
                              "executor": self.scheduler or "local"},
                  "ignored": ignored, "students": rows}
        write_grades_csv(self.out / "grades.csv", report)
        _atomic_write(self.out / "report.json", json.dumps(report, indent=1))
        return report


def parse_deadline(deadline):
    if deadline is None or isinstance(deadline, datetime):
        parsed = deadline
    else:
        parsed = datetime.fromisoformat(str(deadline))
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.astimezone()  # a naive deadline is the grader's local time
    return parsed


def write_grades_csv(path: Path, report: dict) -> Path:
    """One row per student: each graded cell's points, total, max, status and reason."""
    cells = list(report["cells"])
    rows = [["student", "notebook", *cells, "total", "max", "status", "reason"]]
    for r in report["students"]:
        rows.append([r["student"], r["notebook"], *(f"{r['cells'].get(c, 0.0):g}" for c in cells),
                     f"{r['total']:g}", f"{r['max']:g}", r["status"], r["reason"]])
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    path = Path(path)
    _atomic_write(path, text.getvalue())
    return path


def summary_table(report: dict) -> str:
    """Counts per status and the mean score, for the terminal."""
    s = report["summary"]
    lines = [f"{report['assignment']}: {s['students']} student(s) in {s['seconds']:.1f} s "
             f"({s['graded_now']} graded now, {s['resumed']} resumed, {s['workers']} worker(s), {s['executor']})"]
    lines += [f"  {status:<17} {n:>4}" for status, n in s["counts"].items() if n]
    mean = "n/a" if s["mean_total"] is None else f"{s['mean_total']:g} / {report['max']:g}"
    lines.append(f"  mean score        {mean}")
    return "\n".join(lines)
