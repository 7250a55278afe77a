"""The throughput chart: successful ops/s vs concurrency, a line per strategy, one panel per load, the ceiling drawn."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.present import palette
from bench.present.charts.figure import concurrency_axis, figure, log_ticks, points
from bench.present.common import is_bad, loads_of, of_kind, short_count, strategies_of
from bench.records.kinds import DbRecord, Record


def draw_throughput(records: list[Record]) -> Figure | None:
    """Successful ops/s vs concurrency, a line per strategy, one panel per load, the mysqlslap ceiling drawn."""
    db = of_kind(records, "db")
    if not db:
        return None
    loads = loads_of(db)
    strategies = strategies_of(db)
    levels = sorted({r.concurrency for r in db})
    fig = figure(4.4)
    axes = list(fig.subplots(1, len(loads), squeeze=False, sharey=True)[0])
    values = [r.ops_per_s for r in db if isinstance(r.ops_per_s, (int, float)) and r.ops_per_s > 0]
    ceilings = {r.concurrency: r.server_ceiling_ops_per_s for r in db
                if isinstance(r.server_ceiling_ops_per_s, (int, float))}
    top = max([*values, *ceilings.values(), 1.0])
    bottom = min(values) / 2.5 if values else 1.0
    idle = False
    for ax, load in zip(axes, loads, strict=True):
        if ceilings:
            xs = sorted(ceilings)
            ax.plot(xs, [ceilings[c] for c in xs], color=palette.CEILING_COLOUR, linewidth=5, alpha=0.25,
                    solid_capstyle="round", zorder=1)
            ax.plot(xs, [ceilings[c] for c in xs], color=palette.CEILING_COLOUR, linewidth=1, linestyle=":", zorder=1)
        for k, strategy in enumerate(strategies):
            rows = sorted((r for r in db if r.load == load and r.strategy == strategy),
                          key=lambda r: r.concurrency)
            if rows:
                # markers on the bottom edge side by side, not on top of each other
                dodge = 2 ** (0.05 * (k - (len(strategies) - 1) / 2))
                idle = _strategy_line(ax, rows, strategy, load, bottom, dodge) or idle
        concurrency_axis(ax, levels)
        ax.set_yscale("log")
        ax.set_ylim(bottom, top * 1.6)
        ax.set_title(f"load: {load}")
    axes[0].set_ylabel("successful operations per second (log scale)")
    for ax in axes:
        log_ticks(ax.yaxis, short_count, bottom, top * 1.6)
    fig.legend(handles=_handles(strategies, bool(ceilings), idle), loc="outside lower center", ncols=4, frameon=False)
    mix = mix_text(db)
    fig.suptitle("Throughput by connection strategy" + (f" ({mix})" if mix else ""))
    return fig


def _strategy_line(ax: Axes, rows: list[DbRecord], strategy: str, load: str, bottom: float, dodge: float) -> bool:
    """One strategy's line and markers in one panel; True when a clean cell finished no op (drawn at the bottom)."""
    colour = palette.strategy_colour(strategy)
    style = palette.load_style(load)
    pts = [(r.concurrency, float(r.ops_per_s or 0.0), is_bad(r)) for r in rows]
    points(ax, [(c, v) for c, v, _bad in pts if v > 0], color=colour, linestyle=style.linestyle, linewidth=1.4,
           zorder=2)
    points(ax, [(c, v) for c, v, bad in pts if not bad and v > 0], linestyle="none", marker=style.marker, color=colour,
           markersize=5, zorder=3)
    points(ax, [(c, v) if v > 0 else (c * dodge, bottom) for c, v, bad in pts if bad], linestyle="none", marker="X",
           color=colour, markersize=8, markeredgecolor="white", markeredgewidth=0.6, zorder=4, clip_on=False)
    points(ax, [(c * dodge, bottom) for c, v, bad in pts if not bad and v <= 0], linestyle="none", marker=style.marker,
           markersize=6, markerfacecolor="white", markeredgecolor=colour, markeredgewidth=1.4, zorder=4, clip_on=False)
    return any(not bad and v <= 0 for _c, v, bad in pts)


def _handles(strategies: list[str], ceilings: bool, idle: bool) -> list[Line2D]:
    handles = [Line2D([], [], color=palette.strategy_colour(s), marker="o", markersize=4, linewidth=1.4, label=s)
               for s in strategies]
    if ceilings:
        handles.append(Line2D([], [], color=palette.CEILING_COLOUR, linewidth=5, alpha=0.35,
                              label="server ceiling (mysqlslap, C client)"))
    handles.append(Line2D([], [], color="#555555", marker="X", linestyle="none", markersize=7,
                          label="errors or wrong results (bottom edge: 0 ops/s)"))
    if idle:
        handles.append(Line2D([], [], color="#555555", marker="o", markerfacecolor="white", linestyle="none",
                              markersize=6, label="no error, but 0 ops in the window (bottom edge)"))
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
