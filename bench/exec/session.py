"""A server for the duration of a command: found (or started, and stopped again), facts recorded.

Shared by ``ctxbench db`` and ``ctxbench run`` so that both find a server the same way and say the
same thing when there is none.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import bench.server as mysql

log = logging.getLogger(__name__)


@contextmanager
def open_server(url: str | None, environment: dict[str, Any]) -> Iterator[Any]:
    """Yield a ServerTarget (or None when no server can be had, after saying why and how to get one).

    A server the suite started itself is stopped when the block ends, however it ends.  The
    server's facts go into ``environment``; never its password.
    """
    try:
        handle = mysql.find_server(url)
    except mysql.ServerUnavailable as exc:
        log.warning("no MySQL-protocol server, database cells are reported as skipped: %s", exc.reason)
        log.warning("%s", exc.help)
        environment["server"] = {"found": False, "reason": exc.reason}
        yield None
        return
    with handle:
        info = mysql.server_info(handle.target)
        environment["server"] = {"found": True, "path_taken": handle.path_taken, "ephemeral": handle.ephemeral, **info}
        yield handle.target
