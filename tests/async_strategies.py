"""Strategies for the asyncio load written as users write them, and planted failures the harness must catch.

Used by tests/test_db_asyncio.py as user factories (``tests.async_strategies:...``); never part of the
benchmark's own list.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any


async def own_connection(connect_kwargs: Mapping[str, Any], concurrency: int) -> OwnAiomysql:
    """An ``async def`` factory: one aiomysql connection per checkout, opened ahead (a correct strategy)."""
    import aiomysql

    kwargs = dict(connect_kwargs)
    kwargs["db"] = kwargs.pop("database")
    conns = [await aiomysql.connect(**kwargs) for _ in range(concurrency)]
    return OwnAiomysql(conns)


class OwnAiomysql:
    """Hands each checkout a connection nobody else holds (an ``asynccontextmanager`` checkout)."""

    def __init__(self, conns: list[Any]) -> None:
        self.free = list(conns)
        self.all = list(conns)

    @asynccontextmanager
    async def checkout(self) -> AsyncIterator[Any]:
        conn = self.free.pop()
        try:
            yield conn
        finally:
            self.free.append(conn)

    async def close(self) -> None:
        for conn in self.all:
            conn.close()


class NeverReady:
    """A pool whose checkout waits for a connection that never comes: the loop runs, no task makes progress."""

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        self.event: asyncio.Event | None = None

    @asynccontextmanager
    async def checkout(self) -> AsyncIterator[Any]:
        if self.event is None:
            self.event = asyncio.Event()
        await self.event.wait()
        yield None

    async def close(self) -> None:
        return None


class BlocksTheLoop:
    """A checkout that calls blocking code by mistake (``time.sleep``): the whole event loop stops."""

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        return None

    @asynccontextmanager
    async def checkout(self) -> AsyncIterator[Any]:
        time.sleep(60)  # longer than any hang_after a test uses
        yield None

    async def close(self) -> None:
        return None
