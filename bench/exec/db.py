"""The database matrix, parent side: validate, plan, run each cell in a fresh process, add the server's view.

What is promised
    :func:`run_db` runs every strategy x load x concurrency cell (and every
    request-scenario cell: Local impl x strategy x load at one concurrency),
    each in its own ``python -m bench.cell`` process with a time limit, and
    returns ``(records, error_lines)``.  It adds what only the parent can
    know: the server's capacity at that concurrency (``mysqlslap``, the C
    client, as the ceiling the Python clients are compared with) and whether
    the server still holds connections after the cell's process is gone
    (``leaked_connections``).  A cell the parent had to kill is recorded as
    ``hung``; a cell that crashed leaves a record saying so and an error line.
    With no server (``target`` None) every planned cell is recorded as
    ``skipped``.

Why
    The parent never measures (the pyperf split): cells run one at a time,
    because two cells at once on a 2-core box would measure each other.
    Inputs are validated before anything starts, with one-line
    :class:`~bench.errors.UsageError` messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import localimpls
from bench.cell import strategies as strategies_mod
from bench.cell.db import DEFAULT_HANG_AFTER, DEFAULT_MIX, check_mix, target_spec
from bench.records.scrub import scrub
from bench.errors import UsageError
from bench.cell.loads import DB_LOADS

#: The default database matrix, declared as data.
DEFAULT_STRATEGIES: tuple[str, ...] = tuple(strategies_mod.STRATEGIES)
DEFAULT_LOADS: tuple[str, ...] = ("threads", "gevent")
DEFAULT_CONCURRENCY: tuple[int, ...] = (1, 4, 16, 64)
#: Measured seconds per cell (after the warm-up); chosen so the default matrix fits in about 4 minutes.
DEFAULT_DURATION = 2.0
DEFAULT_WARMUP = 0.5
#: The request scenario runs at one concurrency.
DEFAULT_REQUEST_CONCURRENCY = 16
#: The query ``mysqlslap`` times for the ceiling (what ANCHORS.md used).
CEILING_QUERY = "SELECT 1"
CEILING_QUERIES = 20_000
#: mysqlslap runs per concurrency; the best is the ceiling (single runs vary by +-30% on a 2-core box).
CEILING_REPEATS = 3
#: Seconds the parent waits for the server to drop a finished cell's connections.
LEAK_WAIT = 2.0
MAX_CONCURRENCY = 10_000


@dataclass(frozen=True)
class Cell:
    """One planned cell."""

    kind: str  # "db" or "request"
    strategy: str
    load: str
    concurrency: int
    impl: str | None = None

    def label(self) -> str:
        head = f"request {self.impl} x {self.strategy}" if self.kind == "request" else f"db {self.strategy}"
        return f"{head} {self.load} c={self.concurrency}"


def validate(*, strategies: Sequence[str], loads: Sequence[str], concurrency: Sequence[int], duration: float, warmup: float,
             impls_for_request: Sequence[str] | None = None, mix: Mapping[str, int] | None = None,
             request_concurrency: int = DEFAULT_REQUEST_CONCURRENCY) -> None:
    """Raise a one-line UsageError for the first bad input."""
    if not strategies:
        raise UsageError("no strategy selected")
    for name in strategies:
        try:
            strategies_mod.check_name(name)
        except strategies_mod.StrategyError as exc:
            raise UsageError(str(exc)) from None
    if not loads:
        raise UsageError("no load selected")
    for name in loads:
        if name not in DB_LOADS:
            raise UsageError(f"unknown load {name!r} for the database matrix (known: {', '.join(DB_LOADS)})")
    if not concurrency:
        raise UsageError("no concurrency selected")
    for value in [*concurrency, request_concurrency]:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
            raise UsageError(f"concurrency must be a whole number from 1 to {MAX_CONCURRENCY}, got {value!r}")
    if not isinstance(duration, (int, float)) or not duration > 0 or duration != duration:
        raise UsageError(f"duration must be a positive number of seconds, got {duration!r}")
    if not isinstance(warmup, (int, float)) or not warmup >= 0:
        raise UsageError(f"warmup must be zero or a positive number of seconds, got {warmup!r}")
    for impl in impls_for_request or ():
        try:
            localimpls.target_of(impl)
        except localimpls.ImplError as exc:
            raise UsageError(str(exc)) from None
    if mix is not None:
        try:
            check_mix(mix)
        except ValueError as exc:
            raise UsageError(str(exc)) from None


def plan(*, strategies: Sequence[str], loads: Sequence[str], concurrency: Sequence[int],
         impls_for_request: Sequence[str] | None = None, request_strategies: Sequence[str] | None = None,
         request_loads: Sequence[str] | None = None, request_concurrency: int = DEFAULT_REQUEST_CONCURRENCY) -> list[Cell]:
    """Every cell, in the order they run: strategy x load x concurrency, then impl x strategy x load."""
    cells = [Cell("db", s, ld, c) for s in strategies for ld in loads for c in concurrency]
    for impl in impls_for_request or ():
        for s in request_strategies or strategies:
            for ld in request_loads or loads:
                cells.append(Cell("request", s, ld, request_concurrency, impl))
    return cells


def cell_timeout(duration: float, warmup: float, hang_after: float) -> float:
    """The parent's limit for one cell: start-up, setup and teardown around the cell's own watchdog."""
    return warmup + duration + hang_after + 30.0


def measure_ceiling(target: Any, concurrency: int, *, query: str = CEILING_QUERY, queries: int = CEILING_QUERIES,
                    repeats: int = CEILING_REPEATS) -> list[float] | None:
    """``mysqlslap`` queries/s at ``concurrency``, one value per run (None if ``bench.server.mysql`` cannot measure it here)."""
    from bench.server import mysql

    ceiling = getattr(mysql, "mysqlslap_ceiling", None)
    if ceiling is None:
        return None
    values = []
    for _ in range(repeats):
        value = ceiling(target, concurrency=concurrency, queries=max(queries, concurrency), query=query)
        if value is None:
            return None
        values.append(round(float(value), 1))
    return values


def _threads_connected(target: Any) -> int | None:
    from bench.server import mysql

    read = getattr(mysql, "server_counters", None)
    if read is None:
        return None
    try:
        return int(read(target)["Threads_connected"])
    except Exception:  # the leak check is advisory: a failed read leaves it unknown
        return None


def _leak_check(target: Any, before: int | None) -> int | None:
    """Connections the server still holds, beyond ``before``, ``LEAK_WAIT`` seconds after the cell ended."""
    if before is None:
        return None
    deadline = time.monotonic() + LEAK_WAIT
    while True:
        now = _threads_connected(target)
        if now is None:
            return None
        if now <= before or time.monotonic() >= deadline:
            return max(0, now - before)
        time.sleep(0.1)


def _stub(cell: Cell, outcome: str, reason: str, **extra: Any) -> dict[str, Any]:
    """The record of a cell that produced none of its own."""
    rec: dict[str, Any] = {"kind": cell.kind}
    if cell.kind == "request":
        rec["impl"] = cell.impl
    rec.update({"strategy": cell.strategy, "load": cell.load, "concurrency": cell.concurrency, "outcome": outcome,
                "reason": reason, "ops": None, "ops_per_s": None, "errors": {}, "wrong_results": None,
                "server_ceiling_ops_per_s": None, "ratio_to_ceiling": None, **extra})
    return rec


def run_db(
    target: Any,
    *,
    strategies: Sequence[str] = DEFAULT_STRATEGIES,
    loads: Sequence[str] = DEFAULT_LOADS,
    concurrency: Sequence[int] = DEFAULT_CONCURRENCY,
    duration: float = DEFAULT_DURATION,
    warmup: float = DEFAULT_WARMUP,
    impls_for_request: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
    timeout_per_cell: float | None = None,
    mix: Mapping[str, int] | None = None,
    request_strategies: Sequence[str] | None = None,
    request_loads: Sequence[str] | None = None,
    request_concurrency: int = DEFAULT_REQUEST_CONCURRENCY,
    hang_after: float = DEFAULT_HANG_AFTER,
    ceiling: bool = True,
    connect_options: Mapping[str, Any] | None = None,
    on_record: Callable[[Cell, dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run the database matrix against ``target`` (a ``bench.server.mysql.ServerTarget``, or None: all skipped).

    ``mix`` defaults to :data:`bench.cell.db.DEFAULT_MIX`; the request scenario
    always echoes its request token (``SELECT %s``).  ``connect_options`` are
    extra ``pymysql.connect`` keywords for every strategy (e.g.
    ``{"ssl_disabled": True}``), recorded with each cell.
    """

    validate(strategies=strategies, loads=loads, concurrency=concurrency, duration=duration, warmup=warmup,
             impls_for_request=impls_for_request, mix=mix, request_concurrency=request_concurrency)
    for key in connect_options or {}:
        if key in ("password", "passwd", "host", "port", "user", "database", "db"):
            raise UsageError(f"connect option {key!r} is not allowed here (it comes from the server target)")
    cells = plan(strategies=strategies, loads=loads, concurrency=concurrency, impls_for_request=impls_for_request,
                 request_strategies=request_strategies, request_loads=request_loads, request_concurrency=request_concurrency)
    say = progress or (lambda _line: None)
    if target is None:
        return [_stub(cell, "skipped", "no MySQL-protocol server") for cell in cells], []

    records: list[dict[str, Any]] = []
    errors: list[str] = []
    ceilings: dict[int, float | None] = {}
    samples: dict[int, list[float] | None] = {}
    if ceiling:
        for c in sorted({cell.concurrency for cell in cells}):
            try:
                samples[c] = measure_ceiling(target, c)
            except Exception as exc:  # mysqlslap failing is reported, the matrix still runs
                samples[c] = None
                errors.append(f"mysqlslap ceiling at concurrency {c}: {exc}".splitlines()[0])
            ceilings[c] = max(samples[c]) if samples[c] else None
            say(f"ceiling c={c}: {ceilings[c]} queries/s (best of {samples[c]}; mysqlslap, {CEILING_QUERY})")
    limit = timeout_per_cell or cell_timeout(duration, warmup, hang_after)
    base_spec = base_cell_spec(target, duration=duration, warmup=warmup, hang_after=hang_after, connect_options=connect_options)
    for index, cell in enumerate(cells, 1):
        rec, error = run_one(target, cell, base_spec=base_spec, limit=limit, ceilings=ceilings, samples=samples, mix=mix)
        if error:
            errors.append(error)
        records.append(rec)
        if on_record:
            on_record(cell, scrub([rec], target.password)[0])
        say(f"[{index}/{len(cells)}] {cell.label()}: {_brief(rec)}")
    # Cells scrub their own records; a crashed cell's stderr line and mysqlslap's messages pass through here.
    return scrub(records, target.password), scrub(errors, target.password)


def base_cell_spec(target: Any, *, duration: float, warmup: float, hang_after: float = DEFAULT_HANG_AFTER,
                   connect_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What every cell's spec shares: the server's connection fields and the timing."""
    spec = {**target_spec(target), "duration": float(duration), "warmup": float(warmup), "hang_after": float(hang_after)}
    if connect_options:
        spec["connect_options"] = dict(connect_options)
    return spec


def run_one(target: Any, cell: Cell, *, base_spec: Mapping[str, Any], limit: float, ceilings: Mapping[int, float | None],
            samples: Mapping[int, list[float] | None], mix: Mapping[str, int] | None = None) -> tuple[dict[str, Any], str | None]:
    """Run one cell in a fresh process; return its record (with the parent's additions) and an error line or None."""
    from bench.exec.spawn import run_cell

    spec = {**base_spec, "task": cell.kind, "strategy": cell.strategy, "load": cell.load, "concurrency": cell.concurrency}
    if cell.kind == "request":
        spec["impl"] = cell.impl
    else:
        spec["mix"] = dict(mix or DEFAULT_MIX)
    before = _threads_connected(target)
    result = run_cell(spec, timeout=limit)
    leaked = _leak_check(target, before)
    error = None
    if result.timed_out:
        rec = _stub(cell, "hung", f"killed by the parent after {limit:.0f}s (the cell's own watchdog did not end it)")
        error = f"{cell.label()}: {result.failure}"
    elif not result.records:
        reason = result.failure or "the cell wrote no record"
        rec = _stub(cell, "errors", reason, errors={"cell-crashed": 1})
        error = f"{cell.label()}: {reason}"
    else:
        rec = result.records[0]
        if rec.get("reason", "").startswith("setup failed"):
            error = f"{cell.label()}: {rec['reason']}"
    rec["leaked_connections"] = leaked
    rec["cell_wall_s"] = round(result.duration_s, 3)
    top = ceilings.get(cell.concurrency)
    rec["server_ceiling_ops_per_s"] = top
    rec["ceiling_query"] = CEILING_QUERY if top is not None else None
    rec["ceiling_samples"] = samples.get(cell.concurrency)
    rec["ratio_to_ceiling"] = round(rec["ops_per_s"] / top, 4) if top and rec.get("ops_per_s") else None
    if result.facts.get("load"):
        rec.setdefault("load_facts", result.facts["load"])
    return rec, error


def _brief(rec: Mapping[str, Any]) -> str:
    errors = sum((rec.get("errors") or {}).values())
    parts = [str(rec.get("outcome")), f"{rec.get('ops_per_s')} ops/s", f"errors {errors}", f"wrong {rec.get('wrong_results')}"]
    if rec.get("kind") == "request":
        parts.append(f"local violations {rec.get('local_violations')}")
    if rec.get("leaked_connections"):
        parts.append(f"leaked {rec['leaked_connections']}")
    return ", ".join(parts)


def ratio_to_own(records: Sequence[Mapping[str, Any]], strategy: str = "pooled-tuned",
                 reference: str = "own-connection") -> list[dict[str, Any]]:
    """``strategy``'s throughput over ``reference``'s at the same load and concurrency (the >= 90% target)."""
    by_key = {(r["strategy"], r["load"], r["concurrency"]): r for r in records if r.get("kind") == "db"}
    rows = []
    for (name, load, c), rec in by_key.items():
        ref = by_key.get((reference, load, c))
        if name != strategy or ref is None or not rec.get("ops_per_s") or not ref.get("ops_per_s"):
            continue
        rows.append({"load": load, "concurrency": c, "strategy_ops_per_s": rec["ops_per_s"],
                     "reference_ops_per_s": ref["ops_per_s"], "ratio": round(rec["ops_per_s"] / ref["ops_per_s"], 3)})
    return sorted(rows, key=lambda row: (row["load"], row["concurrency"]))


def measure_overhead(target: Any, *, ops: int = 2_000, repeats: int = 30, load: str = "threads",
                     timeout: float = 300.0) -> dict[str, Any]:
    """``SELECT 1`` per-op time bare vs through the harness, with and without recording (one fresh process)."""
    from bench.exec.spawn import run_cell

    if load not in DB_LOADS:
        raise UsageError(f"unknown load {load!r} for the database matrix (known: {', '.join(DB_LOADS)})")
    if ops < 100 or repeats < 3:
        raise UsageError("overhead measurement needs at least 100 ops per block and 3 blocks")
    spec = {**target_spec(target), "task": "db-overhead", "load": load, "ops": ops, "repeats": repeats}
    result = run_cell(spec, timeout=timeout)
    if not result.records:
        raise RuntimeError(f"overhead cell: {result.failure or 'no record'}")
    return result.records[0]

