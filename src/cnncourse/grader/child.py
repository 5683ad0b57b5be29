"""The job child: forked from the zygote, confined, it runs one job's cells in a pristine IPython shell.

It streams one JSON line per event to ``cells.jsonl`` in its job folder, opened before confinement and out
of the job's view (the coordinator reads them, as untrusted input, with ``executor.read_child_log``):
``{"sandbox": …}``, then per cell ``{"start": i}`` and ``{"index": i, "outputs", "timed_out", "seconds"}``,
then ``{"recorded": [calls]}`` (reference run) or one ``{"replayed": k, "outcome": …}`` per replayed call
(trusted run), and ``{"finished": true}``.
"""
from __future__ import annotations

import io
import json
import os
import signal
import sys
import time
from pathlib import Path

from . import rules, sandbox, trusted
from .records import Job

MAX_CELL_OUTPUT = 200_000  # characters of text kept per cell; the rest is counted, not stored
EXECUTOR_FAILED = 70  # exit code when the child itself failed before student code ran; stdio.log has why


# ---------------------------------------------------------------- capturing outputs
class Outputs:
    """Outputs of the running cell, in order, with a cap on the text kept."""

    def __init__(self):
        self.items, self.chars, self.dropped = [], 0, 0

    def stream(self, name: str, text: str) -> None:
        room = MAX_CELL_OUTPUT - self.chars
        if room <= 0:
            self.dropped += len(text)
            return
        kept, self.dropped = text[:room], self.dropped + max(0, len(text) - room)
        self.chars += len(kept)
        last = self.items[-1] if self.items else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += kept
        else:
            self.items.append({"output_type": "stream", "name": name, "text": kept})

    def rich(self, output: dict) -> None:
        size = len(json.dumps(output, default=str))
        if self.chars + size > MAX_CELL_OUTPUT:
            self.dropped += size
            return
        self.chars += size
        self.items.append(output)

    def finish(self) -> list[dict]:
        if self.dropped:
            self.items.append({"output_type": "stream", "name": "stdout",
                               "text": f"\n[grader: {self.dropped} more characters of output not kept]\n"})
        return self.items


CURRENT = Outputs()


class _Stream(io.TextIOBase):
    def __init__(self, name: str):
        self.name = name

    def write(self, text) -> int:
        CURRENT.stream(self.name, str(text))
        return len(text)

    def writable(self) -> bool:
        return True

    @property
    def encoding(self):
        return "utf-8"


class CellTimeout(Exception):
    """Raised inside a cell that ran past its time limit."""


def _plain(data: dict) -> dict:
    return {k: (v if isinstance(v, (str, list, dict)) else str(v)) for k, v in (data or {}).items()}


def make_shell():
    """An IPython shell whose displays, results and tracebacks go to ``CURRENT``."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
            CURRENT.rich({"output_type": "display_data", "data": _plain(data), "metadata": metadata or {}})

        def clear_output(self, wait=False):
            pass

    class Hook(DisplayHook):
        def write_output_prompt(self):
            pass

        def finish_displayhook(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            CURRENT.rich({"output_type": "execute_result", "data": _plain(format_dict),
                          "metadata": md_dict or {}, "execution_count": self.prompt_count})

    class GradingShell(InteractiveShell):
        def _showtraceback(self, etype, evalue, stb):
            CURRENT.rich({"output_type": "error", "ename": getattr(etype, "__name__", str(etype)),
                          "evalue": str(evalue), "traceback": [str(line) for line in stb]})

    GradingShell.display_pub_class = Publisher
    GradingShell.displayhook_class = Hook
    return GradingShell.instance(colors="nocolor", history_length=0)


# ---------------------------------------------------------------- running the cells
def _write(results, **line) -> None:
    results.write(json.dumps(line, default=str) + "\n")
    results.flush()


def _start_state(job: Job) -> None:
    """Seeds, threads, warnings and the soft per-cell timeout, before the first cell."""
    import random
    import warnings

    random.seed(job.seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(job.seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(job.seed)
        sys.modules["torch"].set_num_threads(job.threads)
    warnings.filterwarnings("ignore", message=".*non-interactive.*")  # plt.show() under Agg

    def on_alarm(signum, frame):
        raise CellTimeout(f"cell ran longer than {job.timeout:g} s")

    signal.signal(signal.SIGALRM, on_alarm)
    sys.stdout, sys.stderr = _Stream("stdout"), _Stream("stderr")


def run_one_cell(shell, source: str, limit: float, safe_builtins: dict) -> list[dict]:
    """Run one cell under the soft timeout, then restore the builtins; its outputs."""
    import builtins

    global CURRENT
    CURRENT = Outputs()
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        shell.run_cell(source, store_history=True)
    except BaseException as error:  # noqa: BLE001 — a timeout between IPython's own handlers
        CURRENT.rich({"output_type": "error", "ename": type(error).__name__, "evalue": str(error), "traceback": []})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    vars(builtins).update(safe_builtins)
    _close_figures()
    return CURRENT.finish()


def run_cells(job: Job, results) -> None:
    """Run the job's cells in this process, one JSON line per event to ``results``."""
    import builtins

    global CURRENT
    shell = make_shell()
    safe_builtins = dict(vars(builtins))  # restored after each cell: the grader's own code needs them
    _start_state(job)
    checks = rules.Rules({name: rules.Rule.from_dict(r) for name, r in (job.rules or {}).items()})  # before any student code
    recorder = trusted.Recorder() if job.record else None
    for cell in job.cells:
        _write(results, start=cell.index)
        started = time.perf_counter()
        if recorder:
            recorder.cell = job.record.tests.get(cell.index)
        outputs = run_one_cell(shell, cell.source, job.timeout, safe_builtins)
        if recorder:
            recorder.cell = None
            recorder.wrap(shell.user_ns, job.record.answers.get(cell.index, ()))
        timed_out = any(o.get("ename") == "CellTimeout" for o in outputs if o["output_type"] == "error")
        _write(results, index=cell.index, outputs=outputs, timed_out=timed_out,
               seconds=round(time.perf_counter() - started, 4))
    CURRENT = Outputs()
    if recorder:
        _write(results, recorded=recorder.calls)
    if job.replay is not None:
        trusted.define_probes(shell.user_ns, job.probes)  # their calls are in the replay
        for k, outcome in enumerate(trusted.replay(shell.user_ns, job.replay, job.timeout, checks)):
            _write(results, replayed=k, outcome=outcome)  # a line per call: the watchdog sees progress
    _write(results, finished=True)


def _close_figures() -> None:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


def cpu_budget(job: Job) -> float:
    """CPU seconds for the whole job: a timeout per cell and one for the replay, never above its wall budget."""
    per_cell = job.timeout * (len(job.cells) + 1) + 30
    return per_cell if job.budget is None else min(per_cell, job.budget + 30)


def child_main(job_dir: Path, uid: int | None = None) -> None:
    """In the forked child: own process group, stdio away from the protocol pipe, confine, run, exit.

    ``job_dir`` is the coordinator's folder for this job (``job.json`` in, ``cells.jsonl`` and ``stdio.log``
    out). Both result files are opened here, before confinement: student code runs in ``job_dir/work``
    (under root, a fresh tmpfs at that path) and can neither see nor replace them.
    """
    code = 0
    try:
        os.setsid()  # the parent kills the whole group: the child and anything it started
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
        log = os.open(job_dir / "stdio.log", flags, 0o600)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        job = Job.from_dict(json.loads((job_dir / "job.json").read_text()))
        (job_dir / "job.json").unlink()  # the hidden tests are not left on disk
        work = job_dir / "work"
        work.mkdir(mode=0o700)
        os.chdir(work)
        with os.fdopen(os.open(job_dir / "cells.jsonl", flags, 0o600), "a", encoding="utf-8") as results:
            box = job.confinement
            state = sandbox.confine(work, box.readable if box else (), box.limits if box else None,
                                    cpu_budget(job), box.isolate if box else True, uid)
            _write(results, sandbox=state)  # from here on student code runs (executor reads stdio.log only before)
            run_cells(job, results)
    except BaseException:  # noqa: BLE001
        import traceback

        code = EXECUTOR_FAILED
        os.write(2, traceback.format_exc().encode(errors="replace"))  # into stdio.log, kept on failure
    os._exit(code)
