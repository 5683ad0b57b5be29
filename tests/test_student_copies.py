"""What a student sees in the student copies (notebooks/), for every notebook folder automatically.

(a) No project-internal words in student-visible text or names: markdown, code, comments, variable
    names, outputs and file names (design §10). Case-aware: "CI" as a word is caught, "CIFAR" is not.
(b) A blank student copy run top to bottom (quick mode, errors allowed) shows no cascade: every error a
    student meets is the ``NotImplementedError`` of an exercise stub or the one-line ``ExerciseNotDone``
    notice of ``cnncourse.student.needs``, never a NameError, a KeyError or an error from library code.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from cnncourse import layout
from cnncourse.run import CELL_TIMEOUT_S

STUDENT_COPIES = layout.assignments(layout.NOTEBOOKS)
# word -> pattern; each pattern says itself whether it ignores case
JARGON = {
    "seed + lecture number (seed 000, seed 3)": re.compile(r"\bseed[ \t_-]*\d+\b", re.I),
    "SEED0… lecture ids": re.compile(r"\bSEED0\d*", re.I),
    "CI": re.compile(r"(?<![\w.-])CI(?![\w-])"),
    "papermill": re.compile(r"papermill", re.I),
    "autograder": re.compile(r"autograd(?:er|ing)\b", re.I),
    "nbgrader": re.compile(r"nbgrader", re.I),
    "budget": re.compile(r"\bbudgets?\b", re.I),
    "design doc / design card / design §": re.compile(
        r"COURSE_DESIGN|\bdesign\s*(?:§|doc\b|document\b|card\b|budget|target|notes?\b|section\b)", re.I),
}


def _student_text(nb) -> list[tuple[str, str]]:
    """(where, text) for everything a student reads: sources and outputs of every cell."""
    parts = []
    for index, cell in enumerate(nb.cells):
        parts.append((f"cell {index} ({cell.cell_type})", cell.source))
        for output in cell.get("outputs", []):
            text = output.get("text") or "".join(str(v) for k, v in output.get("data", {}).items()
                                                    if k.startswith("text/"))
            parts.append((f"cell {index} output", text if isinstance(text, str) else "".join(text)))
    return parts


def jargon_hits(name: str, text_parts) -> list[str]:
    hits = []
    for where, text in [("file name", f"notebooks/{name}/{name}.ipynb"), *text_parts]:
        for word, pattern in JARGON.items():
            for match in pattern.finditer(text):
                start = max(0, match.start() - 40)
                hits.append(f"{where}: {word!r} in …{text[start:match.end() + 40]!r}…")
    return hits


def test_jargon_patterns_are_case_aware():
    def words(text):
        return [word for word, pattern in JARGON.items() if pattern.search(text)]

    assert words("run by CI on every push") == ["CI"]
    assert words("CIFAR-10 and CIFAR-100, decide, precision, Circular, ci") == []
    assert words("QUICK = True\nSEED = 0\nseed_everything(SEED); torch.manual_seed(SEED)") == []
    assert words("the lecture (seed 000) says") and words("SEED001_MLP") and words("see seed 3")
    assert words("the design budget") and words("(design §5)") and words("papermill") and words("nbgrader")
    assert words("a hand-designed kernel; we design filters; Design the network") == []
    assert words("the autograder checks") and not words("autograd computes the gradient")


@pytest.mark.parametrize("name", STUDENT_COPIES)
def test_student_copy_has_no_internal_words(name):
    nb = nbformat.read(layout.notebook_path(name, layout.NOTEBOOKS), as_version=4)
    hits = jargon_hits(name, _student_text(nb))
    assert not hits, f"notebooks/{name} speaks project-internal words to students:\n" + "\n".join(hits)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def bad_errors(executed) -> list[str]:
    """Every error output that is neither an exercise stub's NotImplementedError nor ExerciseNotDone."""
    bad = []
    for index, cell in enumerate(executed.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            ename, evalue = output.get("ename", "?"), output.get("evalue", "")
            if ename == "ExerciseNotDone":
                continue
            # a stub's body is `raise NotImplementedError()`: the innermost frame is a notebook cell
            # ("Cell In[..]", not "File .../torch/...") showing that line
            frames = [_ANSI.sub("", part) for part in output.get("traceback", [])]
            frames = [part.lstrip() for part in frames if re.match(r"\s*(Cell In\[|File )", part)]
            if ename == "NotImplementedError" and frames and frames[-1].startswith("Cell In[") \
                    and "raise NotImplementedError" in frames[-1]:
                continue
            head = cell.source.strip().splitlines()[0][:70] if cell.source.strip() else ""
            bad.append(f"cell {index} ({head!r}): {ename}: {evalue[:200]}")
    return bad


@pytest.mark.slow
@pytest.mark.parametrize("name", STUDENT_COPIES)
def test_blank_copy_runs_without_cascades(name):
    from nbclient import NotebookClient

    path = layout.notebook_path(name, layout.NOTEBOOKS)
    nb = nbformat.read(path, as_version=4)
    assert any("QUICK = True" in c.source for c in nb.cells if c.cell_type == "code"), "quick mode by default"
    client = NotebookClient(nb, timeout=min(CELL_TIMEOUT_S, 300), kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors, "a blank copy should stop at its first exercise stub"
    bad = bad_errors(nb)
    assert not bad, f"a blank notebooks/{name} run top to bottom shows errors other than an exercise " \
                    f"stub or a one-line `needs(...)` notice (first: {bad[0]}):\n" + "\n".join(bad)
