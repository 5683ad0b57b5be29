"""cnncourse.grader.trusted: the comparison outside the student's process is as strict as a hidden test."""
from __future__ import annotations

import math

import nbformat
import numpy as np
import pytest
import torch

from cnncourse.grader import plan, trusted
from cnncourse.grader.records import Outcome, RecordedCall
from tests.notebooks import nb_cell

P = trusted.to_plain
X = torch.linspace(-2, 2, 12, dtype=torch.float64).reshape(3, 4)


@pytest.mark.parametrize("expected, got", [
    ((1, 2), [1, 2]),  # a tuple is not a list
    (X, X.float()),  # nor float64 float32
    (X, X.numpy()),  # nor a tensor an array
    (X, X + 1e-4),  # beyond torch.allclose's rtol
    (torch.tensor([math.inf, 1.0, 2.0]), torch.tensor([math.inf, 1.0, 9.0])),  # an inf hides nothing
    (torch.tensor([math.nan, 1.0]), torch.tensor([0.0, 1.0])),  # NaN where the solution has one
    (torch.tensor([math.inf, 1.0]), torch.tensor([-math.inf, 1.0])),
    (torch.tensor(3), 3),  # a 0-d tensor is not a Python number
    (True, 1),
    (torch.zeros(2, 3), torch.zeros(3, 2)),
])
def test_what_a_hidden_test_rejects_is_a_mismatch(expected, got):
    assert not trusted.same(P(expected), P(got))


@pytest.mark.parametrize("expected, got", [
    (6, 6.0),  # == accepts it
    (np.float64(0.5), 0.5),
    (X, X + 1e-9),
    (torch.Size([2, 3]), (2, 3)),  # a torch.Size is a tuple
    (torch.tensor([math.inf, math.nan, 1.0]), torch.tensor([math.inf, math.nan, 1.0])),
    ({"a": [1, (2.0,)]}, {"a": [1, (2.0,)]}),
])
def test_what_a_hidden_test_accepts_matches(expected, got):
    assert trusted.same(P(expected), P(got))


def _call(fn, *args, **kwargs) -> tuple[RecordedCall, Outcome]:
    """Record a call of the solution ``fn`` and replay it on ``fn`` itself or a student's function."""
    recorder, namespace = trusted.Recorder(), {"f": fn}
    recorder.wrap(namespace, ["f"])
    recorder.cell = "test_f"
    namespace["f"](*args, **kwargs)
    return RecordedCall.from_dict(recorder.calls[0])


def _replay(call, fn) -> Outcome:
    return Outcome.from_dict(next(trusted.replay({"f": fn}, [call.replay_call()], timeout=10)))


def test_an_argument_destroyed_in_place_is_a_mismatch():
    call = _call(lambda t: t.sum(), torch.ones(3))
    assert trusted.mismatch(call, _replay(call, lambda t: t.sum())) == ""
    assert "changed its arguments" in trusted.mismatch(call, _replay(call, lambda t: t.mul_(0).sum() + 3))


def test_an_in_place_function_must_change_its_argument_as_the_solution_does():
    call = _call(lambda t: t.mul_(2), torch.ones(3))
    assert trusted.mismatch(call, _replay(call, lambda t: t.mul_(2))) == ""
    assert "as the solution does" in trusted.mismatch(call, _replay(call, lambda t: t * 2))


def test_the_replay_payload_holds_no_result():
    call = _call(lambda t: t * 3, torch.ones(2))
    payload = str(call.replay_call())
    assert "expected" not in payload and set(vars(call.replay_call())) == {"name", "args", "rng"}


def test_probes_are_found_in_the_test_cells_hidden_part():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nb_cell("def probe_not_a_test():\n    return 1"),
                nb_cell("%matplotlib inline\nassert True\n### BEGIN HIDDEN TESTS\ndef probe_net():\n    return 2\n"
                        "def helper():\n    return 3\n### END HIDDEN TESTS", "tests", "test_net", points=1)]
    found = plan.probes(nb)
    assert [(p.cell, p.name) for p in found] == [("test_net", "probe_net")]
    namespace = {}
    trusted.define_probes(namespace, [p.source for p in found])
    outcome = Outcome.from_dict(next(trusted.replay(namespace, [found[0].replay_call()], timeout=10)))
    assert outcome.kind == "returns" and trusted.from_plain(outcome.value) == 2


def test_a_probe_starts_from_the_same_seed_every_time():
    namespace = {}
    trusted.define_probes(namespace, ["def probe_r():\n    import torch\n    return torch.rand(3)"])
    call = plan.Probe("t", "probe_r", "").replay_call()
    first, second = (Outcome.from_dict(next(trusted.replay(namespace, [call], timeout=10))) for _ in range(2))
    assert trusted.same(first.value, second.value, 0.0, 0.0)


def test_a_replayed_call_starts_from_its_recorded_random_states_even_when_sent_as_same():
    """Calls with unchanged states carry SAME_RNG; replayed after a call that draws, each still starts where
    the solution's did. A call not recorded (its argument is not plain data) does not count as "before"."""
    import random

    def f(n):  # draws from all three generators
        return [random.random(), float(np.random.rand()), float(torch.rand(()))] * (n if isinstance(n, int) else 1)

    recorder, namespace = trusted.Recorder(), {"f": f}
    recorder.wrap(namespace, ["f"])
    recorder.cell = "test_f"
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    state = trusted.rng_state()
    namespace["f"](object())  # not plain: not recorded, and it moves every generator
    trusted.set_rng_state(state)
    namespace["f"](1)
    trusted.set_rng_state(state)
    namespace["f"](2)  # same states as the call before: sent as SAME_RNG
    namespace["f"](1)  # the generators moved: sent in full
    calls = [RecordedCall.from_dict(c) for c in recorder.calls]
    assert [c.rng == trusted.SAME_RNG for c in calls] == [False, True, False]
    torch.manual_seed(7), np.random.seed(7), random.seed(7)  # the replaying process starts elsewhere
    outcomes = [Outcome.from_dict(o) for o in trusted.replay({"f": f}, [c.replay_call() for c in calls], timeout=10)]
    assert [trusted.mismatch(c, o) for c, o in zip(calls, outcomes)] == ["", "", ""]
    assert trusted.from_plain(outcomes[1].value)[:3] == trusted.from_plain(outcomes[0].value)


def test_the_python_state_travels_compactly_and_comes_back_whole():
    import json
    import random

    random.seed(3)
    random.gauss(0, 1)  # a cached Gaussian is part of the state
    before = random.getstate()
    plain = trusted.rng_state()
    assert len(json.dumps(plain["python"])) < 4000  # 625 words as bytes, not 625 JSON numbers
    random.seed(4)
    trusted.set_rng_state(json.loads(json.dumps(plain)))
    assert random.getstate() == before
