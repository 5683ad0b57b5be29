"""cnncourse.grader.intake: finding the submissions of a class."""
from __future__ import annotations

from cnncourse.grader import intake


def test_collect_accepts_the_documented_shapes(tmp_path):
    subs = tmp_path / "export" / "subs"  # one wrapper folder is looked through
    (subs / "bob").mkdir(parents=True)
    (subs / "bob" / "01_x.ipynb").write_text("{}")
    (subs / "alice" / "01_x").mkdir(parents=True)  # nbgrader's submitted/ layout
    (subs / "alice" / "01_x" / "01_x.ipynb").write_text("{}")
    (subs / "alice" / "01_x" / "timestamp.txt").write_text("2026-11-30 10:00:00 UTC")
    (subs / "carol").mkdir()
    (subs / "carol" / "answers.py").write_text("x = 1")
    (subs / "dave_01_x_final.ipynb").write_text("{}")
    (subs / "README.txt").write_text("LMS")
    found, ignored = intake.collect(tmp_path / "export", "01_x")
    by_student = {s.student: s for s in found}
    assert sorted(by_student) == ["alice", "bob", "carol", "dave"]
    assert ignored == ["README.txt (not a notebook or a student folder)"]
    assert by_student["carol"].problem[0] == "missing-notebook" and "answers.py" in by_student["carol"].problem[1]
    assert by_student["alice"].timestamp_source == intake.FILE_TIME, "a student-side timestamp.txt is not trusted"
    trusted, _ = intake.collect(tmp_path / "export", "01_x", trust_stamps=True)
    alice = next(s for s in trusted if s.student == "alice")
    assert alice.timestamp.isoformat() == "2026-11-30T10:00:00+00:00" and alice.timestamp_source == intake.STAMP_FILE
    assert by_student["dave"].path.name == "dave_01_x_final.ipynb" and "not 01_x.ipynb" in by_student["dave"].notes[0]
