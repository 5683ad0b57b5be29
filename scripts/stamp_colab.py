"""Stamp the repository URL of ``[project.urls] Repository`` into every solution notebook's Colab badge
and setup cell (``make release`` runs this before it regenerates the student copies).

    python scripts/stamp_colab.py            # rewrite solutions/*/*.ipynb where they differ
    python scripts/stamp_colab.py --check    # exit 1 if any notebook is not stamped

The setup cell is the first code cell that mentions ``IN_COLAB``; it is replaced whole by SETUP below,
so every notebook sets up Colab the same way, and every step says in one line why it failed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^)\s]+")
SETUP = """# Setup. On Colab, fetch the course (package and data); Colab's own torch is kept.
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    import os
    import shutil
    import subprocess

    COURSE_URL = "{url}"
    COURSE_DIR = os.path.abspath("{folder}")

    class SetupFailed(Exception):
        def _render_traceback_(self):  # one line in the notebook, not a traceback
            return [f"✗ setup: {{self}}"]

    def setup_step(what, command):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines() or [f"exit code {{done.returncode}}"]
            reason = next((x for x in said if x.lower().startswith(("fatal:", "error:"))), said[-1])
            raise SetupFailed(f"{{what}} failed: {{reason}}")

    if not os.path.isdir(os.path.join(COURSE_DIR, "src", "cnncourse")):
        setup_step(f"downloading the course from {{COURSE_URL}}",
                   ["git", "clone", "-q", "--depth", "1", COURSE_URL, COURSE_DIR])
    if shutil.which("cnncourse") is None:  # the package, and the `cnncourse check` command
        setup_step("installing the course package",
                   [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", COURSE_DIR])
    sys.path.insert(0, os.path.join(COURSE_DIR, "src"))
    os.environ["CNNCOURSE_ROOT"] = COURSE_DIR  # the course's data and notebooks
    print(f"✓ setup: the course is in {{COURSE_DIR}}")"""


def repository_url(pyproject: Path = REPO / "pyproject.toml") -> str:
    with open(pyproject, "rb") as f:
        url = tomllib.load(f)["project"]["urls"]["Repository"].rstrip("/")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise SystemExit(
            f"[project.urls] Repository = {url!r}: Colab opens notebooks from GitHub only "
            "(https://github.com/OWNER/NAME)"
        )
    return url.removesuffix(".git")


def badge_url(url: str, name: str, branch: str = "main") -> str:
    return f"https://colab.research.google.com/github/{url.removeprefix('https://github.com/')}/blob/{branch}/notebooks/{name}/{name}.ipynb"


def setup_source(url: str) -> str:
    return SETUP.format(url=url, folder=url.rsplit("/", 1)[1])


def stamp(nb, name: str, url: str) -> bool:
    """Badge in the first markdown cell and the setup cell; True when something changed."""
    title = next(c for c in nb.cells if c.cell_type == "markdown")
    setup = next((c for c in nb.cells if c.cell_type == "code" and "IN_COLAB" in c.source), None)
    if setup is None or not BADGE.search(title.source):
        raise SystemExit(f"{name}: no Colab badge in the title cell or no setup cell (with IN_COLAB)")
    before = (title.source, setup.source)
    title.source = BADGE.sub(badge_url(url, name), title.source)
    setup.source = setup_source(url)
    return (title.source, setup.source) != before


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks that are not stamped")
    parser.add_argument("--root", type=Path, default=REPO, help="the course folder")
    args = parser.parse_args(argv)
    url = repository_url(args.root / "pyproject.toml")
    stale = []
    for path in sorted((args.root / "solutions").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if stamp(nb, path.stem, url):
            stale.append(path.stem)
            if not args.check:
                nbformat.write(nb, path)
    verb = "not stamped" if args.check else "stamped"
    print(f"{verb} with {url}: {', '.join(stale) or 'none'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
