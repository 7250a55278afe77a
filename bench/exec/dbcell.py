"""The parent side of one database cell: spawn it, then add what only the parent can know.

A cell measures itself in its own process (:mod:`bench.cell`); the parent adds the server's
capacity at that concurrency (``mysqlslap``, the C client, as the ceiling the Python clients are
compared with) and whether the server still holds connections once the cell's process is gone
(``leaked_connections``).  A cell the parent had to kill is recorded ``hung``; a cell that crashed
leaves a record saying so and an error line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import bench.server as mysql
from bench.cell.db import DEFAULT_HANG_AFTER, DEFAULT_MIX, target_spec
from bench.exec.spawn import run_cell
from bench.plan.cells import Cell
from bench.plan.matrix import CEILING_QUERIES, CEILING_QUERY, CEILING_REPEATS, LEAK_WAIT
from bench.poll import poll
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


def ceiling_record(concurrency: int, values: list[float] | None) -> dict[str, Any]:
    """The record of a ceiling cell: every mysqlslap run, and the best as the ceiling."""
    return {"kind": "ceiling", "concurrency": concurrency, "query": CEILING_QUERY, "samples": values,
            "ops_per_s": max(values) if values else None, "outcome": "ok" if values else "skipped"}


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


def stub_record(cell: Cell, outcome: str, reason: str, **extra: Any) -> dict[str, Any]:
    """The record of a cell that produced none of its own (skipped, hung, crashed)."""
    rec: dict[str, Any] = {"kind": cell.kind}
    if cell.kind == "request":
        rec["impl"] = cell.impl
    if cell.processes > 1:
        rec.update({"processes": cell.processes, "total_concurrency": cell.total_concurrency})
    rec.update({"strategy": cell.strategy, "load": cell.load, "concurrency": cell.concurrency, "outcome": outcome,
                "reason": reason, "ops": None, "ops_per_s": None, "errors": {}, "wrong_results": None,
                "server_ceiling_ops_per_s": None, "ratio_to_ceiling": None, **extra})
    return rec


def base_cell_spec(target: Any, *, duration: float, warmup: float, hang_after: float = DEFAULT_HANG_AFTER,
                   connect_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What every cell's spec shares: the server's connection fields, the timing, the server's pid if local."""
    spec = {**target_spec(target), "duration": float(duration), "warmup": float(warmup),
            "hang_after": float(hang_after), "server_pid": listening_pid(target.host, target.port)}
    if connect_options:
        spec["connect_options"] = dict(connect_options)
    return spec


def cell_spec(cell: Cell, base_spec: Mapping[str, Any], mix: Mapping[str, int] | None) -> dict[str, Any]:
    """The spec one cell process runs (each process of a several-process cell runs it with its ``group``)."""
    spec = {**base_spec, "task": cell.kind, "strategy": cell.strategy, "load": cell.load,
            "concurrency": cell.concurrency}
    if cell.kind == "request":
        spec["impl"] = cell.impl
    else:
        spec["mix"] = dict(mix or DEFAULT_MIX)
    return spec


def add_ceiling(rec: dict[str, Any], cell: Cell, ceilings: Mapping[int, float | None],
                samples: Mapping[int, list[float] | None]) -> None:
    """The server's ceiling at the cell's total concurrency (processes x workers) and the cell's ratio to it."""
    top = ceilings.get(cell.total_concurrency)
    rec["server_ceiling_ops_per_s"] = top
    rec["ceiling_query"] = CEILING_QUERY if top is not None else None
    rec["ceiling_samples"] = samples.get(cell.total_concurrency)
    rec["ratio_to_ceiling"] = round(rec["ops_per_s"] / top, 4) if top and rec.get("ops_per_s") else None


def run_one(target: Any, cell: Cell, *, base_spec: Mapping[str, Any], limit: float,
            ceilings: Mapping[int, float | None], samples: Mapping[int, list[float] | None],
            mix: Mapping[str, int] | None = None) -> tuple[dict[str, Any], str | None]:
    """Run one cell in a fresh process; return its record (with the parent's additions) and an error line or None."""
    spec = cell_spec(cell, base_spec, mix)
    before = threads_connected(target)
    result = run_cell(spec, timeout=limit)
    leaked = leak_check(target, before)
    error = None
    if result.timed_out:
        reason = f"killed by the parent after {limit:.0f}s (the cell's own watchdog did not end it)"
        rec = stub_record(cell, "hung", reason)
        error = f"{cell.label()}: {result.failure}"
    elif not result.records:
        reason = result.failure or "the cell wrote no record"
        rec = stub_record(cell, "errors", reason, errors={"cell-crashed": 1})
        error = f"{cell.label()}: {reason}"
    else:
        rec = result.records[0]
        if rec.get("reason", "").startswith("setup failed"):
            error = f"{cell.label()}: {rec['reason']}"
    rec["leaked_connections"] = leaked
    rec["cell_wall_s"] = round(result.duration_s, 3)
    add_ceiling(rec, cell, ceilings, samples)
    if result.facts.get("load"):
        rec.setdefault("load_facts", result.facts["load"])
    return rec, error


def brief(rec: Mapping[str, Any]) -> str:
    """One line on a finished database cell, for the progress display."""
    errors = sum((rec.get("errors") or {}).values())
    parts = [str(rec.get("outcome")), f"{rec.get('ops_per_s')} ops/s", f"errors {errors}",
             f"wrong {rec.get('wrong_results')}"]
    if rec.get("kind") == "request":
        parts.append(f"local violations {rec.get('local_violations')}")
    if rec.get("leaked_connections"):
        parts.append(f"leaked {rec['leaked_connections']}")
    return ", ".join(parts)
