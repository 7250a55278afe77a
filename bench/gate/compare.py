"""The gate's two runs after measuring: write a new baseline, or compare with one, confirm, report.

:func:`update_baseline` runs the probe cells :data:`~bench.gate.plan.BASELINE_PROBE_RUNS`
times in all (a cell whose verdict differs between runs is stored ``stable: false``) and
writes the baseline; a run with errors writes nothing.  :func:`check` compares, confirms
suspects (:mod:`bench.gate.confirm`), prints the report and writes the outputs asked for.
Both return the exit status: 0 clean, 1 a regression or correctness failure, 2 an error
(an error wins: an incomplete run vouches for nothing).  Results go to stdout; error lines
(``ctxbench: error: ...``) and notes to stderr; progress through :mod:`logging`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import EXIT_ERROR, EXIT_OK, EXIT_REGRESSION, UsageError
from bench.gate import stats
from bench.gate.baseline import Baseline, Overrides, baseline_document, mark_stability
from bench.gate.charts import write_charts
from bench.gate.confirm import confirm_correctness, confirm_speed
from bench.gate.decision import GateOutcome, Thresholds, compare
from bench.gate.disturbed import BUSY_PER_CPU
from bench.gate.measure import Measurement, combined_rerun, probe_rerun, speed_remeasure
from bench.gate.output import gate_document, headline, markdown_summary, report
from bench.gate.plan import BASELINE_PROBE_RUNS, GatePlan
from bench.records.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outputs:
    """Where the run's results go: the baseline file, and the optional ``--markdown``/``--json``/``--charts``."""

    baseline: Path
    markdown: Path | None = None
    json: Path | None = None
    charts: Path | None = None


@dataclass(frozen=True)
class Judging:
    """How a run is judged: the thresholds, and how many fresh re-measurements a suspect must survive (``--confirm``;
    0: none)."""

    thresholds: Thresholds
    confirm: int = 0


def _print_errors(errors: Sequence[str]) -> None:
    for line in errors:
        print(f"ctxbench: error: {line}", file=sys.stderr)


def _notes(lines: Sequence[str]) -> None:
    for line in lines:
        print(f"note: {line}", file=sys.stderr)


def baseline_warnings(measurement: Measurement, thresholds: Thresholds) -> list[str]:
    """What makes a new baseline a poor yardstick: a busy machine, metrics whose own spread rivals their threshold."""
    out = []
    cpus = os.cpu_count() or 1
    env = measurement.environment
    loads = [x for x in (env.get("load_average_start") or [])[:1] + (env.get("load_average_end") or [])[:1]
             if isinstance(x, int | float)]
    if loads and max(loads) > BUSY_PER_CPU * cpus:
        out.append("the machine was busy while this baseline was measured "
                   f"(load average up to {max(loads):g} on {cpus} CPUs); "
                   "a baseline from a quiet machine makes a sharper gate")
    noisy = []
    for name, metric in sorted(measurement.speed.items()):
        if len(metric.samples) >= 2:
            centre = stats.median(metric.samples)
            if centre > 0 and stats.mad(metric.samples) / centre > thresholds.for_metric(name, metric.kind)[0] / 2:
                noisy.append(name)
    if noisy:
        out.append(f"{len(noisy)} metric(s) spread by more than half their threshold (MAD/median): "
                   f"{', '.join(noisy[:6])}"
                   + (" ..." if len(noisy) > 6 else "")
                   + "; more samples (--micro-processes, --db-repeats) or an override would steady them")
    return out


def _mark_unstable_probes(plan: GatePlan, measurement: Measurement) -> None:
    """Run the probe cells again; store each one's violations per run and whether its verdict held."""
    log.info("running the probe cells %d more time(s) to find unstable verdicts", BASELINE_PROBE_RUNS - 1)
    rerun = probe_rerun(plan)
    keys = [k for k, v in measurement.correctness.items() if v["kind"] == "probe"]
    runs = []
    for _ in range(BASELINE_PROBE_RUNS - 1):
        fresh, errors = rerun(keys)
        if errors:
            raise UsageError(f"baseline not written: a probe re-run failed: {errors[0]}")
        runs.append(fresh)
    mark_stability(measurement.correctness, runs)
    unstable = [k for k, v in measurement.correctness.items() if v.get("stable") is False]
    if unstable:
        _notes([f"{len(unstable)} probe cell(s) changed verdict between runs and will be reported, not judged: "
                f"{', '.join(unstable)}"])


def update_baseline(plan: GatePlan, measurement: Measurement, overrides: Overrides, thresholds: Thresholds,
                    outputs: Outputs) -> int:
    """Write ``measurement`` as the baseline (keeping ``overrides``) unless the run had errors; the exit status."""
    if measurement.errors:
        _print_errors(measurement.errors)
        _print_errors([f"baseline not written to {outputs.baseline}: the run had {len(measurement.errors)} error(s)"])
        return EXIT_ERROR
    if not measurement.speed and not measurement.correctness:
        raise UsageError("nothing measured: the baseline would be empty")
    if plan.probes:
        _mark_unstable_probes(plan, measurement)
    _notes(baseline_warnings(measurement, Thresholds(thresholds.max_slowdown, thresholds.alpha, overrides)))
    atomic_write_json(outputs.baseline, baseline_document(measurement, plan, overrides))
    kept = sum(1 for m in measurement.speed.values() if len(m.samples) >= 2)
    short = len(measurement.speed) - kept
    left_out = f"; {short} metric(s) left out with fewer than 2 usable samples (see the notes)" if short else ""
    print(f"baseline written to {outputs.baseline}: {len(measurement.correctness)} correctness verdict(s), "
          f"{kept} speed metric(s) in {measurement.seconds:.0f} s{left_out}")
    _notes(measurement.notes)
    write_outputs(outputs, None, None, measurement, plan, [], Judging(thresholds))
    return EXIT_OK


def _nothing_comparable(outcome: GateOutcome, baseline: Baseline) -> str:
    undecided = [r for r in outcome.speed if r.verdict == "undecidable"]
    if undecided:
        return (f"nothing comparable: {len(undecided)} metric(s) undecidable "
                f"(e.g. {undecided[0].name}: {undecided[0].reason})")
    return (f"nothing comparable: this run and {baseline.path} share no metric or verdict "
            f"(baseline selection: {baseline.selection.get('impls')}; check --impl/--load/--strategy)")


def check(plan: GatePlan, measurement: Measurement, baseline: Baseline, judging: Judging, target: Any, *,
          outputs: Outputs) -> int:
    """Compare with the baseline, confirm what changed, report and write the outputs; the exit status."""
    errors = list(measurement.errors)
    outcome = compare(baseline, measurement, plan, judging.thresholds)
    confirm = judging.confirm
    if confirm and outcome.regressions:
        errors += confirm_speed(outcome, baseline.speed, speed_remeasure(plan, target, baseline.speed), confirm)
    if confirm and outcome.failures:
        errors += confirm_correctness(outcome, combined_rerun(plan, target), confirm)
    if outcome.compared() == 0 and not errors:
        errors.append(_nothing_comparable(outcome, baseline))
    report(outcome, baseline, measurement, plan)
    _print_errors(errors)
    write_outputs(outputs, outcome, baseline, measurement, plan, errors, judging)
    print(headline(outcome, errors))
    if errors:
        return EXIT_ERROR
    return EXIT_REGRESSION if outcome.failed else EXIT_OK


def write_outputs(outputs: Outputs, outcome: GateOutcome | None, baseline: Baseline | None, measurement: Measurement,
                  plan: GatePlan, errors: Sequence[str], judging: Judging) -> None:
    """``--markdown``, ``--json`` and ``--charts``, each written whatever the verdict."""
    if outputs.markdown:
        text = markdown_summary(outcome, baseline, measurement, plan, errors, judging.thresholds, judging.confirm)
        atomic_write_text(outputs.markdown, text)
    if outputs.json:
        atomic_write_json(outputs.json, gate_document(outcome, measurement, plan, errors, str(outputs.baseline)))
    if outputs.charts:
        write_charts(outputs.charts, measurement.records, outcome)
