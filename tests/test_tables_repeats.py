"""The tables over repeated cells: median (range, n), exact shares, correct replies only, outcomes in words."""

from __future__ import annotations

from typing import Any

from bench.present.spread import cells, outcome_name
from bench.present.tables import ceiling_rows, db_rows, request_rows, stack_rows
from bench.records.schema import from_json


def _db(ops_per_s: float, repeat: int, **kw: Any) -> Any:
    return from_json({"kind": "db", "strategy": "pooled-tuned", "load": "threads", "concurrency": 16, "outcome": "ok",
                      "ops_per_s": ops_per_s, "ops_total": 10_000, "error_count": 0, "errors": {}, "wrong_results": 0,
                      "silent_wrong": 0, "latency_ms": {"p50": 1.0 + repeat, "p99": 4.0, "p99.9": 9.0},
                      "repeat": repeat, "ratio_to_ceiling": ops_per_s / 50_000,
                      "ceiling_samples": [48_000.0, 93_000.0, 61_000.0], **kw})


def _stack(repeat: int, **kw: Any) -> Any:
    rec = {"kind": "stack", "server": "uvicorn", "workers": 1, "impl": "fast", "strategy": "global",
           "concurrency": 16, "duration_s": 1.0, "outcome": "ok", "requests": 1000, "ok": 1000, "wrong_local": 0,
           "silent_wrong": 0, "http_errors": {}, "client_errors": {}, "ops_per_s": 1000.0, "repeat": repeat,
           "latency_ms": {"p50": 1.0, "p99": 2.0, "p99.9": 3.0}}
    return from_json({**rec, **kw})


def test_a_db_row_shows_median_range_and_n_and_the_ceilings_range() -> None:
    header, rows = db_rows([_db(16_022.0, 1), _db(6_452.0, 0), _db(9_100.0, 2)])
    (row,) = rows
    assert row[header.index("correct ops/s")] == "9,100 (6,452-16,022, n=3)"
    assert row[header.index("p50 ms")] == "2 (1-3, n=3)"
    assert row[header.index("silent wrong")] == "0 of 30,000" and row[header.index("errors")] == "0 of 30,000"
    assert row[header.index("outcome")] == "ok"
    assert row[header.index("of ceiling")] == "18% (13%-32%, n=3)"
    assert row[header.index("ceiling (mysqlslap)")] == "93,000 (best of 3: 48,000-93,000)"
    assert db_rows([_db(5_000.0, 0)])[1][0][header.index("correct ops/s")] == "5,000 (n=1)"


def test_counts_are_exact_shares_over_the_repeats_and_a_failing_cell_shows_no_speed() -> None:
    bad = [_db(100.0, r, outcome="errors", silent_wrong=3 * r, wrong_results=3 * r, error_count=1,
               errors={"InterfaceError": 1}) for r in range(3)]
    header, (row,) = db_rows(bad)
    assert row[header.index("silent wrong")] == "9 of 30,000 (0.03%)"
    assert row[header.index("errors")] == "3 of 30,000 (0.01%): InterfaceError 3"
    assert row[header.index("outcome")] == "silent wrong in 2 of 3, errors"
    assert row[header.index("correct ops/s")] == "failed: silent wrong in 2 of 3, errors"
    assert row[header.index("of ceiling")] == "-"
    # Errors of the connect phase can outnumber the loop's operations: every one tried failed, never "over 100%".
    header, (row,) = db_rows([_db(0.0, 0, outcome="errors", ops_total=100, error_count=104, errors={"E": 104})])
    assert row[header.index("errors")] == "104 of 104: E 104"


def test_stack_throughput_counts_correct_replies_only() -> None:
    wrong = [_stack(r, outcome="errors", ok=0, silent_wrong=1000, ops_per_s=4700.0) for r in range(3)]
    right = [_stack(r, strategy="aiomysql-pool", ok=900 + 50 * r, requests=900 + 50 * r, ops_per_s=3900.0)
             for r in range(3)]
    header, rows = stack_rows(wrong + right)
    by_strategy = {row[header.index("strategy")]: row for row in rows}
    failed, safe = by_strategy["global"], by_strategy["aiomysql-pool"]
    assert failed[header.index("correct req/s")] == "failed: silent wrong"  # not 4,700 replies a second
    assert failed[header.index("silent wrong")] == "3,000 of 3,000"
    assert failed[header.index("HTTP errors")] == "0 of 3,000"
    assert failed[header.index("outcome")] == "silent wrong"  # no error anywhere: the reply was wrong
    assert safe[header.index("correct req/s")] == "950 (900-1,000, n=3)"
    assert safe[header.index("requests")] == "2,850"


def test_outcome_names_say_what_happened() -> None:
    def name(*records: Any) -> str:
        (cell,) = cells(records)
        return outcome_name(cell)

    assert name(_stack(0)) == "ok"
    assert name(_stack(0, outcome="errors", http_errors={"500": 3})) == "errors"
    assert name(_stack(0, outcome="errors", wrong_local=5)) == "wrong Local"
    assert name(_stack(0, outcome="errors", client_errors={"ReadTimeout": 1}, silent_wrong=2)) == "silent wrong, errors"
    assert name(_stack(0, outcome="hung"), _stack(1)) == "hung in 1 of 2"
    assert name(_stack(0, outcome="skipped", requests=None, ok=None)) == "skipped"
    assert name(_stack(0, outcome="error", requests=None, ok=None)) == "failed to run"
    req = from_json({"kind": "request", "impl": "threading-local", "strategy": "pooled-tuned",
                     "load": "gevent-nothread", "concurrency": 16, "outcome": "errors", "ops_total": 1000,
                     "local_violations": 950, "wrong_results": 0, "errors": {}, "ops_per_s": 800.0})
    header, (row,) = request_rows([req])
    assert row[header.index("outcome")] == "wrong Local"
    assert row[header.index("local violations")] == "950 of 1,000 (95.0%)"
    assert row[header.index("correct ops/s")] == "failed: wrong Local"


def test_the_ceiling_table_keeps_every_mysqlslap_run() -> None:
    rec = from_json({"kind": "ceiling", "concurrency": 16, "outcome": "ok", "query": "SELECT 1",
                     "samples": [48_000.0, 93_000.0, 61_000.0], "ops_per_s": 93_000.0})
    header, rows = ceiling_rows([rec])
    assert header[:2] == ["concurrency", "queries/s (best, range)"]
    assert rows == [["16", "93,000 (best of 3: 48,000-93,000)", "48,000, 93,000, 61,000", "SELECT 1", "ok"]]
