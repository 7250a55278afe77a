"""A fault record carries its cell's latency histogram: built by the scenarios' record builder from a real, short
``db`` cell run the way the fault scenarios run theirs (a fresh process, with a timeline).  No server is killed:
the scenarios themselves are the slow suite's (tests/faults/)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bench.faults import fault_record
from bench.faults.running import start_cell
from bench.plan.cells import Cell
from bench.records import latency
from bench.records.schema import check_record, to_json
from bench.records.scrub import scrub

pytestmark = pytest.mark.db


def test_a_fault_record_carries_the_cells_histogram(mysql_server: Any) -> None:
    target = mysql_server.target
    server = SimpleNamespace(app=target, root=target)  # what start_cell reads of a FaultServer
    cell = Cell("db", "pooled-tuned", "threads", 4)
    outcome = start_cell(server, cell, duration=0.5, warmup=0.1, hang_after=15.0).result(timeout=120)  # type: ignore[arg-type]
    rec, problem = outcome
    assert problem is None and rec["outcome"] == "ok", rec.get("reason")
    fault = scrub(fault_record("soak", cell, outcome, duration_s=0.5), target.password or "unset")
    assert check_record(to_json(fault), {"fault"}) is None
    hist = fault[latency.FIELD]
    assert hist == rec[latency.FIELD] and hist["count"] == rec["ops"] == fault["ops"] > 0
    summary = latency.field_summary_ms(hist)  # decodes: the scrub left it whole
    assert fault["latency_ms"] == {k: v for k, v in summary.items() if k != "count"}
    assert fault["cell"][latency.FIELD] == hist  # the whole db record is kept as well
