"""``--processes``: one cell as several load processes with one common start, merged into one record.

Against a real server on loopback: the merged totals are the sums of the processes' own figures, every process
measured the same window, the server's statements reconcile with the sum of the processes' client statements,
the server saw every process's pool at once, and no process is left running.  A process that crashes, hangs or
is never ready ends the cell with a record naming it.  No assertion is about time.
"""

from __future__ import annotations

from typing import Any

import psutil
import pytest

from bench.exec import dbcell, dbcell_group
from bench.exec.db import run_db
from bench.plan.cells import Cell, Timing
from bench.plan.matrix import db_cell_timeout
from bench.plan.selection import DbSelection
from bench.records.schema import check_record, to_json
from bench.server import ServerTarget

pytestmark = pytest.mark.db

#: Short cells (and no ceiling: ``run_db(..., ceiling=False)``).
SHORT = {"duration": 0.5, "warmup": 0.2}
POOL = 4  # workers per process = pool size per process (pools are sized to the concurrency)
TOTALS = ("ops", "error_count", "wrong_results", "silent_wrong", "client_statements", "local_violations")


@pytest.fixture(scope="module")
def target(mysql_server: Any) -> ServerTarget:
    return mysql_server.target  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def merged(target: ServerTarget) -> dict[str, dict[str, Any]]:
    """``pooled-tuned`` at 4 workers x 2 processes under threads and under gevent, one record each."""
    records, errors = run_db(target, DbSelection(strategies=["pooled-tuned"], loads=["threads", "gevent"],
                                                 concurrency=[POOL], processes=[2], **SHORT), ceiling=False)
    assert errors == []
    return {r["load"]: r for r in records}


def _gone(pids: list[int]) -> bool:
    return not any(psutil.pid_exists(pid) for pid in pids)


@pytest.mark.parametrize("load", ["threads", "gevent"])
def test_one_record_whose_totals_are_the_sums_of_its_processes(merged: dict[str, dict[str, Any]], load: str) -> None:
    rec = merged[load]
    assert rec["kind"] == "db" and rec["outcome"] == "ok", rec.get("reason")
    assert rec["processes"] == 2 and rec["concurrency"] == POOL and rec["total_concurrency"] == 2 * POOL
    per = rec["per_process"]
    assert [p["index"] for p in per] == [0, 1] and len({p["pid"] for p in per}) == 2
    for name in TOTALS:
        assert rec[name] == sum(p[name] for p in per), name
    assert all(p["ops"] > 0 for p in per)
    assert rec["ops_per_s"] == pytest.approx(sum(p["ops_per_s"] for p in per))
    # The histogram is the merge of the processes': it holds every timed operation of both.
    assert rec["latency_hist"]["count"] == sum(p["latency_count"] for p in per) == rec["ops"]
    assert rec["client_cpu_s"] == pytest.approx(sum(p["cpu_s"] for p in per))
    # Each process has its own pool of POOL connections: distinct server ids over both.
    assert rec["connections_used"] == 2 * POOL


@pytest.mark.parametrize("load", ["threads", "gevent"])
def test_every_process_measured_the_same_window(merged: dict[str, dict[str, Any]], load: str) -> None:
    rec = merged[load]
    windows = [tuple(p["window"]) for p in rec["per_process"]]
    assert len(set(windows)) == 1 and rec["windows_equal"] is True
    start, end = windows[0]
    assert end - start == pytest.approx(SHORT["duration"])
    assert rec["start_sync"]["ok"] is True


@pytest.mark.parametrize("load", ["threads", "gevent"])
def test_the_server_reconciles_with_every_process_and_saw_every_pool(merged: dict[str, dict[str, Any]],
                                                                     load: str) -> None:
    rec = merged[load]
    # pooled-tuned adds nothing per operation (no ping, no reset): the server executed what the processes sent,
    # plus a statement or two per connection.  Counting one process's statements would leave ~half unexplained.
    assert rec["statement_surplus"] >= 0
    assert rec["surplus_per_op"] < 0.05, rec["statement_surplus"]
    assert rec["server"]["threads_connected"]["added_at_peak"] >= 2 * POOL
    assert rec["server"]["max_used_connections"]["after"] >= 2 * POOL
    assert rec["leaked_connections"] == 0
    assert _gone([p["pid"] for p in rec["per_process"]])


def test_statements_one_process_hides_show_in_the_reconciliation(target: ServerTarget) -> None:
    """The check above catches a planted failure: process 1 sends a SELECT 1 per operation behind the workload."""
    records, errors = run_db(target, DbSelection(strategies=["tests.broken_strategies:HiddenQueryInSecondProcess"],
                                                 loads=["threads"], concurrency=[2], processes=[2], **SHORT),
                             ceiling=False)
    assert errors == []
    (rec,) = records
    hidden_ops = rec["per_process"][1]["ops"]
    assert rec["outcome"] == "ok" and hidden_ops > 0
    assert rec["statement_surplus"] >= hidden_ops  # at least one hidden statement per operation of process 1
    assert rec["surplus_per_op"] >= 0.05  # the bound the sound cells meet is broken


def test_server_cpu_is_read_when_the_server_is_on_this_machine(merged: dict[str, dict[str, Any]],
                                                               target: ServerTarget) -> None:
    rec = merged["threads"]
    if rec["server_pid"] is None:
        pytest.skip(f"no visible process listens on port {target.port}")
    assert rec["server_cpu_s"] > 0  # the server answered thousands of queries in the window


def test_request_scenario_over_two_processes(target: ServerTarget) -> None:
    """threading.local under gevent-nothread is shared by every greenlet: each process leaks, the sum is kept."""
    selection = DbSelection(strategies=["pooled-tuned"], loads=["gevent-nothread"], concurrency=[1],
                            request_impls=["threading-local"], request_concurrency=POOL, processes=[2], **SHORT)
    records, errors = run_db(target, selection, ceiling=False)
    assert errors == []
    (rec,) = [r for r in records if r["kind"] == "request"]
    assert rec["impl"] == "threading-local" and rec["processes"] == 2
    per = rec["per_process"]
    assert rec["local_violations"] == sum(p["local_violations"] for p in per)
    assert all(p["local_violations"] > 0 for p in per)
    assert rec["ops"] == sum(p["ops"] for p in per)
    assert _gone([p["pid"] for p in per])


def _run_many(target: ServerTarget, strategy: str, monkeypatch: pytest.MonkeyPatch, *, ready_timeout: float = 60.0,
              hang_after: float = 1.0) -> dict[str, Any]:
    cell = Cell("db", strategy, "threads", 2, None, 2)
    task = dbcell.cell_task(target, cell, Timing(0.5, 0.1, hang_after))
    monkeypatch.setattr(dbcell_group, "PROCESS_READY_WAIT", ready_timeout)
    rec, problem = dbcell_group.run_many(target, cell, task, limit=db_cell_timeout(0.5, 0.1, hang_after, 2))
    assert problem is not None and rec.reason in problem
    assert check_record(to_json(rec)) is None and rec.total_concurrency == 4
    return rec


@pytest.mark.parametrize(("strategy", "outcome", "words"), [
    ("tests.broken_strategies:crashes_in_second_process", "errors", "status 3"),
    ("tests.broken_strategies:HangsInSecondProcess", "hung", "no progress for 1.0s"),
])
def test_a_process_that_fails_ends_the_cell_with_a_record_naming_it(target: ServerTarget, strategy: str,
                                                                    outcome: str, words: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    rec = _run_many(target, strategy, monkeypatch)
    pids = [p["pid"] for p in rec["per_process"]]
    assert rec["outcome"] == outcome
    assert f"process 1 (pid {pids[1]})" in rec["reason"] and words in rec["reason"], rec["reason"]
    assert _gone(pids)


def test_a_process_hanging_in_the_window_is_named_and_the_others_still_count(target: ServerTarget) -> None:
    cell = Cell("db", "tests.broken_strategies:HangsLaterInSecondProcess", "threads", 2, None, 2)
    task = dbcell.cell_task(target, cell, Timing(0.5, 0.1, 1.0))
    rec, problem = dbcell_group.run_many(target, cell, task, limit=db_cell_timeout(0.5, 0.1, 1.0, 2))
    assert problem is None  # its own watchdog ended it: the cell's result, as for one process
    pids = [p["pid"] for p in rec["per_process"]]
    assert rec["outcome"] == "hung" and rec["start_sync"]["ok"] is True
    assert f"process 1 (pid {pids[1]}) hung: no progress for 1.0s in phase workers" in rec["reason"], rec["reason"]
    assert rec["per_process"][0]["outcome"] == "ok" and rec["per_process"][0]["ops"] > 0
    assert _gone(pids)


def test_a_process_never_ready_ends_the_cell_within_the_bound(target: ServerTarget,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    rec = _run_many(target, "tests.broken_strategies:slow_to_build_in_second_process", monkeypatch, ready_timeout=3.0,
                    hang_after=5.0)
    pids = [p["pid"] for p in rec["per_process"]]
    assert rec["outcome"] == "hung"
    assert f"process 1 (pid {pids[1]}) not ready within 3s" in rec["reason"], rec["reason"]
    assert _gone(pids)


def test_a_refused_login_is_one_record_without_the_password(target: ServerTarget) -> None:
    import dataclasses
    import json

    secret = "Vb4-distinctive-procs-Pw"
    wrong = dataclasses.replace(target, password=secret)
    records, errors = run_db(wrong, DbSelection(strategies=["pooled-tuned"], loads=["threads"], concurrency=[2],
                                                processes=[2], **SHORT), ceiling=False)
    assert secret not in json.dumps([records, errors], default=to_json)
    (rec,) = records
    assert rec["outcome"] == "errors" and rec["processes"] == 2 and "Access denied" in rec["reason"]
    assert len(errors) == 1 and "setup failed" in errors[0]


def test_one_process_is_the_cell_as_before(target: ServerTarget) -> None:
    """P = 1 runs no rendezvous and reads the server itself; its record has no group fields."""
    records, errors = run_db(target, DbSelection(strategies=["pooled-tuned"], loads=["threads"], concurrency=[2],
                                                 **SHORT), ceiling=False)
    assert errors == []
    (rec,) = records
    assert rec["outcome"] == "ok" and "processes" not in rec and "per_process" not in rec
    assert "start_sync" not in rec and rec["server"]["deltas"]["Questions"] > 0
    assert "pid" not in rec and "connection_ids" not in rec and "window" not in rec
