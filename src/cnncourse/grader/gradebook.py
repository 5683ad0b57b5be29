"""nbgrader's gradebook: one submission's scores, committed together."""
from __future__ import annotations

import warnings


def db_url(course_root) -> str:
    return "sqlite:///" + str(course_root / "gradebook.db")


def write_scores(url: str, assignment: str, student: str, points: dict, timestamp) -> None:
    """Store ``{grade_id: points}`` of ``student`` for ``assignment`` (notebook of the same name)."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with Gradebook(url) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own autoflush chatter
        gradebook.update_or_create_student(student)
        gradebook.update_or_create_submission(assignment, student, timestamp=timestamp)
        for gid, earned in points.items():
            grade = gradebook.find_grade(gid, assignment, assignment, student)
            grade.auto_score, grade.needs_manual_grade = earned, False
        gradebook.db.commit()
