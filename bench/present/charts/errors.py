"""The errors chart: what went wrong, and only that: a row per strategy and kind of failure that happened at all.

Columns are load x concurrency.  Rows are the (strategy, failure) pairs with a count anywhere: silent wrong results
(another operation's reply returned as success: what a user cannot see) first, then errors (the most frequent class
written in), other wrong results (unattributable) and hung or crashed cells.  The strategies that were clean in
every cell are named under the grid, with how many cells had nothing to show.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bench.present import palette
from bench.present.charts.figure import grid_axes, heat_text_colour, rect, titled
from bench.present.charts.how import repeats_text, subtitle, window_text
from bench.present.common import error_total, loads_of, of_kind, short_count, silent_wrong, strategies_of
from bench.present.spread import Cell, Measured, cells
from bench.records.kinds import DbRecord, Record, known

Value = Callable[[Measured], int]
TITLE = "What went wrong, by connection strategy: silent wrong results, errors, other wrong results, hangs"


def _silent(rec: Measured) -> int:
    return int(silent_wrong(rec) or 0) if isinstance(rec, DbRecord) else 0


def _other_wrong(rec: Measured) -> int:
    """Wrong results that cannot be attributed to another operation."""
    return max(0, int(known(rec.wrong_results) or 0) - _silent(rec)) if isinstance(rec, DbRecord) else 0


def _errors(rec: Measured) -> int:
    return error_total(rec) if isinstance(rec, DbRecord) else 0


def _stopped(rec: Measured) -> int:
    return int(rec.outcome == "hung" or bool((known(getattr(rec, "errors", None)) or {}).get("cell-crashed")))


#: The kinds of failure, a row each where it happened: (row label, count of one record).
MEASURES: tuple[tuple[str, Value], ...] = (
    ("SILENT WRONG", _silent),
    ("errors", _errors),
    ("other wrong", _other_wrong),
    ("hung / crashed", _stopped),
)


def draw_errors(records: list[Record], machine: str | None = None) -> Figure | None:
    """A grid: (strategy, failure) rows with a count anywhere x load / concurrency columns; counts written in."""
    db = of_kind(records, "db")
    if not db:
        return None
    groups = cells(db)
    loads = loads_of(db)
    grid = {(c.first.strategy, c.first.load, c.first.concurrency): c for c in groups}
    rows = [(s, label, value) for s in strategies_of(db) for label, value in MEASURES
            if any(c.total(value) for (strategy, _, _), c in grid.items() if strategy == s)]
    clean = [c for c in groups if not any(c.total(value) for _, value in MEASURES)]
    failed_strategies = {s for s, _, _ in rows}
    clean_strategies = [s for s in strategies_of(db) if s not in failed_strategies]
    how = subtitle("counts over the measured window", window_text(db), repeats_text(groups, summed=True),
                   machine=machine)
    fig, body = titled(0.3 * max(len(rows), 1) + 2.5, TITLE, how)
    note = textwrap.fill(f"{len(clean)} of {len(groups)} cells had no error, no wrong result and no hang; "
                         + (f"clean in every cell, so not drawn: {', '.join(clean_strategies)}" if clean_strategies
                            else "no strategy was clean in every cell"), 125)
    if not rows:
        body.text(0.5, 0.5, f"Nothing went wrong.\n{note}", ha="center", va="center", fontsize=10, wrap=True)
        return fig
    levels = {load: sorted({c for (_, ld, c) in grid if ld == load}) for load in loads}
    axes = body.subplots(1, len(loads), squeeze=False, width_ratios=[max(len(levels[ld]), 1.8) for ld in loads])[0]
    counts = [c.total(value) for _, _, value in rows for c in groups]
    norm = LogNorm(vmin=1, vmax=max([*counts, 10]))
    # The pale start of OrRd is cut off: a count of 1 must not look like the white of a zero.
    cmap = ListedColormap(matplotlib.colormaps["OrRd"](np.linspace(0.22, 1.0, 256)))
    for col, load in enumerate(loads):
        ax = axes[col]
        for y, (strategy, label, value) in enumerate(rows):
            for x, c in enumerate(levels[load]):
                face, text, colour = _cell(grid.get((strategy, load, c)), label, value, cmap, norm)
                ax.add_patch(rect(x, y, face))
                ax.text(x, y, text, ha="center", va="center", fontsize=7 if "\n" in text else 8, color=colour,
                        fontweight="bold" if text not in ("0", "-") else "normal", linespacing=0.95)
        grid_axes(ax, [str(c) for c in levels[load]], [f"{s}: {label}" for s, label, _ in rows],
                  show_rows=col == 0, rotate=0)
        ax.set_title(f"load: {load}", fontsize=9.5)
        ax.set_xlabel("concurrent workers")
    _legend(body, cmap, norm, note)
    return fig


def _legend(body: Any, cmap: ListedColormap, norm: LogNorm, note: str) -> None:
    body.legend(
        handles=[
            Patch(facecolor="white", edgecolor="#999999", label="0: none"),
            Patch(facecolor=cmap(norm(10)), edgecolor="#999999", label="some (darker = more, log scale)"),
            Patch(facecolor=palette.VERDICT_COLOURS["missing"], edgecolor="none", label="- : not measured"),
        ],
        loc="outside lower center", ncols=3, frameon=False, title=note, title_fontsize=8.5,
    )


def _short_class(label: str) -> str:
    """An error class short enough for a grid cell: ``RuntimeError:reentrant`` -> ``reentrant``,
    ``InterfaceError`` -> ``Interface``."""
    head, _, tail = label.partition(":")
    if tail and head in ("RuntimeError", "pool"):
        label = tail
    elif label.endswith("Error") and len(label) > len("Error"):
        label = label[:-len("Error")]
    return label if len(label) <= 14 else label[:13] + "…"


def _cell(cell: Cell | None, label: str, value: Value, cmap: ListedColormap, norm: LogNorm) -> tuple[Any, str, str]:
    """(face colour, text, text colour) of one grid cell."""
    if cell is None:
        return palette.VERDICT_COLOURS["missing"], "-", "#777777"
    n = cell.total(value)
    if n == 0:
        return "#FFFFFF", "0", "#9A9A9A"
    face = cmap(norm(n))
    if label == "hung / crashed":
        words = sorted({"crashed" if _stopped(r) and r.outcome != "hung" else "hung" for r in cell.records
                        if _stopped(r)})
        text = "/".join(words) + (f" {n}/{cell.n}" if cell.n > 1 else "")
        return palette.VERDICT_COLOURS["error"], text, "white"
    text = short_count(n)
    if label == "errors":
        errors: dict[str, int] = {}
        for rec in cell.records:
            for k, v in (known(getattr(rec, "errors", None)) or {}).items():
                errors[k] = errors.get(k, 0) + int(v)
        if errors:
            text += "\n" + _short_class(max(errors, key=lambda k: errors[k]))
    return face, text, heat_text_colour(face)
