"""The class at a glance: ``--out/index.html`` written by ``cnncourse grade``.

One static page, no JavaScript and no server: the score histogram and the per-cell pass rates as inline SVG
drawn by matplotlib, the most frequent failure messages of each test cell (read from the autograded
notebooks, grouped by exception and first line of the message), statuses with their reasons, time per
cell, late submissions with the penalty taken, overrides, and a link to each student's feedback page.
"""
from __future__ import annotations

import html
import io
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import nbformat

from .config import UNREADABLE

UNGRADED = UNREADABLE
TOP_MESSAGES = 5


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def histogram_svg(totals: list[float], max_points: float, title: str) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    step = max(max_points / 20, 0.5) if max_points > 10 else 0.5
    edges = [k * step for k in range(int(max_points / step) + 2)]
    ax.hist(totals, bins=[e - step / 2 for e in edges], color="#4c72b0", edgecolor="white")
    ax.set(title=title, xlabel=f"total points (of {max_points:g})", ylabel="students", xlim=(-step, max_points + step))
    return _svg(fig)


def pass_rate_svg(rates: dict[str, float]) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 0.6 + 0.45 * len(rates)))
    ax = fig.add_subplot()
    names = list(rates)[::-1]
    ax.barh(names, [100 * rates[n] for n in names], color="#55a868")
    ax.set(title="students with full points per test cell", xlabel="% of students with a notebook", xlim=(0, 100))
    return _svg(fig)


def _grade_id(cell) -> str | None:
    meta = cell.metadata.get("nbgrader", {})
    return meta.get("grade_id") if meta.get("grade") else None


def failure_messages(out: Path, report: dict) -> dict:
    """From the error outputs of the autograded notebooks: {grade id: (Counter(message → count),
    {(grade id, message): students})}."""
    found: dict[str, Counter] = defaultdict(Counter)
    who: dict[tuple, list] = defaultdict(list)
    for row in report["students"]:
        path = Path(out) / "autograded" / row["student"] / f"{report['assignment']}.ipynb"
        if row["status"] in UNGRADED or not path.is_file():
            continue
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            gid = _grade_id(cell)
            if not gid or row["autograded" if "autograded" in row else "cells"].get(gid, 0) >= report["cells"][gid]:
                continue
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                first = (errors[-1].get("evalue") or "").strip().splitlines()
                ename = errors[-1].get("ename", "Error")
                message = f"{ename}: {first[0]}" if first else ename
            elif not cell.get("outputs"):
                message = "no output (cell not run: time-out or crash earlier)"
            else:
                message = "passed in the notebook, failed the trusted re-run"
            message = re.sub(r"0x[0-9a-f]+", "0x…", message)[:300]
            found[gid][message] += 1
            who[gid, message].append(row["student"])
    return {gid: (counter, who) for gid, counter in found.items()}


def _table(head: list[str], body: list[list[str]]) -> str:
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body)
    return "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{rows}</table>"


def _e(value) -> str:
    return html.escape(str(value))


def _hours(seconds) -> str:
    return "" if seconds is None else f"{seconds / 3600:.1f} h"


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f0f0f0}h2{margin-top:1.6em}.bad{color:#a00}svg{max-width:100%;height:auto}"""


def render(out: Path, report: dict) -> str:
    """The page as a string (``write_dashboard`` writes it)."""
    out = Path(out)
    name, rows = report["assignment"], report["students"]
    with_notebook = [r for r in rows if r["status"] not in UNGRADED]
    parts = [*_summary_section(report, with_notebook), _cells_section(out, report, with_notebook),
             _status_section(rows), _time_section(with_notebook), _late_section(rows),
             _students_section(out, name, rows)]
    body = "\n".join(p for p in parts if p)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(name)} dashboard</title>'
            f"<style>{STYLE}</style></head><body>{body}</body></html>")


def _summary_section(report: dict, with_notebook: list) -> list[str]:
    name, rows = report["assignment"], report["students"]
    totals = [r["total"] for r in with_notebook]
    mean = statistics.mean(totals) if totals else None
    parts = [f"<h1>{_e(name)}: class dashboard</h1>",
             f"<p id='summary'>{len(rows)} students, {len(with_notebook)} with a notebook; mean "
             f"{'n/a' if mean is None else f'{mean:.2f}'} / {report['max']:g}, median "
             f"{'n/a' if not totals else f'{statistics.median(totals):g}'}; "
             f"generated {_e(report.get('generated', ''))}</p>"]
    if report.get("late_policy"):
        parts.append(f"<p>Late policy: {_e(report['late_policy']['policy'])}; deadline "
                     f"{_e(report['late_policy']['deadline'])}</p>")
    parts.append("<h2>Scores</h2>" + (histogram_svg(totals, report["max"], f"{name}: total points") if totals
                                      else "<p>no graded notebook</p>"))
    return parts


def _cells_section(out: Path, report: dict, with_notebook: list) -> str:
    """Per test cell: points, share with full points, mean, the most frequent failure messages."""
    cells = report["cells"]
    rates = {gid: (sum(r["cells"].get(gid, 0) >= pts for r in with_notebook) / len(with_notebook)
                   if with_notebook else 0.0) for gid, pts in cells.items()}
    messages = failure_messages(out, report)
    cell_rows = []
    for gid, pts in cells.items():
        got = [r["cells"].get(gid, 0) for r in with_notebook]
        counter, who = messages.get(gid, (Counter(), {}))
        top = "<br>".join(f"<b>{n}×</b> <code>{_e(m)}</code> ({_e(', '.join(who[gid, m][:6]))}"
                          f"{'…' if n > 6 else ''})" for m, n in counter.most_common(TOP_MESSAGES)) or "—"
        cell_rows.append([f"<code>{_e(gid)}</code>", f"{pts:g}", f"{100 * rates[gid]:.0f}%",
                          f"{statistics.mean(got):.2f}" if got else "", top])
    return ("<h2>Test cells</h2>" + (pass_rate_svg(rates) if cells and with_notebook else "")
            + _table(["cell", "points", "full points", "mean", "most frequent failures"], cell_rows))


def _status_section(rows: list) -> str:
    by_status = defaultdict(list)
    for r in rows:
        by_status[r["status"]].append(r)
    status_rows = [[_e(s), str(len(rs)), "<br>".join(f"{_e(r['student'])}: {_e(r.get('reason') or '')}" for r in rs
                                                     if r.get("reason"))]
                   for s, rs in sorted(by_status.items(), key=lambda item: -len(item[1]))]
    return "<h2>Statuses</h2>" + _table(["status", "students", "reasons"], status_rows)


def _time_section(with_notebook: list) -> str:
    seconds = defaultdict(list)
    for r in with_notebook:
        for label, s in (r.get("cell_seconds") or {}).items():
            seconds[label].append(s)
    if not seconds:
        return ""
    return "<h2>Time per cell</h2>" + _table(
        ["cell", "median s", "max s", "slowest"],
        [[f"<code>{_e(label)}</code>", f"{statistics.median(v):.2f}", f"{max(v):.2f}",
          _e(max((r for r in with_notebook if label in (r.get("cell_seconds") or {})),
                 key=lambda r: r["cell_seconds"][label])["student"])] for label, v in seconds.items()])


def _late_section(rows: list) -> str:
    late = [r for r in rows if (r.get("late_by") or 0) > 0 or r["status"] == "late"]
    return "<h2>Late submissions</h2>" + (_table(
        ["student", "submitted", "deadline", "late by", "penalty", "reason"],
        [[_e(r["student"]), _e(r.get("timestamp")), _e(r.get("deadline", "")), _hours(r.get("late_by")),
          f"{r.get('late_penalty', 0):g}", _e(r.get("reason", ""))] for r in late]) if late else "<p>none</p>")


def _students_section(out: Path, name: str, rows: list) -> str:
    student_rows = []
    for r in rows:
        feedback = out / "feedback" / r["student"] / f"{name}.html"
        link = (f'<a href="feedback/{_e(r["student"])}/{_e(name)}.html">feedback</a>' if feedback.is_file() else "")
        overridden = ", ".join(f"{c} → {o['points']:g}" for c, o in (r.get("overrides") or {}).items())
        student_rows.append([_e(r["student"]), f"{r['total']:g}", _e(r["status"]), _e(overridden), link])
    return "<h2>Students</h2>" + _table(["student", "total", "status", "overrides", ""], student_rows)


def write_dashboard(out: Path, report: dict) -> Path:
    path = Path(out) / "index.html"
    path.write_text(render(out, report), encoding="utf-8")
    return path
