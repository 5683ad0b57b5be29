"""The hidden tests of notebook 10 (what a CNN looks at) catch plausible wrong answers.

Each mutant is the solution's own answer with one realistic mistake (a string replacement, so it stays
close to what a student would write). The notebook's setup cells, then the answer, then the answer's test
code run in one namespace: the solution must pass its whole test cell, and each mutant must fail the
cell's *hidden* tests alone (so the hidden tests catch it even where a visible test would too).
"""
from __future__ import annotations

import re

import matplotlib
import nbformat
import pytest

from cnncourse import layout

matplotlib.use("Agg")

NAME = "10_what_a_cnn_looks_at"
SETUP = ("import copy", "CLASSES = ")  # the imports cell and the cell that loads the model and images

# (answer grade_id, what the student got wrong, solution text, replacement)
MUTANTS = [
    ("saliency_map", "signed gradient (no abs)", "grad.abs().amax(dim=1)", "grad.amax(dim=1)"),
    ("saliency_map", "mean over channels instead of max", "grad.abs().amax(dim=1)", "grad.abs().mean(dim=1)"),
    ("saliency_map", "training mode (BatchNorm batch statistics)", "    model.eval()\n", ""),
    ("saliency_map", "gradient of the softmax probability", "score = model(x)", "score = F.softmax(model(x), dim=1)"),
    ("saliency_map", "gradient of the loss instead of the score",
     "score = model(x).gather(1, target.view(-1, 1)).sum()", "score = -F.cross_entropy(model(x), target)"),
    ("saliency_map", "requires_grad set on the caller's x", "x = x.detach().clone().requires_grad_(True)",
     "x = x.requires_grad_(True)"),
    ("grad_cam", "no ReLU", "return F.relu((alpha * A).sum(dim=1)).detach()", "return (alpha * A).sum(dim=1).detach()"),
    ("grad_cam", "sum instead of mean pooling of the gradients", "grad_A.mean(dim=(2, 3), keepdim=True)",
     "grad_A.sum(dim=(2, 3), keepdim=True)"),
    ("grad_cam", "no channel weights", "F.relu((alpha * A).sum(dim=1))", "F.relu(A.mean(dim=1))"),
    ("grad_cam", "abs instead of ReLU", "F.relu((alpha * A).sum(dim=1))", "(alpha * A).sum(dim=1).abs()"),
    ("grad_cam", "training mode", "    model.eval()\n", ""),
    ("grad_cam", "hook left on the layer", "        handle.remove()\n", "        pass\n"),
    ("grad_cam", "upsampled to the input size", "return F.relu((alpha * A).sum(dim=1)).detach()",
     "return F.interpolate(F.relu((alpha * A).sum(dim=1, keepdim=True)), size=x.shape[-2:], mode='bilinear')[:, 0].detach()"),
    ("occlusion_map", "stride ignored (always 1)", "range(0, h - patch + 1, stride), range(0, w - patch + 1, stride)",
     "range(0, h - patch + 1), range(0, w - patch + 1)"),
    ("occlusion_map", "last position dropped", "range(0, h - patch + 1, stride), range(0, w - patch + 1, stride)",
     "range(0, h - patch, stride), range(0, w - patch, stride)"),
    ("occlusion_map", "grey baseline 0.5 instead of 0", "left:left + patch] = 0", "left:left + patch] = 0.5"),
    ("occlusion_map", "baseline = the image mean", "left:left + patch] = 0", "left:left + patch] = x.mean()"),
    ("occlusion_map", "drop of the logit instead of the probability", "p_clean = F.softmax(model(x), dim=1)",
     "p_clean = model(x)"),
    ("occlusion_map", "occlusions accumulate (the copy is not fresh per row)", "batch = x.repeat(len(lefts), 1, 1, 1)",
     "batch = x.repeat(len(lefts), 1, 1, 1) if i == 0 else batch"),
    ("occlusion_map", "sign reversed", "drops[:, i] = p_clean[None].sub(p.view(len(lefts), n)).T",
     "drops[:, i] = p.view(len(lefts), n).sub(p_clean[None]).T"),
    ("occlusion_map", "training mode", "    model.eval()\n", ""),
    ("fgsm", "gradient instead of its sign", "eps * grad.sign()", "eps * grad"),
    ("fgsm", "no clamp to [0, 1]", "(x + eps * grad.sign()).clamp(0, 1)", "(x + eps * grad.sign())"),
    ("fgsm", "step towards the label (minus sign)", "x + eps * grad.sign()", "x - eps * grad.sign()"),
    ("fgsm", "predicted labels instead of the true ones", "F.cross_entropy(model(x), y)",
     "F.cross_entropy(model(x), model(x).argmax(1))"),
    ("fgsm", "training mode", "    model.eval()\n", ""),
]


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _without_markers(source: str) -> str:
    return re.sub(r"^\s*### (BEGIN|END) SOLUTION\n", "", source, flags=re.M)


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def notebook():
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    setup = [c.source for c in cells if c.source.startswith(SETUP)]
    assert len(setup) == len(SETUP), "the imports and data cells of the notebook were not found"
    answers = {_grade_id(c): _without_markers(c.source) for c in cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    tests = {}
    for k, c in enumerate(cells):  # the grade cell that follows each answer
        if _grade_id(c) in answers:
            test = next(t.source for t in cells[k + 1:] if t.metadata.get("nbgrader", {}).get("grade"))
            hidden = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", test, re.S)
            assert hidden, f"the test cell of {_grade_id(c)} has no hidden tests"
            tests[_grade_id(c)] = {"cell": test, "hidden": hidden.group(1)}
    namespace = {"QUICK": True, "DEVICE": "cpu", "SEED": 0}
    for source in setup:
        exec(compile(source, "<setup>", "exec"), namespace)
    return {"answers": answers, "tests": tests, "namespace": namespace}


def _run(notebook, grade_id, answer_source, part="cell"):
    namespace = dict(notebook["namespace"])
    exec(compile(answer_source, f"<{grade_id}>", "exec"), namespace)
    exec(compile(notebook["tests"][grade_id][part], f"<test_{grade_id}>", "exec"), namespace)


@pytest.mark.slow
@pytest.mark.parametrize("grade_id", ["saliency_map", "grad_cam", "occlusion_map", "fgsm"])
def test_solution_passes(notebook, grade_id, capsys):
    _run(notebook, grade_id, notebook["answers"][grade_id])  # the hidden tests, after the visible ones, raise nothing
    assert f"✓ {grade_id}: passed" in capsys.readouterr().out, "the visible tests did not confirm the solution"


@pytest.mark.slow
@pytest.mark.parametrize("grade_id, mistake, old, new", MUTANTS, ids=[f"{m[0]}: {m[1]}" for m in MUTANTS])
def test_mutant_is_caught(notebook, grade_id, mistake, old, new):
    source = notebook["answers"][grade_id]
    assert source.count(old) == 1, f"the mutant's anchor is not in the solution of {grade_id}: {old!r}"
    # caught by an assertion of the hidden tests (a message for the student), not by a crash: a broken mutant
    # (NameError, SyntaxError) or an error the wrong code provokes would pass a broader catch
    with pytest.raises(AssertionError):
        _run(notebook, grade_id, source.replace(old, new), part="hidden")
