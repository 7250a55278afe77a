"""The network chart: correct ops/s against the measured round trip, a line per strategy, the round trip's bound drawn.

Both axes are logarithmic, so a bound ``k / RTT`` is a straight dashed line falling one decade per decade: a
strategy that lives on the network (a lock: one round trip at a time; a pool: C at once) runs along its line, one
that does not (a connection per operation: several round trips per operation) runs parallel below it.  The x value
of every point is the round trip *measured* through the cell's path (median ping, bar p10-p90), never the setting.
Each clean point is labelled with the share of its bound it reached.  A cell that failed (a wrong reply, an error, a
hang) has no speed worth drawing: it is a hollow marker at the bottom of its panel with what failed written under
it.  One panel per kind of cell x load (or server) x workers; repeated cells are drawn at their median with the
lowest to highest run as a bar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.present import palette
from bench.present.charts.figure import bar_handle, failed_handle, log_ticks, titled
from bench.present.charts.how import failure_text, failures, repeats_text, subtitle, window_text
from bench.present.common import short_count, strategies_of
from bench.present.network import (
    bound,
    group_of,
    group_title,
    measured_rtt,
    network_cells,
    share_of_bound,
    share_text,
)
from bench.present.spread import Cell, Measured, correct_per_s
from bench.records.kinds import Record, StackRecord, known

Styles = dict[str, palette.StrategyStyle]
Span = tuple[float, float]
TITLE = "Throughput against the round trip to the database, and what the round trip allows"
#: Where a point's share label goes (points right, points up), strategy by strategy.
LABEL_CORNERS = ((7, -4), (-7, 4), (7, 4), (-7, -4))
#: How a bound is drawn: C/RTT dashed, 1/RTT dotted, any other k/RTT dash-dotted; all grey, under the data.
BOUND_DASHES: dict[str, Any] = {"C": (0, (6, 3)), "1": (0, (1.2, 2.2)), "k": (0, (6, 2, 1.2, 2))}
BOUND_STYLE: dict[str, Any] = {"color": palette.CEILING_COLOUR, "linewidth": 1.3, "zorder": 1}


def draw_network(records: list[Record], machine: str | None = None) -> Figure | None:
    """Correct ops/s vs measured round trip per strategy, a panel per kind x load x workers, bounds dashed."""
    found = network_cells(records)
    if not found:
        return None
    groups: dict[tuple[str, ...], list[Cell]] = {}
    for cell in found:
        groups.setdefault(group_of(cell.first), []).append(cell)
    styles = palette.strategy_styles(strategies_of([c.first for c in found]))
    ncols = 1 if len(groups) == 1 else 2
    nrows = math.ceil(len(groups) / ncols)
    how = subtitle("x: the round trip measured through the cell's path just before it ran (median of 60 SELECT 1 "
                   "pings, bar: p10-p90), not the setting",
                   "y: correct replies only; grey lines: what the round trip alone allows if each operation took one "
                   "round trip, operations in flight / RTT", "C/RTT: a pool or a connection per worker, C workers; "
                   "1/RTT: one connection behind a lock", "%: the share of its bound a cell reached",
                   "failed cells: hollow, at the bottom, named",
                   window_text([r for c in found for r in c.records]), repeats_text(found), machine=machine)
    fig, body = titled(4.4 * nrows + 1.4, TITLE, how)
    axes = body.subplots(nrows, ncols, squeeze=False)
    xspan, yspan = _spans(found)
    bounds: dict[str, str] = {}
    for i, (ax, members) in enumerate(zip(axes.flat, groups.values(), strict=False)):
        bounds.update(_panel(ax, members, styles, xspan, yspan))
        ax.set_title(group_title(members[0].first))
        if i % ncols == 0:
            ax.set_ylabel("correct operations per second (log scale)")
        ax.set_xlabel("measured round trip, ms (log scale)")
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    body.legend(handles=_handles(styles, bounds, any(failures(c) for c in found), max(c.n for c in found) > 1),
                loc="outside lower center", ncols=4, frameon=False, fontsize=8)
    return fig


def _spans(found: Sequence[Cell]) -> tuple[Span, Span]:
    """The x span (every measured round trip and its p10-p90) and the y span (every clean rate and bar, with room
    below for the failed cells) shared by the panels."""
    xs = [v for c in found for r in c.records for v in (known(r.rtt_p10_ms), known(r.rtt_p90_ms), known(r.rtt_ms))
          if isinstance(v, int | float) and v > 0]
    ys = [v for c in found if not failures(c) for v in (c.of(correct_per_s).low, c.of(correct_per_s).high) if v]
    return _decade(min(xs, default=0.05) / 1.6, max(xs, default=2.0) * 1.6), \
        _decade(min(ys, default=100.0) / 4.0, max(ys, default=1e4) * 3.0)


def _decade(low: float, high: float) -> Span:
    """``(low, high)``, widened evenly (in log) to a decade at least: a log axis needs a few ticks to be read."""
    if high / low >= 10.0:
        return low, high
    widen = (10.0 / (high / low)) ** 0.5
    return low / widen, high * widen


def _in_flight(cell: Cell) -> int | None:
    """Operations in flight at once behind the cell's bound (bound x round trip), None when either is unknown."""
    top, rtt = bound(cell), measured_rtt(cell)
    return round(top * rtt / 1000.0) if top and rtt else None


def _total(rec: Measured) -> int:
    if isinstance(rec, StackRecord):
        return rec.concurrency
    return known(rec.total_concurrency) or rec.concurrency * (known(rec.processes) or 1)


def bound_name(k: int, total: int) -> tuple[str, str]:
    """The legend's name of the bound ``k / RTT`` in a panel of ``total`` workers, and its dash kind."""
    if k == 1:
        return "bound 1/RTT (one connection)", "1"
    if k == total:
        return f"bound C/RTT (C={k})", "C"
    return f"bound {k}/RTT ({k} locks)", "k"


def _bounds(ax: Axes, members: Sequence[Cell], xspan: Span) -> dict[str, str]:
    """One grey line per distinct number in flight, ``k / RTT``; the names drawn (for the legend) and their dashes."""
    total = _total(members[0].first)
    drawn: dict[str, str] = {}
    for k in sorted({k for k in (_in_flight(c) for c in members) if k}):
        name, dash = bound_name(k, total)
        xs = [xspan[0] * (xspan[1] / xspan[0]) ** (i / 40) for i in range(41)]
        ax.plot(xs, [k * 1000.0 / x for x in xs], linestyle=BOUND_DASHES[dash], **BOUND_STYLE)
        drawn[name] = dash
    return drawn


def _panel(ax: Axes, members: Sequence[Cell], styles: Styles, xspan: Span, yspan: Span) -> dict[str, str]:
    """One panel: each strategy's clean cells as a line over the measured round trip, failed cells at the bottom;
    the bounds drawn (their names and dashes)."""
    bounds = _bounds(ax, members, xspan)
    for i, (strategy, style) in enumerate(styles.items()):
        mine = sorted((c for c in members if c.first.strategy == strategy), key=lambda c: measured_rtt(c) or 0.0)
        clean = [c for c in mine if not failures(c) and measured_rtt(c) and c.of(correct_per_s).median]
        xs = [measured_rtt(c) or 0.0 for c in clean]
        ax.plot(xs, [c.of(correct_per_s).median for c in clean], color=style.colour, marker=style.marker,
                markersize=6, linewidth=1.5, zorder=3)
        for c, x in zip(clean, xs, strict=True):
            _bars(ax, c, x, style.colour)
            share = share_of_bound(c)
            if share is not None:  # each strategy its own corner: neighbours' labels do not collide
                dx, dy = LABEL_CORNERS[i % len(LABEL_CORNERS)]
                ax.annotate(share_text(share), (x, c.of(correct_per_s).median or 0.0), xytext=(dx, dy),
                            textcoords="offset points", fontsize=7.5, color=style.colour,
                            ha="left" if dx > 0 else "right", va="top" if dy < 0 else "bottom")
        for c in (c for c in mine if failures(c) and measured_rtt(c)):
            y = yspan[0] * 1.35
            ax.plot([measured_rtt(c)], [y], linestyle="none", marker=style.marker, markersize=6,
                    markerfacecolor="white", markeredgecolor=style.colour, markeredgewidth=1.4, zorder=3)
            ax.text(measured_rtt(c) or 0.0, y / 1.12, failure_text(failures(c), counts=False, most=1), ha="center",
                    va="top", fontsize=6.5, color=palette.FAIL_TEXT, fontweight="bold")
    ax.set_xscale("log")
    ax.set_xlim(*xspan)
    log_ticks(ax.xaxis, _ms, *xspan)
    ax.set_yscale("log")
    ax.set_ylim(*yspan)
    log_ticks(ax.yaxis, short_count, *yspan)
    ax.grid(which="major", color="#E3E3E3", linewidth=0.6)
    return bounds


def _bars(ax: Axes, cell: Cell, x: float, colour: str) -> None:
    """The measured round trip's p10-p90 (horizontal) and, for a repeated cell, the lowest to highest run."""
    rate = cell.of(correct_per_s)
    low = min((v for v in (known(r.rtt_p10_ms) for r in cell.records) if v), default=x)
    high = max((v for v in (known(r.rtt_p90_ms) for r in cell.records) if v), default=x)
    y = rate.median or 0.0
    yerr = [[y - (rate.low or y)], [(rate.high or y) - y]] if rate.n > 1 else None
    ax.errorbar([x], [y], xerr=[[max(0.0, x - low)], [max(0.0, high - x)]], yerr=yerr, fmt="none", ecolor=colour,
                elinewidth=1.0, capsize=2.0, zorder=4)


def _ms(value: float) -> str:
    return f"{value:g}"


def _handles(styles: Styles, bounds: dict[str, str], failed: bool, bars: bool) -> list[Line2D]:
    handles = [Line2D([], [], color=s.colour, marker=s.marker, markersize=5, linewidth=1.5, label=name)
               for name, s in styles.items()]
    handles += [Line2D([], [], label=name, linestyle=BOUND_DASHES[dash], **BOUND_STYLE)
                for name, dash in bounds.items()]
    if failed:
        handles.append(failed_handle("failed cell: no speed"))
    if bars:
        handles.append(bar_handle())
    return handles
