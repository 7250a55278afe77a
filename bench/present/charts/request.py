"""The request-scenario chart: impl (rows) x strategy (columns) per load: local violations, wrong results, ops/s."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bench.present import palette
from bench.present.charts.figure import figure, grid_axes, rect
from bench.present.common import error_total, impls_of, loads_of, of_kind, short_count, strategies_of
from bench.records.kinds import Record, RequestRecord, known

KEY_TITLE = ("cell text: L = requests that read another's context (Local), W = wrong DB replies, E = errors; "
             "then successful ops/s")


def draw_request(records: list[Record]) -> Figure | None:
    """One panel per load: impl (rows) x strategy (columns): local violations, wrong results, ops/s."""
    req = of_kind(records, "request")
    if not req:
        return None
    loads = loads_of(req)
    impls = impls_of(req)
    strategies = strategies_of(req)
    cells = {(r.impl, r.strategy, r.load): r for r in req}
    panel_h = 0.42 * len(impls) + 1.2
    fig = figure(panel_h * len(loads) + 1.0)
    axes = fig.subplots(len(loads), 1, squeeze=False)[:, 0]
    for ax, load in zip(axes, loads, strict=True):
        for y, impl in enumerate(impls):
            for x, strategy in enumerate(strategies):
                face, text, colour, weight = request_cell(cells.get((impl, strategy, load)))
                ax.add_patch(rect(x, y, face))
                ax.text(x, y, text, ha="center", va="center", fontsize=7.5, color=colour, fontweight=weight,
                        linespacing=1.05)
        grid_axes(ax, strategies, impls, show_rows=True, rotate=20)
        conc = sorted({r.concurrency for r in req if r.load == load})
        ax.set_title(f"load: {load}, {'/'.join(map(str, conc))} concurrent requests", fontsize=9.5)
    axes[-1].set_xlabel("connection strategy")
    fig.legend(
        handles=[
            Patch(facecolor=palette.VERDICT_COLOURS["ok"], edgecolor="#999999", label="no leak, no error"),
            Patch(facecolor=palette.VERDICT_COLOURS["fail"], edgecolor="#999999",
                  label="local violations, wrong results or errors (bold)"),
            Patch(facecolor=palette.VERDICT_COLOURS["error"], edgecolor="#999999", label="hung / skipped / crashed"),
        ],
        loc="outside lower center", ncols=3, frameon=False, title=KEY_TITLE, title_fontsize=8.5,
    )
    fig.suptitle("Request scenario: request context on a Local x connection strategy")
    return fig


def request_cell(rec: RequestRecord | None) -> tuple[str, str, str, str]:
    """(face colour, text, text colour, font weight) of one request-scenario cell."""
    if rec is None:
        return palette.VERDICT_COLOURS["missing"], "-", "#777777", "normal"
    outcome = rec.outcome
    if outcome in ("hung", "skipped"):
        return palette.VERDICT_COLOURS["error"], str(outcome), "white", "bold"
    if (rec.errors or {}).get("cell-crashed"):
        return palette.VERDICT_COLOURS["error"], "cell\ncrashed", "white", "bold"
    lv = known(rec.local_violations)
    wr = known(rec.wrong_results)
    errors = error_total(rec)
    rate = rec.ops_per_s
    line1 = f"L {short_count(lv)}  W {short_count(wr)}"
    rate_text = f"{short_count(rate)}/s" if isinstance(rate, (int, float)) else "-/s"
    line2 = (f"E {short_count(errors)}  " if errors else "") + rate_text
    bad = bool(lv) or bool(wr) or bool(errors) or outcome != "ok"
    if bad:
        return palette.VERDICT_COLOURS["fail"], f"{line1}\n{line2}", palette.FAIL_TEXT, "bold"
    return palette.VERDICT_COLOURS["ok"], f"{line1}\n{line2}", "#1E4D3A", "normal"
