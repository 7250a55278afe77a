"""The request-scenario chart: impl (rows) x strategy (columns) per load: correct ops/s, or what failed.

A clean cell shows its correct operations per second; a cell where a request read another's context (wrong Local),
got a wrong reply or an error is hatched and says what failed, with counts, and no speed.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bench.present import palette
from bench.present.charts.figure import grid_axes, rect, titled
from bench.present.charts.how import FAIL_HATCH, repeats_text, subtitle, verdict_cell, window_text
from bench.present.common import impls_of, loads_of, of_kind, strategies_of
from bench.present.spread import Cell, cells
from bench.records.kinds import Record

TITLE = "Request scenario: a request context on a Local x a connection strategy, every reply checked"


def draw_request(records: list[Record], machine: str | None = None) -> Figure | None:
    """One panel per load: impl (rows) x strategy (columns): correct ops/s, or what failed."""
    req = of_kind(records, "request")
    if not req:
        return None
    loads = loads_of(req)
    impls = impls_of(req)
    strategies = strategies_of(req)
    grid: dict[tuple[str, str, str], Cell] = {}
    for cell in cells(req):
        r = cell.first
        grid.setdefault((r.impl, r.strategy, r.load), cell)
    how = subtitle(window_text(req), repeats_text(list(grid.values())),
                   "green: no leak, no wrong reply, no error, correct operations per second; "
                   "hatched: what failed (counts over all runs), no speed", machine=machine)
    panel_h = 0.42 * len(impls) + 1.2
    fig, body = titled(panel_h * len(loads) + 1.6, TITLE, how)
    axes = body.subplots(len(loads), 1, squeeze=False)[:, 0]
    for ax, load in zip(axes, loads, strict=True):
        for y, impl in enumerate(impls):
            for x, strategy in enumerate(strategies):
                drawn = verdict_cell(grid.get((impl, strategy, load)))
                ax.add_patch(rect(x, y, drawn.face, drawn.hatch))
                ax.text(x, y, drawn.text, ha="center", va="center", fontsize=7.5, color=drawn.colour,
                        fontweight=drawn.weight, linespacing=1.05,
                        bbox={"facecolor": drawn.face, "edgecolor": "none", "pad": 1.0} if drawn.hatch else None)
        grid_axes(ax, strategies, impls, show_rows=True, rotate=20)
        conc = sorted({r.concurrency for r in req if r.load == load})
        ax.set_title(f"load: {load}, {'/'.join(map(str, conc))} concurrent requests", fontsize=9.5)
    axes[-1].set_xlabel("connection strategy")
    body.legend(
        handles=[
            Patch(facecolor=palette.VERDICT_COLOURS["ok"], edgecolor="#999999", label="clean: correct ops/s"),
            Patch(facecolor=palette.VERDICT_COLOURS["fail"], edgecolor="#E58A5C", hatch=FAIL_HATCH,
                  label="what failed, no speed"),
            Patch(facecolor=palette.VERDICT_COLOURS["error"], edgecolor="#999999", label="hung / skipped / crashed"),
        ],
        loc="outside lower center", ncols=3, frameon=False, title_fontsize=8,
        title="wrong Local = requests that read another request's context; silent wrong = another operation's "
              "reply returned as success;\nwrong results = other wrong replies; errors = every error class",
    )
    return fig
