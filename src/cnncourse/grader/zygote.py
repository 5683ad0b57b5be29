"""The zygote: a process that imports what the assignment imports once, then forks a job child per job.

Starting a Jupyter kernel and importing torch costs 2–5 s per submission; the zygote pays it once.
Protocol on its stdin/stdout, one JSON object per line. In: ``{"dir": JOB_DIR}``.
Out: ``{"ready": true}``, ``{"dir": ..., "pid": ...}``, ``{"pid": ..., "exit": CODE}`` (negative: signal).
Run as ``python -m cnncourse.grader.zygote MODULE...`` by ``executor.Zygote``.
"""
from __future__ import annotations

import ast
import importlib
import json
import os
import select
import signal
import sys
import time
from pathlib import Path

BASE_MODULES = ("IPython.core.interactiveshell", "IPython.display")
# imported by a library on first use, not by ``import``: torch's optimizers import torch._dynamo when the first
# one is built (about 1 s in every job that trains, twice per submission); the zygote imports it once
FIRST_USE_IMPORTS = {"torch": ("torch._dynamo",)}


def imported_modules(sources) -> list[str]:
    """Top-level modules named by ``import`` statements in code cells (magics and syntax errors skipped)."""
    found = []
    for source in sources:
        text = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return sorted(set(found))


def preload(modules) -> list[str]:
    """Import what can be imported (a name may be an attribute, not a module); return what was."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # no figure is rendered while grading
    loaded = []
    top = {name.split(".")[0] for name in modules}
    later = [extra for base, extras in FIRST_USE_IMPORTS.items() if base in top for extra in extras]
    for name in [*BASE_MODULES, *modules, *later]:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception:  # noqa: BLE001 — "from x import function" names are not modules
            pass
    return loaded


def kill_group(pid: int) -> None:
    """SIGKILL a job child's process group (or the child alone when it has none)."""
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
            return
        except (ProcessLookupError, PermissionError):
            continue


def job_uid(zygote_pid: int, n: int) -> int:
    """The ``n``-th job's user id: unique among this zygote's jobs (2**18 of them), and zygotes started with
    different pids modulo 4096 (one per Dask worker) never share one. Not derived from the job's pid, which
    the system reuses."""
    from .sandbox import FIRST_UID

    return FIRST_UID + (zygote_pid % 4096) * 2**18 + n % 2**18


def _fork(job_dir: Path, uid: int) -> int:
    pid = os.fork()
    if pid == 0:
        from .child import child_main

        child_main(job_dir, uid)  # never returns
    return pid


def serve(modules) -> None:
    """Zygote loop: fork a child per job line on stdin, report pids and exit codes on stdout."""
    preload(modules)
    from . import child  # noqa: F401 — imported before forking, not once per job

    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but protocol lines on the real stdout

    def say(**message):
        out.write(json.dumps(message) + "\n")
        out.flush()

    _become_subreaper()
    say(ready=True)
    buffer, children, jobs = b"", set(), 0
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 0.05)
        if ready:
            chunk = os.read(sys.stdin.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                job_dir = Path(json.loads(line)["dir"])
                pid = _fork(job_dir, job_uid(os.getpid(), jobs))
                jobs += 1
                children.add(pid)
                say(dir=str(job_dir), pid=pid)
        _reap(children, say)
    for pid in children:
        kill_group(pid)
    for _ in range(100):  # the killed groups die within milliseconds; do not wait on anything that escaped
        _reap(set(), lambda **_: None)
        time.sleep(0.02)


def _become_subreaper() -> None:
    """Orphans of a job (its namespace's pid 1 once the job child is killed) become ours, not the host
    init's: we reap them, so no zombie outlives a job where the machine's pid 1 does not reap (containers)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass  # not Linux: orphans go to init as usual


def _reap(children: set, say) -> None:
    """Collect every exited child, ours or adopted; report the job children among them."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in children:
            children.discard(pid)
            say(pid=pid, exit=os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    serve(sys.argv[1:])
