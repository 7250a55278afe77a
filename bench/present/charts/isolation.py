"""The isolation chart: one panel per probe, impl (rows) x load (columns), coloured pass/fail, counts written in."""

from __future__ import annotations

import math

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bench.cell.probes import JUDGED, PROBES
from bench.present import palette
from bench.present.charts.figure import grid_axes, rect, titled
from bench.present.charts.how import FAIL_HATCH, subtitle
from bench.present.common import impls_of, loads_of, of_kind, ordered
from bench.records.kinds import ProbeRecord, Record, known

Cells = dict[tuple[str, str, str], ProbeRecord]


def draw_isolation(records: list[Record], machine: str | None = None) -> Figure | None:
    """One panel per probe: impl (rows) x load (columns), coloured pass/fail, counts written in; then the key."""
    probes_recs = of_kind(records, "probe")
    if not probes_recs:
        return None
    probes = ordered((r.probe for r in probes_recs), PROBES)
    impls = impls_of(probes_recs)
    loads = loads_of(probes_recs)
    cells = {(r.impl, r.load, r.probe): r for r in probes_recs}
    ncols = min(3, len(probes) + 1)
    nrows = math.ceil((len(probes) + 1) / ncols)
    panel_h = 0.32 * len(impls) + 1.1
    workers = sorted({r.workers for r in probes_recs if isinstance(r.workers, int)})
    how = subtitle(f"{'/'.join(map(str, workers))} concurrent workers per cell" if workers else "",
                   "one run of each probe per Local and load; a cell: violations / checks",
                   "hatched: the Local let one worker see or change another's value", machine=machine)
    fig, body = titled(panel_h * nrows + 1.3, "Isolation probes: which Local keeps each worker's value to itself", how)
    axes = body.subplots(nrows, ncols, squeeze=False)
    for index, probe in enumerate(probes):
        _probe_panel(axes[index // ncols][index % ncols], probe, impls, loads, cells, show_rows=index % ncols == 0)
    _key(axes[len(probes) // ncols][len(probes) % ncols])
    for extra in range(len(probes) + 1, nrows * ncols):
        axes[extra // ncols][extra % ncols].axis("off")
    return fig


def _probe_panel(ax: Axes, probe: str, impls: list[str], loads: list[str], cells: Cells, *, show_rows: bool) -> None:
    judged = probe in JUDGED
    for y, impl in enumerate(impls):
        for x, load in enumerate(loads):
            face, text, weight, colour = isolation_cell(cells.get((impl, load, probe)), judged)
            failed = face == palette.VERDICT_COLOURS["fail"]
            ax.add_patch(rect(x, y, face, FAIL_HATCH if failed else None))
            ax.text(x, y, text, ha="center", va="center", fontsize=7 if "\n" in text else 8, fontweight=weight,
                    color=colour, linespacing=1.0, bbox={"facecolor": face, "edgecolor": "none", "pad": 0.8}
                    if failed else None)
    grid_axes(ax, loads, impls, show_rows=show_rows)
    title = probe if judged else f"{probe} (reported, not judged)"
    ax.set_title(title + ("\nviolations / checks" if judged else "\nchildren that see the parent's value"), fontsize=9)


def _key(ax: Axes) -> None:
    ax.axis("off")
    ax.legend(
        handles=[
            Patch(facecolor=palette.VERDICT_COLOURS["ok"], edgecolor="#777777", label="ok: no violation"),
            Patch(facecolor=palette.VERDICT_COLOURS["fail"], edgecolor="#E58A5C", hatch=FAIL_HATCH,
                  label="FAIL: violations (bold)"),
            Patch(facecolor=palette.VERDICT_COLOURS["reported"], edgecolor="#777777", label="reported, not judged"),
            Patch(facecolor=palette.VERDICT_COLOURS["error"], edgecolor="#777777", label="error: probe could not run"),
            Patch(facecolor=palette.VERDICT_COLOURS["missing"], edgecolor="#777777", label="- : not measured"),
        ],
        loc="center",
        frameon=False,
        title="cell colour",
    )


def isolation_cell(rec: ProbeRecord | None, judged: bool) -> tuple[str, str, str, str]:
    """(face colour, text, font weight, text colour) of one isolation cell."""
    if rec is None:
        return palette.VERDICT_COLOURS["missing"], "-", "normal", "#666666"
    if rec.outcome != "ok":
        return palette.VERDICT_COLOURS["error"], "error", "bold", "white"
    checks = known(rec.checks)
    if not judged:
        inherited = (rec.details or {}).get("inherited")
        return palette.VERDICT_COLOURS["reported"], f"inherits\n{inherited}/{checks}", "normal", "#333333"
    violations = rec.violations or 0
    if violations:
        return palette.VERDICT_COLOURS["fail"], f"{violations}/{checks}", "bold", palette.FAIL_TEXT
    return palette.VERDICT_COLOURS["ok"], f"0/{checks}", "normal", "#1E4D3A"
