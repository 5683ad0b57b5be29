"""What a student gets back: the graded notebook and nbgrader's feedback page, hidden tests removed."""
from __future__ import annotations

from pathlib import Path

import nbformat

from .files import atomic_write
from .intake import copy_node


def banner(total: float, top: float, status: str, reason: str, notes) -> str:
    return (f"**Grader:** {total:g} / {top:g} points, status **{status}**" + (f" ({reason})" if reason else "")
            + "".join(f"\n- {n}" for n in notes))


def feedback_html(notebook, assignment: str, student: str, db_url: str, heading: str) -> str:
    """nbgrader's feedback page, without hidden tests or the tracebacks that quote them."""
    import nbgrader
    from jupyter_core.paths import jupyter_config_dir
    from nbconvert.exporters import HTMLExporter
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades
    from traitlets.config import Config

    from .nbgrader_ext import HideHiddenTests

    nb = copy_node(notebook)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(heading))
    resources = {"nbgrader": {"notebook": assignment, "assignment": assignment, "student": student,
                              "db_url": db_url}, "config_dir": jupyter_config_dir()}
    for preprocessor in (GetGrades(), HideHiddenTests(), CSSHTMLHeaderPreprocessor()):
        nb, resources = preprocessor.preprocess(nb, resources)
    formgrader = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
    css = formgrader / "static" / "node_modules" / "bootstrap" / "dist" / "css"
    config = Config({"HTMLExporter": {"template_name": "feedback", "extra_template_paths": [str(css)],
                                      "extra_template_basedirs": [str(formgrader / "templates")]}})
    body, _ = HTMLExporter(config=config).from_notebook_node(nb, resources=resources)
    return body


def write_feedback(out: Path, notebook, assignment: str, student: str, db_url: str, heading: str) -> None:
    """``out/autograded/STUDENT/NAME.ipynb`` and ``out/feedback/STUDENT/NAME.html``."""
    student_dir = out / "autograded" / student
    student_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, student_dir / f"{assignment}.ipynb")
    html = feedback_html(notebook, assignment, student, db_url, heading)
    atomic_write(out / "feedback" / student / f"{assignment}.html", html)
