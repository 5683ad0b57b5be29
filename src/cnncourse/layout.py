"""Where things live in the course repository (design §2), and the notebooks it holds."""
from __future__ import annotations

import os
from pathlib import Path

# src/cnncourse/layout.py → the repository is two levels above the package; CNNCOURSE_ROOT overrides
# it (e.g. for an installed package that should use a clone elsewhere).
REPO = Path(os.environ.get("CNNCOURSE_ROOT", Path(__file__).resolve().parents[2]))
SOLUTIONS = REPO / "solutions"
NOTEBOOKS = REPO / "notebooks"
AUTOGRADER = REPO / "autograder"
BUILD = REPO / "build"


def assignments(folder: Path = SOLUTIONS) -> list[str]:
    """Names ``NN_topic`` of the notebook folders holding ``NN_topic/NN_topic.ipynb``, in course order."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / f"{p.name}.ipynb").is_file())


def notebook_path(name: str, folder: Path = SOLUTIONS) -> Path:
    """``folder/NN_topic/NN_topic.ipynb`` for an assignment name, with a clear error when absent."""
    path = Path(folder) / name / f"{name}.ipynb"
    if not path.is_file():
        known = ", ".join(assignments(folder)) or "none"
        raise FileNotFoundError(f"no notebook {path}; known notebooks: {known}")
    return path
