"""The ``fault`` record of one cell, and what receives each one: shared by every scenario module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.faults.running import CellOutcome
from bench.plan.cells import Cell
from bench.records.kinds import FaultRecord, known
from bench.records.schema import to_json

#: Receives each ``fault`` record as its cell ends (a data callback: records, not messages).
Emit = Callable[[FaultRecord], None]


def fault_record(scenario: str, cell: Cell, outcome: CellOutcome, **scenario_fields: Any) -> FaultRecord:
    """The ``fault`` record of one cell: the common fields, the scenario's own fields, the whole ``db`` record.

    ``scenario_fields`` are :class:`~bench.records.kinds.FaultRecord` fields (a name it does not declare is a
    TypeError); ``cell`` holds the ``db`` record in its JSON form, timeline included: nothing measured is dropped.
    """
    rec, problem = outcome
    errors = dict(rec.errors or {})
    return FaultRecord(
        scenario=scenario, strategy=cell.strategy, load=cell.load, concurrency=cell.concurrency, outcome=rec.outcome,
        errors=errors, error_count=sum(errors.values()), error_codes=rec.error_codes or {},
        error_samples=rec.error_samples or {}, wrong_results=known(rec.wrong_results), ops=known(rec.ops),
        ops_per_s=known(rec.ops_per_s), leaked_connections=known(rec.leaked_connections),
        cell_wall_s=known(rec.cell_wall_s), latency_ms=known(rec.latency_ms), latency_hist=known(rec.latency_hist),
        problem=problem, **scenario_fields, cell=to_json(rec),
    )
