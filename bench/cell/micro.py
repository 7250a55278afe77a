"""Micro-benchmarks of Local implementations: nanoseconds per attribute op, measured pyperf style.

What it promises
    For every subject -- a name :func:`localimpls.resolve` accepts, plus the
    floor ``plain`` (an ordinary instance attribute) and the reference
    ``threading-local`` (always measured) -- and every op in :data:`OPS`, one
    ``micro`` record holding the median cost of *one* op in nanoseconds, net of
    the timing loop, its median absolute deviation, every value it came from,
    and its ratio to ``threading.local`` for the same op.  A subject that cannot
    be imported or does not behave like a Local yields one error line
    ``impl 'NAME': <reason>`` and no records; every other subject is still
    measured.

Why it is built like this (pyperf's method, written by hand)
    *Parent and workers.*  :func:`run_micro` never times anything.  It runs P
    fresh worker processes one after another (``python -m bench.cell SPEC OUT``,
    timings never overlap), and every worker measures every subject, op by op,
    taking the values of all subjects in interleaved rounds (value ``k`` of
    each subject within one round, the order rotated from round to round).  A
    shared machine changes speed in steps that last seconds -- seen on this
    project's VM: threading.local ``get`` at 67-73 ns for one series and 42-46
    ns for the next -- so a subject timed seconds after its reference would
    carry those steps into its ratio; timed in the same round, both see the
    same step and the ratio cancels it.  A
    worker that crashes or hangs is retried one subject per process, so the
    culprit is named and the others are still measured.  pyperf's ``Runner``
    is not used because it owns ``sys.argv`` and spawns workers by re-running
    the calling script; this suite's CLI and tests need a plain function.

    *Timing functions are compiled, like timeit.*  For each (subject, op) the
    worker builds fresh objects -- a fresh Local per op, so one op cannot change
    another's speed (a deletion can switch a Local to a slower path, an
    instance dict can lose its inline layout) -- and ``exec``s a function whose
    loop body is the op written out :data:`UNROLL` times, with every object a
    local variable (LOAD_FAST).  The loop count is calibrated (doubling) until
    one value takes at least ``min_time``; ``warmups`` values are discarded
    (they also let the 3.11 specialising interpreter settle); then ``values``
    values are taken with :func:`time.perf_counter_ns`, the garbage collector
    off as in timeit.

    *Harness overhead is subtracted.*  The same unrolled loop with the cheapest
    statement on the same local variable (``l``: LOAD_FAST + POP_TOP) is timed
    per subject; its per-op median is subtracted from every value and recorded
    as ``harness_ns``.  What remains is the op itself, down to about a
    nanosecond; values of the very cheapest ops (``plain`` get) can therefore
    be close to zero.

    *Ops that cannot run alone are measured with a restoring statement, and the
    subject's own ``set``, timed just before in the same round, is subtracted*::

        del  = time(l.x = v; del l.x)         - set
        push = time(s.push(o); l.stack = saved) - set     # l = s._local, saved = ()
        pop  = time(s.pop(); l.stack = saved)   - set     # saved = (o,)

    ``push`` starts from an empty stack and ``pop`` from a one-item stack, the
    depths of one request.  ``top`` and ``proxy-get`` read a one-item stack;
    ``proxy-get`` is ``request.attr`` through ``LocalProxy(lambda: stack.top)``.
    ``set`` overwrites an existing value (the steady state, not a first write)
    and alternates two values, so every store is a real change: storing the
    value already held is a shortcut for some designs (``ContextVar.set`` keeps
    the same HAMT), and the restoring stores above are real changes too.
    ``get`` reads repeatedly with no write in between: the best case for a
    ContextVar design, whose per-thread cache is invalidated by any write.

    *Every op runs in a new, empty contextvars.Context* (objects built and
    timed inside ``Context().run``).  A context keeps every ContextVar ever set
    in it and ContextVar costs grow with their number, so otherwise a
    ContextVar design measured late in a process would pay for the variables
    of every subject measured before it (seen: ``fast`` set 163 vs 224 ns
    depending on its place in the order).

    Records: ``{"kind": "micro", "impl", "op", "ns_median", "ns_spread",
    "spread_kind": "mad", "values", "processes", "values_per_process", "loops",
    "harness_ns", "ratio_to_threading_local"}``; nanoseconds rounded to 0.1
    (harness to 0.01), ratios to 0.001.  ``loops`` is the smallest loop count
    any process used; each loop iteration runs the op :data:`UNROLL` times.
"""

from __future__ import annotations

import contextvars
import gc
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import UsageError

#: Every op, in the order tables show them.
OPS: tuple[str, ...] = ("get", "set", "del", "push", "top", "pop", "proxy-get")
#: The floor: an attribute of an ordinary class instance (instance ``__dict__``).
SUBJECT_PLAIN = "plain"
#: The reference every ratio is taken against; always measured.
SUBJECT_REFERENCE = "threading-local"
#: How many times the timing loop's body repeats the op (amortises the loop).
UNROLL = 10
#: The slowest loop count calibration will try before settling.
MAX_LOOPS = 2**32
#: The project root: worker processes run here and import ``bench``/``localimpls`` from it.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: What is timed for each op: statements cycled through the unrolled loop body;
#: ``l``, ``v``, ``w``, ``s``, ``o``, ``saved`` and ``request`` are local variables.
STATEMENTS: dict[str, tuple[str, ...]] = {
    "get": ("l.x",),
    # Two values, alternated: every store really changes the value.  Storing the
    # value already held is cheaper for some designs (ContextVar.set returns the
    # same HAMT when the value is identical), and a request never does that.
    "set": ("l.x = v", "l.x = w"),
    "del": ("l.x = v; del l.x",),
    "push": ("s.push(o); l.stack = saved",),
    "top": ("s.top",),
    "pop": ("s.pop(); l.stack = saved",),
    "proxy-get": ("request.attr",),
}
#: Ops whose statement includes one restoring ``set``, subtracted afterwards.
MINUS_SET: frozenset[str] = frozenset({"del", "push", "pop"})
#: The cheapest statement on the same local: what the loop costs without any op.
HARNESS_STATEMENT: tuple[str, ...] = ("l",)
#: The names every timing function receives, in order, after the loop count and timer.
ARGUMENTS: tuple[str, ...] = ("l", "v", "w", "s", "o", "saved", "request")

# timeit's loop: iterating itertools.repeat(None, n) hands out the same None n
# times, with no int object created or freed per pass; the objects arrive as
# arguments, so each use is a LOAD_FAST (no global or closure lookup timed).
_LOOP_TEMPLATE = """\
def inner(_loops, _timer, {args}):
    _it = _repeat(None, _loops)
    _t0 = _timer()
    for _ in _it:
{body}
    return _timer() - _t0
"""

_CALL_TEMPLATE = """\
def run({defaults}):
{body}
"""


class SubjectError(Exception):
    """A subject could not be resolved, or does not behave like a Local; the message is one line."""


class Plain:
    """The floor: an ordinary class whose instances keep attributes in their ``__dict__``."""


class Payload:
    """What a request context pushes: an object with one attribute, ``attr``."""

    def __init__(self, attr: Any) -> None:
        self.attr = attr


# ---------------------------------------------------------------------------
# Formatting and small validators
# ---------------------------------------------------------------------------


def format_ns(x: float | None) -> str:
    """A duration given in nanoseconds, as text with a unit: ``12.3 ns``, ``1.23 us``; ``-`` for None."""
    if x is None:
        return "-"
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise ValueError(f"format_ns: expected a finite number of nanoseconds, got {x!r}")
    size = abs(x)
    if size < 100:
        return f"{x:.1f} ns"
    if size < 1e3:
        return f"{x:.0f} ns"
    for scale, unit in ((1e3, "us"), (1e6, "ms"), (1e9, "s")):
        if size < scale * 1e3 or unit == "s":
            return f"{x / scale:.3g} {unit}"
    raise AssertionError("unreachable")


def _one_line(text: str, limit: int = 300) -> str:
    """The first line of ``text``, stripped and cut to ``limit`` characters."""
    lines = text.strip().splitlines()
    return (lines[0] if lines else "").strip()[:limit]


def _exception_text(exc: BaseException) -> str:
    """``ExcName: message`` on one line."""
    return _one_line(f"{exc.__class__.__name__}: {exc}")


def subject_error_text(name: str, reason: str) -> str:
    """``impl 'NAME': reason`` on one line, without doubling a prefix the reason already has."""
    reason = _one_line(reason)
    prefix = f"impl {name!r}:"
    return reason if reason.startswith(prefix) else f"{prefix} {reason}"


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"micro: {name} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise UsageError(f"micro: {name} must be a positive number of seconds, got {value!r}")
    return float(value)


def check_ops(ops: Sequence[str] | None) -> list[str]:
    """The requested ops, validated and deduplicated in the given order; every op when None."""
    if ops is None:
        return list(OPS)
    if isinstance(ops, str) or not ops:
        raise UsageError(f"micro: ops must be a non-empty list of op names ({', '.join(OPS)}), got {ops!r}")
    unknown = [op for op in ops if op not in OPS]
    if unknown:
        raise UsageError(f"micro: unknown op {unknown[0]!r} (known: {', '.join(OPS)})")
    return list(dict.fromkeys(ops))


def subjects_for(impls: Sequence[str]) -> list[str]:
    """``plain``, ``threading-local`` and then the requested subjects, each once, in that order."""
    if isinstance(impls, str):
        raise UsageError(f"micro: impls must be a list of names, got the string {impls!r}")
    bad = [name for name in impls if not isinstance(name, str) or not name.strip()]
    if bad:
        raise UsageError(f"micro: impl names must be non-empty strings, got {bad[0]!r}")
    return list(dict.fromkeys([SUBJECT_PLAIN, SUBJECT_REFERENCE, *impls]))


# ---------------------------------------------------------------------------
# Subjects and the objects each op works on (shared with bench/pytest_micro.py)
# ---------------------------------------------------------------------------


def subject_factory(name: str) -> Callable[[], Any]:
    """What makes a new Local for subject ``name``; raise SubjectError if it cannot be resolved."""
    if name == SUBJECT_PLAIN:
        return Plain
    import localimpls  # here, not at module level: a worker may patch (gevent) before subjects import

    try:
        factory: Callable[[], Any] = localimpls.resolve(name)
    except localimpls.ImplError as exc:
        raise SubjectError(subject_error_text(name, str(exc))) from None
    return factory


def check_subject(name: str, factory: Callable[[], Any]) -> None:
    """Run every op once and check its result; raise SubjectError naming the first that misbehaves.

    Timing something that does not work would produce a number that means
    nothing, so a subject must pass this before any op of it is measured.
    """
    from localimpls.stack import LocalProxy, LocalStack

    missing = object()
    step = "construction"
    try:
        local = factory()
        value = object()
        step = "set"
        local.x = value
        step = "get after set"
        got = local.x
        if got is not value:
            raise SubjectError(subject_error_text(name, f"get after set returned {got!r}, not the value set"))
        step = "set over an existing value"
        local.x = value
        step = "del"
        del local.x
        step = "get after del"
        if getattr(local, "x", missing) is not missing:
            raise SubjectError(subject_error_text(name, "attribute still readable after del"))
        step = "LocalStack construction"
        payload = Payload(value)
        stack: LocalStack[Payload] = LocalStack(factory)
        step = "push"
        stack.push(payload)
        step = "top"
        if stack.top is not payload:
            raise SubjectError(subject_error_text(name, "stack.top is not the object just pushed"))
        step = "proxy-get"
        if LocalProxy(lambda: stack.top).attr is not value:
            raise SubjectError(subject_error_text(name, "proxy read returned the wrong value"))
        step = "pop"
        if stack.pop() is not payload or stack.top is not None:
            raise SubjectError(subject_error_text(name, "pop did not return the pushed object and empty the stack"))
    except SubjectError:
        raise
    except Exception as exc:  # any failure is the subject's: report it, measure the others
        raise SubjectError(subject_error_text(name, f"{step} failed: {_exception_text(exc)}")) from None


def prepare(factory: Callable[[], Any], op: str) -> dict[str, Any]:
    """Fresh objects for one op: the locals ``l, v, w, s, o, saved, request`` its statements use.

    ``l`` is always a Local (for stack ops, the stack's own), so the harness
    statement ``l`` can run on the same variable as the op.
    """
    from localimpls.stack import LocalProxy, LocalStack

    if op not in STATEMENTS:
        raise ValueError(f"unknown op {op!r} (known: {', '.join(OPS)})")
    value = object()
    names: dict[str, Any] = {"l": None, "v": value, "w": object(), "s": None, "o": None, "saved": None, "request": None}
    if op in ("get", "set", "del"):
        local = factory()
        if op != "del":
            local.x = value  # get reads an existing value, set overwrites one
        names["l"] = local
        return names
    payload = Payload(value)
    stack: LocalStack[Payload] = LocalStack(factory)
    names.update(s=stack, o=payload, l=stack._local)
    if op == "push":
        stack.push(payload)
        stack.pop()  # leaves an empty tuple: the state push starts from, and restores to
    else:
        stack.push(payload)  # top, pop, proxy-get work on a one-item stack
    names["saved"] = stack._local.stack
    if op == "proxy-get":
        names["request"] = LocalProxy(lambda: stack.top)
    return names


def _unrolled(statements: Sequence[str], unroll: int, indent: str) -> str:
    """``unroll`` lines cycling through ``statements``; ``unroll`` must be a multiple of their count.

    A multiple, so that every pass of the loop leaves the objects as it found them.
    """
    _check_int("unroll", unroll, 1)
    if isinstance(statements, str) or not statements or unroll % len(statements):
        raise ValueError(f"unroll ({unroll}) must be a positive multiple of the number of statements in {statements!r}")
    return "\n".join(indent + line for line in itertools.islice(itertools.cycle(statements), unroll))


def compile_loop(statements: Sequence[str], unroll: int = UNROLL) -> Callable[..., int]:
    """A timing function ``inner(loops, timer, l, v, w, s, o, saved, request) -> elapsed ns``, like timeit's.

    The loop body is the op written out ``unroll`` times, so the loop's own
    cost (FOR_ITER, STORE_FAST, JUMP_BACKWARD) is shared by that many ops.
    """
    source = _LOOP_TEMPLATE.format(args=", ".join(ARGUMENTS), body=_unrolled(statements, unroll, " " * 8))
    namespace: dict[str, Any] = {"_repeat": itertools.repeat}
    exec(compile(source, f"<ctxbench.micro: {' / '.join(statements)}>", "exec"), namespace)
    function: Callable[..., int] = namespace["inner"]
    return function


def compile_call(statements: Sequence[str], names: dict[str, Any], unroll: int) -> Callable[[], None]:
    """A no-argument function running the op ``unroll`` times on ``names`` bound as defaults.

    Defaults make every name a LOAD_FAST inside the function, as in
    :func:`compile_loop`; this is the shape pytest-benchmark calls.
    """
    source = _CALL_TEMPLATE.format(defaults=", ".join(f"{arg}={arg}" for arg in ARGUMENTS), body=_unrolled(statements, unroll, " " * 4))
    namespace: dict[str, Any] = {arg: names[arg] for arg in ARGUMENTS}
    exec(compile(source, f"<ctxbench.micro: {' / '.join(statements)}>", "exec"), namespace)
    function: Callable[[], None] = namespace["run"]
    return function


# ---------------------------------------------------------------------------
# The worker: runs in a fresh process, measures, returns plain data
# ---------------------------------------------------------------------------


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
    def parse(cls, spec: dict[str, Any]) -> WorkerSpec:
        """Validate the JSON spec the parent sent; raise ValueError on anything malformed."""
        try:
            impls = spec["impls"]
            if not isinstance(impls, list) or not all(isinstance(name, str) for name in impls):
                raise ValueError(f"impls must be a list of names, got {impls!r}")
            return cls(
                impls=list(dict.fromkeys(impls)),
                ops=check_ops(spec["ops"]),
                values=_check_int("values", spec["values"], 1),
                warmups=_check_int("warmups", spec["warmups"], 0),
                min_time_ns=max(1, round(_check_positive("min_time", spec["min_time"]) * 1e9)),
                seed=_check_int("seed", spec.get("seed", 0), 0),
            )
        except (KeyError, UsageError) as exc:
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
        self.errors[name] = subject_error_text(name, f"{op} failed while timed: {_exception_text(exc)}")
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
                timings[name] = (_timing(factory, op, statements, spec), _timing(factory, "set", STATEMENTS["set"], spec) if minus_set else None)
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
    """The order a worker measures ``ops`` in: rotated by ``seed``, so that no op always runs first (or last) in a process."""
    shift = seed % len(ops) if ops else 0
    return [*ops[shift:], *ops[:shift]]


def run_micro_worker(spec: dict[str, Any]) -> dict[str, Any]:
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
    harness = {name: statistics.median(values) for name, (values, _) in subjects.measure("get", HARNESS_STATEMENT, parsed, label="harness").items()}
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


# ---------------------------------------------------------------------------
# The parent: plans processes, runs them one at a time, aggregates
# ---------------------------------------------------------------------------


def rotated(items: Sequence[str], index: int, count: int) -> list[str]:
    """``items`` rotated for process ``index`` of ``count``: starts spread evenly over the list."""
    if not items:
        return []
    shift = (index * len(items) // max(count, 1)) % len(items)
    return [*items[shift:], *items[:shift]]


def worker_timeout(subjects: int, ops: int, values: int, warmups: int, min_time: float) -> float:
    """Seconds a worker may take before it is declared hung: a generous multiple of the planned work."""
    # Per series: calibration (doubling: under 4 x min_time) + warmups + values;
    # per subject: the ops, the harness, and a set timed beside each composite op.
    planned = subjects * (ops + 1 + len(MINUS_SET)) * (values + warmups + 4) * max(min_time, 0.001)
    return 60.0 + 5.0 * planned


_spawned = itertools.count()  # numbers worker output files within one run's temporary directory


def _worker_env() -> dict[str, str]:
    """The parent's environment with the project root first on PYTHONPATH."""
    env = dict(os.environ)
    paths = [str(PROJECT_ROOT), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def _spawn(python: str, spec: dict[str, Any], timeout: float, workdir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """Run one worker process; return (its output, None) or (None, why it failed, one line)."""
    out_path = workdir / f"micro-{next(_spawned)}.json"
    command = [python, "-m", "bench.cell", json.dumps(spec), str(out_path)]
    try:
        done = subprocess.run(command, cwd=PROJECT_ROOT, env=_worker_env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"worker process timed out after {timeout:.0f} s"
    except OSError as exc:
        raise UsageError(f"micro: cannot run {python!r}: {exc.strerror or exc}") from None
    if done.returncode != 0 or not out_path.exists():
        last = _one_line("\n".join(done.stderr.strip().splitlines()[-1:])) or "no output"
        return None, f"worker process exited with status {done.returncode}: {last}"
    from bench.records.io import RecordError, read_json

    try:
        output = read_json(out_path)
    except RecordError as exc:
        return None, f"worker output unreadable: {exc}"
    if not isinstance(output, dict) or not all(isinstance(output.get(key), dict) for key in ("values", "errors", "harness_ns")):
        return None, "worker output is not a micro result"
    return output, None


@dataclass
class _Collected:
    """Everything the workers reported, per subject."""

    values: dict[str, dict[str, list[float]]]
    loops: dict[str, dict[str, list[int]]]
    harness: dict[str, list[float]]
    processes: dict[str, int]
    errors: dict[str, str]

    def merge(self, output: dict[str, Any]) -> None:
        """Add one worker's output; a subject's first error wins and drops its values."""
        for name, message in output["errors"].items():
            self.errors.setdefault(name, subject_error_text(name, str(message)))
        for name, per_op in output["values"].items():
            if name in self.errors:
                continue
            self.processes[name] = self.processes.get(name, 0) + 1
            self.harness.setdefault(name, []).append(float(output["harness_ns"][name]))
            for op, values in per_op.items():
                self.values.setdefault(name, {}).setdefault(op, []).extend(float(v) for v in values)
                self.loops.setdefault(name, {}).setdefault(op, []).append(int(output["loops"][name][op]))
        for name in self.errors:
            self.values.pop(name, None)


def _mad(values: Sequence[float], centre: float) -> float:
    """Median absolute deviation from ``centre``."""
    return statistics.median(abs(v - centre) for v in values)


def aggregate(collected: _Collected, subjects: Sequence[str], ops: Sequence[str], values_per_process: int) -> list[dict[str, Any]]:
    """One record per measured (subject, op), with its ratio to threading-local for that op."""
    medians = {
        (name, op): statistics.median(series)
        for name, per_op in collected.values.items()
        for op, series in per_op.items()
        if series
    }
    records: list[dict[str, Any]] = []
    for name in subjects:
        if name in collected.errors or name not in collected.values:
            continue
        for op in ops:
            series = collected.values[name].get(op)
            if not series:
                continue
            median = medians[name, op]
            reference = medians.get((SUBJECT_REFERENCE, op))
            ratio = round(median / reference, 3) if reference else None  # None: reference missing (or zero)
            records.append({
                "kind": "micro",
                "impl": name,
                "op": op,
                "ns_median": round(median, 1),
                "ns_spread": round(_mad(series, median), 1),
                "spread_kind": "mad",
                "values": [round(v, 1) for v in series],
                "processes": collected.processes[name],
                "values_per_process": values_per_process,
                "loops": min(collected.loops[name][op]),
                "harness_ns": round(statistics.median(collected.harness[name]), 2),
                "ratio_to_threading_local": ratio,
            })
    return records


def run_micro(
    impls: list[str],
    *,
    ops: list[str] | None = None,
    processes: int = 3,
    values: int = 5,
    warmups: int = 1,
    min_time: float = 0.01,
    progress: Callable[[str], None] | None = None,
    python: str = sys.executable,
    timeout: float | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Measure ``impls`` (plus ``plain`` and ``threading-local``) in ``processes`` fresh workers, one after another.

    Returns ``(records, errors)``: one ``micro`` record per (subject, op) that
    was measured, and one ``impl 'NAME': reason`` line per subject that was
    not.  ``timeout`` bounds each worker process (seconds); by default a
    generous multiple of the planned work.  Raises UsageError for nonsense
    arguments.
    """
    subjects = subjects_for(impls)
    op_list = check_ops(ops)
    processes = _check_int("processes", processes, 1)
    values = _check_int("values", values, 1)
    warmups = _check_int("warmups", warmups, 0)
    min_time = _check_positive("min_time", min_time)
    if timeout is not None:
        timeout = _check_positive("timeout", timeout)
    say = progress or (lambda _message: None)
    collected = _Collected(values={}, loops={}, harness={}, processes={}, errors={})
    base = {"task": "micro", "ops": op_list, "values": values, "warmups": warmups, "min_time": min_time}

    def limit(count: int) -> float:
        return timeout or worker_timeout(count, len(op_list), values, warmups, min_time)

    with tempfile.TemporaryDirectory(prefix="ctxbench-micro-") as tmp:
        workdir = Path(tmp)
        for index in range(processes):
            # Subjects that already failed fail the same way again: not re-run.
            order = rotated([name for name in subjects if name not in collected.errors], index, processes)
            if not order:
                break
            say(f"micro: process {index + 1}/{processes}: {len(order)} subjects x {len(op_list)} ops")
            output, failure = _spawn(python, {**base, "impls": order, "seed": index}, limit(len(order)), workdir)
            if output is not None:
                collected.merge(output)
                continue
            # The whole process failed (crash, hang): one process per subject names the culprit.
            say(f"micro: process {index + 1}/{processes} failed ({failure}); retrying one subject per process")
            for name in order:
                solo, solo_failure = _spawn(python, {**base, "impls": [name], "seed": index}, limit(1), workdir)
                if solo is not None:
                    collected.merge(solo)
                else:
                    collected.errors.setdefault(name, subject_error_text(name, str(solo_failure)))
                    collected.values.pop(name, None)
    errors = [collected.errors[name] for name in subjects if name in collected.errors]
    return aggregate(collected, subjects, op_list, values), errors
