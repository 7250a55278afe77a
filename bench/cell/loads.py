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
importing this module must not disturb a process that is about to patch.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

#: How long a barrier may wait before the run is declared stuck (seconds).
BARRIER_TIMEOUT = float(os.environ.get("CTXBENCH_BARRIER_TIMEOUT", "30"))


class _Barrier:
    """Marker yielded by a body: wait for every worker of the run."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "BARRIER"


BARRIER: Any = _Barrier()


@dataclass(frozen=True)
class Spawn:
    """Request yielded by a body: run ``children`` as child workers, return their results."""

    children: Sequence[Callable[[], Any]]


Body = Callable[[int], Generator[Any, Any, Any]]
"""A worker body: called with the worker's index, returns a generator."""


class LoadMismatch(RuntimeError):
    """The process does not behave like the load it claims to be."""


def _drive(gen: Generator[Any, Any, Any], wait: Callable[[], Any], spawn: Callable[[Sequence[Callable[[], Any]]], list[Any]]) -> Any:
    """Run a body generator to completion, serving its BARRIER and Spawn requests."""
    reply: Any = None
    while True:
        try:
            request = gen.send(reply)
        except StopIteration as stop:
            return stop.value
        if request is BARRIER:
            wait()
            reply = None
        elif isinstance(request, Spawn):
            reply = spawn(request.children)
        else:
            raise TypeError(f"a body yielded {request!r}; expected BARRIER or Spawn")


def _no_wait() -> None:
    """Barrier of a run with one worker."""


class Load(ABC):
    """One concurrency model.  Subclasses are registered in :data:`LOADS`."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: Whether blocking socket code (the database workload) can run under it.
    blocking_io: ClassVar[bool] = False

    def install(self) -> None:
        """Prepare the process.  Called before anything else is imported."""

    @abstractmethod
    def run_concurrent(self, body: Body, n: int) -> list[Any]:
        """Run ``n`` workers together; ``BARRIER`` keeps them in lock-step."""

    @abstractmethod
    def run_sequential(self, body: Body, n: int) -> list[Any]:
        """Run ``n`` fresh workers one after another, each ending before the next starts."""

    def run_blocking(self, fn: Callable[[int], Any], n: int) -> list[Any]:
        """Run ``fn(i)`` in ``n`` workers started together; for blocking I/O workloads."""
        raise LoadMismatch(f"load {self.name!r} cannot run blocking socket workloads")

    def settle(self) -> None:
        """Let the load finish its own bookkeeping for workers that have ended.

        Runs one empty worker: some cleanup is deferred to the next worker's
        start (greenlet frees a dead thread's main greenlet, and whatever that
        greenlet's gevent.local held, only when another thread runs).  The
        empty worker touches no Local, so it cannot hide a real leak.
        """

        def empty(_: int) -> Generator[Any, Any, None]:
            return None
            yield  # a generator body

        self.run_sequential(empty, 1)

    @abstractmethod
    def verify(self) -> dict[str, Any]:
        """Check that the process is what this load claims; raise LoadMismatch if not.

        Returns the facts checked, for the record.
        """

    # Shared checks -------------------------------------------------------

    def _native_ids(self) -> set[int]:
        """OS thread ids seen by four concurrent workers of this load."""
        import threading

        native = threading.get_native_id  # never patched by gevent

        def body(_: int) -> Generator[Any, Any, int]:
            yield BARRIER
            return native()

        return set(self.run_concurrent(body, 4))


class Threads(Load):
    name = "threads"
    description = "OS threads, no gevent in the process"
    blocking_io = True

    def run_concurrent(self, body: Body, n: int) -> list[Any]:
        import threading

        barrier = threading.Barrier(n, timeout=BARRIER_TIMEOUT)
        return self._run(lambda i: _drive(body(i), barrier.wait, self._spawn), n, barrier)

    def run_sequential(self, body: Body, n: int) -> list[Any]:
        results = []
        for i in range(n):
            results.extend(self._run(lambda _, i=i: _drive(body(i), _no_wait, self._spawn), 1, None))
        return results

    def run_blocking(self, fn: Callable[[int], Any], n: int) -> list[Any]:
        import threading

        barrier = threading.Barrier(n, timeout=BARRIER_TIMEOUT)

        def work(i: int) -> Any:
            barrier.wait()
            return fn(i)

        return self._run(work, n, barrier)

    @staticmethod
    def _run(work: Callable[[int], Any], n: int, barrier: Any) -> list[Any]:
        import threading

        results: list[Any] = [None] * n
        errors: list[BaseException] = []

        def target(i: int) -> None:
            try:
                results[i] = work(i)
            except BaseException as exc:  # reported to the caller below
                errors.append(exc)
                if barrier is not None:
                    barrier.abort()

        threads = [threading.Thread(target=target, args=(i,), name=f"ctxbench-worker-{i}") for i in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
            raise (real or errors)[0]
        return results

    def _spawn(self, children: Sequence[Callable[[], Any]]) -> list[Any]:
        return self._run(lambda i: children[i](), len(children), None)

    def verify(self) -> dict[str, Any]:
        import threading

        if "gevent" in sys.modules:
            raise LoadMismatch("threads: gevent is imported in a threads process")
        ids = self._native_ids()
        if len(ids) != 4:
            raise LoadMismatch(f"threads: 4 workers ran on {len(ids)} OS thread(s)")
        return {"os_threads_for_4_workers": len(ids), "threading_local": _qualname(threading.local)}


class _GeventBarrier:
    """A cyclic barrier for greenlets that needs no patched threading."""

    def __init__(self, parties: int) -> None:
        from gevent.event import Event

        self._event_type = Event
        self._parties = parties
        self._count = 0
        self._event = Event()

    def wait(self) -> None:
        event = self._event
        self._count += 1
        if self._count == self._parties:
            self._count = 0
            self._event = self._event_type()
            event.set()
        elif not event.wait(BARRIER_TIMEOUT):
            raise TimeoutError(f"gevent barrier: {self._count} of {self._parties} workers arrived in {BARRIER_TIMEOUT}s")


class Gevent(Load):
    name = "gevent"
    description = "greenlets after gevent.monkey.patch_all()"
    blocking_io = True
    patch_threads: ClassVar[bool] = True

    def install(self) -> None:
        from gevent import monkey

        monkey.patch_all(thread=self.patch_threads)

    def run_concurrent(self, body: Body, n: int) -> list[Any]:
        barrier = _GeventBarrier(n)
        return self._join([self._spawn_one(lambda i=i: _drive(body(i), barrier.wait, self._spawn)) for i in range(n)])

    def run_sequential(self, body: Body, n: int) -> list[Any]:
        return [self._join([self._spawn_one(lambda i=i: _drive(body(i), _no_wait, self._spawn))])[0] for i in range(n)]

    def run_blocking(self, fn: Callable[[int], Any], n: int) -> list[Any]:
        barrier = _GeventBarrier(n)

        def work(i: int) -> Any:
            barrier.wait()
            return fn(i)

        return self._join([self._spawn_one(lambda i=i: work(i)) for i in range(n)])

    def settle(self) -> None:
        import gevent

        # A finished greenlet stays referenced by its pending link-notification
        # callback until the hub next runs; two trips through the hub run them.
        gevent.sleep(0)
        gevent.sleep(0)
        super().settle()

    @staticmethod
    def _spawn_one(fn: Callable[[], Any]) -> Any:
        import gevent

        return gevent.spawn(fn)

    @staticmethod
    def _join(greenlets: list[Any]) -> list[Any]:
        import gevent

        gevent.joinall(greenlets)
        for g in greenlets:
            if g.exception is not None:
                raise g.exception
        return [g.value for g in greenlets]

    def _spawn(self, children: Sequence[Callable[[], Any]]) -> list[Any]:
        return self._join([self._spawn_one(child) for child in children])

    def verify(self) -> dict[str, Any]:
        import threading

        import gevent.local
        import gevent.thread
        from gevent import monkey

        patched = monkey.is_module_patched("threading")
        if patched != self.patch_threads:
            raise LoadMismatch(f"{self.name}: threading patched={patched}, expected {self.patch_threads}")
        if not monkey.is_module_patched("socket"):
            raise LoadMismatch(f"{self.name}: socket is not patched")
        local_is_gevent = threading.local is gevent.local.local
        ident_is_gevent = threading.get_ident is gevent.thread.get_ident
        if local_is_gevent != self.patch_threads or ident_is_gevent != self.patch_threads:
            raise LoadMismatch(
                f"{self.name}: threading.local is {_qualname(threading.local)}, "
                f"threading.get_ident is {_qualname(threading.get_ident)}"
            )
        ids = self._native_ids()
        if len(ids) != 1:
            raise LoadMismatch(f"{self.name}: 4 greenlets ran on {len(ids)} OS threads")
        return {
            "threading_patched": patched,
            "socket_patched": True,
            "threading_local": _qualname(threading.local),
            "os_threads_for_4_workers": len(ids),
        }


class GeventNoThread(Gevent):
    name = "gevent-nothread"
    description = "greenlets after gevent.monkey.patch_all(thread=False)"
    patch_threads = False


class RawGreenlet(Load):
    name = "greenlet"
    description = "raw greenlets switched by hand, no gevent"

    def run_concurrent(self, body: Body, n: int) -> list[Any]:
        from greenlet import getcurrent, greenlet

        scheduler = getcurrent()

        def wait() -> None:
            scheduler.switch()

        def work(i: int) -> Any:
            wait()  # start barrier: every worker exists before any runs its body
            return _drive(body(i), wait, self._spawn)

        workers = [greenlet(work) for _ in range(n)]
        results: list[Any] = [None] * n
        first = True
        live = list(range(n))
        # Round-robin: each round resumes every live worker once; a worker
        # runs until its next barrier, so rounds are the barrier.
        while live:
            still = []
            for i in live:
                worker = workers[i]
                value = worker.switch(i) if first else worker.switch()
                if worker.dead:
                    results[i] = value
                else:
                    still.append(i)
            first = False
            live = still
        return results

    def run_sequential(self, body: Body, n: int) -> list[Any]:
        from greenlet import greenlet

        return [greenlet(lambda i=i: _drive(body(i), _no_wait, self._spawn)).switch() for i in range(n)]

    @staticmethod
    def _spawn(children: Sequence[Callable[[], Any]]) -> list[Any]:
        from greenlet import greenlet

        # A child greenlet's parent is the creating worker: when the child
        # returns, control (and its result) comes back to the worker.
        return [greenlet(child).switch() for child in children]

    def verify(self) -> dict[str, Any]:
        import threading

        if "gevent" in sys.modules:
            raise LoadMismatch("greenlet: gevent is imported in a raw greenlet process")
        ids = self._native_ids()
        if len(ids) != 1:
            raise LoadMismatch(f"greenlet: 4 workers ran on {len(ids)} OS threads")
        return {"os_threads_for_4_workers": len(ids), "threading_local": _qualname(threading.local)}


class Asyncio(Load):
    name = "asyncio"
    description = "tasks on one asyncio event loop"

    def run_concurrent(self, body: Body, n: int) -> list[Any]:
        import asyncio

        async def main() -> list[Any]:
            barrier = asyncio.Barrier(n)

            async def work(i: int) -> Any:
                await asyncio.wait_for(barrier.wait(), BARRIER_TIMEOUT)
                return await self._adrive(body(i), lambda: asyncio.wait_for(barrier.wait(), BARRIER_TIMEOUT))

            return list(await asyncio.gather(*(work(i) for i in range(n))))

        return asyncio.run(main())

    def run_sequential(self, body: Body, n: int) -> list[Any]:
        import asyncio

        async def nothing() -> None:
            return None

        async def main() -> list[Any]:
            results = []
            for i in range(n):
                # A fresh task per worker, each awaited before the next starts.
                results.append(await asyncio.create_task(self._adrive(body(i), nothing)))
            return results

        return asyncio.run(main())

    @staticmethod
    async def _adrive(gen: Generator[Any, Any, Any], wait: Callable[[], Any]) -> Any:
        import asyncio

        async def child(fn: Callable[[], Any]) -> Any:
            return fn()

        reply: Any = None
        while True:
            try:
                request = gen.send(reply)
            except StopIteration as stop:
                return stop.value
            if request is BARRIER:
                await wait()
                reply = None
            elif isinstance(request, Spawn):
                # gather() wraps each coroutine in a task created here, in this
                # worker's context: children get a copy of it, as in real code.
                reply = list(await asyncio.gather(*(child(fn) for fn in request.children)))
            else:
                raise TypeError(f"a body yielded {request!r}; expected BARRIER or Spawn")

    def verify(self) -> dict[str, Any]:
        import threading

        if "gevent" in sys.modules:
            raise LoadMismatch("asyncio: gevent is imported in an asyncio process")
        ids = self._native_ids()
        if len(ids) != 1:
            raise LoadMismatch(f"asyncio: 4 tasks ran on {len(ids)} OS threads")
        return {"os_threads_for_4_workers": len(ids), "threading_local": _qualname(threading.local)}


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


#: Every load, by name, in the order tables show them.
LOADS: dict[str, type[Load]] = {cls.name: cls for cls in (Threads, Gevent, GeventNoThread, RawGreenlet, Asyncio)}

#: Loads under which the blocking database workload can run.
DB_LOADS: tuple[str, ...] = tuple(name for name, cls in LOADS.items() if cls.blocking_io)


def get_load(name: str) -> Load:
    """The load called ``name``; raise KeyError with the known names if unknown."""
    try:
        return LOADS[name]()
    except KeyError:
        raise KeyError(f"unknown load {name!r} (known: {', '.join(LOADS)})") from None
