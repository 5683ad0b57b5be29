"""The sandbox's IPC and PID namespaces, on a real forked job (root on Linux only).

A job must not see host processes, must not leave System V IPC objects for a later run, and nothing it
starts — not even a grandchild that calls setsid() — may outlive it once its process group is killed.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cnncourse.grader import sandbox

pytestmark = pytest.mark.skipif(not (os.geteuid() == 0 and sys.platform.startswith("linux")),
                                reason="namespaces need root on Linux")
IPC_KEY = 0x5EED_C0DE


def _job(job_dir, report_fd):
    """In the forked child: confine, then probe what a student could see and leave behind."""
    os.setsid()
    state = sandbox.confine(job_dir, cpu_seconds=60)
    libc = ctypes.CDLL(None, use_errno=True)
    shm = libc.shmget(IPC_KEY, 4096, 0o1666)  # IPC_CREAT | 0666: a note for a later run
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    survivor = os.fork()
    if survivor == 0:
        os.setsid()
        time.sleep(120)
        os._exit(0)
    os.write(report_fd, json.dumps({"state": state, "pid": os.getpid(), "pids": pids, "shm": shm,
                                    "survivor": survivor}).encode())
    os._exit(0)


def test_a_job_sees_only_itself_and_leaves_nothing(tmp_path):
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            _job(job_dir, write)
        finally:
            os._exit(70)
    os.close(write)
    with os.fdopen(read) as pipe:
        seen = json.loads(pipe.read() or "{}")
    _, status = os.waitpid(pid, 0)
    if _group_alive(pid):  # what the executor does after every job
        os.killpg(pid, signal.SIGKILL)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert "own IPC and process namespaces" in seen["state"], seen["state"]
    assert seen["pid"] == 1 and seen["pids"] == [1], "the job sees only its own processes"
    assert seen["shm"] >= 0, "the job could create its segment (in its own namespace)"
    ipcs = subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout
    assert f"0x{IPC_KEY:08x}" not in ipcs, "the job's IPC segment is not visible on the host"
    uid = sandbox.FIRST_UID + pid % 100_000
    deadline = time.monotonic() + 30
    while _processes_of(uid) and time.monotonic() < deadline:  # the kernel reaps the namespace
        time.sleep(0.1)
    assert not _processes_of(uid), "the setsid() grandchild outlived its job"
    root = sandbox.root_dir(pid)
    if os.path.isdir(root):
        os.rmdir(root)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _processes_of(uid: int) -> list[str]:
    lines = subprocess.run(["ps", "-eo", "uid=,pid=,stat="], capture_output=True, text=True).stdout.splitlines()
    return [line for line in lines if int(line.split()[0]) == uid and not line.split()[2].startswith("Z")]
