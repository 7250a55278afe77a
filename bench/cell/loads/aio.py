"""``asyncio``: tasks on one asyncio event loop (uvloop's, for the database workload, when it is installed)."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from typing import Any

from bench.cell.loads.base import BARRIER, BARRIER_TIMEOUT, Body, Load, Spawn


def _loop_factory() -> tuple[Callable[[], Any] | None, str]:
    """The event loop the database workload runs on: uvloop's when importable (unless CTXBENCH_NO_UVLOOP=1)."""
    if os.environ.get("CTXBENCH_NO_UVLOOP") != "1":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop, f"uvloop {uvloop.__version__}"
    return None, "asyncio"


class Asyncio(Load):
    name = "asyncio"
    description = "tasks on one asyncio event loop"
    async_io = True
    has_hub = True

    def __init__(self) -> None:
        self._runner: Any = None
        self.loop_name = _loop_factory()[1]

    def _loop(self) -> Any:
        """The one ``asyncio.Runner`` of this cell's database workload (created on first use)."""
        if self._runner is None:
            import asyncio

            self._runner = asyncio.Runner(loop_factory=_loop_factory()[0])
        return self._runner

    def resolve(self, value: Any) -> Any:
        """``value``, or its result once awaited on the cell's loop: building and closing a strategy run there."""
        import inspect

        if not inspect.isawaitable(value):
            return value

        async def wait() -> Any:
            return await value

        return self._loop().run(wait())

    def run_async(self, fn: Callable[[int], Any], n: int, beside: Callable[[], Any] | None = None) -> list[Any]:
        """The coroutines ``fn(i)`` as ``n`` tasks of the cell's loop, each created in a copy of the main context;
        ``beside()`` a task of the same loop, cancelled when they are done."""
        import asyncio

        async def main() -> list[Any]:
            aside = asyncio.ensure_future(beside()) if beside is not None else None
            try:
                return list(await asyncio.gather(*(fn(i) for i in range(n))))
            finally:
                if aside is not None:
                    aside.cancel()
                    await asyncio.gather(aside, return_exceptions=True)

        return list(self._loop().run(main()))

    def close(self) -> None:
        """Close the database workload's loop, if one was made."""
        if self._runner is not None:
            self._runner.close()
            self._runner = None

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
        facts = self._verify_unpatched("an asyncio process", 1, "4 tasks ran on {n} OS threads")
        return {**facts, "db_event_loop": self.loop_name}  # the probes run on asyncio.run's own loop
