"""Grades in the layout an LMS imports: ``--export canvas|moodle|csv`` (``--export-by notebook|cell``).

* **canvas** — Canvas Gradebook CSV import (Instructure, Canvas Instructor Guide, "How do I import grades in
  the Gradebook?"; the file Canvas itself exports from Gradebook → Export): the identity columns
  ``Student, ID, SIS User ID, SIS Login ID, Section`` come first, then one column per assignment headed by
  its name (a name Canvas does not know yet creates that assignment), and a second row ``Points Possible``
  with each column's maximum. The student id the grader knows (the submission's folder or file prefix) goes
  into ``SIS Login ID``, which Canvas matches; ``ID`` (Canvas's internal user id) is left blank.
* **moodle** — Moodle's "Import grades from CSV" (Moodle Docs, "Grade import"): a header row, a column
  identifying the user (here ``Username``, chosen under "Map from" → "Map to: username" at import), one
  column per grade item mapped at import, and a ``Feedback`` column that can be mapped to the item's feedback.
* **csv** — plain: ``student``, the columns, ``total``, ``max``, ``percent``, ``status``, ``reason``.

``by="notebook"`` writes one column per notebook (its total after overrides and late penalty);
``by="cell"`` one column per test cell (named ``<notebook> <grade id>``; a late penalty is then only in the
total and the reason, as no single cell carries it).
"""
from __future__ import annotations

import csv
from pathlib import Path

FORMATS = ("canvas", "moodle", "csv")


def _columns(report: dict, by: str) -> list[tuple[str, float, callable]]:
    """(header, maximum, row → value) for each grade column."""
    name = report["assignment"]
    if by == "notebook":
        return [(name, report["max"], lambda r: r["total"])]
    if by == "cell":
        return [(f"{name} {cell}", points, lambda r, c=cell: r["cells"].get(c, 0.0))
                for cell, points in report["cells"].items()]
    raise ValueError(f"export by {by!r}: use notebook or cell")


def _number(value: float) -> str:
    return f"{value:g}"


def rows(report: dict, fmt: str, by: str = "notebook") -> list[list[str]]:
    """The export as rows of strings (header first)."""
    columns = _columns(report, by)
    heads = [h for h, _, _ in columns]
    students = report["students"]
    if fmt == "canvas":
        out = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *heads],
               ["Points Possible", "", "", "", "", *(_number(m) for _, m, _ in columns)]]
        out += [[r["student"], "", "", r["student"], "", *(_number(v(r)) for _, _, v in columns)] for r in students]
    elif fmt == "moodle":
        out = [["Username", *heads, "Feedback"]]
        out += [[r["student"], *(_number(v(r)) for _, _, v in columns), _feedback(r)] for r in students]
    elif fmt == "csv":
        out = [["student", *heads, "total", "max", "percent", "status", "reason"]]
        out += [[r["student"], *(_number(v(r)) for _, _, v in columns), _number(r["total"]), _number(r["max"]),
                 f"{100 * r['total'] / r['max']:.1f}" if r["max"] else "", r["status"], r.get("reason", "")]
                for r in students]
    else:
        raise ValueError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
    return out


def _feedback(row: dict) -> str:
    said = f"{row['total']:g} / {row['max']:g} points, {row['status']}"
    return said + (f": {row['reason']}" if row.get("reason") else "")


def export(report: dict, fmt: str, path: Path, by: str = "notebook") -> Path:
    """Write the ``fmt`` export of ``report`` to ``path`` (UTF-8, comma-separated, as both LMSs accept)."""
    table = rows(report, fmt, by)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(table)
    return path
