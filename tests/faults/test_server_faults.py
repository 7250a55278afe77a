"""``ctxbench faults`` against private servers: kill -9 and clean restart mid-cell, max_connections, a hang, a leak.

Expected outcomes are what we measured (README "Faults"): after the server is
back, the DBUtils pools, SQLAlchemy's QueuePool and a connection per request
recover on their own; a bare connection -- one per worker, or one shared behind a
lock -- never does.  At twice max_connections every pooled strategy counts
``server:1040`` errors, no cell crashes, and the server holds no more
connections after a cell than before it.  A deliberately leaky strategy is
reported.  No assertion is about speed beyond generous upper bounds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psutil
import pymysql
import pytest

import bench.server as mysql
from tests import fault_helpers
from tests.fault_strategies import LEAK_MARK

RECOVERS = ("pooled", "pooled-tuned", "persistent", "sqlalchemy-queuepool", "per-request",
            # the network variants (in the fault defaults): each recovers, own-connection-timeout by its ping habit
            "pooled-timeout", "per-request-timeout", "own-connection-timeout", "sqlalchemy-pre-ping",
            "sqlalchemy-recycle")
STAYS_DOWN = ("own-connection", "locked")
LEAKY = "tests.fault_strategies:leaky"


def _faults(tmp_path: Path, *args: str, timeout: float) -> tuple[int, dict[str, Any], fault_helpers.Watched]:
    out = tmp_path / "faults.json"
    watched = fault_helpers.start(["faults", "--quiet", "--json", str(out), *args])
    code = watched.finish(timeout=timeout)
    assert out.exists(), watched.stderr
    return code, json.loads(out.read_text()), watched


def _check_server_fault(rec: dict[str, Any]) -> None:
    where = (f"{rec['scenario']} {rec['strategy']} {rec['load']}: "
             f"{json.dumps({k: v for k, v in rec.items() if k != 'cell'})}")
    assert rec["kind"] == "fault" and rec["problem"] is None, where
    assert "fault_not_injected" not in rec, where
    assert rec["errors_before_fault"] == 0 and rec["wrong_results"] == 0, where
    assert rec["error_count"] > 0 and rec["error_samples"], where  # errors, counted by class, with a sample of each
    assert rec["time_to_first_error_s"] is not None and 0 <= rec["time_to_first_error_s"] < 3, where
    # A slow restart can leave too little window to see the recovery; the cell is then run once more.
    assert rec["attempts"] in (1, 2) and rec["observed_after_restart_s"] >= 1.0, where
    assert rec["downtime_s"] >= rec["down_s"], where
    if rec["strategy"] in RECOVERS:
        assert rec["recovered"] is True and rec["recovery_s"] is not None and rec["recovery_s"] < 2.0, where
        assert rec["ops_per_s_after"] > 0, where
    else:
        assert rec["recovered"] is False and rec["ops_per_s_after"] == 0, where
        assert rec["errors_after_restart"] > 0, where


@pytest.mark.timeout(1500)
def test_kill_and_restart_every_strategy_under_threads(tmp_path: Path) -> None:
    code, doc, watched = _faults(tmp_path, "--scenario", "kill,restart", timeout=1400)  # 24 cells
    assert code == 0, watched.stderr
    records = {(r["scenario"], r["strategy"]): r for r in doc["records"]}
    assert set(records) == {(s, name) for s in ("kill", "restart") for name in RECOVERS + STAYS_DOWN}
    for rec in records.values():
        _check_server_fault(rec)
    # A crash and a clean shutdown look different to a client in flight.
    assert any("2013" in text for text in records["kill", "own-connection"]["error_samples"].values())
    assert doc["environment"]["server"]["ephemeral"] is True
    assert watched.left_alive() == []  # the private server and every cell are gone


@pytest.mark.timeout(600)
def test_kill_under_gevent(tmp_path: Path) -> None:
    code, doc, watched = _faults(tmp_path, "--scenario", "kill", "--db-load", "gevent", "--strategy",
                                 "pooled-tuned,sqlalchemy-queuepool,own-connection", timeout=500)
    assert code == 0, watched.stderr
    assert [r["strategy"] for r in doc["records"]] == ["pooled-tuned", "sqlalchemy-queuepool", "own-connection"]
    for rec in doc["records"]:
        assert rec["load"] == "gevent"
        _check_server_fault(rec)
    assert watched.left_alive() == []


def test_a_killed_private_server_restarts_on_its_port_with_its_data_and_password(tmp_path: Path) -> None:
    handle = mysql.start_private_server()
    try:
        target = handle.target
        conn = pymysql.connect(**target.connect_kwargs(), autocommit=True)
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE ctxbench_fault_probe (v VARCHAR(20)) ENGINE=InnoDB")
            cur.execute("INSERT INTO ctxbench_fault_probe VALUES ('survives')")
        first_pid = handle.pid
        handle.kill()
        assert not handle.running
        with pytest.raises(pymysql.err.OperationalError):
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        seconds = handle.restart()
        assert handle.running and handle.pid != first_pid and seconds < 30
        assert handle.target.port == target.port
        again = pymysql.connect(**target.connect_kwargs())  # the generated password still logs in
        with again.cursor() as cur:
            cur.execute("SELECT v FROM ctxbench_fault_probe")
            assert cur.fetchall() == (("survives",),)  # committed data survived the crash
        again.close()
        with pytest.raises(pymysql.err.OperationalError) as denied:
            pymysql.connect(**{**target.connect_kwargs(), "password": ""})
        assert denied.value.args[0] == 1045
        listening = {c.laddr for c in psutil.Process(handle.pid).net_connections("inet")
                     if c.status == psutil.CONN_LISTEN}
        assert listening and {addr.ip for addr in listening} == {"127.0.0.1"}
        handle.terminate()  # a clean shutdown, then the same restart
        assert not handle.running
        handle.restart()
        assert handle.running
    finally:
        tempdir = handle.tempdir
        handle.close()
    assert tempdir is not None and not tempdir.exists()


def _end_leak_holders() -> None:
    for proc in psutil.process_iter(["cmdline"]):
        if LEAK_MARK in (proc.info.get("cmdline") or []):
            try:
                proc.kill()
            except psutil.Error:
                pass


@pytest.mark.timeout(600)
def test_max_connections_a_hang_and_a_leak(tmp_path: Path) -> None:
    strategies = ",".join([*RECOVERS, *STAYS_DOWN, LEAKY])
    try:
        code, doc, watched = _faults(tmp_path, "--scenario", "max-connections,hang", "--strategy", strategies,
                                     timeout=500)
    finally:
        time.sleep(0.1)
        _end_leak_holders()
    assert code == 0, watched.stderr
    by = {(r["scenario"], r["strategy"]): r for r in doc["records"]}
    for name in (*RECOVERS, *STAYS_DOWN):
        rec = by["max-connections", name]
        where = json.dumps({k: v for k, v in rec.items() if k != "cell"})
        assert rec["concurrency"] == 40 and rec["max_connections"] == 20, where
        assert rec["crashed"] is False and rec["problem"] is None and rec["wrong_results"] == 0, where
        assert rec["threads_connected_after"] == rec["threads_connected_before"], where  # nothing left behind
        assert rec["leaked_connections"] == 0 and rec["open_after_close"] == 0, where
        if name == "locked":  # one connection: never near the limit
            assert rec["outcome"] == "ok" and rec["errors"] == {}, where
        else:
            assert rec["errors_1040"] > 0 and rec["outcome"] == "errors", where
            assert set(rec["errors"]) == {"server:1040"}, where
    leak = by["max-connections", LEAKY]
    assert leak["leaked_connections"] >= 1 and leak["open_after_close"] >= 1, leak
    assert f"{LEAKY} threads c=40: the server still held" in watched.stderr
    assert "left" in watched.stderr and "connection(s) open" in watched.stderr
    hang = by["hang", "bench.faults.fixtures:blocking_pool"]
    assert hang["outcome"] == "hung" and hang["ended_by"] == "watchdog" and hang["hung_phase"] == "workers", hang
    assert hang["cell_processes_left"] == [] and hang["next_cell"]["outcome"] == "ok", hang
    assert hang["cell_wall_s"] < hang["hang_after_s"] + 10
    assert watched.left_alive() == []
