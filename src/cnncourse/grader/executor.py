"""The coordinator side of execution: start the zygote, hand it jobs, watch the children, read results.

``Zygote.execute(job)`` runs a ``records.Job`` in a fresh child forked from the pre-warmed zygote
(``zygote.py``; the child's code is ``child.py``), kills a child whose cell outlives the time limit and
re-runs the remaining cells without the culprit, so one bad cell costs only its own points. ``runner``
gives the grader one function for both paths: a local zygote with a thread pool, or Dask tasks
(``execute_remote``), which carry ``to_dict`` of the same records.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from . import config, sandbox
from .child import EXECUTOR_FAILED
from .files import open_regular, read_regular, valid_utf8
from .records import (Attempt, CellRun, Execution, Job, NOT_RUN, Outcome, RecordError, RecordedCall, field_of,
                      to_dict)
from .zygote import kill_group

GRACE_S = 3.0  # a cell gets this long past its limit to raise the soft timeout before the hard kill
MAX_STDIO_BYTES = 2**20  # of stdio.log, read only when the child failed before any student code ran
# What a job's processes inherit of the grader's environment: nothing else (tokens, keys, paths) gets in.
JOB_ENVIRONMENT = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", "VIRTUAL_ENV",
                   "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH", "OMP_NUM_THREADS",
                   "MKL_NUM_THREADS", "CNNCOURSE_DATA", "CNNCOURSE_ROOT", "CNNCOURSE_CACHE", "CNNCOURSE_OFFLINE")


class ZygoteError(RuntimeError):
    """The zygote process could not be started or died."""


# ---------------------------------------------------------------- what a child wrote back
@dataclass
class ChildLog:
    """The lines of one child's ``cells.jsonl``, checked; a malformed line is skipped."""
    done: dict = field(default_factory=dict)  # index -> CellRun
    running: int | None = None  # the cell that was running when the child stopped
    sandbox: str | None = None
    recorded: tuple | None = None
    replayed: dict = field(default_factory=dict)  # call number -> Outcome
    finished: bool = False

    def add(self, line: dict) -> None:
        if "sandbox" in line:
            self.sandbox = field_of(line, "sandbox", str)
        elif "recorded" in line:
            self.recorded = tuple(RecordedCall.from_dict(c) for c in field_of(line, "recorded", list))
        elif "replayed" in line:
            self.replayed[field_of(line, "replayed", int)] = Outcome.from_dict(line.get("outcome"))
        elif "finished" in line:
            self.finished = True
        elif "start" in line:
            self.running = field_of(line, "start", int)
        else:
            self._add_cell(line)

    def _add_cell(self, line: dict) -> None:
        outputs = field_of(line, "outputs", list)
        errors = [o for o in outputs if isinstance(o, dict) and o.get("output_type") == "error"]
        status = "timeout" if field_of(line, "timed_out", bool) else ("error" if errors else "ok")
        self.done[field_of(line, "index", int)] = CellRun.from_dict(
            {"outputs": outputs, "seconds": line.get("seconds"), "status": status})
        self.running = None


def read_child_log(path: Path, limit: int = sandbox.DEFAULT_LIMITS["file_bytes"]) -> ChildLog:
    """The checked lines of a job's ``cells.jsonl``, read line by line: at most ``limit`` bytes (the job's own
    file-size limit, so a normal log is never cut), never through a link or from a FIFO, strings made valid
    UTF-8; a line cut by a kill, too deep or not of the protocol's shape is skipped."""
    log = ChildLog()
    try:
        handle = open_regular(path)
    except OSError:
        return log
    with handle:
        left = limit
        for raw in handle:
            left -= len(raw)
            if left < 0:
                break
            try:
                log.add(valid_utf8(json.loads(raw.decode("utf-8", errors="replace"))))
            except (json.JSONDecodeError, RecordError, RecursionError):
                continue
    return log


def job_environment(environ=None, data: Path | None = None) -> dict:
    """The zygote's (so every job's) environment: ``JOB_ENVIRONMENT`` of the grader's, the grading settings and
    ``data`` as ``CNNCOURSE_DATA`` (the folder the grader found, the one the sandbox shows)."""
    environ = os.environ if environ is None else environ
    kept = {key: environ[key] for key in JOB_ENVIRONMENT if key in environ}
    if data is not None:
        kept["CNNCOURSE_DATA"] = str(data)
    return {**kept, "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}


# ---------------------------------------------------------------- the zygote client
class Zygote:
    """A pre-warmed process that forks one child per execution; thread-safe ``execute``."""

    def __init__(self, modules=(), work_root: Path | None = None):
        self.modules = tuple(sorted(modules))
        self.work_root = Path(work_root or tempfile.mkdtemp(prefix="cnncourse-exec-"))
        self._lock, self._cond = threading.Lock(), threading.Condition()
        self._pids, self._exits = {}, {}
        self.restarts = 0
        self._start()

    def _start(self) -> None:
        proc = subprocess.Popen([sys.executable, "-m", "cnncourse.grader.zygote", *self.modules],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                env=job_environment(data=config.data_dir().resolve()))
        first = proc.stdout.readline()
        if not first or not json.loads(first).get("ready"):
            raise ZygoteError(f"executor did not start (exit {proc.poll()})")
        self.proc = proc
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _revive(self, dead) -> None:
        """Start a new zygote if ``dead`` is still the current one (a child may have killed it)."""
        with self._lock:
            if self.proc is dead:
                self.restarts += 1
                self._start()

    def _read(self, proc) -> None:
        for line in proc.stdout:
            message = json.loads(line)
            with self._cond:
                if "exit" in message:
                    self._exits[message["pid"]] = message["exit"]
                else:
                    self._pids[message["dir"]] = message["pid"]
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _wait_for(self, table: dict, key, timeout: float | None = None, proc=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        proc = proc or self.proc
        with self._cond:
            while key not in table:
                if proc.poll() is not None:
                    raise ZygoteError(f"executor died (exit {proc.returncode})")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(0.05 if left is None else min(0.05, left))
            return table.pop(key)

    def _spawn(self, job: Job):
        job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=self.work_root))
        (job_dir / "job.json").write_text(json.dumps(to_dict(job)))
        with self._lock:
            proc = self.proc
            try:
                proc.stdin.write((json.dumps({"dir": str(job_dir)}) + "\n").encode())
                proc.stdin.flush()
            except OSError:
                pass  # a dead zygote: _wait_for raises ZygoteError
        return self._wait_for(self._pids, str(job_dir), proc=proc), job_dir, proc

    def _attempt(self, job: Job, deadline: float | None) -> tuple[Attempt, ChildLog]:
        """One child: run until it exits, a cell outlives its limit or the job's budget is spent."""
        for _ in range(2):
            try:
                return self._watch(job, *self._spawn(job), deadline)
            except ZygoteError:
                self._revive(self.proc)
        return self._watch(job, *self._spawn(job), deadline)  # a third failure propagates

    def _wait_exit(self, job: Job, pid: int, results: Path, proc, deadline: float | None) -> tuple[int, bool, bool]:
        """``(exit code, killed, over budget)``. The watchdog kills the child when its output stops growing for
        longer than a cell may run, and, on the grader's own clock, when the job's budget is spent (output
        the student's code writes cannot keep a job alive past ``deadline``)."""
        limit, last_size, last_change = job.timeout + GRACE_S, -1, time.monotonic()
        killed = over = False
        while True:
            try:
                code = self._wait_for(self._exits, pid, timeout=0.1, proc=proc)
            except ZygoteError:  # the zygote died under its child (killed by it?): the child counts as crashed
                kill_group(pid)
                self._revive(proc)
                code = -signal.SIGKILL
            if code is not None:
                return code, killed, over
            try:
                size = os.stat(results, follow_symlinks=False).st_size
            except OSError:
                size = 0
            now = time.monotonic()
            if size != last_size:
                last_size, last_change = size, now
            over = over or (deadline is not None and now > deadline)
            if over or now - last_change > limit:
                kill_group(pid)
                killed = True

    def _watch(self, job: Job, pid: int, job_dir: Path, proc, deadline: float | None) -> tuple[Attempt, ChildLog]:
        results = job_dir / "cells.jsonl"
        code, killed, over = self._wait_exit(job, pid, results, proc, deadline)
        kill_group(pid)  # processes or threads the student left behind
        with contextlib.suppress(OSError):
            os.rmdir(sandbox.root_dir(pid))
        log = read_child_log(results, sandbox.limits_of(job.confinement.limits if job.confinement else None)["file_bytes"])
        text = None
        if code == EXECUTOR_FAILED and log.sandbox is None:  # the executor failed before any student code ran
            try:
                text = read_regular(job_dir / "stdio.log", MAX_STDIO_BYTES, truncate=True)
                text = valid_utf8(text.decode("utf-8", errors="replace")[-4000:])
            except OSError:
                text = ""
        shutil.rmtree(job_dir, ignore_errors=True)
        return Attempt(code, killed, log.running, log.sandbox, text, over), log

    def execute(self, job: Job) -> Execution:
        """Run ``job``; a cell that kills or hangs its process is skipped and the others re-run."""
        done, failed, attempts, started = {}, {}, [], time.perf_counter()
        deadline = None if job.budget is None else time.monotonic() + job.budget
        for _ in range(job.max_attempts):
            todo = tuple(c for c in job.cells if c.index not in failed)
            attempt, log = self._attempt(dataclasses.replace(job, cells=todo), deadline)
            done.update(log.done)
            attempts.append(attempt)
            if log.running is None:
                break
            failed[log.running] = "timeout" if attempt.killed else "crashed"
            done.pop(log.running, None)
            if attempt.over_budget:  # the cells not yet run stay not run
                break
        replayed = None
        if job.replay is not None and log.finished:
            replayed = tuple(log.replayed.get(k, Outcome("missing", "outcome")) for k in range(len(job.replay)))
        return Execution(_cell_runs(job, done, failed), tuple(attempts), log.recorded, replayed,
                         round(time.perf_counter() - started, 3))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.work_root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def crashed(job: Job, error: BaseException) -> Execution:
    """What a job gave back when the executor itself failed on it: every cell crashed, the error as its log."""
    why = valid_utf8(f"{type(error).__name__}: {error}")[:4000]
    first = job.cells[0].index if job.cells else None
    return Execution({c.index: CellRun([], 0.0, "crashed") for c in job.cells}, (Attempt(None, False, first, None, why),))


def _outcome(future, job: Job) -> Execution:
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 — one job's executor failure is that submission's, not the batch's
        return crashed(job, error)


def _cell_runs(job: Job, done: dict, failed: dict) -> dict:
    runs = {}
    for cell in job.cells:
        i = cell.index
        runs[i] = done[i] if i in done else (CellRun([], 0.0, failed[i]) if i in failed else NOT_RUN)
    return runs


# ---------------------------------------------------------------- one zygote per process (Dask workers)
_SHARED: dict[tuple, Zygote] = {}
_SHARED_LOCK = threading.Lock()


def shared_zygote(modules) -> Zygote:
    """The zygote of this process for these modules, started on first use (one per Dask worker)."""
    key = tuple(sorted(modules))
    with _SHARED_LOCK:
        zygote = _SHARED.get(key)
        if zygote is None or zygote.proc.poll() is not None:
            zygote = _SHARED[key] = Zygote(key)
        return zygote


def execute_remote(job: dict) -> dict:
    """Entry point for a Dask task: ``to_dict`` of a Job in, of an Execution out; nothing else travels."""
    job = Job.from_dict(job)
    return to_dict(shared_zygote(job.modules).execute(job))


# ---------------------------------------------------------------- the grader's view: run many jobs
@contextlib.contextmanager
def runner(modules, workers: int, scheduler: str | None = None):
    """A function running ``{key: Job}`` and yielding ``(key, Execution)`` as each finishes."""
    if scheduler:
        from distributed import Client, as_completed as dask_completed

        with Client(scheduler) as client:
            def run_all(jobs: dict):
                futures = {client.submit(execute_remote, to_dict(job), pure=False): key for key, job in jobs.items()}
                for future in dask_completed(futures):
                    key = futures[future]
                    try:
                        yield key, Execution.from_dict(future.result())
                    except Exception as error:  # noqa: BLE001 — see _outcome
                        yield key, crashed(jobs[key], error)
            yield run_all
        return
    with Zygote(modules) as zygote, ThreadPoolExecutor(workers) as pool:
        def run_all(jobs: dict):
            futures = {pool.submit(zygote.execute, job): key for key, job in jobs.items()}
            for future in as_completed(futures):
                yield futures[future], _outcome(future, jobs[futures[future]])
        yield run_all
