"""The throughput chart: correct ops/s vs concurrency, a line per strategy, one panel per load, the ceiling drawn.

Throughput is correct replies per second (:func:`bench.present.spread.correct_per_s`).  A cell that failed (a
wrong reply, an error, a hang) has no speed worth drawing: it is drawn in a strip under its panel, a hollow marker
with what failed written beside it.  Each panel's x axis spans the concurrencies measured under its load; a load
measured at one concurrency is drawn as one point per strategy (a categorical axis), not on an empty line axis.
Repeated cells are drawn at their median with a bar from the lowest to the highest run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.present import palette
from bench.present.charts.figure import bar_handle, concurrency_axis, failed_handle, log_ticks, titled
from bench.present.charts.how import failure_text, failures, repeats_text, subtitle, window_text
from bench.present.common import loads_of, of_kind, short_count, strategies_of
from bench.present.spread import Cell, Spread, cells, correct_per_s, spread
from bench.records.kinds import DbRecord, Record

Styles = dict[str, palette.StrategyStyle]
TITLE = "Throughput: correct operations per second by connection strategy (higher is better)"


def draw_throughput(records: list[Record], machine: str | None = None) -> Figure | None:
    """Correct ops/s vs concurrency per strategy, a panel per load; failed cells in a strip beneath, labelled."""
    db = of_kind(records, "db")
    if not db:
        return None
    groups = cells(db)
    loads = loads_of(db)
    styles = palette.strategy_styles(strategies_of(db))
    failed = {id(c): failures(c) for c in groups}
    rows_of = {load: [s for s in styles if any(failed[id(c)] for c in groups
                                               if c.first.load == load and c.first.strategy == s)] for load in loads}
    strip = max((len(rows) for rows in rows_of.values()), default=0)
    how = subtitle("right replies only: a cell with a wrong reply, an error or a hang is named in the strip below, "
                   "not drawn as a speed", mix_text(db), window_text(db), repeats_text(groups),
                   machine=machine)
    fig, body = titled(4.3 + (0.55 * strip + 0.5 if strip else 0), TITLE, how)
    axes = body.subplots(2 if strip else 1, len(loads), squeeze=False, sharex="col",
                         height_ratios=[3.6, 0.55 * strip + 0.2] if strip else None)
    good = [v for c in groups if not failed[id(c)] for v in (c.of(correct_per_s).high,) if v]
    ceilings = _ceilings(db)
    span = (min(good, default=1.0) / 2.0, max([*good, *ceilings.values(), 10.0]) * 1.6)
    for col, load in enumerate(loads):
        ax = axes[0][col]
        mine = [c for c in groups if c.first.load == load]
        levels = sorted({c.first.concurrency for c in mine})
        xs = _panel(ax, mine, levels, styles, failed, ceilings)
        if strip:
            _strip(axes[1][col], mine, xs, rows_of[load], styles, failed)
        _y_axis(ax, span, first=col == 0)
        if len(levels) > 1:
            axes[-1][col].set_xlabel("concurrent workers")
        else:
            names = [s for s in styles if any(c.first.strategy == s for c in mine)]
            axes[-1][col].set_xticks(range(len(names)), names, rotation=35, ha="right", rotation_mode="anchor",
                                     fontsize=8)
        ax.set_title(f"load: {load}" + (f", {levels[0]} workers" if len(levels) == 1 else ""))
    if strip:
        axes[1][0].set_ylabel("failed:\nno speed", rotation=0, ha="right", va="center", fontsize=8)
    body.legend(handles=_handles(styles, bool(ceilings), bool(strip), max(c.n for c in groups) > 1),
                loc="outside lower center", ncols=5, frameon=False, fontsize=8)
    return fig


def _ceilings(db: list[DbRecord]) -> dict[int, float]:
    """The server's ceiling (mysqlslap) at each concurrency, the median of what the records say."""
    by_level: dict[int, list[float]] = {}
    for r in db:
        if isinstance(r.server_ceiling_ops_per_s, int | float):
            by_level.setdefault(r.concurrency, []).append(float(r.server_ceiling_ops_per_s))
    return {c: spread(v).median or 0.0 for c, v in sorted(by_level.items())}


def _positions(cells_: Sequence[Cell], levels: list[int], styles: Styles) -> dict[int, float]:
    """Where each cell is drawn on the x axis: its concurrency (dodged per strategy), or its strategy's slot when the
    load has one concurrency."""
    names = [s for s in styles if any(c.first.strategy == s for c in cells_)]
    if len(levels) == 1:
        return {id(c): float(names.index(c.first.strategy)) for c in cells_}
    mid = (len(names) - 1) / 2
    return {id(c): c.first.concurrency * 2 ** (0.045 * (names.index(c.first.strategy) - mid)) for c in cells_}


def _panel(ax: Axes, mine: list[Cell], levels: list[int], styles: Styles, failed: dict[int, Any],
           ceilings: dict[int, float]) -> dict[int, float]:
    """One load's panel: each strategy's correct ops/s (median, bar over repeats) and the ceiling; return x per cell."""
    xs = _positions(mine, levels, styles)
    single = len(levels) == 1
    for strategy, style in styles.items():
        line = sorted((c for c in mine if c.first.strategy == strategy), key=lambda c: c.first.concurrency)
        if not line:
            continue
        pts = [(xs[id(c)], None if failed[id(c)] else c.of(correct_per_s)) for c in line]
        ys = [s.median if s is not None else float("nan") for _, s in pts]
        ax.plot([x for x, _ in pts], ys, color=style.colour, marker=style.marker, markersize=5.5,
                linestyle="none" if single else "-", linewidth=1.4, zorder=3)
        for x, s in pts:
            _bar(ax, x, s, style.colour)
            if single and s is not None and s.median:
                ax.vlines(x, 1e-3, s.median, color=style.colour, linewidth=2.5, alpha=0.35, zorder=2)
    names = [s for s in styles if any(c.first.strategy == s for c in mine)]
    if single:
        ax.set_xlim(-0.6, len(names) - 0.4)
        ceiling = ceilings.get(levels[0])
        if ceiling:
            ax.axhline(ceiling, color=palette.CEILING_COLOUR, linewidth=5, alpha=0.25, zorder=1)
    else:
        concurrency_axis(ax, levels, label=False)
        at = [c for c in levels if c in ceilings]
        if at:
            ax.plot(at, [ceilings[c] for c in at], color=palette.CEILING_COLOUR, linewidth=5, alpha=0.25,
                    solid_capstyle="round", zorder=1)
    return xs


def _bar(ax: Axes, x: float, s: Spread | None, colour: str) -> None:
    """The lowest-to-highest bar of a repeated cell (nothing for one run)."""
    if s is None or s.median is None or s.n < 2 or s.low == s.high:
        return
    ax.errorbar([x], [s.median], yerr=[[s.median - (s.low or 0.0)], [(s.high or 0.0) - s.median]], fmt="none",
                ecolor=colour, elinewidth=1.1, capsize=2.5, zorder=4)


def _strip(ax: Axes, mine: list[Cell], xs: dict[int, float], rows: list[str], styles: Styles,
           failed: dict[int, Any]) -> None:
    """The failed cells of one load: a row per strategy, a hollow marker and what failed at each failed cell."""
    for y, strategy in enumerate(rows):
        style = styles[strategy]
        for c in mine:
            if c.first.strategy != strategy or not failed[id(c)]:
                continue
            ax.plot([xs[id(c)]], [y - 0.25], linestyle="none", marker=style.marker, markersize=6,
                    markerfacecolor="white", markeredgecolor=style.colour, markeredgewidth=1.4)
            label = failure_text(failed[id(c)], counts=False, most=1).replace(" ", "\n")
            ax.text(xs[id(c)], y - 0.05, label, ha="center", va="top", fontsize=6.5, color=palette.FAIL_TEXT,
                    fontweight="bold", linespacing=0.95)
    ax.set_ylim(len(rows) - 0.4 if rows else 0.6, -0.6)
    ax.set_yticks(range(len(rows)), rows, fontsize=7.5)
    ax.tick_params(axis="y", length=0)
    ax.set_facecolor("#FBEFEA")
    for spine in ("left", "top", "right"):
        ax.spines[spine].set_visible(False)
    if not rows:
        ax.text(0.5, 0.5, "no failed cell", transform=ax.transAxes, ha="center", va="center", fontsize=7.5,
                color="#555555")


def _y_axis(ax: Axes, span: tuple[float, float], *, first: bool) -> None:
    ax.set_yscale("log")
    ax.set_ylim(*span)
    log_ticks(ax.yaxis, short_count, *span)
    ax.grid(which="major", color="#E3E3E3", linewidth=0.6)
    if first:
        ax.set_ylabel("correct operations per second (log scale)")


def _handles(styles: Styles, ceilings: bool, strip: bool, bars: bool) -> list[Line2D]:
    handles = [Line2D([], [], color=s.colour, marker=s.marker, markersize=5, linewidth=1.4, label=name)
               for name, s in styles.items()]
    if ceilings:
        handles.append(Line2D([], [], color=palette.CEILING_COLOUR, linewidth=5, alpha=0.35,
                              label="server ceiling (mysqlslap)"))
    if strip:
        handles.append(failed_handle("failed cell (strip): no speed"))
    if bars:
        handles.append(bar_handle())
    return handles


def mix_text(db: list[DbRecord]) -> str:
    """The operation mix every db record shares, in words; "" when they differ or none says."""
    mixes = {tuple(sorted((r.mix or {}).items())) for r in db if r.mix}
    if len(mixes) != 1:
        return ""
    mix = dict(next(iter(mixes)))
    total = sum(mix.values())
    if set(mix) == {"select_token"}:
        return "SELECT %s per op"
    return "mix: " + ", ".join(f"{name} {weight}/{total}" for name, weight in mix.items())
