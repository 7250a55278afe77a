"""The measuring harness's own cost: ``SELECT 1`` bare vs through the ``db`` worker, with and without recording.

    python benchmarks/db_overhead.py [--mysql-url URL] [--load threads] [--ops 2000] [--repeats 30] [--json PATH]

Finds or starts a MySQL-protocol server as every command does (``--mysql-url``, ``CTXBENCH_MYSQL_URL``,
127.0.0.1:3306, or a private one), measures in a fresh process (this script again, ``--child OUT``: the load is
installed first, as in a cell, and the server's connection fields come on stdin, never on the command line) and
prints the one ``db-overhead`` record as JSON (also written to ``--json``).  Exit status 2 on bad input or without a
server, 1 when the measurement failed.

All three variants use the same connection and run the same round trips: ``bare`` is the driver loop alone
(cursor, execute, fetchone, close); the harness variants run the ``db`` worker (one worker, ``own-connection``,
every reply checked) with stamping off and on.  Variants run in short blocks, interleaved in rotating order,
``repeats`` blocks each, so bursts of other work hit every variant alike; the medians of the blocks are the
headline, the best blocks are kept beside them.  The same loops over a stub connection give the harness's own CPU
cost per op.  From Python: :func:`measure_overhead` (a server target in, the record out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


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


def _harness_loop(strategy: Any, ops: int, record: bool, nonce: str, check: bool) -> float:
    """Seconds per ``SELECT 1`` through one ``db`` worker (its one CONNECTION_ID() sample included)."""
    from bench.cell.db.loop import run_worker
    from bench.cell.db.state import Run, RunSettings
    from bench.cell.db.summary import correctness

    run = Run(strategy, RunSettings(concurrency=1, warmup=0.0, duration=None, ops=ops, cycle=("select_1",),
                                    nonce=nonce, record=record))
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
    from bench.cell.strategies import OwnConnection, worker_handle

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


def overhead_record(spec: dict[str, Any]) -> dict[str, Any]:
    """The ``db-overhead`` record of the server ``spec`` names (run in the child, after the load is installed)."""
    import pymysql

    from bench.cell.db.target import Target
    from bench.cell.strategies import build_strategy, worker_handle
    from bench.records.scrub import scrub

    target = Target.from_spec(spec)
    ops, repeats = int(spec["ops"]), int(spec["repeats"])
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
    return scrub(rec, target.password)  # type: ignore[no-any-return]


def check_inputs(load: str, ops: int, repeats: int) -> None:
    """A one-line UsageError for a load that is not blocking, or too few ops or blocks."""
    from bench.cell.loads import ASYNC_DB_LOADS, DB_LOADS
    from bench.errors import UsageError

    blocking = [name for name in DB_LOADS if name not in ASYNC_DB_LOADS]
    if load not in blocking:  # the measurement times the blocking harness
        raise UsageError(f"the harness overhead is measured under a blocking load ({', '.join(blocking)}), "
                         f"not {load!r}")
    if ops < 100 or repeats < 3:
        raise UsageError("overhead measurement needs at least 100 ops per block and 3 blocks")


def measure_overhead(target: Any, *, ops: int = 2_000, repeats: int = 30, load: str = "threads",
                     timeout: float = 300.0) -> dict[str, Any]:
    """The ``db-overhead`` record against ``target`` (a ServerTarget), measured in a fresh process of this script.

    UsageError (one line) for bad input; RuntimeError when the process failed, timed out or wrote nothing.
    """
    import subprocess
    import tempfile

    import bench
    from bench.cell.db import target_spec
    from bench.records.scrub import scrub

    check_inputs(load, ops, repeats)
    spec = {**target_spec(target), "load": load, "ops": ops, "repeats": repeats}
    root = str(Path(bench.__file__).resolve().parent.parent)  # the child imports the bench this process runs
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
    with tempfile.TemporaryDirectory(prefix="ctxbench-overhead-") as tmp:
        out = Path(tmp) / "out.json"
        try:
            done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(out)],
                                  input=json.dumps(spec), capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"overhead process timed out after {timeout:g} s and was killed") from None
        if done.returncode != 0 or not out.exists():
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()] or ["no message"]
            raise RuntimeError(scrub(f"overhead process exited with status {done.returncode}: {lines[-1]}",
                                     target.password))
        return json.loads(out.read_text())  # type: ignore[no-any-return]


def child(out_path: str) -> int:
    """``--child OUT``: install the load the spec on stdin names, measure, write the record to OUT."""
    spec = json.loads(sys.stdin.read())
    from bench.cell.loads import get_load

    get_load(spec["load"]).install()  # first: gevent patches before the driver and the harness are imported
    Path(out_path).write_text(json.dumps(overhead_record(spec)))
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mysql-url", metavar="URL", help="the server (default: found or started as ctxbench does)")
    parser.add_argument("--load", default="threads", help="threads, gevent or gevent-nothread (default: threads)")
    parser.add_argument("--ops", type=int, default=2_000, help="SELECT 1 per block (default: 2000, at least 100)")
    parser.add_argument("--repeats", type=int, default=30, help="blocks per variant (default: 30, at least 3)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the record here")
    parser.add_argument("--child", metavar="OUT", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Measure and print the record; 2 on bad input or without a server, 1 when the measurement failed."""
    args = parse_args(argv)
    if args.child:
        return child(args.child)
    from bench.errors import UsageError
    from bench.server import ServerUnavailable, find_server

    try:
        check_inputs(args.load, args.ops, args.repeats)
        handle = find_server(args.mysql_url)
    except (UsageError, ServerUnavailable) as exc:
        print(f"db_overhead: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 2
    with handle:
        try:
            rec = measure_overhead(handle.target, ops=args.ops, repeats=args.repeats, load=args.load)
        except RuntimeError as exc:
            print(f"db_overhead: {exc}", file=sys.stderr)
            return 1
    text = json.dumps(rec, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
