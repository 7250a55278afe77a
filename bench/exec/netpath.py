"""A cell over a network: the round trip measured, a delay proxy in front of the server for the cell, the record's
network fields.

What is promised
    :func:`network_path` measures the direct round trip to the server (:func:`bench.net.measure_rtt`, ``SELECT 1``
    pings).  For a round trip above 0 it then starts a delay proxy in front of the server
    (:func:`bench.net.delay_proxy`), measures through it at 0 (the proxy's own cost is that minus the direct round
    trip), sets the round trip and measures again: the round trip the cell runs at.  It yields a :class:`NetPath`:
    the ``target`` the cell's clients connect to (the proxy, or the server itself at 0) and the ``fields`` of the
    cell's record.  The proxy is ended when the block ends, however it ends (an error, Ctrl-C, SIGTERM).  Before it
    yields, the server has dropped the measuring connections again (within a second), so the caller's leak check
    starts from a settled count.

    :func:`run_over` runs one cell over such a path: the cell's own function gets the path's target, its record gets
    the path's fields (and the real server's URL); a path that cannot be set up is the cell's failure, in one line,
    never an exception.  What only the server can say -- the leak check, the server's pid and CPU, the counters the
    parent reads, the ``mysqlslap`` ceiling -- stays with the caller, on the real target.

    :func:`in_flight` is how many operations can wait on the network at once; the record's ``rtt_bound_ops_per_s`` is
    that over the measured round trip: what the network alone allows if every operation were one round trip.

Why
    A setting is not a measurement: the proxy's own two hops and its sleeps' overshoot add to what was asked for, so
    every chart and table reads the measured round trip, and the direct one and the proxy's cost stand beside it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from bench.cell.loads import ASYNC_DB_LOADS
from bench.cell.strategies import STRATEGIES
from bench.exec.dbcell import leak_check, threads_connected
from bench.net import ProxyError, Rtt, delay_proxy, measure_rtt
from bench.records.kinds import DbRecord, Record, RequestRecord

R = TypeVar("R", bound=Record)
#: Seconds the server gets to drop the measuring connections before the cell starts.
SETTLE_WAIT = 1.0


@dataclass(frozen=True)
class NetPath:
    """Where a cell's clients connect (``target``) and what its record says about the path (``fields``)."""

    target: Any
    fields: dict[str, Any]


def in_flight(strategy: str, load: str, total: int, processes: int = 1) -> int:
    """Operations that can wait on the network at once among ``total`` workers in ``processes`` processes.

    One per process for a strategy whose checkouts exclude each other (``exclusive_checkout``: one connection behind
    a lock), else every worker (a connection each, or a pool sized to the workers).  A strategy given as
    ``package.module:factory`` counts as every worker: the bound stays an upper bound.
    """
    info = STRATEGIES.get(strategy)
    if info is None:
        return total
    builder = info.abuild if load in ASYNC_DB_LOADS else info.build
    owner = getattr(builder, "__self__", builder)  # a classmethod's class, or the class itself
    return min(processes, total) if getattr(owner, "exclusive_checkout", False) else total


def _fields(rtt_set_ms: float, at: Rtt, direct: Rtt, cost: float | None, waiting: int) -> dict[str, Any]:
    return {"rtt_set_ms": float(rtt_set_ms), "rtt_ms": at.median_ms, "rtt_p10_ms": at.p10_ms, "rtt_p90_ms": at.p90_ms,
            "rtt_pings": at.pings, "rtt_direct_ms": direct.median_ms,
            "proxy_cost_ms": None if cost is None else round(cost, 4),
            "rtt_bound_ops_per_s": round(waiting * 1000.0 / at.median_ms, 1) if at.median_ms > 0 else None}


@contextlib.contextmanager
def network_path(target: Any, rtt_ms: float, waiting: int) -> Iterator[NetPath]:
    """The path to ``target`` (a ServerTarget) with ``rtt_ms`` added (0: direct), measured; ``waiting``: operations
    in flight at once, for the bound.  The proxy, if any, ends with the block."""
    before = threads_connected(target)
    direct = measure_rtt(target)
    if rtt_ms <= 0:
        leak_check(target, before, SETTLE_WAIT)
        yield NetPath(target, _fields(rtt_ms, direct, direct, None, waiting))
        return
    with delay_proxy(target) as proxy:
        at_zero = measure_rtt(proxy.target)
        proxy.set_rtt(rtt_ms)
        at_rtt = measure_rtt(proxy.target)
        leak_check(target, before, SETTLE_WAIT)
        yield NetPath(proxy.target, _fields(rtt_ms, at_rtt, direct, at_zero.median_ms - direct.median_ms, waiting))


def run_over(target: Any, rtt_ms: float, waiting: int, run: Callable[[Any], tuple[R, str | None]],
             failed: Callable[[str], R]) -> tuple[R, str | None]:
    """``run(path target)`` over the path :func:`network_path` sets up; its record with the path's fields.

    A path that cannot be set up (the proxy does not start or answer, the server does not answer a ping) gives
    ``failed(reason)`` and the reason as the error line.
    """
    import pymysql

    with contextlib.ExitStack() as stack:
        try:
            path = stack.enter_context(network_path(target, rtt_ms, waiting))
        except (ProxyError, OSError, pymysql.err.MySQLError) as exc:
            reason = f"network path (rtt {rtt_ms:g} ms) not set up: {type(exc).__name__}: {exc}".splitlines()[0]
            return failed(reason), reason
        rec, problem = run(path.target)
    extra: dict[str, Any] = {}
    if isinstance(rec, DbRecord | RequestRecord) and rec.server_url:  # the server's, not the proxy's address
        extra["server_url"] = target.redacted_url()
    return rec.replace(**path.fields, **extra), problem
