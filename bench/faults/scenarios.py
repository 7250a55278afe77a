"""The fault scenarios: one ``db`` cell per strategy x load, one thing done to the server during each.

``kill``
    SIGKILL the server in the middle of the measured window, leave it down for ``down`` seconds,
    start it again on the same port and data directory; the cell goes on throughout.
``restart``
    The same, with a clean shutdown (SIGTERM, wait) instead of a crash.
``max-connections``
    ``max_connections`` lowered (restored afterwards) and each strategy run at twice that many
    workers; the server's ``Threads_connected`` is compared before and after every cell.
``hang``
    A pool whose checkout never returns: the cell's watchdog must end it as ``hung``, its process
    must be gone, and the next cell must run normally.
``soak``
    One long cell per load at high concurrency on ``pooled-tuned``: the cell process's resident
    memory is sampled and held to bounds (:mod:`bench.faults.soak`).
``partition``, ``reset``, ``idle-timeout``, ``latency-spike``
    The network fails instead of the server: :mod:`bench.faults.network`.

Every cell gives one :class:`~bench.records.kinds.FaultRecord` (:func:`fault_record`: ``scenario``,
``strategy``, ``load``, ``concurrency``, errors by class, ``wrong_results``, ``leaked_connections``, the cell's
``outcome``, ``latency_ms`` and its HDR histogram ``latency_hist`` (the cell's own: one cell per record, nothing
to merge), what the scenario measures, and the whole ``db`` record under ``cell``, in its JSON form), scrubbed of
both passwords and handed to ``on_record`` as the cell ends.  Progress lines go to this module's
logger.  The server's counters reset when it restarts, so kill and restart cells do not use the
cell's server-side deltas; their recovery comes from the timeline (:mod:`bench.faults.recovery`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt

from bench.faults.fixtures import HANG_STRATEGY, FaultServer, fault_server
from bench.faults.linkdown import link_down_partitions
from bench.faults.network import network_fault
from bench.faults.plan import (
    FAULT_HANG_AFTER,
    FAULT_WARMUP,
    HANG_CONCURRENCY,
    LEAD,
    MAXCONN_DURATION,
    MAXCONN_WARMUP,
    NETWORK_SCENARIOS,
    OBSERVED_AT_LEAST,
    SERVER_FAULT_ATTEMPTS,
    SOAK_WARMUP,
    FaultPlan,
    validate,
)
from bench.faults.record import Emit, fault_record
from bench.faults.recovery import recovery
from bench.faults.running import cell_processes, kill_cells, settled_threads, start_cell, wait_flowing
from bench.faults.soak import RssSampler, peak_bound_mib, rss_summary
from bench.plan.cells import Cell
from bench.records.kinds import FaultRecord, known

log = logging.getLogger(__name__)


# --- kill and restart


@dataclass(frozen=True)
class _Injected:
    """A server fault as the parent did it: when (``time.monotonic()``) and how long each step took."""

    fault_at: float  # the server was killed, or told to shut down
    back_at: float  # it took the login again
    stop_s: float
    restart_s: float

    @property
    def downtime_s(self) -> float:
        return round(self.back_at - self.fault_at, 3)


def _inject(server: FaultServer, plan: FaultPlan, scenario: str) -> _Injected:
    """Stop the server (SIGKILL or clean shutdown), keep it down ``plan.down`` s, start it again."""
    server.close()  # the admin connection would die with the server anyway
    fault_at = time.monotonic()
    if scenario == "kill":
        server.handle.kill()
    else:
        server.handle.terminate()
    stop_s = round(time.monotonic() - fault_at, 3)
    time.sleep(max(0.0, fault_at + plan.down - time.monotonic()))
    restart_s = round(server.handle.restart(), 3)
    return _Injected(fault_at, time.monotonic(), stop_s, restart_s)


def _server_fault_cell(server: FaultServer, plan: FaultPlan, scenario: str, cell: Cell) -> FaultRecord:
    """One cell with the server killed (or shut down) and restarted in its measured window."""
    if not server.handle.running:  # a previous cell's restart failed: try once more
        server.handle.restart()
    base = server.status("Com_select")
    running = start_cell(server, cell, duration=plan.duration, warmup=FAULT_WARMUP, hang_after=FAULT_HANG_AFTER)
    injected = None
    try:
        if wait_flowing(server, running, base, plan.concurrency):
            time.sleep(FAULT_WARMUP + LEAD)
            injected = _inject(server, plan, scenario)
    finally:
        if not server.handle.running:
            server.handle.restart()  # whatever happened, the next cell gets a server
    outcome = running.result()
    if injected is None:
        return fault_record(scenario, cell, outcome, down_s=plan.down,
                            fault_not_injected="the cell's workload never reached the server")
    fault = fault_record(scenario, cell, outcome, down_s=plan.down, stop_s=injected.stop_s,
                         restart_s=injected.restart_s, downtime_s=injected.downtime_s)
    timeline = known(outcome[0].timeline)
    if not timeline:
        return fault
    fault = fault.replace(**recovery(timeline, fault_at=injected.fault_at, back_at=injected.back_at))
    if timeline["window"][1] < injected.back_at + OBSERVED_AT_LEAST:
        fault = fault.replace(note=f"the window ended less than {OBSERVED_AT_LEAST:g} s after the server was back: "
                                   "recovery not observed")
    return fault


def _server_fault_with_rerun(server: FaultServer, plan: FaultPlan, scenario: str, cell: Cell) -> FaultRecord:
    """The cell, run once more if its window ended before the recovery could be seen; ``attempts`` says how often."""

    def announce(state: RetryCallState) -> None:
        again = f" (attempt {state.attempt_number}: recovery not observed the first time)"
        log.info(f"{scenario}: {cell.label()}" + (again if state.attempt_number > 1 else ""))

    attempts = Retrying(stop=stop_after_attempt(SERVER_FAULT_ATTEMPTS),
                        retry=retry_if_result(lambda f: known(f.note) is not None),
                        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
                        before=announce)
    fault: FaultRecord = attempts(_server_fault_cell, server, plan, scenario, cell)
    return fault.replace(attempts=attempts.statistics["attempt_number"])


def _server_fault(server: FaultServer, plan: FaultPlan, scenario: str, emit: Emit) -> None:
    """``kill`` and ``restart``: one cell per strategy x load, the fault in the middle of each."""
    for load in plan.loads:
        for strategy in plan.strategies:
            cell = Cell("db", strategy, load, plan.concurrency)
            emit(server.scrub(_server_fault_with_rerun(server, plan, scenario, cell)))


# --- max-connections, hang, soak


def _max_connections_cell(server: FaultServer, plan: FaultPlan, cell: Cell) -> FaultRecord:
    before = server.status("Threads_connected")
    outcome = start_cell(server, cell, duration=MAXCONN_DURATION, warmup=MAXCONN_WARMUP,
                         hang_after=FAULT_HANG_AFTER).result()
    after = settled_threads(server, before)
    rec = outcome[0]
    errors = rec.errors or {}
    max_used = ((rec.server or {}).get("max_used_connections") or {}).get("after")
    crashed = "cell-crashed" in errors or not rec.outcome or rec.outcome == "hung"
    return fault_record(
        "max-connections", cell, outcome, max_connections=plan.max_connections,
        errors_1040=errors.get("server:1040", 0), crashed=crashed, threads_connected_before=before,
        threads_connected_after=after, open_after_close=known(rec.open_after_close), max_used_connections=max_used,
    )


def _max_connections(server: FaultServer, plan: FaultPlan, emit: Emit) -> None:
    """Every strategy at twice ``max_connections``: 1040s counted, no crash, no connection left behind."""
    (previous,) = server.execute("SELECT @@GLOBAL.max_connections")[0]
    server.execute(f"SET GLOBAL max_connections = {int(plan.max_connections)}")
    try:
        for load in plan.loads:
            for strategy in plan.strategies:
                cell = Cell("db", strategy, load, 2 * plan.max_connections)
                log.info(f"max-connections {plan.max_connections}: {cell.label()}")
                emit(server.scrub(_max_connections_cell(server, plan, cell)))
    finally:
        server.execute(f"SET GLOBAL max_connections = {int(previous)}")


def _hang(server: FaultServer, plan: FaultPlan, emit: Emit) -> None:
    """A checkout that never returns: ended as hung by the cell's watchdog, its process gone, the next cell fine."""
    for load in plan.loads:
        cell = Cell("db", HANG_STRATEGY, load, HANG_CONCURRENCY)
        log.info(f"hang: {cell.label()}, hang_after {plan.hang_after:g} s")
        outcome = start_cell(server, cell, duration=1.0, warmup=0.0, hang_after=plan.hang_after).result()
        rec, problem = outcome
        left = [p.pid for p in cell_processes()]
        after = Cell("db", "pooled-tuned", load, HANG_CONCURRENCY)
        next_rec, next_problem = start_cell(server, after, duration=0.5, warmup=0.1,
                                            hang_after=FAULT_HANG_AFTER).result()
        emit(server.scrub(fault_record(
            "hang", cell, outcome, hang_after_s=plan.hang_after, hung_phase=known(rec.hung_phase),
            unfinished_workers=known(rec.unfinished_workers),
            # The parent's time limit only fires when the watchdog did not: then run_one reports a problem.
            ended_by="parent time limit" if problem else ("watchdog" if rec.outcome == "hung" else None),
            cell_processes_left=left,
            next_cell={"strategy": after.strategy, "outcome": next_rec.outcome, "errors": known(next_rec.errors),
                       "problem": next_problem},
        )))


def _soak(server: FaultServer, plan: FaultPlan, emit: Emit) -> None:
    """Long cells at high concurrency: memory stays within the bound, no connection leaks, no error."""
    for strategy, load, concurrency in plan.soak_cells:
        cell = Cell("db", strategy, load, concurrency)
        log.info(f"soak: {cell.label()} for {plan.soak_duration:g} s")
        sampler = RssSampler()
        try:
            outcome = start_cell(server, cell, duration=plan.soak_duration, warmup=SOAK_WARMUP,
                                 hang_after=FAULT_HANG_AFTER).result()
        finally:
            samples = sampler.stop()
        rec = outcome[0]
        window = (rec.timeline or {}).get("window") or [0.0, 0.0]
        rss = rss_summary(samples, window, peak_bound=peak_bound_mib(plan.soak_duration, SOAK_WARMUP, concurrency))
        emit(server.scrub(fault_record(
            "soak", cell, outcome, duration_s=plan.soak_duration, rss_mib=rss, within_bound=rss.get("within_bound"),
            storage_growths=known(rec.storage_growths), open_after_close=known(rec.open_after_close),
        )))


# --- the whole run


def run_faults(plan: FaultPlan, *, on_record: Emit | None = None,
               environment: dict[str, Any] | None = None) -> list[FaultRecord]:
    """Run ``plan``'s scenarios against a private server; return the ``fault`` records (also given to ``on_record``).

    ``environment``, if given, gets the private server's facts.  However the run ends (Ctrl-C,
    SIGTERM, an error), no cell process and no server is left behind.
    """
    validate(plan)
    records: list[FaultRecord] = []

    def emit(rec: FaultRecord) -> None:
        records.append(rec)
        if on_record:
            on_record(rec)

    with fault_server(environment=environment) as server:
        try:
            for scenario in plan.scenarios:
                if scenario in ("kill", "restart"):
                    _server_fault(server, plan, scenario, emit)
                elif scenario == "max-connections":
                    _max_connections(server, plan, emit)
                elif scenario == "hang":
                    _hang(server, plan, emit)
                elif scenario in NETWORK_SCENARIOS:
                    network_fault(server, plan, scenario, emit)
                    if scenario == "partition":
                        link_down_partitions(plan, emit)
                else:  # "soak": validate() let no other name through
                    _soak(server, plan, emit)
        except BaseException:
            kill_cells()  # the cell running in a thread goes too; the server goes with the block
            raise
    return records
