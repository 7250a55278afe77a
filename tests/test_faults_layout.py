"""The faults package's shape: small modules, no private name borrowed from another stage, a plan checked by value.

Fast: nothing here starts a server or a cell.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest

from bench.errors import UsageError
from bench.records.environment import PROJECT_ROOT

FAULTS = PROJECT_ROOT / "bench" / "faults"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_LINE = 120


def _modules() -> list[Path]:
    return sorted(FAULTS.glob("*.py"))


def _bench_modules_bound(tree: ast.AST) -> dict[str, str]:
    """Local name -> module path, for every ``import``/``from ... import`` of a bench module outside bench.faults."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("bench.") and alias.asname:
                    bound[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bench"):
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return {name: path for name, path in bound.items() if not path.startswith("bench.faults")}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_faults_use_no_private_name_of_another_stage() -> None:
    """What faults need from the cell, the executor or the server is public there (it was ``dbwork._RATE_BOUND``)."""
    borrowed = []
    for path in _modules():
        tree = ast.parse(path.read_text(), str(path))
        bound = _bench_modules_bound(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bench"):
                borrowed += [f"{path.name}: from {node.module} import {a.name}" for a in node.names if _private(a.name)]
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound:
                if _private(node.attr):
                    borrowed.append(f"{path.name}:{node.lineno}: {bound[node.value.id]}.{node.attr}")
    assert borrowed == []


def test_faults_modules_and_functions_stay_small() -> None:
    too_big = []
    for path in _modules():
        text = path.read_text()
        lines = text.splitlines()
        if len(lines) > MAX_MODULE_LINES:
            too_big.append(f"{path.name}: {len(lines)} lines")
        too_big += [f"{path.name}:{n}: {len(line)} chars" for n, line in enumerate(lines, 1) if len(line) > MAX_LINE]
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_big.append(f"{path.name}: {node.name} {length} lines")
    assert too_big == []


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
    from bench.faults.running import poll

    values = iter([5, 4, 3, 2, 1])
    assert poll(lambda: next(values), until=lambda v: v <= 3, timeout=5.0, interval=0.0) == 3
    assert poll(lambda: 7, until=lambda v: v <= 3, timeout=0.1, interval=0.02) == 7  # timed out: the last value


def test_a_server_fault_cell_that_missed_the_recovery_runs_once_more(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rerun is logged (not printed through a callback) and counted in ``attempts``; the last result is kept."""
    import logging

    from bench.faults import scenarios
    from bench.plan.cells import Cell

    class Collect(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.INFO)
            self.records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

    cell = Cell("db", "pooled", "threads", 8)
    results = iter([{"note": "recovery not observed"}, {"recovered": True}])
    monkeypatch.setattr(scenarios, "_server_fault_cell", lambda *_args: next(results))
    logger, caught = logging.getLogger(scenarios.__name__), Collect()
    level = logger.level
    logger.addHandler(caught)
    logger.setLevel(logging.INFO)
    try:
        fault = scenarios._server_fault_with_rerun(None, scenarios.FaultPlan(), "kill", cell)  # type: ignore[arg-type]
    finally:
        logger.removeHandler(caught)
        logger.setLevel(level)
    assert fault == {"recovered": True, "attempts": 2}
    assert [r.getMessage() for r in caught.records] == [
        "kill: db pooled threads c=8", "kill: db pooled threads c=8 (attempt 2: recovery not observed the first time)"]

    always = iter([{"note": "1"}, {"note": "2"}, {"note": "3"}])
    monkeypatch.setattr(scenarios, "_server_fault_cell", lambda *_args: next(always))
    assert scenarios._server_fault_with_rerun(None, scenarios.FaultPlan(), "kill", cell) == {  # type: ignore[arg-type]
        "note": "2", "attempts": scenarios.SERVER_FAULT_ATTEMPTS}
