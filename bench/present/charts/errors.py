"""The errors chart: strategy (rows) x concurrency (columns) heatmaps per load.

Silent wrong results (another operation's reply returned as success: what a user cannot see) on top,
errors below them, the other wrong results (unattributable) last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bench.present import palette
from bench.present.charts.figure import figure, grid_axes, heat_text_colour, rect
from bench.present.common import error_total, loads_of, of_kind, short_count, silent_wrong, strategies_of
from bench.records.kinds import DbRecord, Record

Value = Callable[[DbRecord], int | None]


def _other_wrong(rec: DbRecord) -> int | None:
    """Wrong results that cannot be attributed to another operation."""
    wrong, silent = rec.wrong_results, silent_wrong(rec)
    if not isinstance(wrong, int):
        return None
    return wrong - silent if isinstance(silent, int) else wrong


#: The rows of panels: (title, the count drawn, whether the most frequent error class is written in).
PANELS: tuple[tuple[str, Value, bool], ...] = (
    ("SILENT WRONG: another operation's reply returned as success", silent_wrong, False),
    ("errors (the most frequent class below, without its 'Error' suffix)", error_total, True),
    ("other wrong results (unattributable)", _other_wrong, False),
)


def draw_errors(records: list[Record]) -> Figure | None:
    """Heatmaps, strategy (rows) x concurrency (columns), a column per load: one row of panels per :data:`PANELS`."""
    db = of_kind(records, "db")
    if not db:
        return None
    strategies = strategies_of(db)
    loads = loads_of(db)
    cells = {(r.strategy, r.load, r.concurrency): r for r in db}
    panel_h = 0.36 * len(strategies) + 1.0
    fig = figure(len(PANELS) * panel_h + 1.3)
    # One subfigure per row of panels: its title spans the row (a per-panel title that long overlaps its neighbours).
    rows = fig.subfigures(len(PANELS), 1)
    counts = [v for r in db for _, value, _ in PANELS for v in (value(r),) if isinstance(v, int) and v > 0]
    norm = LogNorm(vmin=1, vmax=max([*counts, 10]))
    # The pale start of OrRd is cut off: a count of 1 must not look like the white of a zero.
    cmap = ListedColormap(matplotlib.colormaps["OrRd"](np.linspace(0.22, 1.0, 256)))
    for row, (title, value, with_class) in enumerate(PANELS):
        axes = rows[row].subplots(1, len(loads), squeeze=False)[0]
        rows[row].suptitle(title, fontsize=10.5)
        for col, load in enumerate(loads):
            ax = axes[col]
            levels = sorted({r.concurrency for r in db if r.load == load})
            for y, strategy in enumerate(strategies):
                for x, c in enumerate(levels):
                    face, text, colour, weight = _error_cell(cells.get((strategy, load, c)), value, cmap, norm,
                                                             with_class=with_class)
                    ax.add_patch(rect(x, y, face))
                    ax.text(x, y, text, ha="center", va="center", fontsize=7.5 if "\n" in text else 8.5, color=colour,
                            fontweight=weight, linespacing=1.0)
            grid_axes(ax, [str(c) for c in levels], strategies, show_rows=col == 0, rotate=0)
            ax.set_title(f"load: {load}", fontsize=9.5)
            ax.set_xlabel("concurrent workers")
    _legend(fig, cmap, norm)
    fig.suptitle("Silent wrong results, errors and other wrong results by connection strategy\n"
                 "(counts over the measured window)")
    return fig


def _legend(fig: Figure, cmap: ListedColormap, norm: LogNorm) -> None:
    fig.legend(
        handles=[
            Patch(facecolor="white", edgecolor="#999999", label="0: none"),
            Patch(facecolor=cmap(norm(10)), edgecolor="#999999", label="some (darker = more, log scale)"),
            Patch(facecolor=palette.VERDICT_COLOURS["error"], edgecolor="#999999",
                  label="hung / skipped / cell crashed"),
            Patch(facecolor=palette.VERDICT_COLOURS["missing"], edgecolor="none", label="- : not measured"),
        ],
        loc="outside lower center", ncols=4, frameon=False,
    )


def _short_class(label: str) -> str:
    """An error class short enough for a grid cell: ``RuntimeError:reentrant`` -> ``reentrant``,
    ``InterfaceError`` -> ``Interface`` (the panel's title says the suffix is left off)."""
    head, _, tail = label.partition(":")
    if tail and head in ("RuntimeError", "pool"):
        label = tail
    elif label.endswith("Error") and len(label) > len("Error"):
        label = label[:-len("Error")]
    return label if len(label) <= 16 else label[:15] + "…"


def _error_cell(rec: DbRecord | None, value: Value, cmap: ListedColormap, norm: LogNorm,
                *, with_class: bool) -> tuple[Any, str, str, str]:
    """(face colour, text, text colour, font weight) of one heatmap cell."""
    if rec is None:
        return palette.VERDICT_COLOURS["missing"], "-", "#777777", "normal"
    outcome = rec.outcome
    n = value(rec)
    if (rec.errors or {}).get("cell-crashed"):
        return palette.VERDICT_COLOURS["error"], "crashed", "white", "bold"
    if outcome in ("hung", "skipped") and not n:
        return palette.VERDICT_COLOURS["error"], str(outcome), "white", "bold"
    if not isinstance(n, int):
        return palette.VERDICT_COLOURS["error"], "?", "white", "bold"
    if n == 0:
        return "#FFFFFF", "0", "#9A9A9A", "normal"
    face = cmap(norm(n))
    text = short_count(n)
    if outcome == "hung":
        text += " hung"
    if with_class:
        errors = rec.errors or {}
        if errors:
            top = max(errors, key=lambda k: errors[k])
            text += "\n" + _short_class(top)
    return face, text, heat_text_colour(face), "bold"
