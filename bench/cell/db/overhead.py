"""Cell task ``db-overhead``: ``SELECT 1`` bare vs through the measuring harness, with and without recording.

All three variants use the same connection and run the same round trips:
``bare`` is the driver loop alone (cursor, execute, fetchone, close); the
harness variants run the ``db`` worker (one worker, ``own-connection``, every
reply checked) with stamping off and on.  Variants run in short blocks,
interleaved in rotating order, ``repeats`` blocks each, so bursts of other work
hit every variant alike; the medians of the blocks are the headline, the best
blocks are kept beside them.  The same loops over a stub connection give the
harness's own CPU cost per op.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.cell.db.state import Run
from bench.cell.db.summary import correctness
from bench.cell.db.target import Target
from bench.cell.db.worker import run_worker
from bench.cell.loads import Load
from bench.cell.strategies import OwnConnection, Strategy, build_strategy, worker_handle
from bench.records.scrub import scrub


class _StubCursor:
    """Answers ``SELECT 1`` at once: what the harness costs without the network."""

    __slots__ = ()

    def execute(self, query: str, args: Any = None) -> int:
        return 1

    def fetchone(self) -> tuple[int]:
        return (1,)

    def close(self) -> None:
        return None


class _StubConnection:
    __slots__ = ()
    _cursor = _StubCursor()

    def cursor(self) -> _StubCursor:
        return self._cursor

    def thread_id(self) -> int:
        return 1


def _bare_loop(conn: Any, ops: int) -> float:
    """Seconds per ``SELECT 1`` through the driver alone."""
    perf = time.perf_counter
    t0 = perf()
    for _ in range(ops):
        cur = conn.cursor()
        cur.execute("SELECT 1")
        cur.fetchone()
        cur.close()
    return (perf() - t0) / ops


def _harness_loop(strategy: Strategy, ops: int, record: bool, nonce: str, check: bool) -> float:
    """Seconds per ``SELECT 1`` through one ``db`` worker (its one CONNECTION_ID() sample included)."""
    run = Run(strategy=strategy, concurrency=1, warmup=0.0, duration=None, ops=ops, cycle=("select_1",),
              nonce=nonce, record=record, scenario="db")
    t0 = time.perf_counter()
    run_worker(run, 0)
    elapsed = time.perf_counter() - t0
    if check:
        correct = correctness(run)
        if correct["error_count"] or correct["wrong_results"]:
            raise RuntimeError(f"the overhead run saw errors or wrong results: {correct['errors']}")
    return elapsed / run.states[0].n


def _harness_cpu_ns(ops: int = 100_000, repeats: int = 5) -> dict[str, float]:
    """Best ns per op of the bare loop and the harness (no record / record) over a stub connection."""
    stub = _StubConnection()
    strategy = OwnConnection({}, 1)
    worker_handle(strategy, 0).conn = stub
    best = {"bare": float("inf"), "harness_no_record": float("inf"), "harness_record": float("inf")}
    for _ in range(repeats):
        best["bare"] = min(best["bare"], _bare_loop(stub, ops))
        best["harness_no_record"] = min(best["harness_no_record"], _harness_loop(strategy, ops, False, "stub", False))
        best["harness_record"] = min(best["harness_record"], _harness_loop(strategy, ops, True, "stub", False))
    return {name: round(value * 1e9, 1) for name, value in best.items()}


def _interleaved(variants: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """``repeats`` blocks of every variant, the order rotated each round (no variant always first)."""
    for fn in variants.values():  # warm every path once
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(variants[name]())
    return times


def run_overhead_cell(spec: dict[str, Any], load: Load | None) -> dict[str, Any]:
    """Cell task ``db-overhead``: one ``db-overhead`` record."""
    import pymysql

    target = Target.from_spec(spec)
    ops = int(spec.get("ops", 2_000))
    repeats = int(spec.get("repeats", 30))
    conn = pymysql.connect(**target.connect_kwargs())
    strategy = build_strategy("own-connection", target.connect_kwargs(), 1)
    worker_handle(strategy, 0).conn = conn  # the very connection ``bare`` uses: only the harness differs
    variants: dict[str, Callable[[], float]] = {
        "bare": lambda: _bare_loop(conn, ops),
        "harness_no_record": lambda: _harness_loop(strategy, ops, False, os.urandom(4).hex(), True),
        "harness_record": lambda: _harness_loop(strategy, ops, True, os.urandom(4).hex(), True),
    }
    stub_ns = _harness_cpu_ns()
    times = _interleaved(variants, repeats)
    conn.close()
    best = {name: min(values) for name, values in times.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    bare_ns = median["bare"] * 1e9
    rec = {
        "kind": "db-overhead", "load": spec.get("load"), "ops_per_block": ops, "blocks": repeats,
        "per_op_us_best": {k: round(v * 1e6, 3) for k, v in best.items()},
        "per_op_us_median": {k: round(v * 1e6, 3) for k, v in median.items()},
        # Headline: medians (single best blocks of a loopback round trip on a small VM are erratic).
        "recording_overhead": round(median["harness_record"] / median["harness_no_record"] - 1, 4),
        "harness_overhead": round(median["harness_record"] / median["bare"] - 1, 4),
        "recording_overhead_best": round(best["harness_record"] / best["harness_no_record"] - 1, 4),
        "harness_overhead_best": round(best["harness_record"] / best["bare"] - 1, 4),
        # The same loops over a stub connection that answers at once: the harness's own CPU
        # cost per op, free of network and server noise, and that cost as a share of a real round trip.
        "stub_per_op_ns": stub_ns,
        "recording_cost_share": round((stub_ns["harness_record"] - stub_ns["harness_no_record"]) / bare_ns, 4),
        "harness_cost_share": round((stub_ns["harness_record"] - stub_ns["bare"]) / bare_ns, 4),
        "server_url": target.redacted_url(),
    }
    return scrub({"records": [rec], "facts": {}}, target.password)
