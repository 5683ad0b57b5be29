"""The honesty rules' watch (``cnncourse.grader.rules``): every route to a forbidden operation is seen, allowed
code passes, and switching the hooks off counts as breaking the rule."""
from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from cnncourse.grader.rules import Rule, Rules, declared

CONV = Rule(("aten.convolution", "numpy.convolve", "scipy.signal"))
X, W = torch.randn(1, 1, 6, 5, generator=torch.Generator().manual_seed(0)), torch.ones(1, 1, 3, 3)


def broken(rule: Rule, fn, *args):
    watch = Rules({"f": rule}).watch("f")
    watch.call(fn, *args)
    return watch.broken


def by_hand(x, w):  # allowed: unfold + matmul
    cols = F.unfold(x, w.shape[-2:])
    return (w.flatten(1) @ cols).reshape(x.shape[0], w.shape[0], x.shape[2] - w.shape[2] + 1, -1)


SAVED = F.conv2d  # an alias taken before any patch


@pytest.mark.parametrize("route", [
    lambda: F.conv2d(X, W), lambda: torch.conv2d(X, W), lambda: SAVED(X, W), lambda: torch.nn.Conv2d(1, 1, 3)(X),
    lambda: torch.ops.aten.convolution(X, W, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1),
    lambda: F.conv1d(X[:, :, 0], W[:, :, 0]), lambda: np.convolve([1.0, 2.0], [1.0]), lambda: scipy.signal.correlate2d(
        np.ones((3, 3)), np.ones((2, 2))), lambda: scipy.signal.fftconvolve(np.ones(4), np.ones(2)),
], ids=["F.conv2d", "torch.conv2d", "alias", "nn.Conv2d", "aten", "conv1d", "np.convolve", "scipy", "fftconvolve"])
def test_every_route_to_a_forbidden_operation_is_seen(route):
    assert broken(CONV, route), "the route was not seen"


def test_allowed_code_passes_and_gives_the_same_result():
    watch = Rules({"f": CONV}).watch("f")
    torch.testing.assert_close(watch.call(by_hand, X, W), F.conv2d(X, W))
    assert watch.broken == []


def test_the_name_in_the_report_is_the_rule_s():
    assert broken(CONV, lambda: F.conv2d(X, W)) == ["aten.convolution"]
    assert broken(CONV, lambda: np.convolve([1.0], [1.0])) == ["numpy.convolve"]


def test_autograd_can_be_forbidden():
    rule = Rule(("torch.autograd.grad", "torch.autograd.backward"))
    x = torch.ones(3, requires_grad=True)
    assert broken(rule, lambda: (x * 2).sum().backward()) == ["torch.autograd.backward"]
    assert broken(rule, lambda: torch.autograd.grad((x * 2).sum(), x)) == ["torch.autograd.grad"]
    assert broken(rule, lambda: x.detach() * 2) == []


@pytest.mark.parametrize("escape", [
    lambda: sys.setprofile(None), lambda: sys.settrace(None),
    lambda: threading.Thread(target=lambda: F.conv2d(X, W)).start(),
], ids=["setprofile", "settrace", "thread"])
def test_switching_the_checks_off_breaks_the_rule(escape):
    assert broken(CONV, escape), "the escape was not seen"


def test_a_loop_over_output_positions_exceeds_the_line_budget():
    rule = Rule((), max_lines=150)
    x = torch.randn(1, 1, 203, 3, generator=torch.Generator().manual_seed(1))

    def loop(x, w):
        rows = [(x[0, 0, i:i + 3] * w[0, 0]).sum() for i in range(x.shape[2] - 2)]
        return torch.stack(rows)

    over = broken(rule, loop, x, W)
    assert len(over) == 1 and over[0].endswith("lines of Python (at most 150)"), over
    assert broken(rule, by_hand, x, W) == []


def test_the_previous_hooks_come_back():
    def mine(frame, event, arg):
        return None

    sys.setprofile(mine)
    try:
        broken(CONV, by_hand, X, W)
        assert sys.getprofile() is mine
    finally:
        sys.setprofile(None)


def test_rules_are_declared_as_plain_data_in_the_hidden_tests():
    cell = 'x = 1\nGRADER_RULES = {"conv2d": {"forbid": ["aten.convolution"], "max_lines": 150}}\n%time y = 2\n'
    assert declared([cell, "z = 3"]) == {"conv2d": Rule(("aten.convolution",), 150)}
    with pytest.raises(ValueError, match="declared twice"):
        declared([cell, cell])
    with pytest.raises(ValueError, match="max_lines"):
        declared(['GRADER_RULES = {"f": {"max_lines": 0}}'])
    with pytest.raises(ValueError, match="a rule is"):
        declared(['GRADER_RULES = {"f": {"forbid": [], "limit": 3}}'])


def test_popping_the_dispatch_mode_breaks_a_rule_on_aten_operators():
    from torch.utils._python_dispatch import _pop_mode_temporarily

    def sneaky(x, w):
        with _pop_mode_temporarily():
            return F.conv2d(x, w)

    assert "torch.utils._python_dispatch._pop_mode_temporarily" in broken(CONV, sneaky, X, W)
    assert broken(Rule(("numpy.convolve",)), lambda: torch.func.grad(lambda t: (t * 2).sum())(X)) == []
