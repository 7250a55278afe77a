"""The locals half through the pipeline: probe cells (impl x load), then the micro-benchmarks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.exec.pipeline import MemorySink, Pipeline
from bench.plan.cells import plan_locals
from bench.plan.interpreters import Interpreter
from bench.plan.selection import LocalsPlan
from bench.records.kinds import Record


@dataclass
class LocalsOutcome:
    records: list[Record] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: What each load verified about itself, by load name.
    load_facts: dict[str, Any] = field(default_factory=dict)


def run_locals(plan: LocalsPlan, *, jobs: int = 2, quiet: bool = False, sink: MemorySink | None = None,
               interpreters: Sequence[Interpreter] | None = None) -> LocalsOutcome:
    """Run the probe cells (and micro-benchmarks if planned) into ``sink`` (a fresh memory sink by default), on
    each of ``interpreters`` (the parent's own when None)."""
    sink = sink if sink is not None else MemorySink()
    pipeline = Pipeline(sink, title="locals", jobs=jobs, quiet=quiet)
    pipeline.run(plan_locals(plan, interpreters=interpreters))
    return LocalsOutcome(records=sink.records, errors=pipeline.errors, load_facts=pipeline.load_facts)
