"""The records that cross process and module boundaries: jobs, executions, calls, outcomes.

One serialization (``to_dict`` / ``from_dict``, JSON-able plain data) serves the job file read by the
job child, the Dask path and the lines a job writes back. ``from_dict`` checks every field's type: what
comes back from a job is untrusted input, and a record of the wrong shape raises ``RecordError``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from .config import DEFAULT_ATTEMPTS

CELL_STATUSES = ("ok", "error", "timeout", "crashed", "not-run")
OUTCOME_KINDS = ("returns", "raises", "missing", "not_plain")
MAX_BROKE = 10  # rule breaks one outcome may list


class RecordError(ValueError):
    """A record that does not have the shape it must have."""


def field_of(data, key: str, kind, optional: bool = False):
    """``data[key]`` checked to be a ``kind`` (None allowed when ``optional``)."""
    if not isinstance(data, dict):
        raise RecordError(f"expected an object with {key!r}, got {type(data).__name__}")
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise RecordError(f"{key!r} must be {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
    return value


def _kinds(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def to_dict(record) -> dict:
    """Plain JSON data (tuples become lists, int keys strings): the same whether it goes to a file or to Dask."""
    return json.loads(json.dumps(dataclasses.asdict(record)))


@dataclass(frozen=True)
class Cell:
    """A code cell to run: its position in the graded notebook and its source."""
    index: int
    source: str

    @classmethod
    def from_dict(cls, data) -> Cell:
        return cls(field_of(data, "index", int), field_of(data, "source", str))


@dataclass(frozen=True)
class Confinement:
    """What the sandbox lets student code read (besides Python and the course package) and its limits."""
    readable: tuple[str, ...] = ()
    limits: dict | None = None  # sandbox.DEFAULT_LIMITS keys
    isolate: bool = True

    @classmethod
    def from_dict(cls, data) -> Confinement:
        readable = tuple(field_of(data, "readable", list))
        if not all(isinstance(p, str) for p in readable):
            raise RecordError("readable must be a list of paths")
        return cls(readable, field_of(data, "limits", dict, optional=True), field_of(data, "isolate", bool))


@dataclass(frozen=True)
class RecordSpec:
    """For the reference run: the graded names each answer cell defines, and each test cell's grade id."""
    answers: dict[int, tuple[str, ...]]
    tests: dict[int, str]

    @classmethod
    def from_dict(cls, data) -> RecordSpec:
        answers = {int(k): tuple(v) for k, v in field_of(data, "answers", dict).items()}
        tests = {int(k): str(v) for k, v in field_of(data, "tests", dict).items()}
        return cls(answers, tests)


@dataclass(frozen=True)
class ReplayCall:
    """What a student's function is called with in the trusted run: nothing of the expected result."""
    name: str
    args: Any  # trusted.to_plain([args, kwargs])
    rng: dict  # trusted.rng_state()

    @classmethod
    def from_dict(cls, data) -> ReplayCall:
        return cls(field_of(data, "name", str), field_of(data, "args", dict), field_of(data, "rng", dict))


@dataclass(frozen=True)
class RecordedCall:
    """A call a test cell made to a graded function in the reference run, with its result (grader only)."""
    cell: str  # grade id of the test cell
    name: str
    args: Any
    rng: dict
    expected: dict  # {"returns": plain} or {"raises": exception name}
    after: Any = None  # the arguments after the call, when the call changed them

    @classmethod
    def from_dict(cls, data) -> RecordedCall:
        return cls(field_of(data, "cell", str), field_of(data, "name", str), field_of(data, "args", dict),
                   field_of(data, "rng", dict), field_of(data, "expected", dict),
                   field_of(data, "after", dict, optional=True))

    def replay_call(self) -> ReplayCall:
        return ReplayCall(self.name, self.args, self.rng)


@dataclass(frozen=True)
class Outcome:
    """What a replayed call did in the student's process: returned plain data, raised, was missing…"""
    kind: str  # one of OUTCOME_KINDS
    value: Any = None  # the plain result, the exception name, the missing name or the type name
    after: Any = None  # the arguments after the call
    broke: tuple[str, ...] = ()  # what the call did that the exercise's rules forbid (``rules.Watch``)

    @classmethod
    def from_dict(cls, data) -> Outcome:
        kind = field_of(data, "kind", str)
        if kind not in OUTCOME_KINDS:
            raise RecordError(f"unknown outcome {kind!r}")
        broke = _strings(data.get("broke") or [], "broke")
        if len(broke) > MAX_BROKE or any(len(b) > 200 for b in broke):
            raise RecordError("too many or too long rule breaks")
        return cls(kind, data.get("value"), field_of(data, "after", dict, optional=True), broke)


@dataclass(frozen=True)
class Job:
    """One execution request: which cells, how long each may run, what to record or replay."""
    modules: tuple[str, ...]
    cells: tuple[Cell, ...]
    timeout: float
    seed: int = 0
    threads: int = 1
    confinement: Confinement | None = None
    record: RecordSpec | None = None
    replay: tuple[ReplayCall, ...] | None = None
    max_attempts: int = DEFAULT_ATTEMPTS
    probes: tuple[str, ...] = ()  # sources of the hidden tests' probe functions, defined before the replay
    rules: dict | None = None  # function name → ``rules.Rule.to_dict()``: checked while replayed calls run
    budget: float | None = None  # wall seconds for the whole job, every attempt together (the grader's clock)

    @classmethod
    def from_dict(cls, data) -> Job:
        optional = {key: field_of(data, key, (dict, list), optional=True) for key in ("confinement", "record", "replay")}
        return cls(tuple(field_of(data, "modules", list)), tuple(Cell.from_dict(c) for c in field_of(data, "cells", list)),
                   float(field_of(data, "timeout", (int, float))), field_of(data, "seed", int),
                   field_of(data, "threads", int),
                   None if optional["confinement"] is None else Confinement.from_dict(optional["confinement"]),
                   None if optional["record"] is None else RecordSpec.from_dict(optional["record"]),
                   None if optional["replay"] is None else tuple(ReplayCall.from_dict(c) for c in optional["replay"]),
                   field_of(data, "max_attempts", int), _strings(data.get("probes") or [], "probes"),
                   field_of(data, "rules", dict, optional=True), field_of(data, "budget", (int, float), optional=True))


def _strings(values, what: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise RecordError(f"{what} must be a list of strings")
    return tuple(values)


@dataclass(frozen=True)
class CellRun:
    """One cell's outputs (nbformat output dicts), seconds and status (one of CELL_STATUSES)."""
    outputs: list
    seconds: float
    status: str

    @classmethod
    def from_dict(cls, data) -> CellRun:
        outputs = field_of(data, "outputs", list)
        if not all(isinstance(o, dict) and isinstance(o.get("output_type"), str) for o in outputs):
            raise RecordError("outputs must be nbformat output objects")
        status = field_of(data, "status", str)
        if status not in CELL_STATUSES:
            raise RecordError(f"unknown cell status {status!r}")
        return cls(outputs, float(field_of(data, "seconds", (int, float))), status)


NOT_RUN = CellRun([], 0.0, "not-run")


@dataclass(frozen=True)
class Attempt:
    """One child process: its exit code, whether the watchdog killed it, the cell it stopped in."""
    exit: int | None
    killed: bool
    cell: int | None  # the cell running when it stopped; None when it finished
    sandbox: str | None  # what confinement was in force
    log: str | None = None  # the executor's own traceback (exit 70)
    over_budget: bool = False  # killed because the job's budget (``Job.budget``) was spent

    @classmethod
    def from_dict(cls, data) -> Attempt:
        return cls(field_of(data, "exit", int, optional=True), field_of(data, "killed", bool),
                   field_of(data, "cell", int, optional=True), field_of(data, "sandbox", str, optional=True),
                   field_of(data, "log", str, optional=True), bool(field_of(data, "over_budget", bool, optional=True)))


@dataclass(frozen=True)
class Execution:
    """Everything one job gave back."""
    cells: dict[int, CellRun]
    attempts: tuple[Attempt, ...]
    recorded: tuple[RecordedCall, ...] | None = None  # reference run
    replayed: tuple[Outcome, ...] | None = None  # trusted run: one per replay call, None if it did not finish
    wall_seconds: float = 0.0  # the whole job as the coordinator saw it: fork, cells, replay, retries

    @property
    def unfinished(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].cell is not None

    @property
    def over_budget(self) -> bool:
        return any(attempt.over_budget for attempt in self.attempts)

    @property
    def seconds(self) -> float:
        return round(sum(run.seconds for run in self.cells.values()), 3)

    def cell(self, index: int) -> CellRun:
        return self.cells.get(index, NOT_RUN)

    @classmethod
    def from_dict(cls, data) -> Execution:
        recorded, replayed = (field_of(data, key, list, optional=True) for key in ("recorded", "replayed"))
        return cls({int(k): CellRun.from_dict(v) for k, v in field_of(data, "cells", dict).items()},
                   tuple(Attempt.from_dict(a) for a in field_of(data, "attempts", list)),
                   None if recorded is None else tuple(RecordedCall.from_dict(c) for c in recorded),
                   None if replayed is None else tuple(Outcome.from_dict(o) for o in replayed),
                   float(field_of(data, "wall_seconds", (int, float))))
