"""The baseline file: what it holds, reading it strictly, writing it, and the overrides kept across updates.

A baseline is a JSON object with ``"format": "ctxbench-baseline"``, the suite's schema
version, the environment, the plan's settings and selection, the correctness entries,
the speed metrics (samples included) and ``"overrides"``: per-metric ``max_slowdown``
and/or ``alpha``, keyed by metric name or fnmatch pattern.  :func:`read_baseline` raises
:class:`bench.records.io.RecordError` (one line, naming the file) for anything else.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.gate.measure import Measurement
from bench.gate.metrics import Metric
from bench.gate.plan import MAX_ALPHA, MAX_SLOWDOWN_LIMIT, GatePlan, fraction
from bench.records.io import SCHEMA_VERSION, RecordError, read_json

log = logging.getLogger(__name__)

#: What a baseline file says it is, so a results file given by mistake is named as such.
BASELINE_FORMAT = "ctxbench-baseline"

Overrides = dict[str, dict[str, float]]


@dataclass
class Baseline:
    """A parsed baseline file."""

    path: Path
    created: str | None
    environment: dict[str, Any]
    settings: dict[str, Any]
    selection: dict[str, Any]
    correctness: dict[str, dict[str, Any]]
    speed: dict[str, Metric]
    overrides: Overrides
    db_skipped: str | None = None


def check_overrides(path: Path, raw: Any) -> Overrides:
    """The ``"overrides"`` object, each threshold checked like its flag; RecordError otherwise."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RecordError(f"{path}: 'overrides' must be an object of metric name -> {{max_slowdown, alpha}}")
    out: Overrides = {}
    for pattern, entry in raw.items():
        if not isinstance(entry, dict) or not entry or set(entry) - {"max_slowdown", "alpha"}:
            raise RecordError(f"{path}: override {pattern!r} must be an object with max_slowdown and/or alpha")
        limit = MAX_SLOWDOWN_LIMIT.get(str(pattern).partition("/")[0], max(MAX_SLOWDOWN_LIMIT.values()))
        highs = {"max_slowdown": limit, "alpha": MAX_ALPHA}
        try:
            out[str(pattern)] = {key: fraction(f"override {pattern!r} {key}", value, highs[key])
                                 for key, value in entry.items()}
        except ValueError as exc:
            raise RecordError(f"{path}: {exc}") from None
    return out


def _check_correctness(path: Path, correctness: dict[str, Any]) -> None:
    for name, entry in correctness.items():
        ok = isinstance(entry, dict) and entry.get("kind") in ("probe", "db", "model")
        field = {"probe": "violations", "model": "disagreements"}.get(entry.get("kind"), "wrong_results") if ok \
            else "wrong_results"
        count = entry.get(field) if ok else None
        if not ok or isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise RecordError(f"{path}: malformed correctness entry {name!r}")


def read_baseline(path: Path) -> Baseline:
    """Parse and check a baseline file; RecordError (one line, naming the file) for anything wrong with it."""
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise RecordError(f"{path}: not a ctxbench baseline (not a JSON object)")
    if doc.get("format") != BASELINE_FORMAT:
        hint = " (it looks like a results file; make a baseline with --update-baseline)" if "records" in doc else ""
        raise RecordError(f"{path}: not a ctxbench baseline{hint}")
    if doc.get("schema") != SCHEMA_VERSION:
        raise RecordError(f"{path}: baseline schema version {doc.get('schema')!r}, "
                          f"this ctxbench reads {SCHEMA_VERSION}; make a new one with --update-baseline")
    correctness, speed = doc.get("correctness"), doc.get("speed")
    if not isinstance(correctness, dict) or not isinstance(speed, dict):
        raise RecordError(f"{path}: malformed baseline ('correctness' and 'speed' must be objects)")
    _check_correctness(path, correctness)
    try:
        metrics = {str(name): Metric.from_json(str(name), entry) for name, entry in speed.items()}
    except ValueError as exc:
        raise RecordError(f"{path}: {exc}") from None
    return Baseline(path=path, created=doc.get("created"), environment=doc.get("environment") or {},
                    settings=doc.get("settings") or {}, selection=doc.get("selection") or {}, correctness=correctness,
                    speed=metrics, overrides=check_overrides(path, doc.get("overrides")),
                    db_skipped=doc.get("db_skipped"))


def baseline_document(measurement: Measurement, plan: GatePlan,
                      overrides: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """The JSON a baseline file holds (metrics with fewer than two samples left out)."""
    return {
        "format": BASELINE_FORMAT,
        "schema": SCHEMA_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": measurement.environment,
        "settings": plan.settings(),
        "selection": plan.selection(),
        "db_skipped": measurement.db_skipped,
        "overrides": dict(overrides),
        "correctness": measurement.correctness,
        "speed": {name: metric.to_json() for name, metric in sorted(measurement.speed.items())
                  if len(metric.samples) >= 2},
    }


def previous_overrides(path: Path) -> Overrides:
    """The overrides of the baseline about to be replaced (kept across --update-baseline), if it is readable."""
    if not path.exists():
        return {}
    try:
        return read_baseline(path).overrides
    except RecordError as exc:
        log.warning("the old baseline is not readable (%s); no overrides carried over", exc)
        return {}


def mark_stability(correctness: dict[str, dict[str, Any]], runs: Sequence[Mapping[str, Mapping[str, Any]]]) -> None:
    """Store each probe cell's violations per run; a cell whose verdict (leaks or not) differed is ``stable: false``."""
    for name, entry in correctness.items():
        if entry["kind"] != "probe":
            continue
        counts = [entry["violations"], *(run[name]["violations"] for run in runs if name in run)]
        entry["runs"] = counts
        entry["stable"] = len({bool(c) for c in counts}) == 1
