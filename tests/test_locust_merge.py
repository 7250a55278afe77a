"""The Locust master's record from its workers' reports, and the window rule -- no Locust, no server."""

from __future__ import annotations

from typing import Any

from bench.locustload.merge import merge_record
from bench.locustload.options import Plan
from bench.locustload.tally import Tally, Window, request_type
from bench.records import latency

PLAN = Plan(strategy="pooled-tuned", mix={"select_token": 1}, warmup=0.5, duration=2.0, report_grace=1.0,
            run_dir=None, impl="fast", server="external", nonce="n")


def _report(wid: str, index: int, ok: list[float], errors: dict[str, int], wrong: dict[str, int]) -> dict[str, Any]:
    tally = Tally()
    for seconds in ok:
        tally.count_phase("window")
        tally.right(seconds)
    for label, count in errors.items():
        for _ in range(count):
            tally.count_phase("window")
            tally.error(label)
    for kind, count in wrong.items():
        for _ in range(count):
            tally.count_phase("window")
            tally.wrong_reply(kind)
    tally.count_phase("warm-up")
    return {"id": wid, "index": index, "host": "h", "pid": 100 + index, "users": 3, **tally.report()}


def test_totals_are_the_sums_of_the_reports() -> None:
    a = _report("a", 0, [0.001] * 5, {"OperationalError": 2}, {"foreign": 1})
    b = _report("b", 1, [0.002] * 7, {"OperationalError": 1, "timeout": 1}, {"stale": 2, "other": 1})
    rec = merge_record(PLAN, "db", [b, a], ["a", "b"])
    assert rec["kind"] == "db" and rec["load"] == "locust"
    assert rec["ops"] == rec["ok"] == 12
    assert rec["requests"] == a["requests"] + b["requests"] == 12 + 4 + 4
    assert rec["errors"] == {"OperationalError": 3, "timeout": 1} and rec["error_count"] == 4
    assert rec["wrong_detail"] == {"foreign": 1, "stale": 2, "other": 1}
    assert rec["silent_wrong"] == 3 and rec["wrong_results"] == 4
    assert rec[latency.FIELD]["count"] == a[latency.FIELD]["count"] + b[latency.FIELD]["count"] == 12
    assert rec["ops_per_s"] == 6.0  # 12 right replies over the 2 s window
    assert [w["id"] for w in rec["locust_workers"]] == ["a", "b"]
    assert rec["users"] == rec["total_concurrency"] == 6 and rec["concurrency"] == 3
    assert rec["processes"] == rec["locust_processes"] == rec["reported_processes"] == 2
    assert not rec["partial"] and rec["missing_workers"] == []
    assert rec["warmup_requests"] == 2
    assert rec["outcome"] == "errors"


def test_a_worker_without_a_report_makes_the_record_partial() -> None:
    a = _report("a", 0, [0.001] * 5, {}, {})
    rec = merge_record(PLAN, "db", [a], ["a", "dead"])
    assert rec["partial"] is True and rec["missing_workers"] == ["dead"]
    assert rec["reported_processes"] == 1 and rec["locust_processes"] == 2
    assert "dead" in rec["reason"]
    complete = merge_record(PLAN, "db", [a], ["a"])
    assert complete["partial"] is False and complete["outcome"] == "ok"


def test_stack_record_counts_wrong_replies_apart() -> None:
    a = _report("a", 0, [0.01] * 3, {"ConnectionRefusedError": 1}, {"silent_wrong": 2, "wrong_local": 1})
    a["http_errors"] = {"500": 4}
    rec = merge_record(PLAN, "stack", [a], ["a"])
    assert rec["kind"] == "stack" and rec["processes"] == rec["workers"] == 1
    assert rec["concurrency"] == rec["users"] == 3 and rec["locust_processes"] == 1
    assert rec["silent_wrong"] == 2 and rec["wrong_local"] == 1
    assert rec["http_errors"] == {"500": 4} and rec["client_errors"] == {"ConnectionRefusedError": 1}
    assert rec["ops_per_s"] == a["requests"] / PLAN.duration  # a stack cell's rate: requests ended in the window
    assert rec["outcome"] == "errors"


def test_window_phases_by_end_time() -> None:
    window = Window()
    assert window.phase(1e9) == "warm-up"  # not started: everything is warm-up
    window.start(0.5, 2.0, now=10.0)
    assert [window.phase(t) for t in (10.4, 10.5, 12.49, 12.5)] == ["warm-up", "window", "window", "after"]
    assert not window.over(12.4) and window.over(12.5)
    assert request_type("mysql", "window") == "mysql"
    assert request_type("mysql", "warm-up") != "mysql" != request_type("mysql", "after")


def test_the_url_handed_to_locust_processes_parses_back_to_the_same_target() -> None:
    from bench.locustload.launch import full_url
    from bench.server import parse_url

    for url in ("mysql://root:p%40ss%2Fw@127.0.0.1:3306/test", "mysql://u@db.example:3307/d?ssl=true"):
        target = parse_url(url)
        assert parse_url(full_url(target)) == target


def test_no_password_on_a_locust_command_line(tmp_path: Any) -> None:
    from bench.locustload.launch import RunSpec, child_env, master_argv, worker_argv
    from bench.server import parse_url

    spec = RunSpec(scenario="db", strategy="pooled-tuned", users=4, workers=2, duration=1.0, warmup=0.5,
                   report_grace=1.0, connect_timeout=5.0, stop_timeout=5.0, bind_host="127.0.0.1", port=5557,
                   run_dir=tmp_path)
    argv = " ".join(master_argv(spec) + worker_argv("127.0.0.1", 5557))
    assert "--headless" in argv and "--master-bind-host 127.0.0.1" in argv and " -t " in argv
    env = child_env(parse_url("mysql://root:s3cret-x@127.0.0.1:3306/test"))
    assert "s3cret-x" not in argv and "s3cret-x" in env["CTXBENCH_MYSQL_URL"]
