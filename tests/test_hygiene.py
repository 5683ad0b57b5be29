"""Hygiene with standard tools: ruff over the package, tests, scripts and the solution notebooks' code
(rules in pyproject.toml), ruff's formatter on the files already formatted with it, and student copies
without outputs or execution counts (what nbstripout would remove)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
# Formatted with `ruff format`; the rest of the code follows when the coordinator formats it (then: ".").
FORMATTED = [
    "src/cnncourse/grader/check.py",
    "src/cnncourse/layout.py",
    "scripts/lab_config.py",
    "scripts/stamp_colab.py",
    "tests/install_venv.py",
    "tests/grader/test_check.py",
    "tests/test_hygiene.py",
    "tests/test_install_colab.py",
    "tests/test_install_lab.py",
    "tests/test_install_locate.py",
    "tests/test_install_wheel.py",
    "tests/test_browser.py",
]


def _ruff() -> list[str]:
    beside = Path(sys.executable).parent / "ruff"
    found = str(beside) if beside.exists() else shutil.which("ruff")
    if found is None:
        pytest.skip("ruff is not installed (it is pinned in requirements.txt: make setup installs it)")
    return [found]


def test_ruff_check():
    done = subprocess.run([*_ruff(), "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format():
    files = [f for f in FORMATTED if (REPO / f).exists()]
    assert files == FORMATTED, f"FORMATTED names files that are gone: {sorted(set(FORMATTED) - set(files))}"
    done = subprocess.run(
        [*_ruff(), "format", "--check", "--no-cache", *files], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", sorted(REPO.glob("notebooks/*/*.ipynb")), ids=lambda p: p.parent.name)
def test_student_copies_carry_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [k + 1 for k, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; regenerate with `make release`"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state in the metadata"


def test_stamped_colab_cells_are_current():
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "stamp_colab.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_renders_and_documents_what_the_code_has():
    readme = (REPO / "README.md").read_text()
    assert readme.count("```") % 2 == 0, "an unclosed code block"
    code = "\n".join(p.read_text() for p in (REPO / "src").rglob("*.py"))
    variables = set(re.findall(r"CNNCOURSE_[A-Z_]+", code))
    assert variables and {v for v in variables if f"`{v}`" not in readme} == set()
    modules = {p.stem for p in (REPO / "src" / "cnncourse").rglob("*.py")} - {"__init__", "__main__"}
    assert {m for m in modules if f"`{m}`" not in readme} == set(), "a module missing from the module table"
    targets = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), flags=re.M))
    assert set(re.findall(r"\bmake ([a-z][\w-]*)", readme)) <= targets
    links = re.findall(r"\]\((?!https?:|#)([^)]+)\)", readme)
    assert links, "the README links to no file of the repository: is the pattern still right?"
    assert [link for link in links if not (REPO / link).exists()] == [], "README links to files not in the repository"


def _top_level_names(source: str) -> list[str]:
    import ast

    text = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    return [node.name for node in ast.parse(text).body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]


def test_no_helper_is_defined_twice():
    """A helper lives in one place: no function or class of a notebook's own cells is defined again in another
    notebook, twice in one notebook, or in the students' library. Answers are exempt (writing them is the
    exercise, and their tests compare them with the library's version), so are hidden tests (each test cell
    stays self-contained: a student may re-run it alone)."""
    import ast

    from cnncourse import layout

    library = {
        node.name: f"src/cnncourse/{path.name}"
        for path in (REPO / "src" / "cnncourse").glob("*.py")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef))
    }
    seen, twice = {}, []
    assert layout.assignments(), "no notebook found: nothing would be checked"
    for name in layout.assignments():
        for cell in nbformat.read(layout.notebook_path(name), as_version=4).cells:
            role = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or role.get("solution") or role.get("grade"):
                continue
            for defined in _top_level_names(cell.source):
                where = seen.get(defined) or library.get(defined)
                if where:
                    twice.append(f"{defined}: {name} and {where}")
                seen.setdefault(defined, name)
    assert not twice, "defined twice (move it to cnncourse, or use the library's): " + "; ".join(twice)


def test_readme_coverage_table_is_current():
    """The README's coverage table says, per notebook, how the grader verifies each point: keep it true."""
    from cnncourse import layout
    from cnncourse.grader.assignment import grade_id
    from cnncourse.grader.plan import honesty_rules, probes

    readme = (REPO / "README.md").read_text()
    assert layout.assignments(), "no notebook found: nothing would be checked"
    for name in layout.assignments():
        nb = nbformat.read(layout.notebook_path(name), as_version=4)
        points = {
            grade_id(c): float(c.metadata["nbgrader"]["points"])
            for c in nb.cells
            if grade_id(c) and c.metadata["nbgrader"].get("grade")
        }
        probed = {p.cell for p in probes(nb)}
        rules = ", ".join(f"`{r}`" for r in sorted(honesty_rules(nb))) or "—"
        honour = sum(len(re.findall(r"honour[ -]code", c.source, re.I)) for c in nb.cells if c.cell_type == "markdown")
        row = (
            f"| `{name}` | {sum(points.values()):g} | {sum(v for k, v in points.items() if k not in probed):g} | "
            f"{sum(v for k, v in points.items() if k in probed):g} | {rules} | {honour or '—'} |"
        )
        assert row in readme, f"README's coverage table: expected the row {row}"
