"""The database workload and its measurement -- the cell side of ``db`` and ``request`` cells.

Contract: a ``db`` cell runs ``concurrency`` workers of one load against a real
MySQL-protocol server through one connection strategy and returns one record
saying whether every reply was the worker's own (the oracle:
:mod:`bench.cell.db.workload`) and how fast the right replies came
(:mod:`bench.cell.db.summary`).  A ``request`` cell does the same through a
request context on a ``LocalStack`` built on a Local, so the Local's leaks and
the connection's are counted side by side.  A cell whose workers stop making
progress ends with a ``hung`` record (:mod:`bench.cell.db.watchdog`).  The
password travels in the spec only; records carry the redacted URL and are
scrubbed of it.

Modules: ``workload`` (operations, mix, oracle, error labels, schema),
``target`` (the server as a spec names it), ``counters`` (server counters),
``state`` (what the workers share; the connect phase), ``worker`` (the measured
loop), ``summary`` (timing, correctness, timeline), ``watchdog``, ``task``
(:func:`run_cell`).  The names below are what other packages use (the harness's
own cost is measured outside the package: ``benchmarks/db_overhead.py``).
"""

from bench.cell.db.state import RATE_BOUND, STAMP_BYTES, TIMELINE_BUCKET, stamp_capacity
from bench.cell.db.target import Target, target_spec
from bench.cell.db.task import DEFAULT_WARMUP, run_cell
from bench.cell.db.workload import (
    ANCHOR_MIX,
    DEFAULT_MIX,
    OPERATIONS,
    Operation,
    check_mix,
    classify,
    ensure_schema,
    mix_cycle,
    parse_mix,
)
from bench.plan.specs import DEFAULT_HANG_AFTER

__all__ = [
    "ANCHOR_MIX",
    "DEFAULT_HANG_AFTER",
    "DEFAULT_MIX",
    "DEFAULT_WARMUP",
    "OPERATIONS",
    "RATE_BOUND",
    "STAMP_BYTES",
    "TIMELINE_BUCKET",
    "Operation",
    "Target",
    "check_mix",
    "classify",
    "ensure_schema",
    "mix_cycle",
    "parse_mix",
    "run_cell",
    "stamp_capacity",
    "target_spec",
]
