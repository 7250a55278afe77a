"""User strategies (``tests.fault_strategies:NAME``) that misbehave on purpose, for the fault tests.

``blocks_forever``: every checkout waits for a connection that never comes -- the
cell's watchdog must end the cell as ``hung``.

``leaky``: a pool that never closes its connections and hands one to a helper
process that outlives the cell (``LEAK_SECONDS``), so the server still holds it
when the cell's process is gone: the parent's leak check must report it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

#: How long the helper process of ``leaky`` keeps its connection.
LEAK_SECONDS = 8.0
#: Marks the helper's command line, so a test can find and end it.
LEAK_MARK = "ctxbench-test-leak-holder"


class _Forever:
    __slots__ = ()

    def __enter__(self) -> Any:
        while True:  # a checkout that never returns (time.sleep is gevent's under gevent: the hub lives on)
            time.sleep(3600)

    def __exit__(self, *exc: object) -> None:
        return None


class BlocksForever:
    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        self._cm = _Forever()

    def checkout(self) -> _Forever:
        return self._cm

    def close(self) -> None:
        return None


def blocks_forever(connect_kwargs: dict[str, Any], concurrency: int) -> BlocksForever:
    return BlocksForever(connect_kwargs, concurrency)


_HOLDER = f"""
import json, sys, time
import pymysql
kwargs = json.loads(sys.stdin.readline())
conn = pymysql.connect(**kwargs)
sys.stdout.write("connected\\n"); sys.stdout.flush()
time.sleep({LEAK_SECONDS})
"""


class _Kept:
    """A worker's connection, opened on its first checkout and never closed."""

    __slots__ = ("conn", "connect")

    def __init__(self, connect: Any) -> None:
        self.connect = connect
        self.conn: Any = None

    def checkout(self) -> _Kept:
        return self

    def __enter__(self) -> Any:
        if self.conn is None:
            self.conn = self.connect()
        return self.conn

    def __exit__(self, *exc: object) -> None:
        return None


class Leaky:
    """One connection per worker, never closed; and one more held by a helper process that outlives the cell."""

    def __init__(self, connect_kwargs: Mapping[str, Any], concurrency: int) -> None:
        import pymysql

        self.kwargs = dict(connect_kwargs)
        self.handles: dict[int, _Kept] = {}
        self._connect = lambda: pymysql.connect(**self.kwargs)
        # The password goes over the helper's stdin, never its command line.
        helper = subprocess.Popen([sys.executable, "-c", _HOLDER, LEAK_MARK], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
                                  env={**os.environ})
        assert helper.stdin is not None and helper.stdout is not None
        helper.stdin.write(json.dumps(self.kwargs) + "\n")
        helper.stdin.flush()
        helper.stdout.readline()  # "connected"

    def for_worker(self, index: int) -> _Kept:
        handle = self.handles.get(index)
        if handle is None:
            handle = self.handles[index] = _Kept(self._connect)
        return handle

    def checkout(self) -> _Kept:
        raise RuntimeError("each worker checks out through for_worker(index)")

    def close(self) -> None:
        return None  # the leak: nothing is closed


def leaky(connect_kwargs: dict[str, Any], concurrency: int) -> Leaky:
    return Leaky(connect_kwargs, concurrency)
