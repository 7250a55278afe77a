"""The round trip a cell actually ran at: ``SELECT 1`` pings through the path the cell uses, timed one by one.

A setting is not a measurement: the proxy's own cost (two more hops per round trip, a thread waking per chunk) and
the sleeps' overshoot add to what was asked for.  :func:`measure_rtt` opens one connection on ``target``, warms it
up, and times ``pings`` round trips of ``SELECT 1``; charts and tables use its median.  :func:`proxy_cost` is the
same measurement through a proxy set to 0 minus the direct one.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import msgspec

#: Round trips timed per measurement, and untimed ones first (the connection's first queries cost more).
PINGS = 60
WARMUP_PINGS = 5


class Rtt(msgspec.Struct, frozen=True):
    """A measured round trip (milliseconds): median, the 10th and 90th percentiles, and how many pings."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    pings: int

    def to_json(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)


def measure_rtt(target: Any, pings: int = PINGS, *, connect_timeout: float = 10.0) -> Rtt:
    """Time ``pings`` round trips of ``SELECT 1`` on one new connection to ``target`` (a ServerTarget)."""
    import pymysql

    conn = pymysql.connect(**target.connect_kwargs(), connect_timeout=connect_timeout, read_timeout=30)
    try:
        cur = conn.cursor()
        for _ in range(WARMUP_PINGS):
            cur.execute("SELECT 1")
            cur.fetchall()
        perf = time.perf_counter
        times = []
        for _ in range(pings):
            t0 = perf()
            cur.execute("SELECT 1")
            cur.fetchall()
            times.append((perf() - t0) * 1000.0)
    finally:
        conn.close()
    deciles = statistics.quantiles(times, n=10)
    return Rtt(round(statistics.median(times), 4), round(deciles[0], 4), round(deciles[-1], 4), pings)
