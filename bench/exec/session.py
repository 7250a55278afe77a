"""The database side of a command: validated selection, and a server for its duration.

Shared by ``ctxbench db`` and ``ctxbench run`` so that both pick defaults,
reject bad input and find (or start, and stop again) a server the same way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.exec import db as dbrun
from bench.cli.args import flatten
from bench.plan.matrix import split_names

#: The request scenario's defaults: enough to contrast a context-safe Local, a
#: werkzeug-2 style one and the thread-only baseline over a good pool, a lock
#: and a connection per request.
REQUEST_IMPLS: tuple[str, ...] = ("fast", "contextvar", "threading-local")
REQUEST_STRATEGIES: tuple[str, ...] = ("pooled-tuned", "locked", "per-request")


@dataclass(frozen=True)
class DbSelection:
    strategies: list[str]
    loads: list[str]
    concurrency: list[int]
    duration: float
    warmup: float
    request_impls: list[str]
    request_strategies: list[str]
    #: Seconds without progress after which a cell ends itself as ``hung``.
    hang_after: float = dbrun.DEFAULT_HANG_AFTER


def db_selection(args: argparse.Namespace, *, quick: bool = False) -> DbSelection:
    """Turn the db flags into a validated selection (UsageError on the first bad value)."""
    from bench.plan import matrix

    defaults = matrix.DB_QUICK if quick else matrix.DB_DEFAULT
    concurrency = flatten(args.concurrency) or list(defaults["concurrency"])
    request_impls = split_names(args.request_impl) or list(defaults["request_impls"])
    if request_impls == ["none"]:
        request_impls = []
    selection = DbSelection(
        strategies=split_names(args.strategy) or list(defaults["strategies"]),
        loads=split_names(args.db_load) or list(defaults["loads"]),
        concurrency=list(dict.fromkeys(concurrency)),
        duration=args.duration if args.duration is not None else defaults["duration"],
        warmup=args.warmup if args.warmup is not None else defaults["warmup"],
        request_impls=request_impls,
        request_strategies=split_names(args.request_strategy) or list(defaults["request_strategies"]),
        hang_after=getattr(args, "hang_after", None) or dbrun.DEFAULT_HANG_AFTER,
    )
    dbrun.validate(strategies=selection.strategies, loads=selection.loads, concurrency=selection.concurrency,
                   duration=selection.duration, warmup=selection.warmup, impls_for_request=selection.request_impls)
    dbrun.validate(strategies=selection.request_strategies, loads=selection.loads, concurrency=selection.concurrency,
                   duration=selection.duration, warmup=selection.warmup)
    return selection


@contextmanager
def open_server(url: str | None, environment: dict[str, Any], *, quiet: bool = False) -> Iterator[Any]:
    """Yield a ServerTarget (or None when no server can be had, after saying why and how to get one).

    A server the suite started itself is stopped when the block ends, however
    it ends.  The server's facts go into ``environment``; never its password.
    """
    import bench.server as mysql

    say = (lambda _line: None) if quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        handle = mysql.find_server(url, progress=say)
    except mysql.ServerUnavailable as exc:
        print(f"ctxbench: no MySQL-protocol server, database cells are reported as skipped: {exc.reason}", file=sys.stderr)
        print(exc.help, file=sys.stderr)
        environment["server"] = {"found": False, "reason": exc.reason}
        yield None
        return
    with handle:
        info = mysql.server_info(handle.target)
        environment["server"] = {"found": True, "path_taken": handle.path_taken, "ephemeral": handle.ephemeral, **info}
        yield handle.target
