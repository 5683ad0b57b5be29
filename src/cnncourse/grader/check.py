"""``cnncourse check NOTEBOOK``: a student's own pre-submission check, run the way the grader runs it.

The notebook's code cells up to its last test cell run in a fresh process of the grader's executor
(forked, sandboxed, the same per-cell time limit as ``cnncourse grade``), in quick mode, from a clean start:
what passes here does not depend on cells run by hand in another order. One line per test cell, ✓ or ✗
with the first line of the failure. Only the tests in the student's copy run (hidden tests are the
grader's), so ✓ here is necessary, not sufficient. ``--zip`` packs the notebook with a manifest (name,
notebook sha256, package version) into a zip that ``cnncourse grade`` reads as one student's submission.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from .. import __version__
from . import config
from .assignment import grade_id, is_answer, label
from .records import Cell, Confinement, Job

MANIFEST_NAME = "submission.json"


def is_test(cell) -> bool:
    return cell.cell_type == "code" and bool(grade_id(cell)) and not is_answer(cell)


def execution_order_problems(nb) -> list[str]:
    """What a restart-and-run-all would change: cells run out of order, skipped, or a kernel restarted."""
    counts = [(k + 1, c.get("execution_count")) for k, c in enumerate(nb.cells) if c.cell_type == "code"]
    ran = [(position, n) for position, n in counts if n is not None]
    if not ran:
        return []
    problems = []
    for (p1, n1), (p2, n2) in zip(ran, ran[1:]):
        if n2 <= n1:
            problems.append(f"cell {p2} ran before cell {p1} (execution counts {n2} and {n1})")
            break
    last = ran[-1][0]
    skipped = [position for position, n in counts if n is None and position < last]
    if skipped:
        problems.append(f"cell {skipped[0]} was never run, though later cells were")
    if ran[0][1] != 1 and not problems:
        problems.append(f"the first run cell has execution count {ran[0][1]}, not 1 (cells were re-run)")
    return problems


def cells_to_check(nb) -> list[Cell]:
    """Code cells up to the last test cell, with QUICK forced on in the parameters cell (as the grader does)."""
    last = max((k for k, c in enumerate(nb.cells) if is_test(c)), default=len(nb.cells) - 1)
    cells = []
    for k, cell in enumerate(nb.cells[: last + 1]):
        if cell.cell_type != "code":
            continue
        source = cell.source
        if "parameters" in cell.get("metadata", {}).get("tags", []) and re.search(r"^QUICK\s*=", source, re.M):
            source += "\nQUICK = True  # added by cnncourse check: the grader runs quick mode"
        cells.append(Cell(k, source))
    return cells


def execute(cells: list[Cell], timeout: float):
    """Run the cells in a fresh, confined child of the grader's executor; returns its ``Execution``."""
    from .executor import Zygote
    from .zygote import imported_modules

    modules = imported_modules(c.source for c in cells)
    job = Job(
        tuple(modules),
        tuple(cells),
        timeout,
        threads=config.threads_per_job(1),
        confinement=Confinement((str(config.data_dir().resolve()),)),
    )
    with Zygote(modules) as zygote:
        return zygote.execute(job)


def first_line(record, timeout: float) -> str:
    """The first line of a cell's failure (a ``CellRun``), as a student can act on it."""
    if record.status == "timeout":
        return f"ran longer than {timeout:g} s, the grader's limit per cell"
    if record.status == "crashed":
        return "the process died in this cell (memory, or a crash in native code)"
    if record.status == "not-run":
        return "not run: an earlier cell stopped the notebook"
    error = next((o for o in record.outputs if o.get("output_type") == "error"), None)
    if error is None:
        return record.status
    if error["ename"] == "NotImplementedError":
        return "not done yet (NotImplementedError from the exercise stub)"
    text = (error.get("evalue") or "").strip().splitlines()
    return f"{error['ename']}: {text[0]}" if text else error["ename"]


def check(path: Path, timeout: float = config.DEFAULT_TIMEOUT_S, say=print) -> dict:
    """Check one notebook; returns {tests: {grade_id: (ok, line)}, order: [...], errors: [...], ok}."""
    nb = nbformat.read(path, as_version=4)
    order = execution_order_problems(nb)
    for problem in order:
        say(
            f"⚠ out of order: {problem}. Saved outputs may not match a fresh run: use Kernel → "
            "Restart Kernel and Run All Cells before you submit."
        )
    if not any(is_test(c) for c in nb.cells):
        raise ValueError(f"{path} has no test cells: is it a course notebook?")
    cells = cells_to_check(nb)
    say(f"checking {path.name}: {len(cells)} code cells in a fresh process, quick mode, {timeout:g} s per cell ...")
    records = execute(cells, timeout).cells
    tests, errors = {}, []
    for index, record in sorted(records.items()):
        cell = nb.cells[index]
        if is_test(cell):
            name = grade_id(cell)
            ok = record.status == "ok"
            tests[name] = (ok, "passed" if ok else first_line(record, timeout))
            say(f"✓ {name}" if ok else f"✗ {name}: {tests[name][1]}")
        elif record.status != "ok":
            what = label(cell) if cell.metadata.get("nbgrader") else f"cell {index + 1}"
            errors.append(f"{what}: {first_line(record, timeout)}")
    for line in errors:
        say(f"  (error in {line})")
    passed = sum(ok for ok, _ in tests.values())
    say(
        f"{passed}/{len(tests)} visible tests pass"
        + ("" if passed == len(tests) else "; hidden tests also run when your notebook is graded")
    )
    return {"tests": tests, "order": order, "errors": errors, "ok": passed == len(tests)}


def submission_manifest(path: Path, name: str) -> dict:
    return {
        "name": name,
        "notebook": Path(path).name,
        "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        "cnncourse": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def pack(path: Path, name: str, out: Path | None = None) -> Path:
    """``NAME/NOTEBOOK.ipynb`` + ``NAME/submission.json`` in a zip (``cnncourse grade`` reads this layout)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", name.strip()).strip(".-")
    if not safe:
        raise ValueError("--name must contain letters or digits (it names your submission)")
    path = Path(path)
    out = Path(out) if out else path.with_name(f"{path.stem}-{safe}.zip")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, f"{safe}/{path.name}")
        archive.writestr(f"{safe}/{MANIFEST_NAME}", json.dumps(submission_manifest(path, name), indent=1))
    return out
