"""Deliberately broken connection strategies: the oracle in bench/cell/db must catch them.

Used by tests/test_db.py as user factories (``tests.broken_strategies:SharedPairPool``);
never part of the benchmark's own list.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bench.cell.connections import _Fixed


class SharedPairPool:
    """A "pool" with a bookkeeping bug: it holds half as many connections as workers and
    hands them out round-robin, so two workers use the same connection at the same time.

    Each connection has a short read timeout, so a worker whose reply another worker
    consumed ends with an error instead of waiting forever.
    """

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        import pymysql

        size = max(1, concurrency // 2)
        self.conns = [pymysql.connect(**connect_kwargs, read_timeout=2, write_timeout=2) for _ in range(size)]
        self._next = itertools.count()

    def checkout(self) -> _Fixed:
        return _Fixed(self.conns[next(self._next) % len(self.conns)])

    def recover(self) -> None:
        for conn in self.conns:
            if not conn.open:
                try:
                    conn.ping(reconnect=True)
                except Exception:  # still in use by a partner worker: the next error retries
                    pass

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.close()
            except Exception:  # already broken
                pass


def not_a_strategy(connect_kwargs: Mapping[str, Any], concurrency: int) -> object:
    """A factory whose product lacks checkout()/close()."""
    return object()


class _NoThreadId:
    """A connection proxy that hides ``thread_id()``: the handshake's id cannot be read through it."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def cursor(self) -> Any:
        return self._conn.cursor()

    def begin(self) -> None:
        self._conn.begin()

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()


class HidesThreadId:
    """Correct (one connection per checkout, closed after), but its connections offer no ``thread_id()``:
    every attempt to read a connection's id fails, and the record must say how often."""

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        self.kwargs = dict(connect_kwargs)

    @contextmanager
    def checkout(self) -> Iterator[_NoThreadId]:
        import pymysql

        conn = pymysql.connect(**self.kwargs)
        try:
            yield _NoThreadId(conn)
        finally:
            conn.close()

    def close(self) -> None:
        return None


class _SwappingCursor:
    """Runs ``SELECT %s`` with the token another worker sent last: a wrong row, returned without any error."""

    def __init__(self, cursor: Any, worker: int, last: dict[int, tuple[Any, ...]]) -> None:
        self._cursor = cursor
        self._worker = worker
        self._last = last

    def execute(self, query: str, args: Any = None) -> Any:
        if query == "SELECT %s" and isinstance(args, tuple):
            self._last[self._worker] = args
            # A copy first (one atomic step, under the dict's lock without the GIL): iterating the live dict while
            # another worker adds its entry raises "dictionary changed size", an error this strategy must not make.
            others = [sent for worker, sent in list(self._last.items()) if worker != self._worker]
            args = others[-1] if others else args
        return self._cursor.execute(query, args)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def close(self) -> None:
        self._cursor.close()


class _SwappingConnection(_NoThreadId):
    """A worker's own connection whose ``SELECT %s`` answers with another worker's token."""

    def __init__(self, conn: Any, worker: int, last: dict[int, tuple[Any, ...]]) -> None:
        super().__init__(conn)
        self._con = conn  # the PyMySQL connection, for the harness's connection ids
        self._worker = worker
        self._last = last

    def cursor(self) -> Any:
        return _SwappingCursor(self._conn.cursor(), self._worker, self._last)


class _OwnHandle:
    """What one worker checks out through: always its own connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._cm = _Fixed(conn)

    def checkout(self) -> _Fixed:
        return self._cm


class SwapsReplies:
    """Each worker has its own connection (no race, no error), but the proxy swaps the echoed token for
    another worker's: every such reply is a silent wrong result, which the oracle must count as one."""

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        self.kwargs = dict(connect_kwargs)
        self.last: dict[int, tuple[Any, ...]] = {}
        self.handles: dict[int, _OwnHandle] = {}

    def for_worker(self, index: int) -> _OwnHandle:
        import pymysql

        if index not in self.handles:
            self.handles[index] = _OwnHandle(_SwappingConnection(pymysql.connect(**self.kwargs), index, self.last))
        return self.handles[index]

    def checkout(self) -> _Fixed:
        raise RuntimeError("SwapsReplies: each worker checks out through for_worker(index)")

    def close(self) -> None:
        for handle in self.handles.values():
            handle.conn._con.close()
        self.handles.clear()


class SmallPool:
    """DBUtils ``PooledDB`` (blocking) with half as many connections as workers: correct under threads and
    gevent, where a worker waits for a connection; under gevent-nothread its wait on a real OS lock blocks
    the hub, and the cell must end ``hung``."""

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        import pymysql
        from dbutils.pooled_db import PooledDB

        self.pool = PooledDB(pymysql, maxconnections=max(1, concurrency // 2), blocking=True, **connect_kwargs)

    def checkout(self) -> Any:
        return self.pool.connection()

    def close(self) -> None:
        self.pool.close()


def _second_process() -> bool:
    """Whether this is process 1 of a several-process cell (``--processes``; the spawner sets the index)."""
    import os

    return os.environ.get("CTXBENCH_PROCESS_INDEX") == "1"


def crashes_in_second_process(connect_kwargs: Mapping[str, Any], concurrency: int) -> Any:
    """``pooled-tuned`` everywhere but in process 1 of a cell, which dies while building it (status 3)."""
    import os

    from bench.cell.strategies import build_strategy

    if _second_process():
        os._exit(3)
    return build_strategy("pooled-tuned", dict(connect_kwargs), concurrency)


class HangsInSecondProcess:
    """``pooled-tuned``, but in process 1 of a cell every checkout blocks for an hour: its workers never connect,
    its watchdog ends it ``hung`` and the cell must say which process it was."""

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        from bench.cell.strategies import build_strategy

        self.inner = build_strategy("pooled-tuned", dict(connect_kwargs), concurrency)
        self.hang = _second_process()

    def checkout(self) -> Any:
        if self.hang:
            import time

            time.sleep(3600)
        return self.inner.checkout()

    def close(self) -> None:
        self.inner.close()


def slow_to_build_in_second_process(connect_kwargs: Mapping[str, Any], concurrency: int) -> Any:
    """``pooled-tuned``, but process 1 of a cell takes an hour to build it (before its watchdog runs): it is never
    ready, and the parent's bounded wait must end the cell."""
    import time

    from bench.cell.strategies import build_strategy

    if _second_process():
        time.sleep(3600)
    return build_strategy("pooled-tuned", dict(connect_kwargs), concurrency)


class HangsLaterInSecondProcess(HangsInSecondProcess):
    """Like :class:`HangsInSecondProcess`, but process 1 hangs only after its connect phase (one checkout per
    worker): it hangs inside the common measured window, after every process started."""

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        super().__init__(connect_kwargs, concurrency)
        self.left = concurrency  # the connect phase's checkouts

    def checkout(self) -> Any:
        if self.hang and self.left > 0:
            self.left -= 1
            return self.inner.checkout()
        return super().checkout()


class _PingingCheckout:
    """A checkout that first sends ``SELECT 1`` on the connection, unseen by the workload's statement count."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cm: Any = None

    def __enter__(self) -> Any:
        self.cm = self.inner.checkout()
        conn = self.cm.__enter__()
        cur = conn.cursor()
        try:
            cur.execute("SELECT 1")
            cur.fetchone()
        finally:
            cur.close()
        return conn

    def __exit__(self, *exc: Any) -> Any:
        return self.cm.__exit__(*exc)


class HiddenQueryInSecondProcess:
    """``pooled-tuned``, but in process 1 of a cell every checkout sends a ``SELECT 1`` of its own: statements the
    application never issued, which the server's count must show beside the processes' client statements."""

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        from bench.cell.strategies import build_strategy

        self.inner = build_strategy("pooled-tuned", dict(connect_kwargs), concurrency)
        self.hidden = _second_process()

    def checkout(self) -> Any:
        return _PingingCheckout(self.inner) if self.hidden else self.inner.checkout()

    def close(self) -> None:
        self.inner.close()
