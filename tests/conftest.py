"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from bench.server import ServerHandle


# --- mysql_server: a MySQL-protocol server for the database tests (bench/mysql.py) ---------------


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[ServerHandle]:
    """A :class:`bench.server.ServerHandle`, found or started once per session and stopped at its end.

    No server: the test is skipped, or fails when ``CTXBENCH_REQUIRE_DB=1`` (CI must not
    pass by skipping every database test).
    """
    from bench.server import ServerUnavailable, find_server

    try:
        handle = find_server()
    except ServerUnavailable as exc:
        if os.environ.get("CTXBENCH_REQUIRE_DB") == "1":
            pytest.fail(f"CTXBENCH_REQUIRE_DB=1, but {exc.reason}", pytrace=False)
        pytest.skip(exc.reason)
    with handle:
        yield handle
