"""Connection strategies: how concurrent workers get a MySQL (PyMySQL) connection, declared as data.

What is promised
    Every strategy offers the same two-method interface (:class:`Strategy`):
    ``checkout()`` returns a context manager that yields a DB-API connection
    for one operation and gives it back on exit, and ``close()`` releases
    whatever the strategy holds.  A strategy may also offer
    ``for_worker(index)`` (the object whose ``checkout()`` a given worker
    calls; default: the strategy itself) and ``recover()`` (called after an
    error, so a shared connection can reconnect: only a strategy that
    declares this habit, as an application would, has it) and ``raw(conn)`` (the
    PyMySQL connection under its own proxy, to read the server's connection
    id without a round trip), and may set ``exclusive_checkout = True`` when
    one checkout excludes all others (one connection behind a lock): the
    harness then never holds a checkout while waiting for other workers.
    :data:`STRATEGIES` lists the built-in ones with what they are expected to do, and
    :func:`build_strategy` builds one by name or from a user factory given
    as ``package.module:factory`` (called as ``factory(connect_kwargs,
    concurrency)``).

Nothing at module level imports threading, pymysql, DBUtils or SQLAlchemy:
the parent imports this module to validate names, and a cell imports it only
after gevent has patched.  A new strategy is one class in
:mod:`bench.cell.connections` (:mod:`bench.cell.aconnections` under asyncio; the variants that
exist for network failures, with timeouts, pre-ping or recycling, in :mod:`bench.cell.netconnections`)
and one declaration in :data:`STRATEGIES`.
"""

from __future__ import annotations

import inspect
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bench.cell.aconnections import (
    AioGlobal,
    AioLocked,
    AioOwn,
    AioPerRequest,
    SQLAlchemyAsync,
    ToThread,
    aiomysql_pool,
    asyncmy_pool,
)
from bench.cell.connections import (
    GLOBAL_READ_TIMEOUT,
    DBUtilsPersistent,
    GlobalConnection,
    GlobalReconnect,
    LockedConnection,
    OwnConnection,
    PerRequest,
    SQLAlchemyQueuePool,
    StrategyError,
    close_quietly,
    pooled,
    pooled_tuned,
)
from bench.cell.drivers import DEFAULT as DEFAULT_DRIVER
from bench.cell.drivers import DRIVERS, is_raw
from bench.cell.loads import ASYNC_DB_LOADS, DB_LOADS
from bench.cell.netconnections import (
    NET_TIMEOUT,
    RECYCLE_S,
    TIMEOUT_SETTINGS,
    OwnConnectionTimeout,
    aiomysql_pool_recycle,
    per_request_timeout,
    pooled_timeout,
    sqlalchemy_async_pre_ping,
    sqlalchemy_pre_ping,
    sqlalchemy_recycle,
)


@runtime_checkable
class Strategy(Protocol):
    """What every strategy offers: a checkout per operation, and close."""

    def checkout(self) -> Any:
        """A context manager whose ``__enter__`` returns a DB-API connection for one operation."""

    def close(self) -> None:
        """Release every connection the strategy holds."""


Builder = Callable[[dict[str, Any], int], Strategy]


@dataclass(frozen=True)
class StrategyInfo:
    """One built-in strategy: its name, how it is built under each kind of load, and what is expected of it."""

    name: str
    description: str
    #: How it is built under the blocking loads (threads, gevent); None: it does not run there.
    build: Builder | None
    #: Whether sharing is expected to be correct under every load it serves.
    expected_safe: bool
    #: The settings that matter, copied into every record.
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: Whether the default database matrix measures it (otherwise only when named).
    in_default: bool = True
    #: How it is built under the asyncio load (may return a coroutine); None: it does not run there.
    abuild: Builder | None = None
    #: The settings under asyncio, when they differ.
    asettings: Mapping[str, Any] | None = None
    #: The modules it needs under asyncio (from the ``asyncio`` extra), checked before anything runs.
    amodules: tuple[str, ...] = ("aiomysql",)
    #: Whether ``ctxbench faults`` runs its server faults by default (under every load of the fault plan it serves).
    faults: bool = True
    #: Where the fault defaults take it, lowest first (ties in table order): the pools (0), then a connection per
    #: operation or per worker (1), then one connection behind a lock (2).
    fault_rank: int = 0
    #: Whether its blocking form is built over whichever driver the cell names (``--driver``); False: PyMySQL only.
    drivers: bool = True
    #: Whether its asyncio form is (it runs a blocking driver in threads: ``to-thread``); the others speak aiomysql
    #: or asyncmy.
    adrivers: bool = False

    def loads(self) -> tuple[str, ...]:
        """The database loads it serves."""
        return tuple(load for load in DB_LOADS if (self.abuild if load in ASYNC_DB_LOADS else self.build))


_AIO = "; asyncio: "
_GLOBAL_SETTINGS = {"read_timeout_s": GLOBAL_READ_TIMEOUT, "reconnect": False}
_POOLED = {"maxconnections": "concurrency", "blocking": True, "ping": 1, "reset": True}
_SQLALCHEMY = {"pool_size": "concurrency", "max_overflow": 0, "reset_on_return": "rollback"}
_TIMEOUTS = f"connect, read and write timeouts of {NET_TIMEOUT:g} s"

#: The built-in strategies, in the order tables show them.  One name is one idea: under asyncio, ``global``,
#: ``locked``, ``per-request`` and ``own-connection`` are the same idea over aiomysql (``abuild``).
STRATEGIES: dict[str, StrategyInfo] = {
    info.name: info
    for info in (
        StrategyInfo("global", "one connection shared by every worker, no protection, never reopened"
                     f"{_AIO}one aiomysql connection", GlobalConnection, False, _GLOBAL_SETTINGS,
                     abuild=AioGlobal.build,
                     asettings={"op_timeout_s": GLOBAL_READ_TIMEOUT, "reconnect": False, "driver": "aiomysql"},
                     faults=False),  # wrong with or without a fault
        StrategyInfo("global-reconnect", "the shared connection, reopened by ping(reconnect=True) after an error "
                     "closed it", GlobalReconnect, False, {"read_timeout_s": GLOBAL_READ_TIMEOUT, "reconnect": True},
                     in_default=False, faults=False, drivers=False),  # unprotected sharing, as ``global``
        StrategyInfo("locked", f"one connection behind threading.Lock (gevent's lock when patched){_AIO}one "
                     "aiomysql connection behind asyncio.Lock", LockedConnection, True, abuild=AioLocked.build,
                     asettings={"driver": "aiomysql"}, fault_rank=2),
        StrategyInfo("pooled", "DBUtils PooledDB, library defaults (ping=1, reset=True)", pooled, True, _POOLED),
        StrategyInfo("pooled-tuned", "DBUtils PooledDB, ping=0, reset=False", pooled_tuned, True,
                     {"maxconnections": "concurrency", "blocking": True, "ping": 0, "reset": False}),
        StrategyInfo("persistent", "DBUtils PersistentDB, one connection per thread/greenlet, ping=0",
                     DBUtilsPersistent, True, {"ping": 0}),
        StrategyInfo("per-request", f"a new connection for every operation{_AIO}a new aiomysql connection",
                     PerRequest, True, abuild=AioPerRequest, asettings={"driver": "aiomysql"}, fault_rank=1),
        StrategyInfo("sqlalchemy-queuepool", "SQLAlchemy QueuePool over PyMySQL, reset on return (rollback)",
                     SQLAlchemyQueuePool, True, _SQLALCHEMY),
        StrategyInfo("own-connection", "each worker owns one connection for its life (the reference)"
                     f"{_AIO}one aiomysql connection per task", OwnConnection, True, abuild=AioOwn,
                     asettings={"driver": "aiomysql"}, fault_rank=1),
        StrategyInfo("aiomysql-pool", "aiomysql's pool, library defaults (minsize=1)", None, True,
                     abuild=aiomysql_pool, asettings={"maxsize": "concurrency", "minsize": 1}),
        StrategyInfo("asyncmy-pool", "asyncmy's pool, library defaults (minsize=1, pool_recycle=3600)", None, True,
                     abuild=asyncmy_pool, asettings={"maxsize": "concurrency", "minsize": 1}, amodules=("asyncmy",)),
        StrategyInfo("sqlalchemy-async", "SQLAlchemy AsyncEngine over aiomysql, its default pool class "
                     "(AsyncAdaptedQueuePool), reset on return (rollback)", None, True, abuild=SQLAlchemyAsync,
                     asettings={"pool_size": "concurrency", "max_overflow": 0, "reset_on_return": "rollback"}),
        StrategyInfo("to-thread", "blocking PyMySQL through DBUtils PooledDB (library defaults), each operation in "
                     "asyncio.to_thread", None, True, abuild=ToThread,
                     asettings={"maxconnections": "concurrency", "blocking": True, "ping": 1, "reset": True,
                                "executor": "asyncio default"}, amodules=(), adrivers=True),
        # The variants that exist for network failures (bench.cell.netconnections): only when named, and in the
        # fault scenarios' defaults.
        StrategyInfo("pooled-timeout", f"pooled (DBUtils PooledDB, library defaults) with PyMySQL's {_TIMEOUTS}",
                     pooled_timeout, True, {**_POOLED, **TIMEOUT_SETTINGS}, in_default=False),
        StrategyInfo("per-request-timeout", f"a new connection for every operation, with PyMySQL's {_TIMEOUTS}",
                     per_request_timeout, True, dict(TIMEOUT_SETTINGS), in_default=False, fault_rank=1),
        StrategyInfo("own-connection-timeout", f"each worker owns one connection, with PyMySQL's {_TIMEOUTS} and the "
                     "ping-before-use habit: conn.ping() before every operation, a new connection when it fails",
                     OwnConnectionTimeout, True, {**TIMEOUT_SETTINGS, "ping_before_use": True, "reopen": True},
                     in_default=False, fault_rank=1),
        StrategyInfo("sqlalchemy-pre-ping", "SQLAlchemy engine (QueuePool over PyMySQL) with pool_pre_ping=True, "
                     "checked out with engine.raw_connection(), reset on return (rollback)", sqlalchemy_pre_ping,
                     True, {**_SQLALCHEMY, "pool_pre_ping": True}, in_default=False),
        StrategyInfo("sqlalchemy-recycle", "SQLAlchemy engine (QueuePool over PyMySQL) with pool_recycle="
                     f"{RECYCLE_S:g} s, checked out with engine.raw_connection(), reset on return (rollback)",
                     sqlalchemy_recycle, True, {**_SQLALCHEMY, "pool_recycle_s": RECYCLE_S}, in_default=False),
        StrategyInfo("aiomysql-pool-recycle", f"aiomysql's pool (minsize=1) with pool_recycle={RECYCLE_S:g} s and "
                     f"connect_timeout={NET_TIMEOUT:g} s (aiomysql has no read timeout)", None, True,
                     abuild=aiomysql_pool_recycle, in_default=False,
                     asettings={"maxsize": "concurrency", "minsize": 1, "pool_recycle_s": RECYCLE_S,
                                "connect_timeout_s": NET_TIMEOUT}),
        StrategyInfo("sqlalchemy-async-pre-ping", "sqlalchemy-async (AsyncEngine over aiomysql) with pool_pre_ping="
                     f"True and connect_timeout={NET_TIMEOUT:g} s", None, True, abuild=sqlalchemy_async_pre_ping,
                     in_default=False,
                     asettings={**_SQLALCHEMY, "pool_pre_ping": True, "connect_timeout_s": NET_TIMEOUT}),
    )
}


def serves(name: str, load: str) -> bool:
    """Whether strategy ``name`` runs under database load ``load`` (a user factory: assumed to; the cell says)."""
    info = STRATEGIES.get(name)
    return info is None or load in info.loads()


def check_serves(name: str, load: str) -> None:
    """Raise StrategyError, in one line, unless strategy ``name`` runs under ``load`` (its modules installed)."""
    if serves(name, load):
        info = STRATEGIES.get(name)
        if info is not None and load in ASYNC_DB_LOADS:
            import importlib.util

            missing = [module for module in info.amodules if importlib.util.find_spec(module) is None]
            if missing:
                raise StrategyError(f"strategy {name!r} under {load} needs {', '.join(missing)}: "
                                    "pip install 'ctxbench[asyncio]'")
        return
    others = ", ".join(n for n in STRATEGIES if serves(n, load))
    raise StrategyError(f"strategy {name!r} does not run under {load} (it runs under "
                        f"{', '.join(STRATEGIES[name].loads())}; under {load}: {others})")


def check_driver(name: str, load: str, driver: str | None) -> None:
    """Raise StrategyError, in one line, unless strategy ``name`` can be built over ``driver`` under ``load`` (None:
    the default, PyMySQL: every strategy).  A user factory may: it finds the driver in
    :func:`bench.cell.drivers.current`.  A setting the strategy makes (its timeouts) that the driver lacks is
    refused too."""
    if driver is None or name not in STRATEGIES:
        return
    info = STRATEGIES[name]
    if load in ASYNC_DB_LOADS:
        if not info.adrivers:
            takes = ", ".join(n for n, i in STRATEGIES.items() if i.adrivers and i.abuild)
            raise StrategyError(f"strategy {name!r} under {load} speaks its own async driver: --driver {driver} "
                                f"applies to the blocking loads' strategies and, under {load}, to {takes}")
        return
    if not info.drivers and driver != DEFAULT_DRIVER:
        raise StrategyError(f"strategy {name!r} is a PyMySQL habit (ping(reconnect=True)): it does not run over "
                            f"driver {driver!r}")
    timeouts = {key[:-2] for key in {**info.settings} if key.endswith("_timeout_s")}
    known = DRIVERS.get(driver)
    lacking = sorted(t for t in timeouts if known is not None and t not in known.timeouts)
    if lacking:
        raise StrategyError(f"strategy {name!r} sets {', '.join(lacking)}, which driver {driver!r} does not have")


def is_factory_path(name: str) -> bool:
    """``package.module:factory`` names a user strategy rather than a built-in one."""
    return ":" in name


def check_name(name: str) -> None:
    """Raise StrategyError unless ``name`` is built in or looks like ``package.module:factory``.

    Import paths are imported only in the cell (importing user code in the
    parent could disturb nothing here, but it could fail for reasons that
    belong in the cell's record).
    """
    if name in STRATEGIES:
        return
    if is_factory_path(name):
        module, _, attr = name.partition(":")
        if module and attr:
            return
        raise StrategyError(f"strategy {name!r}: expected package.module:factory")
    raise StrategyError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)}; or package.module:factory)")


def resolve_factory(name: str) -> Builder:
    """The factory behind ``package.module:factory``."""
    check_name(name)
    try:
        obj: Any = pkgutil.resolve_name(name)
    except Exception as exc:  # any import-time failure is the factory's fault
        raise StrategyError(f"strategy {name!r}: cannot import: {exc.__class__.__name__}: {exc}") from exc
    if not callable(obj):
        raise StrategyError(f"strategy {name!r}: {name} is not callable")
    return obj  # type: ignore[no-any-return]


def build_strategy(name: str, connect_kwargs: dict[str, Any], concurrency: int, load: str = "threads") -> Any:
    """Build a strategy by name (built-in or ``package.module:factory``) for ``concurrency`` workers of ``load``.

    Under an async load the built-in builder may return a coroutine, and so may a user factory (an ``async def``):
    the caller awaits it on its event loop (``Load.resolve``) and then checks it with :func:`check_product`.
    """
    check_name(name)
    check_serves(name, load)
    if name in STRATEGIES:
        info = STRATEGIES[name]
        builder = info.abuild if load in ASYNC_DB_LOADS else info.build
        assert builder is not None  # check_serves said so
    else:
        builder = resolve_factory(name)
    strategy = builder(dict(connect_kwargs), concurrency)
    return strategy if inspect.isawaitable(strategy) else check_product(name, strategy)


def check_product(name: str, strategy: Any) -> Strategy:
    """``strategy`` itself if it offers checkout() and close(); else close it and raise StrategyError."""
    if not callable(getattr(strategy, "checkout", None)) or not callable(getattr(strategy, "close", None)):
        close_quietly(strategy)
        kind = type(strategy).__name__
        raise StrategyError(f"strategy {name!r}: the factory returned {kind}, which lacks checkout()/close()")
    return strategy  # type: ignore[no-any-return]


def settings_of(name: str, load: str = "threads") -> dict[str, Any]:
    """The recorded settings of a strategy under ``load`` (for user factories: the factory's name)."""
    info = STRATEGIES.get(name)
    if info is None:
        return {"factory": name}
    return dict(info.asettings if load in ASYNC_DB_LOADS and info.asettings is not None else info.settings)


def worker_handle(strategy: Strategy, index: int) -> Any:
    """The object whose ``checkout()`` worker ``index`` calls."""
    for_worker = getattr(strategy, "for_worker", None)
    return for_worker(index) if for_worker is not None else strategy


def raw_connection(conn: Any) -> Any:
    """The driver's connection under DBUtils / SQLAlchemy proxies (or ``conn`` itself)."""
    for _ in range(4):  # DBUtils: PooledDedicatedDBConnection._con -> SteadyDBConnection._con -> the driver's
        if is_raw(conn):
            return conn
        inner = getattr(conn, "dbapi_connection", None)  # SQLAlchemy's _ConnectionFairy
        if inner is None:
            inner = getattr(conn, "_con", None)
        if inner is None:
            return conn
        conn = inner
    return conn


def unwrapper(strategy: Strategy) -> Callable[[Any], Any]:
    """The fastest way to reach the driver's connection under this strategy's checkouts."""
    raw = getattr(strategy, "raw", None)
    return raw if callable(raw) else raw_connection


