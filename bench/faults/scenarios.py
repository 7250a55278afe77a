"""Faults: what each connection strategy does when the server fails under it -- measured, not assumed.

What is promised
    ``ctxbench faults`` starts a private server of its own (never one it was
    given or found: it kills it) and runs ordinary database cells
    (:mod:`bench.cell.db`, each in a fresh process) against it while it injects
    one fault per cell:

    ``kill``
        SIGKILL the server in the middle of the measured window, leave it down
        for ``down`` seconds, start it again on the same port and data
        directory; the cell goes on throughout.
    ``restart``
        The same, with a clean shutdown (SIGTERM, wait) instead of a crash.
    ``max-connections``
        ``max_connections`` lowered (default 20) and each strategy run at twice
        that many workers; the server's ``Threads_connected`` is compared before
        and after every cell.
    ``hang``
        A pool whose checkout never returns: the cell's watchdog must end it as
        ``hung`` after ``hang_after`` seconds, its process must be gone, and the
        next cell must run normally.
    ``soak``
        One long cell per load at high concurrency (256 greenlets, 64 threads) on
        ``pooled-tuned``: the cell process's resident memory is sampled twice a
        second, and growth over the measured window is held to a bound.

    Every cell gives one record ``kind: "fault"`` (``scenario``, ``strategy``,
    ``load``, ``concurrency``, ``errors`` by class, ``wrong_results``,
    ``leaked_connections``, the cell's ``outcome`` and what the scenario
    measures: ``time_to_first_error_s``, ``recovered``, ``recovery_s``,
    ``errors_1040``, ``rss_mib`` ...) plus the full ``db`` record of the cell
    under ``cell``.  Records are handed to ``on_record`` as each cell ends, so
    ``--json`` is rewritten after every cell and an interrupted run keeps what
    it finished.

How time is lined up
    The cell stamps its right replies and its errors with ``time.perf_counter``,
    which on Linux is ``CLOCK_MONOTONIC`` -- the clock of the parent's
    ``time.monotonic`` -- and returns them as a sparse timeline
    (``bench.cell.db.summary.timeline``, 10 ms buckets, exact first and last error).  The parent
    notes when it killed the server and when the server took the password again,
    and computes from the two (:func:`recovery`):

    * ``time_to_first_error_s``: first error at or after the fault, minus the fault;
    * ``errors_during_outage`` / ``errors_after_restart``: errors before and after
      the server was back;
    * ``recovered``: right replies, and no error at all, in the last second of the
      window (which ends at least ``observe`` seconds after the server is back);
    * ``recovery_s``: from the server being back to the first right reply after the
      strategy's last error (0.01 s resolution);
    * ``throughput_after_ratio``: right replies per second in that last second over
      the second before the fault (a strategy that brings back only some of its
      workers shows here).

    The server's counters reset when it restarts, so the cell's server-side
    deltas are not used for these two scenarios.

Why
    A pool's failure behaviour is half of choosing it, and it is what the
    library documentation says least about: DBUtils ``PooledDB`` with ``ping=1``
    pings on every checkout, ``ping=0`` does not but its "tough" cursor
    reconnects and retries outside a transaction; SQLAlchemy's ``QueuePool``
    invalidates a connection whose reset fails; a bare connection never comes
    back.  The suite measures what each one actually does.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.errors import UsageError
from bench.exec import dbcell
from bench.plan.cells import Cell
from bench.plan.matrix import LEAK_WAIT, db_cell_timeout
from bench.plan.selection import validate_db
from bench.records.scrub import scrub

#: Scenarios in the order they run; ``soak`` only when asked for (two minutes by default).
SCENARIOS: tuple[str, ...] = ("kill", "restart", "max-connections", "hang", "soak")
DEFAULT_SCENARIOS: tuple[str, ...] = ("kill", "restart", "max-connections", "hang")
#: Strategies the server faults run by default: every built-in one but the unprotected shared
#: connection (``global``, wrong with or without a fault).  ``locked`` and ``own-connection``
#: are the bare connections (one shared behind a lock; one per worker).
FAULT_STRATEGIES: tuple[str, ...] = ("pooled", "pooled-tuned", "persistent", "sqlalchemy-queuepool", "per-request", "own-connection", "locked")
FAULT_CONCURRENCY = 8
#: Measured seconds of a kill/restart cell: about 1.5 s before the fault, ``down`` s of outage, the rest to recover in.
FAULT_DURATION = 6.0
FAULT_WARMUP = 0.5
#: Seconds of right replies measured before the fault, and the least the window goes on after the server is back.
LEAD = 1.0
OBSERVE = 2.0
#: A kill/restart cell whose window ended less than this long after the server was back did not see
#: the recovery (the restart took longer than planned: a busy machine) and is run again, once.
OBSERVED_AT_LEAST = 1.0
SERVER_FAULT_ATTEMPTS = 2
#: Seconds the server stays down after a kill or shutdown.
DOWN = 1.0
#: A fault cell's watchdog: longer than any outage, so a strategy blocked on a dead server is not taken for hung.
FAULT_HANG_AFTER = 15.0
#: SELECTs beyond the connect phase's one per worker that must reach the server before the parent takes the
#: workload to be flowing (a connection per operation runs only some tens per second: PyMySQL 1.2 builds a TLS
#: context for every connection, about 40 ms of CPU).
FLOWING_SELECTS = 20
#: max_connections set for the ``max-connections`` scenario (restored afterwards); cells run at twice it.
MAX_CONNECTIONS = 20
MAXCONN_DURATION = 2.0
MAXCONN_WARMUP = 0.3
#: The ``hang`` scenario: its watchdog, and the strategy that blocks.
HANG_AFTER = 2.0
HANG_STRATEGY = "bench.faults.scenarios:blocking_pool"
HANG_CONCURRENCY = 4
#: The soak: (strategy, load, concurrency) cells, each ``SOAK_DURATION`` seconds.
SOAK_CELLS: tuple[tuple[str, str, int], ...] = (("pooled-tuned", "gevent", 256), ("pooled-tuned", "threads", 64))
SOAK_DURATION = 60.0
SOAK_WARMUP = 2.0
#: How often the soak samples the cell process's resident memory (seconds).
RSS_INTERVAL = 0.5
#: The soak's memory bounds.  Growth: from ``SOAK_SETTLE`` of the way into the measured window (256
#: greenlets are still touching their stacks and buffers for the first seconds) to its end, resident
#: memory may grow by at most ``SOAK_RSS_GROWTH_MIB``.  The harness preallocates every latency stamp
#: before the clock starts and the workload keeps nothing per operation, so a steady cell is flat
#: (measured: +0.2 MiB, see README "Faults"); at about 10,000 operations a second, a leak of 30 bytes
#: per operation would exceed 16 MiB in the 54 s.  Peak: the preallocated stamps plus
#: ``SOAK_MIB_PER_WORKER`` per worker (its connection -- PyMySQL 1.2 builds a TLS context for each --
#: its buffers and its thread or greenlet; measured about 0.9) plus ``SOAK_BASE_MIB`` (the interpreter,
#: gevent, PyMySQL, DBUtils, numpy).
SOAK_SETTLE = 0.1
#: ... or later, when the connections are still being opened then: memory is counted from the first
#: sample after which it grows by less than ``SOAK_RAMP_MIB_S`` over ``SOAK_RAMP_PROBE_S`` (256 PyMySQL
#: connections, about 1 MiB each, took 14 s to open on a slow day: +8 MiB/s, then flat).  A leak that
#: fast never settles and fails the bound; a slower one is counted over at least half the window.
SOAK_RAMP_MIB_S = 1.0
SOAK_RAMP_PROBE_S = 2.0
SOAK_RSS_GROWTH_MIB = 16.0
SOAK_MIB_PER_WORKER = 1.0
SOAK_BASE_MIB = 128.0
#: The account the fault cells log in as: an application's, without SUPER (which would get
#: MySQL's one connection beyond max_connections and hide the 1040s an application sees).
APP_USER = "ctxbench_fault"


# --- plan


@dataclass(frozen=True)
class FaultPlan:
    """A validated selection for :func:`run_faults`."""

    scenarios: tuple[str, ...] = DEFAULT_SCENARIOS
    strategies: tuple[str, ...] = FAULT_STRATEGIES
    loads: tuple[str, ...] = ("threads",)
    concurrency: int = FAULT_CONCURRENCY
    duration: float = FAULT_DURATION
    down: float = DOWN
    max_connections: int = MAX_CONNECTIONS
    hang_after: float = HANG_AFTER
    soak_duration: float = SOAK_DURATION
    soak_cells: tuple[tuple[str, str, int], ...] = SOAK_CELLS


def validate(plan: FaultPlan) -> FaultPlan:
    """The plan, or a one-line UsageError naming its first bad value."""
    if not plan.scenarios:
        raise UsageError("no fault scenario selected")
    for name in plan.scenarios:
        if name not in SCENARIOS:
            raise UsageError(f"unknown fault scenario {name!r} (known: {', '.join(SCENARIOS)})")
    validate_db(strategies=list(plan.strategies), loads=list(plan.loads), concurrency=[plan.concurrency],
                   duration=plan.duration, warmup=FAULT_WARMUP)
    if plan.duration < LEAD + plan.down + OBSERVE + 0.5:
        raise UsageError(f"--duration must be at least {LEAD + plan.down + OBSERVE + 0.5:g} s for --down {plan.down:g} "
                         f"({LEAD:g} s before the fault, the outage, {OBSERVE:g} s after the server is back)")
    if not 0 < plan.down <= 60:
        raise UsageError(f"--down must be more than 0 and at most 60 seconds, got {plan.down!r}")
    if not 2 <= plan.max_connections <= 1000:
        raise UsageError(f"--max-connections must be from 2 to 1000, got {plan.max_connections!r}")
    if not plan.hang_after > 0:
        raise UsageError(f"--hang-after must be a positive number of seconds, got {plan.hang_after!r}")
    if not plan.soak_duration > 0:
        raise UsageError(f"--soak-duration must be a positive number of seconds, got {plan.soak_duration!r}")
    return plan


# --- a strategy that blocks forever (the ``hang`` scenario)


class _NeverReturns:
    """A checkout that waits for a connection nobody will ever give back."""

    __slots__ = ("semaphore",)

    def __init__(self, semaphore: Any) -> None:
        self.semaphore = semaphore

    def __enter__(self) -> Any:
        # A pool whose every connection was lost: it waits, with a timeout, in a loop.  (Under
        # gevent the timeout keeps the hub alive, as a real pool's would: a wait on nothing at
        # all would end in gevent's LoopExit rather than a hang.)
        while not self.semaphore.acquire(timeout=60):
            pass
        raise AssertionError("unreachable: the semaphore is never released")

    def __exit__(self, *exc: object) -> None:
        return None


class BlockingPool:
    """A pool of zero connections whose checkout blocks forever (``bench.faults.scenarios:blocking_pool``)."""

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        self.semaphore = threading.Semaphore(0)  # created in the cell, after the load patched threading

    def checkout(self) -> _NeverReturns:
        return _NeverReturns(self.semaphore)

    def close(self) -> None:
        return None


def blocking_pool(connect_kwargs: dict[str, Any], concurrency: int) -> BlockingPool:
    return BlockingPool(connect_kwargs, concurrency)


# --- the server the faults are done to


class FaultServer:
    """A private server, an application account on it, and an admin connection that survives restarts."""

    def __init__(self, handle: Any) -> None:
        from bench.server import ServerTarget

        if not handle.ephemeral:
            raise UsageError("fault scenarios need a server ctxbench started itself")
        self.handle = handle
        self.root = handle.target
        password = secrets.token_urlsafe(18)
        self.passwords = (self.root.password, password)
        self.app = ServerTarget(self.root.host, self.root.port, APP_USER, password, self.root.database, "ephemeral")
        self._conn: Any = None
        self.execute(f"CREATE USER IF NOT EXISTS '{APP_USER}'@'127.0.0.1' IDENTIFIED BY %s", (password,))
        self.execute(f"ALTER USER '{APP_USER}'@'127.0.0.1' IDENTIFIED BY %s", (password,))
        self.execute(f"GRANT ALL PRIVILEGES ON `{self.root.database}`.* TO '{APP_USER}'@'127.0.0.1'")

    def _connect(self) -> Any:
        import pymysql

        return pymysql.connect(**self.root.connect_kwargs(), autocommit=True, connect_timeout=5, read_timeout=10, write_timeout=10)

    def execute(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement as root; reconnect once if the server was restarted since the last one."""
        import pymysql

        for attempt in (1, 2):
            try:
                if self._conn is None:
                    self._conn = self._connect()
                with self._conn.cursor() as cur:
                    cur.execute(sql, args)
                    return list(cur.fetchall())
            except pymysql.err.MySQLError:
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def status(self, name: str) -> int | None:
        """A global status counter, or None if it cannot be read right now."""
        try:
            rows = self.execute("SHOW GLOBAL STATUS LIKE %s", (name,))
        except Exception:  # the server is down: unknown
            return None
        return int(rows[0][1]) if rows else None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already gone with the server
                pass
            self._conn = None

    def scrub(self, obj: Any) -> Any:
        for password in self.passwords:
            obj = scrub(obj, password)
        return obj


# --- running one cell while the parent does something to the server


def _cell_processes() -> list[Any]:
    """This process's ``bench.cell`` children (and theirs)."""
    import psutil

    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "bench.cell" in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def kill_cells() -> None:
    """Kill every cell process this process started (an interrupt must not leave one behind)."""
    from bench.exec.spawn import kill_tree

    for proc in _cell_processes():
        kill_tree(proc.pid)


@dataclass
class _Running:
    """A cell running in a thread of the parent, while the main thread injects the fault."""

    thread: threading.Thread
    box: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0

    def result(self) -> tuple[dict[str, Any], str | None]:
        self.thread.join()
        if "error" in self.box:
            raise self.box["error"]
        return self.box["value"]  # type: ignore[no-any-return]


def _start_cell(server: FaultServer, cell: Cell, *, duration: float, warmup: float, hang_after: float,
                extra: Mapping[str, Any] | None = None) -> _Running:
    base = dbcell.base_cell_spec(server.app, duration=duration, warmup=warmup, hang_after=hang_after)
    base.update({"timeline": True, **(extra or {})})
    limit = db_cell_timeout(duration, warmup, hang_after)
    running = _Running(threading.Thread(target=lambda: None), started=time.monotonic())

    def work() -> None:
        try:
            # The leak check reads Threads_connected as root: it gets the one connection past max_connections.
            running.box["value"] = dbcell.run_one(server.root, cell, base_spec=base, limit=limit, ceilings={}, samples={})
        except BaseException as exc:  # handed to the main thread
            running.box["error"] = exc

    running.thread = threading.Thread(target=work, name="ctxbench-fault-cell", daemon=True)
    running.thread.start()
    return running


def _wait_flowing(server: FaultServer, running: _Running, base: int | None, concurrency: int, timeout: float = 60.0) -> bool:
    """Wait until the cell's workload runs (its SELECTs reach the server); False if the cell ended or never got there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running.thread.is_alive():
        now = server.status("Com_select")
        if base is not None and now is not None and now - base >= FLOWING_SELECTS + concurrency:
            return True
        time.sleep(0.05)
    return False


# --- what a timeline says


def _sum_between(pairs: Sequence[Sequence[float]], bucket: float, start: float, end: float) -> int:
    """Events in the buckets that lie in [start, end)."""
    lo, hi = int(start / bucket), int(end / bucket)
    return int(sum(n for k, n in pairs if lo <= k < hi))


def _first_at_or_after(pairs: Sequence[Sequence[float]], bucket: float, t: float) -> float | None:
    """The start of the first non-empty bucket at or after the bucket holding ``t``."""
    lo = int(t / bucket)
    keys = [k for k, n in pairs if k >= lo and n]
    return min(keys) * bucket if keys else None


def recovery(timeline: Mapping[str, Any], *, fault_at: float, back_at: float | None, lead: float = LEAD) -> dict[str, Any]:
    """Time to first error, errors during and after the outage, and whether and how fast the strategy came back.

    ``fault_at`` is when the server was killed (or told to shut down) and ``back_at`` when it took
    the login again (None: it never came back), both ``time.monotonic()``; see the module docstring.
    """
    b = float(timeline["bucket_s"])
    ok, errors = timeline["ok"], timeline["errors"]
    start, end = float(timeline["window"][0]), float(timeline["window"][1])
    first_error = timeline.get("first_error_at")
    if first_error is not None and first_error < fault_at:
        first_error = _first_at_or_after(errors, b, fault_at)  # errors before the fault (none expected) are not its doing
    before_from = max(start, fault_at - lead)
    ok_before = _sum_between(ok, b, before_from, fault_at)
    rate_before = ok_before / (fault_at - before_from) if fault_at > before_from else None
    out: dict[str, Any] = {
        "errors_before_fault": _sum_between(errors, b, 0.0, fault_at),
        "time_to_first_error_s": round(first_error - fault_at, 4) if first_error is not None else None,
        "ops_per_s_before": round(rate_before, 1) if rate_before is not None else None,
    }
    if back_at is None:
        out.update({"errors_during_outage": _sum_between(errors, b, fault_at, end + 1.0), "errors_after_restart": None,
                    "recovered": False, "recovery_s": None, "first_ok_after_restart_s": None, "ops_per_s_after": None,
                    "throughput_after_ratio": None, "observed_after_restart_s": 0.0})
        return out
    tail_from = max(back_at, end - 1.0)
    ok_tail = _sum_between(ok, b, tail_from, end)
    errors_tail = _sum_between(errors, b, tail_from, end)
    rate_after = ok_tail / (end - tail_from) if end > tail_from else None
    last_error = timeline.get("last_error_at")
    settled_from = max(back_at, last_error) if last_error is not None else back_at
    first_ok_after = _first_at_or_after(ok, b, back_at)
    settled_ok = _first_at_or_after(ok, b, settled_from)
    recovered = ok_tail > 0 and errors_tail == 0
    out.update({
        "errors_during_outage": _sum_between(errors, b, fault_at, back_at),
        "errors_after_restart": _sum_between(errors, b, back_at, end + 1.0),
        "observed_after_restart_s": round(end - back_at, 3),
        "first_ok_after_restart_s": round(max(0.0, first_ok_after - back_at), 3) if first_ok_after is not None else None,
        "recovered": recovered,
        "recovery_s": round(max(0.0, settled_ok - back_at), 3) if recovered and settled_ok is not None else None,
        "ops_per_s_after": round(rate_after, 1) if rate_after is not None else None,
        "throughput_after_ratio": round(rate_after / rate_before, 3) if rate_after is not None and rate_before else None,
    })
    return out


# --- records


def _fault_record(scenario: str, cell: Cell, rec: dict[str, Any], problem: str | None, **extra: Any) -> dict[str, Any]:
    errors = dict(rec.get("errors") or {})
    return {
        "kind": "fault", "scenario": scenario, "strategy": cell.strategy, "load": cell.load, "concurrency": cell.concurrency,
        "outcome": rec.get("outcome"), "errors": errors, "error_count": sum(errors.values()),
        "error_codes": rec.get("error_codes") or {}, "error_samples": rec.get("error_samples") or {}, "wrong_results": rec.get("wrong_results"),
        "ops": rec.get("ops"), "ops_per_s": rec.get("ops_per_s"), "leaked_connections": rec.get("leaked_connections"),
        "cell_wall_s": rec.get("cell_wall_s"), "problem": problem, **extra,
        "cell": rec,  # the whole db record, timeline included: nothing measured is dropped
    }


Emit = Callable[[dict[str, Any]], None]
Say = Callable[[str], None]


def _server_fault(server: FaultServer, plan: FaultPlan, scenario: str, emit: Emit, say: Say) -> None:
    """``kill`` and ``restart``: one cell per strategy x load, the fault in the middle of each.

    A cell whose window ended less than :data:`OBSERVED_AT_LEAST` seconds after the server was back (a
    restart slowed down by a busy machine) could not see the recovery: it is run once more,
    and the record says how many attempts it took.
    """
    for load in plan.loads:
        for strategy in plan.strategies:
            cell = Cell("db", strategy, load, plan.concurrency)
            for attempt in range(1, SERVER_FAULT_ATTEMPTS + 1):
                say(f"{scenario}: {cell.label()}" + (f" (attempt {attempt}: recovery not observed the first time)" if attempt > 1 else ""))
                fault = _server_fault_cell(server, plan, scenario, cell)
                fault["attempts"] = attempt
                if "note" not in fault:
                    break
            emit(server.scrub(fault))


def _server_fault_cell(server: FaultServer, plan: FaultPlan, scenario: str, cell: Cell) -> dict[str, Any]:
    """One cell with the server killed (or shut down) and restarted in its measured window."""
    if not server.handle.running:  # a previous cell's restart failed: try once more
        server.handle.restart()
    base = server.status("Com_select")
    running = _start_cell(server, cell, duration=plan.duration, warmup=FAULT_WARMUP, hang_after=FAULT_HANG_AFTER)
    facts: dict[str, Any] = {"down_s": plan.down}
    fault_at = back_at = None
    try:
        if _wait_flowing(server, running, base, plan.concurrency):
            time.sleep(FAULT_WARMUP + LEAD)
            server.close()  # the admin connection would die with the server anyway
            fault_at = time.monotonic()
            if scenario == "kill":
                server.handle.kill()
            else:
                server.handle.terminate()
            facts["stop_s"] = round(time.monotonic() - fault_at, 3)
            time.sleep(max(0.0, fault_at + plan.down - time.monotonic()))
            facts["restart_s"] = round(server.handle.restart(), 3)
            back_at = time.monotonic()
            facts["downtime_s"] = round(back_at - fault_at, 3)
        else:
            facts["fault_not_injected"] = "the cell's workload never reached the server"
    finally:
        if not server.handle.running:
            server.handle.restart()  # whatever happened, the next cell gets a server
    rec, problem = running.result()
    timeline = rec.get("timeline")
    measured = recovery(timeline, fault_at=fault_at, back_at=back_at) if timeline and fault_at is not None else {}
    if back_at is not None and timeline and timeline["window"][1] < back_at + OBSERVED_AT_LEAST:
        facts["note"] = f"the window ended less than {OBSERVED_AT_LEAST:g} s after the server was back: recovery not observed"
    return _fault_record(scenario, cell, rec, problem, **facts, **measured)


def _max_connections(server: FaultServer, plan: FaultPlan, emit: Emit, say: Say) -> None:
    """Every strategy at twice ``max_connections``: 1040s counted, no crash, no connection left behind."""
    (previous,) = server.execute("SELECT @@GLOBAL.max_connections")[0]
    server.execute(f"SET GLOBAL max_connections = {int(plan.max_connections)}")
    concurrency = 2 * plan.max_connections
    try:
        for load in plan.loads:
            for strategy in plan.strategies:
                cell = Cell("db", strategy, load, concurrency)
                say(f"max-connections {plan.max_connections}: {cell.label()}")
                before = server.status("Threads_connected")
                running = _start_cell(server, cell, duration=MAXCONN_DURATION, warmup=MAXCONN_WARMUP, hang_after=FAULT_HANG_AFTER)
                rec, problem = running.result()
                after = _settled_threads(server, before)
                errors = rec.get("errors") or {}
                crashed = "cell-crashed" in errors or not rec.get("outcome") or rec.get("outcome") == "hung"
                extra = {
                    "max_connections": plan.max_connections, "errors_1040": errors.get("server:1040", 0),
                    "crashed": crashed, "threads_connected_before": before, "threads_connected_after": after,
                    "open_after_close": rec.get("open_after_close"),
                    "max_used_connections": ((rec.get("server") or {}).get("max_used_connections") or {}).get("after"),
                }
                emit(server.scrub(_fault_record("max-connections", cell, rec, problem, **extra)))
    finally:
        server.execute(f"SET GLOBAL max_connections = {int(previous)}")


def _settled_threads(server: FaultServer, before: int | None, wait: float = LEAK_WAIT) -> int | None:
    """Threads_connected once it is back to ``before`` (or after ``wait`` seconds)."""
    deadline = time.monotonic() + wait
    while True:
        now = server.status("Threads_connected")
        if now is None or before is None or now <= before or time.monotonic() >= deadline:
            return now
        time.sleep(0.1)


def _hang(server: FaultServer, plan: FaultPlan, emit: Emit, say: Say) -> None:
    """A checkout that never returns: ended as hung by the cell's watchdog, its process gone, the next cell fine."""
    for load in plan.loads:
        cell = Cell("db", HANG_STRATEGY, load, HANG_CONCURRENCY)
        say(f"hang: {cell.label()}, hang_after {plan.hang_after:g} s")
        running = _start_cell(server, cell, duration=1.0, warmup=0.0, hang_after=plan.hang_after)
        rec, problem = running.result()
        left = [p.pid for p in _cell_processes()]
        after = Cell("db", "pooled-tuned", load, HANG_CONCURRENCY)
        next_rec, next_problem = _start_cell(server, after, duration=0.5, warmup=0.1, hang_after=FAULT_HANG_AFTER).result()
        extra = {
            "hang_after_s": plan.hang_after, "hung_phase": rec.get("hung_phase"), "unfinished_workers": rec.get("unfinished_workers"),
            # The parent's time limit only fires when the watchdog did not: then run_one reports a problem.
            "ended_by": "parent time limit" if problem else ("watchdog" if rec.get("outcome") == "hung" else None),
            "cell_processes_left": left, "next_cell": {"strategy": after.strategy, "outcome": next_rec.get("outcome"),
                                                       "errors": next_rec.get("errors"), "problem": next_problem},
        }
        emit(server.scrub(_fault_record("hang", cell, rec, problem, **extra)))


class _RssSampler:
    """Samples the resident memory of the running cell process, ``RSS_INTERVAL`` apart, on a thread."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ctxbench-rss", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            for proc in _cell_processes():
                try:
                    self.samples.append((time.monotonic(), int(proc.memory_info().rss)))
                except psutil.Error:
                    pass
            self._stop.wait(RSS_INTERVAL)

    def stop(self) -> list[tuple[float, int]]:
        self._stop.set()
        self._thread.join()
        return self.samples


def peak_bound_mib(duration: float, warmup: float, concurrency: int) -> float:
    """The soak's bound on peak RSS: the cell's preallocated latency stamps, plus so much per worker, plus a base."""
    from bench.cell.db import stamp_capacity

    per_worker = stamp_capacity(warmup + duration, concurrency)
    stamps = per_worker * 3 * 8 * concurrency
    return round(stamps / 1024 / 1024 + SOAK_MIB_PER_WORKER * concurrency + SOAK_BASE_MIB, 1)


def _ramp_end(samples: Sequence[tuple[float, int]], earliest: float, end: float) -> float | None:
    """The first sample time from ``earliest`` after which memory grows less than the ramp rate over the probe span; None if none does."""
    limit = SOAK_RAMP_MIB_S * SOAK_RAMP_PROBE_S * 1024 * 1024
    for i, (t, rss) in enumerate(samples):
        if t < earliest or t + SOAK_RAMP_PROBE_S > end:
            continue
        later = next((r for u, r in samples[i:] if u >= t + SOAK_RAMP_PROBE_S), None)
        if later is not None and later - rss < limit:
            return t
    return None


def rss_summary(samples: Sequence[tuple[float, int]], window: Sequence[float], *, bound_mib: float = SOAK_RSS_GROWTH_MIB,
                peak_bound: float | None = None) -> dict[str, Any]:
    """Resident memory over the measured window: settled, end, peak, growth after settling, and the verdict against the bounds."""
    mib = 1024.0 * 1024.0
    start, end = float(window[0]), float(window[1])
    earliest = start + SOAK_SETTLE * (end - start)
    settled_at = _ramp_end(samples, earliest, end)
    note = None
    if settled_at is None or settled_at > start + (end - start) / 2:
        note = ("memory was still growing by more than {:g} MiB/s {}".format(
            SOAK_RAMP_MIB_S, "at the end of the window" if settled_at is None else "in the first half of the window"))
        settled_at = earliest  # report the growth from the usual point; the verdict is a failure anyway
    inside = [(t, rss) for t, rss in samples if settled_at <= t <= end]
    if len(inside) < 2:
        return {"samples": len(samples), "within_bound": None, "bound_growth_mib": bound_mib, "note": "too few samples inside the window"}
    settled, last = inside[0][1], inside[-1][1]
    peak = max(rss for _, rss in samples)
    growth = (max(rss for _, rss in inside[-max(1, len(inside) // 10):]) - settled) / mib  # the last tenth's peak vs settled
    ok = note is None and growth <= bound_mib and (peak_bound is None or peak / mib <= peak_bound)
    return {
        **({"note": note} if note else {}),
        "samples": len(samples), "interval_s": RSS_INTERVAL, "settle_s": round(settled_at - start, 1),
        "window_start_mib": round(min((rss for t, rss in samples if t >= start), default=0) / mib, 1),
        "settled_mib": round(settled / mib, 1), "window_end_mib": round(last / mib, 1), "peak_mib": round(peak / mib, 1),
        "growth_mib": round(growth, 1), "bound_growth_mib": bound_mib, "bound_peak_mib": peak_bound, "within_bound": ok,
        "series_mib": [[round(t - start, 1), round(rss / mib, 1)] for t, rss in samples],
    }


def _soak(server: FaultServer, plan: FaultPlan, emit: Emit, say: Say) -> None:
    """Long cells at high concurrency: memory stays within the bound, no connection leaks, no error."""
    for strategy, load, concurrency in plan.soak_cells:
        cell = Cell("db", strategy, load, concurrency)
        say(f"soak: {cell.label()} for {plan.soak_duration:g} s")
        sampler = _RssSampler()
        try:
            rec, problem = _start_cell(server, cell, duration=plan.soak_duration, warmup=SOAK_WARMUP, hang_after=FAULT_HANG_AFTER).result()
        finally:
            samples = sampler.stop()
        window = (rec.get("timeline") or {}).get("window") or [0.0, 0.0]
        rss = rss_summary(samples, window, peak_bound=peak_bound_mib(plan.soak_duration, SOAK_WARMUP, concurrency))
        extra = {"duration_s": plan.soak_duration, "rss_mib": rss, "within_bound": rss.get("within_bound"),
                 "storage_growths": rec.get("storage_growths"), "open_after_close": rec.get("open_after_close")}
        emit(server.scrub(_fault_record("soak", cell, rec, problem, **extra)))


# --- the whole run


@contextmanager
def fault_server(say: Say, *, environment: dict[str, Any] | None = None) -> Iterator[FaultServer]:
    """A private server for the faults, stopped (and its folder removed) however the block ends."""
    import bench.server as mysql

    try:
        handle = mysql.start_private_server(progress=say)
    except mysql.ServerUnavailable as exc:
        raise UsageError(f"fault scenarios need a private server they may kill: {exc.reason}") from None
    with handle:
        server = FaultServer(handle)
        try:
            if environment is not None:
                info = mysql.server_info(handle.target)
                environment["server"] = {"found": True, "path_taken": handle.path_taken, "ephemeral": True, **info}
            yield server
        finally:
            server.close()


def run_faults(plan: FaultPlan, *, on_record: Emit | None = None, say: Say | None = None,
               environment: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run ``plan``'s scenarios against a private server; return the ``fault`` records (also given to ``on_record``)."""
    validate(plan)
    tell = say or (lambda _line: None)
    records: list[dict[str, Any]] = []

    def emit(rec: dict[str, Any]) -> None:
        records.append(rec)
        if on_record:
            on_record(rec)

    with fault_server(tell, environment=environment) as server:
        try:
            for scenario in plan.scenarios:
                if scenario in ("kill", "restart"):
                    _server_fault(server, plan, scenario, emit, tell)
                elif scenario == "max-connections":
                    _max_connections(server, plan, emit, tell)
                elif scenario == "hang":
                    _hang(server, plan, emit, tell)
                elif scenario == "soak":
                    _soak(server, plan, emit, tell)
        except BaseException:
            kill_cells()  # Ctrl-C or SIGTERM: the cell running in a thread goes too; the server goes with the block
            raise
    return records


def findings(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """One warning line per broken promise: a leaked connection, a crashed cell, a soak over its bound, a hang not ended."""
    lines = []
    for rec in records:
        where = f"{rec['scenario']} {rec['strategy']} {rec['load']} c={rec['concurrency']}"
        if rec.get("leaked_connections"):
            lines.append(f"{where}: the server still held {rec['leaked_connections']} connection(s) after the cell ended")
        if rec["scenario"] not in ("kill", "restart") and rec.get("open_after_close"):  # counters reset on a restart
            lines.append(f"{where}: the strategy's close() left {rec['open_after_close']} connection(s) open")
        if rec.get("problem"):
            lines.append(f"{where}: {rec['problem']}")
        if rec["scenario"] == "max-connections" and rec.get("crashed"):
            lines.append(f"{where}: the cell crashed instead of counting errors")
        if rec["scenario"] == "soak":
            if rec.get("within_bound") is False:
                rss = rec["rss_mib"]
                lines.append(f"{where}: resident memory grew {rss['growth_mib']} MiB over the window (bound {rss['bound_growth_mib']}) "
                             f"and peaked at {rss.get('peak_mib')} MiB (bound {rss.get('bound_peak_mib')})")
            if rec.get("error_count") or rec.get("wrong_results"):
                lines.append(f"{where}: {rec['error_count']} errors and {rec['wrong_results']} wrong results in the soak")
        if rec["scenario"] == "hang" and (rec.get("outcome") != "hung" or rec.get("cell_processes_left")):
            lines.append(f"{where}: outcome {rec.get('outcome')}, cell processes left {rec.get('cell_processes_left')}")
    return lines


def _fmt(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value}{unit}"


def _errors_text(errors: Mapping[str, int], codes: Mapping[str, int]) -> str:
    """``OperationalError 9 (2013: 8, 2003: 1), InterfaceError 13 (0: 13)``: class, count, and the error numbers within it."""
    parts = []
    for label, count in sorted(errors.items(), key=lambda item: -item[1]):
        within = {key[len(label) + 1:]: n for key, n in codes.items() if key.startswith(label + ":")}
        detail = f" ({', '.join(f'{code}: {n}' for code, n in sorted(within.items(), key=lambda item: -item[1]))})" if within and label != "server:1040" else ""
        parts.append(f"{label} {count}{detail}")
    return ", ".join(parts) or "none"


def fault_rows(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """A terminal table: one row per fault cell."""
    header = ["scenario", "strategy", "load", "c", "errors by class", "first error", "recovered", "recovery", "after/before", "leaked", "notes"]
    rows = []
    for rec in records:
        errors = _errors_text(rec.get("errors") or {}, rec.get("error_codes") or {})
        scenario = rec["scenario"]
        if scenario == "max-connections":
            notes = f"max_connections {rec['max_connections']}, threads {rec['threads_connected_before']}->{rec['threads_connected_after']}"
        elif scenario == "hang":
            notes = f"{rec.get('outcome')} after {rec.get('cell_wall_s')} s by {rec.get('ended_by')}; next cell {rec['next_cell']['outcome']}"
        elif scenario == "soak":
            rss = rec.get("rss_mib") or {}
            notes = (f"{rec.get('ops_per_s')} ops/s; RSS {rss.get('settled_mib')}->{rss.get('window_end_mib')} MiB "
                     f"(+{rss.get('growth_mib')}, bound {rss.get('bound_growth_mib')}), peak {rss.get('peak_mib')} (bound {rss.get('bound_peak_mib')})")
        else:
            notes = f"down {rec.get('downtime_s')} s, server back in {rec.get('restart_s')} s" if rec.get("downtime_s") is not None else str(rec.get("fault_not_injected") or "")
        recovered = rec.get("recovered")
        rows.append([scenario, rec["strategy"], rec["load"], str(rec["concurrency"]), errors, _fmt(rec.get("time_to_first_error_s"), " s"),
                     "-" if recovered is None else ("yes" if recovered else "NO"), _fmt(rec.get("recovery_s"), " s"),
                     _fmt(rec.get("throughput_after_ratio")), _fmt(rec.get("leaked_connections")), notes])
    return header, rows
