"""cnncourse.grader.records: one serialization, checked on the way in."""
from __future__ import annotations

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


@pytest.mark.parametrize("broken", [
    {"cells": {"0": {"outputs": "text", "seconds": 0, "status": "ok"}}, "attempts": []},
    {"cells": {"0": {"outputs": [], "seconds": 0, "status": "passed"}}, "attempts": []},
    {"cells": {}, "attempts": [{"exit": "0", "killed": False, "cell": None, "sandbox": None}]},
    {"cells": {}, "attempts": [], "replayed": [{"kind": "forged"}]},
    {"cells": {}, "attempts": [], "recorded": [{"cell": 1}]},
    {"cells": []},
])
def test_a_record_of_the_wrong_shape_is_refused(broken):
    broken = {"recorded": None, "replayed": None, "wall_seconds": 0.0, **broken}
    with pytest.raises(RecordError):
        Execution.from_dict(broken)


def test_a_bool_is_not_an_int():
    with pytest.raises(RecordError):
        Cell.from_dict({"index": True, "source": ""})
