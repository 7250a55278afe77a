"""The soak: 60 s of 256 greenlets and 60 s of 64 threads on ``pooled-tuned`` against a private server.

The private server allows 512 connections (the server on 127.0.0.1:3306 has
MariaDB's default 151, too few for 256 pooled connections).  Bounds and why:
``bench.faults.soak`` (SOAK_RSS_GROWTH_MIB, peak_bound_mib) and README "Faults".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import faults
from tests import fault_helpers


@pytest.mark.timeout(600)
def test_soak_memory_connections_errors(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    watched = fault_helpers.start(["faults", "--quiet", "--scenario", "soak", "--json", str(out)])
    assert watched.finish(timeout=500) == 0, watched.stderr
    records = json.loads(out.read_text())["records"]
    assert [(r["strategy"], r["load"], r["concurrency"]) for r in records] == list(faults.SOAK_CELLS)
    for rec in records:
        where = json.dumps({k: v for k, v in rec.items() if k != "cell"})[:3000]
        assert rec["outcome"] == "ok" and rec["errors"] == {} and rec["wrong_results"] == 0, where
        assert rec["leaked_connections"] == 0 and rec["open_after_close"] == 0, where
        assert rec["cell"]["duration_s"] == faults.SOAK_DURATION and rec["ops"] > 0, where
        assert rec["cell"]["connections_used"] == rec["concurrency"], where  # the pool really opened one per worker
        rss = rec["rss_mib"]
        assert rss["samples"] >= 100, where  # twice a second for a minute
        assert rss["growth_mib"] <= rss["bound_growth_mib"] == faults.SOAK_RSS_GROWTH_MIB, where
        assert rss["peak_mib"] <= rss["bound_peak_mib"], where
        assert rec["within_bound"] is True, where
    assert "warning" not in watched.stderr
    assert watched.left_alive() == []
