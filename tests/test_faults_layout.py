"""The faults package's contracts: the hang strategy's name, a plan checked by value, tenacity's loops.

(Module and function sizes and private names across stages are checked for every package in test_layout.py.)

Fast: nothing here starts a server or a cell.
"""

from __future__ import annotations

import pkgutil
from typing import Any

import pytest

from bench.errors import UsageError


def test_the_hang_strategy_is_the_path_of_blocking_pool() -> None:
    """The strategy name the ``hang`` records carry resolves to the factory, wherever it lives."""
    import bench.faults as faults

    assert pkgutil.resolve_name(faults.HANG_STRATEGY) is faults.blocking_pool
    assert faults.HANG_STRATEGY == f"{faults.blocking_pool.__module__}:blocking_pool"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"down": 100.0}, "--down"),  # too long an outage: the outage is the bad value, not the duration
        ({"down": 0.0}, "--down"),
        ({"duration": 3.0}, "--duration"),
        ({"max_connections": 1}, "--max-connections"),
        ({"hang_after": 0.0}, "--hang-after"),
        ({"soak_duration": -1.0}, "--soak-duration"),
        ({"scenarios": ("nope",)}, "unknown fault scenario 'nope'"),
    ],
)
def test_validate_names_the_bad_value(changes: dict[str, object], named: str) -> None:
    import dataclasses

    import bench.faults as faults

    with pytest.raises(UsageError) as info:
        faults.validate(dataclasses.replace(faults.FaultPlan(), **changes))
    assert named in str(info.value).split(" must")[0], str(info.value)  # the value the message is about


# --- the loops that tenacity runs


def test_poll_returns_the_first_value_that_holds_or_the_last_one() -> None:
    from bench.poll import poll

    values = iter([5, 4, 3, 2, 1])
    assert poll(lambda: next(values), until=lambda v: v <= 3, timeout=5.0, interval=0.0) == 3
    assert poll(lambda: 7, until=lambda v: v <= 3, timeout=0.1, interval=0.02) == 7  # timed out: the last value


def test_a_server_fault_cell_that_missed_the_recovery_runs_once_more(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rerun is logged (not printed through a callback) and counted in ``attempts``; the last result is kept."""
    import logging

    from bench.faults import scenarios
    from bench.plan.cells import Cell
    from bench.records.kinds import FaultRecord

    class Collect(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.INFO)
            self.records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

    cell = Cell("db", "pooled", "threads", 8)

    def fault(**fields: Any) -> FaultRecord:
        return FaultRecord(scenario="kill", strategy="pooled", load="threads", concurrency=8, **fields)

    results = iter([fault(note="recovery not observed"), fault(recovered=True)])
    monkeypatch.setattr(scenarios, "_server_fault_cell", lambda *_args: next(results))
    logger, caught = logging.getLogger(scenarios.__name__), Collect()
    level = logger.level
    logger.addHandler(caught)
    logger.setLevel(logging.INFO)
    try:
        got = scenarios._server_fault_with_rerun(None, scenarios.FaultPlan(), "kill", cell)  # type: ignore[arg-type]
    finally:
        logger.removeHandler(caught)
        logger.setLevel(level)
    assert got == fault(recovered=True, attempts=2)
    assert [r.getMessage() for r in caught.records] == [
        "kill: db pooled threads c=8", "kill: db pooled threads c=8 (attempt 2: recovery not observed the first time)"]

    always = iter([fault(note="1"), fault(note="2"), fault(note="3")])
    monkeypatch.setattr(scenarios, "_server_fault_cell", lambda *_args: next(always))
    assert scenarios._server_fault_with_rerun(None, scenarios.FaultPlan(), "kill", cell) == fault(  # type: ignore[arg-type]
        note="2", attempts=scenarios.SERVER_FAULT_ATTEMPTS)
