"""From a class's submissions (LMS zip or folder) to notebooks the grader can run, with reasons.

Accepted shapes (a zip may hold any of them, optionally inside one wrapper folder):
  * ``<student>/<anything>.ipynb`` (also nbgrader's ``<student>/<assignment>/<assignment>.ipynb``);
  * flat ``<student>_<anything>.ipynb`` files (LMS downloads); ``<student>.ipynb`` also works.
A ``timestamp.txt`` next to a notebook (nbgrader's convention) gives the submission time; otherwise the
zip entry's or the file's modification time does.

``read_notebook`` never raises on a student's file: it returns the cells it could read, notes on what it
repaired, or the reason the file cannot be graded. ``assemble`` rebuilds the notebook to grade from the
assignment itself: locked and test cells always come from the instructor's source (with the hidden
tests), answers from the student, matched by grade id, then cell id, then the names they define.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat

MAX_NOTEBOOK_BYTES = 100 * 2**20
MAX_ZIP_BYTES = 4 * 2**30
JUNK = re.compile(r"(^|/)(__MACOSX|\.ipynb_checkpoints|\.[^/]*)(/|$)")


@dataclass
class Submission:
    student: str
    path: Path | None = None  # the notebook to grade
    origin: str = ""  # where it was found, relative to the submissions root
    timestamp: datetime | None = None
    sha256: str = ""
    notes: list[str] = field(default_factory=list)
    problem: tuple[str, str] | None = None  # (status, reason) when it cannot be graded


# ---------------------------------------------------------------- finding the files
def safe_student_id(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._@-]+", "_", name).strip("._")
    return cleaned or "unnamed"


def unpack(zip_path: Path, target: Path) -> Path:
    """Extract an LMS zip, refusing absolute paths, ``..`` and archives that expand past 4 GiB."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as error:
        raise ValueError(f"{zip_path} is not a valid zip file ({error})") from None
    with archive:
        if sum(info.file_size for info in archive.infolist()) > MAX_ZIP_BYTES:
            raise ValueError(f"{zip_path} expands to more than {MAX_ZIP_BYTES // 2**30} GiB")
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for info in archive.infolist():
            name = info.filename.replace("\\", "/")
            if info.is_dir() or JUNK.search(name) or name.startswith("/") or ".." in name.split("/"):
                continue
            out = target / name
            out.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            stamp = datetime(*info.date_time).timestamp()
            os.utime(out, (stamp, stamp))
    return target


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not JUNK.search(p.name))


def _unwrap(root: Path) -> Path:
    """Descend through a single wrapper folder (``submissions/`` inside the zip)."""
    while True:
        entries = _entries(root)
        if len(entries) != 1 or not entries[0].is_dir():
            return root
        inner = _entries(entries[0])
        flat_students = {p.name.split("_", 1)[0] for p in inner if p.suffix == ".ipynb" and "_" in p.name}
        if any(p.is_dir() for p in inner) or len(flat_students) > 1:
            root = entries[0]
        else:
            return root


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb") if not JUNK.search(str(p.relative_to(folder))))


def _timestamp(notebook: Path, student_root: Path) -> datetime:
    for folder in [notebook.parent, *notebook.parents]:
        stamp = folder / "timestamp.txt"
        if stamp.is_file():
            try:
                parsed = datetime.fromisoformat(stamp.read_text().strip().replace(" UTC", "+00:00"))
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
            except ValueError:
                break
        if folder == student_root:
            break
    return datetime.fromtimestamp(notebook.stat().st_mtime, tz=timezone.utc)


def _choose(candidates: list[Path], assignment: str, grade_ids) -> tuple[Path, list[str]]:
    """The student's notebook for this assignment: its own name first, else the most grade ids."""
    notes = []
    exact = [p for p in candidates if p.name == f"{assignment}.ipynb"]
    if exact:
        chosen = exact[-1]
    else:
        def matches(path: Path) -> int:
            raw = path.read_bytes()[:MAX_NOTEBOOK_BYTES]
            return sum(f'"{gid}"'.encode() in raw for gid in grade_ids)

        chosen = max(candidates, key=lambda p: (matches(p), p.stat().st_mtime, p.name))
        notes.append(f"notebook named {chosen.name}, not {assignment}.ipynb: graded it")
    others = [p.name for p in candidates if p != chosen]
    if others:
        notes.append(f"also found {', '.join(others)}: not graded")
    return chosen, notes


def collect(root: Path, assignment: str, grade_ids=()) -> tuple[list[Submission], list[str]]:
    """Every student found under ``root`` (a folder) and the top-level files that were ignored."""
    root = _unwrap(Path(root))
    groups: dict[str, dict] = {}
    ignored = []
    for entry in _entries(root):
        if entry.is_dir():
            group = groups.setdefault(safe_student_id(entry.name), {"files": [], "dirs": []})
            group["dirs"].append(entry)
        elif entry.suffix == ".ipynb":
            student = entry.stem.split("_", 1)[0] if "_" in entry.stem else entry.stem
            groups.setdefault(safe_student_id(student), {"files": [], "dirs": []})["files"].append(entry)
        else:
            ignored.append(entry.name)
    found = []
    for student, group in sorted(groups.items()):
        candidates = list(group["files"])
        extra = []
        for folder in group["dirs"]:
            candidates += _notebooks(folder)
            extra += [p.name for p in folder.rglob("*") if p.is_file() and p.suffix != ".ipynb"
                      and p.name != "timestamp.txt" and not JUNK.search(str(p.relative_to(folder)))]
        submission = Submission(student)
        if not candidates:
            seen = ", ".join(sorted(extra)[:5]) or "nothing"
            submission.problem = ("missing-notebook", f"no .ipynb file for {assignment} (found: {seen})")
        else:
            chosen, submission.notes = _choose(candidates, assignment, grade_ids)
            submission.path, submission.origin = chosen, str(chosen.relative_to(root))
            student_root = next((d for d in group["dirs"] if d in chosen.parents), chosen.parent)
            submission.timestamp = _timestamp(chosen, student_root)
            submission.sha256 = hashlib.sha256(chosen.read_bytes()).hexdigest()
            if extra:
                submission.notes.append(f"{len(extra)} other file(s) ignored")
        found.append(submission)
    return found, ignored


# ---------------------------------------------------------------- reading one notebook
def read_notebook(path: Path) -> tuple[list[dict] | None, list[str], str | None]:
    """``(cells, notes, problem)``: cells as plain dicts {type, source, id, nbgrader, tags}."""
    notes = []
    size = path.stat().st_size
    if size == 0:
        return None, notes, "empty file (0 bytes)"
    if size > MAX_NOTEBOOK_BYTES:
        return None, notes, f"file too large ({size / 2**20:.0f} MiB > {MAX_NOTEBOOK_BYTES // 2**20} MiB)"
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        text = raw.decode("utf-8", errors="replace")
        notes.append(f"non-UTF-8 bytes replaced (first at byte {error.start})")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return None, notes, f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
    if not isinstance(data, dict):
        return None, notes, "not a Jupyter notebook (the JSON is not an object)"
    major = data.get("nbformat")
    if major == 3 or "worksheets" in data:
        try:
            data = nbformat.convert(nbformat.from_dict(data), 4)
            notes.append("nbformat 3 notebook converted to 4")
        except Exception as error:  # noqa: BLE001 — a broken v3 file
            return None, notes, f"nbformat 3 notebook that cannot be converted ({error})"
    elif major != 4:
        notes.append(f"nbformat {major!r} read as 4")
    cells = data.get("cells")
    if not isinstance(cells, list):
        return None, notes, "not a Jupyter notebook (no list of cells)"
    kernel = (data.get("metadata") or {}).get("kernelspec") if isinstance(data.get("metadata"), dict) else None
    if isinstance(kernel, dict) and kernel.get("name") not in (None, "python3"):
        notes.append(f"kernel {kernel.get('name')!r} ignored: graded with the course's Python 3")
    return [_plain_cell(c) for c in cells if isinstance(c, dict)], notes, None


def _plain_cell(cell: dict) -> dict:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(str(s) for s in source)
    metadata = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
    meta_nb = metadata.get("nbgrader") if isinstance(metadata.get("nbgrader"), dict) else None
    tags = metadata.get("tags") if isinstance(metadata.get("tags"), list) else []
    return {"type": cell.get("cell_type") if cell.get("cell_type") in ("code", "markdown", "raw") else "raw",
            "source": str(source), "id": cell.get("id") if isinstance(cell.get("id"), str) else None,
            "nbgrader": meta_nb, "tags": tags}


# ---------------------------------------------------------------- rebuilding the notebook to grade
def _role(cell) -> str:
    meta = cell.metadata.get("nbgrader", {})
    if cell.cell_type != "code":
        return "text"
    if meta.get("solution"):
        return "answer"
    if meta.get("locked") or meta.get("grade"):
        return "locked"
    if "parameters" in cell.metadata.get("tags", []):
        return "parameters"
    return "code"


def defined_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))} | {
        t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}


HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)


def _normalized(source: str) -> str:
    """Locked cells as students see them: no hidden tests (a solution file has them), blank lines or trailing space."""
    return "\n".join(line.rstrip() for line in HIDDEN.sub("", source).splitlines() if line.strip())


def copy_node(node):
    """A deep copy of a notebook or cell as a NotebookNode (outputs and metadata included)."""
    return nbformat.from_dict(json.loads(json.dumps(node)))


@dataclass
class Assembled:
    notebook: nbformat.NotebookNode
    notes: list[str]
    tampered: list[str]


def assemble(source_nb, release_nb, student_cells: list[dict]) -> Assembled:
    """The notebook to grade: the assignment's cells in its order, the student's answers and own cells."""
    released = {c.get("id"): c for c in release_nb.cells}
    by_gid, by_id = {}, {}
    for pos, cell in enumerate(student_cells):
        gid = (cell["nbgrader"] or {}).get("grade_id")
        if gid:
            by_gid.setdefault(gid, []).append(pos)
        if cell["id"]:
            by_id.setdefault(cell["id"], []).append(pos)
    claimed: dict[int, int] = {}  # student position -> master position
    out, notes, tampered = [], [], []

    def find(master_cell) -> list[int]:
        gid = master_cell.metadata.get("nbgrader", {}).get("grade_id")
        hits = by_gid.get(gid, []) if gid else []
        if not hits and master_cell.get("id"):
            hits = [p for p in by_id.get(master_cell.get("id"), [])
                    if (student_cells[p]["nbgrader"] or {}).get("grade_id") in (None, gid)]
        return [p for p in hits if p not in claimed]

    for j, master in enumerate(source_nb.cells):
        role, cell = _role(master), copy_node(master)
        if cell.cell_type == "code":
            cell.update(outputs=[], execution_count=None)
        gid = master.metadata.get("nbgrader", {}).get("grade_id", master.get("id"))
        hits = find(master) if role != "text" else []
        if role == "answer":
            hits = _fill_answer(cell, released.get(master.get("id"), master), hits, student_cells, claimed, notes, gid)
        elif role == "locked":
            view = released.get(master.get("id"))
            if not hits:
                tampered.append(f"locked cell {gid} deleted: restored")
            else:
                mine = student_cells[hits[-1]]
                if view is not None and _normalized(mine["source"]) != _normalized(view.source):
                    tampered.append(f"locked cell {gid} edited: restored")
                points = (mine["nbgrader"] or {}).get("points")
                if points is not None and points != master.metadata["nbgrader"].get("points"):
                    tampered.append(f"points of {gid} changed: restored")
        elif role == "parameters" and hits:
            if _normalized(student_cells[hits[-1]]["source"]) != _normalized(master.source):
                notes.append("parameters cell reset to the released values")
        elif role == "code":
            if hits:
                cell.source = student_cells[hits[-1]]["source"]
            else:
                notes.append(f"cell {gid} deleted: restored from the assignment")
        for p in hits:
            claimed[p] = j
        out.append((j, 0, cell))

    _add_own_cells(out, student_cells, claimed, notes)
    notebook = nbformat.v4.new_notebook(metadata=copy_node(source_nb.metadata))
    notebook.cells = [cell for _, _, cell in out]
    return Assembled(notebook, notes, tampered)


def _fill_answer(cell, released, hits, student_cells, claimed, notes, gid) -> list[int]:
    """The student's answer into ``cell`` (found by grade id, cell id, or the names it defines); its positions."""
    if not hits:
        wanted = defined_names(released.source)
        hits = [p for p, c in enumerate(student_cells) if p not in claimed and c["type"] == "code"
                and wanted and wanted <= defined_names(c["source"]) and not (c["nbgrader"] or {}).get("locked")]
        if hits:
            notes.append(f"answer cell {gid} found by the names it defines (its metadata was changed)")
    if hits:
        chosen = student_cells[hits[-1]]
        cell.source = chosen["source"]
        if len(hits) > 1:
            notes.append(f"answer cell {gid} appears {len(hits)} times: graded the last one")
        if chosen["type"] != "code":
            notes.append(f"answer cell {gid} was a {chosen['type']} cell: run as code")
    else:
        cell.source = released.source
        notes.append(f"answer cell {gid} missing: graded as blank")
    return hits


def _add_own_cells(out: list, student_cells: list[dict], claimed: dict, notes: list) -> None:
    """The student's own code cells, each after the assignment cell it followed; ``out`` sorted into order."""
    last_anchor, own, order = -1, 0, []
    for pos, cell in enumerate(student_cells):
        if pos in claimed:
            last_anchor = claimed[pos]
            order.append(last_anchor)
        elif cell["type"] == "code" and cell["source"].strip():
            own += 1
            out.append((last_anchor, own, nbformat.v4.new_code_cell(cell["source"])))
    if own:
        notes.append(f"{own} cell(s) of your own kept and run")
    if order != sorted(order):
        notes.append("cells were reordered: graded in the assignment's order")
    out.sort(key=lambda item: (item[0], item[1]))
