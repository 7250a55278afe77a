"""``gevent`` and ``gevent-nothread``: greenlets on one hub after ``gevent.monkey.patch_all()`` (threads or not)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from bench.cell.loads.base import BARRIER_TIMEOUT, Body, Load, LoadMismatch, drive, no_wait, qualname


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
            arrived = f"{self._count} of {self._parties} workers arrived in {BARRIER_TIMEOUT}s"
            raise TimeoutError(f"gevent barrier: {arrived}")


class Gevent(Load):
    name = "gevent"
    description = "greenlets after gevent.monkey.patch_all()"
    blocking_io = True
    has_hub = True
    patch_threads: ClassVar[bool] = True

    def install(self) -> None:
        from gevent import monkey

        monkey.patch_all(thread=self.patch_threads)

    def run_concurrent(self, body: Body, n: int) -> list[Any]:
        barrier = _GeventBarrier(n)
        return self._join([self._spawn_one(lambda i=i: drive(body(i), barrier.wait, self._spawn)) for i in range(n)])

    def run_sequential(self, body: Body, n: int) -> list[Any]:
        return [self._join([self._spawn_one(lambda i=i: drive(body(i), no_wait, self._spawn))])[0] for i in range(n)]

    def run_blocking(self, fn: Callable[[int], Any], n: int, beside: Callable[[], Any] | None = None) -> list[Any]:
        barrier = _GeventBarrier(n)

        def work(i: int) -> Any:
            barrier.wait()
            return fn(i)

        aside = self._spawn_one(beside) if beside is not None else None
        try:
            return self._join([self._spawn_one(lambda i=i: work(i)) for i in range(n)])
        finally:
            if aside is not None:
                aside.kill(block=False)

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
                f"{self.name}: threading.local is {qualname(threading.local)}, "
                f"threading.get_ident is {qualname(threading.get_ident)}"
            )
        ids = self._native_ids()
        if len(ids) != 1:
            raise LoadMismatch(f"{self.name}: 4 greenlets ran on {len(ids)} OS threads")
        return {
            "threading_patched": patched,
            "socket_patched": True,
            "threading_local": qualname(threading.local),
            "os_threads_for_4_workers": len(ids),
        }


class GeventNoThread(Gevent):
    name = "gevent-nothread"
    description = "greenlets after gevent.monkey.patch_all(thread=False)"
    patch_threads = False

