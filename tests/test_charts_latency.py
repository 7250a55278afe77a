"""The latency chart from records with HDR histograms and from records written before them (the stored reference
run's, and the same without the field): percentiles at each load's highest concurrency beside the per-operation
time, and p99 vs concurrency.  Records built by hand; the histogram from seeded samples.  No server, no network.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pytest

from bench.present import charts
from bench.present.charts.latency import draw_latency
from bench.records import latency
from bench.records.kinds import UNSET, DbRecord, Record
from bench.records.read import load_records
from bench.records.schema import from_json
from tests.test_charts import assert_png

ROOT = Path(__file__).resolve().parent.parent


def _with_hist(strategy: str, concurrency: int, median_s: float) -> DbRecord:
    """A db record whose latencies are a seeded lognormal sample, with the histogram and percentiles read from it."""
    values = np.random.default_rng(concurrency).lognormal(np.log(median_s), 0.5, 4000)
    hist = latency.from_seconds(values)
    return cast(DbRecord, from_json({
        "kind": "db", "strategy": strategy, "load": "threads", "concurrency": concurrency, "ops": len(values),
        "ops_per_s": 4000.0, "outcome": "ok", "errors": {}, "wrong_results": 0,
        "latency_ms": {k: v for k, v in latency.summary_ms(hist).items() if k != "count"},
        latency.FIELD: latency.encode(hist)}))


def test_the_chart_draws_the_recorded_percentiles(tmp_path: Path) -> None:
    records = [_with_hist(s, c, m * c ** 0.3) for s, m in (("pooled-tuned", 1e-3), ("locked", 2e-3)) for c in (4, 16)]
    fig = draw_latency(cast(list[Record], records))
    assert fig is not None
    xs = {round(float(x), 3) for ax in fig.findobj(lambda o: hasattr(o, "get_lines")) for line in ax.get_lines()
          for x in line.get_xdata()}
    rec = records[-1]
    assert rec.latency_ms
    assert {round(rec.latency_ms[k] or 0.0, 3) for k in ("p50", "p99", "p99.9", "max")} <= xs
    plain = [r.replace(latency_hist=UNSET) for r in records]
    assert draw_latency(cast(list[Record], plain)) is not None
    written = {p.name: p for p in charts.draw_all(records, tmp_path, formats=("png",))}
    assert "latency.png" in written
    assert_png(written["latency.png"])


def test_the_stored_reference_run_names_locked_under_gevent() -> None:
    """The stored reference run: locked under gevent has the best p50 at 64 workers, yet 64 workers over its ops/s
    make each operation take a worker ~8 ms: the chart says so under the panels."""
    reference = ROOT / "results" / "reference"
    if not reference.exists():
        pytest.skip("no stored reference run")
    _, records, _ = load_records(reference)
    db = [r for r in records if isinstance(r, DbRecord) and (r.latency_ms or {}).get("p50")]
    assert db and all(r.latency_hist for r in db)
    fig = draw_latency(records)
    assert fig is not None
    notes = fig.subfigs[0].subfigs[0].get_supxlabel()
    (locked,) = [r for r in db if r.strategy == "locked" and r.load == "gevent" and r.concurrency == 64]
    per_op_ms = 64 / float(locked.ops_per_s or 0) * 1e3
    assert per_op_ms > 10 * (locked.latency_ms or {})["p50"]  # the starvation the note is there for
    assert f"gevent, locked: p50 {(locked.latency_ms or {})['p50']:.2g} ms" in notes
    assert f"yet 64 workers ÷ {locked.ops_per_s:,.0f} ops/s = {per_op_ms:.2g} ms per op" in notes
    old = [r.replace(latency_hist=UNSET) if hasattr(r, latency.FIELD) else r for r in records]
    assert draw_latency(old) is not None


def test_tables_show_p999_beside_p99() -> None:
    from bench.present.tables import db_rows, stack_rows
    from tests.test_stack_model import stack_rec

    rec = _with_hist("pooled-tuned", 16, 2e-3)
    header, rows = db_rows([rec])
    assert header.index("p99.9 ms") == header.index("p99 ms") + 1
    assert rec.latency_ms
    median, n = rows[0][header.index("p99.9 ms")].split(" ")  # the median over the repeats, and how many: one
    assert float(median) == pytest.approx(rec.latency_ms["p99.9"], rel=1e-2) and n == "(n=1)"
    stack = stack_rec("gunicorn-gthread", "threads", "fast", "pooled-tuned")
    stack.latency_ms = {**(stack.latency_ms or {}), "p99.9": 7.25}
    header, rows = stack_rows([stack])
    assert header.index("p99.9 ms") == header.index("p99 ms") + 1 and rows[0][header.index("p99.9 ms")] == "7.25 (n=1)"
    del stack.latency_ms["p99.9"]  # a record written before p99.9
    assert stack_rows([stack])[1][0][header.index("p99.9 ms")] == "-"
