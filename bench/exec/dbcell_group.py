"""The parent side of a database cell of several processes: the server read once, the window watched, one record.

With P > 1 (``--processes``) the processes of a cell do not read the server's counters (each would count the
others'): the parent reads them once before it starts the processes and once after every one has ended, and
reconciles the server's statements with the sum of the processes' client statements as a one-process cell does
(``statement_surplus``, ``surplus_per_op``; its own reads of ``Threads_connected`` during the window are
subtracted).  During the window it reads ``Threads_connected`` (bounded: every :data:`THREADS_POLL_INTERVAL`
until the window's end) over a connection of its own, and the server process's CPU at the start and at the
window's end when the server runs on this machine.  ``Max_used_connections`` is read before and after, never
flushed (it may be a user's server).  The leak check runs once, after all.  The processes' records are merged by
:func:`bench.records.merge.merge_processes`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from bench.cell.db import ensure_schema
from bench.cell.db.counters import CounterReader, counter_deltas
from bench.cell.db.target import Target, is_unreachable
from bench.exec import dbcell
from bench.exec.procgroup import GroupRun, run_group
from bench.exec.spawn import CellResult
from bench.plan.cells import Cell
from bench.plan.matrix import PROCESS_READY_WAIT, THREADS_POLL_INTERVAL
from bench.plan.specs import DbTask
from bench.records.kinds import UNSET, known
from bench.records.merge import Workload, merge_processes, process_reason
from bench.server.procinfo import process_cpu_s


class WindowWatch:
    """The server during a several-process cell's window: the peak of ``Threads_connected`` and its CPU."""

    def __init__(self, target: Target, server_pid: int | None, span: float,
                 interval: float = THREADS_POLL_INTERVAL) -> None:
        import pymysql

        self.server_pid = server_pid
        self.span = span
        self.interval = interval
        self._conn = pymysql.connect(**target.connect_kwargs(), autocommit=True, read_timeout=5, write_timeout=5)
        #: ``Threads_connected`` with this connection open, before any process started.
        self.baseline = self._read()
        self.peak: int | None = None
        #: Statements this watch sent during the cell (subtracted from the server's count).
        self.polls = 0
        self.cpu: list[float | None] = [None, None]
        self.problem: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> int:
        with self._conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
            row = cur.fetchone()
        return int(row[1])

    def begin(self, start: float) -> None:
        """Watch from ``start`` (perf_counter) for ``span`` seconds, in a thread of its own."""
        self._thread = threading.Thread(target=self._watch, args=(start,), name="ctxbench-window-watch", daemon=True)
        self._thread.start()

    def _watch(self, start: float) -> None:
        self._stop.wait(max(0.0, start - time.perf_counter()))
        self.cpu[0] = process_cpu_s(self.server_pid)
        end = start + self.span
        while not self._stop.is_set() and time.perf_counter() < end:
            try:
                self.polls += 1
                now = self._read()
            except Exception as exc:  # the server failed mid-cell: the peak so far stands, the reason is kept
                self.problem = f"{type(exc).__name__}: {exc}".splitlines()[0]
                break
            self.peak = now if self.peak is None else max(self.peak, now)
            self._stop.wait(min(self.interval, max(0.0, end - time.perf_counter())))
        self._stop.wait(max(0.0, end - time.perf_counter()))
        self.cpu[1] = process_cpu_s(self.server_pid)

    def finish(self) -> dict[str, Any]:
        """Stop watching (at once if the window is not over: the cell ended early); what was seen."""
        if self._thread is not None:
            self._thread.join(timeout=self.span + 5.0)
        self._stop.set()
        first, last = self.cpu
        return {"server_cpu_s": round(last - first, 4) if first is not None and last is not None else None,
                "threads_connected_peak": self.peak, "threads_connected_baseline": self.baseline,
                "watch_problem": self.problem}

    def close(self) -> None:
        """Close the watch's connection."""
        self._stop.set()
        try:
            self._conn.close()
        except Exception:  # already gone with the server: nothing to release
            pass


def _prepare(target: Target) -> tuple[CounterReader, dict[str, int]]:
    """Create the schema once (the processes find it ready) and measure what one counter read costs."""
    import pymysql

    admin = pymysql.connect(**target.connect_kwargs(), autocommit=False)
    try:
        ensure_schema(admin)
    finally:
        admin.close()
    counters = CounterReader(target)
    return counters, counter_deltas(counters.read(), counters.read(), {})


def _process_record(cell: Cell, i: int, pid: int, result: CellResult, group: GroupRun,
                    limit: float) -> Workload:
    """Process ``i``'s record, or a stub naming why it has none (hung, crashed, killed with its group)."""
    if result.records:
        return result.records[0].replace(process_index=i, pid=pid)  # type: ignore[no-any-return]
    if i in group.timed_out:
        outcome, reason = "hung", f"killed by the parent after {limit:.0f}s (its own watchdog did not end it)"
    elif i in group.killed:
        outcome, reason = "skipped", "ended by the parent with its group"
    else:
        outcome, reason = "errors", result.failure or "wrote no record"
    one = Cell(cell.kind, cell.strategy, cell.load, cell.concurrency, cell.impl)
    return dbcell.stub_record(one, outcome, reason, process_index=i, pid=pid,
                              errors={"process-crashed": 1} if outcome == "errors" else {})


def _server_fields(before: Mapping[str, int], after: Mapping[str, int], self_cost: Mapping[str, int],
                   seen: Mapping[str, Any], polls: int, rec: Workload) -> dict[str, Any]:
    """The server's counters once around the whole cell, reconciled with every process's client statements."""
    deltas = counter_deltas(before, after, self_cost)
    questions = deltas.get("Questions")
    server_statements = None if questions is None else questions - polls
    clients, ops_total = known(rec.client_statements), known(rec.ops_total)
    surplus = None if server_statements is None or clients is None else server_statements - clients
    peak, base = seen["threads_connected_peak"], seen["threads_connected_baseline"]
    return {
        "server": {
            "deltas": deltas, "counter_self_cost": dict(self_cost), "parent_statements": polls,
            "threads_connected": {"before": before.get("Threads_connected"),
                                  "after_run": after.get("Threads_connected"), "peak_in_window": peak, "baseline": base,
                                  "added_at_peak": None if peak is None else peak - base},
            "max_used_connections": {"before": before.get("Max_used_connections"),
                                     "after": after.get("Max_used_connections")},
        },
        "server_statements": server_statements,
        "statement_surplus": surplus,
        "surplus_per_op": round(surplus / ops_total, 3) if surplus is not None and ops_total else None,
        "open_after_close": (after["Threads_connected"] - before["Threads_connected"]
                             if "Threads_connected" in after and "Threads_connected" in before else None),
        "server_cpu_s": seen["server_cpu_s"],
    }


def _merged(cell: Cell, group: GroupRun, limit: float) -> tuple[Workload, str | None]:
    """The merged record of the group's processes, and an error line when the group did not run as one."""
    children = [_process_record(cell, i, pid, res, group, limit)
                for i, (pid, res) in enumerate(zip(group.pids, group.results, strict=True))]
    rec = merge_processes(children, cell.processes)
    rec.total_concurrency = cell.total_concurrency
    rec.start_sync = {**(rec.start_sync or {}), "ready_s": group.ready_s}
    if group.failure:
        failed = [c for c in children if c.outcome in ("hung", "errors")]
        worst = "hung" if any(c.outcome == "hung" for c in failed) or "not ready" in group.failure else "errors"
        detail = "; ".join(f"process {c.process_index}: {process_reason(c)}" for c in failed)
        rec.outcome, rec.reason = worst, group.failure + (f" ({detail})" if detail else "")
    elif group.timed_out:
        rec.outcome = "hung"
    # As for one process: the parent killing a process, or one crashing, is an error line; a process its own
    # watchdog ended ``hung`` is the cell's result, said in its record.
    crashed = any((c.errors or {}).get("process-crashed") for c in children)
    problem = f"{cell.label()}: {known(rec.reason)}" if group.failure or group.timed_out or crashed else None
    return rec, problem


def run_many(target: Any, cell: Cell, task: DbTask, *, limit: float,
             ceilings: dbcell.Ceilings | None = None) -> tuple[Workload, str | None]:
    """Run a cell of ``cell.processes`` processes; its merged record (with the parent's additions) and an error line.

    Every process must be ready within :data:`PROCESS_READY_WAIT` seconds (this module's, read when called).
    """
    import pymysql

    spec = task
    # The parent's own reads (schema, counters, the window's watch) go to the server itself, not through the path
    # the processes take (a delay proxy's, with --rtt).
    where = Target.from_spec(spec.replace(host=target.host, port=target.port))
    leak_before = dbcell.threads_connected(target)
    counters: CounterReader | None = None
    try:
        counters, self_cost = _prepare(where)
        watch = WindowWatch(where, spec.server_pid, float(spec.warmup) + float(spec.duration or 0.0))
    except pymysql.err.MySQLError as exc:
        if counters is not None:
            counters.close()
        outcome = "skipped" if is_unreachable(exc) else "errors"
        reason = f"setup failed: {type(exc).__name__}: {exc}".splitlines()[0]
        return dbcell.stub_record(cell, outcome, reason), f"{cell.label()}: {reason}"
    started = time.perf_counter()
    try:
        before = counters.read()
        group = run_group(spec, cell.processes, timeout=limit, ready_timeout=PROCESS_READY_WAIT,
                          on_start=watch.begin)
        seen = watch.finish()
        problems: dict[str, str] = {}
        after = counters.read_or_note("after_run", problems)
    finally:
        watch.close()
        counters.close()
    rec, problem = _merged(cell, group, limit)
    rec = rec.replace(**_server_fields(before, after, self_cost, seen, watch.polls, rec))
    if problems or seen["watch_problem"]:
        rec.teardown_problems = {**problems, **({"watch": seen["watch_problem"]} if seen["watch_problem"] else {})}
    rec.leaked_connections = dbcell.leak_check(target, leak_before)
    rec.cell_wall_s = round(time.perf_counter() - started, 3)
    dbcell.add_ceiling(rec, cell, ceilings or dbcell.Ceilings())
    facts = next((r.facts.get("load") for r in group.results if r.facts.get("load")), None)
    if facts and rec.load_facts is UNSET:
        rec.load_facts = facts
    return rec, problem
