"""What every chart shares: the figure (size, style, canvas), saving it, and the axes helpers of grids and log scales.

Every chart is 9 inches wide (900 px at README width; PNGs are written at 150 dpi so they stay sharp on
high-density screens).  Matplotlib is used through ``Figure`` and the Agg canvas directly (never
``pyplot``), so no GUI backend is touched and no global figure state leaks between charts.  SVGs carry no
date and stable ids, so the same records give the same files.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

FORMATS: tuple[str, ...] = ("png", "svg")
WIDTH_IN = 9.0
PNG_DPI = 150

STYLE: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 8.5,
    "figure.titlesize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "ctxbench",  # stable ids: the same records give the same SVG
    "svg.fonttype": "path",  # text as shapes: renders the same without the fonts installed
}


def figure(height: float) -> Figure:
    """A new figure of the charts' width and ``height`` inches, on its own Agg canvas."""
    fig = Figure(figsize=(WIDTH_IN, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def titled(height: float, title: str, how: str) -> tuple[Figure, SubFigure]:
    """A figure with its title (what is drawn) and, below it in smaller grey type, its subtitle (how it was measured).

    Draw into the returned subfigure (panels, legend): the title stays the figure's own ``suptitle``.
    """
    fig = figure(height)
    fig.suptitle(title, fontsize=12)
    body = fig.subfigures(1, 1)
    body.suptitle(how, fontsize=8.5, color="#444444")
    return fig, body


def save(fig: Figure, out_dir: Path, name: str, formats: Sequence[str]) -> list[Path]:
    """Write ``fig`` as ``out_dir/name.<fmt>`` for each format, each file atomically; return the paths."""
    paths = []
    for fmt in formats:
        path = out_dir / f"{name}.{fmt}"
        tmp = out_dir / f".{name}.tmp.{fmt}"
        metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {}
        fig.savefig(tmp, format=fmt, dpi=PNG_DPI, metadata=metadata, facecolor="white")
        tmp.replace(path)
        paths.append(path)
    return paths


def log_ticks(axis: Axis, fmt: Callable[[float], str], low: float, high: float) -> None:
    """Ticks on a log axis from ``low`` to ``high`` labelled with ``fmt``.

    1-2-5 over a few decades, powers of ten over many; never ``6x10^4``.
    """
    decades = math.log10(max(high, 1e-12) / max(low, 1e-12))
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 3.2 else (1.0,)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt(v)))
    axis.set_minor_locator(LogLocator(base=10, subs="auto"))
    axis.set_minor_formatter(NullFormatter())


def heat_text_colour(rgba: Sequence[float]) -> str:
    """Black or white, whichever reads on a cell of colour ``rgba``."""
    r, g, b = rgba[:3]
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"


def rect(x: float, y: float, face: Any, hatch: str | None = None) -> Rectangle:
    """The unit square of grid cell (x, y), hatched (a failed cell: readable without colour) when ``hatch`` is given."""
    if hatch:
        # the hatch takes the edge colour: draw it pale over the face, the white grid line is left out for it
        return Rectangle((x - 0.47, y - 0.47), 0.94, 0.94, facecolor=face, edgecolor="#E58A5C", hatch=hatch,
                         linewidth=0)
    return Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=face, edgecolor="white", linewidth=1.5)


def grid_axes(ax: Axes, columns: Sequence[str], rows: Sequence[str], *, show_rows: bool, rotate: float = 30) -> None:
    """Axes of a grid of cells: one labelled column and row per name, no ticks, no spines."""
    ax.set_xlim(-0.5, len(columns) - 0.5)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xticks(range(len(columns)), columns, rotation=rotate, ha="right" if rotate else "center",
                  rotation_mode="anchor")
    ax.set_yticks(range(len(rows)), rows if show_rows else [""] * len(rows))
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


def concurrency_axis(ax: Axes, levels: Sequence[int], *, label: bool = True) -> None:
    """A log-2 x axis from the lowest to the highest level measured, one tick per level."""
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(levels))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    if levels:
        ax.set_xlim(min(levels) / 1.4, max(levels) * 1.4)
    if label:
        ax.set_xlabel("concurrent workers")
    ax.grid(which="major", color="#E3E3E3", linewidth=0.6)


def points(ax: Axes, pts: Sequence[tuple[float, float]], **style: Any) -> None:
    """Plot (x, y) points; nothing at all when there are none (an empty unclipped line would upset the layout)."""
    if pts:
        ax.plot([x for x, _ in pts], [y for _, y in pts], **style)


def failed_handle(label: str) -> Line2D:
    """The legend entry of a failed cell's marker (hollow: a cell with no speed)."""
    return Line2D([], [], color="#555555", marker="o", markerfacecolor="white", linestyle="none", markersize=6,
                  label=label)


def bar_handle() -> Line2D:
    """The legend entry of the bar drawn from a cell's lowest to its highest run."""
    return Line2D([], [], color="#555555", marker="|", markersize=9, linestyle="none",
                  label="bar: lowest to highest run")
