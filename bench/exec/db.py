"""The database matrix through the pipeline, for callers that hold a server target.

:func:`run_db` runs every strategy x load x concurrency cell (and every request-scenario cell:
Local impl x strategy x load at one concurrency) of a :class:`~bench.plan.selection.DbSelection`
after a ``mysqlslap`` ceiling per concurrency, each cell in its own process, and returns
``(records, error_lines)``.  With no server (``target`` None) every planned cell is recorded
``skipped``.  The selection is checked before anything starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.errors import UsageError
from bench.exec.pipeline import MemorySink, Pipeline
from bench.plan.cells import plan_db
from bench.plan.selection import DbSelection, check_selection
from bench.records.kinds import Record

#: Keywords a caller may not pass as connect options: they come from the server target.
RESERVED_CONNECT_OPTIONS = ("password", "passwd", "host", "port", "user", "database", "db")


def run_db(target: Any, selection: DbSelection, *, ceiling: bool = True,
           connect_options: Mapping[str, Any] | None = None,
           quiet: bool = True) -> tuple[list[Record], list[str]]:
    """Run the database matrix of ``selection`` against ``target`` (a ServerTarget, or None: every cell ``skipped``).

    ``ceiling``: measure the server's ``mysqlslap`` ceiling at each concurrency first (never without a server).
    ``connect_options`` are extra ``pymysql.connect`` keywords for every strategy (e.g. ``{"ssl_disabled": True}``),
    recorded with each cell.  Every ``selection.processes`` value is one cell of that many processes of
    ``concurrency`` workers, merged into one record.  A bad selection is a one-line UsageError.
    """
    check_selection(selection)
    for key in connect_options or {}:
        if key in RESERVED_CONNECT_OPTIONS:
            raise UsageError(f"connect option {key!r} is not allowed here (it comes from the server target)")
    cells = plan_db(selection, ceiling=ceiling and target is not None,
                    request_concurrency=selection.request_concurrency,
                    mix=dict(selection.mix) if selection.mix else None)
    sink = MemorySink(exclude=("ceiling",))
    pipeline = Pipeline(sink, title="db", quiet=quiet, target=target,
                        connect_options=dict(connect_options) if connect_options else None)
    errors = pipeline.run(cells)
    return sink.records, errors
