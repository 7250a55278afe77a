"""What the workers of one ``db``/``request`` cell share, and what each leaves behind.

Everything a worker writes during the measured loop is allocated before the
start barrier: its stamp array (three ``perf_counter`` values per right reply,
sized from :data:`RATE_BOUND`, doubled on the rare overflow) and its counters.
The untimed connect phase (:func:`connect_phase`) has every worker check out
once, ask the server ``SELECT CONNECTION_ID()``, and -- unless checkouts
exclude each other -- hold the connection until every worker has one, so a
lazy pool opens all its connections before the clock starts.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.cell.db.start import SharedStart
from bench.cell.db.workload import classify, driver_class, error_code
from bench.cell.drivers import server_thread_id
from bench.cell.strategies import Strategy, unwrapper
from bench.server.procinfo import process_cpu_s

#: Resolution of a cell's timeline of right replies and errors (spec ``"timeline": true``; seconds).
TIMELINE_BUCKET = 0.01
#: Longest wait at the end of the connect phase before the timed phase starts anyway (seconds).
READY_TIMEOUT = 3.0
#: Upper bound on operations per second one Python process reaches (sizes the preallocated stamps).
RATE_BOUND = 40_000.0
#: Bytes of one latency stamp: t0, t1, t2 as doubles.
STAMP_BYTES = 3 * 8


def stamp_capacity(span: float, concurrency: int, ops_per_worker: int | None = None, warmup: float = 0.0) -> int:
    """Operations one worker's stamp array holds before it must grow.

    Duration mode (``ops_per_worker`` None): 4x the fair share of :data:`RATE_BOUND` over ``span`` seconds
    (threads are not scheduled fairly; the rare overflow grows the array).  Ops mode: the quota plus the
    warm-up's share.
    """
    if ops_per_worker is not None:
        return ops_per_worker + int(warmup * RATE_BOUND * 4 / concurrency) + 64
    return int(span * RATE_BOUND * 4 / concurrency) + 64


class WorkerState:
    """What one worker leaves behind; allocated before the barrier."""

    __slots__ = ("buf", "classes", "codes", "counts", "err_buckets", "errors", "first_checkout", "first_error",
                 "growths", "id_checks", "id_errors", "id_mismatches", "ids", "last_conn", "last_error", "n", "prefix",
                 "samples", "statements", "stored")

    def __init__(self, prefix: str, capacity: int) -> None:
        self.prefix = prefix
        self.buf = array("d", bytes(STAMP_BYTES * capacity))  # t0, t1, t2 per successful op, zero-filled up front
        self.stored = 0  # doubles used in buf
        self.growths = 0
        self.counts = array("q", bytes(8 * 5))  # ok (unused), foreign, stale, other, local violations
        self.errors: dict[str, int] = {}
        self.samples: dict[str, str] = {}  # first message per error label
        self.codes: dict[str, int] = {}  # "<label>:<error number>" -> count, where the error carries a number
        self.classes: dict[str, str] = {}  # count key -> the class that raised it first (module-qualified)
        self.ids: set[int] = set()
        self.id_checks = 0
        self.id_mismatches = 0
        #: Times the connection's id could not be read (no thread_id(), a closed proxy, CONNECTION_ID() failing).
        self.id_errors = 0
        self.last_conn: Any = None  # the connection object seen last: its id is already recorded
        self.first_checkout: float | None = None
        # When errors happened (perf_counter, which is CLOCK_MONOTONIC on Linux: comparable with the
        # parent's time.monotonic()), for the fault scenarios' time to first error and recovery.
        self.first_error: float | None = None
        self.last_error: float | None = None
        self.err_buckets: dict[int, int] = {}  # int(t / TIMELINE_BUCKET) -> errors
        self.statements = 0
        self.n = 0

    def grow(self) -> None:
        """Double the stamp array (rare: only when a worker far outran its share)."""
        self.buf.extend(array("d", bytes(8 * len(self.buf) or 8 * 3 * 1024)))
        self.growths += 1

    def see(self, conn: Any, raw: Callable[[Any], Any]) -> None:
        """Record the server id of ``conn`` from its handshake (no round trip) unless it was the last one seen."""
        if conn is self.last_conn:  # a pool hands out a new proxy per checkout; a kept connection is read once
            return
        self.last_conn = conn
        try:
            self.ids.add(server_thread_id(raw(conn)))
        except Exception:  # no thread_id() on a user strategy's connection, or a closed proxy: counted
            self.id_errors += 1


class ReadyBarrier:
    """One-shot barrier ending the connect phase; on timeout it breaks and lets everyone through.

    Tasks of the asyncio load call :meth:`await_all` instead of :meth:`wait`.

    Greenlets (either gevent load) wait on a gevent Event, which needs no patched
    threading; OS threads use ``threading.Barrier`` -- chosen by the load, not by
    whether gevent is imported (a subject such as ``gevent-local`` imports it
    into a threads process, where a gevent Event must not be shared by threads).
    """

    def __init__(self, parties: int, timeout: float, greenlets: bool) -> None:
        self.parties = parties
        self.timeout = timeout
        self.timeouts = 0
        self._count = 0
        self._event: Any = None
        self._barrier: Any = None
        self._aevent: Any = None  # tasks of the asyncio load: an asyncio.Event, made on the loop
        if greenlets:
            from gevent.event import Event

            self._event = Event()
        else:
            import threading

            self._barrier = threading.Barrier(parties)

    def wait(self) -> None:
        """Wait for every party (or the timeout, counted in ``timeouts``)."""
        if self._barrier is not None:
            import threading

            try:
                self._barrier.wait(self.timeout)
            except threading.BrokenBarrierError:
                self.timeouts += 1
            return
        self._count += 1
        if self._count >= self.parties:
            self._event.set()
        elif not self._event.wait(self.timeout):
            self.timeouts += 1
            self._event.set()  # broken: nobody else waits either

    async def await_all(self) -> None:
        """Wait for every party on the running event loop (tasks of the asyncio load), or the timeout."""
        import asyncio

        if self._aevent is None:
            self._aevent = asyncio.Event()
        self._count += 1
        if self._count >= self.parties:
            self._aevent.set()
            return
        try:
            await asyncio.wait_for(self._aevent.wait(), self.timeout)
        except TimeoutError:
            self.timeouts += 1
            self._aevent.set()  # broken: nobody else waits either


@dataclass(frozen=True)
class RunSettings:
    """What the workers of one cell are told: how many, for how long, what they run, how they start."""

    concurrency: int
    #: Seconds before the measured window starts.
    warmup: float
    #: Seconds of the measured window; None: the workers run ``ops`` operations in all instead.
    duration: float | None
    ops: int | None
    #: The operations each worker cycles through (:func:`bench.cell.db.workload.mix_cycle`).
    cycle: tuple[str, ...]
    #: This cell's part of every token: tells its replies from any other cell's.
    nonce: str
    #: Keep the latency stamps of the right replies (False: counts only).
    record: bool = True
    #: ``db``, or ``request`` (a request context on a LocalStack built on ``impl_factory``'s Local).
    scenario: str = "db"
    impl_factory: Callable[[], Any] | None = None
    #: The workers are greenlets (either gevent load): the ready barrier waits on a gevent Event.
    greenlets: bool = False
    #: One of several processes: the start comes from the parent (None: this process starts alone).
    shared_start: SharedStart | None = None
    #: The server's process on this machine, whose CPU is read at the start and the end (None: not read).
    server_pid: int | None = None
    #: ``(start_s, length_s)`` offsets from the window's start during which no worker runs an operation (checked:
    #: :func:`bench.plan.specs.check_idle_gaps`); None: none given (the record then says nothing of them).
    idle_gaps: tuple[tuple[float, float], ...] | None = None


class Run:
    """Everything the workers of one cell share: the strategy, the settings, what each worker leaves behind."""

    def __init__(self, strategy: Strategy, settings: RunSettings) -> None:
        concurrency, warmup, duration, ops = settings.concurrency, settings.warmup, settings.duration, settings.ops
        self.strategy = strategy
        self.raw = unwrapper(strategy)
        self.concurrency = concurrency
        self.warmup = warmup
        self.duration = duration
        self.ops_per_worker: int | None = None if ops is None else max(1, -(-ops // concurrency))
        self.cycle = settings.cycle
        self.nonce = settings.nonce
        self.record = record = settings.record
        self.scenario = scenario = settings.scenario
        self.progress = array("q", bytes(8 * concurrency))  # ops per worker, read by the watchdog
        self.connected = array("b", bytes(concurrency))  # connect phase done, per worker
        self.finished = array("b", bytes(concurrency))
        self.exclusive = bool(getattr(strategy, "exclusive_checkout", False))
        self.ready = ReadyBarrier(concurrency, READY_TIMEOUT, settings.greenlets)
        self.t_start: float | None = None
        self.t_ready: float | None = None
        self.cpu_go: float | None = None
        self.shared_start = settings.shared_start
        self.server_pid = settings.server_pid
        self.server_cpu_go: float | None = None
        capacity = stamp_capacity(warmup + (duration or 0.0), concurrency, self.ops_per_worker, warmup)
        self.states = [WorkerState(f"{self.nonce}.{i}.", capacity if record else 0) for i in range(concurrency)]
        self.t_go: float | None = None
        self.window = (0.0, 0.0)
        self.idle_gaps = settings.idle_gaps
        #: The idle gaps as absolute ``(start, end)`` perf_counter times, sorted (set with the window).
        self.gaps: tuple[tuple[float, float], ...] = ()
        self.phase = "workers"
        if scenario == "request":
            from localimpls.stack import LocalProxy, LocalStack

            self.stack: Any = LocalStack(settings.impl_factory)
            stack = self.stack
            self.request: Any = LocalProxy(lambda: stack.top)

    def go(self) -> float:
        """The common start of the timed phase (the first worker past the ready barrier sets it).

        One of several processes waits here for the start the parent gives every process (phase ``start``,
        which the watchdog does not count as a hang: the parent bounds that wait).
        """
        if self.t_go is None:
            if self.shared_start is None:
                self._set_go(time.perf_counter())
            else:
                self.phase = "start"
                start = self.shared_start.wait()
                self.phase = "workers"
                if self.t_go is None:
                    self._set_go(start)
        assert self.t_go is not None
        return self.t_go

    def _set_go(self, t_go: float) -> None:
        self.cpu_go = time.process_time()  # the process's CPU (all threads) from here to the end
        self.server_cpu_go = process_cpu_s(self.server_pid)
        start = t_go + self.warmup
        self.window = (start, start + self.duration) if self.duration is not None else (start, float("inf"))
        self.gaps = tuple((start + offset, start + offset + length) for offset, length in self.idle_gaps or ())
        self.t_go = t_go

    def idle_at(self, t: float) -> bool:
        """Whether ``t`` (a perf_counter time) falls inside one of the idle gaps."""
        return any(start <= t < end for start, end in self.gaps)

    def active_s(self) -> float:
        """Seconds of the measured window outside the idle gaps."""
        return (self.window[1] - self.window[0]) - sum(end - start for start, end in self.gaps)


def record_error(st: WorkerState, exc: BaseException, recover: Callable[[], None] | None) -> None:
    """Count ``exc`` under its label (and error number), stamp when it happened, let ``recover`` run, yield."""
    now = time.perf_counter()
    if st.first_error is None:
        st.first_error = now
    st.last_error = now
    bucket = int(now / TIMELINE_BUCKET)
    st.err_buckets[bucket] = st.err_buckets.get(bucket, 0) + 1
    label = classify(exc)
    st.errors[label] = st.errors.get(label, 0) + 1
    code = error_code(exc)
    key = label
    if code is not None:  # 2013 lost mid-query, 2003 cannot connect, 2006 gone away, 0 used after close...
        key = label if label.endswith(f":{code}") else f"{label}:{code}"
        st.codes[key] = st.codes.get(key, 0) + 1
    if key not in st.classes:
        st.classes[key] = driver_class(exc)
    if label not in st.samples:
        st.samples[label] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300] if str(exc) else type(exc).__name__
    st.last_conn = None  # recover() may reconnect the same object
    if recover is not None:
        recover()
    # Let the others run, as a server's next request would: without this, a greenlet whose every
    # operation fails at once (no I/O) spins until its deadline and starves the rest.
    time.sleep(0)


def sample_connection_id(conn: Any, st: WorkerState, raw: Callable[[Any], Any]) -> None:
    """Ask the server which connection this is and compare with the handshake's id."""
    cur = conn.cursor()
    try:
        cur.execute("SELECT CONNECTION_ID()")
        row = cur.fetchone()
    finally:
        cur.close()
    note_connection_id(st, conn, row, raw)


def note_connection_id(st: WorkerState, conn: Any, row: Any, raw: Callable[[Any], Any]) -> None:
    """Count the server's answer ``row`` to ``SELECT CONNECTION_ID()`` on ``conn`` against the handshake's id."""
    st.statements += 1
    st.id_checks += 1
    server_id = int(row[0]) if row else None
    if server_id is not None:
        st.ids.add(server_id)
    try:
        handshake_id = server_thread_id(raw(conn))
    except Exception:  # no thread_id() on a user strategy's connection: counted, the sample stands alone
        st.id_errors += 1
        return
    if handshake_id != server_id:
        st.id_mismatches += 1


def connect_phase(run: Run, i: int, checkout: Callable[[], Any], recover: Callable[[], None] | None) -> None:
    """Untimed: check out once and sample the connection's id; hold it until every worker has one.

    Unless checkouts exclude each other (one locked connection), the connection
    is held at the ready barrier, so a lazy pool opens all its connections
    before the clock starts.
    """
    st = run.states[i]
    t0 = time.perf_counter()
    if run.t_start is None:
        run.t_start = t0
    waited = False
    try:
        with checkout() as conn:
            st.first_checkout = time.perf_counter() - t0
            try:
                sample_connection_id(conn, st, run.raw)
            except Exception as exc:  # e.g. a shared connection already in use: counted, the phase goes on
                record_error(st, exc, None)
            run.connected[i] = 1
            if not run.exclusive:
                waited = True
                run.ready.wait()
    except Exception as exc:
        record_error(st, exc, recover)
    run.connected[i] = 1
    if not waited:
        run.ready.wait()
    if run.t_ready is None:
        run.t_ready = time.perf_counter()
