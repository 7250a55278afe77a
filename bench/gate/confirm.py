"""Confirmation: a suspect is measured again from scratch before it may fail the gate.

:func:`confirm_speed` re-measures every ``regression`` ``rounds`` times through a
:data:`~bench.gate.measure.Remeasure`; a regression seen again every time stays a
regression; one that is not seen again becomes ``ok`` (``not confirmed: ...``); one that
gets no usable fresh sample becomes ``unconfirmed``, with the reason, and does not fail the
gate -- a verdict needs evidence both times.  :func:`confirm_correctness` re-runs every
changed probe cell (and database cell with errors only) through a
:data:`~bench.gate.measure.Rerun`; a change not seen on every re-run becomes ``flaky``.
A database wrong result is never re-run: the oracle has no false positives.
Both return the error lines of the measurements they made (an error of the run).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from bench.gate.decision import CorrectnessResult, GateOutcome, SpeedResult, compare_speed, entry_text, leaks
from bench.gate.measure import Fresh, Remeasure, Rerun
from bench.gate.metrics import Metric

log = logging.getLogger(__name__)


def _first(result: SpeedResult) -> str:
    return f"first {result.slowdown:+.1%} p={result.p_slower:.2g}"


def _why_no_sample(name: str, fresh: Fresh, check: SpeedResult | None) -> str:
    """Why a confirmation gave no usable sample of ``name``: its note, the run's errors, or the comparison's reason."""
    if check is not None:
        return check.reason
    said = [note.partition(": ")[2] for note in fresh.notes if note.startswith(f"{name}: ")]
    if said:
        return "; ".join(said)
    if fresh.errors:
        return f"the re-measurement failed: {fresh.errors[0]}"
    return "the re-measurement returned no samples of it"


def _judge_again(result: SpeedResult, base: Metric, fresh: Fresh, round_no: int, rounds: int) -> None:
    """Update one suspect with the fresh samples of one confirmation round."""
    again = fresh.metrics.get(result.name)
    check = compare_speed(base, again, result.max_slowdown, result.alpha) if again is not None else None
    if check is not None:
        result.confirmations.append(check)
    if check is None or check.verdict == "undecidable":
        why = _why_no_sample(result.name, fresh, check)
        result.verdict = "unconfirmed"
        result.reason = f"no fresh sample in confirmation {round_no}/{rounds} ({why}); {_first(result)}: not judged"
        log.warning("%s: suspected regression left unconfirmed: %s", result.name, why)
    elif check.verdict == "regression":
        result.reason = "confirmed: " + ", ".join(f"{c.slowdown:+.1%} p={c.p_slower:.2g}" for c in result.confirmations)
    else:
        result.verdict = "ok"
        result.reason = f"not confirmed: {_first(result)}, again {check.slowdown:+.1%} p={check.p_slower:.2g}"


def confirm_speed(outcome: GateOutcome, baseline_speed: Mapping[str, Metric], remeasure: Remeasure,
                  rounds: int) -> list[str]:
    """Measure every suspected regression again, ``rounds`` times (see the module docstring); error lines."""
    errors: list[str] = []
    for round_index in range(rounds):
        suspects = outcome.regressions
        if not suspects:
            break
        log.info("%d suspected regression(s); confirming (%d/%d) with a fresh measurement",
                 len(suspects), round_index + 1, rounds)
        fresh = remeasure([r.name for r in suspects])
        errors += fresh.errors
        for result in suspects:
            _judge_again(result, baseline_speed[result.name], fresh, round_index + 1, rounds)
    return errors


def _rerun_suspects(results: Sequence[CorrectnessResult]) -> list[CorrectnessResult]:
    """Changed verdicts worth running again: all but a database wrong result."""
    return [r for r in results if r.verdict == "fail" and not (r.kind == "db" and (r.now or {}).get("wrong_results"))]


def confirm_correctness(outcome: GateOutcome, rerun: Rerun, rounds: int) -> list[str]:
    """Run every changed cell again, ``rounds`` times; a change not seen every time is ``flaky``, not a failure.

    The probes move their workers in lock-step, so a real change of a Local's behaviour shows
    on every run; a change that comes and goes is the probe meeting the machine's timing.
    Returns error lines.
    """
    errors: list[str] = []
    suspects = _rerun_suspects(outcome.correctness)
    for round_index in range(rounds):
        suspects = [r for r in suspects if r.verdict == "fail"]
        if not suspects:
            break
        log.info("%d changed correctness verdict(s); running those cells again (%d/%d)",
                 len(suspects), round_index + 1, rounds)
        fresh, errs = rerun([r.name for r in suspects])
        errors += errs
        for result in suspects:
            again = fresh.get(result.name)
            if again is None or result.now is None:
                continue
            result.reruns.append(again)
            if leaks(again) != leaks(result.now):
                result.verdict = "flaky"
                result.text += f"; not seen again on a re-run ({entry_text(again)}): flaky, not judged"
    for result in suspects:
        if result.verdict == "fail" and result.reruns:
            result.text += f" (seen again on {len(result.reruns)} re-run(s))"
    return errors
