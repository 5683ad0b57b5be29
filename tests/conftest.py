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


# Rough seconds per scope on 2 cores (``--durations``), for the order scopes start in: longest first, so that
# no long scope starts last while the other worker has nothing left. Any other scope counts 1 s per test.
SCOPE_SECONDS = {"tests/grader/test_grading.py": 200, "notebook-06": 150, "notebook-05": 140, "notebook-01": 80,
                 "tests/grader/test_grading_integrity.py": 70, "notebook-09": 70, "notebook-13": 65,
                 "notebook-11": 65, "notebook-08": 60, "notebook-04": 60, "tests/grader/test_hostile_jobs.py": 60,
                 "tests/grader/test_instructor_tools.py": 60, "tests/test_install_wheel.py": 60,
                 "notebook-12": 55, "notebook-10": 55, "notebook-03": 55, "notebook-07": 50, "notebook-02": 45,
                 "tests/test_run.py": 40, "tests/test_browser.py": 30}


def longest_first(units: dict) -> list:
    """``units`` ({scope: {nodeid: done}}, xdist's queue) as (scope, unit) pairs, longest expected first; ties
    keep their order."""
    rank = {scope: (-SCOPE_SECONDS.get(scope, len(unit)), k) for k, (scope, unit) in enumerate(units.items())}
    return sorted(units.items(), key=lambda item: rank[item[0]])


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # optional: also runs without xdist (-p no:xdist)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class NotebookScopes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

        def _assign_work_unit(self, node) -> None:
            if not getattr(self, "_ordered", False):  # the first assignment: the queue is complete
                ordered = longest_first(self.workqueue)
                self.workqueue.clear()
                self.workqueue.update(ordered)
                self._ordered = True
            super()._assign_work_unit(node)

    return NotebookScopes(config, log)
