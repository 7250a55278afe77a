"""How many round trips one operation costs, measured: the slope of its time against the round trip the proxy adds.

    python benchmarks/round_trips.py [--mysql-url URL] [--rtt 5] [--ops 15]

Two kinds of operation, one at a time, through a delay proxy (``bench.net``) set first to 0 and then to ``--rtt``
milliseconds: ``query`` (``SELECT 1`` on a connection kept open: what a pool, a lock or a connection per worker
pays per statement) and ``connect+query`` (open a PyMySQL connection, ``SELECT 1``, close: what ``per-request``
pays per operation).  The round trips of each are (median time at ``--rtt`` - median time at 0) / (round trip
measured at ``--rtt`` - round trip measured at 0), both measured with :func:`bench.net.measure_rtt`.  The server is
found as every command finds it (``--mysql-url``, ``CTXBENCH_MYSQL_URL``, 127.0.0.1:3306, or a private one).  Exit
status 2 without a server.

Why: the network chart's bound assumes one round trip per operation; this says how many a strategy's operation
really takes on this server and driver (its login, its settings, TLS), so a share of that bound can be read.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.cli.args import count, rtt_values
from bench.net import delay_proxy, measure_rtt
from bench.server import ServerUnavailable, find_server


def _connect(target: Any) -> Any:
    import pymysql

    return pymysql.connect(**target.connect_kwargs())


def _query(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchall()


def timed(op: Callable[[], None], ops: int) -> float:
    """The median milliseconds of ``ops`` runs of ``op`` (one untimed first)."""
    op()
    times = []
    for _ in range(ops):
        start = time.perf_counter()
        op()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def operations(target: Any, ops: int) -> dict[str, float]:
    """Median milliseconds per operation of each kind through ``target``."""
    conn = _connect(target)
    try:
        query = timed(lambda: _query(conn), ops)
    finally:
        conn.close()

    def connect_query() -> None:
        fresh = _connect(target)
        try:
            _query(fresh)
        finally:
            fresh.close()

    return {"query": query, "connect+query": timed(connect_query, ops)}


def main(argv: list[str] | None = None) -> int:
    """Measure at 0 and at ``--rtt``, print the round trips per operation."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mysql-url", metavar="URL", help="the server (default: as every ctxbench command finds it)")
    parser.add_argument("--rtt", type=rtt_values, default=[5.0], metavar="MS", help="the round trip added (default: 5)")
    parser.add_argument("--ops", type=count(3, 10_000), default=15, help="operations timed per kind (default: 15)")
    args = parser.parse_args(argv)
    try:
        handle = find_server(args.mysql_url)
    except ServerUnavailable as exc:
        print(f"round_trips: {exc.reason}", file=sys.stderr)
        return 2
    with handle, delay_proxy(handle.target) as proxy:
        base_rtt = measure_rtt(proxy.target).median_ms
        base = operations(proxy.target, args.ops)
        proxy.set_rtt(args.rtt[0])
        far_rtt = measure_rtt(proxy.target).median_ms
        far = operations(proxy.target, args.ops)
    added = far_rtt - base_rtt
    print(f"round trip measured: {base_rtt:.3f} ms at 0, {far_rtt:.3f} ms at {args.rtt[0]:g} ms set")
    for kind in base:
        trips = (far[kind] - base[kind]) / added
        print(f"{kind:14} {base[kind]:8.2f} ms at 0, {far[kind]:8.2f} ms at {args.rtt[0]:g} ms: "
              f"{trips:.1f} round trips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
