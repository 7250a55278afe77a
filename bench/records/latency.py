"""Latency histograms: exact to three significant digits, encoded in a record, merged by adding.

A record's ``latency_hist`` field holds an HDR histogram (the ``hdrhistogram`` package)
of its operations' latencies in microseconds, compressed and base64-encoded as the
HdrHistogram V2 format every HdrHistogram library reads.  Percentiles are read from it;
records of several processes or machines are combined by adding their histograms
(:func:`merge`), never by averaging percentiles, which has no meaning.

The field::

    {"unit": "us", "format": "hdrh-v2", "significant_digits": 3, "count": 12345, "data": "HISTFAAAA..."}

Any value from 1 us to one hour is kept with a relative error under 0.1%; a value
outside that range is clamped to it (and so counted, not lost).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from hdrh.histogram import HdrHistogram

#: Record field holding the encoded histogram.
FIELD = "latency_hist"
FORMAT = "hdrh-v2"
UNIT = "us"
LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3
#: The percentiles a record reports, as (key, percentile).
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))


class HistogramField(TypedDict):
    """The encoded form of one histogram, as stored in a record."""

    unit: str
    format: str
    significant_digits: int
    count: int
    data: str


def new() -> HdrHistogram:
    """An empty histogram with the suite's range and precision."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def from_seconds(values: Any) -> HdrHistogram:
    """A histogram of ``values`` (seconds; a sequence or a numpy array)."""
    import numpy as np

    hist = new()
    micros = np.clip(np.rint(np.asarray(values, dtype=float) * 1e6), LOWEST_US, HIGHEST_US).astype(np.int64)
    if micros.size:
        # Latencies repeat to the microsecond: record each distinct value once with its count
        # (a few thousand calls instead of one per operation).
        distinct, counts = np.unique(micros, return_counts=True)
        for value, count in zip(distinct.tolist(), counts.tolist(), strict=True):
            hist.record_value(value, count)
    return hist


def encode(hist: HdrHistogram) -> HistogramField:
    """The record field for ``hist``."""
    return {"unit": UNIT, "format": FORMAT, "significant_digits": SIGNIFICANT_DIGITS,
            "count": int(hist.get_total_count()), "data": hist.encode().decode("ascii")}


def decode(field: Mapping[str, Any]) -> HdrHistogram:
    """The histogram of a record field; ValueError when the field is not one this module wrote, its data is
    damaged, or it holds another count than the field says."""
    if not isinstance(field, Mapping) or field.get("format") != FORMAT or field.get("unit") != UNIT:
        raise ValueError(f"not a {FORMAT} latency histogram in {UNIT}")
    data = field.get("data")
    if not isinstance(data, str):
        raise ValueError("latency histogram without data")
    hist = new()
    if field.get("count"):
        try:
            hist.add(HdrHistogram.decode(data.encode("ascii")))
        except Exception as exc:  # hdrh's own classes, binascii's and zlib's: a damaged encoding either way
            raise ValueError(f"damaged latency histogram data ({type(exc).__name__})") from None
    if hist.get_total_count() != (field.get("count") or 0):
        raise ValueError(f"latency histogram holds {hist.get_total_count()} values, its field says "
                         f"{field.get('count')}")
    return hist


def merge(fields: Iterable[Mapping[str, Any]]) -> HistogramField:
    """One field holding every operation of ``fields`` (their histograms added)."""
    total = new()
    for field in fields:
        total.add(decode(field))
    return encode(total)


def summary_ms(hist: HdrHistogram) -> dict[str, float | int | None]:
    """Count, p50, p90, p99, p99.9, max and mean in milliseconds (None each when the histogram is empty)."""
    count = int(hist.get_total_count())
    out: dict[str, float | int | None] = {"count": count}
    for key, pct in PERCENTILES:
        out[key] = round(hist.get_value_at_percentile(pct) / 1e3, 3) if count else None
    out["max"] = round(hist.get_max_value() / 1e3, 3) if count else None
    out["mean"] = round(hist.get_mean_value() / 1e3, 3) if count else None
    return out


def field_summary_ms(field: Mapping[str, Any]) -> dict[str, float | int | None]:
    """:func:`summary_ms` of a record field."""
    return summary_ms(decode(field))


def cdf_ms(field: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    """(latency ms, fraction of operations at or below it) at every distinct recorded value."""
    hist = decode(field)
    total = hist.get_total_count()
    xs: list[float] = []
    ys: list[float] = []
    running = 0
    for item in hist.get_recorded_iterator():
        running += item.count_at_value_iterated_to
        xs.append(hist.get_highest_equivalent_value(item.value_iterated_to) / 1e3)
        ys.append(running / total)
    return xs, ys
