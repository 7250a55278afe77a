"""Command line: argument parsing and exit codes only.

Exit status: 0 clean; 1 a regression (``regress``); 2 bad input or an error
(an unknown name, an impl that fails, an unreachable server).  Every error is
one line, ``ctxbench: error: ...``; ``--debug`` shows the traceback as well.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from bench import __version__
from bench.errors import EXIT_ERROR, EXIT_OK, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"ctxbench: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


def _count(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range {low}..{high}")
        return value

    return parse


def check_writable(path: Path) -> Path:
    """Fail early, before anything is measured, if results cannot be written at ``path``."""
    directory = path.parent if path.suffix else path
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".ctxbench-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write results to {path}: {exc.strerror or exc}") from None
    return path


def _add_locals_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--impl", action="append", metavar="NAME", help="Local implementation: a registered name or package.module:Class (repeatable, comma-separated; default: all)")
    p.add_argument("--load", action="append", metavar="NAME", help="threads, gevent, gevent-nothread, greenlet, asyncio (repeatable, comma-separated; default: all)")
    p.add_argument("--probe", action="append", metavar="NAME", help="isolation, child-write, inheritance, stale-reuse, leak (default: all)")
    p.add_argument("--workers", type=_count(1, 1024), default=None, metavar="N", help="workers per probe cell (default: 8)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ctxbench", description="Isolation and cost of context-locals and MySQL connection strategies.")
    parser.add_argument("--version", action="version", version=f"ctxbench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("locals", help="isolation probes and per-access cost of every Local implementation")
    _add_locals_selection(p)
    p.add_argument("--json", type=Path, metavar="PATH", help="write {environment, records} here (rewritten as each cell ends)")
    p.add_argument("--no-micro", action="store_true", help="skip the micro-benchmarks")
    p.add_argument("--micro-processes", type=_count(1, 50), default=None, metavar="N", help="fresh processes per micro-benchmark (default: 3)")
    p.add_argument("--jobs", type=_count(1, 64), default=2, metavar="N", help="probe cells run at once (default: 2; probes do not time anything)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_locals)

    p = sub.add_parser("doctor", help="which MySQL server the suite would use, and its settings")
    p.add_argument("--mysql-url", metavar="URL", help="mysql://user:password@host:port/database (default: $CTXBENCH_MYSQL_URL, then 127.0.0.1:3306, then a private server)")
    p.add_argument("--json", action="store_true", help="print the facts as JSON")
    p.set_defaults(func=cmd_doctor)
    return parser


def cmd_locals(args: argparse.Namespace) -> int:
    from bench import matrix
    from bench.env import fingerprint, load_average
    from bench.localsrun import run_locals
    from bench.records import atomic_write_json, results_document
    from bench.tables import micro_rows, print_table, probe_rows

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


def cmd_doctor(args: argparse.Namespace) -> int:
    import json

    from bench.mysql import doctor

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
    try:
        return int(args.func(args))
    except UsageError as exc:
        if args.debug:
            raise
        print(f"ctxbench: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("ctxbench: interrupted; records finished so far are kept", file=sys.stderr)
        return 130
    except Exception as exc:  # one line unless --debug
        if args.debug or os.environ.get("CTXBENCH_DEBUG"):
            raise
        print(f"ctxbench: error: {exc.__class__.__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
