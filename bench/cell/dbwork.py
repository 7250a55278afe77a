"""The database workload, its correctness oracle and its measurement -- the cell side.

What is promised
    A ``db`` cell runs ``concurrency`` workers of one load (threads, gevent)
    against a real MySQL-protocol server through one connection strategy, and
    returns one record saying whether every reply was the worker's own and how
    fast the replies came.  A ``request`` cell does the same the way a web
    framework does it: a request context pushed onto a ``LocalStack`` built on
    a Local implementation, read back through a ``LocalProxy``, so both kinds
    of leak -- the Local's and the connection's -- are counted side by side.

How replies are judged (the oracle)
    Every worker has a unique token (``<nonce>.<worker>.``) and every
    operation a unique per-op token (token + op number).  ``select_token``
    asks the server to echo it (``SELECT %s``), ``pk_lookup`` reads a seeded
    row whose value is known, ``write_txn`` inserts a row carrying the token
    in a transaction and reads it back by ``LAST_INSERT_ID()``.  Any reply
    that is not the expected one is a *wrong result*, counted apart from
    errors, and split into ``foreign`` (provably another worker's),
    ``stale`` (this worker's, but an earlier operation's) and ``other``.
    Errors are counted by class, with the labels the strategies' failure modes
    need (``RuntimeError:reentrant``, ``server:1040``, ``timeout``,
    ``pool:TooManyConnections``, ``pool:TimeoutError``).

How time is measured
    Workers start together at the load's barrier.  In an untimed connect
    phase each checks out once, asks the server ``SELECT CONNECTION_ID()``
    and holds the connection until every worker has one (a ready barrier;
    strategies whose checkouts exclude each other, ``locked``, give theirs
    back first), so a lazy pool has opened all its connections before the
    clock starts -- connecting 64 PyMySQL connections takes over a second of
    CPU.  Then a warm-up (excluded) and the measured window.

    Each successful operation stores three ``perf_counter`` stamps -- before
    checkout, connection in hand, done and given back -- into an
    ``array('d')`` preallocated per worker before the barrier, so the
    measured loop allocates nothing of its own beyond the per-op token and
    what the driver does.  Latency is done - before checkout (what a request
    sees), pool wait is in hand - before checkout, both summarised over
    operations that finished inside the window with the right reply (a wrong
    reply is counted, not timed: ``ops`` and ``ops_per_s`` count right replies).  Building the strategy, each
    worker's first checkout (which opens its connection) and the whole
    connect phase are reported apart as ``connect_ms``.  After an error a
    worker yields (``time.sleep(0)``) before its next operation, as a server
    would between requests: otherwise a greenlet whose operations fail
    without I/O spins and starves the rest.

    The server's own counters (``SHOW GLOBAL STATUS``, from a separate admin
    connection) are read before and after, and the statements the workload
    issued are reconciled with the statements the server executed: a surplus
    on the server side is what a strategy adds behind the application's back
    (``ROLLBACK`` on return, ``SET AUTOCOMMIT`` per connection; pings show in
    ``Com_admin_commands``).  The counters are server-wide: anyone else's
    traffic during the cell shows up too.

Hangs
    A pool can block forever.  A watchdog on a *real* OS thread (gevent's
    original ``start_new_thread`` and ``sleep`` when gevent is loaded, so it
    still runs when a real lock has blocked the hub under
    ``gevent-nothread``) watches the workers' progress; after ``hang_after``
    seconds without any, it writes the record with outcome ``hung`` to the
    cell's output file and ends the process with ``os._exit``.  The parent's
    time limit is the last resort.

Faults
    Every error is also stamped (first, last, and a count per 10 ms), and a
    spec with ``"timeline": true`` gets the record's ``timeline``: right replies
    and errors per 10 ms of the monotonic clock, which the parent shares (see
    :mod:`bench.faults.scenarios`, which kills and restarts the server mid-cell).  The
    counter reads after the workers end may fail -- the server is gone, or at
    ``max_connections`` (then they fall back to the admin connection already
    open) -- and so may ``close()``: the record notes it under
    ``teardown_problems`` instead of the cell crashing.

The password travels in the spec only; records carry the redacted URL, and
every string in a record is scrubbed of the password before it leaves.
"""

from __future__ import annotations

import json
import os
import sys
import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.server.mysql import ServerTarget
from bench.cell.strategies import build_strategy, connection_id, settings_of, unwrapper, worker_handle

KV_TABLE = "ctxbench_kv"
WRITES_TABLE = "ctxbench_writes"
KV_ROWS = 1000


@dataclass(frozen=True)
class Operation:
    """One kind of operation in the mix."""

    name: str
    description: str
    #: Statements the client sends for one operation (for reconciliation with the server).
    statements: int


#: The operations a mix may contain, declared as data.
OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("select_token", "SELECT %s of a per-op token, reply must equal it (the anchor's workload)", 1),
        Operation("pk_lookup", f"SELECT v FROM {KV_TABLE} WHERE id=%s, reply must be the seeded value", 1),
        Operation("write_txn", f"BEGIN; INSERT token INTO {WRITES_TABLE}; SELECT it by LAST_INSERT_ID(); COMMIT", 4),
        Operation("select_1", "SELECT 1 (harness-overhead measurement)", 1),
    )
}
# The measured loop dispatches on each operation's position in OPERATIONS.
assert tuple(OPERATIONS) == ("select_token", "pk_lookup", "write_txn", "select_1"), "update _worker's dispatch"
#: Operation name -> the small int the measured loop dispatches on, and statements per op by that int.
_OP_CODES: dict[str, int] = {name: code for code, name in enumerate(OPERATIONS)}
_OP_COSTS: tuple[int, ...] = tuple(op.statements for op in OPERATIONS.values())
#: The default mix: the anchor's ``SELECT %s`` mostly, with a primary-key read and a write
#: transaction in every 50 operations so the oracle covers tables and transactions too.
DEFAULT_MIX: dict[str, int] = {"select_token": 48, "pk_lookup": 1, "write_txn": 1}
#: Exactly the anchor's workload, for comparisons with ANCHORS.md.
ANCHOR_MIX: dict[str, int] = {"select_token": 1}

DEFAULT_WARMUP = 0.5
DEFAULT_HANG_AFTER = 5.0
#: Resolution of a cell's timeline of right replies and errors (spec ``"timeline": true``; seconds).
TIMELINE_BUCKET = 0.01
#: Longest wait at the end of the connect phase before the timed phase starts anyway (seconds).
READY_TIMEOUT = 3.0
#: Upper bound on operations per second one Python process reaches (sizes the preallocated stamps).
_RATE_BOUND = 40_000.0

# Verdicts of one operation; also indexes into a worker's counter array.
_OK, _FOREIGN, _STALE, _OTHER, _LOCAL = 0, 1, 2, 3, 4
_VERDICT_NAMES = ("ok", "foreign", "stale", "other")


def check_mix(mix: Mapping[str, int]) -> dict[str, int]:
    """A validated mix (operation -> positive whole weight); ValueError naming the problem."""
    if not mix:
        raise ValueError("the mix is empty")
    out: dict[str, int] = {}
    for name, weight in mix.items():
        if name not in OPERATIONS:
            raise ValueError(f"unknown operation {name!r} in the mix (known: {', '.join(OPERATIONS)})")
        if not isinstance(weight, int) or isinstance(weight, bool) or weight <= 0 or weight > 10_000:
            raise ValueError(f"operation {name!r}: weight must be a whole number 1..10000, got {weight!r}")
        out[name] = weight
    return out


def parse_mix(text: str) -> dict[str, int]:
    """``select_token:48,pk_lookup:1`` -> mapping; a bare name weighs 1."""
    mix: dict[str, int] = {}
    for part in text.split(","):
        name, _, weight = part.strip().partition(":")
        if not name:
            continue
        try:
            mix[name] = int(weight) if weight else 1
        except ValueError:
            raise ValueError(f"mix entry {part.strip()!r}: weight is not a whole number") from None
    return check_mix(mix)


def mix_cycle(mix: Mapping[str, int]) -> tuple[str, ...]:
    """The mix as a repeating sequence, each operation spread evenly over the cycle."""
    slots = [((k + 0.5) / weight, name) for name, weight in mix.items() for k in range(weight)]
    return tuple(name for _, name in sorted(slots))


# --- error labels


def classify(exc: BaseException) -> str:
    """The label an error is counted under."""
    cls = type(exc)
    name, module = cls.__name__, cls.__module__ or ""
    if name == "ConcurrentObjectUseError":
        return name
    if isinstance(exc, RuntimeError) and "reentrant" in str(exc):
        return "RuntimeError:reentrant"
    if module.startswith("pymysql"):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code == 1040:
            return "server:1040"
        if "timed out" in str(exc):
            return "timeout"
        return name
    if module.startswith("dbutils") and name == "TooManyConnectionsError":
        return "pool:TooManyConnections"
    if module.startswith("sqlalchemy") and name == "TimeoutError":
        return "pool:TimeoutError"
    if isinstance(exc, TimeoutError) or name == "Timeout":  # socket.timeout is TimeoutError; gevent.Timeout
        return "timeout"
    # Built-in classes by name (IndexError...); others qualified: "error" alone would say nothing.
    return name if module == "builtins" else f"{module}.{name}"


# --- the target


@dataclass(frozen=True)
class Target(ServerTarget):
    """A server target as a cell spec carries it, plus extra connect options."""

    source: str = "spec"
    #: Extra ``pymysql.connect`` keywords for every connection (e.g. ``ssl_disabled``); recorded.
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Target:
        return cls(str(spec["host"]), int(spec["port"]), str(spec["user"]), str(spec.get("password") or ""),
                   str(spec["database"]), str(spec.get("source") or "spec"), dict(spec.get("connect_options") or {}))

    def connect_kwargs(self) -> dict[str, Any]:
        # connect_timeout: a server that accepts but never answers must not stall a cell.
        return {**super().connect_kwargs(), "connect_timeout": 5, **self.options}

    def server_target(self) -> ServerTarget:
        return ServerTarget(self.host, self.port, self.user, self.password, self.database, self.source)


def target_spec(target: Any) -> dict[str, Any]:
    """The connection fields of a ``ServerTarget`` for a cell spec (the only place the password goes)."""
    return {"host": target.host, "port": target.port, "user": target.user, "password": target.password,
            "database": target.database, "source": target.source}


def scrub(obj: Any, secret: str) -> Any:
    """``obj`` with every occurrence of ``secret`` in its strings replaced by ``***``."""
    if not secret:
        return obj
    if isinstance(obj, str):
        return obj.replace(secret, "***")
    if isinstance(obj, dict):
        return {scrub(k, secret): scrub(v, secret) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub(v, secret) for v in obj]
    return obj


# --- server side: schema and counters

#: Counters read before and after a cell.
COUNTERS = ("Questions", "Com_select", "Com_insert", "Com_begin", "Com_commit", "Com_rollback", "Com_set_option",
            "Com_admin_commands", "Connections", "Threads_connected", "Max_used_connections", "Aborted_clients")
_LEVELS = ("Threads_connected", "Max_used_connections")  # reported as values, not deltas


def ensure_schema(conn: Any) -> None:
    """Create and seed the tables if needed; idempotent, safe to run from several cells."""
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {KV_TABLE} (id INT PRIMARY KEY, v VARCHAR(64) NOT NULL) ENGINE=InnoDB")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {WRITES_TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                    "token VARCHAR(64) NOT NULL, n INT NOT NULL, KEY (token)) ENGINE=InnoDB")
        cur.execute(f"SELECT COUNT(*), COALESCE(SUM(v = CONCAT('value-', id)), 0) FROM {KV_TABLE} WHERE id BETWEEN 1 AND %s",
                    (KV_ROWS,))
        count, good = cur.fetchone()
        if int(count) != KV_ROWS or int(good) != KV_ROWS:
            cur.executemany(f"INSERT INTO {KV_TABLE} (id, v) VALUES (%s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v)",
                            [(k, f"value-{k}") for k in range(1, KV_ROWS + 1)])
    conn.commit()


class CounterReader:
    """Reads :data:`COUNTERS`: ``bench.server.mysql.server_counters`` when it exists, the rest over an admin connection.

    ``server_counters`` covers the shared set (Questions, Com_select, threads,
    connections); the reconciliation also wants ``Com_rollback`` (reset on
    return), ``Com_admin_commands`` (pings), ``Com_begin`` and ``Com_set_option``,
    which are read here over one admin connection kept for the cell.
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self._conn: Any = None
        try:
            from bench.server import mysql

            self._shared: Callable[[Any], Mapping[str, Any]] | None = getattr(mysql, "server_counters", None)
        except ImportError:
            self._shared = None
        self.source = "bench.server.mysql.server_counters + admin connection" if self._shared else "admin connection"

    def _admin(self, names: list[str]) -> dict[str, Any]:
        import pymysql

        for attempt in (1, 2):
            if self._conn is None:
                self._conn = pymysql.connect(**self.target.connect_kwargs(), autocommit=True, read_timeout=10, write_timeout=10)
            try:
                with self._conn.cursor() as cur:
                    cur.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({', '.join(['%s'] * len(names))})", names)
                    return {str(name).lower(): value for name, value in cur.fetchall()}
            except pymysql.err.MySQLError:
                # The server went away and came back (a fault run restarts it): one fresh connection.
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def read(self) -> dict[str, int]:
        raw: dict[str, Any] = {}
        if self._shared:
            import pymysql

            try:
                raw = {str(k).lower(): v for k, v in self._shared(self.target.server_target()).items()}
            except pymysql.err.MySQLError:
                # No new connection to be had (the server is at max_connections: error 1040):
                # everything over the admin connection, which is already open.
                raw = {}
        missing = [name for name in COUNTERS if name.lower() not in raw]
        if missing:
            raw.update(self._admin(missing))
        out = {}
        for name in COUNTERS:
            try:
                out[name] = int(raw[name.lower()])
            except (KeyError, TypeError, ValueError):
                continue
        return out

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # the admin connection is ours; a failed close loses nothing
                pass
            self._conn = None


def counter_deltas(before: Mapping[str, int], after: Mapping[str, int], self_cost: Mapping[str, int]) -> dict[str, int]:
    """after - before for every counter, less what reading the counters itself cost."""
    return {name: after[name] - before[name] - self_cost.get(name, 0)
            for name in before if name in after and name not in _LEVELS}


# --- one run of workers


class _WorkerState:
    """What one worker leaves behind; allocated before the barrier."""

    __slots__ = ("buf", "codes", "counts", "err_buckets", "errors", "first_checkout", "first_error", "ids", "id_checks", "id_mismatches",
                 "last_error", "n", "samples", "statements", "stored", "growths", "prefix")

    def __init__(self, prefix: str, capacity: int) -> None:
        self.prefix = prefix
        self.buf = array("d", bytes(8 * 3 * capacity))  # t0, t1, t2 per successful op, zero-filled up front
        self.stored = 0  # doubles used in buf
        self.growths = 0
        self.counts = array("q", bytes(8 * 5))  # ok (unused), foreign, stale, other, local violations
        self.errors: dict[str, int] = {}
        self.samples: dict[str, str] = {}  # first message per error label
        self.codes: dict[str, int] = {}  # "<label>:<error number>" -> count, where the error carries a number
        self.ids: set[int] = set()
        self.id_checks = 0
        self.id_mismatches = 0
        self.first_checkout: float | None = None
        # When errors happened (perf_counter, which is CLOCK_MONOTONIC on Linux: comparable with the
        # parent's time.monotonic()), for the fault scenarios' time to first error and recovery.
        self.first_error: float | None = None
        self.last_error: float | None = None
        self.err_buckets: dict[int, int] = {}  # int(t / TIMELINE_BUCKET) -> errors
        self.statements = 0
        self.n = 0


def stamp_capacity(span: float, concurrency: int) -> int:
    """Latency stamps preallocated per worker for ``span`` seconds of a cell (each stamp ``STAMP_BYTES``).

    4x the fair share: threads are not scheduled fairly; the rare overflow grows the array.
    """
    return int(span * _RATE_BOUND * 4 / concurrency) + 64


#: Bytes of one latency stamp: t0, t1, t2 as doubles.
STAMP_BYTES = 3 * 8


class _Run:
    """Everything the workers of one cell share."""

    def __init__(self, *, strategy: Any, concurrency: int, warmup: float, duration: float | None, ops: int | None,
                 cycle: tuple[str, ...], nonce: str, record: bool, scenario: str, impl_factory: Any = None,
                 greenlets: bool = False) -> None:
        self.strategy = strategy
        self.raw = unwrapper(strategy)
        self.concurrency = concurrency
        self.warmup = warmup
        self.duration = duration
        self.ops_per_worker: int | None = None if ops is None else max(1, -(-ops // concurrency))
        self.cycle = cycle
        self.nonce = nonce
        self.record = record
        self.scenario = scenario
        self.progress = array("q", bytes(8 * concurrency))  # ops per worker, read by the watchdog
        self.connected = array("b", bytes(concurrency))  # connect phase done, per worker
        self.finished = array("b", bytes(concurrency))
        self.exclusive = bool(getattr(strategy, "exclusive_checkout", False))
        self.ready = _ReadyBarrier(concurrency, READY_TIMEOUT, greenlets)
        self.t_start: float | None = None
        self.t_ready: float | None = None
        self.cpu_go: float | None = None
        if self.ops_per_worker is not None:
            capacity = self.ops_per_worker + stamp_capacity(warmup, concurrency)
        else:
            capacity = stamp_capacity(warmup + (duration or 0.0), concurrency)
        self.states = [_WorkerState(f"{nonce}.{i}.", capacity if record else 0) for i in range(concurrency)]
        self.t_go: float | None = None
        self.window = (0.0, 0.0)
        self.phase = "workers"
        if scenario == "request":
            from localimpls.stack import LocalProxy, LocalStack

            self.stack: Any = LocalStack(impl_factory)
            stack = self.stack
            self.request: Any = LocalProxy(lambda: stack.top)

    def go(self) -> float:
        """The common start of the timed phase (the first worker past the ready barrier sets it)."""
        if self.t_go is None:
            self.cpu_go = time.process_time()  # the process's CPU (all threads) from here to the end
            self.t_go = time.perf_counter()
            start = self.t_go + self.warmup
            self.window = (start, start + self.duration) if self.duration is not None else (start, float("inf"))
        return self.t_go


class _ReadyBarrier:
    """One-shot barrier ending the connect phase; on timeout it breaks and lets everyone through.

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
        if greenlets:
            from gevent.event import Event

            self._event: Any = Event()
            self._barrier: Any = None
        else:
            import threading

            self._event = None
            self._barrier = threading.Barrier(parties)

    def wait(self) -> None:
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


def _judge(reply: Any, expected: Any, nonce: str, worker: int) -> int:
    """Why ``reply`` is not ``expected`` (called only on a mismatch)."""
    if isinstance(reply, str) and reply.startswith(nonce + "."):
        parts = reply.split(".")
        if len(parts) >= 3 and parts[1] != str(worker):
            return _FOREIGN
        return _STALE
    return _OTHER


def _op_select_token(conn: Any, token: str) -> Any:
    cur = conn.cursor()
    try:
        cur.execute("SELECT %s", (token,))
        row = cur.fetchone()
    finally:
        cur.close()
    return row[0] if row else None


def _op_pk_lookup(conn: Any, key: int) -> Any:
    cur = conn.cursor()
    try:
        cur.execute(f"SELECT v FROM {KV_TABLE} WHERE id = %s", (key,))
        row = cur.fetchone()
    finally:
        cur.close()
    return row[0] if row else None


def _op_write_txn(conn: Any, token: str, n: int) -> Any:
    conn.begin()
    cur = conn.cursor()
    try:
        cur.execute(f"INSERT INTO {WRITES_TABLE} (token, n) VALUES (%s, %s)", (token, n))
        cur.execute(f"SELECT token, n FROM {WRITES_TABLE} WHERE id = LAST_INSERT_ID()")
        row = cur.fetchone()
    finally:
        cur.close()
    conn.commit()
    return tuple(row) if row else None


def _op_select_1(conn: Any) -> Any:
    cur = conn.cursor()
    try:
        cur.execute("SELECT 1")
        row = cur.fetchone()
    finally:
        cur.close()
    return row[0] if row else None


def _sample_connection_id(conn: Any, st: _WorkerState, raw: Callable[[Any], Any]) -> None:
    """Ask the server which connection this is and compare with the handshake's id."""
    cur = conn.cursor()
    try:
        cur.execute("SELECT CONNECTION_ID()")
        row = cur.fetchone()
    finally:
        cur.close()
    st.statements += 1
    st.id_checks += 1
    server_id = int(row[0]) if row else None
    if server_id is not None:
        st.ids.add(server_id)
    try:
        if int(raw(conn).thread_id()) != server_id:
            st.id_mismatches += 1
    except Exception:  # no thread_id() on a user strategy's connection: the sample stands alone
        pass


def _error(st: _WorkerState, exc: BaseException, recover: Callable[[], None] | None) -> None:
    now = time.perf_counter()
    if st.first_error is None:
        st.first_error = now
    st.last_error = now
    key = int(now / TIMELINE_BUCKET)
    st.err_buckets[key] = st.err_buckets.get(key, 0) + 1
    label = classify(exc)
    st.errors[label] = st.errors.get(label, 0) + 1
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    if code is not None:  # 2013 lost mid-query, 2003 cannot connect, 2006 gone away, 0 used after close...
        key = label if label.endswith(f":{code}") else f"{label}:{code}"
        st.codes[key] = st.codes.get(key, 0) + 1
    if label not in st.samples:
        st.samples[label] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300] if str(exc) else type(exc).__name__
    if recover is not None:
        recover()
    # Let the others run, as a server's next request would: without this, a greenlet whose every
    # operation fails at once (no I/O) spins until its deadline and starves the rest.
    time.sleep(0)


def _connect_phase(run: _Run, i: int, checkout: Callable[[], Any], recover: Callable[[], None] | None) -> None:
    """Untimed: check out once, ask the server for the connection's id, and -- unless checkouts
    exclude each other (one locked connection) -- hold the connection until every worker has one,
    so that a lazy pool opens all its connections before the clock starts."""
    st = run.states[i]
    t0 = time.perf_counter()
    if run.t_start is None:
        run.t_start = t0
    waited = False
    try:
        with checkout() as conn:
            st.first_checkout = time.perf_counter() - t0
            try:
                _sample_connection_id(conn, st, run.raw)
            except Exception as exc:  # e.g. a shared connection already in use: counted, the phase goes on
                _error(st, exc, None)
            run.connected[i] = 1
            if not run.exclusive:
                waited = True
                run.ready.wait()
    except Exception as exc:
        _error(st, exc, recover)
    run.connected[i] = 1
    if not waited:
        run.ready.wait()
    if run.t_ready is None:
        run.t_ready = time.perf_counter()


def _grow(st: _WorkerState) -> None:
    """Double a worker's stamp array (rare: only when a worker far outran its share)."""
    st.buf.extend(array("d", bytes(8 * len(st.buf) or 8 * 3 * 1024)))
    st.growths += 1


def _worker(run: _Run, i: int) -> None:
    """One worker of a ``db`` cell: cycle through the mix, check every reply, stamp every op."""
    st = run.states[i]
    handle = worker_handle(run.strategy, i)
    checkout = handle.checkout
    recover = getattr(run.strategy, "recover", None)
    raw = run.raw
    ids_add = st.ids.add
    counts = st.counts
    progress = run.progress
    record = run.record
    # Without recording, t1/t2 come from float() (a C call returning 0.0, cheaper than the
    # clock): the loop is otherwise identical, so the two variants differ by the recording only.
    stamp = time.perf_counter if record else float
    buf = st.buf
    cap = len(buf)
    j = 0
    cycle = tuple(_OP_CODES[name] for name in run.cycle)  # small ints: cheapest dispatch below
    period = len(cycle)
    k = i % period  # workers start at different places in the cycle: writes do not line up
    costs = _OP_COSTS
    prefix = st.prefix
    nonce = run.nonce
    perf = time.perf_counter
    _connect_phase(run, i, checkout, recover)
    run.go()
    quota = run.ops_per_worker
    # Duration mode: stop at the window's end.  Ops mode: at the window's start, switch to
    # counting ``quota`` operations -- one comparison per op either way.
    stop = run.window[1] if quota is None else run.window[0]
    n_stop = sys.maxsize
    statements = 0
    n = 0
    last: Any = None  # the connection object seen last: its id is already recorded
    while n < n_stop:
        t0 = perf()
        if t0 >= stop:
            if quota is None or n_stop != sys.maxsize:
                break
            stop = float("inf")
            n_stop = n + quota
        op = cycle[k]
        k += 1
        if k == period:
            k = 0
        statements += costs[op]
        try:
            with checkout() as conn:
                t1 = stamp()
                # Inline dispatch, most frequent first: no per-op table of closures.
                if op == 0:  # select_token
                    expected: Any = prefix + str(n)
                    reply = _op_select_token(conn, expected)
                elif op == 1:  # pk_lookup
                    key = (i * 7919 + n) % KV_ROWS + 1
                    expected = f"value-{key}"
                    reply = _op_pk_lookup(conn, key)
                elif op == 2:  # write_txn
                    token = prefix + str(n)
                    expected = (token, n)
                    try:
                        reply = _op_write_txn(conn, token, n)
                    except Exception:
                        try:
                            conn.rollback()
                        except Exception:  # the connection is broken: the pool or recover() deals with it
                            pass
                        raise
                else:  # select_1
                    expected = 1
                    reply = _op_select_1(conn)
                if conn is not last:  # a pool hands out a new proxy per checkout; a kept connection is read once
                    last = conn
                    ids_add(connection_id(conn, raw))
            t2 = stamp()
        except Exception as exc:  # counted by class; the worker carries on
            _error(st, exc, recover)
            last = None  # recover() may have reconnected the same object
            n += 1
            progress[i] = n
            continue
        if reply != expected:  # a wrong reply is counted, never timed: ops/s counts right replies only
            got = reply[0] if isinstance(reply, tuple) and reply else reply
            counts[_judge(got, expected, nonce, i)] += 1
        elif record:
            if j == cap:
                st.stored = j
                _grow(st)
                buf = st.buf
                cap = len(buf)
            buf[j] = t0
            buf[j + 1] = t1
            buf[j + 2] = t2
            j += 3
        n += 1
        progress[i] = n
    st.stored = j
    st.statements += statements
    st.n = n
    run.finished[i] = 1


class _Request:
    """A request context as a framework pushes it."""

    __slots__ = ("n", "token", "worker")

    def __init__(self, token: str, worker: int, n: int) -> None:
        self.token = token
        self.worker = worker
        self.n = n


def _serve(run: _Run, i: int) -> None:
    """One worker of a ``request`` cell: push a context, handle it through the proxy, pop."""
    st = run.states[i]
    handle = worker_handle(run.strategy, i)
    checkout = handle.checkout
    recover = getattr(run.strategy, "recover", None)
    raw = run.raw
    ids_add = st.ids.add
    counts = st.counts
    progress = run.progress
    record = run.record
    push, pop = run.stack.push, run.stack.pop
    request = run.request
    buf = st.buf
    cap = len(buf)
    j = 0
    prefix = st.prefix
    nonce = run.nonce
    perf = time.perf_counter
    _connect_phase(run, i, checkout, recover)
    run.go()
    quota = run.ops_per_worker
    # Duration mode: stop at the window's end.  Ops mode: at the window's start, switch to
    # counting ``quota`` operations -- one comparison per op either way.
    stop = run.window[1] if quota is None else run.window[0]
    n_stop = sys.maxsize
    n = 0
    last: Any = None
    while n < n_stop:
        t0 = perf()
        if t0 >= stop:
            if quota is None or n_stop != sys.maxsize:
                break
            stop = float("inf")
            n_stop = n + quota
        expected = prefix + str(n)
        ctx = _Request(expected, i, n)
        push(ctx)
        violated = False
        try:
            with checkout() as conn:
                t1 = perf()
                token = request.token  # what the handler believes its request is
                if token != expected:
                    violated = True
                reply = _op_select_token(conn, token)
                if request.token != expected:  # again after the I/O: other workers ran meanwhile
                    violated = True
                if conn is not last:
                    last = conn
                    ids_add(connection_id(conn, raw))
            t2 = perf()
        except Exception as exc:
            _error(st, exc, recover)
            last = None
            if pop() is not ctx:
                counts[_LOCAL] += 1
            n += 1
            progress[i] = n
            continue
        if pop() is not ctx:
            violated = True
        if violated:
            counts[_LOCAL] += 1
        if reply != token:
            counts[_judge(reply, token, nonce, i)] += 1
        elif record and not violated:  # a request served with another's context is not timed either
            if j == cap:
                st.stored = j
                _grow(st)
                buf = st.buf
                cap = len(buf)
            buf[j] = t0
            buf[j + 1] = t1
            buf[j + 2] = t2
            j += 3
        n += 1
        progress[i] = n
    st.stored = j
    st.statements += n
    st.n = n
    run.finished[i] = 1


# --- summaries


def _percentiles_ms(values: Any) -> dict[str, float | None]:
    import numpy as np

    if values.size == 0:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.percentile(values, [50, 90, 99]) * 1e3
    return {"p50": round(float(p50), 4), "p90": round(float(p90), 4), "p99": round(float(p99), 4),
            "max": round(float(values.max()) * 1e3, 4)}


def summarise_timing(run: _Run) -> dict[str, Any]:
    """Throughput, latency and pool wait over the operations that finished inside the window."""
    import numpy as np

    parts = [np.frombuffer(st.buf, dtype=np.float64, count=st.stored).reshape(-1, 3) for st in run.states if st.stored]
    stamps = np.concatenate(parts) if parts else np.zeros((0, 3))
    start, end = run.window
    if run.ops_per_worker is None:
        inside = stamps[(stamps[:, 2] >= start) & (stamps[:, 2] < end)]
        span = end - start
    else:
        inside = stamps[stamps[:, 0] >= start]
        span = float(inside[:, 2].max() - inside[:, 0].min()) if len(inside) else 0.0
    latency = inside[:, 2] - inside[:, 0]
    wait = inside[:, 1] - inside[:, 0]
    firsts = np.array([st.first_checkout for st in run.states if st.first_checkout is not None])
    wait_summary: dict[str, Any] = {k: v for k, v in _percentiles_ms(wait).items() if k in ("p50", "p99", "max")}
    wait_summary["total"] = round(float(wait.sum()) * 1e3, 3)
    wait_summary["share_of_latency"] = round(float(wait.sum() / latency.sum()), 4) if latency.size else None
    return {
        "ops": len(inside),
        "measured_s": round(span, 4),
        "ops_per_s": round(len(inside) / span, 1) if span > 0 else None,
        "latency_ms": _percentiles_ms(latency),
        "pool_wait_ms": wait_summary,
        "first_checkout_ms": {"p50": round(float(np.median(firsts)) * 1e3, 3) if firsts.size else None,
                              "max": round(float(firsts.max()) * 1e3, 3) if firsts.size else None},
        "storage_growths": sum(st.growths for st in run.states),
    }


def _merge_errors(states: list[_WorkerState]) -> tuple[dict[str, int], dict[str, str]]:
    errors: dict[str, int] = {}
    samples: dict[str, str] = {}
    for st in states:
        for label, count in dict(st.errors).items():
            errors[label] = errors.get(label, 0) + count
        for label, text in dict(st.samples).items():
            samples.setdefault(label, text)
    return dict(sorted(errors.items())), samples


def _correctness(run: _Run) -> dict[str, Any]:
    errors, samples = _merge_errors(run.states)
    codes: dict[str, int] = {}
    for st in run.states:
        for key, count in dict(st.codes).items():
            codes[key] = codes.get(key, 0) + count
    foreign = sum(st.counts[_FOREIGN] for st in run.states)
    stale = sum(st.counts[_STALE] for st in run.states)
    other = sum(st.counts[_OTHER] for st in run.states)
    ids: set[int] = set()
    for st in run.states:
        ids |= st.ids
    return {
        "ops_total": int(sum(run.progress)),
        "errors": errors,
        "error_count": sum(errors.values()),
        "error_samples": samples,
        "error_codes": dict(sorted(codes.items())),
        "wrong_results": foreign + stale + other,
        "wrong_detail": {"foreign": foreign, "stale": stale, "other": other},
        "local_violations": sum(st.counts[_LOCAL] for st in run.states),
        "connections_used": len(ids),
        "connection_id_samples": {"checked": sum(st.id_checks for st in run.states),
                                  "mismatched": sum(st.id_mismatches for st in run.states)},
        "client_statements": sum(st.statements for st in run.states),
    }


# --- the watchdog


def _originals() -> tuple[Callable[..., Any], Callable[[float], None], Callable[[], Any]]:
    """Real-thread start, sleep and lock, even when gevent has patched them."""
    if "gevent.monkey" in sys.modules:
        from gevent.monkey import get_original

        return (get_original("_thread", "start_new_thread"), get_original("time", "sleep"),
                get_original("_thread", "allocate_lock"))
    import _thread

    return _thread.start_new_thread, time.sleep, _thread.allocate_lock


class Watchdog:
    """Ends the process with a ``hung`` record when the workers stop making progress."""

    def __init__(self, run: _Run, hang_after: float, hung_record: Callable[[], dict[str, Any]], out_path: str | None) -> None:
        self.run = run
        self.hang_after = hang_after
        self.hung_record = hung_record
        self.out_path = out_path
        start_thread, self._sleep, allocate_lock = _originals()
        self._lock = allocate_lock()
        self.armed = True
        start_thread(self._watch, ())

    def disarm(self) -> None:
        with self._lock:
            self.armed = False

    def _watch(self) -> None:
        last: tuple[int, str] = (-1, "")
        since = time.monotonic()
        while self.armed:
            self._sleep(0.05)
            now = time.monotonic()
            seen = (sum(self.run.progress) + sum(self.run.connected), self.run.phase)
            if seen != last:
                last, since = seen, now
            elif now - since > self.hang_after:
                with self._lock:
                    if not self.armed:
                        return
                    self._fire()

    def _fire(self) -> None:
        try:
            output = {"records": [self.hung_record()], "facts": {}}
            text = json.dumps(output, indent=1, default=str)
        except Exception as exc:  # still end the process, with what can be said
            text = json.dumps({"records": [], "facts": {"watchdog_error": repr(exc)}})
        if self.out_path:
            # Plain os calls only: this thread must not touch anything gevent patched.
            tmp = f"{self.out_path}.hung.tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
            os.replace(tmp, self.out_path)
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()
        os._exit(0)


# --- the cell tasks


def _out_path(spec: Mapping[str, Any]) -> str | None:
    """Where the cell writes its output: the spec may say; otherwise ``python -m bench.cell SPEC OUT``'s OUT."""
    if spec.get("out_path"):
        return str(spec["out_path"])
    if len(sys.argv) >= 3 and sys.argv[0].endswith(("__main__.py", "bench.cell")):
        return sys.argv[2]
    return None


def _base_record(spec: Mapping[str, Any], target: Target, kind: str, mix: Mapping[str, int]) -> dict[str, Any]:
    rec: dict[str, Any] = {"kind": kind}
    if kind == "request":
        rec["impl"] = spec["impl"]
    duration = spec.get("duration")
    rec.update({
        "strategy": spec["strategy"], "load": spec["load"], "concurrency": int(spec["concurrency"]),
        "duration_s": None if duration is None else float(duration), "warmup_s": float(spec.get("warmup", DEFAULT_WARMUP)),
        "ops_requested": spec.get("ops"), "mix": dict(mix), "settings": settings_of(spec["strategy"]),
        "server_url": target.redacted_url(), "target_source": target.source, "connect_options": dict(target.options),
        # Filled below, by the watchdog, or (ceiling) by the parent; present in every record.
        "outcome": None, "ops": None, "ops_per_s": None, "latency_ms": None, "pool_wait_ms": None, "connect_ms": None,
        "errors": {}, "wrong_results": 0, "connections_used": None, "server": None, "client_statements": None,
        "server_ceiling_ops_per_s": None, "ratio_to_ceiling": None,
    })
    return rec


def _greenlets(load: Any) -> bool:
    """Whether the load's workers are greenlets on one hub (either gevent load)."""
    from bench.cell.loads import Gevent

    return isinstance(load, Gevent)


def _is_unreachable(exc: BaseException) -> bool:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    return code in (2002, 2003, 2006, 2013) and "Access denied" not in str(exc)


def run_cell(spec: dict[str, Any], load: Any) -> dict[str, Any]:
    """Cell task ``db`` / ``request``: set up, run the workers, judge and time them, return one record."""
    import pymysql

    kind = "request" if spec.get("task") == "request" or spec.get("impl") else "db"
    target = Target.from_spec(spec)
    mix = check_mix(spec.get("mix") or (ANCHOR_MIX if kind == "request" else DEFAULT_MIX))
    if kind == "request":
        mix = {"select_token": 1}
    rec = _base_record(spec, target, kind, mix)
    facts: dict[str, Any] = {}
    if load is not None:
        from bench.cell.loads import LoadMismatch

        try:
            facts["load"] = load.verify()
        except LoadMismatch as exc:
            raise SystemExit(f"load {spec['load']!r} is not what it claims: {exc}") from None
    concurrency = int(spec["concurrency"])
    duration = spec.get("duration")
    ops = spec.get("ops")
    if duration is None and ops is None:
        duration = 1.0
    warmup = float(spec.get("warmup", DEFAULT_WARMUP))
    hang_after = float(spec.get("hang_after", DEFAULT_HANG_AFTER))

    def finish(extra: dict[str, Any]) -> dict[str, Any]:
        rec.update(extra)
        return scrub({"records": [rec], "facts": facts}, target.password)

    # Setup: schema, then the counters' own cost (two reads back to back).
    counters = CounterReader(target)
    try:
        admin = pymysql.connect(**target.connect_kwargs(), autocommit=False)
        try:
            ensure_schema(admin)
        finally:
            admin.close()
        first = counters.read()
        self_cost = counter_deltas(first, counters.read(), {})
    except pymysql.err.MySQLError as exc:
        outcome = "skipped" if _is_unreachable(exc) else "errors"
        return finish({"outcome": outcome, "reason": f"setup failed: {classify(exc)}: {exc}".splitlines()[0][:300],
                       "errors": {classify(exc): 1}, "wrong_results": 0, "ops": 0})
    facts["counters_source"] = counters.source

    impl_factory = None
    if kind == "request":
        import localimpls

        impl_factory = localimpls.resolve(spec["impl"])
    before = counters.read()
    built = time.perf_counter()
    try:
        strategy = build_strategy(spec["strategy"], target.connect_kwargs(), concurrency)
    except Exception as exc:  # the strategy could not even be built: that is its result
        counters.close()
        reason = f"building the strategy failed: {classify(exc)}: {exc}".splitlines()[0][:300]
        return finish({"outcome": "errors", "reason": reason, "errors": {classify(exc): 1}, "wrong_results": 0, "ops": 0})
    build_ms = (time.perf_counter() - built) * 1e3
    strategy_facts = strategy.facts() if callable(getattr(strategy, "facts", None)) else {}
    run = _Run(strategy=strategy, concurrency=concurrency, warmup=warmup, duration=None if duration is None else float(duration),
               ops=None if ops is None else int(ops), cycle=mix_cycle(mix), nonce=os.urandom(4).hex(),
               record=bool(spec.get("record", True)), scenario=kind, impl_factory=impl_factory, greenlets=_greenlets(load))

    def hung_record() -> dict[str, Any]:
        unfinished = sum(1 for flag in run.finished if not flag)
        partial = {key: value for key, value in _correctness(run).items() if key != "client_statements"}
        hung = {"outcome": "hung", "hung_phase": run.phase, "hang_after_s": hang_after, "unfinished_workers": unfinished,
                "ops": None, "server": None, "strategy_facts": strategy_facts}
        return scrub({**rec, **partial, **hung}, target.password)

    watchdog = Watchdog(run, hang_after, hung_record, _out_path(spec))
    body = _serve if kind == "request" else _worker
    load.run_blocking(lambda i: body(run, i), concurrency)
    cpu_end = time.process_time()
    if hasattr(load, "settle"):
        load.settle()
    run.phase = "after"
    # Under a fault (server killed, full, restarted) these can fail: the record says so, the cell still ends.
    problems: dict[str, str] = {}
    after = _read_or_note(counters, "after_run", problems)
    run.phase = "close"
    try:
        strategy.close()
    except Exception as exc:  # closing over a dead server: noted, nothing left to release
        problems["close"] = f"{classify(exc)}: {exc}".splitlines()[0][:300]
    run.phase = "closed"
    closed = _read_or_note(counters, "after_close", problems)
    counters.close()
    watchdog.disarm()

    timing = summarise_timing(run) if run.record else {"ops": None, "ops_per_s": None}
    correct = _correctness(run)
    deltas = counter_deltas(before, after, self_cost)
    server_statements = deltas.get("Questions")
    client_statements = correct["client_statements"]
    bad = correct["error_count"] or correct["wrong_results"] or correct["local_violations"]
    return finish({
        **timing,
        **correct,
        "connect_ms": {"build": round(build_ms, 3), "first_checkout_p50": timing.get("first_checkout_ms", {}).get("p50"),
                       "first_checkout_max": timing.get("first_checkout_ms", {}).get("max"),
                       "all_ready": (round((run.t_ready - run.t_start) * 1e3, 3)
                                     if run.t_ready is not None and run.t_start is not None else None)},
        "ready_barrier_timeouts": run.ready.timeouts,
        # Client CPU (every thread of this process) per operation after the connect phase: what a
        # strategy costs the client, unlike ops/s hardly moved by other work on a shared box.
        "client_cpu_us_per_op": (round((cpu_end - run.cpu_go) / correct["ops_total"] * 1e6, 2)
                                 if run.cpu_go is not None and correct["ops_total"] else None),
        "server": {
            "deltas": deltas,
            "threads_connected": {"before": before.get("Threads_connected"), "after_run": after.get("Threads_connected"),
                                  "after_close": closed.get("Threads_connected")},
            "max_used_connections": {"before": before.get("Max_used_connections"), "after": after.get("Max_used_connections")},
            "counter_self_cost": self_cost,
        },
        "server_statements": server_statements,
        "statement_surplus": None if server_statements is None else server_statements - client_statements,
        "surplus_per_op": (round((server_statements - client_statements) / correct["ops_total"], 3)
                           if server_statements is not None and correct["ops_total"] else None),
        "open_after_close": (closed.get("Threads_connected", 0) - before.get("Threads_connected", 0)
                             if "Threads_connected" in closed and "Threads_connected" in before else None),
        "strategy_facts": strategy_facts,
        "hang_after_s": hang_after,
        **({"teardown_problems": problems} if problems else {}),
        **({"timeline": timeline(run)} if spec.get("timeline") else {}),
        "outcome": "errors" if bad else "ok",
    })


def _read_or_note(counters: CounterReader, when: str, problems: dict[str, str]) -> dict[str, int]:
    """The counters, or {} with the reason noted under ``when``."""
    try:
        return counters.read()
    except Exception as exc:  # the server is gone or full: counters unknown, not a crash
        problems[f"counters_{when}"] = f"{classify(exc)}: {exc}".splitlines()[0][:300]
        return {}


def timeline(run: _Run) -> dict[str, Any]:
    """When right replies and errors happened, in :data:`TIMELINE_BUCKET` buckets of the monotonic clock.

    Times are ``time.perf_counter()`` values, which on Linux are CLOCK_MONOTONIC and so
    comparable with the parent's ``time.monotonic()``: the fault scenarios line them up
    with the moment they killed or restarted the server.  Buckets are sparse
    ``[index, count]`` pairs; bucket ``i`` covers ``[i * bucket_s, (i + 1) * bucket_s)``.
    """
    import numpy as np

    parts = [np.frombuffer(st.buf, dtype=np.float64, count=st.stored).reshape(-1, 3)[:, 2] for st in run.states if st.stored]
    done = np.concatenate(parts) if parts else np.zeros(0)
    ok: dict[int, int] = {}
    if done.size:
        keys, counts = np.unique(np.floor(done / TIMELINE_BUCKET).astype(np.int64), return_counts=True)
        ok = {int(k): int(n) for k, n in zip(keys, counts, strict=True)}
    errors: dict[int, int] = {}
    for st in run.states:
        for key, n in dict(st.err_buckets).items():
            errors[key] = errors.get(key, 0) + n
    firsts = [st.first_error for st in run.states if st.first_error is not None]
    lasts = [st.last_error for st in run.states if st.last_error is not None]
    return {
        "clock": "CLOCK_MONOTONIC seconds (time.perf_counter in the cell = time.monotonic in the parent)",
        "bucket_s": TIMELINE_BUCKET,
        "window": list(run.window),
        "t_go": run.t_go,
        "ok": sorted(ok.items()),
        "errors": sorted(errors.items()),
        "ok_total": int(done.size),
        "first_ok_at": float(done.min()) if done.size else None,
        "first_error_at": min(firsts) if firsts else None,
        "last_error_at": max(lasts) if lasts else None,
    }


def run_overhead_cell(spec: dict[str, Any], load: Any) -> dict[str, Any]:
    """Cell task ``db-overhead``: ``SELECT 1`` bare vs through the harness, with and without recording.

    All three variants use the same connection and run the same round trips:
    ``bare`` is the driver loop alone (cursor, execute, fetchone, close);
    the harness variants run :func:`_worker` (one worker, ``own-connection``,
    every reply checked) with stamping off and on.  Variants run in short
    blocks, interleaved in rotating order, ``repeats`` blocks each: on a
    shared box bursts of other work hit every variant alike; the medians of
    the blocks are compared (the best blocks are kept beside them).  The same
    loops over a stub connection give the harness's own CPU cost per op.
    """
    import statistics

    import pymysql

    target = Target.from_spec(spec)
    ops = int(spec.get("ops", 2_000))
    repeats = int(spec.get("repeats", 30))
    conn = pymysql.connect(**target.connect_kwargs())
    perf = time.perf_counter

    def bare() -> float:
        t0 = perf()
        for _ in range(ops):
            cur = conn.cursor()
            cur.execute("SELECT 1")
            cur.fetchone()
            cur.close()
        return (perf() - t0) / ops

    strategy = build_strategy("own-connection", target.connect_kwargs(), 1)
    worker_handle(strategy, 0).conn = conn  # the very connection ``bare`` uses: only the harness differs

    def harness(record: bool) -> float:
        run = _Run(strategy=strategy, concurrency=1, warmup=0.0, duration=None, ops=ops, cycle=("select_1",),
                   nonce=os.urandom(4).hex(), record=record, scenario="db")
        t0 = perf()
        _worker(run, 0)
        elapsed = perf() - t0
        correct = _correctness(run)
        if correct["error_count"] or correct["wrong_results"]:
            raise RuntimeError(f"the overhead run saw errors or wrong results: {correct['errors']}")
        return elapsed / run.states[0].n  # includes the one CONNECTION_ID() sample per block

    variants: dict[str, Callable[[], float]] = {
        "bare": bare, "harness_no_record": lambda: harness(False), "harness_record": lambda: harness(True)}
    stub_ns = _harness_cpu_ns()
    for fn in variants.values():  # warm every path once
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(repeats):
        for name in names[r % 3:] + names[: r % 3]:  # rotate the order: no variant always runs first
            times[name].append(variants[name]())
    conn.close()
    best = {name: min(values) for name, values in times.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    rec = {
        "kind": "db-overhead", "load": spec.get("load"), "ops_per_block": ops, "blocks": repeats,
        "per_op_us_best": {k: round(v * 1e6, 3) for k, v in best.items()},
        "per_op_us_median": {k: round(v * 1e6, 3) for k, v in median.items()},
        # Headline: medians.  The loopback round trip on a small VM is bimodal (about 35 us with a
        # core kept busy, 110 us when both idle: wake-up latency), which makes single best blocks erratic.
        "recording_overhead": round(median["harness_record"] / median["harness_no_record"] - 1, 4),
        "harness_overhead": round(median["harness_record"] / median["bare"] - 1, 4),
        "recording_overhead_best": round(best["harness_record"] / best["harness_no_record"] - 1, 4),
        "harness_overhead_best": round(best["harness_record"] / best["bare"] - 1, 4),
        # The same loops over a stub connection that answers at once: the harness's own CPU
        # cost per op, free of network and server noise, and that cost as a share of a real round trip.
        "stub_per_op_ns": stub_ns,
        "recording_cost_share": round((stub_ns["harness_record"] - stub_ns["harness_no_record"]) / (median["bare"] * 1e9), 4),
        "harness_cost_share": round((stub_ns["harness_record"] - stub_ns["bare"]) / (median["bare"] * 1e9), 4),
        "server_url": target.redacted_url(),
    }
    return scrub({"records": [rec], "facts": {}}, target.password)


class _StubCursor:
    """Answers ``SELECT 1`` at once: what the harness costs without the network."""

    __slots__ = ()

    def execute(self, query: str, args: Any = None) -> int:
        return 1

    def fetchone(self) -> tuple[int]:
        return (1,)

    def close(self) -> None:
        return None


class _StubConnection:
    __slots__ = ()
    _cursor = _StubCursor()

    def cursor(self) -> _StubCursor:
        return self._cursor

    def thread_id(self) -> int:
        return 1


def _harness_cpu_ns(ops: int = 100_000, repeats: int = 5) -> dict[str, float]:
    """Best ns per op of the bare loop and the harness (no record / record) over a stub connection."""
    from bench.cell.strategies import OwnConnection

    stub = _StubConnection()
    strategy = OwnConnection({}, 1)
    worker_handle(strategy, 0).conn = stub
    perf = time.perf_counter

    def bare() -> float:
        t0 = perf()
        for _ in range(ops):
            cur = stub.cursor()
            cur.execute("SELECT 1")
            cur.fetchone()
            cur.close()
        return (perf() - t0) / ops

    def harness(record: bool) -> float:
        run = _Run(strategy=strategy, concurrency=1, warmup=0.0, duration=None, ops=ops, cycle=("select_1",),
                   nonce="stub", record=record, scenario="db")
        t0 = perf()
        _worker(run, 0)
        return (perf() - t0) / run.states[0].n

    best = {"bare": float("inf"), "harness_no_record": float("inf"), "harness_record": float("inf")}
    for _ in range(repeats):
        best["bare"] = min(best["bare"], bare())
        best["harness_no_record"] = min(best["harness_no_record"], harness(False))
        best["harness_record"] = min(best["harness_record"], harness(True))
    return {name: round(value * 1e9, 1) for name, value in best.items()}
