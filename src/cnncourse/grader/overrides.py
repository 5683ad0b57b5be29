"""Manual overrides on top of autograded points, kept across regrades, and what a regrade changed.

``overrides.csv`` has the columns ``student,cell,points,comment`` (``cell`` a test cell's grade id). The
grader keeps its copy in ``--out/overrides.csv``: ``--overrides FILE`` replaces that copy, and every later
run in the same ``--out`` (``--force`` regrades included) applies it again, so a fixed hidden test never
loses a hand-given mark. Autograded points stay in ``autograded`` per student; ``cells`` holds what counts.
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

KEPT = "overrides.csv"  # the copy inside --out


def read_overrides(path: Path, report: dict) -> dict:
    """{(student, cell): (points, comment)}, checked against the report: unknown names or points out of range fail."""
    students = {r["student"] for r in report["students"]}
    cells = report["cells"]
    out, problems = {}, []
    with Path(path).open(newline="", encoding="utf-8-sig") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            student, cell = row.get("student", ""), row.get("cell", "")
            try:
                points = float(row.get("points", ""))
            except ValueError:
                problems.append(f"line {line}: points {row.get('points')!r} is not a number")
                continue
            if student not in students:
                problems.append(f"line {line}: no student {student!r} in this class")
            elif cell not in cells:
                problems.append(f"line {line}: no test cell {cell!r} (cells: {', '.join(cells)})")
            elif not 0 <= points <= cells[cell]:
                problems.append(f"line {line}: {points:g} points for {cell} is outside 0..{cells[cell]:g}")
            else:
                out[student, cell] = (points, row.get("comment", ""))
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return out


def keep(out_dir: Path, given: Path | None) -> Path | None:
    """The overrides file that applies to ``out_dir``: ``given`` is copied there first; else the kept copy."""
    kept = Path(out_dir) / KEPT
    if given is not None:
        if Path(given).resolve() != kept.resolve():
            shutil.copyfile(given, kept)
    return kept if kept.is_file() else None


def apply_overrides(report: dict, overrides: dict) -> dict:
    """The report with overridden cells: ``cells`` what counts, ``autograded`` the grader's points, reasons said."""
    report = {**report, "students": [dict(r) for r in report["students"]]}
    for row in report["students"]:
        row["autograded"] = dict(row.get("autograded") or row["cells"])
        row["cells"] = dict(row["autograded"])
        row["overrides"] = {}
        said = []
        for cell in report["cells"]:
            if (row["student"], cell) in overrides:
                points, comment = overrides[row["student"], cell]
                row["overrides"][cell] = {"points": points, "comment": comment}
                row["cells"][cell] = points
                said.append(f"override {cell}: {row['autograded'][cell]:g} → {points:g}"
                            + (f" ({comment})" if comment else ""))
        row["reason"] = "; ".join(filter(None, [row.get("reason", ""), *said]))
        row["total"] = round(max(0.0, sum(row["cells"].values()) - row.get("late_penalty", 0.0)), 4)
    return report


def changes(previous: dict | None, report: dict) -> list[dict]:
    """Whose points moved since the last report in this folder, per cell and in total (a regrade's receipt)."""
    if not previous:
        return []
    before = {r["student"]: r for r in previous.get("students", [])}
    moved = []
    for row in report["students"]:
        old = before.get(row["student"])
        if old is None:
            continue
        cells = {c: (old["cells"].get(c, 0.0), p) for c, p in row["cells"].items() if old["cells"].get(c, 0.0) != p}
        if cells or old["total"] != row["total"]:
            moved.append({"student": row["student"], "before": old["total"], "after": row["total"],
                          "delta": round(row["total"] - old["total"], 4),
                          "cells": {c: {"before": b, "after": a} for c, (b, a) in cells.items()}})
    return moved


def write_changes(path: Path, moved: list[dict]) -> Path:
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "before", "after", "delta", "cells"])
        for m in moved:
            writer.writerow([m["student"], f"{m['before']:g}", f"{m['after']:g}", f"{m['delta']:+g}",
                             "; ".join(f"{c} {v['before']:g}→{v['after']:g}" for c, v in m["cells"].items())])
    return Path(path)
