"""Write a Jupyter configuration folder for ``make lab`` (students) or ``make lab-instructor``.

    python scripts/lab_config.py student build/jupyter/student
    JUPYTER_CONFIG_DIR=build/jupyter/student jupyter lab notebooks

Students get JupyterLab without nbgrader's tools: the formgrader, "Create Assignment", the course and
assignment lists are for instructors, and nbgrader's Validate button ignores the course's time limits
(`cnncourse check NOTEBOOK` runs a notebook as the grader does). The instructor's folder keeps them all.
Settings are written at the user level of that folder, which overrides the sys-prefix level where
nbgrader enables itself, and touch nothing outside it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LAB_EXTENSION = "@jupyter/nbgrader"  # every nbgrader plugin of JupyterLab: menu, formgrader, create-assignment, ...
SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.validate_assignment",
)


def write(role: str, folder: Path) -> Path:
    student = role == "student"
    (folder / "labconfig").mkdir(parents=True, exist_ok=True)
    pages = {"disabledExtensions": {LAB_EXTENSION: student}}
    (folder / "labconfig" / "page_config.json").write_text(json.dumps(pages, indent=1))
    server = {"ServerApp": {"jpserver_extensions": {name: not student for name in SERVER_EXTENSIONS}}}
    (folder / "jupyter_server_config.json").write_text(json.dumps(server, indent=1))
    return folder


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("student", "instructor"):
        sys.exit("usage: python scripts/lab_config.py student|instructor CONFIG_DIR")
    print(f"Jupyter configuration for the {sys.argv[1]}: {write(sys.argv[1], Path(sys.argv[2]))}")
