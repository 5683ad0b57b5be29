"""The hidden tests of 07_gradients_through_convolution catch plausible wrong implementations.

Each mutant below is a mistake a student could make (a missing kernel flip, a stride not dilated,
ties sent to every maximum, the unbiased variance, ...). The solution notebook's code cells run up to
its last grade cell (as the grader runs them); then, for every mutant, its function replaces the
solution's and the grade cell of that function must fail in the notebook process, and (for the cells
whose calls are plain data) the trusted replay of the solution's recorded calls must reject it too.
"""
from __future__ import annotations

import linecache

import matplotlib
import nbformat
import pytest
import torch
import torch.nn.functional as F

from cnncourse import layout
from cnncourse.grader import trusted
from cnncourse.grader.records import Outcome, RecordedCall

matplotlib.use("Agg")

NAME = "07_gradients_through_convolution"
FUNCTIONS = {"relative_error": "test_relative_error", "numerical_gradient": "test_numerical_gradient",
             "conv2d_backward": "test_conv2d_backward", "max_pool2d_backward": "test_max_pool2d_backward",
             "avg_pool2d_backward": "test_avg_pool2d_backward", "batch_norm_backward": "test_batch_norm_backward"}
CALLABLE_ARGUMENT = {"numerical_gradient"}  # its calls take f, a callable: not replayable outside the kernel


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


# ---------------------------------------------------------------- mutants
def relative_error_elementwise(a, b):
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return ((a - b).abs() / (a.abs() + b.abs()).clamp_min(1e-300)).max().item()


def relative_error_norms(a, b):
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    scale = max(a.norm().item(), b.norm().item())
    return 0.0 if scale == 0 else (a - b).norm().item() / scale


def relative_error_asymmetric(a, b):
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    scale = a.abs().max().item()
    return 0.0 if scale == 0 and b.abs().max().item() == 0 else (a - b).abs().max().item() / max(scale, 1e-300)


def _numerical(f, x, eps, forward=False, denominator=2, fixed_eps=None, restore=True):
    eps = fixed_eps or eps
    x = x.detach().clone()
    grad = torch.zeros_like(x)
    flat = x.view(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + eps
        plus = float(f(x))
        flat[i] = old if forward else old - eps
        minus = float(f(x))
        if restore:
            flat[i] = old
        grad.view(-1)[i] = (plus - minus) / ((1 if forward else denominator) * eps)
    return grad


def _conv_backward(grad_out, x, weight, stride=1, padding=0, flip=True, dilate=True, crop=True,
                   fill_dropped=True):
    """conv2d's backward pass as correlations, with switches that reproduce classic mistakes."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    height, width = x.shape[-2:]
    kh, kw = weight.shape[-2:]
    h_out, w_out = grad_out.shape[-2:]
    g = grad_out
    if dilate:  # zeros where the strided window skipped positions
        g = grad_out.new_zeros(*grad_out.shape[:2], (h_out - 1) * sh + 1, (w_out - 1) * sw + 1)
        g[:, :, ::sh, ::sw] = grad_out
    kernel = weight.flip(2, 3) if flip else weight
    grad_x_pad = F.conv2d(F.pad(g, (kw - 1, kw - 1, kh - 1, kh - 1)), kernel.transpose(0, 1))
    if fill_dropped:  # rows and columns in no window (the floor) get zero gradient
        grad_x_pad = F.pad(grad_x_pad, (0, width + 2 * pw - grad_x_pad.shape[-1], 0, height + 2 * ph - grad_x_pad.shape[-2]))
    grad_x = grad_x_pad[:, :, ph:ph + height, pw:pw + width] if crop else grad_x_pad
    grad_w = F.conv2d(x.transpose(0, 1), grad_out.transpose(0, 1), padding=(ph, pw), dilation=(sh, sw))
    return grad_x, grad_w.transpose(0, 1)[:, :, :kh, :kw], grad_out.sum(dim=(0, 2, 3))


def conv_weight_mean(grad_out, x, weight, stride=1, padding=0):
    grad_x, grad_w, grad_b = _conv_backward(grad_out, x, weight, stride, padding)
    return grad_x, grad_w / x.shape[0], grad_b


def conv_bias_mean(grad_out, x, weight, stride=1, padding=0):
    grad_x, grad_w, _ = _conv_backward(grad_out, x, weight, stride, padding)
    return grad_x, grad_w, grad_out.sum(dim=(2, 3)).mean(dim=0)


def conv_one_stride(grad_out, x, weight, stride=1, padding=0):
    return _conv_backward(grad_out, x, weight, _pair(stride)[0], _pair(padding)[0])


def _max_pool(grad_out, x, k, s=None, rule="first", accumulate=True):
    s = k if s is None else s
    grad_x = torch.zeros_like(x)
    for i in range(grad_out.shape[-2]):
        for j in range(grad_out.shape[-1]):
            window = x[:, :, i * s:i * s + k, j * s:j * s + k].reshape(*x.shape[:2], k * k)
            if rule == "all":
                hit = window == window.amax(dim=-1, keepdim=True)
            else:
                index = window.argmax(-1) if rule == "first" else k * k - 1 - window.flip(-1).argmax(-1)
                hit = F.one_hot(index, k * k).bool()
            hit = hit.reshape(*x.shape[:2], k, k)
            share = grad_out[:, :, i, j, None, None] * hit
            region = grad_x[:, :, i * s:i * s + k, j * s:j * s + k]
            region.copy_(region + share if accumulate else torch.where(hit, share, region))
    return grad_x


def _avg_pool(grad_out, x, k, s=None, scale=True, accumulate=True):
    s = k if s is None else s
    grad_x = torch.zeros_like(x)
    for i in range(grad_out.shape[-2]):
        for j in range(grad_out.shape[-1]):
            share = grad_out[:, :, i, j, None, None] / (k * k if scale else 1)
            region = grad_x[:, :, i * s:i * s + k, j * s:j * s + k]
            region.copy_(region + share if accumulate else share.expand_as(region))
    return grad_x


def avg_pool_upsample(grad_out, x, k, s=None):
    """Assumes non-overlapping windows (s == k): blow each gradient up to a k x k block."""
    up = grad_out.repeat_interleave(k, 2).repeat_interleave(k, 3) / (k * k)
    height, width = x.shape[-2:]
    return F.pad(up, (0, width - up.shape[-1], 0, height - up.shape[-2]))


def _batch_norm(grad_out, x, gamma, eps=1e-5, unbiased=False, mean_terms=2, eps_outside=False, axes=None):
    dims = axes if axes is not None else [d for d in range(x.dim()) if d != 1]
    shape = [1, -1] + [1] * (x.dim() - 2)
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, correction=1 if unbiased else 0, keepdim=True)
    inv_std = 1 / (var.sqrt() + eps) if eps_outside else torch.rsqrt(var + eps)
    x_hat = (x - mean) * inv_std
    inner = grad_out.clone()
    if mean_terms >= 1:
        inner = inner - grad_out.mean(dim=dims, keepdim=True)
    if mean_terms >= 2:
        inner = inner - x_hat * (grad_out * x_hat).mean(dim=dims, keepdim=True)
    all_but_channels = [d for d in range(x.dim()) if d != 1]
    return (gamma.reshape(shape) * inv_std * inner, (grad_out * x_hat).sum(dim=all_but_channels),
            grad_out.sum(dim=all_but_channels))


MUTANTS = {
    "relative_error: entry-by-entry ratio": ("relative_error", relative_error_elementwise),
    "relative_error: L2 norms instead of maxima": ("relative_error", relative_error_norms),
    "relative_error: divides by max|a| only": ("relative_error", relative_error_asymmetric),
    "numerical_gradient: one-sided difference": ("numerical_gradient",
                                                lambda f, x, eps=1e-6: _numerical(f, x, eps, forward=True)),
    "numerical_gradient: divides by eps, not 2 eps": ("numerical_gradient",
                                                     lambda f, x, eps=1e-6: _numerical(f, x, eps, denominator=1)),
    "numerical_gradient: ignores its eps": ("numerical_gradient",
                                           lambda f, x, eps=1e-6: _numerical(f, x, eps, fixed_eps=1e-6)),
    "numerical_gradient: forgets to restore the entry": ("numerical_gradient",
                                                        lambda f, x, eps=1e-6: _numerical(f, x, eps, restore=False)),
    "conv2d_backward: kernel not flipped": ("conv2d_backward", lambda *a, **k: _conv_backward(*a, **k, flip=False)),
    "conv2d_backward: output gradient not dilated by the stride": (
        "conv2d_backward", lambda *a, **k: _conv_backward(*a, **k, dilate=False)),
    "conv2d_backward: padding not cropped": ("conv2d_backward", lambda *a, **k: _conv_backward(*a, **k, crop=False)),
    "conv2d_backward: rows dropped by the floor not restored": (
        "conv2d_backward", lambda *a, **k: _conv_backward(*a, **k, fill_dropped=False)),
    "conv2d_backward: weight gradient averaged over the batch": ("conv2d_backward", conv_weight_mean),
    "conv2d_backward: bias gradient averaged over the batch": ("conv2d_backward", conv_bias_mean),
    "conv2d_backward: stride and padding of H used along W": ("conv2d_backward", conv_one_stride),
    "max_pool2d_backward: ties send the gradient to every maximum": (
        "max_pool2d_backward", lambda g, x, k, s=None: _max_pool(g, x, k, s, rule="all")),
    "max_pool2d_backward: ties go to the last maximum": (
        "max_pool2d_backward", lambda g, x, k, s=None: _max_pool(g, x, k, s, rule="last")),
    "max_pool2d_backward: overlapping windows overwrite": (
        "max_pool2d_backward", lambda g, x, k, s=None: _max_pool(g, x, k, s, accumulate=False)),
    "max_pool2d_backward: default stride 1": ("max_pool2d_backward",
                                              lambda g, x, k, s=None: _max_pool(g, x, k, 1 if s is None else s)),
    "avg_pool2d_backward: no 1/k²": ("avg_pool2d_backward", lambda g, x, k, s=None: _avg_pool(g, x, k, s, scale=False)),
    "avg_pool2d_backward: overlapping windows overwrite": (
        "avg_pool2d_backward", lambda g, x, k, s=None: _avg_pool(g, x, k, s, accumulate=False)),
    "avg_pool2d_backward: assumes stride == k": ("avg_pool2d_backward", avg_pool_upsample),
    "batch_norm_backward: unbiased variance": ("batch_norm_backward",
                                               lambda g, x, gm, eps=1e-5: _batch_norm(g, x, gm, eps, unbiased=True)),
    "batch_norm_backward: no mean terms": ("batch_norm_backward",
                                           lambda g, x, gm, eps=1e-5: _batch_norm(g, x, gm, eps, mean_terms=0)),
    "batch_norm_backward: only the mean term of mu": ("batch_norm_backward",
                                                      lambda g, x, gm, eps=1e-5: _batch_norm(g, x, gm, eps, mean_terms=1)),
    "batch_norm_backward: eps outside the square root": (
        "batch_norm_backward", lambda g, x, gm, eps=1e-5: _batch_norm(g, x, gm, eps, eps_outside=True)),
    "batch_norm_backward: statistics over the batch axis only": (
        "batch_norm_backward", lambda g, x, gm, eps=1e-5: _batch_norm(g, x, gm, eps, axes=[0])),
}


# ---------------------------------------------------------------- running the notebook's cells
def _run(cell, namespace):
    """exec one cell with its source registered, so that `needs` can read the functions it defines."""
    filename = f"<{NAME}:{cell.id}>"
    linecache.cache[filename] = (len(cell.source), None, cell.source.splitlines(True), filename)
    exec(compile(cell.source, filename, "exec"), namespace)


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def notebook():
    """The solution's namespace after every code cell up to its last grade cell, except the grade cells."""
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    grade_cells = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
                   if c.metadata.get("nbgrader", {}).get("grade")}
    last = max(k for k, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade"))
    namespace = {"__name__": "__main__"}
    for cell in nb.cells[:last + 1]:
        if cell.cell_type == "code" and not cell.metadata.get("nbgrader", {}).get("grade"):
            _run(cell, namespace)
    assert set(FUNCTIONS.values()) <= set(grade_cells), "a graded function has no grade cell"
    return namespace, grade_cells


def _recorded_calls(namespace, cell, function):
    """The solution's calls of `function` made by the grade cell, as the trusted grader records them."""
    recorder = trusted.Recorder()
    recording = dict(namespace)
    recorder.wrap(recording, [function])
    recorder.cell = cell.metadata["nbgrader"]["grade_id"]
    _run(cell, recording)
    return [RecordedCall.from_dict(call) for call in recorder.calls if call["name"] == function]


def _verdict(namespace, calls) -> dict:
    """The trusted replay of ``calls`` on ``namespace``'s functions: ``{grade_id: Verdict}``."""
    outcomes = [Outcome.from_dict(o) for o in trusted.replay(namespace, [c.replay_call() for c in calls], timeout=60)]
    return trusted.verdicts(calls, outcomes)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_solution_passes_its_grade_cell(notebook, function):
    namespace, cells = notebook
    _run(cells[FUNCTIONS[function]], dict(namespace))
    calls = _recorded_calls(namespace, cells[FUNCTIONS[function]], function)
    if function in CALLABLE_ARGUMENT:
        assert not calls, "numerical_gradient's calls take a callable and are not recorded"
    else:
        assert calls, f"the grade cell of {function} makes no plain-data call"
        verdict = _verdict(namespace, calls)
        assert verdict and all(v.ok for v in verdict.values()), verdict


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutant_fails_the_hidden_tests(notebook, mutant, capsys):
    namespace, cells = notebook
    function, wrong = MUTANTS[mutant]
    cell = cells[FUNCTIONS[function]]
    mutated = dict(namespace)
    mutated[function] = wrong
    # every mutant must be caught by an assertion of the grade cell (its message tells the student what is
    # wrong), not by a crash: a NameError or a shape mismatch inside the cell would pass a broader catch
    with pytest.raises(AssertionError):
        _run(cell, mutated)
    if function not in CALLABLE_ARGUMENT:  # outside the kernel: the recorded calls replayed on the mutant
        calls = _recorded_calls(namespace, cell, function)
        verdict = _verdict(mutated, calls)
        assert not all(v.ok for v in verdict.values()), f"{mutant} passes the trusted replay"


def test_switchable_references_are_right_when_switched_off(notebook):
    """The mutants are mistakes of a right method: with no switch set they equal the solution."""
    namespace, _ = notebook
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, 9, generator=gen, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 2, generator=gen, dtype=torch.float64)
    g = torch.randn(F.conv2d(x, w, stride=(2, 3), padding=1).shape, generator=gen, dtype=torch.float64)
    for ours, ref in zip(_conv_backward(g, x, w, (2, 3), 1), namespace["conv2d_backward"](g, x, w, (2, 3), 1)):
        torch.testing.assert_close(ours, ref)
    xi = torch.randint(0, 3, (2, 2, 7, 7), generator=gen).double()
    gp = torch.randn(2, 2, 3, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(_max_pool(gp, xi, 3, 2), namespace["max_pool2d_backward"](gp, xi, 3, 2))
    torch.testing.assert_close(_avg_pool(gp, xi, 3, 2), namespace["avg_pool2d_backward"](gp, xi, 3, 2))
    gamma = torch.randn(2, generator=gen, dtype=torch.float64)
    xb = torch.randn(2, 2, 7, 7, generator=gen, dtype=torch.float64)
    gb = torch.randn(2, 2, 7, 7, generator=gen, dtype=torch.float64)
    for ours, ref in zip(_batch_norm(gb, xb, gamma), namespace["batch_norm_backward"](gb, xb, gamma)):
        torch.testing.assert_close(ours, ref)
