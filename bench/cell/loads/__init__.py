"""Load drivers: how N workers are started, interleaved and joined.

A load is one concurrency model -- OS threads, gevent (patched fully or without
threads), raw greenlets switched by hand, or asyncio tasks.  Each runs in a
fresh process, and :meth:`Load.install` runs first in that process: gevent must
patch before anything creates a lock, a thread-local or a socket.

Probe bodies are written once, as generators, and every load runs them the same
way:

* ``yield BARRIER`` -- wait until every worker of this run has reached the same
  point.  Workers therefore proceed in lock-step, so a shared namespace is
  overwritten by every other worker between one worker's write and its read, on
  every run: a leaky cell shows its leak deterministically, not by luck.
* ``value = yield Spawn(children)`` -- run plain callables as child workers of
  this worker, the load's native way (a thread, ``gevent.spawn``, a child
  greenlet, ``asyncio.create_task``), wait for them, and receive their results.

Blocking workloads (the database half) use :meth:`Load.run_blocking` instead:
plain functions that block on sockets, started together at a barrier.

Nothing at module level imports threading, gevent, greenlet or asyncio:
importing this package must not disturb a process that is about to patch.
One module per load; adding a load is one class and one entry in :data:`LOADS`.
"""

from bench.cell.loads.aio import Asyncio
from bench.cell.loads.base import BARRIER, BARRIER_TIMEOUT, Body, Load, LoadMismatch, Spawn
from bench.cell.loads.gevents import Gevent, GeventNoThread
from bench.cell.loads.greenlets import RawGreenlet
from bench.cell.loads.threads import Threads

#: Every load, by name, in the order tables show them.
LOADS: dict[str, type[Load]] = {cls.name: cls for cls in (Threads, Gevent, GeventNoThread, RawGreenlet, Asyncio)}

#: Loads under which the database workload can run: blocking sockets, or coroutines over async drivers.
DB_LOADS: tuple[str, ...] = tuple(name for name, cls in LOADS.items() if cls.blocking_io or cls.async_io)

#: Of those, the loads that run it as coroutines (the async strategies serve these).
ASYNC_DB_LOADS: tuple[str, ...] = tuple(name for name, cls in LOADS.items() if cls.async_io)


def get_load(name: str) -> Load:
    """The load called ``name``; raise KeyError with the known names if unknown."""
    try:
        return LOADS[name]()
    except KeyError:
        raise KeyError(f"unknown load {name!r} (known: {', '.join(LOADS)})") from None


__all__ = [
    "ASYNC_DB_LOADS", "BARRIER", "BARRIER_TIMEOUT", "DB_LOADS", "LOADS", "Asyncio", "Body", "Gevent", "GeventNoThread",
    "Load", "LoadMismatch", "RawGreenlet", "Spawn", "Threads", "get_load",
]
