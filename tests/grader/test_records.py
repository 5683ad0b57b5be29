"""cnncourse.grader.records: one serialization, checked on the way in."""
from __future__ import annotations

import re

import pytest

from cnncourse.grader.records import (Attempt, Cell, CellRun, Confinement, Execution, Job, Outcome, RecordError,
                                      RecordSpec, ReplayCall, RecordedCall, to_dict)


def _job():
    return Job(("numpy",), (Cell(0, "x = 1"), Cell(3, "assert x")), 5.0, seed=1, threads=2,
               confinement=Confinement(("/data",), {"processes": 8}), record=RecordSpec({0: ("x",)}, {3: "t"}),
               replay=(ReplayCall("f", {"seq": "list", "items": []}, {"python": None}),))


def test_job_and_execution_survive_the_round_trip():
    job = _job()
    assert Job.from_dict(to_dict(job)) == job
    call = RecordedCall("t", "f", {"seq": "list", "items": []}, {}, {"returns": {"int": "2"}})
    execution = Execution({0: CellRun([{"output_type": "stream", "name": "stdout", "text": "hi"}], 0.5, "ok")},
                          (Attempt(0, False, None, "limits"),), (call,), (Outcome("returns", {"int": "2"}),), 1.25)
    assert Execution.from_dict(to_dict(execution)) == execution


def test_the_replay_payload_carries_nothing_of_the_expected_result():
    call = RecordedCall("t", "f", {"seq": "list", "items": []}, {"python": 1}, {"returns": {"int": "42"}},
                        after={"seq": "list", "items": [{"int": "7"}]})
    assert to_dict(call.replay_call()) == {"name": "f", "args": {"seq": "list", "items": []}, "rng": {"python": 1}}


WELL_FORMED = {"cells": {"0": {"outputs": [], "seconds": 0, "status": "ok"}}, "attempts": [], "recorded": None,
               "replayed": None, "wall_seconds": 0.0}


@pytest.mark.parametrize("broken, said", [
    ({"cells": {"0": {"outputs": "text", "seconds": 0, "status": "ok"}}}, "'outputs' must be list, got str"),
    ({"cells": {"0": {"outputs": [], "seconds": 0, "status": "passed"}}}, "unknown cell status 'passed'"),
    ({"attempts": [{"exit": "0", "killed": False, "cell": None, "sandbox": None}]}, "'exit' must be int, got str"),
    ({"replayed": [{"kind": "forged"}]}, "unknown outcome 'forged'"),
    ({"recorded": [{"cell": 1}]}, "'cell' must be str, got int"),
    ({"cells": []}, "'cells' must be dict, got list"),
])
def test_a_record_of_the_wrong_shape_is_refused(broken, said):
    assert Execution.from_dict(WELL_FORMED).cells[0].status == "ok", "only the broken field is refused"
    with pytest.raises(RecordError, match=re.escape(said)):
        Execution.from_dict({**WELL_FORMED, **broken})


def test_a_bool_is_not_an_int():
    assert Cell.from_dict({"index": 1, "source": ""}) == Cell(1, "")
    with pytest.raises(RecordError, match="'index' must be int, got bool"):
        Cell.from_dict({"index": True, "source": ""})
