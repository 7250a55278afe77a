"""What the gate says: the terminal tables, the headline, the Markdown job page and the ``--json`` document.

The terminal gets the speed table (every compared metric: baseline median ± MAD, now, the
change, the threshold, the p-value, the verdict), the correctness changes and plain summary
sentences on stdout.  :func:`headline` is the one-line verdict (``PASS``, ``FAIL`` or
``ERROR``) every output starts or ends with.  Functions here only format; they measure
and decide nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.gate import stats
from bench.gate.baseline import Baseline
from bench.gate.decision import CORRECTNESS_VERDICTS, SPEED_VERDICTS, GateOutcome, SpeedResult, Thresholds
from bench.gate.measure import Measurement
from bench.gate.plan import DEFAULT_CONFIRM, GatePlan
from bench.present.tables import markdown_table, md_cell, print_table

SPEED_TITLE = "Speed: ratio to the reference in the same run (micro: x threading.local ns/op; db: x locked ops/s)"


AB_SPEED_TITLE = ("Speed, A/B: change / base timed in the same rounds (columns 2-3: each side x threading.local "
                  "ns/op; change: median of the paired ratios)")
AB_RULE = ("A/B: every micro worker process timed the base and the change in the same interleaved rounds; one sample "
           "per process, the median of its per-round ratios change / base. Regression = the median ratio is above "
           "1 + threshold AND a one-sided Wilcoxon signed-rank test of the log ratios against 0 gives p <= alpha")


def is_ab(outcome: GateOutcome) -> bool:
    """Whether the outcome compares two commits in one run (its speed results carry paired ratios)."""
    return any(hasattr(r, "paired") for r in outcome.speed)


def _ratio_text(values: Sequence[float]) -> str:
    if not values:
        return "- (n=0)"
    return f"{stats.median(values):.3f} ±{stats.mad(values):.3f} (n={len(values)})"


def verdict_text(result: SpeedResult) -> str:
    word = "REGRESSION" if result.verdict == "regression" else result.verdict
    return f"{word}: {result.reason}" if result.reason else word


def speed_rows(outcome: GateOutcome) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the speed table: regressions first, then by name."""
    header = ["metric", "baseline (median ± MAD)", "now", "change", "threshold", "p", "verdict"]
    if is_ab(outcome):
        header[1:4] = ["base (median ± MAD)", "change", "change / base"]
    rows = []
    for r in sorted(outcome.speed, key=lambda r: (SPEED_VERDICTS.index(r.verdict), r.name)):
        change = f"{r.slowdown:+.1%} " + ("slower" if r.slowdown >= 0 else "faster")
        rows.append([r.name, _ratio_text(r.base), _ratio_text(r.now), change, f"{r.max_slowdown:.0%} @ {r.alpha:g}",
                     f"{r.p_value:.2g}", verdict_text(r)])
    return header, rows


def correctness_rows(outcome: GateOutcome, *, only_changes: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the correctness table: failures first, then by name."""
    header = ["cell", "verdict", "detail"]
    rows = [[r.name, r.verdict.upper() if r.verdict == "fail" else r.verdict, r.text]
            for r in sorted(outcome.correctness, key=lambda r: (CORRECTNESS_VERDICTS.index(r.verdict), r.name))
            if not only_changes or r.verdict != "ok"]
    return header, rows


def headline(outcome: GateOutcome | None, errors: Sequence[str]) -> str:
    """``ERROR: ...``, ``FAIL: ...``, ``PASS: ...`` or ``baseline written`` (``outcome`` None)."""
    if errors:
        return f"ERROR: {len(errors)} error(s); the run is incomplete"
    if outcome is None:
        return "baseline written"
    undecided = sum(1 for r in outcome.speed if r.verdict == "undecidable")
    extra = f"; {undecided} speed metric(s) undecidable, not judged" if undecided else ""
    if outcome.unconfirmed:
        extra += f"; {len(outcome.unconfirmed)} suspected regression(s) unconfirmed, not judged"
    extra += f"; {len(outcome.flaky)} flaky correctness cell(s) reported, not judged" if outcome.flaky else ""
    if outcome.failed:
        return (f"FAIL: {len(outcome.regressions)} speed regression(s), "
                f"{len(outcome.failures)} correctness failure(s){extra}")
    return (f"PASS: no regression in {len(outcome.speed)} speed metric(s) "
            f"and {len(outcome.correctness)} correctness verdict(s){extra}")


def summary_lines(outcome: GateOutcome, baseline: Baseline, measurement: Measurement, plan: GatePlan) -> list[str]:
    """Plain sentences under the tables: what was compared, skipped, improved, left unjudged, and what differs."""
    micro = sum(1 for r in outcome.speed if r.kind == "micro")
    lines = [f"compared {len(outcome.speed)} speed metric(s) ({micro} micro, {len(outcome.speed) - micro} db) and "
             f"{sum(1 for r in outcome.correctness if r.verdict in ('ok', 'fail'))} correctness verdict(s) "
             f"against {baseline.path} (made {baseline.created or '?'}, "
             f"commit {baseline.environment.get('commit') or '?'})"]
    if outcome.improvements:
        lines.append("improved: " + ", ".join(f"{r.name} ({r.slowdown:+.1%})" for r in outcome.improvements))
    if plan.db and not measurement.db_ran:
        lines.append(f"DB metrics skipped: {measurement.db_skipped or 'no server'}")
    elif not plan.db:
        lines.append("DB metrics not run (--no-db)")
    if outcome.missing_speed:
        lines.append(f"in the baseline but not measured now: {', '.join(outcome.missing_speed)}")
    if outcome.new_speed:
        lines.append(f"new, not in the baseline (not compared): {', '.join(outcome.new_speed)}")
    if outcome.outside_selection:
        lines.append(f"{outcome.outside_selection} baseline entr(y/ies) outside this selection, not compared")
    undecidable = [r for r in outcome.speed if r.verdict == "undecidable"]
    if undecidable:
        lines.append(f"{len(undecidable)} metric(s) undecidable, not judged "
                     f"(e.g. {undecidable[0].name}: {undecidable[0].reason})")
    lines += [f"{r.name}: suspected regression unconfirmed, not judged: {r.reason}" for r in outcome.unconfirmed]
    lines += outcome.notes + measurement.notes
    lines.append(f"gate run took {measurement.seconds:.0f} s")
    return lines


def _styled(cell: str) -> str:
    from rich.markup import escape

    text = escape(cell)
    if cell.startswith(("REGRESSION", "FAIL")):
        return f"[bold red]{text}[/bold red]"
    if cell.startswith("unconfirmed"):
        return f"[yellow]{text}[/yellow]"
    if cell.startswith("improved"):
        return f"[green]{text}[/green]"
    return text


def report(outcome: GateOutcome, baseline: Baseline, measurement: Measurement, plan: GatePlan) -> None:
    """The terminal output: the speed table, the correctness changes, the summary sentences."""
    header, rows = speed_rows(outcome)
    if rows:
        print_table(AB_SPEED_TITLE if is_ab(outcome) else SPEED_TITLE, header, rows, style=_styled)
    header, rows = correctness_rows(outcome, only_changes=True)
    ok = sum(1 for r in outcome.correctness if r.verdict == "ok")
    if rows:
        print_table(f"Correctness: changes ({ok} verdict(s) as in the baseline)", header, rows, style=_styled)
    else:
        print(f"Correctness: all {ok} verdict(s) as in the baseline")
    for line in summary_lines(outcome, baseline, measurement, plan):
        print(f"  {line}")


def thresholds_text(thresholds: Thresholds) -> str:
    kinds = ", ".join(f"{k} {v:.0%}" for k, v in thresholds.max_slowdown.items())
    extra = f", {len(thresholds.overrides)} per-metric override(s)" if thresholds.overrides else ""
    return f"thresholds {kinds}, alpha {thresholds.alpha:g}{extra}"


def _markdown_verdicts(outcome: GateOutcome) -> list[str]:
    """What failed, what was left unconfirmed, what was flaky: the sections above the tables."""
    parts: list[str] = []
    if outcome.failed:
        parts += ["### What failed", ""]
        parts += [f"- **{r.name}**: {r.slowdown:+.1%} slower (threshold {r.max_slowdown:.0%}), p={r.p_slower:.2g}"
                  + (f", confirmed {len(r.confirmations)}x" if r.confirmations else "") for r in outcome.regressions]
        parts += [f"- **{r.name}**: {r.text}" for r in outcome.failures]
        parts.append("")
    if outcome.unconfirmed:
        parts += ["### Unconfirmed suspects (reported, not judged)", "",
                  *[f"- {r.name}: {md_cell(r.reason)}" for r in outcome.unconfirmed], ""]
    if outcome.flaky:
        parts += ["### Flaky correctness cells (reported, not judged)", "",
                  *[f"- {r.name}: {md_cell(r.text)}" for r in outcome.flaky], ""]
    return parts


def _markdown_comparison(outcome: GateOutcome, baseline: Baseline, measurement: Measurement, plan: GatePlan,
                         thresholds: Thresholds, confirm: int) -> list[str]:
    parts = _markdown_verdicts(outcome)
    parts += ["### Run", "", *[f"- {md_cell(line)}" for line in summary_lines(outcome, baseline, measurement, plan)]]
    parts += ["", "### Speed: ratios to the reference measured in the same run", "",
              "micro: ns per op / threading.local's, one sample per process; "
              "db: ops/s / locked's, one sample per repeat. "
              + (AB_RULE + " " if is_ab(outcome) else
                 "Regression = slower by more than the threshold AND one-sided Mann-Whitney p <= alpha ")
              + f"({thresholds_text(thresholds)}), "
              + (f"seen again in {confirm} fresh re-measurement(s)." if confirm
                 else "without re-measurement (--confirm 0)."), ""]
    header, rows = speed_rows(outcome)
    parts += [markdown_table(header, rows) if rows else "_no speed metric compared_", ""]
    header, rows = correctness_rows(outcome, only_changes=True)
    ok = sum(1 for r in outcome.correctness if r.verdict == "ok")
    parts += ["### Correctness", "", f"{ok} verdict(s) as in the baseline.", ""]
    if rows:
        parts += [markdown_table(header, rows), ""]
    return parts


def markdown_summary(outcome: GateOutcome | None, baseline: Baseline | None, measurement: Measurement, plan: GatePlan,
                     errors: Sequence[str], thresholds: Thresholds, confirm: int = DEFAULT_CONFIRM) -> str:
    """The CI job page: the verdict first, then what failed, then every metric."""
    parts = [f"## ctxbench regress: {headline(outcome, errors)}", ""]
    if errors:
        parts += ["### Errors", "", *[f"- `{md_cell(e)}`" for e in errors], ""]
    if outcome is not None and baseline is not None:
        parts += _markdown_comparison(outcome, baseline, measurement, plan, thresholds, confirm)
    else:
        parts += [f"- {len(measurement.speed)} speed metric(s), {len(measurement.correctness)} correctness verdict(s) "
                  f"measured in {measurement.seconds:.0f} s"]
        if measurement.db_skipped:
            parts.append(f"- DB metrics skipped: {md_cell(measurement.db_skipped)}")
    env = measurement.environment
    cpu, python = env.get("cpu") or {}, env.get("python") or {}
    parts += ["", "<details><summary>Run settings and environment</summary>", "",
              f"- settings: `{plan.settings()}`", f"- CPU: {cpu.get('model')} x{cpu.get('count')}",
              f"- Python {python.get('version')}, commit {env.get('commit')}",
              f"- load average: {env.get('load_average_start')} -> {env.get('load_average_end')}", "", "</details>", ""]
    return "\n".join(parts)


def gate_document(outcome: GateOutcome | None, measurement: Measurement, plan: GatePlan, errors: Sequence[str],
                  baseline_path: str) -> dict[str, Any]:
    """``--json``: this run's records and environment (the results format) plus ``"gate"``: every verdict."""
    from bench.records.io import results_document

    doc = results_document(measurement.environment, measurement.records)
    doc["gate"] = {
        "headline": headline(outcome, errors), "baseline": baseline_path, "errors": list(errors),
        "notes": measurement.notes,
        "db_skipped": measurement.db_skipped, "settings": plan.settings(), "selection": plan.selection(),
        "seconds": round(measurement.seconds, 1),
        "speed": [r.to_json() for r in outcome.speed] if outcome else [],
        "correctness": [r.to_json() for r in outcome.correctness] if outcome else [],
    }
    return doc
