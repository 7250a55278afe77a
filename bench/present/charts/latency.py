"""The latency chart: the tail, and the time a worker really spends per operation.

Top row, one panel per load at the highest concurrency it was measured at: each strategy's p50, p99, p99.9 and max
per operation, and beside them ``workers ÷ correct ops/s``, the time a worker spends per operation with every wait
included.  Where that is far above the p99 the percentiles leave a wait out (``locked`` under gevent: the waits for
the lock are not timed, so its p50 looks the best of all while each operation takes a worker many times longer); a
note under the panels says so.  Bottom row, the loads measured at several concurrencies: p99 vs concurrency, with
the per-operation time drawn where it is above the p99.  Failed cells (a wrong reply, an error, a hang) have no
latency worth reading: they are named, not drawn.  Repeated cells are drawn at their median; the p99 line has a bar
from the lowest to the highest run.
"""

from __future__ import annotations

from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.present import palette
from bench.present.charts.figure import concurrency_axis, log_ticks, titled
from bench.present.charts.how import failure_text, failures, repeats_text, subtitle, window_text
from bench.present.common import loads_of, of_kind, strategies_of
from bench.present.spread import Cell, Spread, cells, correct_per_s
from bench.records.kinds import Record

Styles = dict[str, palette.StrategyStyle]
TITLE = "Latency per operation by connection strategy: the tail, and a worker's time per op (lower is better)"
#: A per-operation time this many times the p99 means the percentiles leave a wait out: the chart says so.
HIDDEN_WAIT = 3.0
PERCENTILES: tuple[str, ...] = ("p50", "p99", "p99.9", "max")


def latency_of(cell: Cell, key: str) -> Spread:
    """A percentile of the cell's latency in ms over its repeats."""
    return cell.of(lambda r: (r.latency_ms or {}).get(key))


def per_op_ms(cell: Cell) -> Spread:
    """``concurrency ÷ correct ops/s`` in ms: the time one worker spends per operation, waits included."""
    return cell.of(lambda r: 1000.0 * r.concurrency / v if (v := correct_per_s(r)) else None)


def draw_latency(records: list[Record], machine: str | None = None) -> Figure | None:
    """Top: percentiles and per-op time at each load's highest concurrency; bottom: p99 vs concurrency."""
    db = of_kind(records, "db")
    if not any((r.latency_ms or {}).get("p50") for r in db):
        return None
    groups = cells(db)
    loads = loads_of(db)
    styles = palette.strategy_styles(strategies_of(db))
    ok = {id(c): not failures(c) for c in groups}
    levels = {load: sorted({c.first.concurrency for c in groups if c.first.load == load}) for load in loads}
    values = [v for c in groups if ok[id(c)] for s in (*(latency_of(c, k) for k in PERCENTILES), per_op_ms(c))
              for v in (s.low, s.high) if v]
    span = (min(values, default=0.1) / 1.8, max(values, default=10.0) * 1.8)
    rows = max(sum(1 for c in groups if c.first.load == ld and c.first.concurrency == levels[ld][-1]) for ld in loads)
    several = [ld for ld in loads if len(levels[ld]) > 1]
    how = subtitle("percentiles: each operation as the harness timed it (HDR histogram); "
                   "per-op time: workers ÷ correct ops/s, every wait included", window_text(db), repeats_text(groups),
                   machine=machine)
    top_h = 0.19 * rows + 1.3
    fig, body = titled(top_h + (3.0 if several else 0) + 1.5, TITLE, how)
    top, bottom = body.subfigures(2, 1, height_ratios=[top_h, 3.0]) if several else (body, None)
    notes: list[str] = []
    axes = top.subplots(1, len(loads), squeeze=False, sharex=True)[0]
    for ax, load in zip(axes, loads, strict=True):
        at = [c for c in groups if c.first.load == load and c.first.concurrency == levels[load][-1]]
        notes += _tail_panel(ax, at, styles, ok, span)
        ax.set_title(f"load: {load}, {levels[load][-1]} workers", fontsize=9.5)
    if notes:
        top.supxlabel("\n".join(notes), fontsize=7.5, color=palette.FAIL_TEXT, ha="center")
    if bottom is not None:
        axes = bottom.subplots(1, len(several), squeeze=False, sharey=True)[0]
        for ax, load in zip(axes, several, strict=True):
            _p99_panel(ax, [c for c in groups if c.first.load == load and ok[id(c)]], styles, levels[load], span)
            ax.set_title(f"load: {load}: p99 vs concurrency", fontsize=9.5)
        axes[0].set_ylabel("ms per op (log scale)")
    body.legend(handles=_handles(styles), loc="outside lower center", ncols=6, frameon=False, fontsize=7.5)
    return fig


def _tail_panel(ax: Axes, at: list[Cell], styles: Styles, ok: dict[int, bool], span: tuple[float, float]) -> list[str]:
    """One load's strategies at one concurrency, a row each: p50 to p99 (thick), to max (thin), p99.9 tick, and the
    per-op time (diamond).  Returns a note for each cell whose per-op time is far above its p99."""
    names = [s for s in styles if any(c.first.strategy == s for c in at)]
    notes: list[str] = []
    for y, cell in enumerate(sorted(at, key=lambda c: names.index(c.first.strategy))):
        colour = styles[cell.first.strategy].colour
        if not ok[id(cell)]:
            ax.text(span[0] * 1.15, y, "failed: " + failure_text(failures(cell), counts=False, most=1),
                    va="center", fontsize=7, color=palette.FAIL_TEXT, fontweight="bold")
            continue
        p50, p99, p999, top = (latency_of(cell, k).median for k in PERCENTILES)
        if p50 and p99:
            ax.plot([p50, p99], [y, y], color=colour, linewidth=5, alpha=0.45, solid_capstyle="butt")
            ax.plot([p99, top or p99], [y, y], color=colour, linewidth=1.2)
            ax.plot([p50], [y], marker="o", color=colour, markersize=5, markeredgecolor="white", markeredgewidth=0.6)
        for value, marker in ((p999, "|"), (top, "|")):
            if value:
                ax.plot([value], [y], marker=marker, color=colour, markersize=7 if marker == "|" else 5)
        per = per_op_ms(cell).median
        if per:
            ax.plot([per], [y], marker="D", markersize=6.5, markerfacecolor="none", markeredgecolor="black",
                    markeredgewidth=1.2, zorder=5)
        if per and p99 and per > HIDDEN_WAIT * p99:
            notes.append(_hidden_wait_note(cell, per, p50, p99))
            ax.annotate("!", (per, y), xytext=(6, 0), textcoords="offset points", va="center", fontsize=9,
                        fontweight="bold", color=palette.FAIL_TEXT)
    ax.set_xscale("log")
    ax.set_xlim(*span)
    log_ticks(ax.xaxis, lambda v: f"{v:g}", *span)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_yticks(range(len(names)), names, fontsize=7.5)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", which="major", color="#E3E3E3", linewidth=0.6)
    ax.set_xlabel("ms per op (log scale)")
    return notes


def _hidden_wait_note(cell: Cell, per: float, p50: float | None, p99: float) -> str:
    r = cell.first
    rate = cell.of(correct_per_s).median or 0.0
    why = "its waits for the lock are not timed (waiters starve)" if r.strategy == "locked" else \
        "time outside the timed operation is not in its percentiles"
    return (f"! {r.load}, {r.strategy}: p50 {p50 or 0:.2g} ms and p99 {p99:.2g} ms, yet {r.concurrency} workers ÷ "
            f"{rate:,.0f} ops/s = {per:.2g} ms per op: {why}")


def _p99_panel(ax: Axes, mine: list[Cell], styles: Styles, levels: list[int], span: tuple[float, float]) -> None:
    """p99 vs concurrency, a line per strategy (bar: lowest to highest run), the per-op time where it is above."""
    for strategy, style in styles.items():
        line = sorted((c for c in mine if c.first.strategy == strategy), key=lambda c: c.first.concurrency)
        pts = [(c.first.concurrency, latency_of(c, "p99"), per_op_ms(c).median) for c in line]
        pts = [(x, s, per) for x, s, per in pts if s.median]
        if not pts:
            continue
        ax.plot([x for x, _, _ in pts], [s.median for _, s, _ in pts], color=style.colour, marker=style.marker,
                markersize=4.5, linewidth=1.3)
        for x, s, per in pts:
            if s.n > 1 and s.low != s.high and s.median is not None:
                ax.errorbar([x], [s.median], yerr=[[s.median - (s.low or 0)], [(s.high or 0) - s.median]],
                            fmt="none", ecolor=style.colour, elinewidth=1.0, capsize=2)
            if per and s.median and per > s.median:
                ax.plot([x, x], [s.median, per], color=style.colour, linestyle=":", linewidth=1)
                ax.plot([x], [per], marker="D", markersize=5, markerfacecolor="white", markeredgecolor=style.colour,
                        markeredgewidth=1.2)
    concurrency_axis(ax, levels)
    ax.set_yscale("log")
    ax.set_ylim(*span)
    log_ticks(ax.yaxis, lambda v: f"{v:g}", *span)


def _handles(styles: Styles) -> list[Any]:
    grey = "#444444"
    return [
        *(Line2D([], [], color=s.colour, marker=s.marker, markersize=4.5, linewidth=1.3, label=name)
          for name, s in styles.items()),
        Line2D([], [], color=grey, marker="o", markersize=5, linewidth=5, alpha=0.6, label="p50 to p99 (top)"),
        Line2D([], [], color=grey, marker="|", markersize=7, linewidth=1.2, label="p99.9, max (top)"),
        Line2D([], [], color="black", marker="D", markerfacecolor="none", linestyle="none", markersize=6,
               label="workers ÷ correct ops/s"),
    ]

