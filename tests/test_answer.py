"""What to use: an unsafe Local or strategy is never listed as safe nor chosen as the fastest, even when it is the
fastest; answer.json has its shape; a caveat appears only where the records show it; counts are exact."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, cast

import pytest

from bench.present import answer as answers
from bench.present.footnotes import notes
from bench.present.verdicts import IN_PROCESS, MODEL, STACK
from bench.records.io import atomic_write_json, results_document
from bench.records.kinds import DbRecord, MicroRecord, ProbeRecord, Record, RequestRecord
from bench.records.schema import from_json
from tests.test_stack_model import stack_rec


def db(strategy: str, load: str, c: int, rate: float, **fields: Any) -> DbRecord:
    rec = {"kind": "db", "strategy": strategy, "load": load, "concurrency": c, "outcome": "ok", "ops_per_s": rate,
           "ops_total": int(rate * 2), "wrong_results": 0, "silent_wrong": 0, "errors": {}, "duration_s": 2.0,
           "warmup_s": 0.5, "latency_ms": {"p50": 0.5, "p99": 2.0}, "connections_used": c,
           "client_cpu_us_per_op": 60.0, **fields}
    return cast(DbRecord, from_json(rec))


def probe(impl: str, load: str, violations: int = 0, name: str = "isolation") -> ProbeRecord:
    return cast(ProbeRecord, from_json({"kind": "probe", "impl": impl, "load": load, "probe": name, "outcome": "ok",
                                        "workers": 8, "violations": violations, "checks": 40}))


def request(impl: str, strategy: str, load: str, rate: float, **fields: Any) -> RequestRecord:
    rec = {"kind": "request", "impl": impl, "strategy": strategy, "load": load, "concurrency": 16, "outcome": "ok",
           "ops_per_s": rate, "ops_total": int(rate * 2), "wrong_results": 0, "silent_wrong": 0,
           "local_violations": 0, "errors": {}, **fields}
    return cast(RequestRecord, from_json(rec))


def micro(impl: str, ns: float) -> MicroRecord:
    return cast(MicroRecord, from_json({"kind": "micro", "impl": impl, "op": "get", "ns_median": ns}))


def planted() -> list[Record]:
    """Under threads and gevent: the fastest strategy of each is unsafe (silent wrong, errors, a leaking Local's
    request cells); the fastest Local read is a Local that leaks.  On the stack, the fastest cell is silent wrong."""
    recs: list[Record] = []
    for load in ("threads", "gevent"):
        recs += [probe("fast", load), probe("leaky", load, violations=3), probe("stale", load),
                 probe("stale", load, violations=2, name="stale-reuse")]
        recs += [db("pooled-tuned", load, 16, 9000.0), db("locked", load, 16, 5000.0),
                 db("liar", load, 16, 90_000.0, silent_wrong=3, wrong_results=3),  # the fastest: silent wrong
                 db("loud", load, 16, 80_000.0, outcome="errors", errors={"InterfaceError": 7}),
                 db("liar-later", load, 4, 70_000.0), db("liar-later", load, 16, 60_000.0, silent_wrong=1)]
    recs += [request("leaky", "pooled-tuned", "threads", 99_000.0, local_violations=5), micro("leaky", 1.0),
             micro("fast", 50.0), micro("stale", 2.0)]
    recs += [stack_rec("gunicorn-gevent", "gevent", "fast", "liar", silent=900),  # 100 ok replies, fastest? no
             stack_rec("gunicorn-gevent", "gevent", "fast", "pooled-tuned"),
             stack_rec("gunicorn-gevent", "gevent", "leaky", "pooled-tuned", requests=5000, local=2)]
    return recs


UNSAFE_STRATEGIES = {"liar", "loud", "liar-later"}
UNSAFE_LOCALS = {"leaky", "stale"}


def test_an_unsafe_choice_is_never_safe_nor_the_fastest() -> None:
    ans = answers.answer(planted())
    assert [row.shape.name for row in ans.rows] == ["gunicorn-gevent", "threads", "gevent"]
    for row in ans.rows:
        assert not {v.name for v in row.safe_strategies()} & UNSAFE_STRATEGIES, row.shape
        assert not {v.name for v in row.safe_locals()} & UNSAFE_LOCALS, row.shape
        if not row.shape.server:
            assert {v.name for v in row.strategies if not v.safe} == UNSAFE_STRATEGIES
        assert row.choice is not None
        assert row.choice.strategy not in UNSAFE_STRATEGIES and row.choice.local not in UNSAFE_LOCALS
    threads = ans.rows[1]
    assert (threads.choice.strategy, threads.choice.local) == ("pooled-tuned", "fast")  # type: ignore[union-attr]
    assert threads.choice.throughput.text() == "9,000 (n=1)"  # type: ignore[union-attr]
    failed = {v.name: v.failed for v in threads.strategies if not v.safe}
    assert failed["liar"] == "silent wrong: 3 of 180,000 (0.0017%)"
    assert failed["loud"].startswith("errors: 7 of 160,000")
    assert failed["liar-later"] == "silent wrong: 1 of 260,000 (0.00038%)"
    leaky = {v.name: v for v in threads.locals}["leaky"]
    assert not leaky.safe and leaky.source == IN_PROCESS and "isolation: 3 of 40 (7.5%)" in leaky.failed
    assert "local violations" in leaky.failed
    stale = {v.name: v for v in threads.locals}["stale"]
    assert stale.failed == "stale-reuse: 2 of 40 (5.0%)"
    server = ans.rows[0]
    assert server.choice is not None and (server.choice.local, server.choice.strategy) == ("fast", "pooled-tuned")
    assert server.choice.source == STACK and server.choice.cost_from  # connections and CPU from the model's db cell
    by_name = {v.name: v for v in server.strategies}
    assert by_name["liar"].source == STACK and by_name["liar"].failed == "silent wrong: 900 of 1,000 (90.0%) replies"
    assert by_name["locked"].safe and by_name["locked"].source == MODEL
    local = {v.name: v for v in server.locals}["leaky"]
    assert local.source == STACK and local.failed == "wrong Local: 2 of 5,000 (0.04%) replies"


def test_the_table_marks_predictions_and_shows_what_failed() -> None:
    ans = answers.answer(planted())
    header, rows = answers.table(ans)
    assert header[:4] == ["where", "safe Locals", "safe strategies", "fastest safe choice"]
    server = rows[0]
    assert server[:2] == ["gunicorn-gevent", "fast"]  # leaky leaked on the stack; stale fails stale-reuse (model)
    assert server[2].startswith("pooled-tuned, locked†")
    assert "liar" not in " ".join(" ".join(r[1:4]) for r in rows)
    _header, failures = answers.failure_table(ans)
    assert ["threads (in-process)", "strategy liar", "silent wrong: 3 of 180,000 (0.0017%)", IN_PROCESS] in failures


def test_answer_json_shape(tmp_path: Path) -> None:
    from bench.present.report import write_answer

    path = write_answer({"run_id": "20260101-120000", "commit": "abc"}, planted(), tmp_path / "answer.json")
    doc = json.loads(path.read_text())
    assert set(doc) == {"schema", "run_id", "commit", "sources", "rows", "notes", "model_check"}
    assert doc["schema"] == 1 and doc["run_id"] == "20260101-120000"
    assert set(doc["sources"]) == {STACK, MODEL, IN_PROCESS}
    row = doc["rows"][1]
    assert set(row) == {"shape", "kind", "model_load", "description", "safe_locals", "safe_strategies",
                        "unsafe_locals", "unsafe_strategies", "fastest_safe", "notes"}
    assert row["kind"] == "in-process" and doc["rows"][0]["kind"] == "server"
    assert {"name", "safe", "source"} <= set(row["safe_locals"][0])
    assert all(v["safe"] for v in row["safe_strategies"]) and not any(v["safe"] for v in row["unsafe_strategies"])
    assert all("failed" in v for v in row["unsafe_strategies"])
    fastest = row["fastest_safe"]
    assert fastest["strategy"] == "pooled-tuned" and fastest["measured_by"] == IN_PROCESS
    assert fastest["correct_replies_per_s"] == {"median": 9000.0, "low": 9000.0, "high": 9000.0, "n": 1}
    assert fastest["connections_source"] == answers.USED and fastest["client_cpu_us_per_op"]["median"] == 60.0
    assert doc["model_check"] == {"agree": 3, "compared": 3}


def test_repeats_give_a_median_range_and_n() -> None:
    recs = [probe("fast", "threads")] + [db("pooled-tuned", "threads", 16, rate).replace(repeat=i)
                                          for i, rate in enumerate((9000.0, 8000.0, 9500.0))]
    [row] = answers.answer(recs).rows
    assert row.choice is not None and row.choice.throughput.text() == "9,000 (8,000-9,500, n=3)"


def test_a_repeat_that_failed_makes_the_strategy_unsafe() -> None:
    recs = [probe("fast", "threads"), db("pooled-tuned", "threads", 16, 9000.0).replace(repeat=0),
            db("pooled-tuned", "threads", 16, 9000.0, silent_wrong=1).replace(repeat=1),
            db("locked", "threads", 16, 100.0)]
    [row] = answers.answer(recs).rows
    assert [v.name for v in row.safe_strategies()] == ["locked"]
    assert row.choice is not None and row.choice.strategy == "locked"


def test_caveats_appear_only_where_the_records_show_them() -> None:
    clean = [probe("fast", "gevent"), db("pooled-tuned", "gevent", 16, 9000.0)]
    assert notes(clean) == []
    tls = db("per-request", "gevent", 4, 40.0, connections_used=90, ops_total=80, client_cpu_us_per_op=25_000.0,
             latency_ms={"p50": 90.0, "p99": 150.0})
    lock = db("locked", "gevent", 64, 7600.0, latency_ms={"p50": 0.11, "p99": 0.8})
    pool = db("asyncmy-pool", "asyncio", 16, 14_000.0, connections_used=718, ops_total=35_000)
    slow = [stack_rec("gevent-pywsgi", "gevent", "fast", "pooled-tuned").replace(latency_ms={"p50": 44.0, "p99": 52.0})]
    found = notes([*clean, tls, lock, pool, *slow], {"packages": {"pymysql": "1.2.4"}})
    assert [n.key for n in found] == ["tls", "nagle", "lock", "pool"]
    assert "PyMySQL 1.2.4" in found[0].text and "25 ms of client CPU" in found[0].text
    assert "8.4 ms per operation" in found[2].text and "p50 0.11 ms" in found[2].text
    assert "718 connections" in found[3].text
    ans = answers.answer([*clean, tls, lock, pool, *slow, probe("fast", "asyncio")])
    rows = {row.shape.name: [n.key for n in row.notes] for row in ans.rows}
    assert rows == {"gevent-pywsgi": ["tls", "nagle", "lock"], "gevent": ["tls", "lock"], "asyncio": ["pool"]}


def test_the_terminal_prints_the_table(tmp_path: Path) -> None:
    from bench.present.terminal import print_answer

    atomic_write_json(tmp_path / "r.json", results_document({}, planted()))
    out = io.StringIO()
    assert print_answer(tmp_path / "r.json", out=out, report_dir=tmp_path)
    text = out.getvalue()
    assert "What to use" in text and "gunicorn-gevent" in text and "pooled-tuned" in text
    assert "liar" not in text.split("What to use")[1].split("predicted by")[0].replace("liar-later", "")


@pytest.mark.parametrize("part, whole, text", [(3, 6000, "3 of 6,000 (0.05%)"), (537, 538, "537 of 538 (99.8%)"),
                                               (0, 10, "0 of 10"), (10, 10, "10 of 10")])
def test_findings_count_exactly(part: int, whole: int, text: str) -> None:
    from bench.present.findings import findings

    recs = [stack_rec("gevent-pywsgi", "gevent", "fast", "global", silent=part, requests=whole)] if part else []
    recs.append(db("global", "threads", 16, 100.0, silent_wrong=3, wrong_results=3, ops_total=6000))
    found = "\n".join(findings(recs))
    assert "3 of 6,000 (0.05%)" in found and " 0% " not in found
    if part and part != whole:
        assert f"{text} requests were answered 200" in found


def test_a_repeated_stack_cell_is_one_finding_with_its_repeats_added() -> None:
    from bench.present.findings import stack_findings

    recs = [stack_rec("gunicorn-gevent", "gevent", "fast", "global", silent=s, requests=1000) for s in (999, 1000)]
    assert stack_findings(recs) == ["Under gunicorn-gevent with fast x global, 1,999 of 2,000 (99.95%) requests over 2 "
                                    "repeats were answered 200 with another request's row; 0 got an HTTP error."]


def test_a_run_directory_reported_twice_reads_the_same(tmp_path: Path) -> None:
    """answer.json sits beside the run's files: reading the run again does not take it for a results file."""
    from bench.present.report import render_report, write_answer
    from bench.records.read import load_records

    run = tmp_path / "run"
    (run / "cells").mkdir(parents=True)
    atomic_write_json(run / "environment.json", {"schema": 1, "run_id": "20260101-120000"})
    atomic_write_json(run / "cells" / "all.json", results_document({}, planted()))
    write_answer({}, planted(), run / "answer.json")
    _env, records, problems = load_records(run)
    assert problems == [] and len(records) == len(planted())
    _page, md, problems = render_report(run, run, formats=("png",))
    assert problems == [] and "Problems reading the records" not in md.read_text()


@pytest.mark.parametrize(("records", "says"), [
    ([db("locked", "threads", 8, 600.0, rtt_set_ms=1.0), db("pooled-tuned", "threads", 8, 3500.0, rtt_set_ms=0.0)],
     "round trip (--rtt"),
    ([micro("fast", 30.0)], "micro-benchmarks alone"),
])
def test_a_run_the_answer_cannot_read_says_why_where_the_table_would_be(tmp_path: Path, records: list[Record],
                                                                         says: str) -> None:
    from bench.present.terminal import print_answer

    ans = answers.answer(records)
    assert ans.rows == [] and says in ans.empty
    assert answers.to_json(ans)["no_rows"] == ans.empty
    atomic_write_json(tmp_path / "r.json", results_document({}, records))
    out = io.StringIO()
    assert print_answer(tmp_path / "r.json", out=out)
    assert says in out.getvalue() and "safe strategies" not in out.getvalue()
    assert answers.answer(planted()).empty == ""
