"""Latency histograms on known data: merging adds exactly, percentiles hold their stated precision, the record field
round-trips, and a field that is not ours is refused.

The samples are seeded lognormal latencies (three sets, 30,000 values in all, so that every reported percentile
falls on a whole rank and the histogram's rank rule and numpy's ``inverted_cdf`` pick the same sample).
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from bench.records import latency

#: (median seconds, sigma, size) of each sample set: a fast, a slow wide, a very fast narrow one.
SETS = ((2e-3, 0.6, 20_000), (5e-3, 1.0, 5_000), (0.5e-3, 0.3, 5_000))
#: The histogram's stated precision: 3 significant digits (a relative error under 0.1%) ...
RELATIVE = 1e-3
#: ... plus the rounding of every value to a whole microsecond.
ROUNDING_US = 1.0


def samples() -> list[Any]:
    rng = np.random.default_rng(20261129)
    return [rng.lognormal(np.log(median), sigma, size) for median, sigma, size in SETS]


def recorded(hist: Any) -> list[tuple[int, int]]:
    """Every (bucket value, count) a histogram holds."""
    return [(item.value_iterated_to, item.count_at_value_iterated_to) for item in hist.get_recorded_iterator()]


def test_merged_fields_give_exactly_the_union_histogram() -> None:
    sets = samples()
    fields = [latency.encode(latency.from_seconds(values)) for values in sets]
    merged = latency.merge(fields)
    union = latency.from_seconds(np.concatenate(sets))
    assert merged["count"] == sum(f["count"] for f in fields) == sum(len(v) for v in sets) == union.get_total_count()
    assert latency.field_summary_ms(merged) == latency.summary_ms(union)  # p50 ... p99.9, max, mean: all equal
    assert recorded(latency.decode(merged)) == recorded(union)
    # Merging in another order, or merging a merge, changes nothing.
    assert latency.merge([fields[2], latency.merge(fields[:2])]) == merged


def nearest_rank(ordered: Any, pct: float) -> float:
    """The raw sample at percentile ``pct``: the smallest with at least ``pct``% of the samples at or below it.

    The rank is computed exactly: numpy's ``inverted_cdf`` computes ``0.999 * 30000`` in floating point
    (29970.000000000004) and takes the next sample.
    """
    rank = math.ceil(Fraction(str(pct)) * len(ordered) / 100)
    return float(ordered[max(1, rank) - 1])


def test_percentiles_are_within_the_stated_precision_of_the_raw_samples() -> None:
    ordered = np.sort(np.concatenate(samples()) * 1e6)
    hist = latency.from_seconds(ordered / 1e6)
    for key, pct in (*latency.PERCENTILES, ("p25", 25.0), ("p99.99", 99.99)):
        raw = nearest_rank(ordered, pct)
        got = hist.get_value_at_percentile(pct)
        assert abs(got - raw) <= raw * RELATIVE + ROUNDING_US, (key, got, raw)
    summary = latency.summary_ms(hist)
    for key, raw in (("max", ordered[-1]), ("mean", ordered.mean())):
        assert abs(summary[key] * 1e3 - raw) <= raw * RELATIVE + ROUNDING_US, (key, summary[key], raw)
    # The precision is not vacuous: on the tail, the sample one rank further is outside it.
    raw = nearest_rank(ordered, 99.9)
    assert abs(hist.get_value_at_percentile(99.9) - ordered[29_970]) > raw * RELATIVE + ROUNDING_US


def test_the_cdf_reaches_each_percentile_where_the_summary_says() -> None:
    field = latency.encode(latency.from_seconds(np.concatenate(samples())))
    xs, ys = latency.cdf_ms(field)
    summary = latency.field_summary_ms(field)
    assert ys[-1] == 1.0 and all(a < b for a, b in itertools.pairwise(xs))
    assert all(a < b for a, b in itertools.pairwise(ys))
    for key, pct in latency.PERCENTILES:
        first = next(x for x, y in zip(xs, ys, strict=True) if y >= pct / 100 - 1e-12)  # 29970 / 30000 < 99.9 / 100
        assert round(first, 3) == summary[key], key
    assert round(xs[-1], 3) == summary["max"]


def test_encode_decode_round_trip() -> None:
    hist = latency.from_seconds(samples()[1])
    field = latency.encode(hist)
    assert set(field) == {"unit", "format", "significant_digits", "count", "data"}
    assert field["unit"] == "us" and field["format"] == "hdrh-v2" and field["significant_digits"] == 3
    again = latency.decode(field)
    assert recorded(again) == recorded(hist) and again.get_total_count() == field["count"] == 5_000
    assert latency.summary_ms(again) == latency.summary_ms(hist)
    assert latency.encode(again)["count"] == field["count"]


@pytest.mark.parametrize("foreign", [
    {"edges": [0.1, 0.2, 0.4], "counts": [3, 4]},  # the old {edges, counts} histogram
    "HISTFAAAA",
    None,
    {"unit": "ms", "format": "hdrh-v2", "significant_digits": 3, "count": 1, "data": "x"},
    {"unit": "us", "format": "hdrh-v1", "significant_digits": 3, "count": 1, "data": "x"},
    {"unit": "us", "format": "hdrh-v2", "significant_digits": 3, "count": 1},
])
def test_decode_refuses_a_foreign_field(foreign: Any) -> None:
    with pytest.raises(ValueError):
        latency.decode(foreign)
    with pytest.raises(ValueError):
        latency.merge([latency.encode(latency.new()), foreign])


def test_decode_refuses_damaged_data_and_a_count_that_does_not_match() -> None:
    field = latency.encode(latency.from_seconds([0.001, 0.002, 0.003]))
    for data in (field["data"][:20], "HISTFAAAAgarbage", "not base64 at all"):
        with pytest.raises(ValueError, match="damaged"):
            latency.decode({**field, "data": data})
    with pytest.raises(ValueError, match="holds 3 values"):
        latency.decode({**field, "count": 4})


def test_an_empty_histogram_has_no_percentiles() -> None:
    empty = latency.from_seconds([])
    summary = latency.summary_ms(empty)
    assert summary["count"] == 0
    assert all(summary[key] is None for key in ("p50", "p90", "p99", "p99.9", "max", "mean"))
    field = latency.encode(empty)
    assert field["count"] == 0 and latency.field_summary_ms(field) == summary
    assert latency.merge([])["count"] == 0 and latency.cdf_ms(field) == ([], [])
    # An empty field adds nothing to a merge.
    full = latency.encode(latency.from_seconds([0.004]))
    assert latency.merge([field, full]) == latency.merge([full])


def test_values_beyond_the_range_are_clamped_and_counted() -> None:
    hour = latency.HIGHEST_US / 1e6
    hist = latency.from_seconds([0.0, 1e-9, 0.002, 2 * hour, 10 * hour])
    assert hist.get_total_count() == 5  # nothing dropped
    summary = latency.summary_ms(hist)
    assert summary["p50"] == pytest.approx(2.0, rel=RELATIVE)
    assert hist.get_value_at_percentile(20.0) == latency.LOWEST_US  # the two below 1 us, counted at 1 us
    assert summary["max"] * 1e3 == pytest.approx(latency.HIGHEST_US, rel=RELATIVE)  # the two above, at one hour
    assert hist.get_value_at_percentile(60.0) < latency.HIGHEST_US * (1 - RELATIVE)
    assert hist.get_value_at_percentile(80.0) == pytest.approx(latency.HIGHEST_US, rel=RELATIVE)


def test_scrubbing_a_record_leaves_its_histogram_readable() -> None:
    """A password that occurs in the histogram's base64 by chance is masked everywhere else, not there."""
    from bench.records.scrub import scrub

    field = latency.encode(latency.from_seconds(samples()[0]))
    secret = field["data"][40:44]  # four characters of the encoding: a short password could be these
    with pytest.raises(ValueError, match="damaged"):  # what masking them there would do
        latency.decode({**field, "data": field["data"].replace(secret, "***")})
    rec = {"kind": "db", "server_url": f"mysql://u:{secret}@127.0.0.1/test", latency.FIELD: field,
           "cell": {"reason": f"login {secret} refused", latency.FIELD: field}}
    clean = scrub(rec, secret)
    assert clean["server_url"] == "mysql://u:***@127.0.0.1/test" and clean["cell"]["reason"] == "login *** refused"
    for hist in (clean[latency.FIELD], clean["cell"][latency.FIELD]):
        assert hist == field and latency.decode(hist).get_total_count() == field["count"]
    # Only a histogram's data is left alone: the same string anywhere else is masked.
    assert scrub({"data": field["data"]}, secret)["data"] != field["data"]
