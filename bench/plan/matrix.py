"""The matrix as data: every default of every command, in one place.

What a run covers is read here (and copied into the README's matrix table); the modules beside
this one turn a user's flags into validated selections and planned cells.
"""

from __future__ import annotations

from typing import Any

from bench.cell.db import DEFAULT_HANG_AFTER
from bench.cell.loads import LOADS
from bench.cell.probes import PROBES
from bench.cell.strategies import STRATEGIES

# --- the locals half

#: Loads the locals matrix covers.
LOCAL_LOADS: tuple[str, ...] = tuple(LOADS)
#: Probes run in every impl x load cell.
LOCAL_PROBES: tuple[str, ...] = tuple(PROBES)
#: Workers per probe cell (started together at a barrier).
LOCAL_WORKERS = 8
#: Micro-benchmark method: fresh processes x values per process, after warm-ups.
MICRO_PROCESSES = 3
MICRO_VALUES = 5
MICRO_MIN_TIME = 0.01
#: ``--quick``: fewer, shorter micro-benchmark values (still fresh processes).
MICRO_QUICK_PROCESSES = 2
MICRO_QUICK_VALUES = 3
MICRO_QUICK_MIN_TIME = 0.004
#: The 1-thread / 2-thread cell: each op of each Local run by one thread, then by two at once, ``window`` seconds
#: each, ``rounds`` times (the Locals' order rotated) in each of ``processes`` fresh processes.
PARALLEL_DEFAULT: dict[str, Any] = {"ops": ("get", "set"), "processes": 2, "rounds": 2, "window": 0.15}
PARALLEL_QUICK: dict[str, Any] = {"ops": ("get",), "processes": 1, "rounds": 2, "window": 0.1}
#: Time limit for one probe cell (seconds).
PROBE_CELL_TIMEOUT = 120.0

# --- the database half

#: The database matrix (``ctxbench db`` and the DB part of ``ctxbench run``).
DB_DEFAULT: dict[str, Any] = {
    "strategies": tuple(name for name, info in STRATEGIES.items()
                        if info.in_default and {"threads", "gevent"} <= set(info.loads())),
    "loads": ("threads", "gevent"),
    # 16 is the stack's concurrency, where the answer is read and cells are repeated; 1 and 64 the ends of the sweep.
    "concurrency": (1, 16, 64),
    # Measured seconds per cell, after the warm-up: three 1-s windows in fresh processes minutes apart (--repeats)
    # say more than one 2-s window, whose value moved 2.5x from run to run (docs/repeats.md).
    "duration": 1.0,
    "warmup": 0.5,
    "hang_after": DEFAULT_HANG_AFTER,
    # The request scenario: a context-safe Local, a werkzeug-2 style one and the thread-only
    # baseline, over a good pool, a lock and a connection per request.
    "request_impls": ("fast", "contextvar", "threading-local"),
    "request_strategies": ("pooled-tuned", "locked", "per-request"),
}
#: ``--quick``: one concurrency above 1 (where sharing goes wrong), short cells.
DB_QUICK: dict[str, Any] = {
    **DB_DEFAULT,
    "concurrency": (8,),
    "duration": 0.5,
    "warmup": 0.2,
    "request_impls": ("fast", "threading-local"),
    "request_strategies": ("pooled-tuned",),
}
#: The database matrix under asyncio (``--db-load asyncio`` without ``--strategy``): every built-in strategy
#: that runs there (``global`` included, as under threads); the request scenario over a pool, a lock, a connection
#: per request.
DB_ASYNC_STRATEGIES: tuple[str, ...] = tuple(name for name, info in STRATEGIES.items()
                                             if info.in_default and "asyncio" in info.loads())
DB_ASYNC_REQUEST_STRATEGIES: tuple[str, ...] = ("aiomysql-pool", "locked", "per-request")
#: The asyncio part of ``ctxbench run`` (when ``--db-load`` is not given, ``--no-asyncio`` is not, and the
#: ``asyncio`` extra is installed): every asyncio strategy and the request scenario at one concurrency, with the
#: run's timing -- about a minute at the default sizes (the bound for this part is two minutes).
DB_ASYNC_RUN: dict[str, Any] = {
    "loads": ("asyncio",),
    "concurrency": (16,),
    "strategies": DB_ASYNC_STRATEGIES,
    "request_impls": DB_DEFAULT["request_impls"],
    "request_strategies": DB_ASYNC_REQUEST_STRATEGIES,
}
#: ``--quick``: the shared connection, the driver's pool and the thread bridge; one request cell pair.
DB_ASYNC_RUN_QUICK: dict[str, Any] = {
    **DB_ASYNC_RUN,
    "concurrency": (8,),
    "strategies": ("global", "aiomysql-pool", "to-thread"),
    "request_impls": ("fast", "threading-local"),
    "request_strategies": ("aiomysql-pool",),
}
#: The modules the asyncio part needs (the ``asyncio`` extra): without them it is left out with one warning.
DB_ASYNC_MODULES: tuple[str, ...] = ("aiomysql", "asyncmy")

# --- the network between the application and its database (``--rtt``, ``bench.net``)

#: Largest round trip ``--rtt`` adds (milliseconds): beyond it a cell measures timeouts, not a network.
MAX_RTT_MS = 1000.0
#: The network part of ``ctxbench run`` (unless ``--no-network``, or the database matrix was named with ``--strategy``
#: or ``--db-load`` and ``--rtt`` was not given): the four ways a round trip changes the answer -- one connection
#: behind a lock (one round trip at a time: ops/s <= 1/RTT), a pool and a connection per worker (C round trips at
#: once: <= C/RTT), a connection per operation (handshake and login every time) -- at RTT 0 (direct) and 1 ms,
#: under threads at one concurrency, with the run's db timing and processes.  ``--rtt`` replaces ``rtt_ms``.
NET_RUN: dict[str, Any] = {
    "strategies": ("locked", "pooled-tuned", "per-request", "own-connection"),
    "loads": ("threads",),
    "concurrency": (8,),
    "rtt_ms": (0.0, 1.0),
}
#: ``--quick``: the lock and the pool at 1 ms only (two cells, about 4 s).
NET_RUN_QUICK: dict[str, Any] = {**NET_RUN, "strategies": ("locked", "pooled-tuned"), "rtt_ms": (1.0,)}

# --- the MySQL driver (``--driver``, ``bench.cell.drivers``)

#: The driver part of ``ctxbench run`` (unless ``--no-drivers``, or the database matrix was named with ``--strategy``
#: or ``--db-load`` and ``--driver`` was not given): every built-in driver installed here, under threads (where a C
#: driver may be fastest) and gevent (where it blocks the hub), at one concurrency, over a good pool and a connection
#: per worker, with the run's db timing and processes.  ``--driver`` replaces ``drivers``.  The first is the
#: default driver: without another one installed the part is left out.
DRIVER_RUN: dict[str, Any] = {
    "drivers": ("pymysql", "mysqlclient", "mariadb", "connector", "connector-pure"),
    "strategies": ("pooled-tuned", "own-connection"),
    "loads": ("threads", "gevent"),
    "concurrency": (8,),
}
#: ``--quick``: PyMySQL and mysqlclient (Django's default), a connection per worker only: four cells, about 5 s.
DRIVER_RUN_QUICK: dict[str, Any] = {**DRIVER_RUN, "drivers": ("pymysql", "mysqlclient"),
                                    "strategies": ("own-connection",)}


def default_db_strategies(loads: list[str] | tuple[str, ...], defaults: tuple[str, ...],
                          async_defaults: tuple[str, ...]) -> list[str]:
    """The strategies measured when none is named: ``defaults`` that run under every selected load, then the asyncio
    ones (``async_defaults``) that run under every selected load when asyncio is selected."""
    chosen = [name for name in defaults if set(loads) <= set(STRATEGIES[name].loads())]
    if "asyncio" in loads:
        chosen += [name for name in async_defaults
                   if name not in chosen and set(loads) <= set(STRATEGIES[name].loads())]
    return chosen


#: The request scenario runs at one concurrency.
REQUEST_CONCURRENCY = 16
#: Largest concurrency a database cell accepts.
MAX_CONCURRENCY = 10_000
#: Load processes per database cell (``--processes``): one, as an app with one process has.
PROCESSES_DEFAULT: tuple[int, ...] = (1,)
#: Most load processes one database cell (or server worker processes one stack cell) accepts.
MAX_PROCESSES = 64
#: Seconds the parent of a several-process cell waits for every process to be ready (started, connected).
PROCESS_READY_WAIT = 30.0
#: Seconds between the parent sending the common start time and that start (every process must get it first).
PROCESS_START_LEAD = 0.1
#: Seconds between the parent's reads of ``Threads_connected`` during a several-process cell's window.
THREADS_POLL_INTERVAL = 0.1
#: The query ``mysqlslap`` times for the ceiling, and how: runs per concurrency, the best is the
#: ceiling (single runs vary by +-30% on a 2-core machine).
CEILING_QUERY = "SELECT 1"
CEILING_QUERIES = 20_000
CEILING_REPEATS = 3
#: Seconds the parent waits for the server to drop a finished cell's connections.
LEAK_WAIT = 2.0


# --- the real stack

#: The stack matrix (``ctxbench stack`` and the stack part of ``ctxbench run``): every server x a thread-only
#: Local and a context-safe one x the shared connection and a good pool.  24 cells of about 3.5 s each
#: (server start, warm-up, window, stop): the bound for one measurement of every stack cell is 3 minutes.
STACK_DEFAULT: dict[str, Any] = {
    "servers": ("gunicorn-gthread", "gunicorn-gevent", "gevent-pywsgi", "gevent-pywsgi-nothread", "waitress",
                "uvicorn"),
    "impls": ("threading-local", "fast"),
    "strategies": ("global", "pooled-tuned"),
    # The ASGI servers' app builds asyncio strategies: the shared connection and the async driver's pool.
    "async_strategies": ("global", "aiomysql-pool"),
    "concurrency": (16,),  # concurrent HTTP clients
    "duration": 1.0,  # measured seconds per cell, after the warm-up (and --repeats of them in a run)
    "warmup": 0.5,
    "workers": 1,  # server worker processes: one process, as the in-process model has
}
#: ``--quick``: one thread server and the one that leaks a thread-only Local, 4 short cells (bound: 40 s).
STACK_QUICK: dict[str, Any] = {
    **STACK_DEFAULT,
    "servers": ("gunicorn-gthread", "gevent-pywsgi-nothread"),
    "impls": ("threading-local",),
    "concurrency": (8,),
    "duration": 1.0,
    "warmup": 0.3,
}
#: Largest number of server worker processes a stack cell accepts.
MAX_STACK_WORKERS = 64


# --- repeats: every number the answer rests on measured more than once, in fresh processes

#: ``ctxbench run``: each cell the answer rests on (the stack's cells, the request cells that predict them, the db
#: cells at the stack's concurrency) is measured this many times, in interleaved rounds; the rest once.  The
#: full run stays within 15 minutes on the project's 2-core machine (docs/repeats.md has the estimate).
RUN_REPEATS = 3
#: ``ctxbench run --quick``: one measurement, as CI's minute allows.
RUN_QUICK_REPEATS = 1
#: ``ctxbench db`` and ``ctxbench stack``: one measurement unless ``--repeats`` asks for more (every cell then).
COMMAND_REPEATS = 1
#: Most repeats a command accepts.
MAX_REPEATS = 50


# --- several machines: ``ctxbench locust`` (Locust master and workers)

#: Defaults of ``ctxbench locust``: the run, the master's address, and the bounds on waiting.
LOCUST_DEFAULT: dict[str, Any] = {
    "scenario": "db",
    "strategy": "pooled-tuned",
    "users": 16,  # Locust users in total (each one db worker, a greenlet), spread over the worker processes
    "processes": 2,  # worker processes of the one-machine form
    "duration": 2.0,  # measured seconds, after the warm-up
    "warmup": 0.5,
    "bind_host": "127.0.0.1",  # the master listens here only unless told otherwise
    "port": 5557,  # Locust's own default master port
    "report_grace": 10.0,  # seconds the master waits for the workers' reports after the window's end
    "connect_timeout": 30.0,  # seconds a worker (or the master, for its workers) waits to connect
    "worker_timeout": 3600.0,  # seconds after which ``ctxbench locust worker`` ends its worker whatever happens
    "stop_timeout": 5.0,  # Locust --stop-timeout: seconds users get to finish when the run stops
    "server": "gevent-pywsgi",  # the app server the one-machine stack scenario starts
    "impl": "fast",  # the Local that app keeps the request token in
}
#: Seconds a Locust run may take beyond warm-up + window + report grace (start-up, spawning, shut-down).
LOCUST_SLACK = 30.0



def db_cell_timeout(duration: float, warmup: float, hang_after: float, processes: int = 1) -> float:
    """The parent's limit for one database cell: start-up, setup and teardown around the cell's own watchdog.

    A cell of several processes also gets the wait for all of them to be ready.
    """
    return warmup + duration + hang_after + 30.0 + (PROCESS_READY_WAIT if processes > 1 else 0.0)
