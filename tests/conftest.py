"""Shared hooks; helpers to import live in ``tests/notebooks.py`` (``from tests.notebooks import …``).

Under pytest-xdist (``make test``: ``-n auto --dist loadscope``) a *scope* runs on one worker, so that each
costly session fixture is built once: ``xdist_scope`` puts a notebook's contract checks and its
``tests/grader/test_mutant_NN.py`` into one scope (they share one grader pass), every other module into a
scope of its own (its module fixtures), and the independent blank-copy runs each into their own.
(xdist's ``loadgroup`` with ``xdist_group`` marks does not group under pytest 9.2: it renames
``item._nodeid``, which pytest 9 no longer reads.)
"""
from __future__ import annotations

import re

import pytest

ONE_SCOPE_PER_TEST = ("tests/test_student_copies.py",)


def xdist_scope(nodeid: str) -> str:
    path, _, rest = nodeid.partition("::")
    notebook = re.search(r"\[(\d\d)_", rest)
    if path == "tests/test_contract.py" and notebook:
        return f"notebook-{notebook.group(1)}"
    mutant = re.fullmatch(r"tests/grader/test_mutant_(\d\d)\.py", path)
    if mutant:
        return f"notebook-{mutant.group(1)}"
    return nodeid if path in ONE_SCOPE_PER_TEST else path


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # optional: also runs without xdist (-p no:xdist)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class NotebookScopes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return NotebookScopes(config, log)
