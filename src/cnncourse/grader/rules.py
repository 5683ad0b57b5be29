"""Honesty rules checked in the trusted run, while the student's function runs: forbidden routes, loop budgets.

An exercise may forbid library routes ("no ``F.conv2d``", "no ``np.convolve``") or a Python loop over output
positions. The hidden tests declare such rules as plain data, at the top level of a test cell::

    GRADER_RULES = {"conv2d_im2col": {"forbid": ["aten.convolution", "scipy.signal"], "max_lines": 150}}

Every replayed call of a listed function (and every probe of that name) runs under a ``Watch``:
  * ``aten.NAME``: a TorchDispatchMode sees each ATen operator whatever Python route reached it
    (``F.conv1d``, ``torch.ops.aten.convolution``, ``nn.Conv2d``, an alias saved before a patch);
  * a dotted Python name (``numpy.convolve``, ``torch.autograd.grad``) is resolved before any student code
    runs; a profile hook then matches its code object (Python functions) or its identity (builtins); the name of
    a module (``scipy.signal``) forbids every function defined in it or below it;
  * ``max_lines``: a trace hook counts the lines of Python that run outside the installed libraries;
  * switching a hook off (``sys.setprofile``, ``sys.settrace``, popping the dispatch mode) or starting a thread
    or a process during the call breaks the rule too.
The watch lives in the student's process: code that rewrites the grader's objects in its own memory could
evade it. The rules stop every ordinary route, including the ones the in-notebook ``mock.patch`` misses.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

RULES_NAME = "GRADER_RULES"
MAX_BROKEN = 5  # rule breaks reported per call
ESCAPES = ("sys.setprofile", "sys.settrace", "threading.setprofile", "threading.settrace", "_thread.start_new_thread",
           "os.fork", "os.forkpty", "os.posix_spawn", "os.posix_spawnp", "os.system", "subprocess.Popen.__init__")
DISPATCH_ESCAPES = ("torch._C._pop_torch_dispatch_mode", "torch._C._set_dispatch_mode", "torch._C._unset_dispatch_mode",
                    "torch.utils._python_dispatch._pop_mode", "torch.utils._python_dispatch._pop_mode_temporarily")


@dataclass(frozen=True)
class Rule:
    """What one graded function may not do: forbidden routes (``aten.*`` or dotted Python names), a line budget."""
    forbid: tuple[str, ...] = ()
    max_lines: int | None = None

    def to_dict(self) -> dict:
        return {"forbid": list(self.forbid), "max_lines": self.max_lines}

    @classmethod
    def from_dict(cls, data) -> Rule:
        if not isinstance(data, dict) or set(data) - {"forbid", "max_lines"}:
            raise ValueError(f"a rule is {{'forbid': [...], 'max_lines': n}}, got {data!r}")
        forbid, max_lines = data.get("forbid", []), data.get("max_lines")
        if not isinstance(forbid, (list, tuple)) or not all(isinstance(n, str) and n for n in forbid):
            raise ValueError(f"'forbid' must be a list of dotted names, got {forbid!r}")
        if max_lines is not None and (not isinstance(max_lines, int) or isinstance(max_lines, bool) or max_lines < 1):
            raise ValueError(f"'max_lines' must be a positive int, got {max_lines!r}")
        return cls(tuple(forbid), max_lines)


def declared(sources) -> dict[str, Rule]:
    """The rules the hidden tests declare (``GRADER_RULES = {...}`` at a test cell's top level), merged."""
    found: dict[str, Rule] = {}
    for source in sources:
        text = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == RULES_NAME for t in node.targets):
                value = ast.literal_eval(node.value)
                if not isinstance(value, dict):
                    raise ValueError(f"{RULES_NAME} must be a dict of function name → rule")
                for name, rule in value.items():
                    if name in found:
                        raise ValueError(f"{RULES_NAME}: {name!r} is declared twice")
                    found[name] = Rule.from_dict(rule)
    return found


# ---------------------------------------------------------------- in the job child
def _resolve(dotted: str):
    """The object a dotted name stands for (importing what is needed), or None when it does not exist."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                target = getattr(target, attr)
        except AttributeError:
            return None
        return target
    return None


@dataclass(frozen=True)
class Targets:
    """Forbidden things, resolved once, before any student code runs."""
    codes: dict  # code object → the name the rule uses
    builtins: dict  # id(builtin) → name
    modules: tuple  # (module name prefix, rule name)
    aten: frozenset  # "aten.convolution", …
    keep: tuple  # the resolved objects themselves: their ids stay valid
    roots: tuple = ()  # folders of installed code (``_library_roots``)


def resolve(names) -> Targets:
    codes, builtins, modules, aten, keep = {}, {}, [], set(), []
    for name in names:
        if name.startswith("aten."):
            aten.add(name)
            continue
        target = _resolve(name)
        if target is None:
            continue
        keep.append(target)
        if isinstance(target, type(sys)):
            modules.append((target.__name__, name))
            continue
        target = getattr(target, "_implementation", target)  # NumPy's dispatchers call the Python function
        code = getattr(target, "__code__", None)
        if code is not None:
            codes[code] = name
        else:
            builtins[id(target)] = name
    return Targets(codes, builtins, tuple(modules), frozenset(aten), tuple(keep))


def _library_roots() -> tuple[str, ...]:
    import cnncourse

    return tuple({sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(cnncourse.__file__).parent)})


def _library_file(frame, roots: tuple[str, ...]) -> bool:
    """A frame of an installed module (Python's, a library's, the course package's): its globals are that
    module's, loaded from the file its code names, under one of ``roots``. Student code is never one."""
    module = sys.modules.get(frame.f_globals.get("__name__", ""))
    file = frame.f_code.co_filename
    return (module is not None and getattr(module, "__dict__", None) is frame.f_globals
            and getattr(module, "__file__", None) == file and file.startswith(roots))


class Watch:
    """Runs one call under the hooks; ``broken`` lists what the call did that its rule forbids."""

    def __init__(self, rule: Rule, targets: Targets, escapes: Targets):
        self.rule, self.targets, self.escapes = rule, targets, escapes
        self.broken: list[str] = []
        self.lines, self.active = 0, False

    def _break(self, what: str) -> None:
        if what not in self.broken and len(self.broken) < MAX_BROKEN:
            self.broken.append(what)

    def _profile(self, frame, event, arg):
        if not self.active:
            return
        if event == "call":
            code = frame.f_code
            name = self.targets.codes.get(code) or self.escapes.codes.get(code)
            if name is None and self.targets.modules:
                module = frame.f_globals.get("__name__", "")
                name = next((rule for prefix, rule in self.targets.modules
                             if module == prefix or module.startswith(prefix + ".")), None)
            if name:
                self._break(name)
        elif event == "c_call":
            name = self.targets.builtins.get(id(arg)) or self.escapes.builtins.get(id(arg))
            if name:
                self._break(name)

    def _trace(self, frame, event, arg):
        if _library_file(frame, self.escapes.roots):
            return None

        def local(frame, event, arg):
            self.lines += event == "line"
            return local

        return local

    def call(self, fn, *args, **kwargs):
        mode = _dispatch_mode(self) if self.targets.aten else None
        tracing = self.rule.max_lines is not None
        previous = sys.getprofile(), sys.gettrace()
        if mode is not None:
            mode.__enter__()
        if tracing:
            sys.settrace(self._trace)
        self.active = True
        sys.setprofile(self._profile)
        try:
            return fn(*args, **kwargs)
        finally:
            self.active = False  # the grader's own calls below are not the student's
            hooks_kept = sys.getprofile() == self._profile and (not tracing or sys.gettrace() == self._trace)
            sys.setprofile(previous[0])
            sys.settrace(previous[1])
            if mode is not None:
                hooks_kept &= _current_mode() is mode
                mode.__exit__(None, None, None)
            if not hooks_kept:
                self._break("switching the grader's checks off")
            if tracing and self.lines > self.rule.max_lines:
                self._break(f"{self.lines} lines of Python (at most {self.rule.max_lines})")


def _current_mode():
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    return _get_current_dispatch_mode()


def _dispatch_mode(watch: Watch):
    mode = _mode_class()()
    mode.watch = watch
    return mode


@functools.cache
def _mode_class():
    from torch.utils._python_dispatch import TorchDispatchMode

    class Forbidden(TorchDispatchMode):
        """Notes every ATen operator of a forbidden kind, then runs it unchanged."""

        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            return False  # no torch._dynamo wrapper around every operator: 2 s to import, slow per call

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = str(func.overloadpacket)
            if name in self.watch.targets.aten:
                self.watch._break(name)
            return func(*args, **(kwargs or {}))

    return Forbidden


class Rules:
    """The job's rules with their targets resolved (before the student's cells run)."""

    def __init__(self, rules: dict[str, Rule]):
        self.rules = rules
        self.targets = {name: resolve(rule.forbid) for name, rule in rules.items()}
        roots = _library_roots()
        self.escapes = dataclasses.replace(resolve(ESCAPES if rules else ()), roots=roots)
        aten = any(t.aten for t in self.targets.values())  # popping the dispatch mode matters only when it is on
        self.dispatch_escapes = dataclasses.replace(resolve((*ESCAPES, *DISPATCH_ESCAPES) if aten else ()), roots=roots)
        if aten:
            _mode_class()  # built before any student code runs

    def watch(self, name: str) -> Watch | None:
        rule = self.rules.get(name)
        if rule is None:
            return None
        targets = self.targets[name]
        return Watch(rule, targets, self.dispatch_escapes if targets.aten else self.escapes)
