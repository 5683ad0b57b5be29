"""What a student sees when a test passes or an exercise is not finished yet.

* ``passed("conv1d_full")`` prints one line, ``✓ conv1d_full: passed``, at the end of a visible test cell.
* ``needs(...)`` at the top of a cell that uses an earlier exercise's result stops the cell with one
  line, e.g. ``finish Exercise 3 (train_epoch) first``, instead of a traceback from deep inside later code.
  It checks that the names exist and that none of the named functions is still the unfinished stub
  (a body that only raises ``NotImplementedError``).
The notice is an ordinary error for Jupyter (the cell stops, later cells are not fooled), rendered by
IPython as its one line. Nothing here hides or swallows errors: graders read error outputs.
"""
from __future__ import annotations

import ast
import inspect
import textwrap

__all__ = ["ExerciseNotDone", "passed", "needs", "is_unfinished"]


class ExerciseNotDone(Exception):
    """An earlier exercise is not done: IPython shows this message alone, without a traceback."""

    def _render_traceback_(self):  # IPython's hook for a custom rendering of an exception
        return [f"\u26a0 {self}"]


def passed(name: str) -> None:
    print(f"\u2713 {name}: passed")


def is_unfinished(obj) -> bool:
    """True for a function (or class with such a method) whose body still only raises NotImplementedError."""
    functions = [obj] if inspect.isfunction(obj) else (
        [f for f in vars(obj).values() if inspect.isfunction(f)] if inspect.isclass(obj) else [])
    return any(_only_raises_not_implemented(f) for f in functions)


def _only_raises_not_implemented(fn) -> bool:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return False
    body = [node for node in tree.body[0].body
            if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]  # skip docstrings
    return bool(body) and all(isinstance(node, ast.Raise) and "NotImplementedError" in ast.unparse(node)
                              for node in body)


def needs(*names: str, exercise: str | None = None, namespace: dict | None = None) -> None:
    """Stop the cell with one line when a name is missing or still an unfinished exercise.

    ``exercise`` says what to finish (``"Exercise 3 (train_epoch)"``); by default the first missing or
    unfinished name is named. ``namespace`` defaults to the notebook's (the caller's globals).
    """
    if namespace is None:
        namespace = inspect.currentframe().f_back.f_globals
    for name in names:
        if name not in namespace:
            raise ExerciseNotDone(f"finish {exercise or f'the cell that defines `{name}`'} first "
                                  f"(`{name}` is not defined yet)")
        if is_unfinished(namespace[name]):
            raise ExerciseNotDone(f"finish {exercise or f'`{name}`'} first")
