"""The class's results: one row per student, report.json, grades.csv and the terminal summary."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .config import STATUSES, UNREADABLE
from .files import atomic_write


@dataclass
class StudentResult:
    """One student's row of report.json (and of grades.csv)."""
    student: str
    notebook: str
    file: str
    sha256: str
    status: str
    reason: str
    notes: list
    timestamp: str | None
    cells: dict  # grade_id -> points
    total: float
    max: float
    seconds: float | None = None  # of the in-notebook run's cells
    cell_seconds: dict = field(default_factory=dict)  # cell label -> seconds of the in-notebook run
    job_seconds: float | None = None  # both runs, wall time as the coordinator saw them
    grader_seconds: float | None = None  # the coordinator's own work: intake, scoring, feedback page, gradebook
    attempts: int | None = None
    sandbox: str | None = None
    verified: list = field(default_factory=list)  # graded cells confirmed by the trusted run
    unverified: list = field(default_factory=list)  # graded cells with no replayable call
    skipped: list = field(default_factory=list)  # cells no graded cell depends on: not run
    resumed: bool = False
    timestamp_source: str | None = None  # where the submission time came from (zip entry, file, timestamp.txt)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> StudentResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def class_report(assignment, rows: list, ignored: list, summary: dict) -> dict:
    """The document written to report.json."""
    rows = sorted(rows, key=lambda r: r.student)
    scored = [r.total for r in rows if r.status not in UNREADABLE]
    summary = {"students": len(rows), "counts": {s: sum(r.status == s for r in rows) for s in STATUSES},
               "graded_now": summary.pop("graded_now"), "resumed": sum(r.resumed for r in rows),
               "mean_total": round(sum(scored) / len(scored), 3) if scored else None, **summary}
    return {"assignment": assignment.name, "max": assignment.max_score, "cells": assignment.points,
            "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"), "summary": summary,
            "ignored": ignored, "students": [r.to_dict() for r in rows]}


def write_report(out: Path, report: dict) -> None:
    write_grades_csv(out / "grades.csv", report)
    atomic_write(out / "report.json", json.dumps(report, indent=1))


def write_grades_csv(path: Path, report: dict) -> Path:
    """One row per student: each graded cell's points, total, max, status and reason."""
    cells = list(report["cells"])
    rows = [["student", "notebook", *cells, "total", "max", "status", "reason"]]
    for r in report["students"]:
        rows.append([r["student"], r["notebook"], *(f"{r['cells'].get(c, 0.0):g}" for c in cells),
                     f"{r['total']:g}", f"{r['max']:g}", r["status"], r["reason"]])
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    path = Path(path)
    atomic_write(path, text.getvalue())
    return path


def summary_table(report: dict) -> str:
    """Counts per status and the mean score, for the terminal."""
    s = report["summary"]
    lines = [f"{report['assignment']}: {s['students']} student(s) in {s['seconds']:.1f} s "
             f"({s['graded_now']} graded now, {s['resumed']} resumed, {s['workers']} worker(s), {s['executor']})"]
    lines += [f"  {status:<17} {n:>4}" for status, n in s["counts"].items() if n]
    mean = "n/a" if s["mean_total"] is None else f"{s['mean_total']:g} / {report['max']:g}"
    lines.append(f"  mean score        {mean}")
    if "verified_points" in s:
        share = s["verified_points"] / report["max"] if report["max"] else 1.0
        lines.append(f"  verified outside the students' processes: {s['verified_points']:g} of {report['max']:g} "
                     f"points ({share:.0%}); the rest keeps the in-notebook verdict ({', '.join(s['unverified_cells'])})"
                     if s["unverified_cells"] else
                     f"  verified outside the students' processes: every point ({report['max']:g})")
    if s.get("skipped_cells"):
        lines.append(f"  cells not run     {len(s['skipped_cells'])} (no graded cell depends on them)")
    return "\n".join(lines)
