"""The locals half: plan the impl x load probe cells, run them, add the micro-benchmarks.

Probe cells do not time anything, so two run at once (one per core); the
micro-benchmarks do, so they run after, one process at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.plan.matrix import PROBE_CELL_TIMEOUT, LocalsPlan
from bench.exec.progress import CellProgress
from bench.exec.spawn import CellResult, run_cells


@dataclass
class LocalsOutcome:
    records: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: What each load verified about itself, by load name.
    load_facts: dict[str, Any] = field(default_factory=dict)


def probe_specs(plan: LocalsPlan) -> list[dict[str, Any]]:
    """One spec per impl x load; every probe of the plan runs in that cell."""
    return [
        {"task": "probes", "impl": impl, "load": load, "workers": plan.workers, "probes": list(plan.probes)}
        for load in plan.loads
        for impl in plan.impls
    ]


def _cell_label(spec: dict[str, Any]) -> str:
    return f"{spec['impl']} x {spec['load']}"


def run_locals(
    plan: LocalsPlan,
    *,
    jobs: int = 2,
    quiet: bool = False,
    on_records: Callable[[list[dict[str, Any]]], None] | None = None,
) -> LocalsOutcome:
    """Run the probe cells (and micro-benchmarks if planned); report records as they arrive."""
    outcome = LocalsOutcome()
    specs = probe_specs(plan)
    seen_errors: set[str] = set()

    def add_error(line: str) -> None:
        if line not in seen_errors:
            seen_errors.add(line)
            outcome.errors.append(line)
            bar.log(f"ctxbench: error: {line}")

    def done(result: CellResult) -> None:
        label = _cell_label(result.spec)
        if result.failure:
            add_error(f"cell {label}: {result.failure}")
        for rec in result.records:
            if rec.get("outcome") == "error" and rec.get("error"):
                add_error(rec["error"])
        if "load" in result.facts:
            outcome.load_facts[result.spec["load"]] = result.facts["load"]
        outcome.records.extend(result.records)
        if on_records:
            on_records(outcome.records)
        bad = sum(1 for r in result.records if r.get("violations"))
        bar.finished(label, f"{bad} probe(s) with violations" if bad else "")

    micro_total = 1 if plan.micro else 0
    with CellProgress(len(specs) + micro_total, "locals", quiet=quiet) as bar:
        bar.running("probe cells")
        run_cells(specs, timeout=PROBE_CELL_TIMEOUT, jobs=jobs, on_done=done)
        if plan.micro:
            from bench.exec.micro import run_micro

            bar.running("micro-benchmarks")
            records, errors = run_micro(
                list(plan.impls),
                processes=plan.micro_processes,
                values=plan.micro_values,
                progress=bar.running,
            )
            for line in errors:
                add_error(line)
            outcome.records.extend(records)
            if on_records:
                on_records(outcome.records)
            bar.finished("micro-benchmarks")
    return outcome
