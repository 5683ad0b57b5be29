"""Scores from an executed notebook (nbgrader's rule, stderr ignored), the trusted check and the status."""
from __future__ import annotations

from dataclasses import dataclass, field

import nbformat

from . import trusted
from .assignment import grade_id, label
from .intake import copy_node
from .records import Execution


@dataclass(frozen=True)
class CellScore:
    points: float
    status: str  # the cell's run status (records.CELL_STATUSES)


@dataclass
class Scored:
    scores: dict  # grade_id -> CellScore, in notebook order
    failures: list  # (cell label, "timeout" | "crashed") of every cell that failed, graded or not
    suspicious: list = field(default_factory=list)
    verified: list = field(default_factory=list)  # grade ids the trusted run confirmed

    @property
    def points(self) -> dict:
        return {gid: score.points for gid, score in self.scores.items()}


def score_cell(cell, status: str) -> float:
    """nbgrader's rule for a test cell, on its errors only: an error costs the points. Results and displays
    never score (nbgrader would read a number in an ``execute_result`` as partial credit: a student could push one)."""
    from nbgrader.utils import determine_grade

    if status in ("timeout", "crashed", "not-run"):
        return 0.0
    quiet = copy_node(cell)
    quiet.outputs = [nbformat.from_dict(o) for o in cell.outputs if o.get("output_type") == "error"]
    quiet.metadata.nbgrader.pop("checksum", None)
    earned, _ = determine_grade(quiet)
    return float(earned or 0.0)


def apply_execution(notebook, execution: Execution) -> Scored:
    """Put the outputs into the notebook and score its graded cells."""
    failures = []
    for index, run in execution.cells.items():
        cell = notebook.cells[index]
        cell.outputs = [nbformat.from_dict(o) for o in run.outputs]
        if run.status in ("timeout", "crashed"):
            failures.append((label(cell), run.status))
    scores = {grade_id(c): CellScore(score_cell(c, execution.cell(k).status), execution.cell(k).status)
              for k, c in enumerate(notebook.cells) if grade_id(c)}
    return Scored(scores, failures)


def check_trusted(scored: Scored, calls, replay: Execution | None) -> dict:
    """Take back the points of test cells the trusted run did not confirm; ``{grade_id: Verdict}``."""
    if not calls:
        return {}
    checked = trusted.verdicts(calls, replay.replayed if replay is not None else None)
    for gid, verdict in checked.items():
        score = scored.scores[gid]
        if verdict.ok:
            scored.verified.append(gid)
            continue
        if score.points > 0:
            scored.suspicious.append(f"{gid} passed in the notebook but not in the trusted re-run ({verdict.why})")
        scored.scores[gid] = CellScore(0.0, score.status)
    scored.verified.sort()
    return checked


def overall_status(scored: Scored, tampered: list, late_by: float | None, execution: Execution,
                   timeout: float) -> tuple[str, str]:
    """The one status of a submission and the reason, from everything that happened to it."""
    reasons = list(tampered) + list(scored.suspicious)
    for name, kind in scored.failures:
        reasons.append(f"cell {name} {'timed out after %g s' % timeout if kind == 'timeout' else 'crashed'}")
    not_run = [gid for gid, score in scored.scores.items() if score.status == "not-run"]
    if not_run:
        reasons.append(f"not run: {', '.join(not_run)}")
    late = late_by is not None and late_by > 0
    if late:
        reasons.append(f"submitted {_duration(late_by)} after the deadline")
    if tampered:
        status = "tampered"
    elif scored.suspicious:
        status = "suspicious"
    elif execution.unfinished or not_run:
        status = "timeout" if any(kind == "timeout" for _, kind in scored.failures) else "crashed"
    elif scored.failures:
        status = "partial"
    else:
        status = "late" if late else "graded"
    return status, "; ".join(reasons)


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min {int(seconds % 60)} s"
