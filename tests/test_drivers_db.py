"""Every installed driver against a real server: the oracle, the connection ids, the server's counters, error
numbers, the watchdog and the hub's verdict -- each shown working, and shown catching what it names.

The hub check is the point of the driver dimension: under gevent a driver that waits in C stops every other
greenlet while rows stay right.  A planted module (``tests.blocking_driver``: PyMySQL whose ``execute`` first sleeps
with the unpatched ``time.sleep``) must be flagged, and real mysqlclient too; PyMySQL and Connector/Python's pure
form must not.  No assertion is about speed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bench.cell.drivers import DRIVERS, missing, version_of
from bench.exec.db import run_db
from bench.plan.selection import DbSelection
from bench.records.environment import PROJECT_ROOT
from bench.records.schema import to_json
from bench.server import ServerTarget
from tests.driver_strategies import SILENT_PORT_ENV, WRONG_PASSWORD
from tests.test_db import target  # noqa: F401  (the session's server, else the local default)

pytestmark = [pytest.mark.db, pytest.mark.slow]

INSTALLED = [name for name in DRIVERS if missing(name) is None]
PLANTED = "tests.blocking_driver:dbapi"
SHORT = {"duration": 0.5, "warmup": 0.2}


def _by(records: list[Any]) -> dict[tuple[str, str, str], Any]:
    return {(r["driver"], r["strategy"], r["load"]): r for r in records}


def test_the_c_drivers_are_installed_where_the_suite_is_required_to_run() -> None:
    if os.environ.get("CTXBENCH_REQUIRE_DRIVERS") == "1":  # CI installs the drivers extra: its tests must not skip
        assert INSTALLED == list(DRIVERS), [missing(name) for name in DRIVERS]


def test_every_driver_keeps_replies_apart_and_reconciles_with_the_server(target: ServerTarget) -> None:  # noqa: F811
    strategies = ["own-connection", "pooled", "locked", "sqlalchemy-pre-ping", "per-request-timeout"]
    records, errors = run_db(target, DbSelection(strategies=strategies, loads=["threads"], concurrency=[4],
                                                 drivers=INSTALLED, **SHORT), ceiling=False)
    assert errors == []
    cells = _by(records)
    assert len(cells) == len(strategies) * len(INSTALLED)
    for (driver, strategy, _load), rec in cells.items():
        where = (driver, strategy, rec.get("reason"), rec.get("error_samples"))
        assert rec["outcome"] == "ok" and rec["error_count"] == 0 and rec["wrong_results"] == 0, where
        assert rec["driver_version"] == version_of(driver) and rec["connect_close_ms"]["n"] == 5, where
        assert "connection_id_errors" not in rec and rec["connection_id_samples"]["mismatched"] == 0, where
        used = rec["connections_used"]
        assert used == 1 if strategy == "locked" else used >= 4 if strategy == "per-request-timeout" else used == 4
        # The server saw what the clients sent (others' traffic on a shared server adds to it; what one counter read
        # costs is measured once, with whatever else ran then, and subtracted: hence the slack).
        deltas = rec["server"]["deltas"]
        assert rec["server_statements"] >= 0.9 * rec["client_statements"] - 50, (where, rec["server_statements"],
                                                                                 rec["client_statements"])
        # Every write transaction's BEGIN: one per 50 operations of a worker, after up to a whole cycle before its
        # first (workers start at different places in the cycle), so a slow strategy's few operations may hold none.
        assert deltas["Com_begin"] >= 0.8 * (max(0, rec["ops_total"] - 4 * 50) // 50), where
        if strategy == "pooled":  # DBUtils' reset on return, over each driver's rollback()
            assert deltas["Com_rollback"] >= 0.9 * rec["ops_total"], where
    if "connector" in INSTALLED:
        facts = cells["connector", "own-connection", "threads"]["driver_facts"]
        assert facts["have_cext"] is True and facts["connection_class"].endswith("CMySQLConnection")
    if "connector-pure" in INSTALLED:
        facts = cells["connector-pure", "own-connection", "threads"]["driver_facts"]
        assert facts["connection_class"] == "mysql.connector.connection.MySQLConnection"


def test_a_driver_that_blocks_the_hub_is_flagged_and_pymysql_is_not(target: ServerTarget) -> None:  # noqa: F811
    names = ["pymysql", PLANTED, *(n for n in ("mysqlclient", "connector-pure") if n in INSTALLED)]
    records, errors = run_db(target, DbSelection(strategies=["own-connection"], loads=["gevent"], concurrency=[8],
                                                 drivers=names, duration=1.0, warmup=0.2), ceiling=False)
    assert errors == []
    cells = {r["driver"]: r for r in records}
    for name, rec in cells.items():  # every reply right, whatever the hub did
        assert rec["outcome"] == "ok" and rec["wrong_results"] == 0 and rec["ops"] > 0, (name, rec.get("reason"))
    flagged = {name: rec["blocks_hub"] for name, rec in cells.items()}
    assert flagged == {"pymysql": False, PLANTED: True, **({"mysqlclient": True} if "mysqlclient" in cells else {}),
                       **({"connector-pure": False} if "connector-pure" in cells else {})}, {
        name: rec["hub"] for name, rec in cells.items()}
    assert cells[PLANTED]["hub"]["blocked_share"] > 0.2
    assert cells["pymysql"]["hub"]["longest_stall_ms"] < 100 and cells["pymysql"]["hub"]["ticks"] > 20
    if "mysqlclient" in cells:  # one greenlet ran the whole window: the loop never ran anything else
        assert cells["mysqlclient"]["hub"]["longest_stall_ms"] >= 500


def test_a_blocking_driver_in_threads_leaves_an_asyncio_loop_free(target: ServerTarget) -> None:  # noqa: F811
    pytest.importorskip("aiomysql")
    records, errors = run_db(target, DbSelection(strategies=["to-thread"], loads=["asyncio"], concurrency=[4],
                                                 drivers=[PLANTED], **SHORT), ceiling=False)
    assert errors == [] and [(r["outcome"], r["blocks_hub"]) for r in records] == [("ok", False)]


def test_every_drivers_error_is_counted_under_the_servers_number(target: ServerTarget) -> None:  # noqa: F811
    if not target.password and target.user == "root":
        pass  # a wrong password is refused whether or not the account has one
    records, _ = run_db(target, DbSelection(strategies=["tests.driver_strategies:wrong_password"], loads=["threads"],
                                            concurrency=[2], drivers=INSTALLED, **SHORT), ceiling=False)
    for rec in records:
        where = (rec["driver"], rec.get("error_samples"))
        assert rec["outcome"] == "errors" and set(rec["errors"]) == {"OperationalError"}, where
        assert set(rec["error_codes"]) == {"OperationalError:1045"}, where
        assert WRONG_PASSWORD not in json.dumps(rec, default=to_json)
    classes = {rec["driver"]: rec["error_classes"]["OperationalError:1045"] for rec in records}
    assert classes["pymysql"] == "pymysql.err.OperationalError"
    if "connector" in classes:  # Connector/Python raises 1045 as ProgrammingError: counted under the number
        assert classes["connector"] == "mysql.connector.errors.ProgrammingError"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listener on 127.0.0.1 that accepts connections and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    os.environ[SILENT_PORT_ENV] = str(server.getsockname()[1])
    try:
        yield server.getsockname()[1]
    finally:
        os.environ.pop(SILENT_PORT_ENV, None)
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()


def test_the_watchdog_ends_a_cell_stuck_inside_any_driver(target: ServerTarget, silent_port: int) -> None:  # noqa: F811
    started = time.monotonic()
    records, _ = run_db(target, DbSelection(strategies=["tests.driver_strategies:silent"], loads=["threads", "gevent"],
                                            concurrency=[2], drivers=INSTALLED, hang_after=1.0, **SHORT),
                        ceiling=False)
    assert len(records) == 2 * len(INSTALLED)
    for rec in records:  # ended by its own watchdog (a real thread), not by the parent's time limit
        assert rec["outcome"] == "hung" and rec["driver"] in INSTALLED, (rec["driver"], rec["load"], rec.get("reason"))
        assert rec["cell_wall_s"] < 15, (rec["driver"], rec["load"], rec["cell_wall_s"])
    assert time.monotonic() - started < 30 * len(records)


def test_a_driver_that_is_not_installed_is_one_warning_and_skipped_cells(target: ServerTarget,  # noqa: F811
                                                                         tmp_path: Any) -> None:
    url = f"mysql://{target.user}:{target.password}@{target.host}:{target.port}/{target.database}"
    out = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "db", "--strategy", "own-connection", "--db-load",
                           "threads,gevent", "--concurrency", "2", "--request-impl", "none", "--duration", "0.2",
                           "--warmup", "0", "--driver", "pymysql,no_such_module_ctxbench:dbapi", "--quiet",
                           "--mysql-url", url, "--json", str(out)], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    warnings = [line for line in proc.stderr.splitlines() if "no_such_module_ctxbench" in line]
    assert len(warnings) == 1 and "not installed" in warnings[0], proc.stderr
    records = json.loads(out.read_text())["records"]
    skipped = [r for r in records if r.get("driver") == "no_such_module_ctxbench:dbapi"]
    assert [r["outcome"] for r in skipped] == ["skipped", "skipped"]
    assert all("not installed" in r["reason"] for r in skipped)
    assert [r["outcome"] for r in records if r.get("driver") == "pymysql"] == ["ok", "ok"]
