"""What ``ctxbench doctor`` reports about the database side.

Contract: finds a server as :func:`~bench.server.discovery.find_server` does (stopping it again if it started
one).  A bad URL still raises UsageError; no server at all gives ``{"found": False, "reason": ..., "help": ...}``.
"""

from __future__ import annotations

from typing import Any

from bench.server import programs
from bench.server.discovery import find_server
from bench.server.facts import server_info
from bench.server.target import ServerUnavailable

#: The facts of :func:`~bench.server.facts.server_info` that doctor reports, in its order.
_FACTS = ("version", "flavor", "max_connections", "thread_handling", "auth_plugin", "tls", "tls_version", "tls_cipher",
          "tls_mode", "tls_verified", "tls_settings", "tls_summary", "tls_available")


def doctor(url: str | None = None) -> dict[str, Any]:
    """The database facts for ``ctxbench doctor`` (what it tried is logged as it goes)."""
    slap = programs.find_mysqlslap()
    try:
        handle = find_server(url)
    except ServerUnavailable as exc:
        return {"found": False, "reason": exc.reason, "help": exc.help, "mysqlslap": slap,
                "mysqlslap_available": slap is not None}
    with handle:
        info = server_info(handle.target)
    return {
        "found": True,
        "path_taken": handle.path_taken,
        "url": handle.target.redacted_url(),
        **{name: info[name] for name in _FACTS},
        "ephemeral": handle.ephemeral,
        "mysqlslap": slap,
        "mysqlslap_available": slap is not None,
    }
