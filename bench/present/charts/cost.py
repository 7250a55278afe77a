"""The cost-per-op chart: grouped bars per op, one per impl, log scale, the floor and threading.local marked.

What is measured is one thread with nothing beside it: the cost of a Local that is never contended.  Beside the
bars, a grid says under which loads each Local is unsafe (an isolation probe found a violation there), so a cheap
Local that leaks under a load is not read as a bargain.
"""

from __future__ import annotations

from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from bench.cell.probes import JUDGED
from bench.present import palette
from bench.present.charts.figure import grid_axes, log_ticks, rect, titled
from bench.present.charts.how import FAIL_HATCH, subtitle
from bench.present.common import OP_ORDER, impls_of, loads_of, of_kind, ordered
from bench.records.kinds import MicroRecord, ProbeRecord, Record, known

#: Values net of the harness can be ~0: they are drawn at half a nanosecond.
FLOOR_NS = 0.5
#: The reference lines drawn across each op's group: (impl, colour, line style).
REFERENCES: tuple[tuple[str, str, Any], ...] = (
    ("plain", palette.FLOOR_COLOUR, (0, (2, 1.5))),
    ("threading-local", palette.REFERENCE_COLOUR, "--"),
)


TITLE = "Cost per operation of each Local: one thread, no load (lower is better)"


def draw_cost(records: list[Record], machine: str | None = None) -> Figure | None:
    """Grouped bars per op, one per impl, log scale, floor and threading.local marked as lines across each group;
    beside them, the loads under which each impl is unsafe (from the isolation probes)."""
    micro = of_kind(records, "micro")
    if not micro:
        return None
    ops = ordered((r.op for r in micro), OP_ORDER)
    cells = {(r.impl, r.op): r for r in micro}
    impls = [i for i in impls_of(micro) if i != "plain"]
    probes = [r for r in of_kind(records, "probe") if r.impl in impls]
    procs = sorted({r.processes for r in micro if isinstance(r.processes, int)})
    runs = f"median of {procs[-1]} fresh process{'es' if procs[-1] != 1 else ''}" if procs else "median"
    how = subtitle("ns per op net of the timing loop, one thread, nothing beside it (no load, no contention)",
                   f"{runs}, bars ± MAD",
                   "right: the loads under which the isolation probes found the Local unsafe" if probes else "",
                   machine=machine)
    fig, body = titled(4.9, TITLE, how)
    if probes:
        ax, side = body.subplots(1, 2, width_ratios=[3.6, 1.25])
        _safety(side, impls, probes)
    else:
        ax = body.subplots()
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
    _legend(body, ax, micro)
    return fig


def _safety(ax: Axes, impls: list[str], probes: list[ProbeRecord]) -> None:
    """Impl (rows, with its bar colour) x load: hatched where a judged probe found violations, with how many probes."""
    loads = loads_of(probes)
    for y, impl in enumerate(impls):
        ax.add_patch(Rectangle((-1.05, y - 0.3), 0.45, 0.6, facecolor=palette.impl_colour(impl), clip_on=False))
        for x, load in enumerate(loads):
            mine = [r for r in probes if r.impl == impl and r.load == load and r.probe in JUDGED and r.outcome == "ok"]
            failed = sum(1 for r in mine if (known(r.violations) or 0) > 0)
            if not mine:
                face, hatch, text, colour = palette.VERDICT_COLOURS["missing"], None, "-", "#777777"
            elif failed:
                face, hatch, text, colour = palette.VERDICT_COLOURS["fail"], FAIL_HATCH, f"✗{failed}", palette.FAIL_TEXT
            else:
                face, hatch, text, colour = palette.VERDICT_COLOURS["ok"], None, "ok", "#1E4D3A"
            ax.add_patch(rect(x, y, face, hatch))
            ax.text(x, y, text, ha="center", va="center", fontsize=7, color=colour, fontweight="bold" if failed else
                    "normal", bbox={"facecolor": face, "edgecolor": "none", "pad": 0.6} if hatch else None)
    grid_axes(ax, loads, impls, show_rows=True, rotate=40)
    ax.tick_params(axis="y", pad=16, labelsize=8)
    ax.set_title("unsafe under a load?\n✗n: n probes found a leak", fontsize=8.5)


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


def _legend(fig: Any, ax: Axes, micro: list[MicroRecord]) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if any(r.impl == "plain" for r in micro):
        handles.append(Line2D([], [], color=palette.FLOOR_COLOUR, linestyle=(0, (2, 1.5)), linewidth=1.3))
        labels.append("floor: plain attribute")
    if any(r.impl == "threading-local" for r in micro):
        handles.append(Line2D([], [], color=palette.REFERENCE_COLOUR, linestyle="--", linewidth=1.3))
        labels.append("threading.local (reference)")
    fig.legend(handles, labels, loc="outside lower center", ncols=min(5, len(labels)), frameon=False)
