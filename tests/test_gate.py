"""Tests of the gate's confirmation step and statistics on fixed inputs (no timing, no processes).

A suspected regression must be seen again before it fails the gate; one that gets no fresh
sample to judge it by is reported ``unconfirmed``, with the reason, and does not fail it.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from pathlib import Path

import pytest

from bench.errors import EXIT_OK, EXIT_REGRESSION
from bench.gate import confirm, decision, measure, metrics, output, stats
from bench.gate.baseline import Baseline

BASE = [2.00, 2.02, 1.98, 2.01, 1.99]
NAME = "micro/x/get"


def _metric(samples: list[float], name: str = NAME) -> metrics.Metric:
    return metrics.Metric(name, "micro", "x", "threading-local", samples, op="get")


def _suspect() -> tuple[decision.GateOutcome, Baseline]:
    base = _metric(BASE)
    baseline = Baseline(path=Path("b.json"), created=None, environment={}, settings={}, selection={}, correctness={},
                        speed={NAME: base}, overrides={})
    outcome = decision.GateOutcome(speed=[decision.compare_speed(base, _metric([x * 1.3 for x in BASE]), 0.10, 0.05)])
    assert [r.verdict for r in outcome.speed] == ["regression"]
    return outcome, baseline


def _exit(outcome: decision.GateOutcome) -> int:
    return EXIT_REGRESSION if outcome.failed else EXIT_OK


def _remeasure(fresh: measure.Fresh) -> measure.Remeasure:
    def remeasure(names: Sequence[str]) -> measure.Fresh:
        assert list(names) == [NAME]
        return fresh

    return remeasure


@pytest.mark.parametrize("fresh", [
    measure.Fresh(),  # the re-measurement gave no metric at all
    measure.Fresh(notes=[f"{NAME}: 2 of 2 processes at the harness floor (values <= 0 ns)"]),  # ... and said why
    measure.Fresh(metrics={NAME: _metric([2.6])}),  # one sample: cannot be judged
], ids=["no-metric", "no-metric-with-note", "one-sample"])
def test_a_suspect_without_a_fresh_sample_is_unconfirmed_and_does_not_fail(fresh: measure.Fresh,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    outcome, baseline = _suspect()
    bench = logging.getLogger("bench")  # the CLI's handler may stop propagation: listen on the package's logger
    bench.addHandler(caplog.handler)
    try:
        assert confirm.confirm_speed(outcome, baseline.speed, _remeasure(fresh), 1) == []
    finally:
        bench.removeHandler(caplog.handler)
    result = outcome.speed[0]
    assert result.verdict == "unconfirmed" and "no fresh sample" in result.reason, result
    assert not outcome.regressions and outcome.unconfirmed == [result]
    assert _exit(outcome) == EXIT_OK
    line = output.headline(outcome, [])
    assert line.startswith("PASS") and "1 suspected regression(s) unconfirmed" in line
    assert any(NAME in line and "unconfirmed" in line for line in caplog.messages)  # a line saying why, as it happens
    if fresh.notes:
        assert "harness floor" in result.reason
    _, rows = output.speed_rows(outcome)
    assert rows[0][-1].startswith("unconfirmed: no fresh sample")


def test_a_suspect_seen_again_stays_a_regression_and_one_not_seen_is_cleared() -> None:
    outcome, baseline = _suspect()
    again = measure.Fresh({NAME: _metric([x * 1.3 for x in BASE])})
    assert confirm.confirm_speed(outcome, baseline.speed, _remeasure(again), 1) == []
    assert outcome.speed[0].verdict == "regression" and outcome.speed[0].reason.startswith("confirmed: ")
    assert _exit(outcome) == EXIT_REGRESSION
    outcome, baseline = _suspect()
    confirm.confirm_speed(outcome, baseline.speed, _remeasure(measure.Fresh({NAME: _metric(list(BASE))})), 1)
    assert outcome.speed[0].verdict == "ok" and outcome.speed[0].reason.startswith("not confirmed: ")


def test_a_confirmation_that_failed_is_an_error_and_says_so() -> None:
    outcome, baseline = _suspect()
    failed = measure.Fresh(errors=["impl 'x': worker died"])
    errors = confirm.confirm_speed(outcome, baseline.speed, _remeasure(failed), 1)
    assert errors == ["impl 'x': worker died"]
    assert outcome.speed[0].verdict == "unconfirmed" and "worker died" in outcome.speed[0].reason


def test_mad_is_the_raw_median_absolute_deviation() -> None:
    for values in ([1, 2, 3, 4, 100], [2.0, 2.02, 1.98, 2.01, 1.99, 2.5], [7.0]):
        centre = statistics.median(values)
        assert stats.mad(values) == statistics.median(abs(v - centre) for v in values)
