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
