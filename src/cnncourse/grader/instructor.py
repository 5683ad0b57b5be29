"""After ``cnncourse grade`` has scored the class: overrides, late policy, regrade receipt, dashboard, exports.

``finish`` is the one call the grader makes at the end of a run. It works on the report ``grade`` wrote and
rewrites ``grades.csv`` and ``report.json`` with what counts; the gradebook is kept in agreement through
nbgrader's own fields: a cell's ``auto_score`` stays the grader's points, an override is its
``manual_score`` (nbgrader's ``score`` is the manual score when there is one), and the late penalty is the
submitted notebook's ``late_submission_penalty`` — so ``score - late_submission_penalty`` in the gradebook
is the ``total`` in ``grades.csv``, as ``nbgrader export`` reports it. The feedback page of a student whose
points an override or a penalty changes is rewritten from the gradebook, so it shows what counts.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

from . import config, dashboard, lms_export, overrides
from .config import STATUSES
from .feedback import assignment_markdown, banner, feedback_html
from .files import atomic_write
from .gradebook import db_url as gradebook_url
from .late_policy import LatePolicy, apply_policy, read_extensions
from .report import write_grades_csv


def load_previous(out: Path) -> dict | None:
    """The report of the last run in ``out`` (read before a regrade overwrites it)."""
    try:
        return json.loads((Path(out) / "report.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _summary(report: dict) -> dict:
    rows = report["students"]
    scored = [r["total"] for r in rows if r["status"] not in dashboard.UNGRADED]
    return {**report["summary"], "counts": {s: sum(r["status"] == s for r in rows) for s in STATUSES},
            "mean_total": round(sum(scored) / len(scored), 3) if scored else None}


def sync_gradebook(db_url: str, report: dict) -> None:
    """Overrides as ``manual_score`` (cleared where none), the late penalty per submitted notebook."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    name = report["assignment"]
    with Gradebook(db_url) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        for row in report["students"]:
            try:
                notebook = gradebook.find_submission_notebook(name, name, row["student"])
            except MissingEntry:  # no readable notebook: nothing in the gradebook to adjust
                continue
            for grade in notebook.grades:
                given = (row.get("overrides") or {}).get(grade.name)
                grade.manual_score = None if given is None else given["points"]
            notebook.late_submission_penalty = row.get("late_penalty") or 0.0
        gradebook.db.commit()


def check_options(late_policy: str | None, deadline, extensions_csv: Path | None, overrides_csv: Path | None) -> None:
    """Fail before grading, not after: a policy that does not parse, a policy without a deadline, missing files."""
    from .grading import parse_deadline

    LatePolicy.parse(late_policy)
    if late_policy and deadline is None and extensions_csv is None:
        raise ValueError("--late-policy needs --deadline (or --extensions)")
    read_extensions(extensions_csv, parse_deadline(deadline))
    if overrides_csv is not None and not Path(overrides_csv).is_file():
        raise FileNotFoundError(f"overrides file not found: {overrides_csv}")


def _adjusted(row: dict | None) -> bool:
    return bool(row and (row.get("overrides") or row.get("late_penalty")))


def refresh_feedback(out: Path, db_url: str, report: dict, previous: dict | None, course_root: Path) -> list[str]:
    """Rewrite the feedback page of every student whose points an override or penalty changes (or changed)."""
    import nbformat

    before = {r["student"]: r for r in (previous or {}).get("students", [])}
    name, done = report["assignment"], []
    trusted = assignment_markdown(nbformat.read(config.source_notebook(name, course_root), as_version=4))
    for row in report["students"]:
        notebook = Path(out) / "autograded" / row["student"] / f"{name}.ipynb"
        if not (_adjusted(row) or _adjusted(before.get(row["student"]))) or not notebook.is_file():
            continue
        heading = banner(row["total"], row["max"], row["status"], row["reason"], row["notes"])
        html = feedback_html(nbformat.read(notebook, as_version=4), name, row["student"], db_url, heading, trusted)
        atomic_write(Path(out) / "feedback" / row["student"] / f"{name}.html", html)
        done.append(row["student"])
    return done


def finish(report: dict, out: Path, course_root: Path, previous: dict | None = None, *,
           overrides_csv: Path | None = None, late_policy: str | None = None, deadline=None,
           extensions_csv: Path | None = None, export: str | None = None, export_by: str = "notebook") -> dict:
    """Apply overrides and the late policy to ``report``, write everything, return the final report."""
    from .grading import parse_deadline

    out = Path(out)
    kept = overrides.keep(out, overrides_csv)
    report = overrides.apply_overrides(report, overrides.read_overrides(kept, report) if kept else {})
    if late_policy or extensions_csv:
        when = parse_deadline(deadline)
        report = apply_policy(report, LatePolicy.parse(late_policy), when, read_extensions(extensions_csv, when))
    report["summary"] = _summary(report)
    report["changes"] = None if previous is None else overrides.changes(previous, report)
    if previous is not None:
        overrides.write_changes(out / "changes.csv", report["changes"])
    if export:
        report["export"] = str(lms_export.export(report, export, out / f"export-{export}.csv", export_by))
    write_grades_csv(out / "grades.csv", report)
    atomic_write(out / "report.json", json.dumps(report, indent=1))
    db_url = gradebook_url(Path(course_root))
    sync_gradebook(db_url, report)
    refresh_feedback(out, db_url, report, previous, Path(course_root))
    dashboard.write_dashboard(out, report)
    return report


def changes_table(report: dict) -> str:
    """Whose scores a regrade changed, for the terminal."""
    moved = report.get("changes")
    if moved is None:
        return ""
    if not moved:
        return "no score changed since the last run"
    lines = [f"{len(moved)} score(s) changed since the last run:"]
    lines += [f"  {m['student']:<24} {m['before']:g} → {m['after']:g} ({m['delta']:+g})" for m in moved]
    return "\n".join(lines)
