"""Shared fixtures."""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from bench.server import ServerHandle


# --- free-threaded CPython: no gevent --------------------------------------------------------------

#: Whether these tests run on a free-threaded build (python3.14t).
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
#: Why a test that needs gevent is skipped there, in one line.
NO_GEVENT = ("gevent does not support free-threading (gevent issue 2127): importing it turns the GIL back on, so "
             "tests that need gevent are skipped on this free-threaded build")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a free-threaded build, skip every test that needs gevent: named for it, or marked ``gevent``."""
    if not FREE_THREADED:
        return
    skip = pytest.mark.skip(reason=NO_GEVENT)
    for item in items:
        if "gevent" in item.nodeid.lower() or item.get_closest_marker("gevent") is not None:
            item.add_marker(skip)


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
