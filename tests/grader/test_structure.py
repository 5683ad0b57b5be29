"""The package's shape: the students' library never imports the grader, no import cycles, short functions."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import cnncourse

PACKAGE = Path(cnncourse.__file__).parent
LIBRARY = ("data", "train", "viz", "report", "pretrained", "student", "bench")  # what notebooks import


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The cnncourse modules a file imports, anywhere in it (function-level imports too)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found |= {module} | {f"{module}.{a.name}" for a in node.names}
    return {m for m in found if m in GRAPH_NODES}


GRAPH_NODES = {_module_name(p) for p in PACKAGE.rglob("*.py")}
GRAPH = {_module_name(p): _imports(p) - {_module_name(p)} for p in PACKAGE.rglob("*.py")}


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_graph_sees_real_imports():
    assert "cnncourse.layout" in GRAPH["cnncourse.data"], "data reads its paths from layout"
    assert "cnncourse.grader.executor" in GRAPH["cnncourse.grader.grading"]
    assert "cnncourse.grader.zygote" in GRAPH["cnncourse.grader.executor"]


@pytest.mark.parametrize("module", LIBRARY)
def test_the_students_library_never_reaches_the_grader(module):
    reached = sorted(m for m in _reachable(f"cnncourse.{module}") if m.startswith("cnncourse.grader"))
    assert not reached, f"cnncourse.{module} imports the grader: {reached}"


def test_the_grader_does_not_import_data():
    reached = {m for name in GRAPH if name.startswith("cnncourse.grader") for m in GRAPH[name]}
    assert "cnncourse.data" not in reached, "the grader needs the data folder's path, not the data module (torch)"


def test_no_import_cycles():
    # a package's __init__ and its modules are one node: ``from . import x`` in __init__ is not a cycle
    cycles = [(a, b) for a in GRAPH for b in _reachable(a) if a in _reachable(b) and a < b]
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_no_grader_function_over_60_lines():
    long = []
    for path in sorted((PACKAGE / "grader").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long.append(f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long


def test_importing_the_grader_does_not_import_torch():
    code = "import sys, cnncourse.grader.grading, cnncourse.grader.bench; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", "the coordinator imports torch (only the zygote needs it)"
