"""What to run for one notebook: the kernel run (with tests), the trusted run (without), the reference."""
from __future__ import annotations

import ast
from dataclasses import dataclass

from .assignment import grade_id, is_answer
from .intake import defined_names
from .records import Cell, RecordSpec, ReplayCall
from .rules import Rule, declared
from .trusted import PROBE_PREFIX, to_plain
from .selection import Selection, select


@dataclass(frozen=True)
class RunPlan:
    kernel: tuple  # Cells of the in-notebook run: feedback and the in-kernel verdicts
    trusted: tuple  # Cells of the trusted run: the same without any test cell
    skipped: tuple  # indices of code cells no graded cell depends on (not run)


def last_graded(notebook) -> int:
    graded = [k for k, c in enumerate(notebook.cells) if grade_id(c)]
    return graded[-1] if graded else len(notebook.cells) - 1


def plan(notebook, own_ids=None, all_cells: bool = False) -> RunPlan:
    """Cells up to the last graded one that the graded cells need (``selection``); ``all_cells``: every cell.

    ``own_ids``: ids of the assignment's cells; any other cell is the student's own and always runs.
    """
    cells = notebook.cells
    code = {k: c.source for k, c in enumerate(cells[:last_graded(notebook) + 1]) if c.cell_type == "code"}
    required = {k for k in code if grade_id(cells[k]) or is_answer(cells[k])
                or (own_ids is not None and cells[k].get("id") not in own_ids)}
    chosen = Selection(tuple(sorted(code)), ()) if all_cells else select(code, required)
    kernel = range(len(cells)) if all_cells else chosen.run
    kernel = tuple(Cell(k, cells[k].source) for k in kernel if cells[k].cell_type == "code")
    trusted = tuple(Cell(k, cells[k].source) for k in chosen.run if not grade_id(cells[k]))
    return RunPlan(kernel, trusted, chosen.skipped)


def record_spec(notebook, cells) -> RecordSpec:
    """For the reference run: the names each answer cell defines and each test cell's grade id."""
    nb = notebook.cells
    return RecordSpec({c.index: tuple(sorted(defined_names(c.source))) for c in cells if is_answer(nb[c.index])},
                      {c.index: grade_id(nb[c.index]) for c in cells if grade_id(nb[c.index])})


@dataclass(frozen=True)
class Probe:
    """A ``probe_*`` function of a test cell's hidden tests: called with no argument in both trusted runs."""
    cell: str  # grade id
    name: str
    source: str

    def replay_call(self) -> ReplayCall:
        return ReplayCall(self.name, to_plain([[], {}]), {"seed": 0})


def probes(notebook) -> tuple[Probe, ...]:
    """The probe functions defined at the top level of the test cells, in notebook order."""
    found = []
    for cell in notebook.cells:
        gid = grade_id(cell)
        if not gid or cell.cell_type != "code":
            continue
        text = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        found += [Probe(gid, node.name, ast.get_source_segment(text, node)) for node in tree.body
                  if isinstance(node, ast.FunctionDef) and node.name.startswith(PROBE_PREFIX)]
    return tuple(found)


def honesty_rules(notebook) -> dict[str, Rule]:
    """The rules the hidden tests declare for the trusted run (``rules.RULES_NAME`` in a test cell)."""
    return declared(c.source for c in notebook.cells if grade_id(c) and c.cell_type == "code")
