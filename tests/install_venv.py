"""A fresh virtual environment holding the shared one's packages, for the install and Colab tests.

A real ``python -m venv`` whose site-packages is a hard-linked copy of the running environment's (no
download, no disk beyond directory entries, seconds), without the editable ``cnncourse``: what a user
has after ``pip install`` of the dependencies, before installing the course package. Every file lies
under the new prefix, as in a user's venv, so the grader's sandbox (which shows a job only Python's
prefix) sees them. Deleting or replacing a file there never touches the original (hard links).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path


def make_venv(prefix: Path) -> Path:
    """Create the environment at ``prefix``; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True)
    python = prefix / "bin" / "python"
    target = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    shutil.rmtree(target)
    subprocess.run(["cp", "-al", str(Path(sysconfig.get_paths()["purelib"]).resolve()), str(target)], check=True)
    for editable in [*target.glob("__editable__*cnncourse*"), *target.glob("cnncourse-*.dist-info")]:
        shutil.rmtree(editable) if editable.is_dir() else editable.unlink()
    # data files of the packages (nbconvert's templates, ...), but not the kernel spec naming the other python
    subprocess.run(["cp", "-al", str(Path(sys.prefix).resolve() / "share"), str(prefix / "share")], check=True)
    shutil.rmtree(prefix / "share" / "jupyter" / "kernels", ignore_errors=True)
    return python


def clean_env(prefix: Path, shared_bin: bool = True, **extra) -> dict:
    """The environment of a user of that venv: its bin/ first, no course or data variables, no PYTHONPATH.

    ``shared_bin``: the running environment's bin/ stands for the scripts a pip install of the
    dependencies puts in bin/ (nbgrader runs `alembic`).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNNCOURSE_", "PYTHON", "JUPYTER_", "VIRTUAL_ENV"))}
    path = [
        p
        for p in env.get("PATH", "").split(os.pathsep)
        if Path(p).resolve() != Path(sys.executable).resolve().parent
        and Path(p).resolve() != Path(sys.executable).parent
    ]
    env["PATH"] = os.pathsep.join(
        [str(prefix / "bin"), *([str(Path(sys.executable).parent)] if shared_bin else []), *path]
    )
    env.update(MPLBACKEND="Agg", CNNCOURSE_OFFLINE="1", **extra)
    return env
