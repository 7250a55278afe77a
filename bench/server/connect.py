"""Logging in to a server: one bounded connection, and the one-line reason a login failed.

Contract: :func:`check_target` either returns (the login and ``SELECT 1`` worked within the timeout) or raises a
one-line :class:`~bench.errors.UsageError` naming the cause (unknown host, refused, timeout, access denied,
unknown database, a TLS certificate not accepted, ...) and never the password.  PyMySQL is imported only when a
connection is opened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from bench.errors import UsageError
from bench.server.target import URL_TIMEOUT, ServerTarget, origin, scrub

T = TypeVar("T")


class DeadlineExceeded(Exception):
    """A call given to :func:`run_with_deadline` did not finish in time."""


def open_connection(target: ServerTarget, *, timeout: float, database: bool = True) -> Any:
    """A PyMySQL connection (autocommit) whose connect and every read/write is bounded by ``timeout``."""
    import pymysql

    kwargs = target.connect_kwargs()
    if not database:
        kwargs["database"] = None
    return pymysql.connect(**kwargs, connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout,
                           autocommit=True, charset="utf8mb4")


def run_with_deadline(fn: Callable[[], T], timeout: float) -> T:
    """``fn()`` in a daemon thread, given up after ``timeout`` seconds (:class:`DeadlineExceeded`).

    Socket timeouts bound each connect and read but not name resolution, and a login is several reads; a thread
    puts one hard bound on the whole attempt.  A late attempt finishes on its own socket timeouts and is discarded.
    The thread is a daemon (not a ``ThreadPoolExecutor`` worker, which interpreter exit would wait for).
    """
    import threading
    from concurrent.futures import Future

    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)

    worker = threading.Thread(target=run, name="ctxbench-mysql-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    if not future.done():
        raise DeadlineExceeded
    return future.result()


def _tls_failure(cause: BaseException, code: int | None, target: ServerTarget) -> str | None:
    """The one-line reason a TLS handshake failed, or None if the failure was not about TLS."""
    import ssl

    where = f"{target.host}:{target.port}"
    if isinstance(cause, ssl.SSLCertVerificationError):
        what = str(cause.verify_message or cause.reason or "not verified").rstrip(".")
        against = f"ssl_ca {target.tls.ca}" if target.tls.ca else "the system CAs"
        return f"TLS certificate of {where} not accepted: {what} (checked against {against})"
    if isinstance(cause, ssl.SSLError):
        return f"TLS handshake with {where} failed: {cause.reason or cause}"
    if code == 2026:  # CR_SSL_CONNECTION_ERROR: PyMySQL's "SSL is required but the server doesn't support it"
        return f"{where} does not offer TLS, but the URL asks for it ({target.tls.query()})"
    if code == 3159:  # ER_SECURE_TRANSPORT_REQUIRED (MySQL's require_secure_transport)
        return f"{where} accepts only TLS connections: add ?ssl_ca=PATH (or ?ssl=true) to the URL"
    return None


def describe_failure(exc: BaseException, target: ServerTarget) -> str:
    """One line naming why logging in to ``target`` failed; no password."""
    import socket

    import pymysql

    where = f"{target.host}:{target.port}"
    mysql_error = isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int)
    code = exc.args[0] if mysql_error else None
    text = str(exc.args[1]) if code is not None and len(exc.args) > 1 else str(exc)
    cause = getattr(exc, "original_exception", exc)
    by_code = {
        1044: f"access denied for user {target.user!r} to database {target.database!r} on {where}",
        1045: f"access denied for user {target.user!r} on {where}: wrong password?",
        1698: f"access denied for user {target.user!r} on {where}: wrong password?",
        1049: f"unknown database {target.database!r} on {where}",
        1130: f"{where} does not let user {target.user!r} log in from this host",
        1040: f"too many connections on {where}",
    }
    tls = _tls_failure(cause, code, target)
    if tls is not None:
        message = tls
    elif isinstance(cause, socket.gaierror):
        message = f"unknown host {target.host!r}"
    elif isinstance(cause, ConnectionRefusedError):
        message = f"connection refused by {where}: is a server listening on that port?"
    elif isinstance(cause, TimeoutError) or (code in (2003, 2013) and "timed out" in text):
        message = f"timeout connecting to {where}"
    elif code in by_code:
        message = by_code[code]
    elif isinstance(cause, OSError):
        message = f"cannot connect to {where}: {cause.strerror or cause}"
    elif code is not None:
        message = f"MySQL error {code} from {where}: {text}"
    else:
        message = f"cannot use {where}: {type(exc).__name__}: {exc}"
    return scrub(message, target.password)


def check_target(target: ServerTarget, *, timeout: float = URL_TIMEOUT) -> None:
    """Log in to ``target`` and run ``SELECT 1`` within ``timeout`` seconds, or raise a one-line UsageError."""
    if timeout <= 0:
        raise UsageError(f"timeout must be positive, not {timeout!r}")
    where = origin(target.source)

    def attempt() -> None:
        conn = open_connection(target, timeout=timeout)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        finally:
            conn.close()

    try:
        run_with_deadline(attempt, timeout)
    except DeadlineExceeded:
        raise UsageError(f"{where}: timeout after {timeout:g} s connecting to {target.host}:{target.port}") from None
    except Exception as exc:
        raise UsageError(f"{where}: {describe_failure(exc, target)}") from None
