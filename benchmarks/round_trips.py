"""How many round trips one operation costs, measured: the slope of its time against the round trip the proxy adds.

    python benchmarks/round_trips.py [--mysql-url URL] [--rtt 10] [--ops 10] [--rounds 5]

Two kinds of operation, one at a time, through a delay proxy (``bench.net``) set by turns to 0 and to ``--rtt``
milliseconds, ``--rounds`` times (interleaved, so that other work on the machine hits both settings alike):
``query`` (``SELECT 1`` on a connection kept open: what a pool, a lock or a connection per worker pays per
statement) and ``connect+query`` (open a PyMySQL connection, ``SELECT 1``, close: what ``per-request`` pays per
operation).  The round trips of each are (median time at ``--rtt`` - median time at 0) / (median round trip
measured at ``--rtt`` - median at 0), the round trips measured with :func:`bench.net.measure_rtt` in every round.
The server is found as every command finds it (``--mysql-url``, ``CTXBENCH_MYSQL_URL``, 127.0.0.1:3306, or a private
one).  Exit status 2 without a server.

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


def timed(op: Callable[[], None], ops: int) -> list[float]:
    """Milliseconds of each of ``ops`` runs of ``op`` (one untimed first)."""
    op()
    times = []
    for _ in range(ops):
        start = time.perf_counter()
        op()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def operations(target: Any, ops: int) -> dict[str, list[float]]:
    """Milliseconds per operation of each kind through ``target``."""
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


def measure(target: Any, rtt_ms: float, ops: int, rounds: int) -> dict[str, Any]:
    """Round trips measured and times per operation at 0 and at ``rtt_ms``, interleaved over ``rounds``."""
    rtts: dict[float, list[float]] = {0.0: [], rtt_ms: []}
    times: dict[float, dict[str, list[float]]] = {0.0: {}, rtt_ms: {}}
    with delay_proxy(target) as proxy:
        for _ in range(rounds):
            for setting in (0.0, rtt_ms):
                proxy.set_rtt(setting)
                rtts[setting].append(measure_rtt(proxy.target).median_ms)
                for kind, values in operations(proxy.target, ops).items():
                    times[setting].setdefault(kind, []).extend(values)
    return {"rtt": {k: statistics.median(v) for k, v in rtts.items()},
            "times": {k: {kind: statistics.median(v) for kind, v in d.items()} for k, d in times.items()}}


def main(argv: list[str] | None = None) -> int:
    """Measure at 0 and at ``--rtt`` by turns, print the round trips per operation."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mysql-url", metavar="URL", help="the server (default: as every ctxbench command finds it)")
    parser.add_argument("--rtt", type=rtt_values, default=[10.0], metavar="MS",
                        help="the round trip added (default: 10)")
    parser.add_argument("--ops", type=count(3, 10_000), default=10, help="operations timed per kind and round "
                        "(default: 10)")
    parser.add_argument("--rounds", type=count(1, 100), default=5, help="rounds of both settings (default: 5)")
    args = parser.parse_args(argv)
    try:
        handle = find_server(args.mysql_url)
    except ServerUnavailable as exc:
        print(f"round_trips: {exc.reason}", file=sys.stderr)
        return 2
    rtt = args.rtt[0]
    with handle:
        found = measure(handle.target, rtt, args.ops, args.rounds)
    base, far = found["rtt"][0.0], found["rtt"][rtt]
    print(f"round trip measured (median of {args.rounds} rounds): {base:.3f} ms at 0, {far:.3f} ms at {rtt:g} ms set")
    for kind, at_zero in found["times"][0.0].items():
        at_far = found["times"][rtt][kind]
        print(f"{kind:14} {at_zero:8.2f} ms at 0, {at_far:8.2f} ms at {rtt:g} ms: "
              f"{(at_far - at_zero) / (far - base):.1f} round trips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
