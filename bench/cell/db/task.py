"""Cell task ``db`` / ``request``: set up, run the workers, judge and time them, return one record.

Setup creates and seeds the schema and measures what reading the server's
counters costs (two reads back to back); the counters are read again before
the strategy is built, after the workers end, and after ``close()``.  The
statements the workload issued are reconciled with the statements the server
executed: a surplus is what a strategy adds behind the application's back
(``ROLLBACK`` on return, ``SET AUTOCOMMIT`` per connection; pings show in
``Com_admin_commands``).  Under a fault the reads after the run and ``close()``
may fail: the record notes it under ``teardown_problems``.  Every string in
the record is scrubbed of the password before it leaves.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from bench.cell.db.aloop import aserve, run_aworker
from bench.cell.db.counters import CounterReader, counter_deltas
from bench.cell.db.drivercell import connect_cost, driver_fields, select_driver
from bench.cell.db.hub import HubTicker
from bench.cell.db.loop import run_worker, serve
from bench.cell.db.start import SharedStart
from bench.cell.db.state import Run, RunSettings
from bench.cell.db.summary import correctness, summarise_timing, timeline
from bench.cell.db.target import Target, is_unreachable
from bench.cell.db.waits import WaitTracker
from bench.cell.db.watchdog import Watchdog
from bench.cell.db.workload import ANCHOR_MIX, DEFAULT_MIX, check_mix, classify, ensure_schema, mix_cycle, one_line
from bench.cell.drivers import Driver, DriverError
from bench.cell.loads import Gevent, Load, LoadMismatch
from bench.cell.strategies import Strategy, build_strategy, check_product, settings_of
from bench.plan.specs import DbTask
from bench.records.kinds import UNSET, DbRecord, RequestRecord, known
from bench.records.merge import Workload
from bench.records.schema import to_json
from bench.records.scrub import scrub
from bench.server.procinfo import process_cpu_s

DEFAULT_WARMUP = 0.5
def _base_record(spec: DbTask, target: Target, kind: str, mix: Mapping[str, int]) -> Workload:
    """The cell's record before it ran: coordinates, settings, and every field a finished cell fills (as None)."""
    fields: dict[str, Any] = {
        "strategy": spec.strategy, "load": spec.load, "concurrency": int(spec.concurrency),
        "duration_s": None if spec.duration is None else float(spec.duration), "warmup_s": float(spec.warmup),
        "ops_requested": known(spec.ops), "mix": dict(mix), "settings": settings_of(spec.strategy, spec.load),
        "server_url": target.redacted_url(), "target_source": target.source, "connect_options": dict(target.options),
        # Filled below, by the watchdog, or (ceiling) by the parent; present in every record.
        "outcome": "", "ops": None, "ops_per_s": None, "latency_ms": None, "latency_hist": None, "pool_wait_ms": None,
        "connect_ms": None, "errors": {}, "wrong_results": 0, "connections_used": None, "server": None,
        "client_statements": None, "server_ceiling_ops_per_s": None, "ratio_to_ceiling": None,
    }
    if spec.idle_gaps is not UNSET:  # echoed only when given: records of cells without gaps are as they were
        fields["idle_gaps"] = [[float(start), float(length)] for start, length in spec.idle_gaps]
    if kind == "request":
        return RequestRecord(impl=str(known(spec.impl)), **fields)
    return DbRecord(**fields)


def _failed(outcome: str, what: str, exc: BaseException) -> dict[str, Any]:
    """The fields of a cell that ended before its workers ran."""
    return {"outcome": outcome, "reason": one_line(f"{what} failed: {classify(exc)}: {exc}"),
            "errors": {classify(exc): 1}, "wrong_results": 0, "ops": 0}


def _setup(target: Target, counters: CounterReader) -> dict[str, int]:
    """Create the schema; return what one counter read costs (raises the driver's error)."""
    import pymysql

    admin = pymysql.connect(**target.connect_kwargs(), autocommit=False)
    try:
        ensure_schema(admin)
    finally:
        admin.close()
    first = counters.read()
    return counter_deltas(first, counters.read(), {})


def _impl_factory(spec: DbTask, kind: str) -> Callable[[], Any] | None:
    """The Local a ``request`` cell builds its ``LocalStack`` on (None for ``db``)."""
    if kind != "request":
        return None
    import localimpls

    return localimpls.resolve(str(known(spec.impl)))


def _new_run(spec: DbTask, kind: str, strategy: Strategy, mix: Mapping[str, int], load: Load,
             impl_factory: Callable[[], Any] | None) -> Run:
    duration, ops = spec.duration, known(spec.ops)
    if duration is None and ops is None:
        duration = 1.0
    greenlets = isinstance(load, Gevent)
    group = known(spec.group)
    return Run(strategy, RunSettings(
        concurrency=int(spec.concurrency), warmup=float(spec.warmup),
        duration=None if duration is None else float(duration), ops=None if ops is None else int(ops),
        cycle=mix_cycle(mix), nonce=os.urandom(4).hex(), record=spec.record, scenario=kind,
        impl_factory=impl_factory, greenlets=greenlets, shared_start=SharedStart(group, greenlets) if group else None,
        server_pid=spec.server_pid,
        idle_gaps=None if spec.idle_gaps is UNSET else tuple((float(a), float(b)) for a, b in spec.idle_gaps)))


def _work(run: Run, load: Load, strategy: Strategy, counters: CounterReader | None, watchdog: Watchdog,
          ticker: HubTicker | None = None) -> dict[str, Any]:
    """Run the workers (and the hub's ticker beside them), then read the counters (unless None: one of several
    processes) around ``close()``."""
    if load.async_io:  # tasks on the load's event loop, which also builds and closes the strategy
        abody = aserve if run.scenario == "request" else run_aworker
        load.run_async(lambda i: abody(run, i), run.concurrency, ticker.run_task if ticker else None)
    else:
        body = serve if run.scenario == "request" else run_worker
        load.run_blocking(lambda i: body(run, i), run.concurrency, ticker.run_greenlet if ticker else None)
    if ticker is not None:
        ticker.stop()
    cpu_end = time.process_time()
    server_cpu_end = process_cpu_s(run.server_pid)
    load.settle()
    run.phase = "after"
    # Under a fault (server killed, full, restarted) these can fail: the record says so, the cell still ends.
    problems: dict[str, str] = {}
    after = counters.read_or_note("after_run", problems) if counters else {}
    run.phase = "close"
    try:
        load.resolve(strategy.close())
    except Exception as exc:  # closing over a dead server: noted, nothing left to release
        problems["close"] = one_line(f"{classify(exc)}: {exc}")
    load.close()
    run.phase = "closed"
    closed = counters.read_or_note("after_close", problems) if counters else {}
    if counters:
        counters.close()
    watchdog.disarm()
    return {"cpu_end": cpu_end, "server_cpu_end": server_cpu_end, "after": after, "closed": closed,
            "problems": problems}


def _server_fields(before: dict[str, int], seen: dict[str, Any], self_cost: dict[str, int],
                   correct: dict[str, Any]) -> dict[str, Any]:
    """The server's counters and the statement reconciliation."""
    after, closed = seen["after"], seen["closed"]
    deltas = counter_deltas(before, after, self_cost)
    server_statements = deltas.get("Questions")
    surplus = None if server_statements is None else server_statements - correct["client_statements"]
    return {
        "server": {
            "deltas": deltas,
            "threads_connected": {"before": before.get("Threads_connected"),
                                  "after_run": after.get("Threads_connected"),
                                  "after_close": closed.get("Threads_connected")},
            "max_used_connections": {"before": before.get("Max_used_connections"),
                                     "after": after.get("Max_used_connections")},
            "counter_self_cost": self_cost,
        },
        "server_statements": server_statements,
        "statement_surplus": surplus,
        "surplus_per_op": (round(surplus / correct["ops_total"], 3)
                           if surplus is not None and correct["ops_total"] else None),
        "open_after_close": (closed.get("Threads_connected", 0) - before.get("Threads_connected", 0)
                             if "Threads_connected" in closed and "Threads_connected" in before else None),
    }


def _result(run: Run, seen: dict[str, Any], build_ms: float) -> dict[str, Any]:
    """Timing, correctness and the client's costs of a finished run."""
    timing = summarise_timing(run) if run.record else {"ops": None, "ops_per_s": None}
    correct = correctness(run)
    first = timing.get("first_checkout_ms", {})
    ready = run.t_ready - run.t_start if run.t_ready is not None and run.t_start is not None else None
    return {
        **timing,
        **correct,
        "connect_ms": {"build": round(build_ms, 3), "first_checkout_p50": first.get("p50"),
                       "first_checkout_max": first.get("max"),
                       "all_ready": None if ready is None else round(ready * 1e3, 3)},
        "ready_barrier_timeouts": run.ready.timeouts,
        # Client CPU (every thread of this process) per operation after the connect phase: what a
        # strategy costs the client, unlike ops/s hardly moved by other work on a shared box.
        "client_cpu_us_per_op": (round((seen["cpu_end"] - run.cpu_go) / correct["ops_total"] * 1e6, 2)
                                 if run.cpu_go is not None and correct["ops_total"] else None),
        # CPU seconds from the start (warm-up included) to the workers' end: this process's, and the server's
        # when it runs on this machine and its process was found (None otherwise).
        "client_cpu_s": round(seen["cpu_end"] - run.cpu_go, 4) if run.cpu_go is not None else None,
        "server_cpu_s": (round(seen["server_cpu_end"] - run.server_cpu_go, 4)
                         if run.server_cpu_go is not None and seen["server_cpu_end"] is not None else None),
        "server_pid": run.server_pid,
    }


def _group_fields(run: Run) -> dict[str, Any]:
    """What one of several processes reports for the merge: who it is, its window, its connections' ids."""
    if run.shared_start is None:
        return {}
    ids: set[int] = set()
    for st in run.states:
        ids |= set(st.ids)
    return {"process_index": run.shared_start.index, "pid": os.getpid(), "t_go": run.t_go,
            "window": list(run.window), "start_sync": run.shared_start.facts(), "connection_ids": sorted(ids)}


def _hung_record(run: Run, rec: Workload, hang_after: float, strategy_facts: dict[str, Any],
                 password: str, extra: Callable[[], dict[str, Any]],
                 ticker: HubTicker | None = None) -> Callable[[], dict[str, Any]]:
    """What the watchdog writes when the workers stop making progress (the record's JSON form: the cell's edge).

    ``extra()`` adds what the cell was asked to track (the timeline so far, the operations' waits); a stuck hub's
    stall, still going on, counts in its ``hub`` fields.
    """

    def hung() -> dict[str, Any]:
        unfinished = sum(1 for flag in run.finished if not flag)
        partial = {key: value for key, value in correctness(run).items() if key != "client_statements"}
        fields = {"outcome": "hung", "hung_phase": run.phase, "hang_after_s": hang_after,
                  "unfinished_workers": unfinished, "ops": None, "server": None, "strategy_facts": strategy_facts,
                  **_group_fields(run), **extra(),
                  **(ticker.fields(time.perf_counter()) if ticker is not None else {})}
        return to_json(scrub(rec.replace(**partial, **fields), password))

    return hung


def _tracked(spec: DbTask, run: Run) -> tuple[WaitTracker | None, Callable[[], dict[str, Any]]]:
    """The wait tracker the spec asks for (or None), and what a hung record adds: the timeline so far, the waits."""
    bound = known(spec.wait_bound)
    tracker = WaitTracker(run, float(bound)) if bound is not None else None

    def extra() -> dict[str, Any]:
        fields: dict[str, Any] = {"timeline": timeline(run, live=True)} if spec.timeline else {}
        if tracker is not None:
            fields["op_waits"] = tracker.summary(time.monotonic())
        return fields

    return tracker, extra
def _with_driver(spec: DbTask, target: Target, rec: Workload) -> tuple[Driver | None, Workload, dict[str, Any]]:
    """Select the cell's driver and time its connect: (driver, the record with its fields, {} -- or the fields of a
    cell that cannot run: ``skipped`` when the driver is not installed here)."""
    try:
        driver = select_driver(spec)
    except DriverError as exc:
        return None, rec, {"outcome": "skipped", "reason": one_line(str(exc)), "ops": 0, "wrong_results": 0}
    if driver is None:
        return None, rec, {}
    cost = connect_cost(driver, target.connect_kwargs())  # first: the facts then name the connection class that ran
    fields = driver_fields(driver)
    fields.pop("error_classes")
    return driver, rec.replace(**fields, connect_close_ms=cost), {}


def _build(spec: DbTask, target: Target, load: Load, refused: dict[str, Any]) -> tuple[Strategy, float]:
    """The cell's strategy (built on the load's loop) and the milliseconds that took; raises what building raised,
    or, when the cell's driver was refused, at once."""
    if refused:
        raise DriverError(str(refused.get("reason")))
    built = time.perf_counter()
    made = build_strategy(spec.strategy, target.connect_kwargs(), int(spec.concurrency), spec.load)
    strategy = check_product(spec.strategy, load.resolve(made))
    return strategy, (time.perf_counter() - built) * 1e3


def run_cell(spec: DbTask, load: Load, out_path: str) -> dict[str, Any]:
    """Cell task ``db`` / ``request``: one record (the watchdog writes a ``hung`` one to ``out_path`` itself)."""
    import pymysql

    kind = "request" if spec.task == "request" or known(spec.impl) else "db"
    target = Target.from_spec(spec)
    mix = check_mix(known(spec.mix) or (ANCHOR_MIX if kind == "request" else DEFAULT_MIX))
    if kind == "request":
        mix = dict(ANCHOR_MIX)
    rec = _base_record(spec, target, kind, mix)
    try:
        facts: dict[str, Any] = {"load": load.verify()}
    except LoadMismatch as exc:
        raise SystemExit(f"load {spec.load!r} is not what it claims: {exc}") from None
    hang_after = float(spec.hang_after)

    def finish(extra: dict[str, Any]) -> dict[str, Any]:
        return {"records": [scrub(rec.replace(**extra), target.password)], "facts": scrub(facts, target.password)}

    # One of several processes reads no server counters (it would count the others'): the parent does, once.
    grouped = bool(known(spec.group))
    counters = None if grouped else CounterReader(target)
    try:
        self_cost = _setup(target, counters) if counters else {}
    except pymysql.err.MySQLError as exc:
        return finish(_failed("skipped" if is_unreachable(exc) else "errors", "setup", exc))
    driver, rec, refused = _with_driver(spec, target, rec)  # its connects before the counters are read
    facts["counters_source"] = counters.source if counters else None
    impl_factory = _impl_factory(spec, kind)
    before = counters.read() if counters and not refused else {}
    try:
        strategy, build_ms = _build(spec, target, load, refused)
    except Exception as exc:  # the strategy could not even be built (or its driver not loaded): that is its result
        if counters:
            counters.close()
        return finish(refused or _failed("errors", "building the strategy", exc))
    strategy_facts = strategy.facts() if callable(getattr(strategy, "facts", None)) else {}
    run = _new_run(spec, kind, strategy, mix, load, impl_factory)
    tracker, extra = _tracked(spec, run)
    ticker = HubTicker(run) if load.has_hub else None
    hung = _hung_record(run, rec, hang_after, strategy_facts, target.password, extra, ticker)
    watchdog = Watchdog(run, hang_after, hung, out_path, tracker)
    seen = _work(run, load, strategy, counters, watchdog, ticker)
    if callable(getattr(strategy, "facts", None)):  # again after the run: some facts count what happened in it
        strategy_facts = strategy.facts()
    result = _result(run, seen, build_ms)
    bad = result["error_count"] or result["wrong_results"] or result["local_violations"]
    problems = seen["problems"]
    return finish({
        **result,
        **(_group_fields(run) if grouped else _server_fields(before, seen, self_cost, result)),
        "strategy_facts": strategy_facts,
        "hang_after_s": hang_after,
        **({"teardown_problems": problems} if problems else {}),
        **({"timeline": timeline(run)} if spec.timeline else {}),
        **({"op_waits": tracker.summary(time.monotonic())} if tracker is not None else {}),
        **driver_fields(driver, run), **(ticker.fields() if ticker is not None else {}),
        "outcome": "errors" if bad else "ok",
    })
