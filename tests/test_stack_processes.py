"""The real stack's per-process view: each reply names the server process that answered, the load counts each
process's share, and the shares add up to the totals (a cell of a multi-process server on loopback).

Nothing here compares times: counts, pids and histogram counts only.
"""

from __future__ import annotations

import time
from typing import Any

import psutil
import pytest

from bench.records import latency
from bench.records.schema import check_record, to_json
from bench.webstack.drive import Row, Tally, per_process, pid_of

SHARE_COUNTS = ("requests", "ok", "silent_wrong", "wrong_local")
#: A stack cell's coordinates and timing, as the driver's spec holds them (no warm-up: the window starts at once).
CELL = {"server": "gunicorn-gthread", "workers": 2, "impl": "fast", "strategy": "pooled-tuned", "concurrency": 4,
        "warmup": 0.0}


def _assert_shares_add_up(rec: Any) -> None:
    """Every count of ``per_process`` sums to the record's total; the merged histograms hold every request."""
    shares = rec["per_process"]
    for key in SHARE_COUNTS:
        assert sum(share[key] for share in shares) == rec[key], key
    errors = sum(rec["http_errors"].values()) + sum(rec["client_errors"].values())
    assert sum(share["errors"] for share in shares) == errors
    merged = latency.merge(share[latency.FIELD] for share in shares)
    assert merged["count"] == rec["requests"] == rec[latency.FIELD]["count"]
    # The shares' histograms merged are the record's histogram: the same percentiles exactly.
    summary = latency.field_summary_ms(merged)
    assert {k: summary[k] for k in rec["latency_ms"]} == rec["latency_ms"]
    for share in shares:
        assert share[latency.FIELD]["count"] == share["requests"]
        assert latency.field_summary_ms(share[latency.FIELD])["p50"] == share["latency_ms"]["p50"]


# --- the tally alone (no server)


def test_shares_are_split_by_pid_and_add_up() -> None:
    """A hand-made tally: two pids, a reply without a pid, a client error; each share counts only its own rows."""
    tally = Tally()
    base = time.perf_counter()
    rows = [Row(base, base + 0.001 * (i + 1), "ok", "", "", 200 + i % 2) for i in range(10)]
    rows += [Row(base, base + 0.004, "silent_wrong", "", "", 201), Row(base, base + 0.005, "wrong_local+silent_wrong",
                                                                        "", "", 200),
             Row(base, base + 0.002, "http_errors", "500", "RuntimeError", 201),
             Row(base, base + 0.003, "http_errors", "502", "", None),
             Row(base, base + 5.0, "client_errors", "ConnectionTimeout", "", None)]
    tally.rows = rows
    rec = tally.record({**CELL, "duration": 10.0}, base)
    assert [share["pid"] for share in rec["per_process"]] == [200, 201, None]  # sorted by pid, no pid last
    by_pid = {share["pid"]: share for share in rec["per_process"]}
    assert (by_pid[200]["requests"], by_pid[200]["ok"], by_pid[200]["wrong_local"], by_pid[200]["silent_wrong"]) == (
        6, 5, 1, 1)
    assert (by_pid[201]["requests"], by_pid[201]["silent_wrong"], by_pid[201]["errors"]) == (7, 1, 1)
    assert (by_pid[None]["requests"], by_pid[None]["errors"], by_pid[None]["ok"]) == (2, 2, 0)
    assert by_pid[None]["latency_ms"]["max"] == pytest.approx(5000.0, rel=1e-3)  # the timed-out request's 5 s
    assert rec["requests"] == 15 and rec["app_errors"] == {"RuntimeError": 1}
    _assert_shares_add_up(rec)
    # A request ending outside the window is in no share.
    tally.rows.append(Row(base, base + 11.0, "ok", "", "", 200))
    assert tally.record({**CELL, "duration": 10.0}, base)["per_process"] == rec["per_process"]


def test_a_share_can_fail_the_sum() -> None:
    """The check above is not vacuous: a share that lost a request no longer adds up."""
    base = time.perf_counter()
    rows = [Row(base, base + 0.001, "ok", "", "", pid) for pid in (1, 2, 2)]
    rec = Tally()
    rec.rows = rows
    summary = rec.record({**CELL, "duration": 1.0}, base).replace(
        per_process=per_process(rows[1:], 1.0))  # pid 1's request dropped
    with pytest.raises(AssertionError):
        _assert_shares_add_up(summary)


def test_pid_header_is_read_or_none() -> None:
    assert pid_of({"X-Ctxbench-Pid": "4242"}) == 4242
    assert pid_of({"X-Ctxbench-Pid": "nope"}) is None
    assert pid_of({}) is None and pid_of(None) is None


# --- a real multi-process server


@pytest.mark.db
@pytest.mark.slow
def test_two_gunicorn_workers_each_answer_and_their_shares_add_up(mysql_server: Any) -> None:
    pytest.importorskip("flask")
    pytest.importorskip("locust")
    pytest.importorskip("gunicorn")
    from bench.exec.stackcell import run_stack_cell

    before = {proc.pid for proc in psutil.Process().children(recursive=True)}
    rec, error = run_stack_cell(mysql_server.target, {"server": "gunicorn-gthread", "workers": 2, "impl": "fast",
                                                      "strategy": "pooled-tuned", "concurrency": 16,
                                                      "duration": 1.5, "warmup": 0.3})
    assert error is None and rec["outcome"] == "ok", rec.get("reason")
    assert check_record(rec) is None
    assert rec["processes"] == rec["workers"] == 2
    pids = [share["pid"] for share in rec["per_process"]]
    assert len(pids) == 2 and pids == sorted(pids), pids  # both workers answered, no reply without a pid
    assert set(pids) <= set(rec["server_pids"]) and rec["server_pid"] not in pids  # workers, not the arbiter
    assert all(share["requests"] > 0 for share in rec["per_process"])
    _assert_shares_add_up(rec)
    assert rec["latency_ms"]["p99.9"] is not None and rec["latency_ms"]["mean"] is not None
    assert [pid for pid in rec["server_pids"] if _alive(pid)] == []
    assert [proc.pid for proc in psutil.Process().children(recursive=True) if proc.pid not in before
            and _alive(proc.pid)] == []


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.db
@pytest.mark.slow
def test_a_server_running_fewer_processes_than_declared_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                                   mysql_server: Any) -> None:
    """The wait for every worker can fail: gunicorn started with one worker while the cell declares two."""
    pytest.importorskip("gunicorn")
    from bench.exec.stackcell import run_stack_cell
    from bench.webstack import launch
    from bench.webstack.servers import SERVERS, ServerInfo

    real = SERVERS["gunicorn-gthread"]
    one = ServerInfo("gunicorn-one-worker", "gunicorn gthread, always one worker", real.model_load,
                     lambda port, workers, concurrency: real.argv(port, 1, concurrency), real.software,
                     multi_process=True)
    monkeypatch.setitem(SERVERS, one.name, one)
    monkeypatch.setattr(launch, "WORKERS_TIMEOUT", 2.0)
    rec, error = run_stack_cell(mysql_server.target, {"server": one.name, "workers": 2, "impl": "fast",
                                                      "strategy": "pooled-tuned", "concurrency": 4,
                                                      "duration": 1.0, "warmup": 0.2})
    assert rec["outcome"] == "error" and rec["requests"] is None and rec["per_process"] == []
    assert error is not None and "1 of its 2 worker processes answered" in error and "\n" not in error
    assert rec["server_pids"] and not [pid for pid in rec["server_pids"] if _alive(pid)]


def test_the_per_process_table_shows_multi_process_cells_only() -> None:
    from bench.present.tables import stack_process_rows
    from bench.records.schema import from_json
    from tests.test_stack_model import stack_rec

    base = time.perf_counter()
    tally = Tally()
    tally.rows = [Row(base, base + 0.002, "ok", "", "", pid) for pid in (7, 7, 7, 9)]
    tally.rows.append(Row(base, base + 1.0, "client_errors", "ConnectionTimeout", "", None))
    two = {**to_json(stack_rec("gunicorn-gthread", "threads", "fast", "pooled-tuned")),
           **to_json(tally.record({**CELL, "duration": 2.0}, base)), "workers": 2, "processes": 2}
    one = {**to_json(stack_rec("waitress", "threads", "fast", "pooled-tuned")), "per_process": two["per_process"][:1]}
    header, rows = stack_process_rows([from_json(two), from_json(one)])
    assert [row[header.index("pid")] for row in rows] == ["7", "9", "-"]  # waitress's single share: no rows
    assert [row[header.index("share")] for row in rows] == ["60%", "20%", "20%"]
    assert [row[header.index("errors")] for row in rows] == ["0", "0", "1"]
