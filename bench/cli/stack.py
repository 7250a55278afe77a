"""``ctxbench stack``: a real Flask app under real WSGI servers (its Starlette twin under uvicorn), driven over loopback
HTTP, every reply checked; with ``--model``, beside the in-process cells that claim to predict each cell."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.args import add_repeats, add_rtt, add_stack_selection, check_writable, repeats_of, stack_selection
from bench.cli.driverargs import add_driver
from bench.errors import EXIT_ERROR, EXIT_OK
from bench.plan.matrix import COMMAND_REPEATS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stack", help="the real stack: a Flask app under real WSGI servers, driven over HTTP")
    add_stack_selection(p)
    add_rtt(p, "between the app servers and the database; default: none, every cell direct and no round trip "
               "measured")
    add_driver(p, "the app's strategy speaks it; default: none, every cell over PyMySQL")
    add_repeats(p, f"default: {COMMAND_REPEATS}; every stack cell, and with --model its request cells")
    p.add_argument("--json", type=Path, metavar="PATH",
                   help="write {environment, records} here (rewritten as each cell ends)")
    p.add_argument("--model", action="store_true",
                   help="also run the in-process cells that predict each stack cell (the isolation probe of its impl "
                        "and the request scenario of its impl x strategy under the server's model load) and print the "
                        "model check: agree / disagree, cell by cell")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the stack cells of the selection; print the table; exit 2 on an error or when every cell was skipped."""
    # Imported when the command runs: --help and bad input answer at once.
    from contextlib import nullcontext

    from bench.exec.pipeline import MemorySink, Pipeline
    from bench.exec.session import open_server
    from bench.plan.cells import plan_stack, plan_stack_model, with_repeats
    from bench.present.drivers import DRIVERS_TITLE, driver_rows
    from bench.present.model import model_rows
    from bench.present.network import NETWORK_TITLE, network_rows
    from bench.present.tables import print_table, stack_process_rows, stack_rows
    from bench.records.environment import fingerprint, load_average
    from bench.webstack import missing_extra

    selection = stack_selection(args)
    if args.json:
        check_writable(args.json)
    document = MemorySink(path=args.json, environment=fingerprint())
    # Without the extra no cell can run: no server is looked for (each cell is recorded skipped, saying why).
    server = nullcontext(None) if missing_extra() else open_server(args.mysql_url, document.environment)
    with server as target:
        pipeline = Pipeline(document, title="stack", quiet=args.quiet, target=target)
        model = plan_stack_model(selection) if args.model and target is not None else []
        errors = pipeline.run(with_repeats(model + plan_stack(selection), repeats_of(args)))
    document.environment["load_average_end"] = load_average()
    document.save()
    header, rows = stack_rows(document.records)
    if rows:
        print_table("The real stack: replies checked against each request's token", header, rows)
    header, rows = stack_process_rows(document.records)
    if rows:
        print_table("Per server process (by the pid each reply named)", header, rows)
    header, rows = model_rows(document.records)
    if args.model and rows:
        print_table("Does the in-process model predict the real stack?", header, rows)
    header, rows = network_rows(document.records)
    if rows:
        print_table(NETWORK_TITLE, header, rows)
    header, rows = driver_rows(document.records)
    if rows:
        print_table(DRIVERS_TITLE, header, rows)
    if args.json:
        print(f"records written to {args.json}")
    stack_records = [r for r in document.records if r.kind == "stack"]
    skipped = bool(stack_records) and all(getattr(r, "outcome", None) == "skipped" for r in stack_records)
    return EXIT_ERROR if errors or skipped else EXIT_OK
