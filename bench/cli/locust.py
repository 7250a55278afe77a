"""``ctxbench locust``: the db or stack load on Locust's master and workers, merged into one record.

Three forms, each a thin wrapper running Locust headless with the locustfile of :mod:`bench.locustload`:
``ctxbench locust master`` (workers connect from other machines), ``ctxbench locust worker`` (one worker), and
``ctxbench locust --processes N`` (a master and N worker processes on this machine).  The server's URL reaches every
Locust process through its environment (``CTXBENCH_MYSQL_URL``), never through a command line or a Locust option.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from bench.cli.args import MYSQL_URL_HELP, add_locust_run, check_writable, count, seconds
from bench.cli.common import sigterm_as_interrupt
from bench.errors import EXIT_ERROR, EXIT_OK, EXIT_REGRESSION, UsageError
from bench.plan import matrix
from bench.records.kinds import DbRecord, Record, StackRecord
from bench.records.schema import RecordInvalid, from_json

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    d = matrix.LOCUST_DEFAULT
    p = sub.add_parser("locust", help="the db or stack load on Locust master/workers (one machine or several)")
    add_locust_run(p)
    p.add_argument("--processes", type=count(1, 256), default=d["processes"], metavar="N",
                   help=f"worker processes on this machine, each started and ended by pid (default: {d['processes']})")
    p.add_argument("--port", type=count(0, 65535), default=0, metavar="PORT",
                   help="the master's port (default: a free one)")
    p.set_defaults(func=run_local, role=None)
    forms = p.add_subparsers(dest="role", metavar="{master,worker}", parser_class=type(p))
    m = forms.add_parser("master", help="the master only: N workers connect with 'ctxbench locust worker'")
    add_locust_run(m)
    m.add_argument("--expect-workers", type=count(1, 10_000), required=True, metavar="N",
                   help="workers that must connect before the run starts")
    m.add_argument("--port", type=count(1, 65535), default=d["port"], metavar="PORT",
                   help=f"the master's port (default: {d['port']})")
    m.set_defaults(func=run_master)
    w = forms.add_parser("worker", help="one worker: it takes the run from the master")
    w.add_argument("--master-host", required=True, metavar="HOST", help="where the master listens")
    w.add_argument("--master-port", type=count(1, 65535), default=d["port"], metavar="PORT",
                   help=f"the master's port (default: {d['port']})")
    w.add_argument("--connect-timeout", type=seconds(0, 3600), default=d["connect_timeout"], metavar="S",
                   help=f"seconds to wait for the master to answer (default: {d['connect_timeout']:g})")
    w.add_argument("--timeout", type=seconds(0, 86_400), default=d["worker_timeout"], metavar="S",
                   help="seconds after which the worker is ended whatever the master does "
                        f"(default: {d['worker_timeout']:g})")
    w.add_argument("--mysql-url", metavar="URL", help=MYSQL_URL_HELP + "; never a private server")
    w.set_defaults(func=run_worker)


def _check(args: argparse.Namespace, workers: int) -> None:
    """Bad input, before any process starts: one line."""
    from bench.cell.strategies import StrategyError, check_name

    try:
        check_name(args.strategy)
    except StrategyError as exc:
        raise UsageError(str(exc)) from None
    if args.users < workers:
        raise UsageError(f"--users {args.users} is fewer than the {workers} workers: each worker needs a user")
    if args.mix is not None:
        from bench.cell.db.workload import parse_mix

        try:
            parse_mix(args.mix)
        except ValueError as exc:
            raise UsageError(f"--mix: {exc}") from None
    if args.host is not None and not args.host.startswith(("http://", "https://")):
        raise UsageError("--host must be an http:// or https:// URL")
    from bench.webstack import missing_extra

    missing = missing_extra()
    if missing:
        raise UsageError(missing)


def _spec(args: argparse.Namespace, workers: int, port: int, run_dir: Any) -> Any:
    from bench.locustload.launch import RunSpec

    d = matrix.LOCUST_DEFAULT
    return RunSpec(scenario=args.scenario, strategy=args.strategy, users=args.users, workers=workers,
                   duration=args.duration, warmup=args.warmup, report_grace=args.report_grace,
                   connect_timeout=args.connect_timeout, stop_timeout=d["stop_timeout"], bind_host=args.bind_host,
                   port=port, run_dir=run_dir, host=args.host, impl=args.app_impl, server=args.app_server,
                   mix=args.mix)


def _typed(found: Record | dict[str, Any]) -> DbRecord | StackRecord:
    """The run's record as an object: the session reads it back from the run directory in its JSON form."""
    rec = found if isinstance(found, Record) else from_json(found, {"db", "stack"})
    if not isinstance(rec, DbRecord | StackRecord):
        raise RecordInvalid(f"a {rec.kind} record where a db or stack record was expected")
    return rec


def _finish(found: Record | dict[str, Any] | None, run_dir: Any) -> int:
    """Print the summary of the record the run wrote (``found``, None if none); 0 complete, 1 partial or none."""
    from bench.locustload.summary import print_summary

    if found is None:
        log.error("the run wrote no record (see the Locust output above); %s", run_dir)
        return EXIT_REGRESSION
    try:
        rec = _typed(found)
    except RecordInvalid as exc:
        log.error("the run's record is not readable: %s; %s", exc, run_dir)
        return EXIT_REGRESSION
    print_summary(rec, run_dir)
    if rec.partial:
        log.warning("partial: no report from %s", ", ".join(rec.missing_workers or []))
        return EXIT_REGRESSION
    return EXIT_OK if rec.outcome in ("ok", "errors") else EXIT_REGRESSION


def _warn_exposed(bind_host: str) -> None:
    """Say so when the master listens beyond this machine: Locust's port has no authentication."""
    if bind_host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the Locust master listens on %s: anyone who reaches that port can join as a worker", bind_host)


def _server(args: argparse.Namespace, stack: Any, *, allow_private: bool) -> Any:
    """The server target (None for a stack run against --host), or a UsageError."""
    import bench.server as mysql

    if args.scenario == "stack" and args.host is not None and args.mysql_url is None:
        return None
    try:
        handle = mysql.find_server(args.mysql_url, allow_ephemeral=allow_private)
    except mysql.ServerUnavailable as exc:
        raise UsageError(exc.reason) from None
    return stack.enter_context(handle).target


def run_local(args: argparse.Namespace) -> int:
    """``ctxbench locust --processes N``: a master and N workers here."""
    from contextlib import ExitStack

    from bench.exec.rundir import RunDir
    from bench.locustload.session import run_local as session
    from bench.webstack.launch import free_port

    _check(args, args.processes)
    _warn_exposed(args.bind_host)
    sigterm_as_interrupt()
    check_writable(args.out, directory=True)
    with ExitStack() as stack:
        target = _server(args, stack, allow_private=True)
        run_dir = RunDir.create(args.out)
        spec = _spec(args, args.processes, args.port or free_port(), run_dir.path)
        return _finish(session(spec, target), run_dir.path)
    return EXIT_ERROR  # not reached


def run_master(args: argparse.Namespace) -> int:
    """``ctxbench locust master``: the master; its workers connect from elsewhere."""
    from contextlib import ExitStack

    from bench.exec.rundir import RunDir
    from bench.locustload.session import run_master as session

    _check(args, args.expect_workers)
    _warn_exposed(args.bind_host)
    sigterm_as_interrupt()
    if args.scenario == "stack" and args.host is None:
        raise UsageError("the stack scenario of 'ctxbench locust master' needs --host URL of a running app")
    check_writable(args.out, directory=True)
    with ExitStack() as stack:
        target = _server(args, stack, allow_private=False) if args.scenario == "db" or args.mysql_url else None
        run_dir = RunDir.create(args.out)
        return _finish(session(_spec(args, args.expect_workers, args.port, run_dir.path), target), run_dir.path)
    return EXIT_ERROR  # not reached


def run_worker(args: argparse.Namespace) -> int:
    """``ctxbench locust worker``: one worker of a master elsewhere."""
    import bench.server as mysql
    from bench.cli.common import check_url_early
    from bench.locustload.session import run_worker as session

    check_url_early(args.mysql_url)
    sigterm_as_interrupt()
    target = mysql.parse_url(args.mysql_url) if args.mysql_url else None
    try:
        return session(args.master_host, args.master_port, target, connect_timeout=args.connect_timeout,
                       timeout=args.timeout)
    except ConnectionError as exc:
        log.error("%s", exc)
        return EXIT_REGRESSION
