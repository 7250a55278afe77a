"""A small real-stack matrix, printed as a markdown table: servers x Locals x strategies.

    python benchmarks/stack_matrix.py [--concurrency 16] [--duration 2] [--warmup 0.5] [--out records.json]

Finds or starts a MySQL-protocol server as every command does (``CTXBENCH_MYSQL_URL``, 127.0.0.1:3306, or a private
one), runs one stack cell per row through :func:`bench.exec.stackcell.run_stack_cell`, and prints what the HTTP
clients saw.  Until ``ctxbench stack`` carries it, this is how the table in the README is made.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bench.exec.stackcell import run_stack_cell
from bench.server import ServerUnavailable, find_server
from bench.webstack.servers import SERVERS

IMPLS = ("threading-local", "fast")
#: The shared connection and a good pool, per kind of load the server's app builds its strategy for.
STRATEGIES = ("global", "pooled-tuned")
ASYNC_STRATEGIES = ("global", "aiomysql-pool")


def _share(rec: dict[str, Any], n: int | None) -> str:
    return f"{n} ({100 * n / rec['requests']:.0f}%)" if n is not None and rec.get("requests") else str(n)


def row(rec: dict[str, Any]) -> str:
    """One markdown row of a stack record."""
    http = sum(rec["http_errors"].values())
    client = sum(rec["client_errors"].values())
    p50 = rec["latency_ms"]["p50"]
    return (f"| {rec['server']} | {rec['model_load']} | {rec['impl']} | {rec['strategy']} | {rec['outcome']} | "
            f"{rec['requests']} | {_share(rec, rec['wrong_local'])} | {_share(rec, rec['silent_wrong'])} | "
            f"{_share(rec, http)} | {client} | {rec['ops_per_s']} | {p50} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--out", help="write every record to this JSON file")
    args = parser.parse_args()
    try:
        handle = find_server()
    except ServerUnavailable as exc:
        print(f"stack_matrix: {exc.reason}", file=sys.stderr)
        return 2
    records = []
    print("| server | model load | impl | strategy | outcome | requests | wrong Local | silent wrong row (200) | "
          "HTTP errors | client errors | req/s | p50 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    with handle:
        for server, info in SERVERS.items():
            for impl in IMPLS:
                for strategy in ASYNC_STRATEGIES if info.model_load == "asyncio" else STRATEGIES:
                    spec = {"server": server, "impl": impl, "strategy": strategy, "concurrency": args.concurrency,
                            "duration": args.duration, "warmup": args.warmup}
                    rec, error = run_stack_cell(handle.target, spec)
                    records.append(rec)
                    print(row(rec), flush=True)
                    if error:
                        print(f"stack_matrix: {error}", file=sys.stderr)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(records, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
