"""The network faults: one ``db`` cell per strategy x load, talking to the private server through a delay proxy
(:mod:`bench.net`) that the parent starts for that cell and steers in the middle of its window.

``partition``
    The proxy stops forwarding both ways for ``--partition`` seconds (default 6: longer than the cell's 4 s
    watchdog), closing nothing, then heals: what waited is delivered, as after a real partition.
``reset``
    The proxy resets every relayed connection at once (an RST both ways), as a failover or a restarting proxy does.
``idle-timeout``
    The server's ``wait_timeout`` is set to 2 s (restored after) and the cell works 1 s, idles 2.5 s (its workers
    hold no connection and do nothing), works 1 s again: the pooled connections die in the gap.
``latency-spike``
    The proxy's round trip jumps from 0 to 200 ms for 2 s, then back.

Each cell's watchdog is 4 s and it tracks its operations' waits (``wait_bound``: :mod:`bench.cell.db.waits`); what
the record says is :mod:`bench.faults.netjudge`'s.  Its connections' closing is let through (the heal) before the
parent counts the server's connections, and the proxy is ended with the cell, however the cell ends.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bench.faults.fixtures import FaultServer
from bench.faults.netjudge import NetFault, idle_fields, net_fields
from bench.faults.plan import (
    IDLE_WAIT_TIMEOUT,
    NET_FLOWING_SELECTS,
    NET_HANG_AFTER,
    NET_LEAD,
    NET_MARGIN,
    NET_OBSERVE,
    NET_STUCK_AFTER,
    NET_WARMUP,
    PARTITION_OBSERVE,
    SPIKE,
    SPIKE_RTT_MS,
    FaultPlan,
    idle_duration,
    idle_gaps,
)
from bench.faults.record import Emit, fault_record
from bench.faults.running import settled_threads, start_cell, wait_flowing
from bench.net import DelayProxy, delay_proxy
from bench.plan.cells import Cell
from bench.present.resilience import verdict
from bench.records.kinds import FaultRecord

log = logging.getLogger(__name__)

#: Seconds the cell's thread waits at most for the heal before it counts the server's connections.
SETTLE_WAIT = 120.0
#: Seconds the server gets to drop a finished cell's connections (read on the parent's one admin connection),
#: before the leak check: after a reset the server's threads of the connections it lost take a moment to go, and
#: the leak check's own fresh connection per read would otherwise count the one before it.
DROP_WAIT = 5.0


def settler(server: FaultServer, healed: threading.Event, wait: float = DROP_WAIT) -> Callable[[], None]:
    """What the cell's thread runs between the cell's end and the leak check: wait for the heal, then (up to ``wait``
    seconds) for the server to hold no more connections than before the cell."""
    before = server.status("Threads_connected")

    def settle() -> None:
        if healed.wait(SETTLE_WAIT):
            settled_threads(server, before, wait=wait)

    return settle


@dataclass(frozen=True)
class Via:
    """What :func:`~bench.faults.running.start_cell` reads of a server: the cell's target (through the proxy, or a
    namespace's address) and root, straight to the server (the parent's checks never cross the fault)."""

    app: Any
    root: Any


def _partition(proxy: DelayProxy, plan: FaultPlan) -> NetFault:
    fault_at = time.monotonic()
    proxy.partition()
    try:
        time.sleep(max(0.0, fault_at + plan.partition - time.monotonic()))
    finally:
        proxy.heal()
    return NetFault(fault_at, time.monotonic(), {"partition_s": plan.partition})


def _reset(proxy: DelayProxy, plan: FaultPlan) -> NetFault:
    fault_at = time.monotonic()
    links = proxy.reset()["reset_links"]
    return NetFault(fault_at, time.monotonic(), {"reset_links": links})


def _spike(proxy: DelayProxy, plan: FaultPlan) -> NetFault:
    fault_at = time.monotonic()
    proxy.set_rtt(SPIKE_RTT_MS)
    try:
        time.sleep(max(0.0, fault_at + SPIKE - time.monotonic()))
    finally:
        proxy.set_rtt(0.0)
    return NetFault(fault_at, time.monotonic(), {"spike_rtt_ms": SPIKE_RTT_MS, "spike_s": SPIKE})


#: Scenario -> (what the parent does to the proxy, the cell's measured seconds for the plan).
INJECT: dict[str, tuple[Callable[[DelayProxy, FaultPlan], NetFault], Callable[[FaultPlan], float]]] = {
    "partition": (_partition, lambda plan: NET_LEAD + plan.partition + PARTITION_OBSERVE + NET_MARGIN),
    "reset": (_reset, lambda plan: NET_LEAD + NET_OBSERVE + NET_MARGIN),
    "latency-spike": (_spike, lambda plan: NET_LEAD + SPIKE + NET_OBSERVE + NET_MARGIN),
}


def _proxy_facts(proxy: DelayProxy) -> dict[str, Any] | None:
    try:
        stats = proxy.stats()
    except Exception:  # the proxy died with the fault: its counts are unknown, the record says so
        return None
    return {key: stats.get(key) for key in ("accepted", "resets", "links")}


def _proxied_cell(server: FaultServer, plan: FaultPlan, scenario: str, cell: Cell) -> FaultRecord:
    """One cell through a fresh proxy, the fault done to the proxy about ``NET_LEAD`` s into its window."""
    inject, duration = INJECT[scenario]
    healed = threading.Event()
    with delay_proxy(server.app) as proxy:
        base = server.status("Com_select")
        running = start_cell(Via(proxy.target, server.root), cell, duration=duration(plan), warmup=NET_WARMUP,
                             hang_after=NET_HANG_AFTER, settle=settler(server, healed),
                             extra={"wait_bound": NET_STUCK_AFTER, "server_pid": server.handle.pid})
        fault = None
        try:
            if wait_flowing(server, running, base, cell.concurrency, selects=NET_FLOWING_SELECTS):
                time.sleep(NET_WARMUP + NET_LEAD)
                fault = inject(proxy, plan)
        finally:
            healed.set()
        outcome = running.result()
        facts = _proxy_facts(proxy)
    if fault is None:
        return fault_record(scenario, cell, outcome, path="proxy", proxy=facts,
                            fault_not_injected="the cell's workload never reached the server")
    return fault_record(scenario, cell, outcome, path="proxy", proxy=facts, **net_fields(outcome[0], fault))


@contextlib.contextmanager
def _wait_timeout(server: FaultServer, seconds: int) -> Iterator[None]:
    """The server's global ``wait_timeout`` set to ``seconds`` for the block (new sessions take it), then restored."""
    (previous,) = server.execute("SELECT @@GLOBAL.wait_timeout")[0]
    server.execute(f"SET GLOBAL wait_timeout = {int(seconds)}")
    try:
        yield
    finally:
        server.execute(f"SET GLOBAL wait_timeout = {int(previous)}")


def _idle_cell(server: FaultServer, plan: FaultPlan, cell: Cell) -> FaultRecord:
    """Bursts of work with idle gaps longer than the server's ``wait_timeout``; the connections die in the gaps."""
    gaps = idle_gaps()
    healed = threading.Event()
    healed.set()  # nothing held: the network is whole throughout
    with delay_proxy(server.app) as proxy:
        running = start_cell(Via(proxy.target, server.root), cell, duration=idle_duration(), warmup=NET_WARMUP,
                             hang_after=NET_HANG_AFTER, settle=settler(server, healed),
                             extra={"wait_bound": NET_STUCK_AFTER, "server_pid": server.handle.pid, "idle_gaps": gaps})
        outcome = running.result()
        facts = _proxy_facts(proxy)
    return fault_record("idle-timeout", cell, outcome, path="proxy", proxy=facts,
                        **idle_fields(outcome[0], gaps, IDLE_WAIT_TIMEOUT))


def network_fault(server: FaultServer, plan: FaultPlan, scenario: str, emit: Emit) -> None:
    """One of the network scenarios: one cell per strategy x load, each record given to ``emit`` as it ends."""
    cells = [Cell("db", strategy, load, plan.concurrency) for load in plan.loads for strategy in plan.net_strategies]
    with _wait_timeout(server, IDLE_WAIT_TIMEOUT) if scenario == "idle-timeout" else contextlib.nullcontext():
        for cell in cells:
            log.info(f"{scenario}: {cell.label()}")
            rec = _idle_cell(server, plan, cell) if scenario == "idle-timeout" else \
                _proxied_cell(server, plan, scenario, cell)
            emit(server.scrub(rec.replace(verdict=verdict(rec))))
