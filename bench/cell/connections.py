"""The built-in connection strategies: how concurrent workers get a PyMySQL connection, one class each.

Each is built exactly as an application would build it -- the library's own
defaults unless the name says "tuned" -- and pools are sized to the
concurrency (``maxconnections = concurrency``, blocking), so a pool never runs
out by design and any error is the strategy's own.  Nothing at module level
imports threading, pymysql, DBUtils or SQLAlchemy: ``locked`` creates its
``threading.Lock`` inside the cell, so under ``gevent`` it is gevent's lock and
under ``gevent-nothread`` a real OS lock (which blocks the hub: the record says
which lock type was used).  Declared, with what each is expected to do, in
:data:`bench.cell.strategies.STRATEGIES`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

from bench.cell import drivers

#: Socket read timeout of the deliberately unsafe ``global`` connections (seconds).  Two
#: workers that interleave on one connection can leave one of them waiting for a reply the
#: other consumed; the timeout turns that wait into an error instead of a hang.
GLOBAL_READ_TIMEOUT = 2.0


class StrategyError(Exception):
    """A strategy name is unknown or a user factory cannot be imported or called."""


# --- small context managers (one object per strategy where possible: no allocation per checkout)


class _Fixed:
    """Yields the same connection every time; nothing happens on exit."""

    __slots__ = ("conn",)

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> Any:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        return None


class _Locked:
    """Holds the lock for the whole checkout."""

    __slots__ = ("acquire", "conn", "release")

    def __init__(self, conn: Any, lock: Any) -> None:
        self.conn = conn
        # Bound methods stored ahead: one call instead of attribute lookup + call per checkout.
        self.acquire = lock.acquire
        self.release = lock.release

    def __enter__(self) -> Any:
        self.acquire()
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.release()


def _pymysql_connect(connect_kwargs: Mapping[str, Any], **extra: Any) -> Any:
    """A connection through the cell's driver (:func:`bench.cell.drivers.current`: PyMySQL unless ``--driver``
    named another), from PyMySQL's keywords."""
    return drivers.connect(connect_kwargs, **extra)


def close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # already closed or broken: nothing left to release
        pass


# --- the strategies


class GlobalConnection:
    """One connection shared by every worker, unprotected, used as an application uses it: the known-bad baseline.

    Nothing is done behind the workers' backs: no ping, no reconnect.  When PyMySQL
    closes the connection itself (a reply out of sequence, a read timeout), it stays
    closed and every later operation fails, as in an application that opened it at
    import; when PyMySQL's own close fails (a reentrant read under gevent), the socket
    stays open with unread replies in it and later operations read them as their own.
    """

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        timeout = GLOBAL_READ_TIMEOUT
        self.conn = _pymysql_connect(connect_kwargs, read_timeout=timeout, write_timeout=timeout)
        self._cm = _Fixed(self.conn)

    def checkout(self) -> _Fixed:
        return self._cm

    def close(self) -> None:
        close_quietly(self.conn)


class GlobalReconnect(GlobalConnection):
    """The shared connection with the ``ping(reconnect=True)`` habit: reopened after an error closed it.

    ``facts()`` says how often it was reopened (a new server thread id after the ping),
    counted here rather than from the workers' successful replies: under gevent the
    reopened connection may serve none before the next error closes it.
    """

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        super().__init__(connect_kwargs, concurrency)
        self.attempts = 0
        self.reopened = 0

    def recover(self) -> None:
        """Reconnect if an error closed the shared connection; never raise, never wait long."""
        conn = self.conn
        if conn.open:
            return
        before = conn.thread_id()
        self.attempts += 1
        try:
            with warnings.catch_warnings():  # PyMySQL deprecates reconnect=True; the habit is what is measured
                warnings.simplefilter("ignore", DeprecationWarning)
                conn.ping(reconnect=True)  # bounded by the read timeout
        except Exception:  # another worker is mid-flight on it: the next error will retry
            pass
        if conn.thread_id() != before:  # the handshake of a new connection ran, whatever happened after it
            self.reopened += 1

    def facts(self) -> dict[str, Any]:
        return {"reconnect_attempts": self.attempts, "reopened": self.reopened}


class LockedConnection:
    """One connection behind ``threading.Lock`` (gevent's lock when threading is patched)."""

    exclusive_checkout = True  # a second checkout waits for the first to end

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        import threading

        self.lock = threading.Lock()  # created after patching: the load decides what it is
        self.conn = _pymysql_connect(connect_kwargs)
        self._cm = _Locked(self.conn, self.lock)

    def checkout(self) -> _Locked:
        return self._cm

    def facts(self) -> dict[str, Any]:
        lock_type = type(self.lock)
        return {"lock_type": f"{lock_type.__module__}.{lock_type.__qualname__}"}

    def close(self) -> None:
        close_quietly(self.conn)


class DBUtilsPooled:
    """DBUtils ``PooledDB`` sized to the concurrency; ``PooledDedicatedDBConnection`` is the context manager."""

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int, **options: Any) -> None:
        from dbutils.pooled_db import PooledDB

        creator = drivers.current().creator  # the pymysql module itself by default
        self.pool = PooledDB(creator, maxconnections=concurrency, blocking=True, **options, **connect_kwargs)

    def checkout(self) -> Any:
        # Its __enter__ returns the proxy, its __exit__ gives the connection back (no commit).
        return self.pool.connection()

    @staticmethod
    def raw(conn: Any) -> Any:
        # Direct: proxy -> SteadyDBConnection -> pymysql, skipping __getattr__ probing.
        return conn._con._con

    def close(self) -> None:
        self.pool.close()


class DBUtilsPersistent:
    """DBUtils ``PersistentDB``: one connection per thread (per greenlet when patched), ping=0."""

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        from dbutils.persistent_db import PersistentDB

        self.db = PersistentDB(drivers.current().creator, ping=0, **connect_kwargs)
        local_type = type(self.db.thread)
        self._local_type = f"{local_type.__module__}.{local_type.__qualname__}"

    def checkout(self) -> _Fixed:
        # Not the SteadyDBConnection itself: its __exit__ commits, a checkout must not.
        return _Fixed(self.db.connection())

    @staticmethod
    def raw(conn: Any) -> Any:
        return conn._con  # SteadyDBConnection -> pymysql

    def facts(self) -> dict[str, Any]:
        return {"threadlocal_type": self._local_type}

    def close(self) -> None:
        # PersistentDB has no close-all: each connection closes when its thread's
        # local is released.  Close this (the main) thread's, if any.
        conn = getattr(self.db.thread, "connection", None)
        if conn is not None:
            close_quietly(conn)


class _Connect:
    """Connects on enter, closes on exit."""

    __slots__ = ("conn", "kwargs")

    def __init__(self, kwargs: Mapping[str, Any]) -> None:
        self.kwargs = kwargs
        self.conn: Any = None

    def __enter__(self) -> Any:
        self.conn = _pymysql_connect(self.kwargs)
        return self.conn

    def __exit__(self, *exc: object) -> None:
        close_quietly(self.conn)


class PerRequest:
    """A new connection for every operation, closed afterwards."""

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        self.kwargs = dict(connect_kwargs)

    def checkout(self) -> _Connect:
        return _Connect(self.kwargs)

    def close(self) -> None:
        return None


class _Fairy:
    """Checks a connection out of a SQLAlchemy pool through ``connect`` (``QueuePool.connect``,
    ``Engine.raw_connection``); ``close()`` on exit returns (and resets) it."""

    __slots__ = ("connect", "fairy")

    def __init__(self, connect: Callable[[], Any]) -> None:
        self.connect = connect
        self.fairy: Any = None

    def __enter__(self) -> Any:
        self.fairy = self.connect()
        return self.fairy

    def __exit__(self, *exc: object) -> None:
        self.fairy.close()


class SQLAlchemyQueuePool:
    """SQLAlchemy ``QueuePool`` over a PyMySQL creator, reset on return (rollback) as SQLAlchemy defaults."""

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        from sqlalchemy.pool import QueuePool

        kwargs = dict(connect_kwargs)
        self.pool = QueuePool(lambda: _pymysql_connect(kwargs), pool_size=concurrency, max_overflow=0)

    def checkout(self) -> _Fairy:
        return _Fairy(self.pool.connect)

    @staticmethod
    def raw(conn: Any) -> Any:
        return conn.dbapi_connection

    def close(self) -> None:
        self.pool.dispose()


class _Own:
    """One worker's own connection, opened on its first checkout and kept for its life."""

    __slots__ = ("conn", "kwargs", "opened")

    def __init__(self, kwargs: Mapping[str, Any], opened: list[Any]) -> None:
        self.kwargs = kwargs
        self.opened = opened
        self.conn: Any = None

    def checkout(self) -> _Own:
        return self

    def __enter__(self) -> Any:
        conn = self.conn
        if conn is None:
            conn = self.conn = _pymysql_connect(self.kwargs)
            self.opened.append(conn)
        return conn

    def __exit__(self, *exc: object) -> None:
        return None


class OwnConnection:
    """Each worker owns one connection for its whole life: the reference for what sharing costs."""

    #: What each worker checks out through (a subclass may give the handle a habit of its own).
    handle_type: type[Any] = _Own

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        self.kwargs = dict(connect_kwargs)
        self.opened: list[Any] = []
        self.handles: dict[int, _Own] = {}

    def for_worker(self, index: int) -> _Own:
        handle = self.handles.get(index)
        if handle is None:
            handle = self.handles[index] = self.handle_type(self.kwargs, self.opened)
        return handle

    def checkout(self) -> _Own:
        raise StrategyError("own-connection: each worker checks out through for_worker(index)")

    def close(self) -> None:
        for conn in self.opened:
            close_quietly(conn)
        self.opened.clear()
        self.handles.clear()


def pooled(connect_kwargs: dict[str, Any], concurrency: int) -> DBUtilsPooled:
    """DBUtils ``PooledDB`` with the library's defaults."""
    return DBUtilsPooled(connect_kwargs, concurrency)


def pooled_tuned(connect_kwargs: dict[str, Any], concurrency: int) -> DBUtilsPooled:
    """DBUtils ``PooledDB`` without the ping and the reset on return."""
    return DBUtilsPooled(connect_kwargs, concurrency, ping=0, reset=False)
