"""Which students' answers are too alike: ``cnncourse similarity ASSIGNMENT SUBMISSIONS --out DIR``.

Why this design (copydetect evaluated first): copydetect 0.5.0 brings k-gram fingerprinting with the
winnowing of Schleimer, Wilkerson and Aiken ("Winnowing: local algorithms for document fingerprinting",
SIGMOD 2003) and the bookkeeping that maps matched fingerprints back to copied slices; we use exactly that
part. Its own front end does
not fit notebooks: it reads whole files (a notebook is JSON; only the answer cells are the student's work),
its pygments filter keeps numeric literals, and its boilerplate filter assumes unique hashes. So this module
reads each submission through the grader's own intake (the answer of every grade id, however the cells were
moved or relabelled, plus the student's own cells), normalizes it with Python's tokenizer (every
identifier that is not a keyword or builtin becomes ``V``, numbers ``N``, strings ``S``; comments, blank
lines and formatting vanish), removes the fingerprints of the starter code and of the instructor's solution
(code everybody may legitimately share), and compares every pair with copydetect's overlap functions.
"""
from __future__ import annotations

import builtins
import html
import io
import itertools
import json
import keyword
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import intake

K = 25  # noise threshold: a match shorter than 25 normalized characters (~10 tokens) is ignored
# Winnowing window 1 keeps every k-gram: answers are short, and with a larger window which fingerprints are
# kept depends on Python's per-process string hash (copydetect hashes with hash()), so scores would vary
# from run to run. With 1 every shared stretch of K normalized characters is found, the same way every time.
WINDOW = 1
THRESHOLD = 0.6  # a pair is flagged when the copied share of either answer reaches this
MIN_OVERLAP = 2 * K  # ... and the shared part is long enough to be more than one idiom
KEEP = set(keyword.kwlist) | set(dir(builtins))
SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.M)


def _copydetect():
    try:
        from copydetect import utils
    except ImportError as error:  # pragma: no cover - a missing requirement, said plainly
        raise RuntimeError("cnncourse similarity needs copydetect (pip install copydetect==0.5.0)") from error
    return utils


# ---------------------------------------------------------------- normalization
@dataclass
class Normalized:
    text: str  # one symbol per identifier/number/string, operators and keywords as written
    starts: list  # starts[i]: offset in the original code of the token that produced text[i]
    ends: list  # ends[i]: offset just after that token


def _tokens(code: str):
    """(kind, text, start, end) with absolute offsets; a regular-expression fallback for broken code."""
    lines = code.splitlines(keepends=True)
    line_start = list(itertools.accumulate([0] + [len(line) for line in lines]))
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        tokens = None
    if tokens is not None:
        for tok in tokens:
            (r0, c0), (r1, c1) = tok.start, tok.end
            if tok.type != tokenize.ENDMARKER and r0 > 0:
                yield tokenize.tok_name[tok.type], tok.string, line_start[r0 - 1] + c0, line_start[r1 - 1] + c1
        return
    pattern = re.compile(r"(?P<COMMENT>#[^\n]*)|(?P<STRING>'[^'\n]*'|\"[^\"\n]*\")|(?P<NUMBER>\d[\w.]*)"
                         r"|(?P<NAME>[A-Za-z_]\w*)|(?P<OP>\S)")
    for match in pattern.finditer(code):
        yield match.lastgroup, match.group(), match.start(), match.end()


def normalize(code: str) -> Normalized:
    """Names, literals, comments and formatting normalized; offsets kept to highlight the original."""
    text, starts, ends = [], [], []
    for kind, string, start, end in _tokens(code):
        if kind == "NAME":
            symbol = string if string in KEEP else "V"
        elif kind == "NUMBER":
            symbol = "N"
        elif kind == "STRING":
            symbol = "S"
        elif kind in ("OP", "ERRORTOKEN") and string.strip():
            symbol = string
        else:  # comments, newlines, indentation
            continue
        text.append(symbol)
        starts += [start] * len(symbol)
        ends += [end] * len(symbol)
    return Normalized("".join(text), starts, ends)


# ---------------------------------------------------------------- fingerprints and comparison
@dataclass
class Fingerprint:
    student: str
    code: str  # the answer cells as the student wrote them
    norm: Normalized
    hashes: set
    index: dict  # hash -> positions in norm.text
    coverage: float  # normalized characters covered by a kept fingerprint


def boilerplate(codes) -> set:
    """Every k-gram hash of the given code (starter and solution): no student is flagged for sharing it."""
    utils = _copydetect()
    found = set()
    for code in codes:
        text = normalize(code).text
        if len(text) >= K:
            found |= set(utils.hashed_kgrams(text, K).tolist())
    return found


def fingerprint(student: str, cells: list[str], shared: set) -> Fingerprint:
    """Winnowed fingerprints of each cell (no k-gram spans two cells), minus the shared ones, in one index."""
    utils = _copydetect()
    code, norm, index = "", Normalized("", [], []), {}
    for cell in cells:
        if code:
            code += "\n\n"
        part = normalize(cell)
        if len(part.text) >= K:
            for h, positions in utils.get_document_fingerprints(part.text, K, WINDOW)[1].items():
                if h not in shared:
                    index.setdefault(h, []).extend(p + len(norm.text) for p in positions)
        norm = Normalized(norm.text + part.text, norm.starts + [len(code) + o for o in part.starts],
                          norm.ends + [len(code) + o for o in part.ends])
        code += cell
    coverage = float(utils.get_token_coverage(index, K, len(norm.text))) if index else 0.0
    return Fingerprint(student, code, norm, set(index), index, coverage)


def compare(a: Fingerprint, b: Fingerprint) -> dict:
    """Shared normalized characters, the copied share of each answer and the copied slices (original offsets)."""
    utils = _copydetect()
    idx_a, idx_b = utils.find_fingerprint_overlap(a.hashes, b.hashes, a.index, b.index)
    if len(idx_a) == 0:
        return {"overlap": 0, "share": (0.0, 0.0), "slices": ([], [])}
    slices = []
    for fp, idx in ((a, idx_a), (b, idx_b)):
        starts, ends = utils.get_copied_slices(idx, K)
        spans = [(fp.norm.starts[s], fp.norm.ends[min(e, len(fp.norm.text)) - 1]) for s, e in zip(starts, ends)]
        slices.append((int(np.sum(ends - starts)), spans))
    share = tuple(min(1.0, n / fp.coverage) if fp.coverage else 0.0 for (n, _), fp in zip(slices, (a, b)))
    return {"overlap": min(slices[0][0], slices[1][0]), "share": share, "slices": (slices[0][1], slices[1][1])}


def rank(prints: list[Fingerprint], threshold: float = THRESHOLD, min_overlap: int = MIN_OVERLAP) -> list[dict]:
    """Every pair, most similar first; ``flagged`` when either side's copied share reaches ``threshold``."""
    pairs = []
    for a, b in itertools.combinations(prints, 2):
        result = compare(a, b)
        score = max(result["share"])
        pairs.append({"a": a.student, "b": b.student, "score": round(score, 3),
                      "share": [round(s, 3) for s in result["share"]], "overlap": result["overlap"],
                      "flagged": score >= threshold and result["overlap"] >= min_overlap,
                      "slices": result["slices"]})
    pairs.sort(key=lambda p: (-p["score"], -p["overlap"], p["a"], p["b"]))
    return pairs


def groups(pairs: list[dict]) -> list[list[str]]:
    """Connected groups of flagged pairs (a copied from b, c from b: one group a, b, c)."""
    parent: dict[str, str] = {}

    def root(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        if p["flagged"]:
            parent[root(p["a"])] = root(p["b"])
    clusters: dict[str, list] = {}
    for student in parent:
        clusters.setdefault(root(student), []).append(student)
    return sorted((sorted(c) for c in clusters.values() if len(c) > 1), key=lambda c: (-len(c), c))


# ---------------------------------------------------------------- reading the class
def _answer_cells(source_nb, release_nb, cells) -> list[str]:
    """The student's answer cells (by grade id, as the grader finds them) and own cells, in notebook order."""

    notebook = intake.assemble(source_nb, release_nb, cells).notebook
    known = {c.get("id") for c in source_nb.cells}
    parts = []
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("solution") or cell.get("id") not in known):
            parts.append(cell.source)
    return parts


def starter_and_solution(source_nb, release_nb) -> list[str]:
    """The code everybody may share: the released answer cells and the solution's answers."""
    answers = [c for c in source_nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    starters = [c.source for c in release_nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    return starters + [SOLUTION_MARKERS.sub("", c.source) for c in answers]


def class_fingerprints(source_nb, release_nb, submissions) -> tuple[list[Fingerprint], list[str]]:
    """Fingerprints of every readable submission (``intake.Submission`` list) and the students skipped."""

    shared = boilerplate(starter_and_solution(source_nb, release_nb))
    prints, skipped = [], []
    for submission in submissions:
        if submission.problem or submission.path is None:
            skipped.append(submission.student)
            continue
        cells, _, problem = intake.read_notebook(submission.path)
        if problem:
            skipped.append(submission.student)
            continue
        prints.append(fingerprint(submission.student, _answer_cells(source_nb, release_nb, cells), shared))
    return prints, skipped


# ---------------------------------------------------------------- the report
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:80em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}} tr.flagged{{background:#fde2e2}}
.side{{display:flex;gap:1em}} .side>div{{flex:1;min-width:0}} pre{{background:#f6f6f6;padding:.6em;overflow:auto}}
mark{{background:#ffd966}}</style></head><body>{body}</body></html>"""


def _highlighted(code: str, spans) -> str:
    out, at = [], 0
    for start, end in sorted(spans):
        start = max(start, at)
        if end <= start:
            continue
        out += [html.escape(code[at:start]), "<mark>", html.escape(code[start:end]), "</mark>"]
        at = end
    out.append(html.escape(code[at:]))
    return "".join(out)


def _pair_file(pair) -> str:
    return f"pairs/{pair['a']}__{pair['b']}.html"


def write_report(out: Path, assignment: str, prints: list[Fingerprint], pairs: list[dict], clusters, skipped,
                 top: int = 50) -> Path:
    """``out/index.html`` (ranked pairs, groups) and ``out/pairs/A__B.html`` side by side; ``similarity.json``."""
    out = Path(out)
    (out / "pairs").mkdir(parents=True, exist_ok=True)
    code = {fp.student: fp.code for fp in prints}
    shown = [p for p in pairs if p["flagged"]] + [p for p in pairs[:top] if not p["flagged"]]
    rows = []
    for p in shown:
        link = f'<a href="{html.escape(_pair_file(p))}">side by side</a>'
        rows.append(f'<tr class="{"flagged" if p["flagged"] else ""}"><td>{html.escape(p["a"])}</td>'
                    f'<td>{html.escape(p["b"])}</td><td>{p["score"]:.0%}</td><td>{p["share"][0]:.0%} / '
                    f'{p["share"][1]:.0%}</td><td>{p["overlap"]}</td><td>{"yes" if p["flagged"] else ""}</td>'
                    f"<td>{link}</td></tr>")
        left, right = (_highlighted(code[p[s]], p["slices"][i]) for i, s in enumerate("ab"))
        body = (f"<h1>{html.escape(p['a'])} and {html.escape(p['b'])}</h1><p>{p['score']:.0%} similar "
                f"(copied share {p['share'][0]:.0%} of {html.escape(p['a'])}'s answers, {p['share'][1]:.0%} of "
                f"{html.escape(p['b'])}'s); highlighted: code whose normalized form matches the other side."
                f' <a href="../index.html">all pairs</a></p><div class="side"><div><h2>{html.escape(p["a"])}</h2>'
                f"<pre>{left}</pre></div><div><h2>{html.escape(p['b'])}</h2><pre>{right}</pre></div></div>")
        (out / _pair_file(p)).write_text(PAGE.format(title=f"{p['a']} / {p['b']}", body=body), encoding="utf-8")
    group_items = "".join(f"<li>{', '.join(html.escape(s) for s in c)}</li>" for c in clusters) or "<li>none</li>"
    body = (f"<h1>Similarity of answers: {html.escape(assignment)}</h1>"
            f"<p>{len(prints)} submissions compared, {len(pairs)} pairs, {sum(p['flagged'] for p in pairs)} "
            f"flagged (copied share ≥ {THRESHOLD:.0%} and at least {MIN_OVERLAP} normalized characters in common). "
            "Names, numbers, strings, comments and formatting are normalized; the starter code and code identical "
            "to the solution are not counted. A flag is a reason to look, not a verdict.</p>"
            f"<h2>Groups</h2><ul>{group_items}</ul>"
            + (f"<p>Not compared (no readable notebook): {html.escape(', '.join(skipped))}</p>" if skipped else "")
            + "<h2>Pairs</h2><table><tr><th>student</th><th>student</th><th>similarity</th><th>copied share</th>"
            "<th>shared chars</th><th>flagged</th><th></th></tr>" + "".join(rows) + "</table>")
    index = out / "index.html"
    index.write_text(PAGE.format(title=f"similarity {assignment}", body=body), encoding="utf-8")
    summary = {"assignment": assignment, "threshold": THRESHOLD, "min_overlap": MIN_OVERLAP, "k": K,
               "window": WINDOW, "groups": clusters, "skipped": skipped,
               "pairs": [{k: v for k, v in p.items() if k != "slices"} for p in pairs]}
    (out / "similarity.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return index


def similarity_report(assignment: str, submissions: Path, out: Path, course_root: Path) -> dict:
    """The whole command: read the class, rank pairs, group them, write the pages; returns similarity.json."""
    from .assignment import load_assignment

    task = load_assignment(assignment, Path(course_root))
    root = Path(submissions)
    if root.is_file():
        root, _ = intake.unpack(root, Path(out) / ".unpacked")
    elif not root.is_dir():
        raise FileNotFoundError(f"submissions not found: {root} (a folder or a .zip)")
    found, _ = intake.collect(root, assignment, list(task.points))
    prints, skipped = class_fingerprints(task.source, task.release, found)
    pairs = rank(prints)
    clusters = groups(pairs)
    write_report(Path(out), assignment, prints, pairs, clusters, skipped)
    return json.loads((Path(out) / "similarity.json").read_text())
