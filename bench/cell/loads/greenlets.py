"""``greenlet``: raw greenlets switched by hand (round-robin), no gevent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bench.cell.loads.base import Body, Load, drive, no_wait


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
            return drive(body(i), wait, self._spawn)

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

        return [greenlet(lambda i=i: drive(body(i), no_wait, self._spawn)).switch() for i in range(n)]

    @staticmethod
    def _spawn(children: Sequence[Callable[[], Any]]) -> list[Any]:
        from greenlet import greenlet

        # A child greenlet's parent is the creating worker: when the child
        # returns, control (and its result) comes back to the worker.
        return [greenlet(child).switch() for child in children]

    def verify(self) -> dict[str, Any]:
        return self._verify_unpatched("a raw greenlet process", 1, "4 workers ran on {n} OS threads")
