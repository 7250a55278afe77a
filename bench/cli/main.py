"""Command line: argument parsing and exit codes only.

Exit status: 0 clean; 1 a regression (``regress``); 2 bad input or an error
(an unknown name, an impl that fails, an unreachable server).  Every error is
one line, ``ctxbench: error: ...``; ``--debug`` shows the traceback as well.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from bench import __version__
from bench.cli.args import add_locals_selection, check_writable, count, counts, seconds
from bench.errors import EXIT_ERROR, EXIT_OK, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"ctxbench: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


def _add_db_selection(p: argparse.ArgumentParser, *, load_alias: bool = True) -> None:
    p.add_argument("--strategy", action="append", metavar="NAME",
                   help="global, locked, pooled, pooled-tuned, persistent, per-request, sqlalchemy-queuepool, own-connection, or package.module:factory (default: all)")
    names = ("--db-load", "--load") if load_alias else ("--db-load",)
    p.add_argument(*names, dest="db_load", action="append", metavar="NAME", help="threads, gevent (default: both)")
    p.add_argument("--concurrency", type=counts(1, 10000), action="append", metavar="N[,N...]", help="workers per cell (default: 1,4,16,64)")
    p.add_argument("--duration", type=seconds(0, 3600), default=None, metavar="S", help="measured seconds per cell, after the warm-up (default: 2)")
    p.add_argument("--warmup", type=seconds(0, 3600, allow_low=True), default=None, metavar="S", help="warm-up seconds per cell, not measured (default: 0.5)")
    p.add_argument("--request-impl", action="append", metavar="NAME", help="Local impls for the request scenario (default: fast, contextvar, threading-local; 'none' to skip)")
    p.add_argument("--request-strategy", action="append", metavar="NAME", help="strategies for the request scenario (default: pooled-tuned, locked, per-request)")
    p.add_argument("--hang-after", type=seconds(0, 3600), default=None, metavar="S",
                   help="end a database cell as 'hung' after S seconds without progress (default: 5)")
    p.add_argument("--mysql-url", metavar="URL", help="mysql://user:password@host:port/database (default: $CTXBENCH_MYSQL_URL, then 127.0.0.1:3306 as root, then a private server)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ctxbench", description="Isolation and cost of context-locals and MySQL connection strategies.")
    parser.add_argument("--version", action="version", version=f"ctxbench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("locals", help="isolation probes and per-access cost of every Local implementation")
    add_locals_selection(p)
    p.add_argument("--json", type=Path, metavar="PATH", help="write {environment, records} here (rewritten as each cell ends)")
    p.add_argument("--no-micro", action="store_true", help="skip the micro-benchmarks")
    p.add_argument("--micro-processes", type=count(1, 50), default=None, metavar="N", help="fresh processes per micro-benchmark (default: 3)")
    p.add_argument("--jobs", type=count(1, 64), default=2, metavar="N", help="probe cells run at once (default: 2; probes do not time anything)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_locals)

    p = sub.add_parser("db", help="connection strategies against a real MySQL server, and the request scenario")
    _add_db_selection(p)
    p.add_argument("--json", type=Path, metavar="PATH", help="write {environment, records} here (rewritten as each cell ends)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("run", help="the main job: locals, database and request matrices, then charts and report")
    p.add_argument("--quick", action="store_true", help="the small matrix CI uses (about a minute)")
    p.add_argument("--out", type=Path, default=Path("results"), metavar="DIR", help="results root; the run goes in DIR/<run-id>/ (default: results)")
    p.add_argument("--resume", metavar="RUN_ID", help="finish an interrupted run: only its missing cells run (its own plan is used)")
    add_locals_selection(p)
    _add_db_selection(p, load_alias=False)
    p.add_argument("--no-locals", action="store_true", help="skip the locals matrix")
    p.add_argument("--no-micro", action="store_true", help="skip the micro-benchmarks")
    p.add_argument("--no-db", action="store_true", help="skip the database and request matrices")
    p.add_argument("--jobs", type=count(1, 64), default=2, metavar="N", help="probe cells run at once (default: 2)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("faults", help="kill, restart, fill and hang a private server under each strategy: errors, recovery, leaks, memory")
    p.add_argument("--scenario", action="append", metavar="NAME",
                   help="kill, restart, max-connections, hang, soak (repeatable, comma-separated; default: all but soak)")
    p.add_argument("--strategy", action="append", metavar="NAME", help="strategies for kill, restart and max-connections (default: every built-in but global)")
    p.add_argument("--db-load", "--load", dest="db_load", action="append", metavar="NAME", help="threads, gevent (default: threads)")
    p.add_argument("--concurrency", type=count(1, 10000), default=None, metavar="N", help="workers per kill/restart cell (default: 8)")
    p.add_argument("--duration", type=seconds(0, 3600), default=None, metavar="S", help="measured seconds of a kill/restart cell (default: 6)")
    p.add_argument("--down", type=seconds(0, 60), default=None, metavar="S", help="seconds the server stays down after a kill or shutdown (default: 1)")
    p.add_argument("--max-connections", type=count(2, 1000), default=None, metavar="N", help="max_connections for that scenario; cells run at 2N (default: 20)")
    p.add_argument("--hang-after", type=seconds(0, 3600), default=None, metavar="S", help="watchdog of the hang scenario (default: 2)")
    p.add_argument("--soak-duration", type=seconds(0, 86400), default=None, metavar="S", help="measured seconds of each soak cell (default: 60)")
    p.add_argument("--json", type=Path, metavar="PATH", help="write {environment, records} here (rewritten as each cell ends)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_faults)

    p = sub.add_parser("charts", help="redraw every chart of a run from its stored records (no server, no rerun)")
    p.add_argument("--results", type=Path, metavar="DIR", help="a run directory or a results JSON file (default: the newest run under results/)")
    p.add_argument("--out", type=Path, metavar="DIR", help="where to draw (default: <run>/charts)")
    p.set_defaults(func=cmd_charts)

    p = sub.add_parser("report", help="charts plus report.html and REPORT.md for a run, from its stored records")
    p.add_argument("--results", type=Path, metavar="DIR", help="a run directory or a results JSON file (default: the newest run under results/)")
    p.add_argument("--out", type=Path, metavar="DIR", help="where to write (default: the run directory)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("doctor", help="which MySQL server the suite would use, and its settings")
    p.add_argument("--mysql-url", metavar="URL", help="mysql://user:password@host:port/database (default: $CTXBENCH_MYSQL_URL, then 127.0.0.1:3306, then a private server)")
    p.add_argument("--json", action="store_true", help="print the facts as JSON")
    p.set_defaults(func=cmd_doctor)

    from bench.gate import regress

    regress.add_parser(sub, _Parser)
    return parser


def cmd_locals(args: argparse.Namespace) -> int:
    from bench.plan import matrix
    from bench.records.environment import fingerprint, load_average
    from bench.exec.locals import run_locals
    from bench.records.io import atomic_write_json, results_document
    from bench.present.tables import micro_rows, print_table, probe_rows

    impls, errors = matrix.select_impls(matrix.split_names(args.impl))
    loads, load_errors = matrix.select_loads(matrix.split_names(args.load))
    errors += load_errors
    probes = matrix.select_probes(matrix.split_names(args.probe))
    for line in errors:
        print(f"ctxbench: error: {line}", file=sys.stderr)
    if args.json:
        check_writable(args.json)
    if not impls or not loads:
        raise UsageError("nothing to run: no valid impl or load selected")
    plan = matrix.LocalsPlan(
        impls=tuple(impls),
        loads=tuple(loads),
        probes=tuple(probes),
        workers=args.workers or matrix.LOCAL_WORKERS,
        micro=not args.no_micro,
        micro_processes=args.micro_processes or matrix.MICRO_PROCESSES,
    )
    environment = fingerprint()

    def save(records: list[dict[str, Any]]) -> None:
        if args.json:
            atomic_write_json(args.json, results_document(environment, records))

    outcome = run_locals(plan, jobs=args.jobs, quiet=args.quiet, on_records=save)
    environment["load_average_end"] = load_average()
    environment["loads_verified"] = outcome.load_facts
    save(outcome.records)
    header, rows = probe_rows(outcome.records, impls, loads)
    if rows:
        print_table("Isolation probes: violations / checks (inheritance is reported, not judged)", header, rows)
    header, rows = micro_rows(outcome.records, impls)
    if rows:
        print_table("Cost per operation: median ns ± MAD (ratio to threading.local)", header, rows)
    if args.json:
        print(f"records written to {args.json}")
    return EXIT_ERROR if errors or outcome.errors else EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    from bench.exec.session import db_selection, open_server
    from bench.records.environment import fingerprint, load_average
    from bench.records.io import atomic_write_json, results_document
    from bench.present.report import db_rows, request_rows
    from bench.present.tables import print_table

    selection = db_selection(args)
    if args.json:
        check_writable(args.json)
    environment = fingerprint()
    records: list[dict[str, Any]] = []

    def save() -> None:
        if args.json:
            atomic_write_json(args.json, results_document(environment, records))

    with open_server(args.mysql_url, environment) as target:
        from bench.exec.db import plan, run_db
        from bench.exec.progress import CellProgress

        total = len(plan(strategies=selection.strategies, loads=selection.loads, concurrency=selection.concurrency,
                         impls_for_request=selection.request_impls, request_strategies=selection.request_strategies))
        with CellProgress(total, "db", quiet=args.quiet) as bar:
            def on_record(cell: Any, rec: dict[str, Any]) -> None:
                records.append(rec)
                save()
                bar.finished(cell.label(), str(rec.get("outcome")))

            bar.running("server ceiling (mysqlslap)")
            got, errors = run_db(
                target, strategies=selection.strategies, loads=selection.loads, concurrency=selection.concurrency,
                duration=selection.duration, warmup=selection.warmup, impls_for_request=selection.request_impls,
                request_strategies=selection.request_strategies, on_record=on_record, hang_after=selection.hang_after,
                progress=lambda line: bar.running(line) if line.startswith("ceiling") else None,
            )
        if target is None:
            records[:] = got
        for line in errors:
            print(f"ctxbench: error: {line}", file=sys.stderr)
    environment["load_average_end"] = load_average()
    save()
    header, rows = db_rows(records)
    if rows:
        print_table("Connection strategies: ops/s, latency, errors, wrong results", header, rows)
    header, rows = request_rows(records)
    if rows:
        print_table("Request scenario: LocalStack on impl x strategy", header, rows)
    if args.json:
        print(f"records written to {args.json}")
    skipped = bool(records) and all(r.get("outcome") == "skipped" for r in records)
    return EXIT_ERROR if errors or skipped else EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from bench.plan import matrix
    from bench.exec import run as runall
    from bench.exec.session import db_selection
    from bench.exec.rundir import RunDir

    _sigterm_as_interrupt()
    if args.resume:
        run_dir = RunDir.open_existing(args.out, args.resume)
        cells = runall.cells_from_document(run_dir.read_plan())
        mysql_url = args.mysql_url
    else:
        check_writable(args.out)
        locals_plan = None
        if not args.no_locals:
            impls, errors = matrix.select_impls(matrix.split_names(args.impl))
            loads, load_errors = matrix.select_loads(matrix.split_names(args.load))
            if errors or load_errors:
                raise UsageError((errors + load_errors)[0])
            locals_plan = matrix.LocalsPlan(
                impls=tuple(impls), loads=tuple(loads), probes=tuple(matrix.select_probes(matrix.split_names(args.probe))),
                workers=args.workers or matrix.LOCAL_WORKERS, micro=not args.no_micro,
                micro_processes=matrix.MICRO_QUICK_PROCESSES if args.quick else matrix.MICRO_PROCESSES,
                micro_values=matrix.MICRO_QUICK_VALUES if args.quick else matrix.MICRO_VALUES,
            )
        db = None if args.no_db else db_selection(args, quick=args.quick)
        cells = runall.plan_run(locals_plan, db, quick=args.quick)
        if not cells:
            raise UsageError("nothing to run: every part was switched off")
        if db is not None:
            _check_url_early(args.mysql_url)
        run_dir = RunDir.create(args.out)
        run_dir.write_plan(runall.plan_document(cells, {"quick": args.quick, "argv": sys.argv[1:]}))
        mysql_url = args.mysql_url
    print(f"run {run_dir.run_id}: {len(cells)} cells, records in {run_dir.path}", file=sys.stderr)
    try:
        outcome = runall.execute(run_dir, cells, mysql_url=mysql_url, jobs=args.jobs, quiet=args.quiet)
    except KeyboardInterrupt:
        done = len(list(run_dir.cells.glob("*.json")))
        print(f"ctxbench: interrupted; {done} finished cell(s) kept in {run_dir.path}; "
              f"finish with: ctxbench run --out {args.out} --resume {run_dir.run_id}", file=sys.stderr)
        return 130
    for line in outcome.problems or []:
        print(f"ctxbench: warning: {line}", file=sys.stderr)
    print(f"report: {run_dir.path / 'report.html'}")
    print(f"summary: {run_dir.path / 'REPORT.md'}")
    return EXIT_ERROR if outcome.errors else EXIT_OK


def cmd_faults(args: argparse.Namespace) -> int:
    from bench import faults
    from bench.log import configure
    from bench.plan import matrix
    from bench.records.environment import fingerprint, load_average
    from bench.records.io import atomic_write_json, results_document
    from bench.present.tables import print_table

    _sigterm_as_interrupt()
    configure(quiet=args.quiet)  # the scenarios' progress lines are log records
    defaults = faults.FaultPlan()
    plan = faults.validate(faults.FaultPlan(
        scenarios=tuple(matrix.split_names(args.scenario)) or defaults.scenarios,
        strategies=tuple(matrix.split_names(args.strategy)) or defaults.strategies,
        loads=tuple(matrix.split_names(args.db_load)) or defaults.loads,
        concurrency=args.concurrency or defaults.concurrency,
        duration=args.duration or defaults.duration,
        down=args.down or defaults.down,
        max_connections=args.max_connections or defaults.max_connections,
        hang_after=args.hang_after or defaults.hang_after,
        soak_duration=args.soak_duration or defaults.soak_duration,
    ))
    if args.json:
        check_writable(args.json)
    environment = fingerprint()
    records: list[dict[str, Any]] = []

    def save(rec: dict[str, Any] | None = None) -> None:
        if rec is not None:
            records.append(rec)
        if args.json:
            atomic_write_json(args.json, results_document(environment, records))

    faults.run_faults(plan, on_record=save, environment=environment)
    environment["load_average_end"] = load_average()
    save()
    header, rows = faults.fault_rows(records)
    if rows:
        print_table("Faults: errors by class, time to first error, recovery once the server is back, leaks", header, rows)
    for line in faults.findings(records):
        print(f"ctxbench: warning: {line}", file=sys.stderr)
    if args.json:
        print(f"records written to {args.json}")
    return EXIT_ERROR if any(r.get("problem") for r in records) else EXIT_OK


def _check_url_early(url: str | None) -> None:
    """A server URL the user gave (flag or environment) must work before anything is measured or a run directory made.

    Otherwise a mistyped password would surface only after the locals half had run.
    """
    from bench.server import mysql

    source = "url"
    if url is None and os.environ.get(mysql.ENV_URL, "").strip():
        url, source = os.environ[mysql.ENV_URL], "env"
    if url is not None:
        mysql.check_target(mysql.parse_url(url, source))


def _sigterm_as_interrupt() -> None:
    """SIGTERM ends a run the way Ctrl-C does: children stopped, finished cells kept."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, handler)


def _newest_run(root: Path) -> Path:
    runs = sorted((p for p in root.glob("*/run.json")), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise UsageError(f"no run under {root}/ (give --results DIR)")
    return runs[-1].parent


def _results_source(args: argparse.Namespace) -> Path:
    source = args.results or _newest_run(Path("results"))
    if not source.exists():
        raise UsageError(f"--results {source}: no such file or directory")
    return source


def cmd_charts(args: argparse.Namespace) -> int:
    from bench.present import charts

    source = _results_source(args)
    out = args.out or (source / "charts" if source.is_dir() else source.parent / "charts")
    _environment, records, problems = charts.load_records(source)
    if not records:
        raise UsageError(f"{source}: no readable records" + (f" ({problems[0]})" if problems else ""))
    notes: list[str] = []
    paths = charts.draw_all(records, out, notes=notes)
    for line in problems:
        print(f"ctxbench: warning: {line}", file=sys.stderr)
    for line in notes:
        print(f"ctxbench: note: {line}", file=sys.stderr)
    print(f"{len(paths)} chart files in {out}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from bench.present.charts import load_records
    from bench.present.report import render_report

    source = _results_source(args)
    out = args.out or (source if source.is_dir() else source.parent)
    _environment, records, unreadable = load_records(source)
    if not records:  # nothing to report: say why, and write nothing over what is there
        raise UsageError(f"{source}: no readable records" + (f" ({unreadable[0]})" if unreadable else ""))
    page, md, problems = render_report(source, out)
    for line in problems:
        print(f"ctxbench: warning: {line}", file=sys.stderr)
    print(f"report: {page}")
    print(f"summary: {md}")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    import json

    from bench.server.mysql import doctor

    facts = doctor(args.mysql_url, progress=lambda line: print(line, file=sys.stderr))
    if args.json:
        print(json.dumps(facts, indent=1))
        return EXIT_OK if facts["found"] else EXIT_ERROR
    if not facts["found"]:
        print(f"no MySQL server: {facts['reason']}")
        print(facts["help"])
        return EXIT_ERROR
    rows = [
        ("path taken", facts["path_taken"]),
        ("url", facts["url"]),
        ("version", f"{facts['version']} ({facts['flavor']})"),
        ("max_connections", facts["max_connections"]),
        ("thread_handling", facts["thread_handling"]),
        ("auth plugin", facts["auth_plugin"]),
        ("TLS", "on" if facts["tls"] else "off" + (" (available)" if facts["tls_available"] else "")),
        ("ephemeral", "yes (stopped again)" if facts["ephemeral"] else "no"),
        ("mysqlslap", facts["mysqlslap"] or "not found: no server ceiling will be measured"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    debug = bool(args.debug or os.environ.get("CTXBENCH_DEBUG"))
    try:
        return int(args.func(args))
    except UsageError as exc:
        if debug:  # the traceback, then the same one line and the same exit status
            traceback.print_exc()
        print(f"ctxbench: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("ctxbench: interrupted; records finished so far are kept", file=sys.stderr)
        return 130
    except Exception as exc:  # one line unless --debug
        if debug:
            traceback.print_exc()
        print(f"ctxbench: error: {exc.__class__.__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
