"""The connection strategies under asyncio: the same ideas over async drivers, one class each.

Every class here offers what :class:`bench.cell.strategies.Strategy` promises, in async form:
``checkout()`` returns an *async* context manager yielding a connection for one operation (an
aiomysql or asyncmy connection: ``cursor()``, ``begin()``, ``commit()``, ``rollback()`` as
coroutines), and ``close()`` is a coroutine.  A strategy whose connections are blocking DB-API ones
sets ``sync_ops = True``: each operation then runs whole in ``asyncio.to_thread``.  A strategy may set
``op_timeout`` (seconds): each operation is then bounded by ``asyncio.wait_for`` -- the async form of
the read timeout the unsafe ``global`` connection has under threads.  Building one may be a coroutine
(the cell awaits it on its loop); pools are sized to the concurrency, as under threads.  Nothing at
module level imports asyncio or a driver.  The URL's TLS settings reach the async drivers as one
``ssl.SSLContext``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.cell.connections import GLOBAL_READ_TIMEOUT, DBUtilsPooled, StrategyError


def driver_kwargs(connect_kwargs: Mapping[str, Any], database_key: str = "database") -> dict[str, Any]:
    """``pymysql.connect`` keywords as an async driver takes them (aiomysql names the database ``db``).

    PyMySQL's TLS keywords become one ``ssl.SSLContext`` with the same meaning (:func:`ssl_context`).
    """
    kwargs = dict(connect_kwargs)
    context = ssl_context(kwargs)  # pops the TLS keywords
    if context is not None:
        kwargs["ssl"] = context
    kwargs[database_key] = kwargs.pop("database")
    return kwargs


def ssl_context(kwargs: dict[str, Any]) -> Any:
    """The ``ssl.SSLContext`` PyMySQL would build from the TLS keywords in ``kwargs`` (removed from it), or None.

    ``ssl_ca`` verifies the server's certificate against it (``ssl_verify_cert`` says otherwise), ``ssl_verify_
    identity`` also checks the host name, ``ssl_cert``/``ssl_key`` are the client's; ``{"ssl": {"verify_mode":
    False}}`` (``ssl=true`` alone) encrypts without verifying; ``ssl_disabled`` asks for none.
    """
    import ssl

    names = ("ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_verify_identity", "ssl_disabled", "ssl")
    given = {name: kwargs.pop(name) for name in names if name in kwargs}
    if given.pop("ssl_disabled", False) or not given:
        return None
    ca = given.get("ssl_ca")
    context = ssl.create_default_context(cafile=ca)  # the system's CAs without one
    verify_cert = bool(given.get("ssl_verify_cert", ca is not None)) and "ssl" not in given
    context.check_hostname = verify_cert and bool(given.get("ssl_verify_identity"))
    context.verify_mode = ssl.CERT_REQUIRED if verify_cert else ssl.CERT_NONE
    if given.get("ssl_cert"):
        context.load_cert_chain(given["ssl_cert"], given.get("ssl_key"))
    return context


async def _aiomysql_connect(kwargs: Mapping[str, Any]) -> Any:
    import aiomysql

    return await aiomysql.connect(**kwargs)


async def _close(conn: Any) -> None:
    """Say goodbye (COM_QUIT) as PyMySQL's close() does; just drop the socket if that fails."""
    try:
        await conn.ensure_closed()
    except Exception:  # already broken: nothing left to say
        conn.close()


class _AFixed:
    """Yields the same connection every time; nothing happens on exit."""

    __slots__ = ("conn",)

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def __aenter__(self) -> Any:
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        return None


class _ALocked:
    """Holds the ``asyncio.Lock`` for the whole checkout."""

    __slots__ = ("conn", "lock")

    def __init__(self, conn: Any, lock: Any) -> None:
        self.conn = conn
        self.lock = lock

    async def __aenter__(self) -> Any:
        await self.lock.acquire()
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        self.lock.release()


class AioGlobal:
    """One aiomysql connection shared by every task, unprotected: the known-bad baseline under asyncio."""

    op_timeout = GLOBAL_READ_TIMEOUT

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._cm = _AFixed(conn)

    @classmethod
    async def build(cls, connect_kwargs: dict[str, Any], concurrency: int) -> AioGlobal:
        return cls(await _aiomysql_connect(driver_kwargs(connect_kwargs, "db")))

    def checkout(self) -> _AFixed:
        return self._cm

    async def close(self) -> None:
        await _close(self.conn)


class AioLocked:
    """One aiomysql connection behind an ``asyncio.Lock``."""

    exclusive_checkout = True  # a second checkout waits for the first to end

    def __init__(self, conn: Any) -> None:
        import asyncio

        self.conn = conn
        self.lock = asyncio.Lock()
        self._cm = _ALocked(conn, self.lock)

    @classmethod
    async def build(cls, connect_kwargs: dict[str, Any], concurrency: int) -> AioLocked:
        return cls(await _aiomysql_connect(driver_kwargs(connect_kwargs, "db")))

    def checkout(self) -> _ALocked:
        return self._cm

    def facts(self) -> dict[str, Any]:
        return {"lock_type": f"{type(self.lock).__module__}.{type(self.lock).__qualname__}"}

    async def close(self) -> None:
        await _close(self.conn)


class _AConnect:
    """Connects (aiomysql) on enter, closes on exit."""

    __slots__ = ("conn", "kwargs")

    def __init__(self, kwargs: Mapping[str, Any]) -> None:
        self.kwargs = kwargs
        self.conn: Any = None

    async def __aenter__(self) -> Any:
        self.conn = await _aiomysql_connect(self.kwargs)
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        await _close(self.conn)


class AioPerRequest:
    """A new aiomysql connection for every operation, closed afterwards."""

    def __init__(self, connect_kwargs: dict[str, Any], concurrency: int) -> None:
        self.kwargs = driver_kwargs(connect_kwargs, "db")

    def checkout(self) -> _AConnect:
        return _AConnect(self.kwargs)

    async def close(self) -> None:
        return None


class _AOwn:
    """One task's own aiomysql connection, opened on its first checkout and kept for its life."""

    __slots__ = ("conn", "kwargs", "opened")

    def __init__(self, kwargs: Mapping[str, Any], opened: list[Any]) -> None:
        self.kwargs = kwargs
        self.opened = opened
        self.conn: Any = None

    def checkout(self) -> _AOwn:
        return self

    async def __aenter__(self) -> Any:
        if self.conn is None:
            self.conn = await _aiomysql_connect(self.kwargs)
            self.opened.append(self.conn)
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        return None


class AioOwn:
    """Each task owns one aiomysql connection for its whole life: the reference under asyncio."""

    def __init__(self, connect_kwargs: dict[str, Any], concurrency: int) -> None:
        self.kwargs = driver_kwargs(connect_kwargs, "db")
        self.opened: list[Any] = []
        self.handles: dict[int, _AOwn] = {}

    def for_worker(self, index: int) -> _AOwn:
        handle = self.handles.get(index)
        if handle is None:
            handle = self.handles[index] = _AOwn(self.kwargs, self.opened)
        return handle

    def checkout(self) -> _AOwn:
        raise StrategyError("own-connection: each task checks out through for_worker(index)")

    async def close(self) -> None:
        for conn in self.opened:
            await _close(conn)
        self.opened.clear()
        self.handles.clear()


class DriverPool:
    """A driver's own pool (aiomysql's or asyncmy's ``create_pool``), ``maxsize = concurrency``; ``acquire()`` is
    the checkout (released on exit)."""

    def __init__(self, pool: Any, driver: str) -> None:
        self.pool = pool
        self.driver = driver

    def checkout(self) -> Any:
        return self.pool.acquire()

    def facts(self) -> dict[str, Any]:
        return {"driver": self.driver, "pool_type": f"{type(self.pool).__module__}.{type(self.pool).__qualname__}"}

    async def close(self) -> None:
        self.pool.close()
        await self.pool.wait_closed()


async def aiomysql_pool(connect_kwargs: dict[str, Any], concurrency: int) -> DriverPool:
    """aiomysql's pool with its defaults (minsize=1), maxsize = concurrency."""
    import aiomysql

    pool = await aiomysql.create_pool(maxsize=concurrency, **driver_kwargs(connect_kwargs, "db"))
    return DriverPool(pool, f"aiomysql {aiomysql.__version__}")


async def asyncmy_pool(connect_kwargs: dict[str, Any], concurrency: int) -> DriverPool:
    """asyncmy's pool with its defaults (minsize=1, pool_recycle=3600), maxsize = concurrency."""
    import asyncmy

    pool = await asyncmy.create_pool(maxsize=concurrency, **driver_kwargs(connect_kwargs))
    from importlib.metadata import version

    return DriverPool(pool, f"asyncmy {version('asyncmy')}")


class _EngineCheckout:
    """``AsyncEngine.connect()``: its pool's connection (the aiomysql one under SQLAlchemy's adaptor) for one
    operation; closing the ``AsyncConnection`` returns it to the pool, which resets it (rollback)."""

    __slots__ = ("conn", "engine")

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.conn: Any = None

    async def __aenter__(self) -> Any:
        self.conn = await self.engine.connect()
        raw = await self.conn.get_raw_connection()
        return raw.driver_connection

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.close()


class SQLAlchemyAsync:
    """SQLAlchemy's ``AsyncEngine`` over aiomysql with its default pool class (``AsyncAdaptedQueuePool``), sized
    to the concurrency as ``sqlalchemy-queuepool`` is (``pool_size = concurrency``, ``max_overflow = 0``);
    ``options`` are further ``create_async_engine`` keywords (``pool_pre_ping``)."""

    def __init__(self, connect_kwargs: dict[str, Any], concurrency: int, **options: Any) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        kwargs = driver_kwargs(connect_kwargs, "db")
        self.engine = create_async_engine("mysql+aiomysql://", async_creator=lambda: _aiomysql_connect(kwargs),
                                          pool_size=concurrency, max_overflow=0, **options)

    def checkout(self) -> _EngineCheckout:
        return _EngineCheckout(self.engine)

    def facts(self) -> dict[str, Any]:
        pool = self.engine.pool
        return {"pool_type": f"{type(pool).__module__}.{type(pool).__qualname__}"}

    async def close(self) -> None:
        await self.engine.dispose()


class _ThreadCheckout:
    """A DBUtils pool connection checked out and given back in ``asyncio.to_thread``."""

    __slots__ = ("conn", "pool")

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.conn: Any = None

    async def __aenter__(self) -> Any:
        import asyncio

        self.conn = await asyncio.to_thread(self.pool.connection)
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        import asyncio

        await asyncio.to_thread(self.conn.close)  # back to the pool (its reset: a rollback)


class ToThread:
    """Blocking PyMySQL through a DBUtils ``PooledDB`` (library defaults, ``maxconnections = concurrency``), every
    checkout, operation and return in ``asyncio.to_thread`` (the loop's default executor)."""

    sync_ops = True

    def __init__(self, connect_kwargs: dict[str, Any], concurrency: int) -> None:
        self.pooled = DBUtilsPooled(connect_kwargs, concurrency)
        self.raw = DBUtilsPooled.raw

    def checkout(self) -> _ThreadCheckout:
        return _ThreadCheckout(self.pooled.pool)

    def facts(self) -> dict[str, Any]:
        import os

        return {"executor_max_workers": min(32, (os.cpu_count() or 1) + 4)}  # asyncio's default executor

    async def close(self) -> None:
        self.pooled.close()


__all__ = ["AioGlobal", "AioLocked", "AioOwn", "AioPerRequest", "DriverPool", "SQLAlchemyAsync", "ToThread",
           "aiomysql_pool", "asyncmy_pool", "driver_kwargs"]
