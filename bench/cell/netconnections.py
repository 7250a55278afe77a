"""The strategy variants that exist for network failures: timeouts, a ping before use, pre-ping, recycling.

What is promised
    Each class or builder here is one of :data:`bench.cell.strategies.STRATEGIES`' network variants, built as an
    application writes it and offering what :class:`bench.cell.strategies.Strategy` promises (``checkout()``,
    ``close()``; ``raw(conn)`` where the connection sits under a proxy).  None is in the default database matrix;
    the network fault scenarios run them beside their bases (``pooled``, ``per-request``, ``own-connection``,
    ``sqlalchemy-queuepool``, ``aiomysql-pool``, ``sqlalchemy-async``):

    * a PyMySQL variant with ``-timeout`` in its name connects with ``connect_timeout``, ``read_timeout`` and
      ``write_timeout`` all :data:`NET_TIMEOUT`: a connect, a read or a write that waits longer fails (PyMySQL then
      raises ``OperationalError`` 2013 or 2003 and closes the connection);
    * ``own-connection-timeout`` also has the ping-before-use habit: ``conn.ping()`` before every operation and a
      new connection when the ping fails -- what PyMySQL's deprecated ``ping(reconnect=True)`` did, in the form
      PyMySQL asks for ("create a new connection if you want to reconnect");
    * the SQLAlchemy variants are ``create_engine("mysql+pymysql://", creator=..., pool_size=concurrency,
      max_overflow=0, ...)`` checked out with ``engine.raw_connection()``, with ``pool_pre_ping=True`` or
      ``pool_recycle=RECYCLE_S``, and no driver timeouts (the option alone, as users add it);
    * the asyncio variants connect with aiomysql's ``connect_timeout`` = :data:`NET_TIMEOUT`.  aiomysql has no read
      timeout: a read on a connection whose peer went silent waits as long as the OS keeps the socket.

Nothing at module level imports pymysql, SQLAlchemy or aiomysql (see :mod:`bench.cell.connections`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.cell.aconnections import DriverPool, SQLAlchemyAsync, driver_kwargs
from bench.cell.connections import (
    DBUtilsPooled,
    OwnConnection,
    PerRequest,
    _Fairy,
    _pymysql_connect,
    close_quietly,
)

#: The network fault scenarios' bound: a read that waits longer fails (seconds; PyMySQL's connect, read and write
#: timeouts, aiomysql's connect timeout).
NET_TIMEOUT = 1.0
#: ``pool_recycle`` of the recycling variants (seconds): below the idle-timeout scenario's wait_timeout of 2 s.
RECYCLE_S = 1.0
#: The PyMySQL keywords of the ``-timeout`` variants.
TIMEOUTS: dict[str, float] = {"connect_timeout": NET_TIMEOUT, "read_timeout": NET_TIMEOUT,
                              "write_timeout": NET_TIMEOUT}
#: How records name them (``settings``).
TIMEOUT_SETTINGS: dict[str, float] = {f"{name}_s": value for name, value in TIMEOUTS.items()}


def with_timeouts(connect_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``connect_kwargs`` with the three timeouts set to :data:`NET_TIMEOUT` (over any the URL gave)."""
    return {**connect_kwargs, **TIMEOUTS}


def pooled_timeout(connect_kwargs: dict[str, Any], concurrency: int) -> DBUtilsPooled:
    """DBUtils ``PooledDB`` with the library's defaults (as ``pooled``), over connections with the timeouts."""
    return DBUtilsPooled(with_timeouts(connect_kwargs), concurrency)


def per_request_timeout(connect_kwargs: dict[str, Any], concurrency: int) -> PerRequest:
    """A new connection, with the timeouts, for every operation."""
    return PerRequest(with_timeouts(connect_kwargs), concurrency)


class _PingedOwn:
    """One worker's own connection, pinged before every operation and replaced when the ping fails."""

    __slots__ = ("conn", "kwargs", "opened", "reopened")

    def __init__(self, kwargs: Mapping[str, Any], opened: list[Any]) -> None:
        self.kwargs = kwargs
        self.opened = opened
        self.conn: Any = None
        self.reopened = 0  # new connections after a failed ping (the first one is not counted)

    def checkout(self) -> _PingedOwn:
        return self

    def __enter__(self) -> Any:
        conn = self.conn
        if conn is not None:
            try:
                conn.ping()  # the habit: COM_PING, one round trip, bounded by the read timeout
                return conn
            except Exception:  # closed by PyMySQL after an error, or dropped by the server or the network
                self.conn = None
                close_quietly(conn)
                self.reopened += 1
        conn = _pymysql_connect(self.kwargs)  # may fail (bounded by the connect timeout): the next checkout retries
        self.conn = conn
        self.opened.append(conn)
        return conn

    def __exit__(self, *exc: object) -> None:
        return None


class OwnConnectionTimeout(OwnConnection):
    """``own-connection`` with the timeouts and the ping-before-use habit: each worker keeps one connection, pings
    it before every operation and opens a new one when the ping fails (so it comes back after a timeout, a reset or
    an idle timeout closed it; an operation that fails midway still fails)."""

    handle_type = _PingedOwn

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        super().__init__(with_timeouts(connect_kwargs), concurrency)
        self._reopened_before_close = 0

    def facts(self) -> dict[str, Any]:
        """``reopened``: new connections after a failed ping, over every worker (also after ``close()``)."""
        return {"reopened": self._reopened_before_close + sum(h.reopened for h in self.handles.values())}

    def close(self) -> None:
        self._reopened_before_close += sum(h.reopened for h in self.handles.values())  # close() drops the handles
        super().close()


class SQLAlchemyEngine:
    """``create_engine("mysql+pymysql://", creator=..., pool_size=concurrency, max_overflow=0, **options)`` (its
    default ``QueuePool``, reset on return: a rollback), checked out with ``engine.raw_connection()``: the pool's
    connection proxy, whose ``close()`` on exit returns it."""

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int, **options: Any) -> None:
        from sqlalchemy import create_engine

        from bench.cell import drivers

        kwargs = dict(connect_kwargs)
        # The driver's own dialect (mysql+pymysql:// by default): its ping and its reset are the driver's.
        self.engine = create_engine(drivers.current().dialect, creator=lambda: _pymysql_connect(kwargs),
                                    pool_size=concurrency, max_overflow=0, **options)
        self._connect = self.engine.raw_connection  # bound once: no attribute lookup per checkout

    def checkout(self) -> _Fairy:
        return _Fairy(self._connect)

    @staticmethod
    def raw(conn: Any) -> Any:
        return conn.dbapi_connection  # the proxy -> the driver's connection

    def facts(self) -> dict[str, Any]:
        pool = self.engine.pool
        return {"pool_type": f"{type(pool).__module__}.{type(pool).__qualname__}"}

    def close(self) -> None:
        self.engine.dispose()


def sqlalchemy_pre_ping(connect_kwargs: dict[str, Any], concurrency: int) -> SQLAlchemyEngine:
    """The engine's pool with ``pool_pre_ping=True``: a ping on every checkout, a new connection when it fails."""
    return SQLAlchemyEngine(connect_kwargs, concurrency, pool_pre_ping=True)


def sqlalchemy_recycle(connect_kwargs: dict[str, Any], concurrency: int) -> SQLAlchemyEngine:
    """The engine's pool with ``pool_recycle`` = :data:`RECYCLE_S`: a connection opened longer ago is replaced at
    its next checkout (SQLAlchemy counts from the connect, not from the last use)."""
    return SQLAlchemyEngine(connect_kwargs, concurrency, pool_recycle=RECYCLE_S)


async def aiomysql_pool_recycle(connect_kwargs: dict[str, Any], concurrency: int) -> DriverPool:
    """aiomysql's pool (minsize=1, maxsize = concurrency) with ``pool_recycle`` = :data:`RECYCLE_S` (a free
    connection unused for longer is replaced when acquired) and ``connect_timeout`` = :data:`NET_TIMEOUT`."""
    import aiomysql

    kwargs = driver_kwargs({**connect_kwargs, "connect_timeout": NET_TIMEOUT}, "db")
    pool = await aiomysql.create_pool(maxsize=concurrency, pool_recycle=RECYCLE_S, **kwargs)
    return DriverPool(pool, f"aiomysql {aiomysql.__version__}")


def sqlalchemy_async_pre_ping(connect_kwargs: dict[str, Any], concurrency: int) -> SQLAlchemyAsync:
    """``sqlalchemy-async`` with ``pool_pre_ping=True``, over aiomysql connections with ``connect_timeout`` =
    :data:`NET_TIMEOUT`."""
    return SQLAlchemyAsync({**connect_kwargs, "connect_timeout": NET_TIMEOUT}, concurrency, pool_pre_ping=True)


__all__ = ["NET_TIMEOUT", "RECYCLE_S", "TIMEOUTS", "TIMEOUT_SETTINGS", "OwnConnectionTimeout", "SQLAlchemyEngine",
           "aiomysql_pool_recycle", "per_request_timeout", "pooled_timeout", "sqlalchemy_async_pre_ping",
           "sqlalchemy_pre_ping", "sqlalchemy_recycle", "with_timeouts"]
