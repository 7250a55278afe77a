"""``ctxbench db``: connection strategies against a real MySQL server, and the request scenario."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.cli.args import add_db_selection, add_repeats, add_rtt, check_writable, db_selection, repeats_of
from bench.cli.common import PYTHON_HELP, interpreters_json, interpreters_of
from bench.cli.driverargs import add_driver
from bench.errors import EXIT_ERROR, EXIT_OK
from bench.plan.matrix import COMMAND_REPEATS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="connection strategies against a real MySQL server, and the request scenario")
    add_db_selection(p)
    add_rtt(p, "default: none, every cell direct and no round trip measured")
    add_driver(p, "default: none, every cell over PyMySQL")
    add_repeats(p, f"default: {COMMAND_REPEATS}; every db and request cell; the ceiling is measured once")
    p.add_argument("--json", type=Path, metavar="PATH",
                   help="write {environment, records} here (rewritten as each cell ends)")
    p.add_argument("--python", action="append", metavar="PATH", help=PYTHON_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported when the command runs, not at start-up: --help and bad input answer at once without
    # loading matplotlib, scipy or the drivers.
    from bench.exec.pipeline import MemorySink, Pipeline
    from bench.exec.session import open_server
    from bench.plan.cells import plan_db, with_repeats
    from bench.records.environment import fingerprint, load_average

    selection = db_selection(args)
    if args.json:
        check_writable(args.json)
    interpreters = interpreters_of(args.python)
    document = MemorySink(path=args.json, environment=fingerprint(), exclude=("ceiling",))
    if interpreters:
        document.environment["interpreters"] = interpreters_json(interpreters)
    with open_server(args.mysql_url, document.environment) as target:
        pipeline = Pipeline(document, title="db", quiet=args.quiet, target=target)
        planned = plan_db(selection, ceiling=target is not None, interpreters=interpreters)
        errors = pipeline.run(with_repeats(planned, repeats_of(args)))
    document.environment["load_average_end"] = load_average()
    document.save()
    records = document.records
    _print_tables(records)
    if args.json:
        print(f"records written to {args.json}")
    skipped = bool(records) and all(getattr(r, "outcome", None) == "skipped" for r in records)
    return EXIT_ERROR if errors or skipped else EXIT_OK


def _print_tables(records: list[Any]) -> None:
    """The strategy, request and process-scaling tables, once per interpreter when there are several."""
    from bench.present.drivers import DRIVERS_TITLE, driver_rows
    from bench.present.interpreters import by_interpreter
    from bench.present.network import NETWORK_TITLE, network_rows
    from bench.present.tables import db_rows, print_table, request_rows, scaling_rows

    for name, mine in by_interpreter(records).items():
        on = f" [{name}]" if name else ""
        header, rows = db_rows(mine)
        if rows:
            print_table(f"Connection strategies{on}: silent wrong (another operation's reply as success), errors, "
                        "ops/s, latency", header, rows)
        header, rows = request_rows(mine)
        if rows:
            print_table(f"Request scenario{on}: LocalStack on impl x strategy", header, rows)
        header, rows = scaling_rows(mine)
        if rows:
            print_table(f"Scaling over processes{on}: efficiency = ops/s(P) / (P x ops/s(P=1))", header, rows)
        header, rows = network_rows(mine)
        if rows:
            print_table(NETWORK_TITLE + on, header, rows)
        header, rows = driver_rows(mine)
        if rows:
            print_table(DRIVERS_TITLE + on, header, rows)
