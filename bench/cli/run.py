"""``ctxbench run``: the main job -- every matrix into one run directory, then charts and report."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

from bench.cli.args import (
    add_db_selection,
    add_locals_selection,
    add_repeats,
    add_rtt,
    async_part,
    check_writable,
    count,
    db_selection,
    locals_plan,
    network_part,
    repeats_of,
    stack_selection,
)
from bench.cli.common import PYTHON_HELP, check_url_early, interpreters_json, interpreters_of, sigterm_as_interrupt
from bench.cli.driverargs import add_driver, driver_part
from bench.errors import EXIT_ERROR, EXIT_OK, UsageError
from bench.exec.rundir import RunDir
from bench.plan import matrix
from bench.plan.cells import Planned
from bench.plan.runplan import cells_from_document, plan_document, plan_run

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="the main job: locals, database and request matrices, the real stack, "
                                   "then charts and report")
    p.add_argument("--quick", action="store_true", help="the small matrix CI uses (about a minute)")
    p.add_argument("--out", type=Path, default=Path("results"), metavar="DIR",
                   help="results root; the run goes in DIR/<run-id>/ (default: results)")
    p.add_argument("--resume", metavar="RUN_ID",
                   help="finish an interrupted run: only its missing cells run (its own plan is used)")
    add_locals_selection(p)
    add_db_selection(p, load_alias=False)
    p.add_argument("--no-locals", action="store_true", help="skip the locals matrix")
    p.add_argument("--no-micro", action="store_true",
                   help="skip the micro-benchmarks (and the 1-thread / 2-thread measurement)")
    p.add_argument("--no-parallel", action="store_true",
                   help="skip the 1-thread / 2-thread measurement (each Local's cost per access, and how it scales)")
    p.add_argument("--python", action="append", metavar="PATH", help=PYTHON_HELP + "; the real stack is left out")
    p.add_argument("--no-db", action="store_true",
                   help="skip the database and request matrices (and the real stack, whose app needs the server)")
    p.add_argument("--no-asyncio", action="store_true",
                   help="skip the asyncio part of the database matrix (every asyncio strategy and the request "
                        "scenario at one concurrency; run only when --db-load is not given)")
    add_rtt(p, "replaces the network part's values: "
               f"default {','.join(f'{v:g}' for v in matrix.NET_RUN['rtt_ms'])}, "
               f"{','.join(f'{v:g}' for v in matrix.NET_RUN_QUICK['rtt_ms'])} with --quick")
    p.add_argument("--no-network", action="store_true",
                   help="skip the network part of the database matrix (locked, pooled-tuned, per-request, "
                        "own-connection under threads at 8 workers, each direct and over a 1 ms round trip; "
                        "run unless --strategy or --db-load is given without --rtt)")
    add_driver(p, "replaces the driver part's drivers: default every one installed of "
                  f"{', '.join(matrix.DRIVER_RUN['drivers'])}; "
                  f"{', '.join(matrix.DRIVER_RUN_QUICK['drivers'])} with --quick")
    p.add_argument("--no-drivers", action="store_true",
                   help="skip the driver part of the database matrix (every installed driver under threads and gevent "
                        "at 8 workers over pooled-tuned and own-connection; run unless --strategy or --db-load is "
                        "given without --driver)")
    p.add_argument("--no-stack", action="store_true",
                   help="skip the real stack (Flask under real WSGI servers over HTTP; smaller with --quick)")
    add_repeats(p, f"default: {matrix.RUN_REPEATS}, {matrix.RUN_QUICK_REPEATS} with --quick; only the cells the "
                   "answer rests on: the stack's, the request cells that predict them and the db cells at the stack's "
                   "concurrency; the rest once")
    p.add_argument("--repeat-all", action="store_true",
                   help="repeat every db, request and stack cell, not only those the answer rests on (longer)")
    p.add_argument("--jobs", type=count(1, 64), default=2, metavar="N", help="probe cells run at once (default: 2)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=run)


def _new_run(args: argparse.Namespace) -> tuple[RunDir, list[Planned]]:
    """Plan the run from the flags (rejecting bad input before anything is made), then create its directory."""
    check_writable(args.out)
    interpreters = interpreters_of(args.python)
    plan = None if args.no_locals else locals_plan(args, quick=args.quick)
    db = None if args.no_db else db_selection(args, quick=args.quick, with_drivers=False)
    if db is not None:  # a bad URL is the one line the user sees, before any warning about the parts
        check_url_early(args.mysql_url)
    # The asyncio part: only beside the default loads (a user who names --db-load chose the loads).
    asyncio = None if db is None or args.no_asyncio or args.db_load else async_part(db, quick=args.quick)
    # The network part: beside the default matrix, or wherever --rtt asks for it.
    named = (args.db_load or args.strategy) and not args.rtt
    network = None if db is None or args.no_network or named else network_part(db, args, quick=args.quick)
    # The driver part: beside the default matrix, or wherever --driver asks for it.
    named_drivers = (args.db_load or args.strategy) and not args.driver
    drivers = None if db is None or args.no_drivers or named_drivers else driver_part(db, args, quick=args.quick)
    if interpreters and not (args.no_stack or args.no_db):
        log.warning("the real stack is left out: its servers run on the interpreter ctxbench runs on, not --python's")
    stack = None if args.no_stack or args.no_db or interpreters else stack_selection(quick=args.quick,
                                                                                     workers=db.processes)
    repeats = repeats_of(args, matrix.RUN_QUICK_REPEATS if args.quick else matrix.RUN_REPEATS)
    if interpreters:
        on = tuple(interpreters)
        plan = replace(plan, interpreters=on) if plan is not None else None
        db, asyncio, network, drivers = (replace(d, interpreters=on) if d is not None else None
                                         for d in (db, asyncio, network, drivers))
    cells = plan_run(plan, None if db is None else replace(db, rtt_ms=None), quick=args.quick, stack=stack,
                     parts=(asyncio, network, drivers), repeats=repeats, repeat_all=args.repeat_all)
    if not cells:
        raise UsageError("nothing to run: every part was switched off")
    run_dir = RunDir.create(args.out)
    options = {"quick": args.quick, "argv": sys.argv[1:], "processes": db.processes if db is not None else [1],
               "repeats": repeats, "repeat_all": args.repeat_all}
    if interpreters:
        options["interpreters"] = interpreters_json(interpreters)
    run_dir.write_plan(plan_document(cells, options))
    return run_dir, cells


def run(args: argparse.Namespace) -> int:
    # Imported when the command runs, not at start-up: --help and bad input answer at once without
    # loading matplotlib, scipy or the drivers.
    from bench.exec.fullrun import execute

    sigterm_as_interrupt()
    if args.resume:
        run_dir = RunDir.open_existing(args.out, args.resume)
        cells = cells_from_document(run_dir.read_plan())
    else:
        run_dir, cells = _new_run(args)
    log.info("run %s: %d cells, records in %s", run_dir.run_id, len(cells), run_dir.path)
    try:
        interpreters = run_dir.read_plan().get("options", {}).get("interpreters")
        outcome = execute(run_dir, cells, mysql_url=args.mysql_url, jobs=args.jobs, quiet=args.quiet,
                          interpreters=interpreters)
    except KeyboardInterrupt:
        done = len(list(run_dir.cells.glob("*.json")))
        log.error("interrupted; %d finished cell(s) kept in %s; finish with: ctxbench run --out %s --resume %s",
                  done, run_dir.path, args.out, run_dir.run_id)
        return 130
    for line in outcome.problems:
        log.warning("%s", line)
    from bench.cli.report import print_answer_of

    print_answer_of(run_dir.path, run_dir.path)
    print(f"report: {run_dir.path / 'report.html'}")
    print(f"summary: {run_dir.path / 'REPORT.md'}")
    print(f"answer: {run_dir.path / 'answer.json'}")
    return EXIT_ERROR if outcome.errors else EXIT_OK
