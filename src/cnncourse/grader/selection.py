"""Which code cells a graded notebook must run: only those the scores can depend on.

For every graded (test) cell the cells it needs run: the answer cells, the student's own cells, the cells
that define or may change a name a needed cell reads (transitively), and cells with effects beyond their
names (imports alone, seeding, global settings, magics, code that does not parse). The rest — typically the
experiment's training cells that no test reads — is skipped and listed in ``report.json``.

The analysis is conservative: a name passed to a call, called a method on, or stored into counts as
changed (``fit(model)`` trains ``model``); a name bound from another (``w = model.weight``,
``opt = SGD(model.parameters())``) is an alias whose changes count for both; a call of a notebook
function counts as changing the globals that function changes. UPPER_CASE names (the parameters cell's
QUICK, DEVICE, SEED…) passed to a call are read, not changed. Anything it cannot read runs.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

EFFECT_CALLS = re.compile(r"seed|set_|use_deterministic|filterwarnings|simplefilter|setrecursionlimit|chdir|"
                          r"putenv|^use$|^exec$|^eval$|^globals$|^setattr$|^delattr$|^rc$|^style$")


@dataclass(frozen=True)
class CellUse:
    """What one cell's source binds, may change, reads, and whether it has effects beyond names."""
    binds: frozenset  # bound unconditionally at top level: earlier definitions no longer matter
    changes: frozenset  # bound conditionally, or possibly mutated
    reads: frozenset  # every name read anywhere in it, function bodies included
    effects: bool
    aliases: tuple = ()  # (target, source) pairs: target may share state with source
    calls: frozenset = frozenset()  # names called directly
    global_changes: tuple = ()  # (function, names it changes as globals) for the functions it defines
    imports: frozenset = frozenset()


@dataclass(frozen=True)
class Selection:
    run: tuple  # indices of the cells to run, in order
    skipped: tuple  # indices of the code cells not needed by any graded cell


def _code(source: str) -> tuple[str, bool]:
    lines = source.splitlines()
    magic = [line.lstrip().startswith(("%", "!")) for line in lines]
    return "\n".join("" if m else line for line, m in zip(lines, magic)), any(magic)


def _base(node):
    """``a`` for ``a``, ``a.b.c``, ``a[0].b``, ``a.b()``; None otherwise."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call, ast.Starred)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _top_binds(tree) -> set:
    binds = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            binds.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            binds |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                binds |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)
                          and not _inside_item(target, n)}
    return binds


def _inside_item(target, name) -> bool:
    """``x`` in ``x[0] = …`` or ``x.a = …`` is changed, not bound."""
    return any(isinstance(n, (ast.Attribute, ast.Subscript)) and any(m is name for m in ast.walk(n))
               for n in ast.walk(target))


def _scoped(tree):
    """Nodes of the cell's own scope: not inside function, class or lambda bodies or comprehensions."""
    stack = list(ast.iter_child_nodes(tree))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
                                 ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            stack.extend(ast.iter_child_nodes(node))


def _changed(nodes, modules: set) -> tuple[set, bool]:
    """Names a scope may change (stores, augmented, deletes, method calls, arguments), and global effects."""
    changed, effects = set(), False
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            changed.add(node.id)
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            base = _base(node)
            effects |= base in modules
            changed.add(base)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            effects |= bool(EFFECT_CALLS.search(name))
            if isinstance(func, ast.Attribute) and _base(func) not in modules:
                changed.add(_base(func))
            passed = {_base(a) for a in [*node.args, *(k.value for k in node.keywords)]}
            changed |= {n for n in passed if n and not n.isupper()}  # QUICK, DEVICE, SEED: settings, not state
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            changed |= set(node.names)
    changed.discard(None)
    return changed, effects


def _aliases(tree, modules: set) -> list:
    pairs = []
    for node in _scoped(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            called = {id(c.func) for c in ast.walk(node.value) if isinstance(c, ast.Call)}
            sources = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name) and id(n) not in called} - modules
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            pairs += [(t, s) for t in names for s in sources if t != s]
    return pairs


SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp,
          ast.DictComp, ast.GeneratorExp)


def _free_names(scope) -> set:
    """Names a function, class, lambda or comprehension reads from outside (its own locals removed)."""
    declared = {n for g in ast.walk(scope) if isinstance(g, (ast.Global, ast.Nonlocal)) for n in g.names}
    local = {a.arg for a in ast.walk(scope) if isinstance(a, ast.arg)}
    local |= {n.id for n in ast.walk(scope) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    local |= {n.name for n in ast.walk(scope) if isinstance(n, SCOPES[:3]) and n is not scope}
    return {n.id for n in ast.walk(scope) if isinstance(n, ast.Name)} - (local - declared)


def _reads(tree) -> set:
    reads = set()
    for node in _scoped(tree):
        if isinstance(node, ast.Name):
            reads.add(node.id)
        elif isinstance(node, SCOPES):
            reads |= _free_names(node)
    return reads


def _function_changes(tree, modules: set) -> list:
    """For each function the cell defines: the global names its body may change."""
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
            declared = {n for g in ast.walk(node) if isinstance(g, ast.Global) for n in g.names}
            local |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)} - declared
            changed, _ = _changed(ast.walk(node), modules)
            found.append((node.name, tuple(sorted(changed - local))))
    return found


def analyse(source: str, modules=frozenset()) -> CellUse:
    """The names a cell binds, changes and reads; ``modules``: names bound by imports in the notebook."""
    code, magic = _code(source)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return CellUse(frozenset(), frozenset(), frozenset(), True)
    imports = {(a.asname or a.name).split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
               for a in n.names}
    modules = set(modules) | imports
    binds = _top_binds(tree)
    changed, effects = _changed(_scoped(tree), modules)
    only_imports = bool(tree.body) and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body)
    reads = _reads(tree) | changed
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return CellUse(frozenset(binds), frozenset(changed - binds), frozenset(reads), effects or magic or only_imports,
                   tuple(_aliases(tree, modules)), frozenset(calls), tuple(_function_changes(tree, modules)), frozenset(imports))


def _closure(pairs) -> dict:
    """name -> every name it may share state with (both directions, transitively)."""
    linked: dict = {}
    for a, b in pairs:
        linked.setdefault(a, {a}).add(b)
        linked.setdefault(b, {b}).add(a)
    changed = True
    while changed:
        changed = False
        for name, group in linked.items():
            wider = set().union(*(linked.get(n, {n}) for n in group))
            if wider != group:
                linked[name], changed = wider, True
    return linked


def select(sources: dict, required) -> Selection:
    """``sources``: {index: source} of the code cells that may run, in order; ``required``: indices that
    always run (answers, tests, the student's own cells). Returns what to run and what is skipped."""
    modules = set().union(*(_import_names(s) for s in sources.values())) if sources else set()
    uses = {i: analyse(s, modules) for i, s in sources.items()}
    linked = _closure(pair for use in uses.values() for pair in use.aliases)
    changes_of = {fn: set(names) for use in uses.values() for fn, names in use.global_changes}
    run, wanted = set(), set()
    for i in sorted(sources, reverse=True):
        use = uses[i]
        touched = set(use.changes) | set().union(*(changes_of.get(f, ()) for f in use.calls))
        touched |= set().union(*(linked.get(n, {n}) for n in touched)) if touched else set()
        if i in required or use.effects or (use.binds | touched) & wanted:
            run.add(i)
            wanted = (wanted - use.binds) | use.reads | touched
    return Selection(tuple(sorted(run)), tuple(sorted(set(sources) - run)))


def _import_names(source: str) -> set:
    try:
        tree = ast.parse(_code(source)[0])
    except SyntaxError:
        return set()
    return {(a.asname or a.name).split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
            for a in n.names}
