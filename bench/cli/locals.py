"""``ctxbench locals``: isolation probes and per-access cost of every Local implementation."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from bench.cli.args import add_locals_selection, check_writable, count, locals_selection
from bench.cli.common import PYTHON_HELP, interpreters_json, interpreters_of
from bench.errors import EXIT_ERROR, EXIT_OK, UsageError
from bench.plan import matrix
from bench.plan.selection import LocalsPlan

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("locals", help="isolation probes and per-access cost of every Local implementation")
    add_locals_selection(p)
    p.add_argument("--json", type=Path, metavar="PATH",
                   help="write {environment, records} here (rewritten as each cell ends)")
    p.add_argument("--no-micro", action="store_true",
                   help="skip the micro-benchmarks (and the 1-thread / 2-thread measurement)")
    p.add_argument("--no-parallel", action="store_true",
                   help="skip the 1-thread / 2-thread measurement (each Local's cost per access, and how it scales)")
    p.add_argument("--python", action="append", metavar="PATH", help=PYTHON_HELP)
    p.add_argument("--micro-processes", type=count(1, 50), default=None, metavar="N",
                   help="fresh processes per micro-benchmark (default: 3)")
    p.add_argument("--jobs", type=count(1, 64), default=2, metavar="N",
                   help="probe cells run at once (default: 2; probes do not time anything)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported when the command runs, not at start-up: --help and bad input answer at once without
    # loading matplotlib, scipy or the drivers.
    from bench.exec.locals import run_locals
    from bench.exec.pipeline import MemorySink
    from bench.records.environment import fingerprint, load_average

    impls, loads, probes, errors = locals_selection(args)
    for line in errors:
        log.error(line)
    if args.json:
        check_writable(args.json)
    if not impls or not loads:
        raise UsageError("nothing to run: no valid impl or load selected")
    interpreters = interpreters_of(args.python)
    plan = LocalsPlan(impls=tuple(impls), loads=tuple(loads), probes=tuple(probes),
                      workers=args.workers or matrix.LOCAL_WORKERS, micro=not args.no_micro,
                      micro_processes=args.micro_processes or matrix.MICRO_PROCESSES,
                      parallel=not (args.no_micro or args.no_parallel))
    document = MemorySink(path=args.json, environment=fingerprint())
    if interpreters:
        document.environment["interpreters"] = interpreters_json(interpreters)
    outcome = run_locals(plan, jobs=args.jobs, quiet=args.quiet, sink=document, interpreters=interpreters)
    document.environment["load_average_end"] = load_average()
    document.environment["loads_verified"] = outcome.load_facts
    document.save()
    _print_tables(outcome.records, impls, loads)
    if args.json:
        print(f"records written to {args.json}")
    return EXIT_ERROR if errors or outcome.errors else EXIT_OK



def _print_tables(records: list[Any], impls: list[str], loads: list[str]) -> None:
    """The probe, cost and 1-thread / 2-thread tables, once per interpreter when there are several."""
    from bench.present.interpreters import by_interpreter
    from bench.present.tables import micro_rows, parallel_rows, print_table, probe_rows

    for name, mine in by_interpreter(records).items():
        on = f" [{name}]" if name else ""
        header, rows = probe_rows(mine, impls, loads)
        if rows:
            print_table(f"Isolation probes{on}: violations / checks (inheritance is reported, not judged)", header,
                        rows)
        header, rows = micro_rows(mine, impls)
        if rows:
            print_table(f"Cost per operation{on}: median ns ± MAD (ratio to threading.local)", header, rows)
        header, rows = parallel_rows(mine)
        if rows:
            print_table(f"1 thread, then 2 at once{on}: ops/s per thread; scaling = 2-thread / 1-thread", header,
                        rows)
