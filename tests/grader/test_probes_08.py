"""Notebook 08's class answers (vgg_block, InceptionBlock, ResidualBlock, DenseBlock) are verified by their
hidden tests' probes: a submission that swallows its errors keeps no point for a wrong block."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from cnncourse.grader.grading import Grader
from cnncourse.grader.nbgrader_cli import generate_assignment
from tests.notebooks import make_course

NAME = "08_architectures"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("probes-08")]
HALVED = "\nResidualBlock.forward = (lambda f: (lambda self, x: f(self, x) * 0.5))(ResidualBlock.forward)"
EXTRA_LAYER = "\n_vgg = vgg_block\ndef vgg_block(*a, **k):\n    b = _vgg(*a, **k)\n    b.append(nn.Identity())\n    return b"
SWALLOW = "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"


def _forger():
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source += HALVED if "class ResidualBlock" in cell.source else ""
            cell.source += EXTRA_LAYER if "def vgg_block" in cell.source else ""
    imports = next(k for k, c in enumerate(nb.cells) if c.cell_type == "code" and "from cnncourse" in c.source)
    nb.cells.insert(imports + 1, nbformat.v4.new_code_cell(SWALLOW))
    return nb


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("probes08")
    course = make_course(root, [NAME])
    released = generate_assignment(NAME, course, release_dir=root / "notebooks")
    for student, nb in (("solution", nbformat.read(layout.notebook_path(NAME), 4)), ("blank", nbformat.read(released, 4)),
                        ("forger", _forger())):
        (root / "class" / student).mkdir(parents=True)
        nbformat.write(nb, root / "class" / student / f"{NAME}.ipynb")
    report = Grader(NAME, root / "class", root / "out", course_root=course, progress=False).run()
    assert report["summary"]["unverified_cells"] == [], "every cell of 08 has a call or a probe"
    return {r["student"]: r for r in report["students"]}


def test_the_solution_is_verified_everywhere(rows):
    row = rows["solution"]
    assert row["status"] == "graded" and row["total"] == row["max"] and row["unverified"] == [], row
    assert sorted(row["verified"]) == sorted(row["cells"])


def test_wrong_blocks_with_swallowed_errors_earn_nothing(rows):
    row = rows["forger"]
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_vgg_block"] == 0 and row["cells"]["test_ResidualBlock"] == 0, row["cells"]
    assert row["total"] == row["max"] - 3 - 4, row["cells"]  # the three right blocks and compound_scaling keep theirs
    assert "probe_ResidualBlock returned a different result" in row["reason"]


def test_the_blank_copy_gets_zero(rows):
    assert rows["blank"]["total"] == 0, rows["blank"]
