"""What stock nbgrader 0.9 needs to grade torch notebooks fairly; wired in by ``configure``.

* nbgrader gives 0 to a test cell with *any* stderr output; torch warnings and tqdm bars write there,
  so only real errors should cost points (``StderrTolerantSaveAutoGrades``).
* Feedback HTML would show the restored hidden tests and their tracebacks (``HideHiddenTests``).
* A first gradebook is created by shelling out to ``alembic``; when the venv's ``bin/`` is not on PATH
  that fails half-way and leaves a gradebook without ``alembic_version`` (``prepare_environment``).
"""
from __future__ import annotations

import os
import sqlite3
import sys

from nbgrader.preprocessors import ClearHiddenTests, SaveAutoGrades

from ..run import CELL_TIMEOUT_S
HIDDEN_NOTICE = "(a hidden test failed; its code is not shown in the feedback)"


def _is_stderr(output) -> bool:
    return output.get("output_type") == "stream" and output.get("name") == "stderr"


class StderrTolerantSaveAutoGrades(SaveAutoGrades):
    """Score a test cell on its errors only: stderr text (warnings, progress bars) is not a failure."""

    def _add_score(self, cell, resources):
        outputs = cell.get("outputs")
        if outputs is not None:
            cell.outputs = [o for o in outputs if not _is_stderr(o)]
        try:
            super()._add_score(cell, resources)
        finally:
            if outputs is not None:
                cell.outputs = outputs


class HideHiddenTests(ClearHiddenTests):
    """For feedback: drop hidden test regions *and* the outputs that would quote them.

    Tracebacks show the failing line; a Python warning on stderr shows the line that raised it.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and self._remove_hidden_test_region(cell):
            cell.outputs = [_redact(o) for o in cell.outputs]
        return cell, resources


def _redact(output):
    if output.get("output_type") == "error":
        output = output.copy()
        output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}", HIDDEN_NOTICE]
    elif _is_stderr(output):
        output = output.copy()
        output["text"] = "(stderr of a cell with hidden tests is not shown in the feedback)\n"
    return output


def alembic_head() -> str:
    """The gradebook schema revision nbgrader expects, read without the ``alembic`` executable."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    config = Config()
    config.set_main_option("script_location", ALEMBIC_DIR)
    return ScriptDirectory.from_config(config).get_current_head()


def repair_gradebook(db_path: str) -> bool:
    """Stamp a gradebook whose first creation died before ``alembic_version`` was written.

    Returns True when it repaired something. Stamping (not deleting) keeps any grades it holds.
    """
    if not os.path.exists(db_path) or os.path.getsize(db_path) == 0:
        return False
    with sqlite3.connect(db_path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return False
        if "alembic_version" in tables and db.execute("SELECT count(*) FROM alembic_version").fetchone()[0]:
            return False
        db.execute("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (alembic_head(),))
    return True


def prepare_environment(db_path: str) -> None:
    """Put this interpreter's ``bin/`` first on PATH (for ``alembic``) and repair a half-made gradebook."""
    bin_dir = os.path.dirname(sys.executable)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    if repair_gradebook(db_path):
        print(f"[cnncourse] repaired {db_path}: stamped the missing alembic version", file=sys.stderr)


def configure(c, db_path: str) -> None:
    """Apply the course's grading policy to an nbgrader config object ``c``."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor, ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, Execute, GetGrades,
                                        IgnorePattern, LimitOutput)

    prepare_environment(db_path)
    c.Execute.timeout = CELL_TIMEOUT_S  # per cell; nbgrader's default of 30 s is too short to train
    c.Execute.kernel_name = "python3"
    c.OverwriteCells.add_missing_cells = True  # a deleted test cell comes back and is run
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.Autograde.autograde_preprocessors = [
        Execute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
        StderrTolerantSaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
    ]
    c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
