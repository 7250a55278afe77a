"""What the fault scenarios act on: a private server with an application account, and a pool that never gives.

:func:`fault_server` starts a private server (never one that was given or found: the scenarios kill
it) and yields a :class:`FaultServer`: the root target the parent's checks use, an application
account without SUPER for the cells (so ``max_connections`` applies to them as to an application),
and an admin connection that reconnects after a restart.

:func:`blocking_pool` is a strategy factory, loaded inside a cell by its path
:data:`HANG_STRATEGY`: a pool whose checkout waits forever, for the ``hang`` scenario.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator
from typing import Any, NoReturn

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from bench.errors import UsageError
from bench.records.scrub import scrub

#: The account the fault cells log in as: an application's, without SUPER (which would get
#: MySQL's one connection beyond max_connections and hide the 1040s an application sees).
APP_USER = "ctxbench_fault"


# --- a strategy that blocks forever (the ``hang`` scenario)


class _NeverReturns:
    """A checkout that waits for a connection nobody will ever give back."""

    __slots__ = ("semaphore",)

    def __init__(self, semaphore: threading.Semaphore) -> None:
        self.semaphore = semaphore

    def __enter__(self) -> NoReturn:
        # A pool whose every connection was lost: it waits, with a timeout, again and again (the semaphore
        # is never released).  Under gevent the timeout keeps the hub alive, as a real pool's would: a wait
        # on nothing at all would end in gevent's LoopExit rather than a hang.
        while True:
            self.semaphore.acquire(timeout=60)

    def __exit__(self, *exc: object) -> None:
        return None


class BlockingPool:
    """A pool of zero connections whose checkout blocks forever (strategy :data:`HANG_STRATEGY`)."""

    def __init__(self) -> None:
        self.semaphore = threading.Semaphore(0)  # created in the cell, after the load patched threading

    def checkout(self) -> _NeverReturns:
        return _NeverReturns(self.semaphore)

    def close(self) -> None:
        return None


def blocking_pool(connect_kwargs: dict[str, Any], concurrency: int) -> BlockingPool:
    """A strategy factory (the cell's signature): the connection settings and the concurrency are not needed."""
    return BlockingPool()


#: The ``hang`` scenario's strategy: the path of :func:`blocking_pool`, as its records name it.
HANG_STRATEGY = f"{blocking_pool.__module__}:{blocking_pool.__name__}"


# --- the server the faults are done to


class FaultServer:
    """A private server, an application account on it, and an admin connection that survives restarts."""

    def __init__(self, handle: Any, client_address: str = "127.0.0.1") -> None:
        """``client_address``: where the application connects from (a namespaced server: the host's end of the link)."""
        from bench.server import ServerTarget

        if not handle.ephemeral:
            raise UsageError("fault scenarios need a server ctxbench started itself")
        self.handle = handle
        self.root = handle.target
        password = secrets.token_urlsafe(18)
        self.passwords = (self.root.password, password)
        self.app = ServerTarget(self.root.host, self.root.port, APP_USER, password, self.root.database, "ephemeral",
                                self.root.tls)
        self._conn: Any = None
        self.execute(f"CREATE USER IF NOT EXISTS '{APP_USER}'@%s IDENTIFIED BY %s", (client_address, password))
        self.execute(f"ALTER USER '{APP_USER}'@%s IDENTIFIED BY %s", (client_address, password))
        self.execute(f"GRANT ALL PRIVILEGES ON `{self.root.database}`.* TO '{APP_USER}'@%s", (client_address,))

    def _connect(self) -> Any:
        import pymysql

        return pymysql.connect(**self.root.connect_kwargs(), autocommit=True, connect_timeout=5, read_timeout=10,
                               write_timeout=10)

    def _execute_once(self, sql: str, args: Any) -> list[tuple[Any, ...]]:
        if self._conn is None:
            self._conn = self._connect()
        with self._conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def execute(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement as root; reconnect once if the server was restarted since the last one."""
        import pymysql

        attempts = Retrying(stop=stop_after_attempt(2), retry=retry_if_exception_type(pymysql.err.MySQLError),
                            after=lambda _state: self.close(), reraise=True)
        return attempts(self._execute_once, sql, args)

    def status(self, name: str) -> int | None:
        """A global status counter, or None if it cannot be read right now."""
        try:
            rows = self.execute("SHOW GLOBAL STATUS LIKE %s", (name,))
        except Exception:  # the server is down: unknown
            return None
        return int(rows[0][1]) if rows else None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already gone with the server
                self._conn.close()
            self._conn = None

    def scrub(self, obj: Any) -> Any:
        """``obj`` with both passwords (root's and the application account's) masked."""
        for password in self.passwords:
            obj = scrub(obj, password)
        return obj


@contextlib.contextmanager
def fault_server(*, environment: dict[str, Any] | None = None) -> Iterator[FaultServer]:
    """A private server for the faults, stopped (and its folder removed) however the block ends.

    ``environment`` (a run's fingerprint), if given, gets the server's facts under ``server``.
    """
    import bench.server as mysql

    try:
        handle = mysql.start_private_server()
    except mysql.ServerUnavailable as exc:
        raise UsageError(f"fault scenarios need a private server they may kill: {exc.reason}") from None
    with handle:
        server = FaultServer(handle)
        try:
            if environment is not None:
                info = mysql.server_info(handle.target)
                environment["server"] = {"found": True, "path_taken": handle.path_taken, "ephemeral": True, **info}
            yield server
        finally:
            server.close()

