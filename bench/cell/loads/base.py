"""What every load shares: the body protocol (``BARRIER``, ``Spawn``), the driver of a body, the :class:`Load` base."""

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


def drive(gen: Generator[Any, Any, Any], wait: Callable[[], Any],
          spawn: Callable[[Sequence[Callable[[], Any]]], list[Any]]) -> Any:
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


def no_wait() -> None:
    """Barrier of a run with one worker."""


class Load(ABC):
    """One concurrency model.  Subclasses are registered in :data:`LOADS`."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: Whether blocking socket code (the database workload) can run under it.
    blocking_io: ClassVar[bool] = False
    #: Whether the database workload runs under it as coroutines (async drivers, :meth:`run_async`).
    async_io: ClassVar[bool] = False
    #: Whether its workers share one event loop (gevent's hub, asyncio's loop) that a blocking call stalls: its
    #: database cells run a ticker beside the workers (:mod:`bench.cell.db.hub`).
    has_hub: ClassVar[bool] = False

    def install(self) -> None:
        """Prepare the process.  Called before anything else is imported."""

    @abstractmethod
    def run_concurrent(self, body: Body, n: int) -> list[Any]:
        """Run ``n`` workers together; ``BARRIER`` keeps them in lock-step."""

    @abstractmethod
    def run_sequential(self, body: Body, n: int) -> list[Any]:
        """Run ``n`` fresh workers one after another, each ending before the next starts."""

    def run_blocking(self, fn: Callable[[int], Any], n: int, beside: Callable[[], Any] | None = None) -> list[Any]:
        """Run ``fn(i)`` in ``n`` workers started together; for blocking I/O workloads.  ``beside`` (a load with a
        hub) runs on the same hub until the workers are done, then is killed."""
        raise LoadMismatch(f"load {self.name!r} cannot run blocking socket workloads")

    def run_async(self, fn: Callable[[int], Any], n: int, beside: Callable[[], Any] | None = None) -> list[Any]:
        """Run the coroutines ``fn(i)`` as ``n`` tasks of one event loop; for async I/O workloads.  ``beside`` (a
        coroutine function) runs as a task of the same loop until the workers are done, then is cancelled."""
        raise LoadMismatch(f"load {self.name!r} cannot run async workloads")

    def resolve(self, value: Any) -> Any:
        """``value``, or its result when it is awaitable (run on this load's event loop, where it has one)."""
        return value

    def close(self) -> None:
        """Release what the load keeps between calls (the asyncio load's event loop); nothing by default."""

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


    def _verify_unpatched(self, process: str, expected_threads: int, ran: str) -> dict[str, Any]:
        """The check of a load that runs without gevent: no gevent in ``process``, ``expected_threads`` OS threads
        for 4 workers (else LoadMismatch saying ``ran``, formatted with ``n``, the threads seen)."""
        import threading

        if "gevent" in sys.modules:
            raise LoadMismatch(f"{self.name}: gevent is imported in {process}")
        ids = self._native_ids()
        if len(ids) != expected_threads:
            raise LoadMismatch(f"{self.name}: {ran.format(n=len(ids))}")
        return {"os_threads_for_4_workers": len(ids), "threading_local": qualname(threading.local)}


def qualname(obj: Any) -> str:
    """``module.qualname`` of a class or function, for the record."""
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
