"""Where the course lives: a course root holding solutions/, notebooks/, autograder/ and datasets/.

The root is found, in order, from an explicit path (``--course``), the ``CNNCOURSE_ROOT`` variable, the
working directory and its parents, and the checkout the package runs from (an editable install). A pip
install of the wheel has no checkout: then only the first three apply, and a command that needs a course
says how to point at one. The module-level names ``SOLUTIONS``, ``NOTEBOOKS``, ``AUTOGRADER`` and
``BUILD`` are the found course's folders (``use`` re-points them, e.g. after ``--course``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

ENV = "CNNCOURSE_ROOT"
CONFIG = Path("autograder") / "nbgrader_config.py"
HOW_TO_POINT = (
    f"run the command inside a clone of the course, pass --course PATH, or set {ENV}=PATH "
    "(PATH: the folder holding solutions/, notebooks/ and autograder/)"
)


class CourseNotFound(FileNotFoundError):
    """No course root where one was looked for; the message says how to point at one."""


def is_course(path: Path) -> bool:
    """A course root has the nbgrader configuration, or at least both notebook folders."""
    path = Path(path)
    return (path / CONFIG).is_file() or ((path / "solutions").is_dir() and (path / "notebooks").is_dir())


@dataclass(frozen=True)
class Course:
    root: Path

    @property
    def solutions(self) -> Path:
        return self.root / "solutions"

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def autograder(self) -> Path:
        return self.root / "autograder"

    @property
    def build(self) -> Path:
        return self.root / "build"

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"


def _as_root(path: Path) -> Path | None:
    """The course root for ``path``: the root itself, or its autograder/ folder (nbgrader's course root)."""
    path = Path(path).expanduser().resolve()
    if is_course(path):
        return path
    if (path / "nbgrader_config.py").is_file() and is_course(path.parent):
        return path.parent
    return None


def _checkout() -> Path | None:
    """The repository an editable install runs from (src/cnncourse/layout.py → two levels up)."""
    here = Path(__file__).resolve().parents[2]
    return here if is_course(here) else None


def find_course(explicit: str | Path | None = None, cwd: Path | None = None, required: bool = True) -> Course | None:
    """The course from ``explicit`` / $CNNCOURSE_ROOT / ``cwd`` upwards / the editable checkout.

    An explicit path or variable that is not a course is an error (never silently replaced by another
    course); with nothing found, raise CourseNotFound (or return None when not ``required``).
    """
    for given, what in ((explicit, "--course"), (os.environ.get(ENV) or None, ENV)):
        if given is not None:
            root = _as_root(Path(given))
            if root is None:
                raise CourseNotFound(
                    f"{what}={given} is not a course folder (no {CONFIG}, solutions/ or "
                    f"notebooks/ there); {HOW_TO_POINT}"
                )
            return Course(root)
    start = Path(cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if is_course(folder):
            return Course(folder)
    root = _checkout()
    if root is not None:
        return Course(root)
    if required:
        raise CourseNotFound(f"no course found from {start}; {HOW_TO_POINT}")
    return None


def _bind(course: Course | None) -> None:
    """Set the module-level folders; with no course they point below the working directory."""
    global COURSE, REPO, SOLUTIONS, NOTEBOOKS, AUTOGRADER, BUILD
    COURSE = course
    REPO = course.root if course else Path.cwd()
    SOLUTIONS, NOTEBOOKS = REPO / "solutions", REPO / "notebooks"
    AUTOGRADER, BUILD = REPO / "autograder", REPO / "build"


def use(explicit: str | Path | None = None) -> Course:
    """Find the course (raising CourseNotFound with the how-to) and point the module-level names at it."""
    course = find_course(explicit)
    _bind(course)
    os.environ[ENV] = str(course.root)  # kernels and nbgrader started from here find the same course
    return course


@contextlib.contextmanager
def using(explicit: str | Path | None = None):
    """``use`` for the duration of a command: the previous course and $CNNCOURSE_ROOT come back after."""
    saved, variable = COURSE, os.environ.get(ENV)
    try:
        yield use(explicit)
    finally:
        _bind(saved)
        if variable is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = variable


DATA_MANIFEST = "MANIFEST.sha256"


def cache_dir() -> Path:
    """The user cache (``CNNCOURSE_CACHE``, default ~/.cache/cnncourse): downloads and fetched data."""
    return Path(os.environ.get("CNNCOURSE_CACHE") or Path.home() / ".cache" / "cnncourse")


def locate_data(cache: Path | None = None) -> tuple[Path, str]:
    """(folder, origin): $CNNCOURSE_DATA, else the course's datasets/, else the cache's datasets/.

    origin is "CNNCOURSE_DATA", "course" or "cache"; the cache is filled by ``cnncourse data fetch``.
    Here, not in ``data``, so that the grader finds the folder without importing torch.
    """
    if os.environ.get("CNNCOURSE_DATA"):
        return Path(os.environ["CNNCOURSE_DATA"]), "CNNCOURSE_DATA"
    try:
        course = find_course(required=False)
    except CourseNotFound:
        course = None
    if course is not None and (course.datasets / DATA_MANIFEST).is_file():
        return course.datasets, "course"
    return Path(cache or cache_dir()) / "datasets", "cache"


try:
    _bind(find_course(required=False))
except CourseNotFound:  # a wrong $CNNCOURSE_ROOT: importing stays possible, commands then report it
    _bind(None)


def _no_course(folder: Path) -> None:
    if COURSE is None and not Path(folder).is_dir():
        find_course()  # raises with the message on how to point at a course


def assignments(folder: Path | None = None) -> list[str]:
    """Names ``NN_topic`` of the notebook folders holding ``NN_topic/NN_topic.ipynb``, in course order."""
    folder = Path(SOLUTIONS if folder is None else folder)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / f"{p.name}.ipynb").is_file())


def notebook_path(name: str, folder: Path | None = None) -> Path:
    """``folder/NN_topic/NN_topic.ipynb`` for an assignment name, with a clear error when absent."""
    folder = Path(SOLUTIONS if folder is None else folder)
    path = folder / name / f"{name}.ipynb"
    if not path.is_file():
        _no_course(folder)
        known = ", ".join(assignments(folder)) or "none"
        raise FileNotFoundError(f"no notebook {path}; known notebooks: {known}")
    return path
