"""The class grader behind ``cnncourse grade``: submissions in, gradebook + grades.csv + report + feedback out.

``Grader.run`` is a list of steps:
  1. ``load_assignment``: register it in nbgrader's gradebook and read it back;
  2. ``collect``: find and read every submission (``intake``); unreadable ones get a status, never an exception;
  3. ``prepare``: resume what an earlier run graded; rebuild each other one from the assignment (locked cells
     restored, answers matched) and plan its runs (``plan``: only the cells the graded cells depend on);
  4. ``execute``: run the reference (the solution, recording its graded calls), then each submission twice —
     with its test cells (feedback, in-kernel scores) and without, its functions called on the recorded
     inputs (the scores that count) — in processes forked from a pre-warmed one, or as Dask tasks;
  5. ``finish`` each: score, check against the trusted run, status, gradebook, feedback, resume state;
  6. ``write_report``: report.json and grades.csv.
Statuses, most serious first: see ``config.STATUSES``. The reason column says why; nothing is a silent 0.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .. import layout
from . import config, executor, files, intake
from .assignment import label, load_assignment
from .feedback import assignment_markdown, banner, write_feedback
from .gradebook import db_url, write_scores
from .plan import RunPlan, honesty_rules, last_graded, plan, probes, record_spec
from .records import Confinement, Execution, Job, RecordedCall
from .report import StudentResult, class_report, write_report
from .resume import ResumeState
from .scoring import Scored, apply_execution, check_trusted, overall_status


@dataclass
class Prepared:
    """A readable submission, rebuilt and planned, waiting for its executions."""
    submission: intake.Submission
    notebook: object  # the nbformat notebook to grade
    tampered: list
    runs: RunPlan
    seconds: float = 0.0  # the grader's own time reading, rebuilding and planning it


@dataclass
class Reference:
    """What the instructor's solution did: its recorded calls, and the graded cells it did not pass."""
    calls: tuple = ()
    failed: tuple = ()
    skipped: tuple = ()  # labels of the cells the solution's graded cells do not depend on
    ran: bool = False  # False when every submission was resumed: nothing to say about coverage
    seconds: float = 0.0  # wall time of the reference job: paid once per class, whatever its size


class Grader:
    """Grades one assignment for a class; ``run`` returns the report it also writes to ``out``."""

    def __init__(self, assignment: str, submissions: Path, out: Path, course_root: Path = layout.AUTOGRADER,
                 workers: int | None = None, timeout: float = config.DEFAULT_TIMEOUT_S, force: bool = False,
                 deadline=None, scheduler: str | None = None, all_cells: bool = False, progress: bool = True,
                 trust_timestamps: bool = False, budget: float | None = None):
        self.name, self.submissions, self.out = assignment, Path(submissions), Path(out)
        self.course_root = Path(course_root)
        self.workers = workers or config.default_workers()
        self.timeout, self.force, self.scheduler = float(timeout), force, scheduler
        self.budget = config.submission_budget(self.timeout, budget)
        self.deadline = parse_deadline(deadline)
        self.all_cells, self.progress, self.trust_timestamps = all_cells, progress, trust_timestamps
        self.db_url = db_url(self.course_root)
        self.reference = Reference()
        self.probes, self.rules = (), {}

    def run(self) -> dict:
        started = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        self.assignment = load_assignment(self.name, self.course_root)
        self.state = ResumeState(self.out, self.assignment.fingerprint, self.timeout, self.all_cells, self.force,
                                 self.budget)
        found, ignored = self.collect()
        results, pending = self.prepare(found)
        results.update(self.execute(pending))
        return self.write_report(list(results.values()), ignored, time.perf_counter() - started, len(pending))

    # -- 2. collect
    def collect(self):
        """``(submissions, ignored entries)``; a zip's times are its entries' times, a folder's its files'."""
        root, skipped, time_source = self.submissions, [], intake.FILE_TIME
        if root.is_file():
            (root, skipped), time_source = intake.unpack(root, self.out / ".unpacked"), intake.ZIP_TIME
        elif not root.is_dir():
            raise FileNotFoundError(f"submissions not found: {root} (a folder or a .zip)")
        found, ignored = intake.collect(root, self.name, list(self.assignment.points), self.trust_timestamps,
                                        time_source)
        return found, skipped + ignored

    # -- 3. prepare
    def prepare(self, found) -> tuple[dict, dict]:
        """``({student: StudentResult} already known, {student: Prepared} to execute)``."""
        results, pending = {}, {}
        for submission in found:
            cached = None if submission.problem else self.state.cached(submission)
            if cached is not None:
                results[submission.student] = cached
            elif submission.problem:
                results[submission.student] = self._unreadable(submission, *submission.problem)
            else:
                try:
                    prepared = self._prepare_one(submission)
                except Exception as error:  # noqa: BLE001 — one submission's failure is its own status
                    prepared = self._grader_failed(submission, "preparing", error)
                if isinstance(prepared, StudentResult):
                    results[submission.student] = prepared
                else:
                    pending[submission.student] = prepared
        return results, pending

    def _prepare_one(self, submission) -> Prepared | StudentResult:
        started = time.perf_counter()
        cells, notes, problem = intake.read_notebook(submission.path)
        submission.notes += notes
        if problem:
            return self._unreadable(submission, "invalid-notebook", problem)
        assembled = intake.assemble(self.assignment.source, self.assignment.release, cells)
        submission.notes += assembled.notes
        runs = plan(assembled.notebook, self.assignment.cell_ids, self.all_cells)
        return Prepared(submission, assembled.notebook, assembled.tampered, runs, time.perf_counter() - started)

    def _grader_failed(self, submission, step: str, error: Exception) -> StudentResult:
        """The boundary around each submission: a failure of the grader on it is that student's ``crashed``
        status with the reason, never the batch's end; not saved, so a re-run tries it again."""
        why = files.printable(f"{type(error).__name__}: {error}")[:300]
        return self._result(submission, "crashed", f"the grader failed while {step} this submission ({why})",
                            {gid: 0.0 for gid in self.assignment.points})

    def _unreadable(self, submission, status: str, reason: str) -> StudentResult:
        result = self._result(submission, status, reason, {gid: 0.0 for gid in self.assignment.points})
        self.state.save(submission, result)
        return result

    # -- 4. execute
    def _job(self, cells, record=None, replay=None, budget=None) -> Job:
        return Job(tuple(self.assignment.modules), tuple(cells), self.timeout, budget=budget,
                   threads=config.threads_per_job(self.workers),
                   confinement=Confinement((str(config.data_dir().resolve()),)), record=record, replay=replay,
                   probes=tuple(p.source for p in self.probes) if replay is not None else (),
                   rules={name: rule.to_dict() for name, rule in self.rules.items()} if replay is not None else None)

    def execute(self, pending: dict) -> dict:
        """``{student: StudentResult}`` of every prepared submission, finished as its executions arrive."""
        from tqdm.auto import tqdm

        if not pending:
            return {}
        results, waiting = {}, {}
        bar = tqdm(total=len(pending), desc=f"grading {self.name}", unit="nb", disable=not self.progress)
        with executor.runner(self.assignment.modules, self.workers, self.scheduler) as run_all:
            self._run_reference(run_all)
            jobs = {}
            for student, prepared in pending.items():
                jobs[student, "kernel"] = self._job(prepared.runs.kernel, budget=self.budget / 2)
                if self.reference.calls:
                    replay = tuple(call.replay_call() for call in self.reference.calls)
                    jobs[student, "trusted"] = self._job(prepared.runs.trusted, replay=replay, budget=self.budget / 2)
            for (student, kind), execution in run_all(jobs):
                waiting.setdefault(student, {})[kind] = execution
                if len(waiting[student]) == (2 if self.reference.calls else 1):
                    try:
                        results[student] = self.finish(pending[student], **waiting.pop(student))
                    except Exception as error:  # noqa: BLE001 — see _grader_failed
                        results[student] = self._grader_failed(pending[student].submission, "scoring", error)
                    bar.update(1)
        bar.close()
        return results

    def _run_reference(self, run_all) -> None:
        source = self.assignment.source
        runs = plan(source, all_cells=self.all_cells)
        cells = tuple(c for c in runs.kernel if c.index <= last_graded(source))  # later cells record nothing
        self.probes, self.rules = probes(source), honesty_rules(source)
        job = self._job(cells, record=record_spec(source, cells), replay=tuple(p.replay_call() for p in self.probes))
        execution = dict(run_all({"reference": job}))["reference"]
        scored = apply_execution(intake.copy_node(source), execution)
        failed = [gid for gid, score in scored.scores.items() if score.points < self.assignment.points[gid]]
        observed, broken = probe_results(self.probes, execution.replayed)
        skipped = tuple(f"{label(source.cells[k])}: {(source.cells[k].source.strip().splitlines() or [''])[0][:60]}"
                        for k in runs.skipped)
        self.reference = Reference((*(execution.recorded or ()), *observed), tuple(sorted({*failed, *broken})),
                                   skipped, ran=True, seconds=round(execution.wall_seconds, 2))

    # -- 5. finish one submission
    def finish(self, prepared: Prepared, kernel: Execution, trusted: Execution | None = None) -> StudentResult:
        started = time.perf_counter()
        submission, notebook = prepared.submission, prepared.notebook
        scored = apply_execution(notebook, kernel)
        checked = check_trusted(scored, self.reference.calls, trusted)
        status, reason = overall_status(scored, prepared.tampered, self._late_by(submission), kernel, self.timeout)
        for attempt in kernel.attempts:
            if attempt.log:  # the grader's own failure, not the student's: say so
                submission.notes.append("executor error: " + (attempt.log.strip().splitlines() or [""])[-1])
        if kernel.over_budget or (trusted is not None and trusted.over_budget):
            submission.notes.append(f"stopped: the submission's budget of {self.budget:g} s (both runs together, "
                                    "each half) was spent; the cells after it were not run")
        result = self._result(submission, status, reason, scored.points, scored, kernel)
        result.job_seconds = round(kernel.wall_seconds + (trusted.wall_seconds if trusted else 0.0), 3)
        result.unverified = sorted(set(self.assignment.points) - set(checked))
        result.skipped = [label(notebook.cells[k]) for k in prepared.runs.skipped]
        result.cell_seconds = {label(notebook.cells[k]): run.seconds for k, run in kernel.cells.items()}
        write_scores(self.db_url, self.name, submission.student, scored.points, submission.timestamp)
        try:
            write_feedback(self.out, notebook, self.name, submission.student, self.db_url,
                           banner(result.total, result.max, status, reason, submission.notes),
                           assignment_markdown(self.assignment.source))
        except Exception as error:  # noqa: BLE001 — the score stands without its page; say so
            result.notes.append(f"feedback page not written ({type(error).__name__}: {files.printable(str(error))[:200]})")
        result.grader_seconds = round(prepared.seconds + time.perf_counter() - started, 3)
        self.state.save(submission, result)
        return result

    def _late_by(self, submission) -> float | None:
        if self.deadline and submission.timestamp:
            return (submission.timestamp - self.deadline).total_seconds()
        return None

    def _result(self, submission, status: str, reason: str, points: dict, scored: Scored | None = None,
                execution: Execution | None = None) -> StudentResult:
        result = StudentResult(
            submission.student, self.name, submission.origin, submission.sha256, status, reason, submission.notes,
            submission.timestamp.isoformat() if submission.timestamp else None,
            {gid: points.get(gid, 0.0) for gid in self.assignment.points}, round(sum(points.values()), 4),
            self.assignment.max_score)
        result.timestamp_source = submission.timestamp_source
        if execution is not None:
            result.seconds, result.attempts = execution.seconds, len(execution.attempts)
            result.sandbox = execution.attempts[-1].sandbox if execution.attempts else None
        if scored is not None:
            result.verified = list(scored.verified)
        return result

    # -- 6. report
    def _coverage(self) -> dict:
        """Which graded cells the trusted run can check (a recorded call or a probe of the solution)."""
        if not self.reference.ran:
            return {}
        checked = {call.cell for call in self.reference.calls}
        unverified = [gid for gid in self.assignment.points if gid not in checked]
        return {"verified_points": sum(p for gid, p in self.assignment.points.items() if gid in checked),
                "unverified_cells": unverified}

    def write_report(self, rows: list, ignored: list, seconds: float, graded_now: int) -> dict:
        report = class_report(self.assignment, rows, ignored, {
            "graded_now": graded_now, "seconds": round(seconds, 2), "workers": self.workers,
            "trusted_calls": len(self.reference.calls), "reference_failed": list(self.reference.failed),
            "reference_seconds": self.reference.seconds,
            **self._coverage(),
            "skipped_cells": list(self.reference.skipped), "all_cells": self.all_cells,
            "executor": self.scheduler or "local"})
        write_report(self.out, report)
        return report


def probe_results(found, outcomes) -> tuple[list[RecordedCall], list[str]]:
    """The solution's probe results as recorded calls, and the grade ids whose probe did not return plain data."""
    calls, broken = [], []
    for probe, outcome in zip(found, outcomes or ()):
        if outcome.kind == "returns":
            call = probe.replay_call()
            calls.append(RecordedCall(probe.cell, probe.name, call.args, call.rng, {"returns": outcome.value},
                                      outcome.after))
        else:
            broken.append(probe.cell)
    if outcomes is None:
        broken += [p.cell for p in found]
    return calls, broken


def parse_deadline(deadline):
    if deadline is None or isinstance(deadline, datetime):
        parsed = deadline
    else:
        parsed = datetime.fromisoformat(str(deadline))
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.astimezone()  # a naive deadline is the grader's local time
    return parsed
