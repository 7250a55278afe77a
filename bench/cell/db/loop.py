"""The measured loop of a ``db`` or ``request`` cell's workers.

One loop (:func:`drive`) for both kinds: connect phase, the common start, the
stop rule (duration mode: the window's end; ops mode: ``quota`` operations from
the window's start), the idle gaps (no operation, no checkout: the worker
sleeps), the stamps of each right reply and the progress the watchdog reads.
What one operation is comes from a *step*: :func:`db_step`
cycles through the mix and checks every reply; :func:`request_step` pushes a
request context onto a ``LocalStack``, handles it through a ``LocalProxy`` and
pops it, counting the Local's leaks beside the connection's.  A step returns
the stamps to store (connection in hand, done) or None when the operation is
not timed: an error, or a wrong reply (counted, never timed: ops/s counts right
replies only).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Generator
from typing import Any

from bench.cell.db.state import Run, connect_phase, record_error
from bench.cell.db.workload import (
    KV_ROWS,
    LOCAL,
    OP_CODES,
    OP_COSTS,
    PK_LOOKUP,
    SELECT_TOKEN,
    WRITE_TXN,
    judge,
    pk_lookup,
    select_1,
    select_token,
    write_txn,
)
from bench.cell.strategies import worker_handle

#: One operation of worker ``i``: called with the op number, returns (t1, t2) to store or None.
Step = Callable[[int], "tuple[float, float] | None"]
StepFactory = Callable[[Run, int, Callable[[], Any], "Callable[[], None] | None"], Step]


def gap_edge(gaps: tuple[tuple[float, float], ...], stop: float, t: float) -> tuple[float, float | None]:
    """Where the stop rule next looks after ``t``: the earlier of ``stop`` and the start of the first idle gap not
    over at ``t``; and that gap's end when ``t`` is inside it (else None)."""
    for start, end in gaps:
        if end > t:
            return (start, end) if start <= t else (min(stop, start), None)
    return stop, None


def measured_loop(run: Run, i: int) -> Generator[int, tuple[float, float] | None, float | None]:
    """Worker ``i``'s stop rule and stamp storage, written once for every load: yields the next op number.

    Sent what the step returned for that op (the stamps to store, or None).  Returns None when the stop rule says
    stop, leaving the worker's counts in its state; or, when an idle gap has begun (``run.gaps``), that gap's end:
    the driver then sleeps until it with its load's sleep, holding no checkout, and calls this again, which goes on
    from the op number and the stamps it left.  The stop rule and the stamp storage are inlined (locals, no calls)
    to keep the loop's own cost low.
    """
    st = run.states[i]
    perf = time.perf_counter
    record = run.record
    progress = run.progress
    buf = st.buf
    cap = len(buf)
    j = st.stored  # 0 at the start; after an idle gap, what was stored before it
    quota = run.ops_per_worker
    # Duration mode: stop at the window's end.  Ops mode: at the window's start, switch to
    # counting ``quota`` operations -- one comparison per op either way.
    stop = run.window[1] if quota is None else run.window[0]
    # That one comparison is against ``edge``: the stop moment, or the next idle gap's start when it comes first.
    # It buys idle gaps at no cost per op: nothing more is checked until one begins (no gaps: edge is the stop).
    gaps = run.gaps
    edge = gap_edge(gaps, stop, perf())[0] if gaps else stop
    n_stop = sys.maxsize
    n = st.n
    while n < n_stop:
        t0 = perf()
        if t0 >= edge:
            if t0 < stop:  # an idle gap begins (or one passed during the last op); never in ops mode
                edge, until = gap_edge(gaps, stop, t0)
                if until is not None:
                    st.stored = j
                    st.n = n
                    return until
            elif quota is None or n_stop != sys.maxsize:
                break
            else:
                stop = edge = float("inf")
                n_stop = n + quota
        timed = yield n
        if timed is not None and record:
            if j == cap:  # rare: only when a worker far outran its share
                st.stored = j
                st.grow()
                buf = st.buf
                cap = len(buf)
            buf[j] = t0
            buf[j + 1] = timed[0]
            buf[j + 2] = timed[1]
            j += 3
        n += 1
        progress[i] = n
    st.stored = j
    st.n = n
    # Let go of the connection seen last: a strategy that keeps one connection per thread (PersistentDB)
    # closes it when the thread's local is released, which a reference held here would prevent.
    st.last_conn = None
    run.finished[i] = 1
    return None


def steps(loop: Generator[int, tuple[float, float] | None, float | None], step: Step) -> float | None:
    """Run ``step`` for every op number ``loop`` (:func:`measured_loop`) yields; what ``loop`` returned."""
    send = loop.send
    try:
        n = next(loop)
        while True:
            n = send(step(n))
    except StopIteration as end:
        return end.value  # type: ignore[no-any-return]


def idle_until(until: float) -> None:
    """Sleep until ``until`` (perf_counter) with the load's sleep: gevent's when it patched ``time``."""
    delay = until - time.perf_counter()
    if delay > 0:
        time.sleep(delay)


def drive(run: Run, i: int, make_step: StepFactory) -> None:
    """Worker ``i``: connect phase, then ``make_step``'s operations until the stop rule says stop (idle between)."""
    handle = worker_handle(run.strategy, i)
    recover = getattr(run.strategy, "recover", None)
    step = make_step(run, i, handle.checkout, recover)
    connect_phase(run, i, handle.checkout, recover)
    run.go()
    until = steps(measured_loop(run, i), step)
    while until is not None:  # an idle gap: no operation, no checkout held
        idle_until(until)
        until = steps(measured_loop(run, i), step)


def run_op(op: int, conn: Any, prefix: str, i: int, n: int) -> tuple[Any, Any]:
    """Run operation code ``op`` as worker ``i``'s ``n``-th; (expected reply, reply)."""
    # Most frequent first: no per-op table of closures.
    if op == SELECT_TOKEN:
        expected: Any = prefix + str(n)
        return expected, select_token(conn, expected)
    if op == PK_LOOKUP:
        key = (i * 7919 + n) % KV_ROWS + 1
        return f"value-{key}", pk_lookup(conn, key)
    if op == WRITE_TXN:
        token = prefix + str(n)
        return (token, n), write_txn(conn, token, n)
    return 1, select_1(conn)


def db_step(run: Run, i: int, checkout: Callable[[], Any], recover: Callable[[], None] | None) -> Step:
    """A ``db`` worker's step: the next operation of the mix, its reply checked."""
    st = run.states[i]
    raw = run.raw
    counts = st.counts
    prefix = st.prefix
    nonce = run.nonce
    cycle = tuple(OP_CODES[name] for name in run.cycle)  # small ints: cheapest dispatch
    period = len(cycle)
    position = [i % period]  # workers start at different places in the cycle: writes do not line up
    # Without recording, t1/t2 come from float() (a C call returning 0.0, cheaper than the
    # clock): the loop is otherwise identical, so the two variants differ by the recording only.
    clock = time.perf_counter if run.record else float

    def step(n: int) -> tuple[float, float] | None:
        k = position[0]
        op = cycle[k]
        position[0] = 0 if k + 1 == period else k + 1
        st.statements += OP_COSTS[op]
        try:
            with checkout() as conn:
                t1 = clock()
                expected, reply = run_op(op, conn, prefix, i, n)
                st.see(conn, raw)
            t2 = clock()
        except Exception as exc:  # counted by class; the worker carries on
            record_error(st, exc, recover)
            return None
        if reply != expected:
            got = reply[0] if isinstance(reply, tuple) and reply else reply
            counts[judge(got, nonce, i)] += 1
            return None
        return t1, t2

    return step


class _Request:
    """A request context as a framework pushes it."""

    __slots__ = ("n", "token", "worker")

    def __init__(self, token: str, worker: int, n: int) -> None:
        self.token = token
        self.worker = worker
        self.n = n


def request_step(run: Run, i: int, checkout: Callable[[], Any], recover: Callable[[], None] | None) -> Step:
    """A ``request`` worker's step: push a context, handle it through the proxy, pop."""
    st = run.states[i]
    raw = run.raw
    counts = st.counts
    push, pop = run.stack.push, run.stack.pop
    request = run.request
    prefix = st.prefix
    perf = time.perf_counter
    done = request_end(pop, counts, run.nonce, i)

    def step(n: int) -> tuple[float, float] | None:
        expected = prefix + str(n)
        ctx = _Request(expected, i, n)
        push(ctx)
        st.statements += 1
        violated = False
        try:
            with checkout() as conn:
                t1 = perf()
                token = request.token  # what the handler believes its request is
                if token != expected:
                    violated = True
                reply = select_token(conn, token)
                if request.token != expected:  # again after the I/O: other workers ran meanwhile
                    violated = True
                st.see(conn, raw)
            t2 = perf()
        except Exception as exc:
            record_error(st, exc, recover)
            return request_failed(pop, ctx, counts)
        return done(ctx, violated, reply, token, t1, t2)

    return step


def request_failed(pop: Callable[[], Any], ctx: Any, counts: Any) -> None:
    """After a request's operation failed: pop its context (another one on top is the Local's leak)."""
    if pop() is not ctx:
        counts[LOCAL] += 1


def request_end(pop: Callable[[], Any], counts: Any, nonce: str,
                i: int) -> Callable[[Any, bool, Any, str, float, float], tuple[float, float] | None]:
    """What worker ``i`` calls after each request's query: ``done(ctx, violated, reply, token, t1, t2)``.

    ``done`` pops the request's context, counts the Local's leak and a wrong reply, and returns the stamps if
    neither (the worker's own values are bound once here, not passed on every request).
    """
    def done(ctx: Any, violated: bool, reply: Any, token: str, t1: float, t2: float) -> tuple[float, float] | None:
        if pop() is not ctx:
            violated = True
        if violated:
            counts[LOCAL] += 1
        if reply != token:
            counts[judge(reply, nonce, i)] += 1
            return None
        return None if violated else (t1, t2)  # a request served with another's context is not timed either

    return done


def run_worker(run: Run, i: int) -> None:
    """One worker of a ``db`` cell."""
    drive(run, i, db_step)


def serve(run: Run, i: int) -> None:
    """One worker of a ``request`` cell."""
    drive(run, i, request_step)
