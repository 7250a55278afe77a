"""Scaling over load processes: one strategy/load/concurrency at P = 1, 2, 4 processes, efficiency per P.

    python benchmarks/scaling.py [--strategy pooled-tuned] [--load threads] [--concurrency 8] [--processes 1,2,4]
                                 [--duration 2] [--warmup 0.5] [--out scaling.json]

Finds or starts a MySQL-protocol server as every command does (``CTXBENCH_MYSQL_URL``, 127.0.0.1:3306, or a private
one), runs the cells through the pipeline (each P a cell of P processes x C workers with one common start, merged
into one record; a ``mysqlslap`` ceiling at each total concurrency), writes ``{environment, records}`` to ``--out``
and prints the scaling table: ops/s, efficiency = ops/s(P) / (P x ops/s(P=1)), and the client's and the server's
CPU seconds per P.  Every cell is bounded (its watchdog, the parent's limit); nothing runs beyond the last cell.
Size the server first: ``max_connections`` >= the largest P x C (plus a few for the harness).
"""

from __future__ import annotations

import argparse
import sys

from bench.cli.args import counts, seconds
from bench.exec.db import run_db
from bench.plan.matrix import MAX_PROCESSES
from bench.plan.selection import DbSelection
from bench.present.tables import print_table, scaling_rows
from bench.records.environment import fingerprint
from bench.records.io import atomic_write_json, results_document
from bench.server import ServerUnavailable, find_server


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The script's options (each validated: a bad value is one line and exit status 2)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default="pooled-tuned", help="connection strategy (default: pooled-tuned)")
    parser.add_argument("--load", default="threads", help="threads, gevent or gevent-nothread (default: threads)")
    parser.add_argument("--concurrency", type=counts(1, 1024), default=[8], metavar="C",
                        help="workers per process (default: 8)")
    parser.add_argument("--processes", type=counts(1, MAX_PROCESSES), default=[1, 2, 4], metavar="P[,P...]",
                        help="process counts to run (default: 1,2,4; include 1: it is the reference)")
    parser.add_argument("--duration", type=seconds(0, 600), default=2.0, metavar="S",
                        help="measured seconds per cell (default: 2)")
    parser.add_argument("--warmup", type=seconds(0, 600, allow_low=True), default=0.5, metavar="S",
                        help="warm-up seconds per cell (default: 0.5)")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the mysqlslap ceilings")
    parser.add_argument("--out", default="scaling.json", metavar="PATH",
                        help="write {environment, records} here (default: scaling.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the cells, write the records, print the table; 2 on bad input or without a server, 1 on a cell error."""
    args = parse_args(argv)
    try:
        handle = find_server()
    except ServerUnavailable as exc:
        print(f"scaling: {exc.reason}", file=sys.stderr)
        return 2
    environment = fingerprint()
    with handle:
        environment["server_source"] = handle.target.source
        selection = DbSelection(strategies=[args.strategy], loads=[args.load], concurrency=args.concurrency[:1],
                                processes=args.processes, duration=args.duration, warmup=args.warmup)
        records, errors = run_db(handle.target, selection, ceiling=not args.no_ceiling)
    atomic_write_json(args.out, results_document(environment, records))
    header, rows = scaling_rows(records)
    print_table(f"Scaling over processes: {args.strategy}, {args.load}, {args.concurrency[0]} workers per process",
                header, rows)
    print(f"records written to {args.out}")
    for line in errors:
        print(f"scaling: {line}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
