"""The slow fault tests: run by ``tox -e faults`` (which sets ``CTXBENCH_FAULTS=1``), skipped otherwise.

Each test starts private servers of its own (``mariadbd``/``mysqld`` must be installed)
and kills, restarts or fills them; none touches a server it was given or found.
"""

from __future__ import annotations

import os

import pytest

import bench.server as mysql


@pytest.fixture(autouse=True)
def _faults_enabled() -> None:
    if os.environ.get("CTXBENCH_FAULTS") != "1":
        pytest.skip("slow fault test: run with tox -e faults (or CTXBENCH_FAULTS=1)")
    if mysql.find_server_binary() is None:
        if os.environ.get("CTXBENCH_REQUIRE_DB") == "1":
            pytest.fail("CTXBENCH_REQUIRE_DB=1 but no mariadbd or mysqld to start a private server", pytrace=False)
        pytest.skip("no mariadbd or mysqld to start a private server")
