"""Which code cells a graded notebook must run: only those the scores can depend on.

For every graded (test) cell the cells it needs run: the answer cells, the student's own cells, the cells
that define or may change a name a needed cell reads (transitively), and cells with effects beyond their
names (imports alone, seeding, global settings, magics, code that does not parse). The rest — typically the
experiment's training cells that no test reads — is skipped and listed in ``report.json``.

The analysis is conservative: a name passed to a call, called a method on, or stored into counts as
changed (``fit(model)`` trains ``model``); a name bound from another (``w = model.weight``,
``opt = SGD(model.parameters())``) is an alias whose changes count for both; a call of a notebook
function counts as changing the globals that function changes. UPPER_CASE names (the parameters cell's
QUICK, DEVICE, SEED…), names bound only to literals or immutable values (``device = choose_device(…)``) and
names bound only by ``def`` (a loss function given to ``fit``) passed to a call are read, not changed.
Seeding counts as an effect in a cell that only seeds: a test that
needs a seed sets it (the course's hidden tests seed their own generators), and the equivalence test in
tests/test_contract.py checks every notebook scores the same with and without the selection. Anything the
analysis cannot read (a syntax error, a magic) runs.
"""
from __future__ import annotations

import ast
import builtins
import functools
import re
from dataclasses import dataclass

# calls that change global state: on a module (torch.set_default_dtype, np.set_printoptions, warnings.filterwarnings,
# matplotlib.use, os.chdir…), or builtins that reach any name (exec, setattr…)
MODULE_EFFECTS = re.compile(r"^(set_\w+|use_deterministic_algorithms|filterwarnings|simplefilter|setrecursionlimit|"
                            r"chdir|putenv|use|rc)$")
BUILTIN_EFFECTS = {"exec", "eval", "globals", "setattr", "delattr"}
# bound only from these (or literals), a name holds a value no call can change: passing it is reading it
IMMUTABLE_CALLS = {"device", "choose_device", "str", "int", "float", "bool", "len", "tuple", "frozenset", "range",
                   "round", "min", "max", "abs", "sum", "dtype"}


BUILTINS = set(dir(builtins))


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


@functools.lru_cache(maxsize=4096)
def _tree(source: str):
    """The cell's syntax tree without its magic lines, or None; shared, never changed: in a class most cells
    (tests, locked cells, the instructor's text) are the same in every submission."""
    try:
        return ast.parse(_code(source)[0])
    except SyntaxError:
        return None


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


def _on_result_of(func: ast.Attribute, name: str) -> bool:
    """``name(…).item()``: the method is called on what ``name`` returned, not on ``name`` itself."""
    node = func.value
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call, ast.Starred)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name:
            return True
        node = node.func if isinstance(node, ast.Call) else node.value
    return False


def _changed(nodes, modules: set, immutable=frozenset()) -> tuple[set, bool]:
    """Names a scope may change (stores, augmented, deletes, method calls, arguments), and global effects."""
    changed, effects = set(), False
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            changed.add(node.id)
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            base = _base(node)
            effects |= base in modules  # torch.backends.cudnn.deterministic = True, os.environ[…] = …
            changed.add(base)
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                base = _base(func)
                on_module = base in modules
                effects |= on_module and bool(MODULE_EFFECTS.match(func.attr))
                if not on_module and not (base in immutable and _on_result_of(func, base)):
                    changed.add(base)
            else:
                effects |= getattr(func, "id", "") in BUILTIN_EFFECTS
            passed = {_base(a) for a in [*node.args, *(k.value for k in node.keywords)]}
            changed |= {n for n in passed if n and not n.isupper() and n not in immutable and n not in modules}
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            changed |= set(node.names)
    changed.discard(None)
    return changed, effects


def _aliases(tree, modules: set) -> list:
    """``(targets, sources, rebinds)`` per binding statement, in order: the targets may share state with
    the sources (``w = model.weight``); ``rebinds``: the targets' earlier values are gone."""
    found, top = [], {id(n) for n in tree.body}
    for node in sorted((n for n in _scoped(tree) if hasattr(n, "lineno")), key=lambda n: (n.lineno, n.col_offset)):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.For)):
            value = node.iter if isinstance(node, ast.For) else node.value
            if value is None:
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            called = {id(c.func) for c in ast.walk(value) if isinstance(c, ast.Call)}
            sources = {n.id for n in ast.walk(value) if isinstance(n, ast.Name) and id(n) not in called} - modules
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            rebinds = (id(node) in top or isinstance(node, ast.For)) and not isinstance(node, ast.AugAssign)
            found.append((tuple(sorted(names)), tuple(sorted(sources)), rebinds))
    return found


SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp,
          ast.DictComp, ast.GeneratorExp)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _free_names(scope) -> set:
    """Names a function, class, lambda or comprehension reads from outside (its own locals removed)."""
    declared = {n for g in ast.walk(scope) if isinstance(g, (ast.Global, ast.Nonlocal)) for n in g.names}
    local = {a.arg for a in ast.walk(scope) if isinstance(a, ast.arg)}
    local |= {n.id for n in ast.walk(scope) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    local |= {n.name for n in ast.walk(scope) if isinstance(n, SCOPES[:3]) and n is not scope}
    return {n.id for n in ast.walk(scope) if isinstance(n, ast.Name)} - (local - declared)


CONDITIONAL = (ast.If, ast.While, ast.Try, ast.Match)  # a binding inside may not happen; a loop's body is read as run


def _in_order(node, conditional=False):
    """``(name node, conditional)`` of the cell's own scope in evaluation order (values before targets)."""
    if isinstance(node, ast.Name):
        yield node, conditional
        return
    if isinstance(node, COMPREHENSIONS):  # run where they stand: they read what the cell bound before them
        for name in sorted(_free_names(node)):
            yield ast.Name(name, ast.Load()), conditional
        return
    if isinstance(node, SCOPES):
        return
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
        if getattr(node, "value", None) is not None:
            yield from _in_order(node.value, conditional)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
            if isinstance(node, ast.AugAssign) and isinstance(target, ast.Name):
                yield ast.Name(target.id, ast.Load()), conditional  # x += 1 reads x first
            yield from _in_order(target, conditional)
        return
    if isinstance(node, (ast.For, ast.AsyncFor)):
        yield from _in_order(node.iter, conditional)
        yield from _in_order(node.target, conditional)  # bound before anything reads it
        for child in [*node.body, *node.orelse]:
            yield from _in_order(child, conditional)
        return
    for child in ast.iter_child_nodes(node):
        yield from _in_order(child, conditional or isinstance(node, CONDITIONAL))


def _reads(tree) -> set:
    """Names read before the cell itself binds them (a loop target or a first assignment is not a read);
    a name bound only where it may not run (``if``, ``while``, ``try``) is read as well."""
    reads, bound = set(), set()
    for node, conditional in _in_order(tree):
        if isinstance(node.ctx, ast.Load):
            if node.id not in bound:
                reads.add(node.id)
        elif not conditional:
            bound.add(node.id)
    for node in _scoped(tree):
        if isinstance(node, SCOPES) and not isinstance(node, COMPREHENSIONS):  # may run later: read at any time
            reads |= _free_names(node)
    return reads


def _function_changes(tree, modules: set, immutable=frozenset()) -> list:
    """For each function the cell defines: the global names its body may change."""
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
            declared = {n for g in ast.walk(node) if isinstance(g, ast.Global) for n in g.names}
            local |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)} - declared
            changed, _ = _changed(ast.walk(node), modules, immutable)
            found.append((node.name, tuple(sorted(changed - local))))
    return found


def _immutable_value(node, immutable: set) -> bool:
    if isinstance(node, (ast.Constant, ast.JoinedStr)):
        return True
    if isinstance(node, ast.Name):
        return node.id in immutable or node.id.isupper()
    if isinstance(node, ast.Tuple):
        return all(_immutable_value(e, immutable) for e in node.elts)
    if isinstance(node, (ast.BinOp, ast.BoolOp, ast.UnaryOp, ast.Compare, ast.IfExp)):
        return all(_immutable_value(e, immutable) for e in ast.iter_child_nodes(node) if isinstance(e, ast.expr))
    if isinstance(node, ast.Call):
        func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        return func in IMMUTABLE_CALLS
    return False


def immutable_names(sources) -> set:
    """Names every top-level binding of which is a literal, a setting or an immutable call (``device``)."""
    bindings: dict = {}
    for source in sources:
        tree = _tree(source)
        if tree is None:
            continue
        simple = set()
        for node in _scoped(tree):
            if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
                for t in node.targets:
                    bindings.setdefault(t.id, []).append(node.value)
                    simple.add(id(t))
        for node in _scoped(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)) and id(node) not in simple:
                bindings.setdefault(node.id, []).append(None)  # a binding of another kind: not provably immutable
    immutable: set = set()
    for _ in range(3):  # names bound from names bound from literals…
        immutable |= {n for n, values in bindings.items() if all(v is not None and _immutable_value(v, immutable)
                                                                 for v in values)}
    return immutable


def function_names(sources) -> set:
    """Names bound only by undecorated ``def`` statements: passing a function to a call (``fit(loss_fn=
    mse_loss)``) cannot change it; storing into it counts as a change, ``setattr`` is an effect."""
    kinds: dict = {}
    for source in sources:
        tree = _tree(source)
        if tree is None:
            continue
        for node in _scoped(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                kinds.setdefault(node.name, set()).add("other" if node.decorator_list else "def")
            elif isinstance(node, ast.ClassDef):
                kinds.setdefault(node.name, set()).add("other")
            elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                kinds.setdefault(node.id, set()).add("other")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for name in _bound_by(node):
                    kinds.setdefault(name, set()).add("other")
        for node in ast.walk(tree):  # a function body may rebind it: ``global mse_loss``
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                for name in node.names:
                    kinds.setdefault(name, set()).add("other")
    return {name for name, kind in kinds.items() if kind == {"def"}}


def _seed_only(tree) -> bool:
    """A cell that only seeds generators: cheap, and what follows may rely on it."""
    calls = [n.value for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
    names = [c.func.attr if isinstance(c.func, ast.Attribute) else getattr(c.func, "id", "") for c in calls]
    return bool(tree.body) and len(calls) == len(tree.body) and all("seed" in n for n in names)


def analyse(source: str, modules=frozenset(), immutable=frozenset()) -> CellUse:
    """The names a cell binds, changes and reads; ``modules``: names bound by imports in the notebook;
    ``immutable``: names a call cannot change (``immutable_names``, ``function_names``)."""
    return _analyse(source, frozenset(modules), frozenset(immutable))


@functools.lru_cache(maxsize=4096)
def _analyse(source: str, modules: frozenset, immutable: frozenset) -> CellUse:
    magic, tree = _code(source)[1], _tree(source)
    if tree is None:
        return CellUse(frozenset(), frozenset(), frozenset(), True)
    imports = _import_names(source)
    modules = set(modules) | imports
    binds = _top_binds(tree)
    changed, effects = _changed(_scoped(tree), modules, immutable)
    only_imports = bool(tree.body) and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body)
    reads = _reads(tree)  # what it changes without binding first (x.append, x += 1) it reads first
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return CellUse(frozenset(binds), frozenset(changed - binds), frozenset(reads), effects or magic or only_imports or _seed_only(tree),
                   tuple(_aliases(tree, modules)), frozenset(calls), tuple(_function_changes(tree, modules, immutable)), frozenset(imports))


class Aliases:
    """May-share-state sets, followed forward through the cells (a rebinding forgets the old ones)."""

    def __init__(self, shareable):
        self.shareable, self.of = shareable, {}

    def group(self, names) -> set:
        names = set(names)
        return names.union(*(self.of.get(n, ()) for n in names))

    def bind(self, targets, sources, rebinds: bool) -> None:
        targets = [t for t in targets if self.shareable(t)]
        linked = self.group(s for s in sources if self.shareable(s))
        for t in targets:
            if rebinds:
                for members in self.of.values():
                    members.discard(t)
                self.of[t] = set()
            self.of.setdefault(t, set()).update(linked - {t})
            for m in linked - {t}:
                self.of.setdefault(m, set()).add(t)


def select(sources: dict, required) -> Selection:
    """``sources``: {index: source} of the code cells that may run, in order; ``required``: indices that
    always run (answers, tests, the student's own cells). Returns what to run and what is skipped."""
    modules = frozenset().union(*(_import_names(s) for s in sources.values())) if sources else frozenset()
    immutable = frozenset(immutable_names(sources.values()))
    passable = immutable | function_names(sources.values())  # passed to a call, read, not changed
    uses = {i: analyse(s, modules, passable) for i, s in sources.items()}
    shareable = lambda name: not (name.isupper() or name in immutable or name == "_")  # noqa: E731
    aliases, touched = Aliases(shareable), {}
    changes_of = {fn: set(names) for use in uses.values() for fn, names in use.global_changes}
    for i in sorted(sources):  # forward: what each cell may change, its aliases at that point included
        use = uses[i]
        for targets, origins, rebinds in use.aliases:
            aliases.bind(targets, origins, rebinds)
        direct = set(use.changes) | set().union(*(changes_of.get(f, ()) for f in use.calls))
        touched[i] = aliases.group(direct - BUILTINS) | (direct - BUILTINS)
    run, wanted = set(), set()
    for i in sorted(sources, reverse=True):  # backward: the cells the wanted names depend on
        use = uses[i]
        if i in required or use.effects or (use.binds | touched[i]) & wanted:
            run.add(i)
            wanted = (wanted - use.binds) | use.reads  # what it changes it also reads
    return Selection(tuple(sorted(run)), tuple(sorted(set(sources) - run)))


def _bound_by(node) -> set:
    """The top-level names an ``import`` statement binds (``import a.b`` binds ``a``)."""
    return {(a.asname or a.name).split(".")[0] for a in node.names}


def _import_names(source: str) -> set:
    tree = _tree(source)
    if tree is None:
        return set()
    return {name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for name in _bound_by(n)}
