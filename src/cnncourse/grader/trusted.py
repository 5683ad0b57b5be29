"""Scores student code cannot forge: record the reference's calls, replay them on the student's functions.

In-kernel nbgrader tests run inside the student's process, so student code can neuter them (patch
``torch.allclose``, strip ``assert`` lines with an input transformer, return objects whose ``__eq__`` is
always true…). Here:
  1. once per assignment, the instructor's solution runs with every graded function wrapped: each call a
     test cell makes is recorded as plain data (``record``), with its result;
  2. for each submission a fresh sandboxed process runs the student's cells *without any test cell*, then
     calls the student's functions on the recorded inputs (``replay``) and sends back plain data;
  3. the grader compares the two in its own process (``compare``). No test code runs where student code does.
Plain data means JSON with arrays as raw bytes + dtype + shape: nothing is unpickled, and a student object
that is not plain data (a module, an object with a custom ``__eq__``) is simply a mismatch.
Calls whose arguments are not plain data (models, callables) cannot be replayed; a test cell without any
replayable call keeps its in-kernel verdict, and the report says which cells are verified.
Recording wraps the functions, so a test that inspects the function object itself (traces its lines, reads
its ``__code__``) fails in the recording run; the calls it made before that are still recorded, and the
run's summary lists such cells under ``reference_failed``.
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass
import signal
import sys

import numpy as np

MAX_ELEMENTS = 2_000_000  # larger arrays are not recorded: the call is then not replayable


class NotPlain(TypeError):
    """A value that is not plain data."""


# ---------------------------------------------------------------- plain data
def to_plain(value):
    """Tensors, arrays, numbers, strings, dtypes, generators and containers of them → JSON-able data."""
    torch = sys.modules.get("torch")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return {"int": str(value)}
    if isinstance(value, float):
        return {"float": repr(float(value))}  # np.float64 is a float: its repr is not
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return {"np_scalar": to_plain(np.asarray(value))}
    if isinstance(value, np.ndarray):
        return _array(value, "ndarray")
    if torch is not None:
        if isinstance(value, torch.Tensor):
            if value.is_complex() or value.layout != torch.strided:
                raise NotPlain("complex or sparse tensor")
            try:
                array = value.detach().cpu().numpy()
            except (TypeError, RuntimeError) as error:  # bfloat16 and friends
                raise NotPlain(str(error)) from None
            plain = _array(array, "tensor")
            plain.update(torch_dtype=str(value.dtype).replace("torch.", ""), grad=bool(value.requires_grad),
                         parameter=isinstance(value, torch.nn.Parameter))
            return plain
        if isinstance(value, torch.dtype):
            return {"torch_dtype": str(value).replace("torch.", "")}
        if isinstance(value, torch.Generator):
            return {"generator": _array(value.get_state().numpy(), "ndarray")}
    if isinstance(value, (list, tuple)):
        return {"seq": "tuple" if isinstance(value, tuple) else "list", "items": [to_plain(v) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: to_plain(v) for k, v in value.items()}}
    raise NotPlain(type(value).__name__)


def _array(array: np.ndarray, kind: str) -> dict:
    if array.dtype == object or array.size > MAX_ELEMENTS:
        raise NotPlain("object or too large array")
    array = np.ascontiguousarray(array).reshape(array.shape)  # ascontiguousarray makes 0-d arrays 1-d
    return {kind: base64.b64encode(array.tobytes()).decode(), "dtype": array.dtype.str, "shape": list(array.shape)}


def from_plain(data):
    """The inverse of ``to_plain`` (arrays rebuilt from bytes; never unpickles)."""
    if data is None or isinstance(data, (bool, str)):
        return data
    if "int" in data:
        return int(data["int"])
    if "float" in data:
        return float(data["float"])
    if "np_scalar" in data:
        return from_plain(data["np_scalar"])[()]
    if "seq" in data:
        items = [from_plain(v) for v in data["items"]]
        return tuple(items) if data["seq"] == "tuple" else items
    if "dict" in data:
        return {k: from_plain(v) for k, v in data["dict"].items()}
    if "torch_dtype" in data and "tensor" not in data:
        return getattr(sys.modules["torch"], data["torch_dtype"])
    if "generator" in data:
        torch = sys.modules["torch"]
        generator = torch.Generator()
        generator.set_state(torch.from_numpy(from_plain(data["generator"]).copy()))
        return generator
    array = _decode(data).copy()  # writable, owned by the caller
    if "ndarray" in data:
        return array
    torch = sys.modules["torch"]
    tensor = torch.from_numpy(array).to(getattr(torch, data["torch_dtype"]))
    if data.get("parameter"):
        return torch.nn.Parameter(tensor, requires_grad=data["grad"])
    return tensor.requires_grad_(data["grad"]) if tensor.is_floating_point() else tensor


# ---------------------------------------------------------------- recording (reference run)
class Recorder:
    """Wraps graded functions; records top-level calls made while a test cell runs."""

    def __init__(self):
        self.cell, self.depth, self.calls = None, 0, []
        self._last_rng = None  # the raw states of the last recorded call: most calls follow one another unchanged

    def wrap(self, namespace: dict, names) -> None:
        for name in names:
            fn = namespace.get(name)
            if callable(fn) and not isinstance(fn, type):
                namespace[name] = self._wrapper(name, fn)

    def _wrapper(self, name, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if self.cell is None or self.depth:
                return fn(*args, **kwargs)
            try:
                before = to_plain([list(args), kwargs])
            except NotPlain:
                before = None
            rng = _raw_states()
            self.depth += 1
            try:
                result = fn(*args, **kwargs)
            except Exception as error:
                self._add(name, before, rng, {"raises": type(error).__name__}, None)
                raise
            finally:
                self.depth -= 1
            after = _after(args, kwargs)
            self._add(name, before, rng, _outcome(result), after if after != before else None)
            return result

        return wrapper

    def _add(self, name, before, raw_rng, outcome, after) -> None:
        if before is None or outcome is None:
            return
        # a state equal to the last recorded call's is sent as SAME_RNG: 3,750 calls of 04 have 119 distinct
        # states, and each costs about 14 KB of JSON in full
        same = self._last_rng is not None and _same_raw(raw_rng, self._last_rng)
        self._last_rng = raw_rng
        self.calls.append({"cell": self.cell, "name": name, "args": before,
                           "rng": dict(SAME_RNG) if same else _plain_states(raw_rng), "expected": outcome,
                           "after": after})


SAME_RNG = {"same": True}  # a call's random states are those of the call before it, in the same sequence


def _raw_states() -> tuple:
    import random

    torch = sys.modules.get("torch")
    return random.getstate(), np.random.get_state(), None if torch is None else torch.get_rng_state()


def _same_raw(a: tuple, b: tuple) -> bool:
    return (a[0] == b[0] and a[1][0] == b[1][0] and np.array_equal(a[1][1], b[1][1]) and a[1][2:] == b[1][2:]
            and (a[2] is None) == (b[2] is None) and (a[2] is None or bool((a[2] == b[2]).all())))


def _plain_states(raw: tuple) -> dict:
    version, internal, gauss = raw[0]
    state = {"python": to_plain({"version": version, "internal": np.array(internal, dtype=np.uint32), "gauss": gauss}),
             "numpy": to_plain(raw[1])}
    if raw[2] is not None:
        state["torch"] = to_plain(raw[2])
    return state


def rng_state() -> dict:
    """Global random states (Python, NumPy, torch) as plain data: a replayed call starts from the same ones."""
    return _plain_states(_raw_states())


def set_rng_state(state: dict) -> None:
    """The states of ``rng_state()``, or ``{"seed": n}``: every generator seeded with n (probes start from it)."""
    import random

    if "seed" in state:
        seed = int(state["seed"])
        random.seed(seed)
        np.random.seed(seed)
        if "torch" in sys.modules:
            sys.modules["torch"].manual_seed(seed)
        return

    def tuples(value):
        return tuple(tuples(v) for v in value) if isinstance(value, (list, tuple)) else value

    python = from_plain(state["python"])
    random.setstate((python["version"], tuple(int(v) for v in python["internal"]), python["gauss"]))
    np.random.set_state(tuples(from_plain(state["numpy"])))
    if "torch" in state and "torch" in sys.modules:
        sys.modules["torch"].set_rng_state(from_plain(state["torch"]))


def _outcome(result):
    try:
        return {"returns": to_plain(result)}
    except NotPlain:
        return None


def _after(args, kwargs):
    """Arguments after the call: in-place functions (``adam_step``, ``kaiming_init_``) are checked too."""
    try:
        return to_plain([list(args), kwargs])
    except NotPlain:
        return None


# ---------------------------------------------------------------- replay (student run)
class CallTimeout(Exception):
    pass


PROBE_PREFIX = "probe_"  # hidden-test functions whose results the grader compares with the solution's


def define_probes(namespace: dict, sources) -> None:
    """Define the probe functions in ``namespace``: compiled here, not by the shell (no input transformers)."""
    for source in sources:
        try:
            exec(compile(source, "<probe>", "exec"), namespace)  # noqa: S102 — the instructor's code
        except Exception:  # noqa: BLE001 — a probe that does not define is a "missing" outcome
            pass


def replay(namespace: dict, calls, timeout: float, rules=None):
    """Call the student's functions on the recorded inputs (``records.ReplayCall``: name, arguments and
    RNG state, nothing of the expected result); yield a plain ``records.Outcome`` dict per call.
    ``rules`` (``rules.Rules``): the calls of a function with a rule run under its watch."""
    def on_alarm(signum, frame):
        raise CallTimeout(f"call ran longer than {timeout:g} s")

    signal.signal(signal.SIGALRM, on_alarm)
    rng = SAME_RNG
    for call in calls:
        rng = rng if call.rng == SAME_RNG else call.rng  # before the name check: a later call may be "same"
        fn = namespace.get(call.name)
        if not callable(fn):
            yield {"kind": "missing", "value": call.name}
            continue
        args, kwargs = from_plain(call.args)
        if rng != SAME_RNG:  # only a sequence that starts with "same" leaves it so: nothing to restore
            set_rng_state(rng)
        watch = rules.watch(call.name) if rules is not None else None
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            result = fn(*args, **kwargs) if watch is None else watch.call(fn, *args, **kwargs)
            plain = _outcome(result)
            outcome = ({"kind": "returns", "value": plain["returns"]} if plain
                       else {"kind": "not_plain", "value": type(result).__name__})
            outcome["after"] = _after(args, kwargs)
        except BaseException as error:  # noqa: BLE001 — whatever the student raised is the outcome
            outcome = {"kind": "raises", "value": type(error).__name__}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if watch is not None and watch.broken:
            outcome["broke"] = list(watch.broken)
        yield outcome


# ---------------------------------------------------------------- comparison (grader)
def _number(data):
    if isinstance(data, dict):
        if "int" in data:
            return int(data["int"])
        if "float" in data:
            return float(data["float"])
        if "np_scalar" in data or "ndarray" in data or "tensor" in data:
            array = _decode(data.get("np_scalar", data))
            return array.item() if array.size == 1 and array.ndim == 0 else None
    return None


def _decode(data) -> np.ndarray:
    key = "ndarray" if "ndarray" in data else "tensor"
    return np.frombuffer(base64.b64decode(data[key]), dtype=np.dtype(data["dtype"])).reshape(data["shape"])


RTOL, ATOL = 1e-5, 1e-6  # torch.allclose's rtol; atol relative to the largest finite magnitude (at least 1)


def _close(a, b, rtol, atol) -> bool:
    """Same shape and dtype; floats: NaN and ±inf at the same places, finite values within the tolerance."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind not in "fc":
        return bool(np.array_equal(a, b))
    if not (np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(np.isposinf(a), np.isposinf(b))
            and np.array_equal(np.isneginf(a), np.isneginf(b))):
        return False
    finite = np.isfinite(a)
    a, b = a[finite].astype(np.float64), b[finite].astype(np.float64)
    scale = max(1.0, float(np.abs(a).max())) if a.size else 1.0
    return bool(np.allclose(b, a, rtol=rtol, atol=atol * scale))


def same(expected, got, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Plain data equal as strictly as a hidden test: Python numbers by value (6 == 6.0, as ``==`` does), but
    tuples are not lists, tensors not arrays, dtypes exact, NaN and inf where the solution has them."""
    if expected is None or isinstance(expected, (bool, str)):
        return type(expected) is type(got) and expected == got
    if not isinstance(got, dict):
        return False
    a, b = _number(expected), _number(got)
    if a is not None or b is not None:
        if a is None or b is None or isinstance(a, bool) != isinstance(b, bool) or _kind(expected) != _kind(got):
            return False
        if math.isnan(a) or math.isinf(a):
            return (math.isnan(a) and math.isnan(b)) or a == b
        return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)
    if "seq" in expected:
        return ("seq" in got and expected["seq"] == got["seq"] and len(expected["items"]) == len(got["items"])
                and all(same(e, g, rtol, atol) for e, g in zip(expected["items"], got["items"])))
    if "dict" in expected:
        return "dict" in got and expected["dict"].keys() == got["dict"].keys() and all(
            same(v, got["dict"][k], rtol, atol) for k, v in expected["dict"].items())
    if "torch_dtype" in expected and "tensor" not in expected:
        return expected == got
    if "generator" in expected:
        return "generator" in got and _close(_decode(expected["generator"]), _decode(got["generator"]), 0, 0)
    for kind in ("ndarray", "tensor"):
        if kind in expected:
            return (kind in got and expected.get("torch_dtype") == got.get("torch_dtype")
                    and _close(_decode(expected), _decode(got), rtol, atol))
    return False


def _kind(data) -> str:
    """Scalars: a Python number and a NumPy scalar compare by value; a tensor or array scalar keeps its kind."""
    return "tensor" if "tensor" in data else "ndarray" if "ndarray" in data else "number"


@dataclass(frozen=True)
class Verdict:
    """Whether every recorded call of one test cell matched in the trusted run, and the first mismatch."""
    ok: bool
    why: str = ""


def mismatch(call, outcome) -> str:
    """Why ``outcome`` (``records.Outcome``) differs from the reference ``call`` (``RecordedCall``); "" if not."""
    expected = call.expected
    if outcome.kind == "missing":
        return f"{call.name} is not defined"
    if outcome.broke:
        return f"{call.name} used {', '.join(outcome.broke)}, which the exercise does not allow"
    if "raises" in expected or outcome.kind == "raises":
        got = outcome.value if outcome.kind == "raises" else None
        if expected.get("raises") != got:
            return f"{call.name} raised {got}, expected {expected.get('raises', 'a result')}"
        return ""
    if outcome.kind != "returns":
        return f"{call.name} returned a {outcome.value}, not plain data"
    if not same(expected["returns"], outcome.value):
        return f"{call.name} returned a different result on a hidden input"
    unchanged = call.after is None  # then the arguments must come back bit for bit
    if not same(call.args if unchanged else call.after, outcome.after, *((0.0, 0.0) if unchanged else ())):
        return f"{call.name} {'changed its arguments' if unchanged else 'did not change its arguments as the solution does'}"
    return ""


def verdicts(calls, outcomes) -> dict:
    """``{grade_id: Verdict}`` for the test cells with recorded calls; ``outcomes`` None: the run did not finish."""
    if outcomes is None:
        return {call.cell: Verdict(False, "the trusted re-run did not finish") for call in calls}
    result = {}
    for call, outcome in zip(calls, outcomes):
        if call.cell not in result or result[call.cell].ok:
            why = mismatch(call, outcome)
            result[call.cell] = Verdict(not why, why)
    return result
