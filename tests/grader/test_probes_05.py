"""Notebook 05's answers that take or are modules (flattened_features, LeNet5, train_epoch, evaluate, GausNet) are
verified by their hidden tests' probes: a submission that swallows its errors keeps no point for a wrong one."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from cnncourse.grader.grading import Grader
from cnncourse.grader.nbgrader_cli import generate_assignment
from tests.notebooks import make_course

NAME = "05_first_cnn_lenet"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("probes-05")]
WRONG = {  # appended to the answer cell that defines the name: each is plausible and passes the visible test
    "def flattened_features": "\n_ff = flattened_features\ndef flattened_features(features, input_shape):\n"
                              "    was = features.training\n    n = _ff(features, input_shape)\n"
                              "    features.train(was)  # wakes up a frozen BatchNorm\n    return n",
    "class LeNet5": "\nLeNet5.forward = lambda self, x: self.classifier[5](self.classifier[3](self.classifier[:3]("
                    "self.features(x))))  # no ReLU after F6",
    "def train_epoch": "\n_te = train_epoch\ndef train_epoch(model, loader, optimizer, loss_fn, device):\n"
                       "    optimizer.zero_grad = lambda *a, **k: None  # the gradients pile up\n"
                       "    return _te(model, loader, optimizer, loss_fn, device)",
    "def evaluate": "\n_ev = evaluate\ndef evaluate(model, loader, device):\n    model.eval = lambda: model  # stays in train mode\n"
                    "    return _ev(model, loader, device)",
    "class GausNet": "\nGausNet.forward = lambda self, x: self.classifier[2](torch.relu(self.classifier[:2]("
                     "self.features(x))))  # a ReLU between the two Linears",
}
SWALLOW = "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"


def _forger():
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source += "".join(code for head, code in WRONG.items() if head in cell.source)
    imports = next(k for k, c in enumerate(nb.cells) if c.cell_type == "code" and "from cnncourse" in c.source)
    nb.cells.insert(imports + 1, nbformat.v4.new_code_cell(SWALLOW))
    return nb


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("probes05")
    course = make_course(root, [NAME])
    released = generate_assignment(NAME, course, release_dir=root / "notebooks")
    for student, nb in (("solution", nbformat.read(layout.notebook_path(NAME), 4)), ("blank", nbformat.read(released, 4)),
                        ("forger", _forger())):
        (root / "class" / student).mkdir(parents=True)
        nbformat.write(nb, root / "class" / student / f"{NAME}.ipynb")
    report = Grader(NAME, root / "class", root / "out", course_root=course, progress=False).run()
    assert report["summary"]["unverified_cells"] == [], "every cell of 05 has a call or a probe"
    return {r["student"]: r for r in report["students"]}


def test_the_solution_is_verified_everywhere(rows):
    row = rows["solution"]
    assert row["status"] == "graded" and row["total"] == row["max"] and row["unverified"] == [], row
    assert sorted(row["verified"]) == sorted(row["cells"])


def test_wrong_answers_with_swallowed_errors_earn_nothing(rows):
    row = rows["forger"]
    assert row["status"] == "suspicious", row
    mutated = ["test_flattened_features", "test_LeNet5", "test_train_epoch", "test_evaluate", "test_GausNet"]
    assert all(row["cells"][cell] == 0 for cell in mutated), row["cells"]
    assert row["total"] == row["max"] - 2 - 3 - 3 - 2 - 2, row["cells"]  # accuracy, left right, keeps its point
    for cell in mutated:
        assert f"probe_{cell[len('test_'):]} returned a different result" in row["reason"], row["reason"]


def test_the_blank_copy_gets_zero(rows):
    assert rows["blank"]["total"] == 0, rows["blank"]
