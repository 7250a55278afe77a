"""The decision: every baseline entry in the selection compared with this run's, one verdict each.

Speed (:func:`compare_speed`): a metric is a ``regression`` when its median is slower by more
than its threshold AND a one-sided Mann-Whitney U test gives p <= alpha; the mirror image is
``improved``; too few samples to ever reach alpha is ``undecidable``; otherwise ``ok``.  The
confirmation step (:mod:`bench.gate.confirm`) may later turn a regression into ``ok`` (not
seen again) or ``unconfirmed`` (no fresh sample to judge it by); only a ``regression`` fails.

Correctness (:func:`compare_correctness`), exact: a probe cell that changed between isolates
and leaks, either way, is ``fail``; a database cell clean in the baseline that now has a wrong
result or an error is ``fail``; a real-stack cell on which the in-process model now disagrees in an
aspect (Local verdict, strategy verdict, failure mode) where the baseline agreed is ``fail``; a strategy
declared unsafe, and a probe cell whose verdict
differed between the baseline's own runs (``flaky``), are reported and never judged.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.gate import stats
from bench.gate.baseline import Baseline
from bench.gate.measure import Measurement
from bench.gate.metrics import Metric
from bench.gate.plan import GatePlan

#: Speed verdicts; only ``regression`` fails the gate.
SPEED_VERDICTS: tuple[str, ...] = ("regression", "unconfirmed", "improved", "undecidable", "ok")
#: Correctness verdicts; only ``fail`` fails the gate.
CORRECTNESS_VERDICTS: tuple[str, ...] = ("fail", "flaky", "missing", "new", "ok")
#: Packages whose versions, when they differ from the baseline's, are noted under the report.
ENVIRONMENT_PACKAGES: tuple[str, ...] = ("greenlet", "gevent", "werkzeug", "pymysql", "dbutils", "sqlalchemy")


@dataclass(frozen=True)
class Thresholds:
    """Minimum slowdown per kind and alpha, with per-metric overrides (exact names first, then patterns in order)."""

    max_slowdown: Mapping[str, float]
    alpha: float
    overrides: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def for_metric(self, name: str, kind: str) -> tuple[float, float]:
        """(max_slowdown, alpha) for one metric."""
        entry = self.overrides.get(name)
        if entry is None:
            entry = next((v for k, v in self.overrides.items() if fnmatch.fnmatchcase(name, k)), {})
        return float(entry.get("max_slowdown", self.max_slowdown[kind])), float(entry.get("alpha", self.alpha))


def slowdown_of(kind: str, base_median: float, now_median: float) -> float:
    """How much slower, as a fraction (negative: faster).

    micro: the ns ratio rose by it; db: the ops/s ratio fell by it.
    """
    change = stats.relative_change(base_median, now_median)
    return change if kind == "micro" else -change


@dataclass
class SpeedResult:
    """The comparison of one metric."""

    name: str
    kind: str
    base: list[float]
    now: list[float]
    max_slowdown: float
    alpha: float
    slowdown: float
    p_slower: float
    p_faster: float
    verdict: str  # one of SPEED_VERDICTS
    reason: str = ""
    confirmations: list[SpeedResult] = field(default_factory=list)

    @property
    def p_value(self) -> float:
        """The p-value of the test in the direction the median moved."""
        return self.p_slower if self.slowdown >= 0 else self.p_faster

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.name, "kind": self.kind, "verdict": self.verdict, "reason": self.reason,
                "baseline_median": stats.median(self.base), "baseline_mad": stats.mad(self.base),
                "baseline_samples": self.base,
                "now_median": stats.median(self.now) if self.now else None,
                "now_mad": stats.mad(self.now) if self.now else None,
                "now_samples": [round(s, 6) for s in self.now],
                "slowdown": round(self.slowdown, 5), "p_slower": self.p_slower, "p_faster": self.p_faster,
                "max_slowdown": self.max_slowdown, "alpha": self.alpha,
                "confirmations": [c.to_json() for c in self.confirmations]}


def compare_speed(base: Metric, now: Metric, max_slowdown: float, alpha: float) -> SpeedResult:
    """Regression, improvement, neither, or undecidable, for one metric (see the module docstring)."""
    if len(now.samples) < 2:
        slowdown = slowdown_of(base.kind, stats.median(base.samples), stats.median(now.samples)) if now.samples else 0.0
        reason = f"{len(now.samples)} usable sample(s) now" + (f": {now.note}" if now.note else "")
        return SpeedResult(base.name, base.kind, list(base.samples), list(now.samples), max_slowdown, alpha, slowdown,
                           1.0, 1.0, "undecidable", reason)
    slower: stats.Alternative = "greater" if base.kind == "micro" else "less"
    faster: stats.Alternative = "less" if base.kind == "micro" else "greater"
    slowdown = slowdown_of(base.kind, stats.median(base.samples), stats.median(now.samples))
    p_slower = stats.shift_test(base.samples, now.samples, slower).p_value
    p_faster = stats.shift_test(base.samples, now.samples, faster).p_value
    result = SpeedResult(base.name, base.kind, list(base.samples), list(now.samples), max_slowdown, alpha, slowdown,
                         p_slower, p_faster, "ok")
    floor = stats.min_p_value(len(base.samples), len(now.samples))
    if floor > alpha:
        result.verdict = "undecidable"
        result.reason = (f"{len(base.samples)} vs {len(now.samples)} samples cannot reach p <= {alpha:g} "
                         f"(best possible {floor:.3g})")
        return result
    return settle(result)


def settle(result: SpeedResult) -> SpeedResult:
    """Set the verdict of a decidable result from its effect and one-sided p-values: the one rule of every mode.

    A regression (or improvement) needs both the effect beyond ``max_slowdown`` and the test at ``alpha``; an
    effect without the test is "not significant", a significant change within the threshold "under threshold".
    """
    slowdown, limit, alpha = result.slowdown, result.max_slowdown, result.alpha
    if slowdown > limit and result.p_slower <= alpha:
        result.verdict = "regression"
    elif -slowdown > limit and result.p_faster <= alpha:
        result.verdict = "improved"
    elif abs(slowdown) > limit:
        result.reason = "not significant"
    elif min(result.p_slower, result.p_faster) <= alpha:
        result.reason = "under threshold"
    return result


@dataclass
class CorrectnessResult:
    """The comparison of one correctness cell."""

    name: str
    kind: str
    verdict: str  # one of CORRECTNESS_VERDICTS
    text: str
    base: dict[str, Any] | None
    now: dict[str, Any] | None
    #: The cell's entries in the re-runs that confirmed (or cleared) a change.
    reruns: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "verdict": self.verdict, "text": self.text, "baseline": self.base,
                "now": self.now, "reruns": self.reruns}


def entry_text(entry: Mapping[str, Any]) -> str:
    """``3/40`` for a probe cell; ``0 wrong, 2 errors (Class 2)`` for a database cell."""
    if entry["kind"] == "probe":
        return f"{entry['violations']}/{entry.get('checks')}"
    if entry["kind"] == "model":
        aspects = "; ".join(f"{k}: {v}" for k, v in (entry.get("aspects") or {}).items())
        return f"{entry['disagreements']} disagreement(s)" + (f" ({aspects})" if aspects else "")
    classes = ", ".join(f"{k} {v}" for k, v in (entry.get("error_classes") or {}).items())
    text = f"{entry.get('wrong_results', 0)} wrong, {entry.get('errors', 0)} errors"
    return text + (f" ({classes})" if classes else "")


def _db_bad(entry: Mapping[str, Any]) -> int:
    return int(entry.get("wrong_results") or 0) + int(entry.get("errors") or 0)


def leaks(entry: Mapping[str, Any]) -> bool:
    """Whether a correctness entry shows a problem: probe violations, or a database wrong result or error."""
    if entry["kind"] == "model":
        return bool(entry["disagreements"])
    return bool(entry["violations"]) if entry["kind"] == "probe" else _db_bad(entry) > 0


def expected_safe(strategy: str) -> bool:
    """False only for a built-in strategy declared unsafe (``global``); a user's factory is expected to be correct."""
    from bench.cell.strategies import STRATEGIES

    info = STRATEGIES.get(strategy)
    return info.expected_safe if info else True


def _compare_probe(base: Mapping[str, Any], now: Mapping[str, Any]) -> tuple[str, str]:
    was, is_, now_text, base_text = base["violations"], now["violations"], entry_text(now), entry_text(base)
    if base.get("stable") is False:
        return "flaky", f"flaky in the baseline (violations per run: {base.get('runs')}), now {now_text}: not judged"
    if was == 0 and is_ > 0:
        return "fail", f"now leaks: {now_text} (baseline isolated: {base_text})"
    if was > 0 and is_ == 0:
        return "fail", f"the probe lost its power: 0 violations now, baseline {base_text}"
    return "ok", f"{'leaks, as in the baseline' if is_ else 'isolates'}: {now_text} (baseline {base_text})"


def _compare_db(base: Mapping[str, Any], now: Mapping[str, Any]) -> tuple[str, str]:
    was, is_, now_text, base_text = _db_bad(base), _db_bad(now), entry_text(now), entry_text(base)
    if is_ > 0 and not expected_safe(str(base.get("strategy"))):
        return "ok", f"{now_text}: a strategy known to be unsafe (not judged; baseline {base_text})"
    if was == 0 and is_ > 0:
        return "fail", f"now {now_text} (baseline clean)"
    if was > 0 and is_ == 0:
        return "ok", f"clean now, baseline {base_text} (a race shows when the timing allows: not judged)"
    return "ok", f"{now_text} (baseline {base_text})"


def _compare_model(base: Mapping[str, Any], now: Mapping[str, Any]) -> tuple[str, str]:
    new = [a for a in now.get("disagree_on") or [] if a not in (base.get("disagree_on") or [])]
    now_text, base_text = entry_text(now), entry_text(base)
    if new:
        return "fail", (f"the model no longer predicts the real stack on {', '.join(new)}: {now_text} "
                        f"(baseline {base_text})")
    if base.get("disagreements") and not now.get("disagreements"):
        return "ok", f"the model predicts the real stack now (baseline {base_text})"
    return "ok", f"{now_text} (baseline {base_text})"


def compare_correctness(name: str, base: Mapping[str, Any], now: Mapping[str, Any]) -> CorrectnessResult:
    """Exact: a change between 'isolates' and 'leaks' either way fails (probes); clean -> not clean fails (db).

    A database strategy declared unsafe (``global``) is reported, never judged: whether its race
    shows in a short window is luck.  A probe cell whose verdict changed between the baseline's own
    runs is ``flaky``: reported, never judged.
    """
    compare_kind = {"probe": _compare_probe, "model": _compare_model}.get(base["kind"], _compare_db)
    verdict, text = compare_kind(base, now)
    return CorrectnessResult(name, base["kind"], verdict, text, dict(base), dict(now))


def in_selection(entry: Mapping[str, Any], plan: GatePlan, measurement: Measurement) -> bool:
    """Whether a baseline entry is one this run was asked to measure again."""
    kind = entry.get("kind")
    if kind == "probe":
        return entry.get("impl") in plan.impls and entry.get("load") in plan.loads and entry.get("probe") in plan.probes
    if kind == "micro":
        return plan.micro and entry.get("subject") in plan.impls
    if kind == "model":
        return plan.stack and measurement.db_ran
    if kind == "db":
        subject = entry.get("strategy", entry.get("subject"))
        return (measurement.db_ran and subject in plan.strategies and entry.get("load") in plan.db_loads
                and entry.get("concurrency") in plan.concurrency)
    return False


@dataclass
class GateOutcome:
    """Every verdict of one comparison."""

    speed: list[SpeedResult] = field(default_factory=list)
    correctness: list[CorrectnessResult] = field(default_factory=list)
    new_speed: list[str] = field(default_factory=list)
    missing_speed: list[str] = field(default_factory=list)
    outside_selection: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[SpeedResult]:
        return [r for r in self.speed if r.verdict == "regression"]

    @property
    def unconfirmed(self) -> list[SpeedResult]:
        return [r for r in self.speed if r.verdict == "unconfirmed"]

    @property
    def failures(self) -> list[CorrectnessResult]:
        return [r for r in self.correctness if r.verdict == "fail"]

    @property
    def flaky(self) -> list[CorrectnessResult]:
        return [r for r in self.correctness if r.verdict == "flaky"]

    @property
    def improvements(self) -> list[SpeedResult]:
        return [r for r in self.speed if r.verdict == "improved"]

    @property
    def failed(self) -> bool:
        """Whether the gate fails: a speed regression or a correctness failure."""
        return bool(self.regressions or self.failures)

    def compared(self) -> int:
        return (sum(1 for r in self.speed if r.verdict != "undecidable")
                + sum(1 for r in self.correctness if r.verdict in ("ok", "fail")))


def compare(baseline: Baseline, measurement: Measurement, plan: GatePlan, thresholds: Thresholds) -> GateOutcome:
    """Compare one measurement with the baseline, within the plan's selection."""
    outcome = GateOutcome()
    for name, base in sorted(baseline.correctness.items()):
        now = measurement.correctness.get(name)
        if not in_selection(base, plan, measurement):
            outcome.outside_selection += 1
        elif now is None:
            text = "in the baseline, not measured now"
            missing = CorrectnessResult(name, base["kind"], "missing", text, dict(base), None)
            outcome.correctness.append(missing)
        else:
            outcome.correctness.append(compare_correctness(name, base, now))
    for name in sorted(set(measurement.correctness) - set(baseline.correctness)):
        now = measurement.correctness[name]
        outcome.correctness.append(CorrectnessResult(name, now["kind"], "new", "not in the baseline", None, dict(now)))
    for name, metric in sorted(baseline.speed.items()):
        now_metric = measurement.speed.get(name)
        if not in_selection(metric.to_json(), plan, measurement):
            outcome.outside_selection += 1
        elif now_metric is None:
            outcome.missing_speed.append(name)
        else:
            outcome.speed.append(compare_speed(metric, now_metric, *thresholds.for_metric(name, metric.kind)))
    outcome.new_speed = sorted(set(measurement.speed) - set(baseline.speed))
    outcome.notes += environment_notes(baseline.environment, measurement.environment)
    return outcome


def environment_notes(base: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Differences between the baseline's machine and software and this run's (ratios travel imperfectly)."""
    def get(doc: Mapping[str, Any], section: str, key: str) -> Any:
        return (doc.get(section) or {}).get(key)

    pairs = [("CPU", "cpu", "model"), ("CPU count", "cpu", "count"), ("Python", "python", "version")]
    pairs += [(package, "packages", package) for package in ENVIRONMENT_PACKAGES]
    notes = []
    for label, section, key in pairs:
        was, is_ = get(base, section, key), get(now, section, key)
        if was != is_:
            notes.append(f"{label} differs from the baseline's: {was} -> {is_} "
                         "(ratios are compared anyway; they can move with it)")
    return notes
