"""``asyncio``: tasks on one asyncio event loop."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from bench.cell.loads.base import BARRIER, BARRIER_TIMEOUT, Body, Load, Spawn


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
        return self._verify_unpatched("an asyncio process", 1, "4 tasks ran on {n} OS threads")
