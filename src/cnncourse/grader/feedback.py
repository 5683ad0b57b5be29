"""What a student gets back: the graded notebook and nbgrader's feedback page, hidden tests removed.

The page is safe to open: every output of the student's run and every markdown cell that is not the
assignment's own goes through ``bleach`` (``sanitizer``): scripts, event handlers, ``javascript:`` links,
JavaScript, SVG and widget outputs are escaped or dropped; text, tables, images and plain HTML stay.
"""
from __future__ import annotations

import functools
from pathlib import Path

import nbformat

from .files import atomic_write
from .intake import copy_node


def banner(total: float, top: float, status: str, reason: str, notes) -> str:
    return (f"**Grader:** {total:g} / {top:g} points, status **{status}**" + (f" ({reason})" if reason else "")
            + "".join(f"\n- {n}" for n in notes))


SAFE_TAGS = ("a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
             "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span",
             "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul")
SAFE_ATTRIBUTES = {"a": ["href", "title"], "img": ["src", "alt", "title", "width", "height"],
                   "td": ["colspan", "rowspan", "align"], "th": ["colspan", "rowspan", "align"], "*": ["class"]}


def sanitizer():
    """nbconvert's ``SanitizeHTML`` with tables, headings and images allowed (its default escapes them)."""
    from nbconvert.preprocessors.sanitize import SanitizeHTML

    return SanitizeHTML(tags=list(SAFE_TAGS), attributes=SAFE_ATTRIBUTES, strip=False)


def assignment_markdown(source) -> frozenset:
    """The assignment's own markdown cells (the instructor's text), shown as written; any other is sanitized."""
    return frozenset(c.source for c in source.cells if c.cell_type == "markdown")


def sanitize(nb, trusted_markdown: frozenset) -> None:
    """Make ``nb``'s outputs and student-written markdown unable to run anything in a browser (in place)."""
    clean = sanitizer()
    for k, cell in enumerate(nb.cells):
        if cell.cell_type == "code" or cell.source not in trusted_markdown:
            nb.cells[k], _ = clean.preprocess_cell(cell, {}, k)


class _Highlighter:
    """nbconvert's ``Highlight2HTML``, remembered per source: the test and locked cells, which make most of a
    page, are the same in every submission of a class. Of a cell's metadata it reads only ``magics_language``."""

    def __init__(self, lexer: str):
        from nbconvert.filters.highlight import Highlight2HTML

        self.highlight = Highlight2HTML(pygments_lexer=lexer)

    def __call__(self, source, language=None, metadata=None):
        return self._html(source, language, (metadata or {}).get("magics_language"))

    @functools.lru_cache(maxsize=4096)  # noqa: B019 — one highlighter per process (``_exporter``)
    def _html(self, source, language, magics_language):
        return self.highlight(source, language, {"magics_language": magics_language} if magics_language else None)


@functools.lru_cache(maxsize=4)
def _exporter(lexer: str):
    """One feedback exporter per process and lexer: its Jinja templates compile once, not once per page."""
    import nbgrader
    from nbconvert.exporters import HTMLExporter
    from traitlets.config import Config

    formgrader = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
    css = formgrader / "static" / "node_modules" / "bootstrap" / "dist" / "css"
    config = Config({"HTMLExporter": {"template_name": "feedback", "extra_template_paths": [str(css)],
                                      "extra_template_basedirs": [str(formgrader / "templates")]}})
    return HTMLExporter(config=config, filters={"highlight_code": _Highlighter(lexer)})


def feedback_html(notebook, assignment: str, student: str, db_url: str, heading: str,
                  trusted_markdown: frozenset = frozenset()) -> str:
    """nbgrader's feedback page, without hidden tests or the tracebacks that quote them, sanitized."""
    from jupyter_core.paths import jupyter_config_dir
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades

    from .nbgrader_ext import HideHiddenTests

    nb = copy_node(notebook)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(heading))  # it quotes notes (file names): sanitized too
    sanitize(nb, trusted_markdown)
    resources = {"nbgrader": {"notebook": assignment, "assignment": assignment, "student": student,
                              "db_url": db_url}, "config_dir": jupyter_config_dir()}
    for preprocessor in (GetGrades(), HideHiddenTests(), CSSHTMLHeaderPreprocessor()):
        nb, resources = preprocessor.preprocess(nb, resources)
    info = nb.metadata.get("language_info", {})
    body, _ = _exporter(str(info.get("pygments_lexer", info.get("name", "ipython3")))).from_notebook_node(
        nb, resources=resources)
    return body


def write_feedback(out: Path, notebook, assignment: str, student: str, db_url: str, heading: str,
                   trusted_markdown: frozenset = frozenset()) -> None:
    """``out/autograded/STUDENT/NAME.ipynb`` and ``out/feedback/STUDENT/NAME.html``."""
    student_dir = out / "autograded" / student
    student_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, student_dir / f"{assignment}.ipynb")
    html = feedback_html(notebook, assignment, student, db_url, heading, trusted_markdown)
    atomic_write(out / "feedback" / student / f"{assignment}.html", html)
