"""Notebook 04's count_params(model) is verified by its hidden tests' probes: a submission that swallows its errors
keeps no point for a count that takes a shared layer twice."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from cnncourse.grader.grading import Grader
from cnncourse.grader.nbgrader_cli import generate_assignment
from tests.notebooks import make_course

NAME = "04_shapes_pooling_receptive_fields"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("probes-04")]
WRONG = {"count_params": ("for p in model.parameters()",  # a layer used twice counted twice
                          "for _, p in model.named_parameters(remove_duplicate=False)")}
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
    root = tmp_path_factory.mktemp("probes04")
    course = make_course(root, [NAME])
    released = generate_assignment(NAME, course, release_dir=root / "notebooks")
    for student, nb in (("solution", nbformat.read(layout.notebook_path(NAME), 4)), ("blank", nbformat.read(released, 4)),
                        ("forger", _forger())):
        (root / "class" / student).mkdir(parents=True)
        nbformat.write(nb, root / "class" / student / f"{NAME}.ipynb")
    report = Grader(NAME, root / "class", root / "out", course_root=course, progress=False).run()
    assert report["summary"]["unverified_cells"] == [], "every cell of 04 has a call or a probe"
    return {r["student"]: r for r in report["students"]}


def test_the_solution_is_verified_everywhere(rows):
    row = rows["solution"]
    assert row["status"] == "graded" and row["total"] == row["max"] and row["unverified"] == [], row
    assert sorted(row["verified"]) == sorted(row["cells"])


def test_wrong_count_with_swallowed_errors_earn_nothing(rows):
    row = rows["forger"]
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_count_params"] == 0, row["cells"]
    assert row["total"] == row["max"] - 2, row["cells"]  # the other cells keep theirs
    assert "probe_count_params returned a different result" in row["reason"]


def test_the_blank_copy_gets_zero(rows):
    assert rows["blank"]["total"] == 0, rows["blank"]
