"""Finding a server, the same way for every command and test (:func:`find_server`), in this order:

1. ``--mysql-url`` or ``CTXBENCH_MYSQL_URL``.  A URL the user gave must work: if it does not, a one-line
   UsageError names the cause within a bounded time -- never a silent fallback to another server.
2. A server already answering on 127.0.0.1:3306 as ``root`` without a password.
3. A private, throwaway server started from ``mariadbd``/``mysqld`` (:mod:`bench.server.private`).
4. Otherwise :class:`~bench.server.target.ServerUnavailable`, whose message says how to get a server.

Progress goes to this package's logger.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from bench.server.connect import check_target, describe_failure, open_connection
from bench.server.handle import ServerHandle
from bench.server.private import start_ephemeral
from bench.server.target import (
    DEFAULT_DATABASE,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_USER,
    ENV_SKIP_LOCAL,
    ENV_URL,
    LOCAL_TIMEOUT,
    START_TIMEOUT,
    URL_TIMEOUT,
    Placement,
    ServerTarget,
    ServerUnavailable,
    origin,
)
from bench.server.url import parse_url

log = logging.getLogger(__name__)


def find_server(url: str | None = None, *, allow_ephemeral: bool = True, skip_local_default: bool | None = None,
                timeout: float = URL_TIMEOUT, start_timeout: float = START_TIMEOUT) -> ServerHandle:
    """Find a server in the order the module docstring gives.

    ``url`` (or ``CTXBENCH_MYSQL_URL`` when ``url`` is None) must work within ``timeout`` seconds or a one-line
    UsageError says why.  ``skip_local_default`` (default: env ``CTXBENCH_MYSQL_SKIP_LOCAL=1``) skips
    127.0.0.1:3306; ``allow_ephemeral=False`` never starts a server.  Raises :class:`ServerUnavailable` (or its
    ``EphemeralStartError``) when nothing is found.
    """
    if url is None and os.environ.get(ENV_URL, "").strip():
        url, source = os.environ[ENV_URL], "env"
    else:
        source = "url"
    if url is not None:
        target = parse_url(url, source)
        log.info("checking %s from %s", target.redacted_url(), origin(source))
        check_target(target, timeout=timeout)
        return ServerHandle(target, f"{origin(source)}: {target.redacted_url()}")

    tried: list[str] = []
    if skip_local_default is None:
        skip_local_default = os.environ.get(ENV_SKIP_LOCAL, "").strip() not in ("", "0")
    if skip_local_default:
        tried.append(f"{DEFAULT_HOST}:{DEFAULT_PORT} skipped")
    else:
        log.info("trying root without password on %s:%s", DEFAULT_HOST, DEFAULT_PORT)
        local, why = _try_local_default()
        if local is not None:
            return ServerHandle(local, f"local default: root without password on {DEFAULT_HOST}:{DEFAULT_PORT}")
        tried.append(f"{DEFAULT_HOST}:{DEFAULT_PORT}: {why}")

    if allow_ephemeral:
        handle = start_ephemeral(start_timeout)
        if handle is not None:
            return handle
        tried.append("no mariadbd or mysqld on PATH or in /usr/sbin")
    else:
        tried.append("starting a private server not allowed")
    raise ServerUnavailable(f"no MySQL-protocol server: no {ENV_URL} or --mysql-url, " + "; ".join(tried))


def start_private_server(*, timeout: float = START_TIMEOUT, server_args: Sequence[str] = (),
                         placement: Placement = Placement()) -> ServerHandle:
    """Always a fresh private server (step 3 alone), whatever URL or local server exists.

    For what may only be done to a server ctxbench owns: killing and restarting it (``ctxbench faults``), or
    starting it with options of its own (``server_args``, e.g. TLS certificates; none may override where it
    listens), or elsewhere than 127.0.0.1 (``placement``: inside a network namespace, :mod:`bench.net.netns`).
    Raises :class:`ServerUnavailable` without a server binary.
    """
    handle = start_ephemeral(timeout, server_args, placement)
    if handle is None:
        raise ServerUnavailable("no mariadbd or mysqld on PATH or in /usr/sbin to start a private server")
    return handle


def _try_local_default() -> tuple[ServerTarget | None, str]:
    """Log in as root without password on 127.0.0.1:3306, creating database ``test`` if missing.

    Returns the target, or None and why not (one short phrase).
    """
    import pymysql

    target = ServerTarget(DEFAULT_HOST, DEFAULT_PORT, DEFAULT_USER, "", DEFAULT_DATABASE, "local-default")
    try:
        conn = open_connection(target, timeout=LOCAL_TIMEOUT, database=False)
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW DATABASES LIKE %s", (DEFAULT_DATABASE,))
                if not cur.fetchall():  # CREATE needs a privilege SHOW does not: only when missing
                    cur.execute(f"CREATE DATABASE IF NOT EXISTS `{DEFAULT_DATABASE}`")
        finally:
            conn.close()
    except pymysql.err.MySQLError as exc:
        return None, describe_failure(exc, target)
    return target, ""
