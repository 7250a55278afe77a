"""The partition again, done by the kernel: a private server in a network namespace, the veth link to it taken down.

The proxy's partition (:mod:`bench.faults.network`) holds every byte in user space; a real one drops packets and
leaves TCP to retransmit -- and a connect made during it meets it in its connect (no SYN-ACK), where the proxy's
completes the handshake and meets it in the read of the server's greeting.  Where this process may make network
namespaces (:func:`bench.net.namespace_unavailable`), :func:`link_down_partitions` runs the partition cells of
``plan.link_down`` a second time against a server inside a namespace (:func:`bench.net.namespaced_server`: only the
two link-local addresses of one /30, the namespace and its devices removed afterwards, Ctrl-C included), the host
end of the link down for ``plan.partition`` seconds.  Its records are ``partition`` records with ``path: "netns"``
(the proxy's: ``"proxy"``); the resilience findings say whether each strategy got the same verdict both ways.

The parent's own connections to that server cross the same link: it reads nothing from it while the link is down.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from bench.faults.fixtures import FaultServer
from bench.faults.netjudge import NetFault, net_fields
from bench.faults.network import INJECT, Via, settler
from bench.faults.plan import NET_FLOWING_SELECTS, NET_HANG_AFTER, NET_LEAD, NET_STUCK_AFTER, NET_WARMUP, FaultPlan
from bench.faults.record import Emit, fault_record
from bench.faults.running import start_cell, wait_flowing
from bench.plan.cells import Cell
from bench.present.resilience import verdict
from bench.records.kinds import FaultRecord

log = logging.getLogger(__name__)

#: Seconds the parent lets the server drop a finished cell's connections after the link is back, before its own
#: leak check: TCP retransmits a FIN sent during the cut only after its backoff (up to about 6.8 s after a 6 s cut).
TCP_SETTLE = 10.0


@contextlib.contextmanager
def _namespaced_fault_server() -> Iterator[tuple[Any, FaultServer]]:
    """A namespace, a private server inside it and the faults' application account on it (from the host's end)."""
    from bench.net import namespaced_server

    with namespaced_server() as (ns, handle):
        server = FaultServer(handle, client_address=ns.host_address)
        try:
            yield ns, server
        finally:
            server.close()


def _cut(ns: Any, seconds: float) -> NetFault:
    """The host end of the link down for ``seconds``, then up again once it carries packets."""
    fault_at = time.monotonic()
    ns.link_down()
    try:
        time.sleep(max(0.0, fault_at + seconds - time.monotonic()))
    finally:
        ns.link_up()
    return NetFault(fault_at, time.monotonic(), {"partition_s": seconds})


def _link_down_cell(ns: Any, server: FaultServer, plan: FaultPlan, cell: Cell) -> FaultRecord:
    """One partition cell against the namespaced server, the link cut about ``NET_LEAD`` s into its window."""
    healed = threading.Event()
    base = server.status("Com_select")
    # A cell killed by its watchdog during the cut closed its sockets then: their FINs cross once TCP sends them
    # again after the link is back (its backoff: seconds), and only then does the server drop them.
    running = start_cell(Via(server.app, server.root), cell, duration=INJECT["partition"][1](plan), warmup=NET_WARMUP,
                         hang_after=NET_HANG_AFTER, settle=settler(server, healed, TCP_SETTLE),
                         extra={"wait_bound": NET_STUCK_AFTER, "server_pid": server.handle.pid})
    fault = None
    try:
        if wait_flowing(server, running, base, cell.concurrency, selects=NET_FLOWING_SELECTS):
            time.sleep(NET_WARMUP + NET_LEAD)
            fault = _cut(ns, plan.partition)
    finally:
        healed.set()
    outcome = running.result()
    if fault is None:
        return fault_record("partition", cell, outcome, path="netns",
                            fault_not_injected="the cell's workload never reached the server")
    return fault_record("partition", cell, outcome, path="netns", **net_fields(outcome[0], fault))


def link_down_partitions(plan: FaultPlan, emit: Emit) -> None:
    """The kernel-level partition for each of ``plan.link_down`` x load, or one line saying why it cannot be done."""
    from bench.net import namespace_unavailable

    if not plan.link_down:
        return
    reason = namespace_unavailable()
    if reason is not None:
        log.warning(f"partition with the link down not run: {reason}")
        return
    with _namespaced_fault_server() as (ns, server):
        log.info(f"partition with the link down: a private server at {ns.ns_address} in namespace {ns.name}")
        for load in plan.loads:
            for strategy in plan.link_down:
                cell = Cell("db", strategy, load, plan.concurrency)
                log.info(f"partition (link down): {cell.label()}")
                rec = _link_down_cell(ns, server, plan, cell)
                emit(server.scrub(rec.replace(verdict=verdict(rec))))
