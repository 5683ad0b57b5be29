"""``make lab`` gives students JupyterLab without nbgrader's instructor tools; ``make lab-instructor`` keeps them.

Read back the way JupyterLab and Jupyter Server read their configuration (a child process per role, so
the variable JUPYTER_CONFIG_DIR is read fresh)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
READ_BACK = """
import json, logging
from jupyter_server.serverapp import ServerApp
from jupyterlab.labapp import LabApp
from jupyterlab_server.config import get_page_config
app = ServerApp()
app.load_config_file()
app.find_server_extensions()
pages = get_page_config(LabApp().labextensions_path, logger=logging.getLogger())
print(json.dumps({"server": {k: v for k, v in app.jpserver_extensions.items() if "nbgrader" in k},
                  "disabled": sorted(pages.get("disabledExtensions") or [])}))
"""


@pytest.mark.parametrize("role", ["student", "instructor"])
def test_lab_configuration(tmp_path, role):
    folder = tmp_path / role
    subprocess.run([sys.executable, str(REPO / "scripts" / "lab_config.py"), role, str(folder)], check=True)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(folder)}
    done = subprocess.run([sys.executable, "-c", READ_BACK], env=env, capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    instructor_only = ["formgrader", "course_list", "assignment_list", "validate_assignment"]
    assert {k.rsplit(".", 1)[1]: v for k, v in seen["server"].items()} == {
        name: role == "instructor" for name in instructor_only
    }
    assert ("@jupyter/nbgrader" in seen["disabled"]) == (role == "student")


def test_make_lab_targets_use_the_two_configurations():
    makefile = (REPO / "Makefile").read_text()
    assert "scripts/lab_config.py student" in makefile and "scripts/lab_config.py instructor" in makefile
    assert "\nlab-instructor:" in makefile
