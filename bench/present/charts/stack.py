"""The real-stack chart: server (rows) x impl / strategy (columns): correct replies per second, or what failed.

A cell where every reply was the request's own shows its correct replies per second; a cell where any was not
(answered 200 with another request's row, another request's token in the Local, an error) is hatched and says what
failed, with counts, and no speed: a fast wrong answer is not a throughput.  A cell whose verdict the in-process
model did not predict is marked ``≠ model``.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bench.present import palette
from bench.present.charts.figure import grid_axes, rect, titled
from bench.present.charts.how import FAIL_HATCH, repeats_text, subtitle, verdict_cell, window_text
from bench.present.common import impls_of, of_kind, strategies_of
from bench.present.model import pair_all
from bench.present.spread import Cell, cells
from bench.records.kinds import Record

TITLE = "The real stack: a Flask app under real WSGI servers (Starlette under uvicorn), every reply checked"


def draw_stack(records: list[Record], machine: str | None = None) -> Figure | None:
    """One grid: server (rows) x impl / strategy (columns), at the first concurrency measured per cell."""
    stack = of_kind(records, "stack")
    if not stack:
        return None
    servers = list(dict.fromkeys(r.server for r in stack))
    columns = [(i, s) for i in impls_of(stack) for s in strategies_of(stack)
               if any(r.impl == i and r.strategy == s for r in stack)]
    grid: dict[tuple[str, str, str], Cell] = {}
    for cell in cells(stack):
        r = cell.first
        grid.setdefault((r.server, r.impl, r.strategy), cell)
    disagree = {id(p.stack) for p in pair_all(records) if p.verdict == "disagree"}
    conc = sorted({r.concurrency for r in stack})
    how = subtitle(f"{'/'.join(map(str, conc))} concurrent HTTP clients on loopback", window_text(stack),
                   repeats_text(list(grid.values())),
                   "green: every reply its own, correct replies per second",
                   "hatched: what failed (counts over all runs), no speed",
                   machine=machine)
    fig, body = titled(0.55 * len(servers) + 2.6, TITLE, how)
    ax = body.subplots(1, 1)
    for y, server in enumerate(servers):
        for x, (impl, strategy) in enumerate(columns):
            cell = grid.get((server, impl, strategy))
            mark = "≠ model" if cell is not None and any(id(r) in disagree for r in cell.records) else ""
            drawn = verdict_cell(cell, mark)
            ax.add_patch(rect(x, y, drawn.face, drawn.hatch))
            ax.text(x, y, drawn.text, ha="center", va="center", fontsize=7.5, color=drawn.colour,
                    fontweight=drawn.weight, linespacing=1.05,
                    bbox={"facecolor": drawn.face, "edgecolor": "none", "pad": 1.0} if drawn.hatch else None)
    grid_axes(ax, [f"{i}\n{s}" for i, s in columns], servers, show_rows=True, rotate=0)
    ax.set_xlabel("Local the request token is kept in / connection strategy")
    body.legend(
        handles=[
            Patch(facecolor=palette.VERDICT_COLOURS["ok"], edgecolor="#999999",
                  label="every reply its own: correct replies/s"),
            Patch(facecolor=palette.VERDICT_COLOURS["fail"], edgecolor="#E58A5C", hatch=FAIL_HATCH,
                  label="silent wrong / wrong Local / errors: what failed, no speed"),
            Patch(facecolor=palette.VERDICT_COLOURS["error"], edgecolor="#999999", label="hung / skipped / failed"),
        ],
        loc="outside lower center", ncols=3, frameon=False,
        title="silent wrong = answered 200 with another request's row; wrong Local = another request's token in "
              "the Local;\nerrors = HTTP and client errors; '≠ model' = the in-process model predicted otherwise",
        title_fontsize=8,
    )
    return fig
