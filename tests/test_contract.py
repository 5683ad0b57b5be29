"""The grading contract, for every notebook folder in solutions/ (new notebooks are covered automatically).

(a) notebooks/ equals a fresh ``nbgrader generate_assignment`` of solutions/;
(b) each solution executes top to bottom in quick mode (the ``--all-cells`` pass of (f));
(c) the class grader (``cnncourse grade``) gives the solution, submitted as is, full marks on every graded cell;
(d) it gives the untouched student copy 0 on every graded cell;
(e) every graded test cell has points and a unique grade_id, every graded answer has a hidden test,
    and the notebook follows the template (Colab badge, setup cell, parameters cell);
(f) grading only the cells the graded cells depend on gives the same scores as running every cell;
(g, h) every point is verified outside the student's process (``report.json`` says so);
(i) the blank copy with its test errors swallowed and a forged result shown still gets 0.
(c), (d), (f) and the feedback check share one release and one pair of grader passes per notebook: under
pytest-xdist a notebook's tests form one scope, run by one worker (``tests/conftest.py``).
"""
from __future__ import annotations

import html as html_lib
import re
import shutil

import nbformat
import pytest

from cnncourse import layout
from cnncourse.grader.grading import Grader
from cnncourse.report import metrics_from_notebook

from tests.notebooks import graded_class

NAMES = layout.assignments()


def test_course_has_notebooks():
    assert NAMES, "solutions/ holds no NN_topic/NN_topic.ipynb"
    assert layout.assignments(layout.NOTEBOOKS) == NAMES, "notebooks/ and solutions/ hold different folders"


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _grade_cells(nb):
    return [c for c in nb.cells if _nbgrader(c).get("grade")]


_ALL_CELLS: dict = {}


@pytest.fixture(scope="module", params=NAMES)
def graded(request, tmp_path_factory):
    """Per notebook: the class pass shared with the mutant checks (``tests.notebooks.graded_class``: solution,
    blank copy, forger, mutant), and the solution and blank copy again with every cell (``--all-cells``).

    Both passes are computed once per test process: pytest sets a parametrized module fixture up again when
    tests of other notebooks ran in between, and that must not grade the notebook again."""
    name = request.param
    if name not in _ALL_CELLS:
        shared = graded_class(name, tmp_path_factory.mktemp(name))
        pair = shared["root"] / "pair"
        for student in ("solution", "blank"):
            shutil.copytree(shared["root"] / "class" / student, pair / student)
        every = Grader(name, pair, shared["root"] / "out-all", course_root=shared["course"], progress=False,
                       all_cells=True).run()
        _ALL_CELLS[name] = {**shared, "all_cells_rows": {row["student"]: row for row in every["students"]}}
    return _ALL_CELLS[name]


@pytest.mark.slow
def test_a_student_copy_is_generated(graded):
    fresh = graded["released"].read_bytes()
    committed = layout.notebook_path(graded["name"], layout.NOTEBOOKS).read_bytes()
    assert fresh == committed, f"notebooks/{graded['name']} is stale: run `make release` and commit it"


@pytest.mark.slow
def test_b_solution_runs_in_quick_mode(graded):
    """(b) The ``--all-cells`` pass ran the solution top to bottom in quick mode (the parameters cell as
    written), every cell without an error, and the notebook recorded its key metrics. One execution serves (b)
    and (f); ``make run`` executes the same notebooks with papermill, a path tests/test_run.py and the wheel
    test (tests/test_install_wheel.py) cover."""
    name = graded["name"]
    nb = nbformat.read(graded["root"] / "out-all" / "autograded" / "solution" / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    row = graded["all_cells_rows"]["solution"]
    assert row["status"] == "graded" and len(row["cell_seconds"]) == len(code), (row["status"], row["reason"])
    failed = [f"{c.source.strip().splitlines()[0][:60] if c.source.strip() else ''!r}: {o.get('ename')}: "
              f"{o.get('evalue', '')[:200]}" for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert not failed, f"cells of the solution failed in quick mode: {failed}"
    assert metrics_from_notebook(nb), "the notebook should record its key metrics with cnncourse.report.record"


@pytest.mark.slow
def test_c_solution_gets_full_marks(graded):
    """(c) Full marks for the solution, submitted with a cell that warns and writes to stderr (``WARN``)."""
    row = graded["rows"]["solution"]
    assert row["cells"], "no graded cells were scored"
    assert row["status"] == "graded", (row["status"], row["reason"])
    lost = {cell: (row["cells"][cell], top) for cell, top in graded["cells"].items() if row["cells"][cell] != top}
    assert not lost, f"the solution lost points on {lost}"


@pytest.mark.slow
def test_d_blank_copy_gets_zero(graded):
    row = graded["rows"]["blank"]
    assert row["status"] == "graded" and row["cells"].keys() == graded["cells"].keys(), (row["status"], row["reason"])
    earned = {cell: score for cell, score in row["cells"].items() if score != 0}
    assert not earned, f"the untouched student copy earned points on {earned}"


@pytest.mark.slow
def test_f_selection_scores_like_all_cells(graded):
    for student in ("solution", "blank"):
        selected, every = graded["rows"][student], graded["all_cells_rows"][student]
        assert (selected["cells"], selected["status"]) == (every["cells"], every["status"]), \
            (student, selected["reason"], every["reason"], graded["summary"]["skipped_cells"])
        assert every["skipped"] == [], "--all-cells runs every cell"


@pytest.mark.slow
def test_g_coverage_is_reported(graded):
    """The summary says which points the trusted run verifies; every point a cell without one."""
    summary, cells = graded["summary"], graded["cells"]
    unverified = summary["unverified_cells"]
    assert set(unverified) <= set(cells) and summary["verified_points"] + sum(cells[c] for c in unverified) == sum(
        cells.values()), summary
    assert sorted(graded["rows"]["solution"]["unverified"]) == sorted(unverified)


@pytest.mark.slow
def test_h_every_point_is_verified_outside_the_students_process(graded):
    assert graded["summary"]["unverified_cells"] == [], graded["summary"]["unverified_cells"]
    assert graded["summary"]["reference_failed"] == [], "the solution's own trusted run must pass"


@pytest.mark.slow
def test_i_a_blank_copy_that_forges_its_tests_gets_zero(graded):
    """(i) The in-notebook verdicts are feedback only: with the checkers patched, asserts stripped, every test
    error swallowed and a result pushed into each cell (``tests.notebooks.FORGE``), the blank copy's
    in-notebook run looks perfect (``suspicious``), and the trusted run still gives it nothing."""
    row = graded["rows"]["forger"]
    earned = {cell: score for cell, score in row["cells"].items() if score != 0}
    assert not earned, f"a blank copy that forges its tests earned {earned} ({row['status']}: {row['reason']})"
    # "graded": stripping assert lines can break a multi-line statement, an error no trick hides (03)
    assert row["status"] in ("suspicious", "graded"), (row["status"], row["reason"])


@pytest.mark.slow
def test_feedback_hides_hidden_tests(graded):
    source = nbformat.read(layout.notebook_path(graded["name"]), as_version=4)
    student_copy = nbformat.read(layout.notebook_path(graded["name"], layout.NOTEBOOKS), as_version=4)
    # A hidden line that the student copy also shows (an import, a visible check repeated) gives nothing away.
    visible = {line.strip() for cell in student_copy.cells for line in cell.source.splitlines()}
    hidden_lines = [line.strip() for cell in _grade_cells(source) for line in
                    re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)[0].splitlines()
                    if len(line.strip()) > 25 and line.strip() not in visible]
    assert hidden_lines
    for student in ("solution", "blank"):
        html = (graded["out"] / "feedback" / student / f"{graded['name']}.html").read_text()
        text = html_lib.unescape(re.sub(r"<[^>]+>", "", html))
        shown = [line for line in hidden_lines if line in text]
        assert not shown, f"feedback for {student} shows hidden test code: {shown[:3]}"


@pytest.mark.parametrize("name", NAMES)
def test_e_grading_metadata(name):
    nb = nbformat.read(layout.notebook_path(name), as_version=4)
    ids = [_nbgrader(c)["grade_id"] for c in nb.cells if _nbgrader(c)]
    assert len(ids) == len(set(ids)), f"duplicated grade_ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    for cell in _grade_cells(nb):
        assert cell.cell_type == "code" and _nbgrader(cell).get("locked"), cell.id
        assert float(_nbgrader(cell).get("points", 0)) > 0, f"{_nbgrader(cell)['grade_id']} has no points"
    # every graded answer is followed (before the next answer) by a grade cell with a hidden test
    answers = [i for i, c in enumerate(nb.cells) if _nbgrader(c).get("solution") and c.cell_type == "code"]
    assert answers, "no graded answer cells"
    for k, start in enumerate(answers):
        stop = answers[k + 1] if k + 1 < len(answers) else len(nb.cells)
        tests = [c for c in nb.cells[start + 1:stop] if _nbgrader(c).get("grade")]
        grade_id = _nbgrader(nb.cells[start])["grade_id"]
        assert tests, f"answer {grade_id} has no test cell after it"
        assert any("### BEGIN HIDDEN TESTS" in c.source and "### END HIDDEN TESTS" in c.source for c in tests), \
            f"answer {grade_id} has no hidden test"
        assert "### BEGIN SOLUTION" in nb.cells[start].source, grade_id


@pytest.mark.parametrize("name", NAMES)
def test_e_template(name):
    nb = nbformat.read(layout.notebook_path(name), as_version=4)
    first = nb.cells[0].source
    assert nb.cells[0].cell_type == "markdown" and first.startswith("# "), "a title comes first"
    assert "colab.research.google.com" in first and "colab-badge" in first, "Open in Colab badge"
    assert re.search(r"\*\*Time:\*\*", first), "time estimate"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "google.colab" in code[0].source, "the first code cell is the Colab setup cell"
    assert "pip" in code[0].source and "torch" not in re.sub(r"#.*", "", code[0].source), \
        "the setup cell installs cnncourse only (Colab ships torch)"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and code.index(params[0]) == 1, "the second code cell is tagged parameters"
    for line in ("QUICK = True", 'DEVICE = "auto"', "SEED = 0"):
        assert line in params[0].source, line
    assert any(c.cell_type == "markdown" and c.source.lstrip("# ").lower().startswith("summary") for c in nb.cells)


@pytest.mark.parametrize("name", NAMES)
def test_student_copy_has_no_solutions(name):
    text = layout.notebook_path(name, layout.NOTEBOOKS).read_text()
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
        assert marker not in text, f"notebooks/{name} contains {marker}"
