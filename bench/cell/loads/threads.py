"""``threads``: OS threads, no gevent in the process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bench.cell.loads.base import BARRIER_TIMEOUT, Body, Load, drive, no_wait


class Threads(Load):
    name = "threads"
    description = "OS threads, no gevent in the process"
    blocking_io = True

    def run_concurrent(self, body: Body, n: int) -> list[Any]:
        import threading

        barrier = threading.Barrier(n, timeout=BARRIER_TIMEOUT)
        return self._run(lambda i: drive(body(i), barrier.wait, self._spawn), n, barrier)

    def run_sequential(self, body: Body, n: int) -> list[Any]:
        results = []
        for i in range(n):
            results.extend(self._run(lambda _, i=i: drive(body(i), no_wait, self._spawn), 1, None))
        return results

    def run_blocking(self, fn: Callable[[int], Any], n: int, beside: Callable[[], Any] | None = None) -> list[Any]:
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
        return self._verify_unpatched("a threads process", 4, "4 workers ran on {n} OS thread(s)")
