"""Strategies for the driver tests: each connects through the cell's driver (``bench.cell.drivers.current()``), as a
user's factory may, to somewhere that fails the same way for every driver.

``ctxbench db --driver NAME --strategy tests.driver_strategies:wrong_password``: every operation opens a connection
with a wrong password (the server's error 1045, whichever class the driver raises it as).
``tests.driver_strategies:silent``: every worker connects to a listener that accepts and never answers (its port in
:data:`SILENT_PORT_ENV`), so each waits inside its driver's connect until the watchdog ends the cell.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from bench.cell import drivers

#: The environment variable naming the silent listener's port (set by the test that starts it).
SILENT_PORT_ENV = "CTXBENCH_TEST_SILENT_PORT"
#: A password that is not the server's (not a secret: it never opens anything).
WRONG_PASSWORD = "not-the-password"


class _Opens:
    """Opens a connection through the cell's driver on enter (which fails), closes it on exit."""

    def __init__(self, kwargs: Mapping[str, Any]) -> None:
        self.kwargs = kwargs
        self.conn: Any = None

    def __enter__(self) -> Any:
        self.conn = drivers.current().connect(**self.kwargs)
        return self.conn

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()


class _Elsewhere:
    def __init__(self, kwargs: Mapping[str, Any]) -> None:
        self.kwargs = dict(kwargs)

    def checkout(self) -> _Opens:
        return _Opens(self.kwargs)

    def close(self) -> None:
        return None


def wrong_password(connect_kwargs: Mapping[str, Any], concurrency: int) -> _Elsewhere:
    """Every checkout connects with a wrong password: the server refuses with 1045."""
    return _Elsewhere({**connect_kwargs, "password": WRONG_PASSWORD})


def silent(connect_kwargs: Mapping[str, Any], concurrency: int) -> _Elsewhere:
    """Every checkout connects to the silent listener and waits for a greeting that never comes (a minute)."""
    return _Elsewhere({**connect_kwargs, "port": int(os.environ[SILENT_PORT_ENV]), "connect_timeout": 60,
                       "read_timeout": 60})
