"""The latency chart's CDF: read from a record's HDR histogram, else drawn through its recorded percentiles (records
written before histograms, such as the stored reference run's).  Records built by hand; the histogram from seeded
samples.  No server, no network.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pytest

from bench.present import charts
from bench.present.charts.latency import cdf_points, draw_latency
from bench.records import latency
from bench.records.kinds import UNSET, DbRecord
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


def test_the_cdf_comes_from_the_histogram() -> None:
    rec = _with_hist("pooled-tuned", 16, 2e-3)
    xs, ys, from_hist = cdf_points(rec)
    assert from_hist and len(xs) > 100  # every distinct bucket, not five points
    assert ys[-1] == 1.0 and xs == sorted(xs)
    assert rec.latency_ms
    assert round(xs[-1], 3) == rec.latency_ms["max"]
    assert round(next(x for x, y in zip(xs, ys, strict=True) if y >= 0.5), 3) == rec.latency_ms["p50"]


def test_without_a_usable_histogram_the_cdf_goes_through_the_percentiles() -> None:
    rec = _with_hist("pooled-tuned", 16, 2e-3)
    lat = rec.latency_ms
    assert lat and rec.latency_hist
    through = ([lat["p50"], lat["p90"], lat["p99"], lat["p99.9"], lat["max"]], [0.5, 0.9, 0.99, 0.999, 1.0], False)
    for field in (None, {"edges": [0.1, 0.2], "counts": [1]}, {**rec.latency_hist, "data": "HISTFAAAAgarbage"},
                  latency.encode(latency.new())):
        assert cdf_points(rec.replace(latency_hist=field)) == through
    # as records before p99.9 (and before histograms) held
    old = rec.replace(latency_hist=UNSET, latency_ms={k: lat[k] for k in ("p50", "p90", "p99", "max")})
    assert cdf_points(old) == ([lat["p50"], lat["p90"], lat["p99"], lat["max"]], [0.5, 0.9, 0.99, 1.0], False)


def test_the_chart_says_where_its_cdf_came_from(tmp_path: Path) -> None:
    records = [_with_hist(s, c, m * c ** 0.3) for s, m in (("pooled-tuned", 1e-3), ("locked", 2e-3)) for c in (4, 16)]
    fig = draw_latency(records)
    assert fig is not None and "HDR histograms" in fig.get_suptitle()
    plain = [r.replace(latency_hist=UNSET) for r in records]
    fig = draw_latency(plain)
    assert fig is not None and "recorded p50, p90, p99, p99.9 and max" in fig.get_suptitle()
    written = {p.name: p for p in charts.draw_all(records, tmp_path, formats=("png",))}
    assert "latency.png" in written
    assert_png(written["latency.png"])


def test_the_stored_reference_run_draws_from_its_histograms_and_without_them() -> None:
    """The stored reference run's CDFs come from its histograms; the same records as written before histograms
    (the field removed) fall back to their recorded percentiles."""
    reference = ROOT / "results" / "reference"
    if not reference.exists():
        pytest.skip("no stored reference run")
    _, records, _ = load_records(reference)
    db = [r for r in records if isinstance(r, DbRecord) and (r.latency_ms or {}).get("p50")]
    assert db and all(r.latency_hist for r in db)
    fig = draw_latency(records)
    assert fig is not None and "HDR histograms" in fig.get_suptitle()
    old = [r.replace(latency_hist=UNSET) if hasattr(r, latency.FIELD) else r for r in records]
    old_db = [r for r in old if isinstance(r, DbRecord) and (r.latency_ms or {}).get("p50")]
    assert old_db and all(not cdf_points(r)[2] and cdf_points(r)[0] for r in old_db)
    fig = draw_latency(old)
    assert fig is not None and "recorded p50" in fig.get_suptitle()


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
