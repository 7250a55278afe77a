"""The model check: each real-stack cell beside the in-process cells that claim to predict it, on hand-built records.

The pairing is pure over records, so these records are written by hand in the shapes the cells write; the
disagreements below are ones the check must report (a pairing that always agreed would fail them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from bench.present import charts, report
from bench.present.findings import findings
from bench.present.model import disagreements, model_findings, model_rows, pair_all
from bench.records.kinds import DbRecord, ProbeRecord, RequestRecord, StackRecord
from bench.records.schema import check_record, from_json, to_json


def stack_rec(server: str, model_load: str, impl: str, strategy: str, *, silent: int = 0, local: int = 0,
              http: dict[str, int] | None = None, client: dict[str, int] | None = None, outcome: str = "ok",
              concurrency: int = 16, requests: int = 1000) -> StackRecord:
    """A stack record as ``run_stack_cell`` writes one, read back."""
    good = max(0, requests - silent - local - sum((http or {}).values()))
    return cast(StackRecord, from_json({
        "kind": "stack", "server": server, "workers": 1, "impl": impl, "strategy": strategy,
        "concurrency": concurrency, "model_load": model_load, "duration_s": 1.5, "outcome": outcome,
        "requests": requests, "ok": good, "wrong_local": local, "silent_wrong": silent, "http_errors": http or {},
        "client_errors": client or {}, "ops_per_s": good / 1.5,
        "latency_ms": {"p50": 1.0, "p90": 2.0, "p99": 4.0, "max": 9.0}, "load_facts": {}}))


def probe_rec(impl: str, load: str, violations: int) -> ProbeRecord:
    return cast(ProbeRecord, from_json({"kind": "probe", "impl": impl, "load": load, "probe": "isolation",
                                        "outcome": "ok", "workers": 8, "violations": violations, "checks": 40}))


def db_rec(strategy: str, load: str, concurrency: int, *, wrong: int = 0, errors: int = 0,
           silent: int | None = None, outcome: str = "ok") -> DbRecord:
    rec: dict[str, Any] = {"kind": "db", "strategy": strategy, "load": load, "concurrency": concurrency,
                           "outcome": outcome, "ops_per_s": 5000.0, "wrong_results": wrong,
                           "errors": {"RuntimeError": errors} if errors else {}}
    if silent is not None:
        rec["silent_wrong"] = silent
    return cast(DbRecord, from_json(rec))


def test_stack_record_meets_its_schema() -> None:
    assert check_record(to_json(stack_rec("waitress", "threads", "fast", "global"))) is None
    bad = to_json(stack_rec("waitress", "threads", "fast", "global"))
    bad["concurrency"] = True
    assert check_record(bad) == "stack record with concurrency True"
    del bad["server"]
    assert check_record(bad) == "stack record without 'server'"


def test_agreement_on_every_aspect() -> None:
    records = [
        stack_rec("gevent-pywsgi", "gevent", "fast", "global", silent=900, http={"500": 20}),
        probe_rec("fast", "gevent", 0),
        db_rec("global", "gevent", 16, wrong=500, silent=480, errors=30),
        stack_rec("gunicorn-gthread", "threads", "threading-local", "pooled-tuned"),
        probe_rec("threading-local", "threads", 0),
        db_rec("pooled-tuned", "threads", 16),
    ]
    pairings = pair_all(records)
    assert [p.verdict for p in pairings] == ["agree", "agree"]
    first = pairings[0]
    assert (first.local.stack, first.local.model) == ("isolates", "isolates")  # type: ignore[union-attr]
    assert (first.strategy.stack, first.mode.stack, first.mode.model) == (  # type: ignore[union-attr]
        "unsafe", "silent wrong", "silent wrong")
    assert disagreements(pairings) == []
    assert model_findings(records) == [
        "The in-process model was checked against 2 real-stack cell(s): 2 agree, 0 disagree."]


def test_a_failure_mode_the_model_gets_wrong_is_reported() -> None:
    """The issue's case: the real app returns another request's row silently, the model fails loudly."""
    records = [
        stack_rec("gevent-pywsgi", "gevent", "fast", "global", silent=950, http={"500": 30}),
        probe_rec("fast", "gevent", 0),
        db_rec("global", "gevent", 16, wrong=100, silent=100, errors=90_000),
    ]
    [p] = pair_all(records)
    assert p.verdict == "disagree"
    assert p.strategy is not None and p.strategy.agrees  # both unsafe ...
    assert p.mode is not None and (p.mode.stack, p.mode.model) == ("silent wrong", "errors")  # ... failing apart
    [line] = model_findings(records)
    assert "1 disagree" in line and "failure mode silent wrong vs model errors" in line
    header, rows = model_rows(records)
    assert rows[0][header.index("verdict")] == "disagree"
    assert "(DISAGREE)" in rows[0][header.index("failure mode: stack / model")]


def test_a_local_verdict_the_model_gets_wrong_is_reported() -> None:
    records = [
        stack_rec("gevent-pywsgi-nothread", "gevent-nothread", "threading-local", "pooled-tuned", local=700),
        probe_rec("threading-local", "gevent-nothread", 0),  # the model says it isolates: wrong
        db_rec("pooled-tuned", "gevent-nothread", 16),
    ]
    [p] = pair_all(records)
    assert p.verdict == "disagree"
    assert p.local is not None and (p.local.stack, p.local.model) == ("leaks", "isolates")
    assert p.strategy is not None and p.strategy.agrees


def test_a_strategy_verdict_the_model_gets_wrong_is_reported() -> None:
    records = [stack_rec("waitress", "threads", "fast", "global", silent=40, http={"500": 300}),
               db_rec("global", "threads", 16)]
    [p] = pair_all(records)
    assert p.verdict == "disagree" and p.local is None
    assert p.strategy is not None and (p.strategy.stack, p.strategy.model) == ("unsafe", "safe")
    assert p.mode is None


def test_hung_server_is_predicted_by_a_hung_cell() -> None:
    records = [stack_rec("gevent-pywsgi-nothread", "gevent-nothread", "fast", "pooled-tuned", outcome="hung",
                         requests=0),
               db_rec("pooled-tuned", "gevent-nothread", 16, outcome="hung")]
    [p] = pair_all(records)
    assert p.verdict == "agree" and p.strategy is not None and p.strategy.stack == "hung"
    records[1].outcome = "ok"
    assert pair_all(records)[0].verdict == "disagree"


def test_flask_g_is_predicted_by_werkzeug_then_contextvar() -> None:
    stack = stack_rec("gunicorn-gevent", "gevent", "flask-g", "pooled-tuned")
    with_contextvar = pair_all([stack, probe_rec("contextvar", "gevent", 0)])[0]
    assert with_contextvar.local is not None
    assert with_contextvar.local.model_cell.startswith("probe contextvar x gevent")
    both = pair_all([stack, probe_rec("contextvar", "gevent", 0), probe_rec("werkzeug", "gevent", 3)])[0]
    assert both.local is not None and both.local.model_cell.startswith("probe werkzeug x gevent")
    assert both.verdict == "disagree"


def test_nearest_concurrency_and_old_records_without_silent_wrong() -> None:
    records = [stack_rec("waitress", "threads", "fast", "global", silent=10, http={"500": 900}),
               db_rec("global", "threads", 4, wrong=9000), db_rec("global", "threads", 64, errors=5000, wrong=3)]
    [p] = pair_all(records)
    assert p.strategy is not None and p.strategy.model_cell == "db global x threads c=64"  # 4x off either way: higher
    assert p.mode is not None and p.mode.agrees  # errors dominate in both
    records[2].concurrency = 8  # 2x off beats 4x off
    assert pair_all(records)[0].strategy.model_cell == "db global x threads c=8"  # type: ignore[union-attr]
    records[2].concurrency = 64
    records[1].concurrency = 12  # 1.33x off
    again = pair_all(records)[0]
    assert again.mode is not None and (again.mode.model, again.verdict) == ("silent wrong", "disagree")


def test_cells_that_did_not_run_or_have_no_model_cell() -> None:
    skipped = stack_rec("waitress", "threads", "fast", "global", outcome="skipped")
    alone = stack_rec("waitress", "threads", "fast", "pooled-tuned")
    assert [p.verdict for p in pair_all([skipped, alone])] == ["unpredicted"]
    assert "1 without an in-process cell" in model_findings([skipped, alone])[0]
    assert model_findings([skipped]) == []


def test_report_and_chart_carry_the_stack_and_the_model_check(tmp_path: Path) -> None:
    records = [
        stack_rec("gevent-pywsgi", "gevent", "fast", "global", silent=950, http={"500": 30}),
        stack_rec("gevent-pywsgi", "gevent", "fast", "pooled-tuned"),
        probe_rec("fast", "gevent", 0),
        db_rec("global", "gevent", 16, wrong=100, silent=100, errors=90_000),
        db_rec("pooled-tuned", "gevent", 16),
    ]
    written = charts.draw_all(records, tmp_path / "charts", formats=("png",))
    assert tmp_path / "charts" / "stack.png" in written
    md = report.write_markdown({}, records, "charts", tmp_path / "REPORT.md").read_text()
    assert "## Does the model predict the real stack?" in md
    assert "## The real stack:" in md
    assert any("950 of 1,000 (95.0%) requests were answered 200 with another request's row" in f
               for f in findings(records))
    assert "1 agree, 1 disagree" in md


def request_rec(impl: str, strategy: str, load: str, concurrency: int, *, silent: int = 0,
                errors: int = 0) -> RequestRecord:
    return cast(RequestRecord, from_json({
        "kind": "request", "impl": impl, "strategy": strategy, "load": load, "concurrency": concurrency,
        "outcome": "ok", "ops_per_s": 4000.0, "wrong_results": silent, "silent_wrong": silent,
        "local_violations": 0, "errors": {"RuntimeError": errors} if errors else {}}))


def test_the_request_scenario_predicts_before_the_db_mix() -> None:
    """The app's handler is the request scenario's twin: its failure mode is the one compared when both exist.

    Under gevent a shared connection behind plain SELECTs returns other requests' rows (silent), while the db mix,
    which also writes, closes it and fails loudly: paired with the db record alone the check must disagree.
    """
    stack = stack_rec("gevent-pywsgi", "gevent", "fast", "global", silent=900, http={"500": 20})
    loud_db = db_rec("global", "gevent", 16, wrong=5, silent=0, errors=90_000)
    alone = pair_all([stack, probe_rec("fast", "gevent", 0), loud_db])
    assert [p.verdict for p in alone] == ["disagree"]
    assert alone[0].mode is not None and alone[0].mode.model == "errors"
    twin = request_rec("fast", "global", "gevent", 16, silent=15_000, errors=130)
    both = pair_all([stack, probe_rec("fast", "gevent", 0), loud_db, twin])
    assert [p.verdict for p in both] == ["agree"]
    assert both[0].mode is not None and both[0].mode.model_cell.startswith("request fast x global x gevent")


def test_flask_g_is_predicted_through_its_stand_in() -> None:
    stack = stack_rec("gunicorn-gevent", "gevent", "flask-g", "global", silent=500)
    twin = request_rec("contextvar", "global", "gevent", 16, silent=800, errors=3)
    (paired,) = pair_all([stack, probe_rec("contextvar", "gevent", 0), twin])
    assert paired.verdict == "agree" and paired.strategy is not None
    assert paired.strategy.model_cell.startswith("request contextvar x global")


def test_a_local_no_reply_carried_back_is_not_compared() -> None:
    """Every request an HTTP 500 (a shared connection closed): the stack read no Local, so it cannot show the leak the
    model finds; one reply that came back is enough to compare (and then to disagree)."""
    from bench.present.model import model_rows

    model = [probe_rec("threading-local", "asyncio", 35)]
    dead = stack_rec("uvicorn", "asyncio", "threading-local", "global", http={"500": 1000})
    (p,) = pair_all([dead, *model])
    assert p.local is None
    _, rows = model_rows([dead, *model])
    assert rows[0][5] == "not observed (no reply) / -"
    one_back = stack_rec("uvicorn", "asyncio", "threading-local", "global", http={"500": 999})
    (p,) = pair_all([one_back, *model])
    assert p.local is not None and (p.local.stack, p.local.model) == ("isolates", "leaks") and p.verdict == "disagree"
