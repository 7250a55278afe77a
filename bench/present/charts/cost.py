"""The cost-per-op chart: grouped bars per op, one per impl, log scale, the floor and threading.local marked."""

from __future__ import annotations

from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.present import palette
from bench.present.charts.figure import figure, log_ticks
from bench.present.common import OP_ORDER, impls_of, of_kind, ordered
from bench.records.kinds import MicroRecord, Record

#: Values net of the harness can be ~0: they are drawn at half a nanosecond.
FLOOR_NS = 0.5
#: The reference lines drawn across each op's group: (impl, colour, line style).
REFERENCES: tuple[tuple[str, str, Any], ...] = (
    ("plain", palette.FLOOR_COLOUR, (0, (2, 1.5))),
    ("threading-local", palette.REFERENCE_COLOUR, "--"),
)


def draw_cost(records: list[Record]) -> Figure | None:
    """Grouped bars per op, one per impl, log scale, floor and threading.local marked as lines across each group."""
    micro = of_kind(records, "micro")
    if not micro:
        return None
    ops = ordered((r.op for r in micro), OP_ORDER)
    cells = {(r.impl, r.op): r for r in micro}
    impls = [i for i in impls_of(micro) if i != "plain"]
    fig = figure(4.6)
    ax = fig.subplots()
    tops = _bars(ax, impls, ops, cells)
    for g, op in enumerate(ops):
        for name, colour, style in REFERENCES:
            rec = cells.get((name, op))
            if rec is not None:
                ax.hlines(max(float(rec.ns_median), FLOOR_NS), g - 0.46, g + 0.46, colors=colour, linestyles=style,
                          linewidth=1.3, zorder=4)
    ax.set_yscale("log")
    ax.set_xticks(range(len(ops)), ops)
    ax.set_xlim(-0.5, len(ops) - 0.5)
    if tops:
        ax.set_ylim(FLOOR_NS * 0.8 if any(cells.get(("plain", op)) for op in ops) else None, max(tops) * 1.8)
    low, high = ax.get_ylim()
    log_ticks(ax.yaxis, lambda v: f"{v:g}", low, high)
    ax.grid(axis="y", which="major", color="#DDDDDD", linewidth=0.6, zorder=0)
    ax.set_xlabel("operation on the Local (stack ops through LocalStack, proxy-get through LocalProxy)")
    ax.set_ylabel("ns per op (median, log scale)")
    _legend(fig, ax, micro)
    procs = sorted({r.processes for r in micro if isinstance(r.processes, int)})
    how = (f"median over {procs[-1]} fresh process{'es' if procs[-1] != 1 else ''}, error bars ± MAD" if procs
           else "median, error bars ± MAD")
    ax.set_title(f"{how}; lower is better", fontsize=9, color="#444444")
    fig.suptitle("Cost per operation of each Local implementation")
    return fig


def _bars(ax: Axes, impls: list[str], ops: list[str], cells: dict[tuple[str, str], MicroRecord]) -> list[float]:
    """One bar per impl in each op's group, with its ± MAD; return the top of every error bar."""
    width = 0.84 / max(1, len(impls))
    tops: list[float] = []
    for k, impl in enumerate(impls):
        xs, ys, lows, highs = [], [], [], []
        for g, op in enumerate(ops):
            rec = cells.get((impl, op))
            if rec is None:
                continue
            median = max(float(rec.ns_median), FLOOR_NS)
            spread = float(rec.ns_spread or 0.0)
            xs.append(g - 0.42 + width * (k + 0.5))
            ys.append(median)
            lows.append(median - max(median - spread, FLOOR_NS))
            highs.append(spread)
            tops.append(median + spread)
        ax.bar(xs, ys, width=width * 0.92, color=palette.impl_colour(impl), label=impl, zorder=2)
        ax.errorbar(xs, ys, yerr=[lows, highs], fmt="none", ecolor="#444444", elinewidth=0.8, capsize=1.5, zorder=3)
    return tops


def _legend(fig: Figure, ax: Axes, micro: list[MicroRecord]) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if any(r.impl == "plain" for r in micro):
        handles.append(Line2D([], [], color=palette.FLOOR_COLOUR, linestyle=(0, (2, 1.5)), linewidth=1.3))
        labels.append("floor: plain attribute")
    if any(r.impl == "threading-local" for r in micro):
        handles.append(Line2D([], [], color=palette.REFERENCE_COLOUR, linestyle="--", linewidth=1.3))
        labels.append("threading.local (reference)")
    fig.legend(handles, labels, loc="outside lower center", ncols=min(5, len(labels)), frameon=False)
