"""The database matrix through the pipeline, for callers that hold a server target.

:func:`run_db` runs every strategy x load x concurrency cell (and every request-scenario cell:
Local impl x strategy x load at one concurrency) after a ``mysqlslap`` ceiling per concurrency,
each cell in its own process, and returns ``(records, error_lines)``.  With no server (``target``
None) every planned cell is recorded ``skipped``.  Inputs are validated before anything starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.cell.db import DEFAULT_HANG_AFTER
from bench.errors import UsageError
from bench.exec.pipeline import MemorySink, Pipeline
from bench.plan.cells import plan_db
from bench.plan.matrix import DB_DEFAULT, REQUEST_CONCURRENCY
from bench.plan.selection import DbSelection, check_processes, validate_db

#: Keywords a caller may not pass as connect options: they come from the server target.
RESERVED_CONNECT_OPTIONS = ("password", "passwd", "host", "port", "user", "database", "db")


def run_db(
    target: Any,
    *,
    strategies: Sequence[str] = DB_DEFAULT["strategies"],
    loads: Sequence[str] = DB_DEFAULT["loads"],
    concurrency: Sequence[int] = DB_DEFAULT["concurrency"],
    duration: float = DB_DEFAULT["duration"],
    warmup: float = DB_DEFAULT["warmup"],
    impls_for_request: Sequence[str] | None = None,
    mix: Mapping[str, int] | None = None,
    request_strategies: Sequence[str] | None = None,
    request_concurrency: int = REQUEST_CONCURRENCY,
    hang_after: float = DEFAULT_HANG_AFTER,
    ceiling: bool = True,
    connect_options: Mapping[str, Any] | None = None,
    quiet: bool = True,
    processes: Sequence[int] = (1,),
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run the database matrix against ``target`` (a ServerTarget, or None: every cell ``skipped``).

    ``mix`` defaults to the cell's DEFAULT_MIX; the request scenario always echoes its request
    token (``SELECT %s``).  ``connect_options`` are extra ``pymysql.connect`` keywords for every
    strategy (e.g. ``{"ssl_disabled": True}``), recorded with each cell.  ``processes``: one cell per value, each
    of that many processes of ``concurrency`` workers, merged into one record.
    """
    validate_db(strategies=strategies, loads=loads, concurrency=concurrency, duration=duration, warmup=warmup,
                impls_for_request=impls_for_request, mix=mix, request_concurrency=request_concurrency)
    for key in connect_options or {}:
        if key in RESERVED_CONNECT_OPTIONS:
            raise UsageError(f"connect option {key!r} is not allowed here (it comes from the server target)")
    selection = DbSelection(strategies=list(strategies), loads=list(loads), concurrency=list(concurrency),
                            duration=duration, warmup=warmup, request_impls=list(impls_for_request or ()),
                            request_strategies=list(request_strategies or strategies), hang_after=hang_after,
                            processes=list(processes))
    check_processes(selection.processes)
    cells = plan_db(selection, ceiling=ceiling and target is not None, request_concurrency=request_concurrency,
                    mix=dict(mix) if mix else None)
    sink = MemorySink(exclude=("ceiling",))
    pipeline = Pipeline(sink, title="db", quiet=quiet, target=target,
                        connect_options=dict(connect_options) if connect_options else None)
    errors = pipeline.run(cells)
    return sink.records, errors

