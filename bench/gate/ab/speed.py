"""A/B decision: the change and the base timed in the same rounds of the same processes, judged on paired ratios.

Contract
    :func:`ab_speed` makes one :class:`ABResult` per impl x op measured on both sides.  Its
    samples are one per fresh process: the median over that process's rounds of the
    round's ratio change / base (the two timings of a round are milliseconds apart, so a
    step in the machine's speed hits both).  The verdict is ``regression`` when the median
    ratio exceeds 1 + threshold AND a one-sided Wilcoxon signed-rank test of the log ratios
    against 0 gives p <= alpha; the mirror image is ``improved``; too few processes to ever
    reach alpha is ``undecidable``.  :func:`ab_correctness` compares each probe cell's base
    and change verdicts exactly (the rule of :func:`bench.gate.decision.compare_correctness`).
    Impls measured on one side only are listed, not judged.  Nothing here measures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.cell.base_subject import base_name, change_name, is_base
from bench.cell.micro import SUBJECT_PLAIN, SUBJECT_REFERENCE
from bench.gate import stats
from bench.gate.decision import CorrectnessResult, SpeedResult, Thresholds, compare_correctness, settle
from bench.gate.metrics import micro_name, per_process_ratios
from bench.records.kinds import MicroRecord, Record


@dataclass
class ABResult(SpeedResult):
    """A :class:`SpeedResult` whose ``base``/``now`` are each side's ratio to threading.local (for display) and whose
    decision was made on ``paired``: per process, the median of the per-round ratios change / base."""

    paired: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def centre(values: list[float]) -> float | None:
            return stats.median(values) if values else None

        unit = "process" if self.kind == "micro" else "pair of cells"
        return {"metric": self.name, "kind": self.kind, "verdict": self.verdict, "reason": self.reason,
                "base_median": centre(self.base), "base_samples": [round(s, 6) for s in self.base],
                "change_median": centre(self.now), "change_samples": [round(s, 6) for s in self.now],
                "paired_ratios": [round(s, 6) for s in self.paired],
                "test": f"one-sided Wilcoxon signed-rank on log(change/base), one sample per {unit}",
                "slowdown": round(self.slowdown, 5), "p_slower": self.p_slower, "p_faster": self.p_faster,
                "max_slowdown": self.max_slowdown, "alpha": self.alpha,
                "confirmations": [c.to_json() for c in self.confirmations]}


def signed_rank_p(logs: Sequence[float], alternative: str) -> float:
    """One-sided Wilcoxon signed-rank p-value of ``logs`` against 0 (exact for small samples; zeros dropped)."""
    from scipy.stats import wilcoxon

    values = [v for v in logs if v != 0.0]
    if not values:
        return 1.0
    return float(wilcoxon(values, alternative=alternative, zero_method="wilcox").pvalue)


def min_signed_rank_p(n: int) -> float:
    """The smallest one-sided p an exact signed-rank test of ``n`` samples can give: every sign alike."""
    return 0.5 ** n if n > 0 else 1.0


def judge(name: str, paired: list[float], base: list[float], now: list[float], max_slowdown: float,
          alpha: float) -> ABResult:
    """The verdict of one impl x op from its paired per-process ratios (see the module docstring)."""
    slowdown = stats.median(paired) - 1.0 if paired else 0.0
    if len(paired) < 2 or min_signed_rank_p(len(paired)) > alpha:
        reason = (f"{len(paired)} paired sample(s) cannot reach p <= {alpha:g} "
                  f"(best possible {min_signed_rank_p(len(paired)):.3g})")
        return ABResult(name, "micro", base, now, max_slowdown, alpha, slowdown, 1.0, 1.0, "undecidable", reason,
                        paired=paired)
    logs = [math.log(r) for r in paired]
    p_slower, p_faster = signed_rank_p(logs, "greater"), signed_rank_p(logs, "less")
    return settle(ABResult(name, "micro", base, now, max_slowdown, alpha, slowdown, p_slower, p_faster, "ok",
                           paired=paired))


def _reference_ratios(rec: MicroRecord, ref: MicroRecord | None) -> list[float]:
    return per_process_ratios(rec, ref)[0] if ref is not None else []


def ab_speed(records: Iterable[Record], thresholds: Thresholds, notes: list[str]) -> list[ABResult]:
    """One result per impl x op with micro records on both sides, by name."""
    micro = {(r.impl, r.op): r for r in records if isinstance(r, MicroRecord)}
    out = []
    for (impl, op), rec in sorted(micro.items()):
        if is_base(impl) or impl in (SUBJECT_PLAIN, SUBJECT_REFERENCE):
            continue
        base_rec = micro.get((base_name(impl), op))
        if base_rec is None:
            continue
        name = micro_name(impl, op)
        paired, why = per_process_ratios(rec, base_rec)
        if why:
            notes.append(f"{name}: {why}")
        ref = micro.get((SUBJECT_REFERENCE, op))
        result = judge(name, paired, _reference_ratios(base_rec, ref), _reference_ratios(rec, ref),
                       *thresholds.for_metric(name, "micro"))
        out.append(result)
    return out


def one_sided(measured: Iterable[str], asked: Sequence[str]) -> tuple[list[str], list[str]]:
    """(impls measured on the change side only, on the base side only) among ``asked`` and what was measured."""
    seen = set(measured)
    change_only = [n for n in asked if n in seen and base_name(n) not in seen]
    base_only = [change_name(n) for n in seen if is_base(n) and change_name(n) not in seen]
    return change_only, sorted(base_only)


def ab_correctness(entries: Mapping[str, Mapping[str, Any]]) -> list[CorrectnessResult]:
    """Each probe cell's change verdict against its base verdict from the same run; one side only is reported."""
    out = []
    for key, now in sorted(entries.items()):
        parts = key.split("/")
        if now.get("kind") != "probe" or len(parts) < 4:
            continue
        impl = "/".join(parts[1:-2])
        if is_base(impl):
            if f"probe/{change_name(impl)}/{parts[-2]}/{parts[-1]}" not in entries:
                out.append(CorrectnessResult(key, "probe", "missing", "measured on the base side only, not judged",
                                             dict(now), None))
            continue
        base = entries.get(f"probe/{base_name(impl)}/{parts[-2]}/{parts[-1]}")
        if base is None:
            out.append(CorrectnessResult(key, "probe", "new", "measured on the change side only, not judged", None,
                                         dict(now)))
        else:
            out.append(compare_correctness(key, base, now))
    return out
