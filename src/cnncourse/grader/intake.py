"""From a class's submissions (LMS zip or folder) to notebooks the grader can run, with reasons.

Accepted shapes (a zip may hold any of them, optionally inside one wrapper folder):
  * ``<student>/<anything>.ipynb`` (also nbgrader's ``<student>/<assignment>/<assignment>.ipynb``);
  * flat ``<student>_<anything>.ipynb`` files (LMS downloads); ``<student>.ipynb`` also works.
The submission time comes from a source the student does not control: the LMS zip entry's time (the
grader sets each extracted file's time from it) or, for a folder, the file's modification time on the
grader's disk. A ``timestamp.txt`` beside the notebook (nbgrader's exchange layout) is written on the
student's side, so it is used only when the instructor opts in (``trust_timestamps``). Each submission says
which source gave its time.

Intake opens only what it should: regular files found without following symbolic links, inside the
submissions root, size checked before reading, read through a no-follow, non-blocking descriptor (a FIFO
or a device never blocks the grader). Every skipped entry is listed with its reason, and student ids are
unique: when two raw names sanitize to the same id, each gets a short hash of its raw name.

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
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from .files import printable, read_regular, size_text, valid_utf8

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
    timestamp_source: str = ""  # which trusted source gave ``timestamp``
    notes: list[str] = field(default_factory=list)
    problem: tuple[str, str] | None = None  # (status, reason) when it cannot be graded


ZIP_TIME = "zip entry time"
FILE_TIME = "file modification time"
STAMP_FILE = "timestamp.txt (nbgrader exchange, trusted by the instructor)"


# ---------------------------------------------------------------- names and files the student controls
def safe_student_id(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", printable(name)).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9._@-]+", "_", ascii_name).strip("._")
    return cleaned or "unnamed"


def unique_student_ids(raw_names) -> dict[str, str]:
    """raw name -> id: the sanitized name, plus a short hash of the raw name wherever two would collide."""
    by_id: dict[str, list[str]] = {}
    for raw in sorted(set(raw_names)):
        by_id.setdefault(safe_student_id(raw), []).append(raw)
    ids = {}
    for clean, raws in by_id.items():
        for raw in raws:
            exact = raw == clean or (len(raws) == 1 and clean != "unnamed")
            ids[raw] = clean if exact else f"{clean}-{hashlib.sha256(os.fsencode(raw)).hexdigest()[:6]}"
    return ids


def _kind(path: Path) -> str:
    """'file', 'dir', or why the entry is skipped (never follows a link)."""
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return "symbolic link: not followed"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "not a regular file (FIFO, socket or device)"


def unpack(zip_path: Path, target: Path) -> tuple[Path, list[str]]:
    """Extract an LMS zip; returns the folder and the entries skipped, each with its reason.

    Absolute paths, ``..``, entries past the notebook size limit, damaged entries (bad CRC) and names that
    clash with a folder are skipped one by one; an archive that expands past 4 GiB is refused whole. Each
    file's time is set from its zip entry (the trusted submission time).
    """
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{zip_path} is not a valid zip file ({error})") from None
    skipped = []
    with archive:
        if sum(info.file_size for info in archive.infolist()) > MAX_ZIP_BYTES:
            raise ValueError(f"{zip_path} expands to more than {MAX_ZIP_BYTES // 2**30} GiB")
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for info in archive.infolist():
            name = info.filename.replace("\\", "/")
            outside = name.startswith("/") or ".." in name.split("/")
            if info.is_dir() or (JUNK.search(name) and not outside):
                continue
            reason = "path outside the archive" if outside else _extract(archive, info, name, target)
            if reason:
                skipped.append(f"{printable(name)} ({reason})")
    return target, skipped


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, target: Path) -> str | None:
    """Extract one entry; the reason it was skipped, or None."""
    if info.file_size > MAX_NOTEBOOK_BYTES:
        return f"larger than {size_text(MAX_NOTEBOOK_BYTES)}"
    out = target / name
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as src, open(out, "xb") as dst:
            shutil.copyfileobj(src, dst)
        stamp = datetime(*info.date_time).timestamp()
        os.utime(out, (stamp, stamp))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        if out.is_file() and not out.is_symlink():
            out.unlink()  # a half-written file must not be graded
        return f"cannot be extracted: {printable(str(error))[:120]}"
    return None


def _entries(folder: Path, skipped: list[str] | None = None, base: Path | None = None) -> list[Path]:
    """The folder's entries without junk; hidden, linked or special entries go to ``skipped`` with a reason."""
    kept = []
    for path in sorted(folder.iterdir()):
        label = printable(str(path.relative_to(base or folder)))
        if JUNK.search(path.name):
            if skipped is not None and path.name.startswith(".") and path.name != ".ipynb_checkpoints":
                skipped.append(f"{label} (hidden name)")
            continue
        kind = _kind(path)
        if kind in ("file", "dir"):
            kept.append(path)
        elif skipped is not None:
            skipped.append(f"{label} ({kind})")
    return kept


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


def _walk(folder: Path, skipped: list[str], base: Path) -> list[Path]:
    """Every regular file below ``folder``, never through a link, skipping junk (reasons in ``skipped``)."""
    files = []
    for path in _entries(folder, skipped, base):
        files += _walk(path, skipped, base) if _kind(path) == "dir" else [path]
    return files


def _timestamp(notebook: Path, student_root: Path, trust_stamps: bool, file_source: str) -> tuple[datetime, str]:
    if trust_stamps:
        for folder in [notebook.parent, *notebook.parents]:
            try:
                text = read_regular(folder / "timestamp.txt", 4096).decode("utf-8", "replace").strip()
                parsed = datetime.fromisoformat(text.replace(" UTC", "+00:00"))
                return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)), STAMP_FILE
            except (OSError, ValueError):
                pass
            if folder == student_root:
                break
    return datetime.fromtimestamp(os.lstat(notebook).st_mtime, tz=timezone.utc), file_source


def _choose(candidates: list[Path], assignment: str, grade_ids) -> tuple[Path, list[str]]:
    """The student's notebook for this assignment: its own name first, else the most grade ids."""
    notes = []
    exact = [p for p in candidates if p.name == f"{assignment}.ipynb"]
    if exact:
        chosen = exact[-1]
    else:
        def matches(path: Path) -> int:
            try:
                raw = read_regular(path, MAX_NOTEBOOK_BYTES)
            except (OSError, ValueError):
                return -1
            return sum(f'"{gid}"'.encode() in raw for gid in grade_ids)

        chosen = max(candidates, key=lambda p: (matches(p), os.lstat(p).st_mtime, p.name))
        notes.append(f"notebook named {printable(chosen.name)}, not {assignment}.ipynb: graded it")
    others = [printable(p.name) for p in candidates if p != chosen]
    if others:
        notes.append(f"also found {', '.join(others)}: not graded")
    return chosen, notes


def collect(root: Path, assignment: str, grade_ids=(), trust_stamps: bool = False,
            time_source: str = FILE_TIME) -> tuple[list[Submission], list[str]]:
    """Every student found under ``root`` (a folder) and the entries that were ignored, with reasons.

    ``time_source`` names where file times come from (``ZIP_TIME`` after :func:`unpack`); with
    ``trust_stamps`` a ``timestamp.txt`` beside the notebook wins.
    """
    base = root = Path(root)
    root = _unwrap(root)
    groups: dict[str, dict] = {}
    ignored: list[str] = []
    for entry in _entries(root, ignored, base):
        if entry.is_dir():
            groups.setdefault(entry.name, {"files": [], "dirs": []})["dirs"].append(entry)
        elif entry.suffix == ".ipynb":
            student = entry.stem.split("_", 1)[0] if "_" in entry.stem else entry.stem
            groups.setdefault(student, {"files": [], "dirs": []})["files"].append(entry)
        else:
            ignored.append(f"{printable(entry.name)} (not a notebook or a student folder)")
    ids = unique_student_ids(groups)
    found = [_submission(ids[raw], group, root, base, assignment, grade_ids, trust_stamps, time_source, ignored)
             for raw, group in sorted(groups.items(), key=lambda item: ids[item[0]])]
    return found, ignored


def _submission(student, group, root, base, assignment, grade_ids, trust_stamps, time_source, ignored):
    candidates, extra = list(group["files"]), []
    for folder in group["dirs"]:
        files = _walk(folder, ignored, base)
        candidates += [p for p in files if p.suffix == ".ipynb"]
        extra += [printable(p.name) for p in files if p.suffix != ".ipynb" and p.name != "timestamp.txt"]
    submission = Submission(student)
    if not candidates:
        seen = ", ".join(sorted(extra)[:5]) or "nothing"
        submission.problem = ("missing-notebook", f"no .ipynb file for {assignment} (found: {seen})")
        return submission
    chosen, submission.notes = _choose(candidates, assignment, grade_ids)
    submission.path, submission.origin = chosen, printable(str(chosen.relative_to(root)))
    student_root = next((d for d in group["dirs"] if d in chosen.parents), chosen.parent)
    submission.timestamp, submission.timestamp_source = _timestamp(chosen, student_root, trust_stamps, time_source)
    try:
        submission.sha256 = hashlib.sha256(read_regular(chosen, MAX_NOTEBOOK_BYTES)).hexdigest()
    except (OSError, ValueError) as error:
        submission.problem = ("invalid-notebook", printable(str(error)))
    if extra:
        submission.notes.append(f"{len(extra)} other file(s) ignored")
    return submission


# ---------------------------------------------------------------- reading one notebook
def read_notebook(path: Path) -> tuple[list[dict] | None, list[str], str | None]:
    """``(cells, notes, problem)``: cells as plain dicts {type, source, id, nbgrader, tags}."""
    notes = []
    try:
        raw = read_regular(path, MAX_NOTEBOOK_BYTES)
    except ValueError as error:
        return None, notes, str(error)
    except OSError as error:
        return None, notes, f"cannot be read as a regular file ({printable(str(error))})"
    if not raw:
        return None, notes, "empty file (0 bytes)"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        text = raw.decode("utf-8", errors="replace")
        notes.append(f"non-UTF-8 bytes replaced (first at byte {error.start})")
    try:
        data = json.loads(text)
        clean = valid_utf8(data)
    except json.JSONDecodeError as error:
        return None, notes, f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
    except RecursionError:
        return None, notes, "not a Jupyter notebook (JSON nested too deeply to read)"
    if clean != data:
        notes.append("characters that are not valid Unicode (lone surrogates) replaced")
    data = clean
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
