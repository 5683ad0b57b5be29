"""Notebook 09's answers take models (count_trainable, freeze, replace_classifier, param_groups), so no call
can be replayed: their hidden tests' probes build the models themselves, and a submission that swallows its
errors keeps no point for a wrong tool."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from cnncourse.grader.grading import Grader
from cnncourse.grader.nbgrader_cli import generate_assignment
from tests.notebooks import make_course

NAME = "09_transfer_learning"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("probes-09")]
SUBSTRING = ("\ndef freeze(model, trainable_prefixes):\n    for name, p in model.named_parameters():\n"
             "        p.requires_grad_(any(prefix in name for prefix in trainable_prefixes))\n    return model")
EMPTY_GROUPS = ("\n_groups = param_groups\ndef param_groups(model, head_prefix, base_lr, head_lr):\n"
                "    groups = _groups(model, head_prefix, base_lr, head_lr)\n"
                "    return groups + [{\"params\": [], \"lr\": head_lr}] if len(groups) == 1 else groups")
SWALLOW = "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"


def _forger():
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source += SUBSTRING if "def freeze" in cell.source else ""
            cell.source += EMPTY_GROUPS if "def param_groups" in cell.source else ""
    imports = next(k for k, c in enumerate(nb.cells) if c.cell_type == "code" and "from cnncourse" in c.source)
    nb.cells.insert(imports + 1, nbformat.v4.new_code_cell(SWALLOW))
    return nb


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("probes09")
    course = make_course(root, [NAME])
    released = generate_assignment(NAME, course, release_dir=root / "notebooks")
    for student, nb in (("solution", nbformat.read(layout.notebook_path(NAME), 4)), ("blank", nbformat.read(released, 4)),
                        ("forger", _forger())):
        (root / "class" / student).mkdir(parents=True)
        nbformat.write(nb, root / "class" / student / f"{NAME}.ipynb")
    report = Grader(NAME, root / "class", root / "out", course_root=course, progress=False).run()
    assert report["summary"]["unverified_cells"] == [], "every cell of 09 has a call or a probe"
    return {r["student"]: r for r in report["students"]}


def test_the_solution_is_verified_everywhere(rows):
    row = rows["solution"]
    assert row["status"] == "graded" and row["total"] == row["max"] and row["unverified"] == [], row
    assert sorted(row["verified"]) == sorted(row["cells"])


def test_wrong_tools_with_swallowed_errors_earn_nothing(rows):
    row = rows["forger"]
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_freeze"] == 0 and row["cells"]["test_param_groups"] == 0, row["cells"]
    assert row["total"] == row["max"] - 3 - 3, row["cells"]  # count_trainable and replace_classifier keep theirs
    assert "probe_freeze returned a different result" in row["reason"]


def test_the_blank_copy_gets_zero(rows):
    assert rows["blank"]["total"] == 0, rows["blank"]
