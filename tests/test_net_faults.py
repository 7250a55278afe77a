"""The network faults' judging and table, on synthetic inputs: the wait tracker's lower bounds, the fields a cell's
timeline gives under a partition, a reset and idle gaps, the verdicts and the sentences.

Fast: nothing here starts a server, a proxy or a cell (the scenarios themselves are tests/faults/test_net_faults.py).
The inputs are what a cell writes (a timeline of 10 ms buckets, ``op_waits``), built by hand so that each expected
value can be read off them.
"""

from __future__ import annotations

from array import array
from types import SimpleNamespace
from typing import Any

import pytest

from bench.cell.db.waits import WaitTracker
from bench.errors import UsageError
from bench.faults.netjudge import NetFault, idle_fields, net_fields, stuck_fields
from bench.present.resilience import path_findings, resilience_findings, resilience_rows, verdict
from bench.records.kinds import DbRecord, FaultRecord

B = 0.01  # the cell's bucket


def _run(n: int) -> Any:
    return SimpleNamespace(progress=array("q", bytes(8 * n)), finished=array("b", bytes(n)), t_go=None)


# --- the wait tracker


def test_waits_are_lower_bounds_quick_operations_are_never_stuck() -> None:
    run = _run(2)
    tracker = WaitTracker(run, bound=1.0)
    tracker.tick(0.0)  # before the start: nothing
    run.t_go = 0.0
    tracker.tick(10.0)  # the first tick after the start starts every clock
    for k in range(1, 40):  # worker 0 ends an operation between every two ticks of 50 ms
        run.progress[0] += 1
        tracker.tick(10.0 + 0.05 * k)
    assert tracker.longest == 0.0 and tracker.over == 0
    # worker 1 has been on one operation since 10.0; it ends between 12.0 and 12.05: at least 2.0 - 0 s
    run.progress[1] += 1
    tracker.tick(12.05)
    assert tracker.longest == pytest.approx(1.95, abs=1e-9) and tracker.over == 1
    summary = tracker.summary(12.05)
    assert summary["ended_over_bound"] == 1 and summary["in_flight_over_bound"] == 0


def test_an_operation_still_waiting_counts_and_a_finished_worker_does_not() -> None:
    run = _run(3)
    tracker = WaitTracker(run, bound=3.0)
    run.t_go = 0.0
    tracker.tick(100.0)
    run.finished[2] = 1  # done: not waiting for anything
    for k in range(1, 100):
        tracker.tick(100.0 + 0.05 * k)
    run.progress[0] += 1  # worker 0 moved at the last tick; worker 1 never did
    tracker.tick(105.0)
    got = tracker.summary(105.0)  # the watchdog fires now
    assert got["in_flight"] == 2 and got["in_flight_over_bound"] == 1  # worker 1: 5 s; worker 0: 0 s
    assert got["longest_s"] == 5.0 and got["ended_over_bound"] == 1  # worker 0's op took >= 4.95 s
    assert stuck_fields(got) == {"stuck_bound_s": 3.0, "stuck_ops": 2, "longest_wait_s": 5.0}


def test_an_idle_gap_is_not_a_wait() -> None:
    run = _run(1)
    gap = [False]
    run.idle_at = lambda _t: gap[0]
    tracker = WaitTracker(run, bound=1.0)
    run.t_go = 0.0
    tracker.tick(0.0)
    gap[0] = True  # the worker sleeps on purpose for 3 s
    for k in range(1, 61):
        tracker.tick(0.05 * k)
    gap[0] = False
    run.progress[0] += 1  # its first operation after the gap ends quickly
    tracker.tick(3.05)
    assert tracker.longest == 0.0 and tracker.over == 0


# --- a cell's timeline under a fault


def _timeline(ok: dict[float, int], errors: dict[float, int], window: tuple[float, float]) -> dict[str, Any]:
    """A timeline as the cell writes it; keys are seconds (the start of their bucket)."""
    def pairs(events: dict[float, int]) -> list[list[int]]:
        return sorted([round(t / B), n] for t, n in events.items())

    firsts = [t for t, n in errors.items() if n]
    return {"bucket_s": B, "window": list(window), "ok": pairs(ok), "errors": pairs(errors),
            "first_error_at": min(firsts) if firsts else None, "last_error_at": max(firsts) if firsts else None}


def _db(outcome: str, timeline: dict[str, Any], op_waits: dict[str, Any] | None = None) -> DbRecord:
    return DbRecord(strategy="s", load="threads", concurrency=8, outcome=outcome, timeline=timeline,
                    op_waits=op_waits, hang_after_s=4.0)


def _every(start: float, end: float, n: int = 10) -> dict[float, int]:
    return {round(start + k * B, 2): n for k in range(round((end - start) / B))}


def test_a_partition_that_fails_fast_and_recovers() -> None:
    # fault at 101.0, heal at 107.0; errors at 102.0, 103.0, ...; right replies before the fault and from 107.2
    timeline = _timeline({**_every(100.0, 101.0), **_every(107.2, 109.5)}, {102.0: 8, 103.0: 8, 106.0: 8},
                         (100.0, 109.5))
    waits = {"bound_s": 3.0, "ended_over_bound": 0, "in_flight_over_bound": 0, "longest_s": 1.05}
    got = net_fields(_db("errors", timeline, waits), NetFault(101.0, 107.0, {"partition_s": 6.0}))
    assert got["time_to_first_error_s"] == pytest.approx(1.0)
    assert got["stuck_ops"] == 0 and got["longest_wait_s"] == 1.05 and got["partition_s"] == 6.0
    assert got["errors_during_fault"] == 24 and got["errors_after_heal"] == 0
    assert got["first_ok_after_heal_s"] == pytest.approx(0.2) and got["recovered"] is True
    assert got["ops_per_s_during"] == 0.0 and got["ops_per_s_before"] == pytest.approx(1000.0)
    assert got["fault_in_window_s"] == 1.0 and got["healed_in_window_s"] == 7.0 and "note" not in got
    rec = FaultRecord(scenario="partition", strategy="s", load="threads", concurrency=8, outcome="errors",
                      error_count=24, wrong_results=0, **got)
    assert verdict(rec) == "fails fast, recovers"


def test_a_hung_cell_has_no_recovery_to_judge() -> None:
    timeline = _timeline(_every(100.0, 101.0), {}, (100.0, 109.5))
    waits = {"bound_s": 3.0, "ended_over_bound": 0, "in_flight_over_bound": 8, "longest_s": 4.2}
    got = net_fields(_db("hung", timeline, waits), NetFault(101.0, 107.0))
    assert got["time_to_first_error_s"] is None and got["stuck_ops"] == 8
    assert got["recovered"] is None and got["recovery_s"] is None and got["first_ok_after_heal_s"] is None
    rec = FaultRecord(scenario="partition", strategy="s", load="threads", concurrency=8, outcome="hung", **got)
    assert verdict(rec) == "hung"


def test_a_window_ending_just_after_the_heal_is_noted() -> None:
    timeline = _timeline(_every(100.0, 101.0), {}, (100.0, 107.5))
    got = net_fields(_db("ok", timeline), NetFault(101.0, 107.0))
    assert "recovery not observed" in got["note"]


def test_idle_gaps_each_burst_judged_on_its_own() -> None:
    # window 100-106.5: bursts 100-100.5, 103-103.5, 106-106.5; gaps [0.5, 2.5] and [3.5, 2.5]
    gaps = [[0.5, 2.5], [3.5, 2.5]]
    ok = {**_every(100.0, 100.5), **_every(103.02, 103.5), **_every(106.0, 106.5)}
    timeline = _timeline(ok, {103.0: 4}, (100.0, 106.5))
    got = idle_fields(_db("errors", timeline), gaps, 2)
    first, second = got["bursts"]
    assert first == {"start_in_window_s": 3.0, "errors": 4, "first_ok_s": pytest.approx(0.02), "settled": True,
                     "recovery_s": pytest.approx(0.02)}
    assert second["errors"] == 0 and second["recovery_s"] == 0.0 == second["first_ok_s"] and second["settled"] is True
    assert got["first_ok_after_heal_s"] == pytest.approx(0.02) and got["recovery_s"] == pytest.approx(0.02)
    assert got["time_to_first_error_s"] == pytest.approx(0.0) and got["errors_after_heal"] == 4
    assert got["recovered"] is True and got["wait_timeout_s"] == 2 and got["idle_gaps"] == gaps
    rec = FaultRecord(scenario="idle-timeout", strategy="s", load="threads", concurrency=8, error_count=4,
                      wrong_results=0, **got)
    assert verdict(rec) == "errors after idle, recovers"


# --- verdicts, the table, the sentences


def _fault(scenario: str, strategy: str, **fields: Any) -> FaultRecord:
    base: dict[str, Any] = {"outcome": "ok", "error_count": 0, "wrong_results": 0, "leaked_connections": 0,
                            "stuck_ops": 0, "longest_wait_s": 0.1, "recovered": True, "hang_bound_s": 4.0,
                            "stuck_bound_s": 3.0}
    return FaultRecord(scenario=scenario, strategy=strategy, load="threads", concurrency=8, **{**base, **fields})


TIMEOUT = {"settings": {"read_timeout_s": 1.0}}


def test_the_partition_sentence_names_who_failed_fast_and_who_hung() -> None:
    records = [
        _fault("partition", "pooled-timeout", outcome="errors", error_count=30, time_to_first_error_s=1.02,
               partition_s=6.0, cell=TIMEOUT, first_ok_after_heal_s=0.01, recovery_s=0.01),
        _fault("partition", "pooled-tuned", outcome="hung", stuck_ops=8, longest_wait_s=4.2, recovered=None,
               partition_s=6.0, cell={"settings": {"ping": 0}}),
        _fault("reset", "pooled-tuned", error_count=3, error_codes={"OperationalError:2013": 3},
               first_ok_after_heal_s=0.0, recovery_s=0.2),
        _fault("reset", "pooled"),
    ]
    lines = resilience_findings(records)
    assert lines[0] == ("Under a 6 s partition only pooled-timeout failed fast (first error 1.02 s after the fault); "
                        "pooled-tuned hung (every worker waiting, ended by the 4 s watchdog); every strategy that "
                        "failed fast sets a read timeout and none that waited does: set read_timeout.")
    assert lines[1] == ("After every connection was reset at once: pooled-tuned surfaced errors (3 errors) and "
                        "recovered; pooled had no error.")
    header, rows = resilience_rows(records)
    table = {(row[0], row[1]): dict(zip(header, row, strict=True)) for row in rows}
    assert table["partition", "pooled-tuned"]["verdict"] == "hung"
    assert table["partition", "pooled-tuned"]["stuck (longest wait)"] == "8 (4.2 s)"
    assert table["partition", "pooled-tuned"]["recovery"] == "not observed"
    assert table["partition", "pooled-timeout"]["detection"] == "1.02 s"
    assert table["reset", "pooled-tuned"]["recovery"] == "0 s (last error 0.2 s)"
    assert table["reset", "pooled-tuned"]["errors (codes)"] == "3 (2013: 3)"


def test_a_late_first_error_or_a_long_wait_without_one_is_not_failing_fast() -> None:
    assert verdict(_fault("partition", "s", error_count=4, time_to_first_error_s=3.4)) == "fails slowly, recovers"
    assert verdict(_fault("partition", "s", error_count=4, time_to_first_error_s=1.2, stuck_ops=3)) == \
        "fails fast, recovers"  # operations stuck behind the failing ones show in the table, not the verdict
    assert verdict(_fault("latency-spike", "s", stuck_ops=2, recovered=False)) == "stalls, no recovery"
    assert verdict(_fault("latency-spike", "s")) == "no errors, recovers"
    assert verdict(_fault("reset", "s", fault_not_injected="the cell's workload never reached the server")) == \
        "not injected"


def test_wrong_results_and_leaks_are_called_out() -> None:
    records = [_fault("reset", "global", wrong_results=5), _fault("reset", "leaky", leaked_connections=2)]
    assert verdict(records[0]) == "wrong results"
    lines = resilience_findings(records)
    assert "WRONG RESULTS: global threads under reset: 5." in lines
    assert "leaky threads under reset left 2 connection(s) on the server." in lines


def test_the_two_partition_paths_are_compared_strategy_by_strategy() -> None:
    records = [
        _fault("partition", "per-request-timeout", error_count=9, time_to_first_error_s=1.0, path="proxy"),
        _fault("partition", "per-request-timeout", error_count=7, time_to_first_error_s=1.1, path="netns"),
        _fault("partition", "pooled-timeout", error_count=1, time_to_first_error_s=6.1, stuck_ops=8, path="proxy"),
        _fault("partition", "pooled-timeout", outcome="hung", recovered=None, path="netns"),
        _fault("partition", "per-request", outcome="hung", recovered=None, path="proxy"),
        _fault("partition", "per-request", error_count=3, time_to_first_error_s=1.0, path="netns"),
    ]
    assert path_findings(records) == [
        "A partition through the proxy and a link taken down gave the same answer (fails fast or waits) for 2 of 3 "
        "strategies; they differ for per-request (proxy: hung; link down: fails fast, recovers); the verdicts in "
        "full differ for pooled-timeout (proxy: fails slowly, recovers; link down: hung)."]
    assert path_findings(records[:2]) == [
        "A partition through the proxy and a link taken down gave the same answer (fails fast or waits) for 1 of 1 "
        "strategies (per-request-timeout)."]
    _header, rows = resilience_rows(records)
    assert [row[1] for row in rows][:2] == ["per-request-timeout (proxy)", "per-request-timeout (link down)"]
    timed = [rec.replace(cell=TIMEOUT) for rec in records[:4]]
    assert resilience_findings(timed)[0].endswith(
        "every strategy that failed fast sets a read timeout; a timeout alone was not enough for pooled-timeout.")


def test_the_plan_takes_network_and_a_partition_length() -> None:
    import argparse

    from bench.cli import faults as cli
    from bench.faults import plan

    args = argparse.Namespace(scenario=["network,kill"], strategy=["pooled"], db_load=None, concurrency=None,
                              duration=None, down=None, max_connections=None, hang_after=None, soak_duration=None,
                              partition=8.0, link_down=None)
    got = cli._plan(args)
    assert got.scenarios == (*plan.NETWORK_SCENARIOS, "kill")
    assert got.strategies == got.net_strategies == ("pooled",) and got.partition == 8.0
    assert got.link_down == ()  # of the named strategies, those the kernel-level partition runs by default: none
    args.strategy, args.link_down = ["pooled-tuned,per-request,pooled"], None
    assert cli._plan(args).link_down == ("pooled-tuned", "per-request")
    args.link_down = ["none"]
    assert cli._plan(args).link_down == ()
    with pytest.raises(UsageError, match="--partition"):
        plan.validate(plan.FaultPlan(partition=0.0))
    assert plan.idle_gaps(1.0, 3.0, 3) == [[1.0, 3.0], [5.0, 3.0]] and plan.idle_duration(1.0, 3.0, 3) == 9.0
