"""The parent side of one database cell: spawn it, then add what only the parent can know.

A cell measures itself in its own process (:mod:`bench.cell`); the parent adds the server's
capacity at that concurrency (``mysqlslap``, the C client, as the ceiling the Python clients are
compared with) and whether the server still holds connections once the cell's process is gone
(``leaked_connections``).  A cell the parent had to kill is recorded ``hung``; a cell that crashed
leaves a record saying so and an error line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import bench.server as mysql
from bench.cell.db import DEFAULT_MIX, target_spec
from bench.exec.spawn import run_cell
from bench.plan.cells import Cell, Timing
from bench.plan.matrix import CEILING_QUERIES, CEILING_QUERY, CEILING_REPEATS, LEAK_WAIT
from bench.plan.specs import DbTask
from bench.poll import poll
from bench.records.kinds import UNSET, CeilingRecord, DbRecord, RequestRecord, known
from bench.server.procinfo import listening_pid


def measure_ceiling(target: Any, concurrency: int, *, query: str = CEILING_QUERY, queries: int = CEILING_QUERIES,
                    repeats: int = CEILING_REPEATS) -> list[float] | None:
    """``mysqlslap`` queries/s at ``concurrency``, one value per run (None when mysqlslap is not installed)."""
    values = []
    for _ in range(repeats):
        value = mysql.mysqlslap_ceiling(target, concurrency=concurrency, queries=max(queries, concurrency), query=query)
        if value is None:
            return None
        values.append(round(float(value), 1))
    return values


def ceiling_record(concurrency: int, values: list[float] | None) -> CeilingRecord:
    """The record of a ceiling cell: every mysqlslap run, and the best as the ceiling."""
    return CeilingRecord(concurrency=concurrency, query=CEILING_QUERY, samples=values,
                         ops_per_s=max(values) if values else None, outcome="ok" if values else "skipped")


def threads_connected(target: Any) -> int | None:
    """The server's ``Threads_connected`` now, or None when it cannot be read (the leak check is advisory)."""
    try:
        return int(mysql.server_counters(target)["Threads_connected"])
    except Exception:  # any failure to read leaves the count unknown, which the record says (None)
        return None


def leak_check(target: Any, before: int | None, wait: float = LEAK_WAIT) -> int | None:
    """Connections the server still holds beyond ``before``, once it had ``wait`` seconds to drop them."""
    if before is None:
        return None
    now = poll(lambda: threads_connected(target), until=lambda n: n is None or n <= before, timeout=wait,
               interval=0.1)
    return None if now is None else max(0, now - before)


def stub_record(cell: Cell, outcome: str, reason: str, **extra: Any) -> DbRecord | RequestRecord:
    """The record of a cell that produced none of its own (skipped, hung, crashed): the one place it is made."""
    several = {"processes": cell.processes, "total_concurrency": cell.total_concurrency} if cell.processes > 1 else {}
    if cell.rtt_ms is not None:  # the coordinate, so the record is read as its cell's
        several["rtt_set_ms"] = float(cell.rtt_ms)
    if cell.driver is not None:
        several["driver"] = cell.driver
    fields: dict[str, Any] = {
        **several, "strategy": cell.strategy, "load": cell.load, "concurrency": cell.concurrency, "outcome": outcome,
        "reason": reason, "ops": None, "ops_per_s": None, "errors": {}, "wrong_results": None,
        "server_ceiling_ops_per_s": None, "ratio_to_ceiling": None, **extra}
    if cell.kind == "request":
        return RequestRecord(impl=str(cell.impl), **fields)
    return DbRecord(**fields)


def cell_task(target: Any, cell: Cell, timing: Timing, *, connect_options: Mapping[str, Any] | None = None,
              via: Any = None, **extra: Any) -> DbTask:
    """The spec one cell process runs (each process of a several-process cell runs it with its ``group``).

    The connection fields of ``via`` (the path the clients take: a delay proxy's target; default ``target``), the
    cell's coordinates and timing, the pid of ``target``'s server if it runs here; ``extra`` sets further
    :class:`~bench.plan.specs.DbTask` fields (``timeline``, ``ops``, ``record``, ``idle_gaps``).
    """
    fields: dict[str, Any] = {
        **target_spec(via if via is not None else target), "task": cell.kind, "strategy": cell.strategy,
        "load": cell.load, "concurrency": cell.concurrency, "duration": float(timing.duration),
        "warmup": float(timing.warmup), "hang_after": float(timing.hang_after),
        "server_pid": listening_pid(target.host, target.port), **extra}
    if connect_options:
        fields["connect_options"] = dict(connect_options)
    if cell.python:  # the interpreter the parent starts it with (``--python``)
        fields["python"] = cell.python
    if cell.driver is not None:
        fields["driver"] = cell.driver
    if cell.kind == "request":
        fields["impl"] = cell.impl
    else:
        fields["mix"] = dict(timing.mix or DEFAULT_MIX)
    return DbTask(**fields)


@dataclass(frozen=True)
class Ceilings:
    """The server's ceiling by total concurrency: the best mysqlslap value, and every sample."""

    best: Mapping[int, float | None] = field(default_factory=dict)
    samples: Mapping[int, list[float] | None] = field(default_factory=dict)


def add_ceiling(rec: DbRecord | RequestRecord, cell: Cell, ceilings: Ceilings) -> None:
    """The server's ceiling at the cell's total concurrency (processes x workers) and the cell's ratio to it."""
    top = ceilings.best.get(cell.total_concurrency)
    rec.server_ceiling_ops_per_s = top
    rec.ceiling_query = CEILING_QUERY if top is not None else None
    rec.ceiling_samples = ceilings.samples.get(cell.total_concurrency)
    rec.ratio_to_ceiling = round(rec.ops_per_s / top, 4) if top and rec.ops_per_s else None


def run_one(target: Any, cell: Cell, task: DbTask, *, limit: float, ceilings: Ceilings | None = None,
            settle: Callable[[], object] | None = None) -> tuple[DbRecord | RequestRecord, str | None]:
    """Run one cell in a fresh process; return its record (with the parent's additions) and an error line or None.

    ``settle``, if given, is called once the cell's process is gone and before the leak check: a fault
    scenario waits there until the network delivers again (a partition holds the closing connections' FINs).
    """
    before = threads_connected(target)
    result = run_cell(task, timeout=limit)
    if settle is not None:
        settle()
    leaked = leak_check(target, before)
    error = None
    rec: DbRecord | RequestRecord
    if result.timed_out:
        reason = f"killed by the parent after {limit:.0f}s (the cell's own watchdog did not end it)"
        rec = stub_record(cell, "hung", reason)
        error = f"{cell.label()}: {result.failure}"
    elif not result.records:
        reason = result.failure or "the cell wrote no record"
        rec = stub_record(cell, "errors", reason, errors={"cell-crashed": 1})
        error = f"{cell.label()}: {reason}"
    else:
        rec = result.records[0]  # type: ignore[assignment]
        if (rec.reason or "").startswith("setup failed"):
            error = f"{cell.label()}: {rec.reason}"
    rec.leaked_connections = leaked
    rec.cell_wall_s = round(result.duration_s, 3)
    add_ceiling(rec, cell, ceilings or Ceilings())
    if result.facts.get("load") and rec.load_facts is UNSET:
        rec.load_facts = result.facts["load"]
    return rec, error


def brief(rec: DbRecord | RequestRecord) -> str:
    """One line on a finished database cell, for the progress display."""
    errors = sum((rec.errors or {}).values())
    parts = [str(rec.outcome), f"{known(rec.ops_per_s)} ops/s", f"errors {errors}",
             f"wrong {known(rec.wrong_results)}"]
    if isinstance(rec, RequestRecord):
        parts.append(f"local violations {known(rec.local_violations)}")
    if rec.leaked_connections:
        parts.append(f"leaked {rec.leaked_connections}")
    if known(rec.rtt_ms) is not None:  # a cell run with --rtt: the round trip it measured
        parts.append(f"round trip {rec.rtt_ms:.3g} ms")
    return ", ".join(parts)
