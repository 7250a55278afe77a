"""Every number with its spread: repeats grouped by cell, median and range, exact shares."""

from __future__ import annotations

import pytest

from bench.present.spread import cells, correct_per_s, share, spread
from bench.records.schema import from_json


def _db(ops_per_s: float, repeat: int, strategy: str = "pooled") -> object:
    return from_json({"kind": "db", "strategy": strategy, "load": "threads", "concurrency": 8, "outcome": "ok",
                      "ops_per_s": ops_per_s, "repeat": repeat})


def test_repeats_of_one_cell_are_one_cell_with_median_and_range() -> None:
    grouped = cells([_db(300.0, 2), _db(100.0, 0), _db(200.0, 1), _db(50.0, 0, "locked")])
    assert [c.n for c in grouped] == [3, 1]
    pooled = grouped[0].of(lambda r: r.ops_per_s)
    assert (pooled.median, pooled.low, pooled.high, pooled.n) == (200.0, 100.0, 300.0, 3)
    assert pooled.text() == "200 (100-300, n=3)"
    assert grouped[1].of(lambda r: r.ops_per_s).text() == "50 (n=1)"
    assert spread([None, None]).text() == "-"


@pytest.mark.parametrize(("part", "whole", "text"), [
    (0, 538, "0 of 538"), (538, 538, "538 of 538"), (537, 538, "537 of 538 (99.8%)"),
    (3, 6000, "3 of 6,000 (0.05%)"), (9995, 10000, "9,995 of 10,000 (99.95%)"), (1, 3, "1 of 3 (33.3%)"),
])
def test_shares_are_exact_never_rounded_to_nothing_or_everything(part: int, whole: int, text: str) -> None:
    assert share(part, whole) == text


def test_stack_throughput_counts_only_right_replies() -> None:
    rec = from_json({"kind": "stack", "server": "waitress", "workers": 1, "impl": "fast", "strategy": "global",
                     "concurrency": 16, "outcome": "errors", "requests": 4000, "ok": 1000, "ops_per_s": 2666.7,
                     "duration_s": 1.5})
    assert correct_per_s(rec) == pytest.approx(666.7)  # not the 2,666.7 replies of every kind
