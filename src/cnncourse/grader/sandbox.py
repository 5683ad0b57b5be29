"""Confine the process that runs a student's cells (called in the forked child, before any student code).

Always: resource limits (CPU time, address space, processes, file size, open files, no core dumps).
When the grader runs as root (Linux): a private network namespace (no network, not even loopback), a
private IPC namespace (System V and POSIX message queues of its own: two runs cannot leave each other
notes), a private PID namespace with a fresh /proc (the job sees only its own processes, and when its
first process dies the kernel kills every process of the job, even one that called ``setsid``), and a
private mount namespace whose root is a new tmpfs showing only the system folders, the Python installation,
the course package and its data (all read-only), and three fresh, size-limited tmpfs folders (the job's
working folder, /tmp and /dev/shm: what it writes never reaches the host's disk): the course root,
solutions/, the gradebook, other submissions, the grader's output and the job's own result files (opened
before confinement) are not there at all.
Then the process becomes an unprivileged user of its own (no account, no files, no other processes).

In the PID namespace the job runs in a forked copy of the calling process (its pid 1); the caller stays
outside only to wait for it and to pass on its exit status, so the executor sees one process as before.
Without root only the limits apply, and ``confine`` says so.
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
from pathlib import Path

CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x40000000, 0x08000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
RELAY_UID = 199_999  # the unprivileged user of every job's relay process (it runs no student code)
FIRST_UID = 200_000  # each job gets its own unprivileged uid: jobs cannot signal or read each other

DEFAULT_LIMITS = {
    "memory_bytes": 6 * 2**30,  # on top of what the pre-imported libraries already map
    "processes": 64,  # threads count too; a grading job needs a handful
    "file_bytes": 256 * 2**20,
    "open_files": 512,
}


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")


def _mapped_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def limits_of(limits: dict | None) -> dict:
    """``DEFAULT_LIMITS`` with a job's own limits over them."""
    return {**DEFAULT_LIMITS, **(limits or {})}


def set_limits(limits: dict, cpu_seconds: float) -> None:
    limits = limits_of(limits)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails with EFBIG instead of killing
    pairs = [(resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, limits["file_bytes"]),
             (resource.RLIMIT_NOFILE, limits["open_files"]), (resource.RLIMIT_CPU, int(cpu_seconds) + 1),
             (resource.RLIMIT_AS, _mapped_bytes() + limits["memory_bytes"]),
             (resource.RLIMIT_NPROC, limits["processes"])]  # counted per user; root is exempt
    for kind, value in pairs:
        _, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))


SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/dev", "/sys", "/opt")  # + a fresh /proc
MS_BIND, MS_REMOUNT = 4096, 32


def _bind(libc, path: str, new_root: str, writable: bool = False) -> None:
    """Make ``path`` visible at the same place under ``new_root`` (read-only unless ``writable``)."""
    target = new_root + path
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(path), target)
        return
    if not os.path.isdir(path) or os.path.isdir(target) and os.path.ismount(target):
        return
    os.makedirs(target, exist_ok=True)
    _check(libc.mount(path.encode(), target.encode(), None, MS_BIND | MS_REC, None), f"bind {path}")
    if not writable:
        _check(libc.mount(None, target.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, None),
               f"read-only {path}")


WRITABLE_SIZE = "256m"  # each of the job's writable folders (working folder, /tmp, /dev/shm) is a tmpfs this large


def _tmpfs(libc, target: str, size: str, mode: str = "1777") -> None:
    os.makedirs(target, exist_ok=True)
    _check(libc.mount(b"tmpfs", target.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode={mode}".encode()),
           f"tmpfs {target}")


def root_dir(pid: int) -> str:
    """The (empty, on the host) mount point of a job's root; the parent removes it after the job."""
    return f"/tmp/.cnncourse-root-{pid}"


def _minimal_root(libc, work: Path, readable, uid: int) -> None:
    """chroot into a tmpfs that shows only the system, ``readable`` (read-only) and a fresh, size-limited
    working folder at ``work``'s path (what the job writes never reaches the host's disk)."""
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "private mounts")
    new_root = root_dir(os.getpid())
    _tmpfs(libc, new_root, "16m", "755")
    _tmpfs(libc, new_root + "/tmp", WRITABLE_SIZE)  # before the binds: the course itself may live below /tmp
    # a symlinked path (a venv linked from elsewhere) is kept as a link to its bound target
    shown = {str(Path(p).resolve()) for p in readable} | {str(Path(p).absolute()) for p in readable}
    for path in [*SYSTEM_PATHS, *sorted(shown, key=os.path.islink)]:
        _bind(libc, path, new_root)
    _tmpfs(libc, new_root + "/dev/shm", WRITABLE_SIZE)  # after /dev: over the host's shared memory
    _tmpfs(libc, new_root + str(work), WRITABLE_SIZE, "700")
    os.chown(new_root + str(work), uid, uid)
    os.makedirs(new_root + "/proc", exist_ok=True)  # mounted from inside the PID namespace
    os.chroot(new_root)
    os.chdir(str(work))


def _enter_pid_namespace(libc, uid: int) -> None:
    """Fork into the PID namespace made by ``unshare``; only the child returns, as the job's pid 1.

    The parent stays outside as the relay user (unprivileged, not the job's), waits and exits with the
    child's status (a signal death is passed on as the same signal), so whoever forked the caller sees one
    process and one exit status.
    """
    pid = os.fork()
    if pid == 0:
        _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "die with the relay")
        _check(libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "fresh /proc")
        return
    os.setgroups([])
    os.setgid(RELAY_UID)  # not the job's user: a kill(0) from the job (its parent pid reads 0) cannot reach us
    os.setuid(RELAY_UID)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            os._exit(70)
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def confine(work: Path, readable=(), limits: dict | None = None, cpu_seconds: float = 3600,
            isolate: bool = True, uid: int | None = None) -> str:
    """Apply the sandbox to this process, whose working folder is ``work``; returns a one-line description
    of what is in force.

    ``readable``: folders student code may read besides the system, Python and the course package (the
    data); everything else of the file system is simply not there. ``isolate=False``: limits only.
    ``uid``: the job's own unprivileged user (unique per zygote: ``zygote.job_uid``).
    """
    work = Path(work).resolve()
    applied, home = [], str(work)
    readable = {sys.prefix, sys.base_prefix, str(Path(__file__).resolve().parents[2]), *map(str, readable)}
    if not isolate:
        applied.append("isolation switched off")
    elif os.geteuid() == 0 and sys.platform.startswith("linux"):
        uid = FIRST_UID + os.getpid() % 100_000 if uid is None else uid
        try:
            libc = _libc()
            _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWPID), "unshare")
            _minimal_root(libc, work, readable, uid)
            _enter_pid_namespace(libc, uid)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            applied.append("no network; only the system, Python, the course package and data visible (read-only); "
                           f"own IPC and process namespaces; an unprivileged user of its own; {WRITABLE_SIZE} "
                           "tmpfs working folder, /tmp and /dev/shm")
            home = "/tmp"
        except OSError as error:
            applied.append(f"isolation unavailable ({error})")
    else:
        applied.append("not root: no network or file isolation")
    # the job's user has no passwd entry: getpass.getuser() (torch's compile caches) reads these first
    os.environ.update(HOME=home, TMPDIR=home, MPLCONFIGDIR=f"{home}/.matplotlib", USER="student",
                      LOGNAME="student", TORCHINDUCTOR_CACHE_DIR=f"{home}/.torchinductor")
    set_limits(limits or {}, cpu_seconds)
    applied.append("resource limits")
    return "; ".join(applied)
