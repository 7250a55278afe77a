"""The merge of a several-process cell's records (bench.records.merge): pure, on handmade records."""

from __future__ import annotations

from typing import Any

import pytest

from bench.records import latency
from bench.records.merge import merge_processes
from bench.records.schema import from_json

WINDOW = [100.0, 102.0]


def _child(index: int, pid: int, latencies_s: list[float], **extra: Any) -> Any:
    """A process's record as a cell writes it: counts, its connection ids, its window and its histogram."""
    hist = latency.encode(latency.from_seconds(latencies_s))
    ops = len(latencies_s)
    rec = {"kind": "db", "strategy": "pooled-tuned", "load": "threads", "concurrency": 4, "duration_s": 2.0,
           "process_index": index, "pid": pid, "outcome": "ok", "ops": ops, "ops_total": ops + 3,
           "ops_per_s": ops / 2.0, "error_count": 0, "errors": {}, "error_codes": {}, "wrong_results": 0,
           "wrong_detail": {"foreign": 0, "stale": 0, "other": 0}, "silent_wrong": 0, "local_violations": 0,
           "client_statements": ops + 10, "client_cpu_s": 0.5, "connection_ids": [10 + index, 20 + index],
           "window": list(WINDOW), "start_sync": {"ok": True, "waited_s": 0.01 * (index + 1)},
           latency.FIELD: hist, "latency_ms": latency.field_summary_ms(hist)}
    rec.update(extra)
    return from_json(rec)


def test_totals_are_sums_and_connections_are_distinct() -> None:
    a = _child(0, 501, [0.001] * 50, errors={"InterfaceError": 2}, error_count=2, wrong_results=1, silent_wrong=1,
               wrong_detail={"foreign": 1, "stale": 0, "other": 0}, outcome="errors", connection_ids=[7, 8])
    b = _child(1, 502, [0.002] * 30, errors={"InterfaceError": 1, "timeout": 4}, error_count=5,
               connection_ids=[8, 9])  # id 8 seen by both (a server reuses ids only after a close): counted once
    rec = merge_processes([b, a], processes=2)  # any order in
    assert rec["processes"] == 2 and rec["concurrency"] == 4 and rec["total_concurrency"] == 8
    assert rec["ops"] == 80 and rec["ops_total"] == 86 and rec["ops_per_s"] == 40.0
    assert rec["errors"] == {"InterfaceError": 3, "timeout": 4} and rec["error_count"] == 7
    assert rec["wrong_results"] == 1 and rec["silent_wrong"] == 1 and rec["wrong_detail"]["foreign"] == 1
    assert rec["client_statements"] == 60 + 40 and rec["client_cpu_s"] == 1.0
    assert rec["connections_used"] == 3
    assert rec["outcome"] == "errors"
    assert [p["index"] for p in rec["per_process"]] == [0, 1] and rec["per_process"][1]["pid"] == 502
    assert rec["windows_equal"] is True and rec["window"] == WINDOW
    assert rec["start_sync"] == {"ok": True, "waited_s_max": 0.02}


def test_percentiles_come_from_the_merged_histogram_never_averaged() -> None:
    fast, slow = [0.001] * 90, [0.100] * 10
    rec = merge_processes([_child(0, 1, fast), _child(1, 2, slow)], processes=2)
    assert rec[latency.FIELD]["count"] == 100 == rec["ops"]
    assert rec["latency_ms"]["p50"] == pytest.approx(1.0, rel=0.01)  # averaging the two p50s would give ~50 ms
    assert rec["latency_ms"]["p99"] == pytest.approx(100.0, rel=0.01)
    assert rec["latency_ms"] == {k: v for k, v in latency.field_summary_ms(rec[latency.FIELD]).items() if k != "count"}


def test_a_hung_or_crashed_process_is_named_and_unknown_totals_stay_unknown() -> None:
    ok = _child(0, 601, [0.001] * 10)
    cell = {"kind": "db", "strategy": "pooled-tuned", "load": "threads", "concurrency": 4}
    hung = from_json({**cell, "process_index": 1, "pid": 602, "outcome": "hung", "hung_phase": "workers",
                      "hang_after_s": 5.0, "ops": None})
    crashed = from_json({**cell, "process_index": 2, "pid": 603, "outcome": "errors",
                         "reason": "exited with status 3: no message", "ops": None, "errors": {"process-crashed": 1}})
    rec = merge_processes([ok, hung, crashed], processes=3)
    assert rec["outcome"] == "hung"
    assert "process 1 (pid 602) hung: no progress for 5.0s in phase workers" in rec["reason"]
    assert "process 2 (pid 603) errors: exited with status 3" in rec["reason"]
    assert rec["ops"] is None and rec["ops_per_s"] is None and rec["latency_ms"] is None
    assert rec["connections_used"] is None  # not every process reported its ids
    assert rec["errors"] == {"process-crashed": 1}


def test_different_windows_are_flagged() -> None:
    rec = merge_processes([_child(0, 1, [0.001]), _child(1, 2, [0.001], window=[100.5, 102.5])], processes=2)
    assert rec["windows_equal"] is False


def test_nothing_to_merge_is_an_error() -> None:
    with pytest.raises(ValueError, match="no process records"):
        merge_processes([], processes=2)


def test_scaling_rows_give_efficiency_against_one_process() -> None:
    from bench.present.tables import scaling_rows, workers_text

    one = {"kind": "db", "strategy": "pooled-tuned", "load": "threads", "concurrency": 8, "ops_per_s": 1000.0,
           "client_cpu_s": 1.0, "server_cpu_s": 0.5, "outcome": "ok"}
    two = {**one, "processes": 2, "ops_per_s": 1500.0, "client_cpu_s": 2.0, "ratio_to_ceiling": 0.25}
    four = {**one, "processes": 4, "ops_per_s": 4000.0, "server_cpu_s": None}
    alone = {**one, "strategy": "locked"}  # measured at one P only: no scaling row
    header, rows = scaling_rows([from_json(r) for r in (four, alone, one, two)])
    assert header[:6] == ["cell", "load", "workers per process", "processes", "ops/s", "efficiency"]
    assert [(r[3], r[5], r[6], r[7]) for r in rows] == [("1", "100%", "1.00", "0.50"), ("2", "75%", "2.00", "0.50"),
                                                      ("4", "100%", "1.00", "-")]
    assert [r[8] for r in rows] == ["-", "25%", "-"]
    assert workers_text(from_json(two)) == "2x8" and workers_text(from_json(one)) == "8"


def test_scaling_script_refuses_bad_input_in_one_line() -> None:
    import subprocess
    import sys

    from bench.records.environment import PROJECT_ROOT

    proc = subprocess.run([sys.executable, "benchmarks/scaling.py", "--processes", "0"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "0 is out of range" in proc.stderr.strip().splitlines()[-1]
    help_text = subprocess.run([sys.executable, "benchmarks/scaling.py", "--help"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=60).stdout
    assert "--processes" in help_text and "efficiency" in help_text


def test_charts_and_findings_read_one_record_per_cell() -> None:
    """A cell also run as two processes is compared across P in the scaling table; elsewhere its one-process
    record stands for it, and a cell run only as two processes still appears."""
    from bench.present.common import one_per_cell

    one = {"kind": "db", "strategy": "pooled", "load": "threads", "concurrency": 4, "outcome": "ok"}
    two = {**one, "processes": 2}
    only_two = {**two, "strategy": "locked"}
    stack = {"kind": "stack", "server": "waitress", "workers": 1, "impl": "fast", "strategy": "pooled",
             "concurrency": 4, "outcome": "ok"}
    assert one_per_cell([from_json(r) for r in (two, one, only_two, stack)]) == [
        from_json(r) for r in (one, only_two, stack)]


def test_the_report_shows_the_scaling_table() -> None:
    from bench.present.report import sections

    one = {"kind": "db", "strategy": "pooled-tuned", "load": "threads", "concurrency": 8, "ops_per_s": 1000.0,
           "outcome": "ok"}
    two = {**one, "processes": 2, "ops_per_s": 1800.0}
    titles = [title for title, _header, _rows in sections([from_json(one), from_json(two)])]
    assert any(title.startswith("Scaling over processes") for title in titles)
    assert not any(t.startswith("Scaling") for t, _h, _r in sections([from_json(one)]))  # one P: nothing to compare
