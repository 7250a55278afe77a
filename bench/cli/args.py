"""Arguments shared by the commands: the parser class, value types, flag groups, selections.

Each type validates one kind of value and says what is wrong in one line (argparse turns an
``ArgumentTypeError`` into ``ctxbench: error: ...`` with exit status 2), so a nonsense number is
refused before anything is measured.  The selection flags (impls, loads, probes, strategies) are
declared once here and turned into validated plans by :mod:`bench.plan.selection`.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from bench.cli.driverargs import drivers_of, serving, taking
from bench.errors import EXIT_ERROR, UsageError
from bench.plan import matrix
from bench.plan.selection import (
    DbSelection,
    LocalsPlan,
    StackSelection,
    check_selection,
    check_stack,
    select_impls,
    select_loads,
    select_probes,
    split_names,
)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"ctxbench: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


def count(low: int, high: int) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high`` inclusive."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range {low}..{high}")
        return value

    return parse


def counts(low: int, high: int) -> Callable[[str], list[int]]:
    """``1,4,16``: comma-separated whole numbers, each from ``low`` to ``high``."""
    one = count(low, high)

    def parse(text: str) -> list[int]:
        return [one(part.strip()) for part in text.split(",") if part.strip()]

    return parse


def seconds(low: float, high: float, *, allow_low: bool = False) -> Callable[[str], float]:
    """A finite number of seconds above ``low`` (or equal to it with ``allow_low``) and at most ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        above = value >= low if allow_low else value > low
        if not math.isfinite(value) or not above or value > high:
            lowest = f"at least {low:g}" if allow_low else f"more than {low:g}"
            raise argparse.ArgumentTypeError(f"{value:g} is out of range ({lowest}, at most {high:g} seconds)")
        return value

    return parse


#: ``--rtt`` units, in milliseconds; a bare number is milliseconds.
RTT_UNITS: dict[str, float] = {"": 1.0, "ms": 1.0, "us": 0.001, "µs": 0.001}
_RTT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s]*)\s*$")


def rtt_values(text: str) -> list[float]:
    """``0,500us,1ms,2``: comma-separated round trips, each in milliseconds (``ms``, ``us`` or a bare number), from 0
    to :data:`~bench.plan.matrix.MAX_RTT_MS`; returned in milliseconds, first occurrence kept."""
    out: list[float] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _RTT.match(part)
        if match is None:
            raise argparse.ArgumentTypeError(f"{part!r} is not a round trip (a number of ms or us: 0, 0.5, 500us, 2ms)")
        number, unit = match.groups()
        if unit.lower() not in RTT_UNITS:
            raise argparse.ArgumentTypeError(f"unknown unit {unit!r} in round trip {part!r} (ms or us)")
        value = round(float(number) * RTT_UNITS[unit.lower()], 6)
        if value < 0:
            raise argparse.ArgumentTypeError(f"round trip {part!r} is negative")
        if value > matrix.MAX_RTT_MS:
            raise argparse.ArgumentTypeError(f"round trip {part!r} is out of range (0 to {matrix.MAX_RTT_MS:g} ms)")
        if value not in out:
            out.append(value)
    if not out:
        raise argparse.ArgumentTypeError(f"{text!r} names no round trip")
    return out


def add_rtt(p: argparse.ArgumentParser, default: str) -> None:
    """``--rtt MS[,MS...]``: the round trips added between the client side and the server (one definition for
    ``db``, ``run`` and ``stack``); ``default`` says what happens without it."""
    p.add_argument("--rtt", type=rtt_values, action="append", metavar="MS[,MS...]",
                   help="round trips added between the client side and the server by a user-space delay proxy (half "
                        "each way), one cell per value; milliseconds: 0, 0.5, 1ms, 500us, 2ms; 0 means direct (no "
                        "proxy); the round trip each cell ran at is measured and recorded (see docs/network.md; "
                        f"{default})")


def rtt_of(args: argparse.Namespace) -> list[float] | None:
    """``--rtt``'s values, flattened in order, first occurrence kept; None when it was not given."""
    given = getattr(args, "rtt", None)
    if not given:
        return None
    return list(dict.fromkeys(value for group in given for value in group))


def flatten(values: list[list[int]] | None) -> list[int]:
    """What ``action="append"`` of :func:`counts` collects, flattened, first occurrence kept."""
    out: list[int] = []
    for group in values or []:
        out += [value for value in group if value not in out]
    return out


def check_writable(path: Path, *, directory: bool | None = None) -> Path:
    """Fail early, before anything is measured, if ``path`` cannot be written.

    ``directory=None`` guesses from the name (a suffix means a file); the
    folder is created if needed and a temporary file made and removed in it.
    """
    is_dir = (not path.suffix) if directory is None else directory
    folder = path if is_dir else path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ctxbench-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write results to {path}: {exc.strerror or exc}") from None
    return path


def add_locals_selection(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--impl``/``--load``/``--probe``/``--workers``: the locals selection, alike in every command taking it."""
    p.add_argument("--impl", action="append", metavar="NAME",
                   help="Local implementation: a registered name or package.module:Class "
                        "(repeatable, comma-separated; default: all)")
    p.add_argument("--load", action="append", metavar="NAME",
                   help="threads, gevent, gevent-nothread, greenlet, asyncio "
                        "(repeatable, comma-separated; default: all)")
    p.add_argument("--probe", action="append", metavar="NAME",
                   help="isolation, child-write, inheritance, stale-reuse, leak (default: all)")
    p.add_argument("--workers", type=count(1, 1024), default=None, metavar="N",
                   help="workers per probe cell (default: 8)")


def add_processes(p: argparse.ArgumentParser, *aliases: str, dest: str = "processes", what: str = "") -> None:
    """``--processes P[,P...]``: load processes per cell (a list, like ``--concurrency``); one definition for all."""
    p.add_argument("--processes", *aliases, dest=dest, type=counts(1, matrix.MAX_PROCESSES), action="append",
                   metavar="P[,P...]",
                   help=what or "load processes per database cell, each running --concurrency workers with its own "
                                "strategy, started together; their records are merged into one (default: 1)")


def add_repeats(p: argparse.ArgumentParser, what: str) -> None:
    """``--repeats N``: how often each measured cell runs, each time a fresh process in its own round (default None:
    the command's own, which ``what`` states)."""
    p.add_argument("--repeats", type=count(1, matrix.MAX_REPEATS), default=None, metavar="N",
                   help="measure each cell N times, each a fresh process, in interleaved rounds (every cell's first "
                        "measurement, then every cell's second, ...); tables show the median, the range and n "
                        f"({what})")


def repeats_of(args: argparse.Namespace, default: int = matrix.COMMAND_REPEATS) -> int:
    """``--repeats`` if given, else ``default``."""
    given = getattr(args, "repeats", None)
    return default if given is None else int(given)


MYSQL_URL_HELP = ("mysql://user:password@host:port/database (default: $CTXBENCH_MYSQL_URL, then 127.0.0.1:3306 as "
                  "root, then a private server); TLS: ?ssl_ca=PATH[&ssl_verify_identity=true], ssl_cert, ssl_key, "
                  "ssl_verify_cert, or ssl=true (encrypted but unverified)")


def add_db_selection(p: argparse.ArgumentParser, *, load_alias: bool = True) -> None:
    """The database selection flags, the same in ``db`` and ``run``."""
    p.add_argument("--strategy", action="append", metavar="NAME",
                   help="global, global-reconnect, locked, pooled, pooled-tuned, persistent, per-request, "
                        "sqlalchemy-queuepool, own-connection; under asyncio: global, locked, per-request, "
                        "own-connection, aiomysql-pool, asyncmy-pool, sqlalchemy-async, to-thread; the network "
                        "variants pooled-timeout, per-request-timeout, own-connection-timeout, sqlalchemy-pre-ping, "
                        "sqlalchemy-recycle, and under asyncio aiomysql-pool-recycle, sqlalchemy-async-pre-ping; or "
                        "package.module:factory (default: every one that runs under the selected loads, "
                        "but global-reconnect and the network variants)")
    names = ("--db-load", "--load") if load_alias else ("--db-load",)
    p.add_argument(*names, dest="db_load", action="append", metavar="NAME",
                   help="threads, gevent, gevent-nothread, asyncio (default: threads, gevent)")
    p.add_argument("--concurrency", type=counts(1, 10000), action="append", metavar="N[,N...]",
                   help="workers per cell (default: 1,16,64)")
    p.add_argument("--duration", type=seconds(0, 3600), default=None, metavar="S",
                   help="measured seconds per cell, after the warm-up (default: 1)")
    p.add_argument("--warmup", type=seconds(0, 3600, allow_low=True), default=None, metavar="S",
                   help="warm-up seconds per cell, not measured (default: 0.5)")
    p.add_argument("--request-impl", action="append", metavar="NAME",
                   help="Local impls for the request scenario "
                        "(default: fast, contextvar, threading-local; 'none' to skip)")
    p.add_argument("--request-strategy", action="append", metavar="NAME",
                   help="strategies for the request scenario (default: pooled-tuned, locked, per-request)")
    p.add_argument("--hang-after", type=seconds(0, 3600), default=None, metavar="S",
                   help="end a database cell as 'hung' after S seconds without progress (default: 5)")
    add_processes(p)
    p.add_argument("--mysql-url", metavar="URL", help=MYSQL_URL_HELP)


def locals_selection(args: argparse.Namespace) -> tuple[list[str], list[str], list[str], list[str]]:
    """(impls, loads, probes, error lines): unknown impl and load names are error lines, the rest still runs."""
    impls, errors = select_impls(split_names(args.impl))
    loads, load_errors = select_loads(split_names(args.load))
    probes = select_probes(split_names(args.probe))
    return impls, loads, probes, errors + load_errors


def locals_plan(args: argparse.Namespace, *, quick: bool = False, micro_processes: int | None = None) -> LocalsPlan:
    """The locals plan of ``args``; any unknown name is a UsageError (for commands that run nothing partial)."""
    impls, loads, probes, errors = locals_selection(args)
    if errors:
        raise UsageError(errors[0])
    return LocalsPlan(
        impls=tuple(impls), loads=tuple(loads), probes=tuple(probes),
        workers=args.workers or matrix.LOCAL_WORKERS, micro=not args.no_micro,
        micro_processes=micro_processes or (matrix.MICRO_QUICK_PROCESSES if quick else matrix.MICRO_PROCESSES),
        micro_values=matrix.MICRO_QUICK_VALUES if quick else matrix.MICRO_VALUES,
        parallel=not args.no_micro and not getattr(args, "no_parallel", False),
    )


def db_selection(args: argparse.Namespace, *, quick: bool = False, with_drivers: bool = True) -> DbSelection:
    """The database flags as a validated selection (UsageError on the first bad value); ``--driver`` a dimension of it
    unless not ``with_drivers`` (``ctxbench run``, where it names the driver part's drivers)."""
    defaults = matrix.DB_QUICK if quick else matrix.DB_DEFAULT
    concurrency = flatten(args.concurrency) or list(defaults["concurrency"])
    request_impls = split_names(args.request_impl) or list(defaults["request_impls"])
    if request_impls == ["none"]:
        request_impls = []
    loads = split_names(args.db_load) or list(defaults["loads"])
    drivers = drivers_of(args) if with_drivers else None
    return check_selection(DbSelection(
        strategies=split_names(args.strategy) or taking(matrix.default_db_strategies(
            loads, defaults["strategies"], matrix.DB_ASYNC_STRATEGIES), loads, drivers),
        loads=loads,
        concurrency=list(dict.fromkeys(concurrency)),
        duration=args.duration if args.duration is not None else defaults["duration"],
        warmup=args.warmup if args.warmup is not None else defaults["warmup"],
        request_impls=request_impls,
        request_strategies=split_names(args.request_strategy) or taking(matrix.default_db_strategies(
            loads, defaults["request_strategies"], matrix.DB_ASYNC_REQUEST_STRATEGIES), loads, drivers),
        hang_after=args.hang_after or defaults["hang_after"],
        processes=flatten(getattr(args, "processes", None)) or list(matrix.PROCESSES_DEFAULT),
        rtt_ms=rtt_of(args), drivers=drivers,
    ))


def async_part(db: DbSelection, *, quick: bool) -> DbSelection | None:
    """The asyncio part of ``ctxbench run`` beside ``db`` (its timing, hang bound and processes), or None when the
    asyncio drivers are not installed (said once, as a warning: the rest of the run goes on)."""
    import importlib.util
    import logging

    missing = [name for name in matrix.DB_ASYNC_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        logging.getLogger(__name__).warning("the asyncio part is left out: it needs %s: pip install "
                                            "'ctxbench[asyncio]'", ", ".join(missing))
        return None
    part = matrix.DB_ASYNC_RUN_QUICK if quick else matrix.DB_ASYNC_RUN
    return check_selection(DbSelection(
        strategies=list(part["strategies"]), loads=list(part["loads"]), concurrency=list(part["concurrency"]),
        duration=db.duration, warmup=db.warmup, request_impls=list(part["request_impls"]) if db.request_impls else [],
        request_strategies=list(part["request_strategies"]), hang_after=db.hang_after, processes=list(db.processes),
    ))


def network_part(db: DbSelection, args: argparse.Namespace, *, quick: bool) -> DbSelection:
    """The network part of ``ctxbench run`` beside ``db`` (its timing, hang bound and processes): its strategies under
    its load at its concurrency, one cell per round trip -- ``--rtt``'s, else the matrix's."""
    part = matrix.NET_RUN_QUICK if quick else matrix.NET_RUN
    return check_selection(DbSelection(
        strategies=list(part["strategies"]), loads=list(part["loads"]), concurrency=list(part["concurrency"]),
        duration=db.duration, warmup=db.warmup, request_impls=[], hang_after=db.hang_after,
        processes=list(db.processes), rtt_ms=rtt_of(args) or list(part["rtt_ms"]),
    ))


def add_stack_selection(p: argparse.ArgumentParser) -> None:
    """The real-stack selection flags of ``ctxbench stack``."""
    p.add_argument("--server", action="append", metavar="NAME",
                   help="gunicorn-gthread, gunicorn-gevent, gevent-pywsgi, gevent-pywsgi-nothread, waitress, uvicorn "
                        "(the ASGI app) (repeatable, comma-separated; default: all)")
    p.add_argument("--impl", action="append", metavar="NAME",
                   help="Local the app keeps the request token in: a registered name, package.module:Class or "
                        "flask-g (default: threading-local, fast)")
    p.add_argument("--strategy", action="append", metavar="NAME",
                   help="connection strategy the app queries through, or package.module:factory "
                        "(default: global, pooled-tuned; under uvicorn: global, aiomysql-pool)")
    p.add_argument("--concurrency", type=counts(1, 1024), action="append", metavar="N[,N...]",
                   help="concurrent HTTP clients per cell (default: 16)")
    p.add_argument("--duration", type=seconds(0, 3600), default=None, metavar="S",
                   help="measured seconds per cell, after the warm-up (default: 1)")
    p.add_argument("--warmup", type=seconds(0, 3600, allow_low=True), default=None, metavar="S",
                   help="warm-up seconds per cell, not measured (default: 0.5)")
    add_processes(p, "--workers", dest="workers",
                  what="server worker processes per cell (--workers is the same; only gunicorn and uvicorn run "
                       "several; default: 1, as the in-process model has)")
    p.add_argument("--mysql-url", metavar="URL", help=MYSQL_URL_HELP)


def stack_selection(args: argparse.Namespace | None = None, *, quick: bool = False,
                    workers: list[int] | None = None) -> StackSelection:
    """The real-stack flags of ``args`` (defaults for what is not given, or for everything without ``args``).

    ``workers`` (``ctxbench run``'s ``--processes``) replaces the worker counts; a one-process server asked for
    several is then not an error here: its cells are recorded ``skipped`` saying so.
    """
    defaults = matrix.STACK_QUICK if quick else matrix.STACK_DEFAULT

    def given(name: str) -> Any:
        return getattr(args, name, None) if args is not None else None

    drivers = drivers_of(args) if args is not None else None
    return check_stack(StackSelection(
        servers=split_names(given("server")) or serving(defaults, drivers),
        impls=split_names(given("impl")) or list(defaults["impls"]),
        strategies=split_names(given("strategy")) or list(defaults["strategies"]),
        async_strategies=None if split_names(given("strategy")) else list(defaults["async_strategies"]),
        concurrency=list(dict.fromkeys(flatten(given("concurrency")))) or list(defaults["concurrency"]),
        duration=given("duration") if given("duration") is not None else defaults["duration"],
        warmup=given("warmup") if given("warmup") is not None else defaults["warmup"],
        workers=workers or flatten(given("workers")) or [defaults["workers"]],
        rtt_ms=rtt_of(args) if args is not None else None, drivers=drivers,
    ), skip_unfit=workers is not None)


def add_locust_run(p: argparse.ArgumentParser) -> None:
    """The run flags of ``ctxbench locust`` and ``ctxbench locust master`` (defaults: ``matrix.LOCUST_DEFAULT``)."""
    d = matrix.LOCUST_DEFAULT
    p.add_argument("--scenario", choices=("db", "stack"), default=d["scenario"],
                   help="db: each Locust user is one db worker (a greenlet) running the mix through the strategy; "
                        "stack: each user is an HTTP client of the real stack's app (default: db)")
    p.add_argument("--strategy", default=d["strategy"], metavar="NAME",
                   help=f"connection strategy, or package.module:factory (default: {d['strategy']})")
    p.add_argument("--mix", default=None, metavar="OP:W,...",
                   help="db scenario: operations and weights "
                        "(default: select_token:48,pk_lookup:1,write_txn:1)")
    p.add_argument("--users", type=count(1, 100_000), default=d["users"], metavar="U",
                   help=f"Locust users in total, spread over the workers (default: {d['users']})")
    p.add_argument("--duration", type=seconds(0, 3600), default=d["duration"], metavar="S",
                   help=f"measured seconds, after the warm-up (default: {d['duration']:g})")
    p.add_argument("--warmup", type=seconds(0, 3600, allow_low=True), default=d["warmup"], metavar="S",
                   help=f"seconds after every user started before the window (default: {d['warmup']:g})")
    p.add_argument("--report-grace", type=seconds(0, 600), default=d["report_grace"], metavar="S",
                   help="seconds the master waits for the workers' reports after the window "
                        f"(default: {d['report_grace']:g})")
    p.add_argument("--connect-timeout", type=seconds(0, 3600), default=d["connect_timeout"], metavar="S",
                   help=f"seconds to wait for the workers to connect (default: {d['connect_timeout']:g})")
    p.add_argument("--host", metavar="URL", help="stack scenario: the running ctxbench app to load (http://...)")
    p.add_argument("--app-server", default=d["server"], metavar="NAME",
                   help=f"stack scenario without --host: the server the app is started under (default: {d['server']})")
    p.add_argument("--app-impl", default=d["impl"], metavar="NAME",
                   help=f"stack scenario: the Local the app keeps the token in (default: {d['impl']})")
    p.add_argument("--bind-host", default=d["bind_host"], metavar="ADDR",
                   help=f"address the master listens on for workers (default: {d['bind_host']})")
    p.add_argument("--out", type=Path, default=Path("results"), metavar="DIR",
                   help="the run directory is made under DIR (default: results)")
    p.add_argument("--mysql-url", metavar="URL", help=MYSQL_URL_HELP)
