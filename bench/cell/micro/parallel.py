"""One thread, then two at once: each Local's accesses per second per thread, and how that scales.

Contract
    For every subject of the spec -- a Local (a name :func:`localimpls.resolve` accepts), the control ``plain`` (an
    ordinary attribute of an object each thread owns) and a bare ``ContextVar`` (its ``get`` / ``set``, alone in the
    context, and among :data:`CROWD` variables set in it) -- and every op (``get``: ``l.x``; ``set``: ``l.x = v``),
    one *window* runs the op in one thread for ``window`` seconds, another runs it in two threads started together
    (a barrier), each on its own value in its own context, for the same time.  Each thread counts its ops and
    reports ops/s over its own span.  ``scaling`` = ops/s of each of the two / ops/s of the one (the parent,
    :mod:`bench.exec.parallel`): 1 when two cores serve two threads without contention, 0.5 when they take turns
    (the GIL), below 1 wherever they contend (a shared reference count, a shared lock, a shared cache line).

How
    Both threads share the one Local object (as a module-global Local is shared) and the one compiled timing
    function (:func:`bench.cell.micro.compile_loop`, the op unrolled :data:`~bench.cell.micro.UNROLL` times), and
    each builds its own values inside a fresh :class:`contextvars.Context` first.  The loop runs in chunks of about
    :data:`CHUNK_NS` (the loop count found by doubling, in one thread), the clock read between chunks; the loop's own
    cost is in the figure (a few ns of each access, the same at 1 and 2 threads).  The collector is off during a
    window.  Rounds rotate the subjects' order, and alternate which thread count runs first, so drift of the machine
    lands on both.
"""

from __future__ import annotations

import contextvars
import gc
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.cell.micro.compile import compile_loop
from bench.cell.micro.ops import (
    ARGUMENTS,
    STATEMENTS,
    SUBJECT_PLAIN,
    SUBJECT_REFERENCE,
    UNROLL,
    Plain,
    SubjectError,
    exception_text,
    rotated,
    subject_error_text,
)
from bench.plan.specs import ParallelTask

#: A bare ContextVar, alone in its context; and among CROWD variables set in the context (the HAMT a lookup walks:
#: free-threaded builds skip the per-variable cache that makes the two alike, CPython issue 121546).
SUBJECT_VAR = "ContextVar"
SUBJECT_VAR_CROWDED = "ContextVar, 64 set"
CROWD = 64
VAR_SUBJECTS: tuple[str, ...] = (SUBJECT_VAR, SUBJECT_VAR_CROWDED)
#: The statements of a bare ContextVar (``s`` is its bound ``get``, ``o`` its bound ``set``).
VAR_STATEMENTS: dict[str, tuple[str, ...]] = {"get": ("s()",), "set": ("o(v)", "o(w)")}
#: Ops this measurement times.
PARALLEL_OPS: tuple[str, ...] = ("get", "set")
#: Nanoseconds one chunk of the loop takes (the clock is read between chunks).
CHUNK_NS = 200_000
_MAX_LOOPS = 2**24


def parallel_subjects(impls: Sequence[str]) -> list[str]:
    """``plain``, ``threading-local``, the requested Locals, then the bare ContextVar twice: each once, in order."""
    return list(dict.fromkeys([SUBJECT_PLAIN, SUBJECT_REFERENCE, *impls, *VAR_SUBJECTS]))


@dataclass
class _Subject:
    """How one subject is shared by the threads of a window and given to each of them."""

    name: str
    factory: Callable[[], Any] | None  # None: a bare ContextVar

    def shared(self) -> Any:
        """What every thread of one window shares: the Local (None for ``plain``), or the ContextVars."""
        if self.factory is None:
            crowd = CROWD - 1 if self.name == SUBJECT_VAR_CROWDED else 0
            return [contextvars.ContextVar(f"ctxbench.parallel.{i}") for i in range(crowd + 1)]
        return None if self.name == SUBJECT_PLAIN else self.factory()

    def names(self, shared: Any) -> dict[str, Any]:
        """One thread's objects (``l, v, w, s, o, ...``), built in the context it will run in."""
        value, other = object(), object()
        names: dict[str, Any] = dict.fromkeys(ARGUMENTS)
        names.update(v=value, w=other)
        if self.factory is None:
            var, *crowd = shared
            for extra in crowd:
                extra.set(object())
            var.set(value)
            names.update(s=var.get, o=var.set)
            return names
        local = Plain() if shared is None else shared
        local.x = value
        names["l"] = local
        return names

    def statements(self, op: str) -> tuple[str, ...]:
        return VAR_STATEMENTS[op] if self.factory is None else STATEMENTS[op]


def _subject(name: str) -> _Subject:
    """The subject ``name``, checked to behave like a Local first; SubjectError if it does not."""
    if name in VAR_SUBJECTS:
        return _Subject(name, None)
    from bench.cell.micro.subjects import check_subject, subject_factory

    factory = subject_factory(name)
    contextvars.Context().run(check_subject, name, factory)
    return _Subject(name, factory)


def _chunk_loops(function: Callable[..., int], args: tuple[Any, ...]) -> int:
    """The smallest power-of-two loop count whose run takes :data:`CHUNK_NS` (in this thread)."""
    loops = 1
    while loops < _MAX_LOOPS and function(loops, time.perf_counter_ns, *args) < CHUNK_NS:
        loops *= 2
    return loops


def window(subject: _Subject, op: str, threads: int, seconds: float,
           function: Callable[..., int] | None = None) -> list[float]:
    """Ops/s of each of ``threads`` threads running ``op`` on ``subject`` together for ``seconds``."""
    function = function or compile_loop(subject.statements(op))
    shared = subject.shared()
    sizing = contextvars.Context()
    names = sizing.run(subject.names, shared)
    loops = sizing.run(_chunk_loops, function, tuple(names[a] for a in ARGUMENTS))
    barrier = threading.Barrier(threads, timeout=30.0)
    rates: list[float | None] = [None] * threads
    errors: list[BaseException] = []

    def run(index: int) -> None:
        names = subject.names(shared)
        args = tuple(names[a] for a in ARGUMENTS)
        barrier.wait()
        count, started = 0, time.perf_counter()
        deadline = started + seconds
        while True:
            function(loops, time.perf_counter_ns, *args)
            count += loops
            now = time.perf_counter()
            if now >= deadline:
                break
        rates[index] = count * UNROLL / (now - started)

    def target(index: int) -> None:
        try:
            contextvars.Context().run(run, index)
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)
            barrier.abort()

    workers = [threading.Thread(target=target, args=(i,), name=f"ctxbench-parallel-{i}") for i in range(threads)]
    collecting = gc.isenabled()
    gc.disable()
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        if collecting:
            gc.enable()
    if errors:
        raise errors[0]
    return [float(r) for r in rates if r is not None]


def _round(subjects: dict[str, _Subject], functions: dict[tuple[str, str], Callable[..., int]], ops: Sequence[str],
           spec: ParallelTask, k: int, output: dict[str, Any]) -> None:
    """Round ``k``: every live subject's ops at 1 and 2 threads (2 first in odd rounds), subjects rotated."""
    for name in rotated(list(subjects), k + spec.seed, max(len(subjects), 1)):
        for op in ops:
            try:
                counts = (2, 1) if k % 2 else (1, 2)
                rates = {n: window(subjects[name], op, n, spec.window, functions[name, op]) for n in counts}
            except Exception as exc:  # this subject broke: reported, the others measured
                output["errors"][name] = subject_error_text(name, f"{op} failed while timed: {exception_text(exc)}")
                output["values"].pop(name, None)
                del subjects[name]
                break
            per_op = output["values"].setdefault(name, {}).setdefault(op, {"1": [], "2": []})
            per_op["1"] += rates[1]
            per_op["2"] += rates[2]


def run_parallel_worker(spec: ParallelTask) -> dict[str, Any]:
    """Every subject of ``spec`` at 1 and 2 threads in this process (the child side of the parent's cell).

    Returns ``{"values": {subject: {op: {"1": [ops/s], "2": [ops/s of each thread]}}}, "errors": {subject:
    message}, "cores", "load_1m"}``; a subject that fails is in ``errors`` only.
    """
    ops = [op for op in spec.ops if op in PARALLEL_OPS] or list(PARALLEL_OPS)
    output: dict[str, Any] = {"values": {}, "errors": {}, "cores": os.cpu_count(),
                              "load_1m": round(os.getloadavg()[0], 2)}
    subjects: dict[str, _Subject] = {}
    for name in parallel_subjects(spec.impls):
        try:
            subjects[name] = _subject(name)
        except SubjectError as exc:
            output["errors"][name] = str(exc)
    functions = {(name, op): compile_loop(subject.statements(op)) for name, subject in subjects.items() for op in ops}
    for k in range(spec.rounds):
        _round(subjects, functions, ops, spec, k, output)
    return output
