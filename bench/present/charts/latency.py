"""The latency chart: p50 and p99 vs concurrency per strategy and load, and the latency CDF at one concurrency."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from bench.present import palette
from bench.present.charts.figure import concurrency_axis, figure, log_ticks
from bench.present.common import loads_of, of_kind, strategies_of
from bench.records import latency
from bench.records.kinds import DbRecord, Record

#: Preferred concurrency for the latency CDF (else the one measured in the most cells).
CDF_CONCURRENCY = 16
#: The recorded percentiles the CDF is drawn through when a record has no histogram (records written before
#: ``latency_hist``, such as the stored reference run's), as (key, fraction of ops at or below).
FALLBACK_QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0))


def _cdf_y_forward(y: Any) -> Any:
    return -np.log10(np.clip(1.0 - np.asarray(y, dtype=float), 0, None) + 1e-3)


def _cdf_y_inverse(t: Any) -> Any:
    return 1.0 + 1e-3 - np.power(10.0, -np.asarray(t, dtype=float))


def cdf_points(rec: DbRecord) -> tuple[list[float], list[float], bool]:
    """(latency ms, fraction of ops at or below it, from_histogram) for one db record.

    From the record's HDR histogram (``latency_hist``) when it has a non-empty one it can read; else through the
    recorded percentiles (``latency_ms``), which are only a few points of the curve.
    """
    field = rec.latency_hist
    if isinstance(field, dict) and field.get("count"):
        try:
            xs, ys = latency.cdf_ms(field)
        except ValueError:
            xs, ys = [], []
        if xs:
            return xs, ys, True
    lat = rec.latency_ms or {}
    pts = [(float(v), q) for v, q in ((lat.get(k), q) for k, q in FALLBACK_QUANTILES)
           if isinstance(v, (int, float)) and v > 0]
    return [v for v, _ in pts], [q for _, q in pts], False


def _cdf_concurrency(db: list[DbRecord]) -> int | None:
    with_latency = [r for r in db if (r.latency_ms or {}).get("p50")]
    levels = sorted({r.concurrency for r in with_latency})
    if not levels:
        return None
    if CDF_CONCURRENCY in levels:
        return CDF_CONCURRENCY
    counts = {c: sum(1 for r in with_latency if r.concurrency == c) for c in levels}
    return max(levels, key=lambda c: (counts[c], c))


def draw_latency(records: list[Record]) -> Figure | None:
    """Top row: p50 (solid) and p99 (dashed) vs concurrency per strategy; bottom row: the latency CDF at one level."""
    db = of_kind(records, "db")
    if not any((r.latency_ms or {}).get("p50") for r in db):
        return None
    loads = loads_of(db)
    strategies = strategies_of(db)
    levels = sorted({r.concurrency for r in db})
    at = _cdf_concurrency(db)
    fig = figure(7.6)
    axes = fig.subplots(2, len(loads), squeeze=False)
    lat_values = [v for r in db for k, v in (r.latency_ms or {}).items()
                  if k in ("p50", "p99", "max") and isinstance(v, (int, float)) and v > 0]
    span = (min(lat_values) / 1.6, max(lat_values) * 1.6)
    any_hist = False
    for col, load in enumerate(loads):
        _percentile_panel(axes[0][col], [r for r in db if r.load == load], load, strategies, levels, span)
        at_level = [r for r in db if r.load == load and r.concurrency == at]
        any_hist = _cdf_panel(axes[1][col], at_level, load, strategies, at, span, any_hist)
    handles = [Line2D([], [], color=palette.strategy_colour(s), linewidth=1.6, label=s) for s in strategies]
    handles += [Line2D([], [], color="#333333", marker="o", markersize=3.5, linewidth=1.2, label="p50 (top row)"),
                Line2D([], [], color="#333333", marker="^", markersize=3.5, linewidth=1.2, linestyle="--",
                       label="p99 (top row)")]
    fig.legend(handles=handles, loc="outside lower center", ncols=5, frameon=False)
    how = ("CDF from per-op HDR histograms" if any_hist
           else "CDF drawn through the recorded p50, p90, p99, p99.9 and max")
    fig.suptitle(f"Latency by connection strategy ({how})")
    return fig


def _percentile_panel(ax: Axes, db: list[DbRecord], load: str, strategies: list[str], levels: list[int],
                      span: tuple[float, float]) -> None:
    """p50 (solid) and p99 (dashed) vs concurrency, a line per strategy, for one load."""
    for strategy in strategies:
        rows = sorted((r for r in db if r.strategy == strategy), key=lambda r: r.concurrency)
        colour = palette.strategy_colour(strategy)
        for key, style, marker in (("p50", "-", "o"), ("p99", "--", "^")):
            values = [(r.concurrency, (r.latency_ms or {}).get(key)) for r in rows]
            pts = [(c, float(v)) for c, v in values if isinstance(v, (int, float)) and v > 0]
            ax.plot([c for c, _ in pts], [v for _, v in pts], color=colour, linestyle=style, marker=marker,
                    markersize=3.5, linewidth=1.2)
    concurrency_axis(ax, levels)
    ax.set_yscale("log")
    ax.set_ylim(*span)
    log_ticks(ax.yaxis, lambda v: f"{v:g}", *span)
    ax.set_title(f"load: {load}\np50 (solid), p99 (dashed)", fontsize=10)
    ax.set_ylabel("latency per op, ms (log scale)")


def _cdf_panel(ax: Axes, at_level: list[DbRecord], load: str, strategies: list[str], at: int | None,
               span: tuple[float, float], any_hist: bool) -> bool:
    """The latency CDF of each strategy at concurrency ``at`` for one load; return whether a histogram was drawn yet."""
    for strategy in strategies:
        rec = next((r for r in at_level if r.strategy == strategy), None)
        if rec is None:
            continue
        xs, ys, from_hist = cdf_points(rec)
        any_hist = any_hist or from_hist
        if xs:
            ax.plot(xs, ys, color=palette.strategy_colour(strategy), marker=None if from_hist else "o", markersize=3.5,
                    linewidth=1.3, drawstyle="steps-post" if from_hist else "default")
    ax.set_xscale("log")
    ax.set_xlim(*span)
    log_ticks(ax.xaxis, lambda v: f"{v:g}", *span)
    ax.set_yscale("function", functions=(_cdf_y_forward, _cdf_y_inverse))
    ax.set_ylim(0.45 if not any_hist else 0.0, 1.0)
    ticks = [0.5, 0.9, 0.99, 0.999, 1.0] if not any_hist else [0.0, 0.5, 0.9, 0.99, 0.999, 1.0]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: "max" if v >= 0.9999 else f"{v * 100:g}%"))
    ax.grid(color="#E3E3E3", linewidth=0.6)
    ax.set_xlabel("latency per op, ms (log scale)")
    ax.set_ylabel("share of ops at or below")
    ax.set_title(f"load: {load}\nlatency CDF at {at} workers", fontsize=10)
    return any_hist
