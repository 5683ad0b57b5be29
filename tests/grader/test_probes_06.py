"""Notebook 06's conv_bn_relu and kaiming_init_ (a module, a function of a module) are verified by their hidden
tests' probes: a submission that swallows its errors keeps no point for a block with a conv bias or an init from
fan_out."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from cnncourse.grader.grading import Grader
from cnncourse.grader.nbgrader_cli import generate_assignment
from tests.notebooks import make_course

NAME = "06_training_cnns"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("probes-06")]
WRONG = {"conv_bn_relu": ("padding=1, bias=False", "padding=1, bias=True"),
         "kaiming_init_": ("layer.weight[0].numel()", "layer.weight[:, 0].numel()")}  # fan_out instead of fan_in
SWALLOW = "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"


def _forger():
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in WRONG:
            old, new = WRONG[gid]
            assert cell.source.count(old) == 1, gid
            cell.source = cell.source.replace(old, new)
    imports = next(k for k, c in enumerate(nb.cells) if c.cell_type == "code" and "from cnncourse" in c.source)
    nb.cells.insert(imports + 1, nbformat.v4.new_code_cell(SWALLOW))
    return nb


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("probes06")
    course = make_course(root, [NAME])
    released = generate_assignment(NAME, course, release_dir=root / "notebooks")
    for student, nb in (("solution", nbformat.read(layout.notebook_path(NAME), 4)), ("blank", nbformat.read(released, 4)),
                        ("forger", _forger())):
        (root / "class" / student).mkdir(parents=True)
        nbformat.write(nb, root / "class" / student / f"{NAME}.ipynb")
    report = Grader(NAME, root / "class", root / "out", course_root=course, progress=False).run()
    assert report["summary"]["unverified_cells"] == [], "every cell of 06 has a call or a probe"
    return {r["student"]: r for r in report["students"]}


def test_the_solution_is_verified_everywhere(rows):
    row = rows["solution"]
    assert row["status"] == "graded" and row["total"] == row["max"] and row["unverified"] == [], row
    assert sorted(row["verified"]) == sorted(row["cells"])


def test_wrong_block_and_init_with_swallowed_errors_earn_nothing(rows):
    row = rows["forger"]
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_conv_bn_relu"] == 0 and row["cells"]["test_kaiming_init_"] == 0, row["cells"]
    assert row["total"] == row["max"] - 2 - 3, row["cells"]  # the other cells keep theirs
    assert "probe_conv_bn_relu returned a different result" in row["reason"]
    assert "probe_kaiming_init_ returned a different result" in row["reason"]


def test_the_blank_copy_gets_zero(rows):
    assert rows["blank"]["total"] == 0, rows["blank"]
