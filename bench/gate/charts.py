"""``--charts DIR``: this run's standard charts (:mod:`bench.present.charts`) plus ``regress.png``/``.svg``.

``regress.png`` draws one row per compared metric: every baseline and every new sample as a
slowdown against the baseline median, coloured by the metric's verdict, threshold marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bench.gate import stats
from bench.gate.decision import GateOutcome, SpeedResult, slowdown_of
from bench.records.kinds import DbRecord, Record

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def chart_records(records: Sequence[Record]) -> list[Record]:
    """Records for the standard charts: of the repeats of a db cell, the one with the median ops/s."""
    cells: dict[tuple[str, str, int], list[DbRecord]] = {}
    out: list[Record] = []
    for rec in records:
        if isinstance(rec, DbRecord):
            cells.setdefault((rec.strategy, rec.load, rec.concurrency), []).append(rec)
        else:
            out.append(rec)
    for repeats in cells.values():
        repeats.sort(key=lambda r: float(r.ops_per_s or 0.0))
        out.append(repeats[len(repeats) // 2])
    return out


def _colours() -> dict[str, str]:
    from bench.present.palette import OKABE_ITO

    return {"regression": OKABE_ITO["vermillion"], "unconfirmed": OKABE_ITO["orange"], "improved": OKABE_ITO["green"],
            "ok": OKABE_ITO["blue"], "undecidable": OKABE_ITO["purple"]}


def _points(r: SpeedResult) -> tuple[list[float], list[float]]:
    """(baseline samples, samples now) as % slower; an A/B result has only its paired samples (against the base)."""
    paired = getattr(r, "paired", None)
    if paired is not None:
        return [], [100 * (p - 1 if r.kind == "micro" else 1 - p) for p in paired]
    centre = stats.median(r.base)
    return ([100 * slowdown_of(r.kind, centre, s) for s in r.base],
            [100 * slowdown_of(r.kind, centre, s) for s in r.now])


def draw_gate(outcome: GateOutcome) -> Figure | None:
    """One row per compared metric: every sample as a slowdown against the baseline median, threshold marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from bench.present.palette import OKABE_ITO

    results = sorted(outcome.speed, key=lambda r: r.name)
    if not results:
        return None
    fig = Figure(figsize=(9.0, 1.2 + 0.28 * len(results)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colours, threshold = _colours(), OKABE_ITO["vermillion"]
    for y, r in enumerate(results):
        base_x, now_x = _points(r)
        ax.scatter(base_x, [y - 0.15] * len(base_x), s=12, facecolors="none", edgecolors="#7A7A7A", zorder=2)
        ax.scatter(now_x, [y + 0.15] * len(now_x), s=14, color=colours[r.verdict], zorder=3)
        ax.plot([100 * r.max_slowdown] * 2, [y - 0.4, y + 0.4], color=threshold, linewidth=1, linestyle="--", zorder=1)
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_yticks(range(len(results)), [r.name for r in results])
    ax.invert_yaxis()
    ab = any(hasattr(r, "paired") for r in results)
    ax.set_xlabel("change slower than base, per process (micro) or pair of cells (db), % (negative: faster)" if ab
                  else "slower than the baseline median, % (negative: faster)")
    seen = {r.verdict for r in results}
    handles = [*([] if ab else [Line2D([], [], marker="o", linestyle="none", markerfacecolor="none",
                                       markeredgecolor="#7A7A7A", label="baseline samples")]),
               *[Line2D([], [], marker="o", linestyle="none", color=c, label=f"now: {v}")
                 for v, c in colours.items() if v in seen],
               Line2D([], [], color=threshold, linestyle="--", label="threshold")]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
    fig.suptitle("ctxbench regress --against: each paired sample, change against base" if ab
                 else "ctxbench regress: each sample's slowdown against the baseline median")
    return fig


def write_charts(out_dir: Path, records: Sequence[Record], outcome: GateOutcome | None) -> list[Path]:
    """The standard charts of this run's records, and ``regress.png``/``.svg`` of the comparison."""
    from bench.present import charts

    written = charts.draw_all(chart_records(records), out_dir)
    fig = draw_gate(outcome) if outcome is not None else None
    if fig is not None:
        for fmt in charts.FORMATS:
            path = out_dir / f"regress.{fmt}"
            fig.savefig(path, format=fmt, dpi=charts.PNG_DPI, metadata={"Date": None} if fmt == "svg" else {},
                        facecolor="white")
            written.append(path)
    return written
