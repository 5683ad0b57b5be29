"""The instructor tools' pure parts on hand-made reports: late-policy arithmetic, extension and override
files (and their errors), regrade receipts, exports and the similarity normalization. No grading runs here."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cnncourse.grader import lms_export, overrides, similarity
from cnncourse.grader.late_policy import Amount, LatePolicy, apply_policy, parse_duration, read_extensions

DEADLINE = datetime(2026, 12, 1, 23, 59, tzinfo=timezone.utc)
HOUR = 3600.0


def _report(*rows):
    """A report like ``cnncourse grade`` writes: two cells worth 3 and 2."""
    students = [{"student": s, "notebook": "nb", "status": status, "reason": reason, "max": 5.0,
                 "timestamp": (DEADLINE + timedelta(hours=late_h)).isoformat(), "cells": dict(cells),
                 "total": sum(cells.values())}
                for s, late_h, cells, status, reason in rows]
    return {"assignment": "nb", "max": 5.0, "cells": {"a": 3.0, "b": 2.0}, "summary": {}, "students": students}


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1.5d", 129600)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_policy_parsing_and_errors():
    policy = LatePolicy.parse("grace=15m, per-day=10%, cap=0.75")
    assert policy == LatePolicy(900.0, Amount(10.0, True), Amount(0.75, False))
    assert LatePolicy.parse(None) == LatePolicy()
    with pytest.raises(ValueError, match="unknown late-policy field"):
        LatePolicy.parse("grace=1h,penalty=3")
    with pytest.raises(ValueError, match="not a duration"):
        LatePolicy.parse("grace=soon")


@pytest.mark.parametrize("late_h, days, taken", [
    (-5, 0, 0.0),  # early
    (0.5, 0, 0.0),  # inside the one-hour grace
    (1.0, 0, 0.0),  # exactly at the end of the grace period
    (1.01, 1, 0.5),  # a started day counts
    (25.0, 1, 0.5),  # exactly one day after the grace
    (25.5, 2, 1.0),
    (24 * 10, 10, 1.5),  # capped at 30% of 5
])
def test_penalty_per_started_day_with_cap(late_h, days, taken):
    policy = LatePolicy.parse("grace=1h,per-day=10%,cap=30%")
    assert policy.penalty(late_h * HOUR, 5.0) == (days, taken)


def test_points_penalty_never_makes_a_total_negative():
    report = _report(("s", 100, {"a": 0.5, "b": 0.0}, "late", "submitted 100 h 0 min after the deadline"))
    row = apply_policy(report, LatePolicy.parse("per-day=1"), DEADLINE, {})["students"][0]
    assert (row["late_penalty"], row["total"], row["status"]) == (5.0, 0.0, "late")
    assert row["reason"] == "submitted 4.2 d late: 5 day(s) × 1 pt = -5 point(s)"


def test_policy_keeps_other_reasons_and_statuses():
    report = _report(("p", 30, {"a": 3.0, "b": 0.0}, "partial", "cell test_b timed out after 6 s; "
                                                                 "submitted 30 h 0 min after the deadline"))
    row = apply_policy(report, LatePolicy.parse("per-day=10%"), DEADLINE, {})["students"][0]
    assert row["status"] == "partial" and row["total"] == 2.0
    assert row["reason"] == "cell test_b timed out after 6 s; submitted 30.0 h late: 2 day(s) × 10% = -1 point(s)"
    assert report["students"][0]["total"] == 3.0, "the input report is not changed"


def test_extensions_file(tmp_path):
    path = tmp_path / "ext.csv"
    path.write_text("Student,Deadline,Extension,Reason\nann,2026-12-05T12:00+00:00,,\nbob,,36h,sports\n")
    found = read_extensions(path, DEADLINE)
    assert found == {"ann": (datetime(2026, 12, 5, 12, tzinfo=timezone.utc), "extension"),
                     "bob": (DEADLINE + timedelta(hours=36), "sports")}
    report = _report(("ann", 80, {"a": 3.0, "b": 2.0}, "late", ""), ("bob", 40, {"a": 3.0, "b": 2.0}, "late", ""))
    rows = apply_policy(report, LatePolicy.parse("per-day=10%"), DEADLINE, found)["students"]
    assert [(r["status"], r["total"]) for r in rows] == [("graded", 5.0), ("late", 4.5)]
    assert rows[1]["reason"].startswith("sports: deadline 2026-12-03T11:59+00:00; submitted 4.0 h late")
    path.write_text("student,extension\ncid,\n")
    with pytest.raises(ValueError, match="give a deadline or an extension for cid"):
        read_extensions(path, DEADLINE)


def test_override_file_is_checked(tmp_path):
    report = _report(("ann", 0, {"a": 0.0, "b": 2.0}, "graded", ""))
    path = tmp_path / "o.csv"
    path.write_text("student,cell,points,comment\nann,a,2.5,fair\nzed,a,1,\nann,c,1,\nann,b,9,\nann,a,lots,\n")
    with pytest.raises(ValueError) as error:
        overrides.read_overrides(path, report)
    message = str(error.value)
    for said in ("no student 'zed'", "no test cell 'c'", "9 points for b is outside 0..2", "'lots' is not a number"):
        assert said in message
    path.write_text("student,cell,points,comment\nann,a,2.5,fair\n")
    row = overrides.apply_overrides(report, overrides.read_overrides(path, report))["students"][0]
    assert (row["cells"], row["autograded"], row["total"]) == ({"a": 2.5, "b": 2.0}, {"a": 0.0, "b": 2.0}, 4.5)
    assert row["reason"] == "override a: 0 → 2.5 (fair)"


def test_overrides_are_kept_in_the_output_folder(tmp_path):
    given = tmp_path / "mine.csv"
    given.write_text("student,cell,points,comment\n")
    out = tmp_path / "out"
    out.mkdir()
    assert overrides.keep(out, None) is None
    assert overrides.keep(out, given) == out / "overrides.csv"
    given.unlink()
    assert overrides.keep(out, None) == out / "overrides.csv", "a later run without --overrides still has them"


def test_changes_between_two_reports():
    before = _report(("ann", 0, {"a": 3.0, "b": 2.0}, "graded", ""), ("bob", 0, {"a": 3.0, "b": 0.0}, "graded", ""))
    after = _report(("ann", 0, {"a": 3.0, "b": 0.0}, "graded", ""), ("bob", 0, {"a": 3.0, "b": 0.0}, "graded", ""),
                    ("new", 0, {"a": 0.0, "b": 0.0}, "graded", ""))
    assert overrides.changes(before, after) == [
        {"student": "ann", "before": 5.0, "after": 3.0, "delta": -2.0, "cells": {"b": {"before": 2.0, "after": 0.0}}}]
    assert overrides.changes(None, after) == []


def test_exports_layouts():
    report = _report(("ann", 0, {"a": 3.0, "b": 1.5}, "graded", ""))
    assert lms_export.rows(report, "canvas") == [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "nb"],
                                                 ["Points Possible", "", "", "", "", "5"],
                                                 ["ann", "", "", "ann", "", "4.5"]]
    assert lms_export.rows(report, "moodle", by="cell") == [["Username", "nb a", "nb b", "Feedback"],
                                                            ["ann", "3", "1.5", "4.5 / 5 points, graded"]]
    with pytest.raises(ValueError, match="export by"):
        lms_export.rows(report, "csv", by="week")


def test_normalization_ignores_names_literals_comments_and_layout():
    one = ("def f(values):\n    # add them\n    total = 0\n    for v in values:\n        total += v * 2.5\n"
           "    return total\n")
    two = "def g(xs):\n    acc=0  # start\n    for x in xs: acc += x*7\n    return acc"
    assert similarity.normalize(one).text == similarity.normalize(two).text == "defV(V):V=NforVinV:V+=V*NreturnV"
    assert similarity.normalize("print(len(x))").text == "print(len(V))", "builtins and keywords stay"
    broken = "def f(:\n    return 'unterminated"
    assert similarity.normalize(broken).text.startswith("defV(:"), "a syntax error still normalizes"


def test_offsets_map_back_to_the_original_code():
    code = "total = count + 12  # sum"
    norm = similarity.normalize(code)
    assert norm.text == "V=V+N"
    assert [code[norm.starts[i]:norm.ends[i]] for i in range(len(norm.text))] == ["total", "=", "count", "+", "12"]


def test_groups_join_chains_of_flagged_pairs():
    pairs = [{"a": "a", "b": "b", "flagged": True}, {"a": "b", "b": "c", "flagged": True},
             {"a": "d", "b": "e", "flagged": True}, {"a": "c", "b": "f", "flagged": False}]
    assert similarity.groups(pairs) == [["a", "b", "c"], ["d", "e"]]


def test_options_are_checked_before_grading(tmp_path):
    from cnncourse.grader.instructor import check_options

    with pytest.raises(ValueError, match="needs --deadline"):
        check_options("per-day=10%", None, None, None)
    with pytest.raises(ValueError, match="not an amount"):
        check_options("per-day=lots", DEADLINE.isoformat(), None, None)
    with pytest.raises(FileNotFoundError, match="overrides file not found"):
        check_options(None, None, None, tmp_path / "nope.csv")
    check_options("grace=1h", DEADLINE.isoformat(), None, None)
