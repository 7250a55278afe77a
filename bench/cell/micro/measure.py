"""The micro-benchmark worker: measures every subject of its spec in this process and returns plain data.

Runs in a fresh process (``python -m bench.cell``), spawned by :mod:`bench.exec.micro`.
"""

from __future__ import annotations

import contextvars
import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.cell.micro.compile import compile_loop
from bench.cell.micro.ops import (
    ARGUMENTS,
    HARNESS_STATEMENT,
    MAX_LOOPS,
    MINUS_SET,
    STATEMENTS,
    UNROLL,
    SubjectError,
    check_int,
    check_ops,
    check_positive,
    exception_text,
    rotated,
    subject_error_text,
)
from bench.cell.micro.subjects import check_subject, prepare, subject_factory
from bench.errors import UsageError
from bench.plan.specs import MicroTask


@dataclass(frozen=True)
class WorkerSpec:
    """A validated ``micro`` cell spec."""

    impls: list[str]
    ops: list[str]
    values: int
    warmups: int
    min_time_ns: int
    seed: int

    @classmethod
    def parse(cls, spec: MicroTask) -> WorkerSpec:
        """Check the values of the spec the parent sent (its types were checked when it was read); ValueError if bad."""
        try:
            return cls(
                impls=list(dict.fromkeys(spec.impls)),
                ops=check_ops(spec.ops),
                values=check_int("values", spec.values, 1),
                warmups=check_int("warmups", spec.warmups, 0),
                min_time_ns=max(1, round(check_positive("min_time", spec.min_time) * 1e9)),
                seed=check_int("seed", spec.seed, 0),
            )
        except UsageError as exc:
            raise ValueError(f"malformed micro spec: {exc}") from None


@dataclass
class Series:
    """One (subject, op)'s values in this process, in ns per op, net of the harness."""

    values: list[float]
    loops: int


def _timed(function: Callable[..., int], loops: int, args: tuple[Any, ...]) -> int:
    """One run of a timing function, in ns, with the collector off (as timeit does)."""
    collecting = gc.isenabled()
    gc.disable()  # a collection triggered by earlier garbage must not land inside a value
    try:
        return function(loops, time.perf_counter_ns, *args)
    finally:
        if collecting:
            gc.enable()


def _calibrate(function: Callable[..., int], args: tuple[Any, ...], min_time_ns: int) -> int:
    """The smallest power-of-two loop count whose run takes at least ``min_time_ns`` (pyperf's rule)."""
    loops = 1
    while loops < MAX_LOOPS:
        if _timed(function, loops, args) >= min_time_ns:
            return loops
        loops *= 2
    return loops


@dataclass
class _Timing:
    """One subject's timing function for one op, its objects, and the Context it runs in.

    Each subject gets its own compiled function (its own code object): the
    specialising interpreter's inline caches live in the code, and one
    function shared by subjects of different types, timed in turn, would
    keep re-specialising -- a cost of the harness, not of the subject.
    """

    context: contextvars.Context
    function: Callable[..., int]
    args: tuple[Any, ...]
    loops: int = 1

    def value(self) -> float:
        """One timed run, in ns per op (before any overhead is subtracted)."""
        return self.context.run(_timed, self.function, self.loops, self.args) / (self.loops * UNROLL)


def _timing(factory: Callable[[], Any], op: str, statements: Sequence[str], spec: WorkerSpec) -> _Timing:
    """Fresh objects for ``op`` built in a new, empty Context, and a calibrated loop count.

    A context keeps every ContextVar ever set in it, and ContextVar get/set
    cost grows with that number (a HAMT lookup, a HAMT copy).  Without a
    context per subject and op, a ContextVar design would pay for the
    variables of everything measured before it in the process.
    """
    context = contextvars.Context()
    names = context.run(prepare, factory, op)
    timing = _Timing(context, compile_loop(statements), tuple(names[arg] for arg in ARGUMENTS))
    gc.collect()  # start every series from the same, clean heap
    timing.loops = context.run(_calibrate, timing.function, timing.args, spec.min_time_ns)
    return timing


class _Subjects:
    """The subjects still being measured in this worker, and the errors of those that failed."""

    def __init__(self, factories: dict[str, Callable[[], Any]], errors: dict[str, str]) -> None:
        self.factories = factories
        self.errors = errors

    def fail(self, name: str, op: str, exc: BaseException) -> None:
        self.errors[name] = subject_error_text(name, f"{op} failed while timed: {exception_text(exc)}")
        self.factories.pop(name, None)

    def measure(self, op: str, statements: Sequence[str], spec: WorkerSpec, *, minus_set: bool = False,
                label: str | None = None) -> dict[str, tuple[list[float], int]]:
        """``spec.values`` values of ``op`` for every live subject, taken round-robin; {subject: (ns per op, loops)}.

        Interleaved, not subject after subject: value ``k`` of every subject is
        taken within one round (a few ``min_time`` apart), so a step in the
        machine's speed lasting longer than a round -- a shared VM moved to a
        slower core, a neighbour's burst -- lands on every subject alike and
        cancels in their ratio.  The order within a round rotates, so no
        subject always runs first.  With ``minus_set``, each value is the op's
        timing minus a ``set`` timing taken just before it in the same round
        (the loop overhead, in both, cancels too): a ``set`` measured at
        another moment could come from another speed step.
        """
        timings: dict[str, tuple[_Timing, _Timing | None]] = {}
        for name, factory in list(self.factories.items()):
            try:
                companion = _timing(factory, "set", STATEMENTS["set"], spec) if minus_set else None
                timings[name] = (_timing(factory, op, statements, spec), companion)
            except Exception as exc:  # the subject broke while being set up for timing: report it, measure the others
                self.fail(name, label or op, exc)
        values: dict[str, list[float]] = {name: [] for name in timings}
        for k in range(-spec.warmups, spec.values):  # negative k: warm-up rounds, discarded
            for name in rotated(list(timings), k + spec.seed, max(len(timings), 1)):
                timing, companion = timings[name]
                try:
                    before = companion.value() if companion is not None else 0.0
                    value = timing.value() - before
                except Exception as exc:
                    self.fail(name, label or op, exc)
                    del timings[name]
                    continue
                if k >= 0:
                    values[name].append(value)
        return {name: (values[name], timing.loops) for name, (timing, _) in timings.items()}


def op_order(ops: Sequence[str], seed: int) -> list[str]:
    """The order a worker measures ``ops`` in: rotated by ``seed``, so no op always runs first (or last)."""
    shift = seed % len(ops) if ops else 0
    return [*ops[shift:], *ops[:shift]]


def run_micro_worker(spec: MicroTask) -> dict[str, Any]:
    """Measure every subject of ``spec`` in this process (the child side of :func:`run_micro`).

    Returns ``{"values": {subject: {op: [ns per op, ...]}}, "loops": {subject:
    {op: n}}, "harness_ns": {subject: ns per op}, "errors": {subject: message},
    "seed": k}``.  A subject that fails lands in ``errors`` and nowhere else.
    Op by op, every subject's values are taken in interleaved rounds
    (:meth:`_Subjects.measure`); the harness first, as if it were an op.
    """
    parsed = WorkerSpec.parse(spec)
    output: dict[str, Any] = {"values": {}, "loops": {}, "harness_ns": {}, "errors": {}, "seed": parsed.seed}
    factories: dict[str, Callable[[], Any]] = {}
    for name in parsed.impls:
        try:
            factory = subject_factory(name)
            contextvars.Context().run(check_subject, name, factory)  # leaves no variables in this process's context
        except SubjectError as exc:
            output["errors"][name] = str(exc)
            continue
        factories[name] = factory
    subjects = _Subjects(factories, output["errors"])
    harness_values = subjects.measure("get", HARNESS_STATEMENT, parsed, label="harness")
    harness = {name: statistics.median(values) for name, (values, _) in harness_values.items()}
    series: dict[str, dict[str, Series]] = {}
    for op in op_order(parsed.ops, parsed.seed):
        minus_set = op in MINUS_SET
        for name, (raw, loops) in subjects.measure(op, STATEMENTS[op], parsed, minus_set=minus_set).items():
            overhead = 0.0 if minus_set else harness[name]  # minus a set, the loop's own cost is already gone
            series.setdefault(name, {})[op] = Series([v - overhead for v in raw], loops)
    for name in parsed.impls:
        if name in subjects.factories:
            output["values"][name] = {op: s.values for op, s in series[name].items()}
            output["loops"][name] = {op: s.loops for op, s in series[name].items()}
            output["harness_ns"][name] = harness[name]
    return output

