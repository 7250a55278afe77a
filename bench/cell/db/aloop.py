"""The measured loop of a ``db`` or ``request`` cell's tasks under the asyncio load: the async twins of
:mod:`bench.cell.db.loop`.

The stop rule and the stamp storage are :func:`bench.cell.db.loop.measured_loop`, shared with the blocking
loads; what is here is what must await: the connect phase (an ``asyncio.Event`` ready barrier), the
operations over an async driver (aiomysql or asyncmy cursors), and the two steps.  A strategy with
``sync_ops`` (blocking PyMySQL connections, ``to-thread``) has each operation run whole in
``asyncio.to_thread``; one with ``op_timeout`` has each bounded by ``asyncio.wait_for``.  Each task runs in
its own copy of the main context (``asyncio.gather`` wraps each coroutine in a task), so a ContextVar set by
one task is never seen by another -- which is what the request scenario checks of a Local.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from bench.cell.db.loop import _Request, measured_loop, request_end, request_failed, run_op
from bench.cell.db.state import Run, WorkerState, note_connection_id, record_error, sample_connection_id
from bench.cell.db.workload import (
    KV_ROWS,
    KV_TABLE,
    OP_CODES,
    OP_COSTS,
    PK_LOOKUP,
    SELECT_TOKEN,
    WRITE_TXN,
    WRITES_TABLE,
    judge,
    select_token,
)
from bench.cell.strategies import worker_handle

#: One operation of task ``i``: awaited with the op number, returns (t1, t2) to store or None.
AStep = Callable[[int], Awaitable["tuple[float, float] | None"]]


async def _one(conn: Any, sql: str, args: tuple[Any, ...] | None = None) -> Any:
    async with conn.cursor() as cur:
        await cur.execute(sql, args)
        return await cur.fetchone()


async def aselect_token(conn: Any, token: str) -> Any:
    """``SELECT %s`` of ``token`` over an async connection: the reply must be the token."""
    row = await _one(conn, "SELECT %s", (token,))
    return row[0] if row else None


async def _awrite_txn(conn: Any, token: str, n: int) -> Any:
    """Insert ``(token, n)`` in a transaction and read it back by ``LAST_INSERT_ID()``; rolled back on error."""
    try:
        await conn.begin()
        async with conn.cursor() as cur:
            await cur.execute(f"INSERT INTO {WRITES_TABLE} (token, n) VALUES (%s, %s)", (token, n))
            await cur.execute(f"SELECT token, n FROM {WRITES_TABLE} WHERE id = LAST_INSERT_ID()")
            row = await cur.fetchone()
        await conn.commit()
    except BaseException:
        try:
            await conn.rollback()
        except Exception:  # the connection is broken: the pool deals with it
            pass
        raise
    return tuple(row) if row else None


async def _adispatch(op: int, conn: Any, prefix: str, i: int, n: int) -> tuple[Any, Any]:
    """Run operation code ``op`` as task ``i``'s ``n``-th over an async connection; (expected reply, reply)."""
    if op == SELECT_TOKEN:
        expected: Any = prefix + str(n)
        return expected, await aselect_token(conn, expected)
    if op == PK_LOOKUP:
        key = (i * 7919 + n) % KV_ROWS + 1
        row = await _one(conn, f"SELECT v FROM {KV_TABLE} WHERE id = %s", (key,))
        return f"value-{key}", row[0] if row else None
    if op == WRITE_TXN:
        token = prefix + str(n)
        return (token, n), await _awrite_txn(conn, token, n)
    row = await _one(conn, "SELECT 1")
    return 1, row[0] if row else None


def _runner(run: Run) -> Callable[..., Awaitable[Any]]:
    """How an operation is awaited under this strategy: to_thread (blocking connections), bounded, or plain."""
    strategy = run.strategy
    timeout = getattr(strategy, "op_timeout", None)
    if getattr(strategy, "sync_ops", False):
        return asyncio.to_thread
    if timeout:
        async def bounded(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
            return await asyncio.wait_for(fn(*args), timeout)

        return bounded

    async def plain(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return await fn(*args)

    return plain


async def _errored(st: WorkerState, exc: BaseException, recover: Callable[[], None] | None) -> None:
    """Count ``exc`` as a blocking worker would, then let the other tasks run."""
    record_error(st, exc, recover)
    await asyncio.sleep(0)


def adb_step(run: Run, i: int, checkout: Callable[[], Any], recover: Callable[[], None] | None) -> AStep:
    """A ``db`` task's step: the next operation of the mix, its reply checked."""
    st = run.states[i]
    raw = run.raw
    counts = st.counts
    prefix = st.prefix
    nonce = run.nonce
    cycle = tuple(OP_CODES[name] for name in run.cycle)
    period = len(cycle)
    position = [i % period]
    clock = time.perf_counter if run.record else float
    sync = getattr(run.strategy, "sync_ops", False)
    call = _runner(run)
    op_fn = run_op if sync else _adispatch

    async def step(n: int) -> tuple[float, float] | None:
        k = position[0]
        op = cycle[k]
        position[0] = 0 if k + 1 == period else k + 1
        st.statements += OP_COSTS[op]
        try:
            async with checkout() as conn:
                t1 = clock()
                expected, reply = await call(op_fn, op, conn, prefix, i, n)
                st.see(conn, raw)
            t2 = clock()
        except Exception as exc:  # counted by class; the task carries on
            await _errored(st, exc, recover)
            return None
        if reply != expected:
            got = reply[0] if isinstance(reply, tuple) and reply else reply
            counts[judge(got, nonce, i)] += 1
            return None
        return t1, t2

    return step


def arequest_step(run: Run, i: int, checkout: Callable[[], Any], recover: Callable[[], None] | None) -> AStep:
    """A ``request`` task's step: push a context, handle it through the proxy (awaiting the query), pop."""
    st = run.states[i]
    raw = run.raw
    counts = st.counts
    push, pop = run.stack.push, run.stack.pop
    request = run.request
    prefix = st.prefix
    perf = time.perf_counter
    done = request_end(pop, counts, run.nonce, i)
    call = _runner(run)
    query = select_token if getattr(run.strategy, "sync_ops", False) else aselect_token

    async def step(n: int) -> tuple[float, float] | None:
        expected = prefix + str(n)
        ctx = _Request(expected, i, n)
        push(ctx)
        st.statements += 1
        violated = False
        try:
            async with checkout() as conn:
                t1 = perf()
                token = request.token  # what the handler believes its request is
                violated = token != expected
                reply = await call(query, conn, token)
                if request.token != expected:  # again after the await: other tasks ran meanwhile
                    violated = True
                st.see(conn, raw)
            t2 = perf()
        except Exception as exc:
            await _errored(st, exc, recover)
            return request_failed(pop, ctx, counts)
        return done(ctx, violated, reply, token, t1, t2)

    return step


async def _sample_id(run: Run, conn: Any, st: WorkerState) -> None:
    """Ask the server which connection this is (``SELECT CONNECTION_ID()``) and compare with the handshake's id."""
    if getattr(run.strategy, "sync_ops", False):
        await asyncio.to_thread(sample_connection_id, conn, st, run.raw)
        return
    note_connection_id(st, conn, await _one(conn, "SELECT CONNECTION_ID()"), run.raw)


async def aconnect_phase(run: Run, i: int, checkout: Callable[[], Any], recover: Callable[[], None] | None) -> None:
    """Untimed, as :func:`bench.cell.db.state.connect_phase`: check out once, sample the id, hold the connection
    until every task has one (unless checkouts exclude each other)."""
    st = run.states[i]
    t0 = time.perf_counter()
    if run.t_start is None:
        run.t_start = t0
    waited = False
    try:
        async with checkout() as conn:
            st.first_checkout = time.perf_counter() - t0
            try:
                await _sample_id(run, conn, st)
            except Exception as exc:  # e.g. a shared connection already in use: counted, the phase goes on
                record_error(st, exc, None)
            run.connected[i] = 1
            if not run.exclusive:
                waited = True
                await run.ready.await_all()
    except Exception as exc:
        await _errored(st, exc, recover)
    run.connected[i] = 1
    if not waited:
        await run.ready.await_all()
    if run.t_ready is None:
        run.t_ready = time.perf_counter()


async def adrive(run: Run, i: int, make_step: Callable[..., AStep]) -> None:
    """Task ``i``: connect phase, then ``make_step``'s operations until the shared stop rule says stop (through an
    idle gap, ``asyncio.sleep``)."""
    handle = worker_handle(run.strategy, i)
    recover = getattr(run.strategy, "recover", None)
    step = make_step(run, i, handle.checkout, recover)
    await aconnect_phase(run, i, handle.checkout, recover)
    run.go()  # the first task sets the start (several processes: blocks the loop until the parent's start)
    until = await _asteps(measured_loop(run, i), step)
    while until is not None:  # an idle gap: no operation, no checkout held, the loop free for the others
        await asyncio.sleep(max(0.0, until - time.perf_counter()))
        until = await _asteps(measured_loop(run, i), step)


async def _asteps(loop: Generator[int, tuple[float, float] | None, float | None], step: AStep) -> float | None:
    """Await ``step`` for every op number ``loop`` (:func:`measured_loop`) yields; what ``loop`` returned."""
    send = loop.send
    try:
        n = next(loop)
        while True:
            n = send(await step(n))
    except StopIteration as end:
        return end.value  # type: ignore[no-any-return]


def run_aworker(run: Run, i: int) -> Awaitable[None]:
    """One task of a ``db`` cell."""
    return adrive(run, i, adb_step)


def aserve(run: Run, i: int) -> Awaitable[None]:
    """One task of a ``request`` cell."""
    return adrive(run, i, arequest_step)
