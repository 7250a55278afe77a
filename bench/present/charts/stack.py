"""The real-stack chart: server (rows) x impl / strategy (columns): silent wrong, wrong Local, errors, req/s.

Each cell leads with the count a deployed app's users would meet first: replies answered 200 with another
request's row (S).  A cell whose verdict the in-process model did not predict is marked ``≠ model``.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bench.present import palette
from bench.present.charts.figure import figure, grid_axes, rect
from bench.present.common import impls_of, of_kind, short_count, strategies_of
from bench.present.model import pair_all, stack_errors
from bench.records.kinds import Record, StackRecord, known

#: Two lines: one line is wider than the figure and matplotlib clips it on both sides.
KEY_TITLE = ("cell text: S = answered 200 with another request's row (silent wrong), L = another request's token "
             "in the Local,\nE = HTTP and client errors; then requests/s (every reply in the window); "
             "'≠ model' = the in-process model predicted otherwise")


def draw_stack(records: list[Record]) -> Figure | None:
    """One grid: server (rows) x impl / strategy (columns), at the first concurrency measured per cell."""
    stack = of_kind(records, "stack")
    if not stack:
        return None
    servers = list(dict.fromkeys(r.server for r in stack))
    columns = [(i, s) for i in impls_of(stack) for s in strategies_of(stack)
               if any(r.impl == i and r.strategy == s for r in stack)]
    cells: dict[tuple[str, str, str], StackRecord] = {}
    for r in stack:
        cells.setdefault((r.server, r.impl, r.strategy), r)
    disagree = {id(p.stack) for p in pair_all(records) if p.verdict == "disagree"}
    fig = figure(0.55 * len(servers) + 2.4)
    ax = fig.subplots(1, 1)
    for y, server in enumerate(servers):
        for x, (impl, strategy) in enumerate(columns):
            rec = cells.get((server, impl, strategy))
            face, text, colour, weight = stack_cell(rec, rec is not None and id(rec) in disagree)
            ax.add_patch(rect(x, y, face))
            ax.text(x, y, text, ha="center", va="center", fontsize=7.5, color=colour, fontweight=weight,
                    linespacing=1.05)
    grid_axes(ax, [f"{i}\n{s}" for i, s in columns], servers, show_rows=True, rotate=0)
    conc = sorted({r.concurrency for r in stack})
    ax.set_title(f"{'/'.join(map(str, conc))} concurrent HTTP clients on loopback", fontsize=9.5)
    ax.set_xlabel("Local the request token is kept in / connection strategy")
    fig.legend(
        handles=[
            Patch(facecolor=palette.VERDICT_COLOURS["ok"], edgecolor="#999999", label="every reply its own"),
            Patch(facecolor=palette.VERDICT_COLOURS["fail"], edgecolor="#999999",
                  label="silent wrong, wrong Local or errors (bold)"),
            Patch(facecolor=palette.VERDICT_COLOURS["error"], edgecolor="#999999", label="hung / skipped / failed"),
        ],
        loc="outside lower center", ncols=3, frameon=False, title=KEY_TITLE, title_fontsize=8,
    )
    fig.suptitle("The real stack: a Flask app under real WSGI servers (Starlette under uvicorn), every reply checked")
    return fig


def stack_cell(rec: StackRecord | None, disagrees: bool = False) -> tuple[str, str, str, str]:
    """(face colour, text, text colour, font weight) of one real-stack cell."""
    if rec is None:
        return palette.VERDICT_COLOURS["missing"], "-", "#777777", "normal"
    outcome = rec.outcome
    mark = "\n≠ model" if disagrees else ""
    if outcome in ("hung", "skipped", "error"):
        return palette.VERDICT_COLOURS["error"], f"{outcome}{mark}", "white", "bold"
    silent, local, errors = known(rec.silent_wrong), known(rec.wrong_local), stack_errors(rec)
    rate = rec.ops_per_s
    line1 = f"S {short_count(silent)}  L {short_count(local)}"
    rate_text = f"{short_count(rate)}/s" if isinstance(rate, (int, float)) else "-/s"
    line2 = (f"E {short_count(errors)}  " if errors else "") + rate_text
    text = f"{line1}\n{line2}{mark}"
    if silent or local or errors or outcome != "ok":
        return palette.VERDICT_COLOURS["fail"], text, palette.FAIL_TEXT, "bold"
    return palette.VERDICT_COLOURS["ok"], text, "#1E4D3A", "normal"
