"""cnncourse.grader.report: grades.csv."""
from __future__ import annotations

import csv

from cnncourse.grader.report import write_grades_csv


def test_grades_csv_has_status_and_reason(tmp_path):
    report = {"cells": {"t1": 2.0, "t2": 3.0}, "students": [
        {"student": "alice", "notebook": "01_x", "cells": {"t1": 2.0, "t2": 0.0}, "total": 2.0, "max": 5.0,
         "status": "partial", "reason": "cell t2 timed out after 5 s"},
        {"student": "bob", "notebook": "01_x", "cells": {"t1": 0.0, "t2": 0.0}, "total": 0.0, "max": 5.0,
         "status": "invalid-notebook", "reason": "empty file (0 bytes)"}]}
    rows = list(csv.reader(write_grades_csv(tmp_path / "out" / "grades.csv", report).open()))
    assert rows[0] == ["student", "notebook", "t1", "t2", "total", "max", "status", "reason"]
    assert rows[1] == ["alice", "01_x", "2", "0", "2", "5", "partial", "cell t2 timed out after 5 s"]
    assert rows[2][-2:] == ["invalid-notebook", "empty file (0 bytes)"]
