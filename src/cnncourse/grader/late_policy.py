"""Late submissions: a grace period, a penalty per day started, a cap, and per-student extensions.

``--late-policy "grace=15m,per-day=10%,cap=30%"`` (percent of the assignment's maximum, or plain points:
``per-day=0.5``); ``--extensions extensions.csv`` with columns ``student,deadline`` (an ISO time) or
``student,extension`` (a duration such as ``2d`` or ``36h``), optional ``reason``. Pure functions over the
report ``cnncourse grade`` writes: every student's ``timestamp`` against their own deadline; the penalty
is taken from the total (never below 0), stored as ``late_penalty`` and said in the reason column.
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
DAY = 86400.0
GRADER_LATE = re.compile(r"(; )?submitted [^;]* after the deadline")  # the grader's own late note


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``1.5d`` → seconds."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*(s|m|min|h|d)?\s*", str(text))
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 3d)")
    return float(match.group(1)) * UNITS[match.group(2) or "s"]


@dataclass(frozen=True)
class Amount:
    value: float
    percent: bool  # of the assignment's maximum

    def points(self, max_points: float) -> float:
        return self.value / 100 * max_points if self.percent else self.value

    def __str__(self):
        return f"{self.value:g}%" if self.percent else f"{self.value:g} pt"


def _amount(text: str) -> Amount:
    text = text.strip()
    try:
        return Amount(float(text.rstrip("%")), text.endswith("%"))
    except ValueError:
        raise ValueError(f"not an amount: {text!r} (use 10% of the maximum or 0.5 points)") from None


@dataclass(frozen=True)
class LatePolicy:
    grace: float = 0.0  # seconds after the deadline that still count as on time
    per_day: Amount = Amount(0.0, True)  # taken for every day (or part of one) after the grace period
    cap: Amount | None = None  # the most that is ever taken

    @classmethod
    def parse(cls, text: str | None) -> "LatePolicy":
        """``grace=15m,per-day=10%,cap=30%``; every part optional."""
        fields = {}
        for part in filter(None, (p.strip() for p in (text or "").split(","))):
            key, _, value = part.partition("=")
            key = key.strip().replace("_", "-")
            if key == "grace":
                fields["grace"] = parse_duration(value)
            elif key == "per-day":
                fields["per_day"] = _amount(value)
            elif key == "cap":
                fields["cap"] = _amount(value)
            else:
                raise ValueError(f"unknown late-policy field {key!r} (grace=, per-day=, cap=)")
        return cls(**fields)

    def describe(self) -> str:
        cap = f", at most {self.cap}" if self.cap else ""
        return f"grace {self.grace / 3600:g} h, {self.per_day} per day late{cap}"

    def penalty(self, late_by: float, max_points: float) -> tuple[int, float]:
        """(days charged, points taken) for a submission ``late_by`` seconds after its deadline."""
        if late_by <= self.grace:
            return 0, 0.0
        days = math.ceil((late_by - self.grace) / DAY - 1e-9)
        taken = days * self.per_day.points(max_points)
        if self.cap is not None:
            taken = min(taken, self.cap.points(max_points))
        return days, round(taken, 4)


def _as_utc(parsed: datetime) -> datetime:
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def read_extensions(path: Path | None, deadline: datetime | None) -> dict:
    """{student: (their deadline, why)} from ``student,deadline`` or ``student,extension`` rows."""
    if path is None:
        return {}
    out = {}
    with Path(path).open(newline="", encoding="utf-8-sig") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            student = row.get("student")
            if not student:
                raise ValueError(f"{path}:{line}: no student")
            why = row.get("reason") or "extension"
            if row.get("deadline"):
                out[student] = (_as_utc(datetime.fromisoformat(row["deadline"])), why)
            elif row.get("extension"):
                if deadline is None:
                    raise ValueError(f"{path}:{line}: an extension needs --deadline")
                out[student] = (deadline + timedelta(seconds=parse_duration(row["extension"])), why)
            else:
                raise ValueError(f"{path}:{line}: give a deadline or an extension for {student}")
    return out


def _duration(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours / 24:.1f} d" if hours >= 48 else f"{hours:.1f} h" if hours >= 1 else f"{seconds / 60:.0f} min"


def apply_policy(report: dict, policy: LatePolicy, deadline: datetime | None, extensions: dict) -> dict:
    """The report with each student's lateness judged against their own deadline and the penalty taken.

    Sets per student ``deadline``, ``late_by`` (seconds, or None), ``late_penalty`` (points) and rewrites
    ``status`` (``late`` or back to ``graded``) and ``reason``; ``total`` is ``sum(cells) - late_penalty``.
    """
    report = {**report, "students": [dict(r) for r in report["students"]],
              "late_policy": {"policy": policy.describe(), "deadline": deadline.isoformat() if deadline else None,
                              "extensions": {s: {"deadline": d.isoformat(), "reason": w}
                                             for s, (d, w) in extensions.items()}}}
    for row in report["students"]:
        mine, why = extensions.get(row["student"], (deadline, None))
        reason = GRADER_LATE.sub("", row.get("reason") or "").strip("; ")
        notes = []
        row["deadline"] = mine.isoformat() if mine else None
        row["late_by"], row["late_penalty"] = None, 0.0
        if mine is not None and row.get("timestamp"):
            late_by = (_as_utc(datetime.fromisoformat(row["timestamp"])) - mine).total_seconds()
            row["late_by"] = late_by
            if why:
                notes.append(f"{why}: deadline {mine.isoformat(timespec='minutes')}")
            if late_by > 0:
                days, taken = policy.penalty(late_by, row["max"])
                if days == 0:
                    notes.append(f"submitted {_duration(late_by)} late, "
                                 f"within the {_duration(policy.grace)} grace period")
                else:
                    capped = " (cap)" if policy.cap and taken == round(policy.cap.points(row["max"]), 4) else ""
                    notes.append(f"submitted {_duration(late_by)} late: {days} day(s) × {policy.per_day} = "
                                 f"-{taken:g} point(s){capped}")
                    row["late_penalty"] = taken
            elif why:
                notes[-1] += ", on time"
        if row["status"] in ("late", "graded"):
            row["status"] = "late" if row["late_penalty"] > 0 or (row["late_by"] or 0) > policy.grace else "graded"
        row["reason"] = "; ".join(filter(None, [reason, *notes]))
        row["total"] = round(max(0.0, sum(row["cells"].values()) - row["late_penalty"]), 4)
    return report
