"""Notebook 10's answers take a model (saliency_map, grad_cam, occlusion_map, fgsm), so their calls cannot be replayed:
the hidden tests' probes verify them. A submission that swallows its errors keeps no point for a wrong answer."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from cnncourse.grader.grading import Grader
from cnncourse.grader.nbgrader_cli import generate_assignment
from tests.notebooks import make_course

NAME = "10_what_a_cnn_looks_at"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("probes-10")]
MISTAKES = {  # grade id of the answer: (the solution's text, the wrong one)
    "saliency_map": ("grad.abs().amax(dim=1)", "grad.abs().mean(dim=1)"),  # mean over the channels, not the max
    "grad_cam": ("        handle.remove()\n", "        pass\n"),  # the hook stays on the layer
    "occlusion_map": ("batch = x.repeat(len(lefts), 1, 1, 1)",  # the occlusions of one row stay for the next
                      "batch = x.repeat(len(lefts), 1, 1, 1) if i == 0 else batch"),
}
SWALLOW = "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"


def _forger():
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    for cell in nb.cells:
        old, new = MISTAKES.get(cell.metadata.get("nbgrader", {}).get("grade_id"), ("", ""))
        if old:
            assert cell.source.count(old) == 1, old
            cell.source = cell.source.replace(old, new)
    imports = next(k for k, c in enumerate(nb.cells) if c.cell_type == "code" and "from cnncourse" in c.source)
    nb.cells.insert(imports + 1, nbformat.v4.new_code_cell(SWALLOW))
    return nb


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("probes10")
    course = make_course(root, [NAME])
    released = generate_assignment(NAME, course, release_dir=root / "notebooks")
    for student, nb in (("solution", nbformat.read(layout.notebook_path(NAME), 4)), ("blank", nbformat.read(released, 4)),
                        ("forger", _forger())):
        (root / "class" / student).mkdir(parents=True)
        nbformat.write(nb, root / "class" / student / f"{NAME}.ipynb")
    report = Grader(NAME, root / "class", root / "out", course_root=course, progress=False).run()
    assert report["summary"]["unverified_cells"] == [], "every cell of 10 has a call or a probe"
    return {r["student"]: r for r in report["students"]}


def test_the_solution_is_verified_everywhere(rows):
    row = rows["solution"]
    assert row["status"] == "graded" and row["total"] == row["max"] and row["unverified"] == [], row
    assert sorted(row["verified"]) == sorted(row["cells"])


def test_wrong_answers_with_swallowed_errors_earn_nothing(rows):
    row = rows["forger"]
    assert row["status"] == "suspicious", row
    assert all(row["cells"][f"test_{gid}"] == 0 for gid in MISTAKES), row["cells"]
    assert row["total"] == row["max"] - 3 - 4 - 4, row["cells"]  # the right fgsm keeps its points
    assert "probe_saliency_map returned a different result" in row["reason"]


def test_the_blank_copy_gets_zero(rows):
    assert rows["blank"]["total"] == 0, rows["blank"]
