"""Charts, regenerated from stored records only: no server, no rerun, no live object.

What is promised
    :func:`load_records` reads what a run left behind -- a results document
    (``{"schema", "environment", "records"}``), or a run directory holding
    ``environment.json`` and ``cells/*.json`` (``{"schema", "cell",
    "records"}``) -- and is tolerant: a missing, empty, truncated or malformed
    file, a file of another schema, or a record lacking a field its kind
    promises is named in ``problems`` (file and reason) and skipped; every
    other record is kept.

    :func:`draw_all` draws every chart whose records are present and returns
    the files it wrote, with stable names (``isolation``, ``cost_per_op``,
    ``throughput``, ``latency``, ``errors``, ``request``; ``.png`` and
    ``.svg``).  A chart whose records are absent is not drawn: the reason is
    logged, appended to ``notes`` when a list is passed, and available
    beforehand from :func:`skip_reasons`, so a report can say why it is
    missing.

    Every chart is titled, has units on its axes and a legend placed outside
    the data, is 9 inches wide (900 px at README width; PNGs are written at
    150 dpi so they stay sharp on high-density screens), and uses the colours
    of :mod:`bench.present.palette`, so a name has one colour in every chart.

Why
    Charts are a view of the records, never a second measurement: drawing
    them again from the same files gives the same pictures, and a partial run
    still gets every chart it has data for.  Matplotlib is used through
    ``Figure`` and the Agg canvas directly (never ``pyplot``), so no GUI
    backend is touched and no global figure state leaks between charts.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

from bench.cell.probes import JUDGED, PROBES
from bench.present import palette
from bench.records.io import SCHEMA_VERSION, RecordError, read_json, read_results

log = logging.getLogger("bench.present.charts")

#: Every chart, in the order a report shows them, with its one-line description.
CHARTS: dict[str, str] = {
    "isolation": "isolation probes: impl x load per probe, violations/checks in each cell",
    "cost_per_op": "cost per op: median ns per get/set/del/push/top/pop/proxy-get per impl, log scale, floor and threading.local marked",
    "throughput": "throughput vs concurrency per strategy, one panel per load, server ceiling drawn",
    "latency": "latency p50 and p99 vs concurrency per strategy and load, and the latency CDF at one concurrency",
    "errors": "errors and wrong results per strategy x load x concurrency, counts written in",
    "request": "request scenario: impl x strategy per load, local violations / wrong results / ops/s",
}
#: Which record kind each chart is drawn from.
CHART_KIND: dict[str, str] = {"isolation": "probe", "cost_per_op": "micro", "throughput": "db", "latency": "db", "errors": "db", "request": "request"}
FORMATS: tuple[str, ...] = ("png", "svg")
WIDTH_IN = 9.0
PNG_DPI = 150
#: Fields each record kind must carry to be charted (beyond ``kind``).
REQUIRED: dict[str, tuple[str, ...]] = {
    "probe": ("impl", "load", "probe", "outcome"),
    "micro": ("impl", "op", "ns_median"),
    "db": ("strategy", "load", "concurrency", "outcome"),
    "request": ("impl", "strategy", "load", "concurrency", "outcome"),
    # The server's capacity per concurrency (mysqlslap), stored by ``ctxbench run``;
    # already copied into every db record, so no chart needs these.
    "ceiling": ("concurrency", "outcome"),
}
#: The order of the known loads and ops (others follow in order of appearance).
LOAD_ORDER: tuple[str, ...] = tuple(palette.LOAD_STYLES)
OP_ORDER: tuple[str, ...] = ("get", "set", "del", "push", "top", "pop", "proxy-get")
#: Preferred concurrency for the latency CDF (else the highest one measured everywhere).
CDF_CONCURRENCY = 16
#: Field a db record may carry with a latency histogram: ``{"edges": [ms...], "counts": [n...]}``.
HISTOGRAM_FIELD = "latency_hist_ms"

_STYLE: dict[str, Any] = {
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


# --- reading


def check_record(rec: Any) -> str | None:
    """Why ``rec`` cannot be charted, or None when it can."""
    if not isinstance(rec, dict):
        return f"not an object ({type(rec).__name__})"
    kind = rec.get("kind")
    if kind not in REQUIRED:
        return f"unknown kind {kind!r}"
    missing = [name for name in REQUIRED[kind] if rec.get(name) is None]
    if missing:
        return f"{kind} record without {', '.join(repr(m) for m in missing)}"
    if kind in ("db", "request") and (isinstance(rec["concurrency"], bool) or not isinstance(rec["concurrency"], int)):
        return f"{kind} record with concurrency {rec['concurrency']!r}"
    if kind == "micro" and not isinstance(rec["ns_median"], (int, float)):
        return f"micro record with ns_median {rec['ns_median']!r}"
    if kind == "probe" and rec["outcome"] == "ok" and not isinstance(rec.get("checks"), int):
        return f"probe record with checks {rec.get('checks')!r}"
    return None


def _keep_valid(source: str, records: Iterable[Any], problems: list[str]) -> list[dict[str, Any]]:
    kept = []
    for index, rec in enumerate(records):
        reason = check_record(rec)
        if reason is None:
            kept.append(rec)
        else:
            problems.append(f"{source}: record {index}: {reason}; skipped")
    return kept


def _read_cell_file(path: Path) -> list[Any]:
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("records"), list):
        raise RecordError(f"{path}: not a ctxbench cell file (no 'records' list)")
    if doc.get("schema") != SCHEMA_VERSION:
        raise RecordError(f"{path}: schema version {doc.get('schema')!r}, this ctxbench reads {SCHEMA_VERSION}")
    return list(doc["records"])


#: Files of a run directory that are not results documents.
RUN_DIR_FILES: frozenset[str] = frozenset({"environment.json", "run.json"})


def _planned_cells(plan: Any) -> list[str]:
    """Cell ids a run directory's ``run.json`` lists under ``cells`` (ids, or objects with an ``id``); [] when it lists none."""
    cells = plan.get("cells") if isinstance(plan, dict) else None
    if not isinstance(cells, list):
        return []
    ids = [c if isinstance(c, str) else c.get("id") if isinstance(c, dict) else None for c in cells]
    return [i for i in ids if isinstance(i, str) and i]


def _merge_environment(into: dict[str, Any], more: Any) -> None:
    if isinstance(more, dict):
        for key, value in more.items():
            into.setdefault(key, value)


def load_records(paths_or_dir: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """``(environment, records, problems)`` from results documents and/or run directories.

    A run directory holds ``environment.json`` and ``cells/*.json`` (and
    ``run.json``, the plan: a planned cell without its file is named as
    missing); any other ``*.json`` directly inside it is read as a results
    document.  Each source
    that cannot be read, and each record that cannot be charted, is one line
    in ``problems``; everything else is returned.  When several sources carry
    an environment, the first one's values win and the others fill gaps.
    """
    sources = [paths_or_dir] if isinstance(paths_or_dir, (str, os.PathLike)) else list(paths_or_dir)
    environment: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            env_path = path / "environment.json"
            cells_dir = path / "cells"
            if env_path.exists():
                try:
                    env = read_json(env_path)
                    if not isinstance(env, dict):
                        raise RecordError(f"{env_path}: not a JSON object")
                    _merge_environment(environment, env)
                except RecordError as exc:
                    problems.append(str(exc))
            elif cells_dir.is_dir():
                problems.append(f"{env_path}: missing (the environment is unknown)")
            for cell_path in sorted(cells_dir.glob("*.json")) if cells_dir.is_dir() else []:
                try:
                    records += _keep_valid(str(cell_path), _read_cell_file(cell_path), problems)
                except RecordError as exc:
                    problems.append(f"{exc}; skipped")
            plan_path = path / "run.json"
            if plan_path.exists():
                try:
                    planned = _planned_cells(read_json(plan_path))
                except RecordError as exc:
                    problems.append(f"{exc} (the plan: missing cells cannot be named)")
                    planned = []
                for cid in planned:
                    if not (cells_dir / f"{cid}.json").exists():
                        problems.append(f"{cells_dir / f'{cid}.json'}: missing (planned in run.json, the cell did not finish)")
            documents = sorted(p for p in path.glob("*.json") if p.name not in RUN_DIR_FILES)
            if not documents and not cells_dir.is_dir() and not env_path.exists():
                problems.append(f"{path}: no results here (no environment.json, cells/ or results file)")
        else:
            documents = [path]
        for doc_path in documents:
            try:
                doc = read_results(doc_path)
            except RecordError as exc:
                problems.append(f"{exc}; skipped")
                continue
            _merge_environment(environment, doc.get("environment"))
            records += _keep_valid(str(doc_path), doc["records"], problems)
    return environment, records, problems


# --- ordering and small helpers


def ordered(values: Iterable[str], order: Iterable[str]) -> list[str]:
    """Distinct ``values``: the known ones in ``order``, then the others as they first appear."""
    values = list(dict.fromkeys(values))
    rank = {name: i for i, name in enumerate(order)}
    return sorted(values, key=lambda v: (rank.get(v, len(rank)), values.index(v)))


def impls_of(records: Iterable[dict[str, Any]]) -> list[str]:
    return ordered((r["impl"] for r in records), palette.IMPL_COLOURS)


def strategies_of(records: Iterable[dict[str, Any]]) -> list[str]:
    return ordered((r["strategy"] for r in records), palette.STRATEGY_COLOURS)


def loads_of(records: Iterable[dict[str, Any]]) -> list[str]:
    return ordered((r["load"] for r in records), LOAD_ORDER)


def of_kind(records: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("kind") == kind and check_record(r) is None]


def error_total(rec: dict[str, Any]) -> int:
    """All errors of a db/request record, over every class."""
    errors = rec.get("errors") or {}
    return int(sum(v for v in errors.values() if isinstance(v, (int, float))))


def short_count(n: float | None) -> str:
    """``7`` ``950`` ``12k`` ``1.2M``: a count that fits in a grid cell."""
    if n is None:
        return "-"
    n = float(n)
    if n < 1000:
        return f"{n:.0f}"
    if n < 10_000:
        return f"{n / 1e3:.1f}k"
    if n < 1e6:
        return f"{n / 1e3:.0f}k"
    return f"{n / 1e6:.1f}M"


def _figure(height: float) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, out_dir: Path, name: str, formats: Sequence[str]) -> list[Path]:
    paths = []
    for fmt in formats:
        path = out_dir / f"{name}.{fmt}"
        tmp = out_dir / f".{name}.tmp.{fmt}"
        metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {}
        fig.savefig(tmp, format=fmt, dpi=PNG_DPI, metadata=metadata, facecolor="white")
        tmp.replace(path)
        paths.append(path)
    return paths


def _log_ticks(axis: Any, fmt: Callable[[float], str], low: float, high: float) -> None:
    """Ticks on a log axis from ``low`` to ``high`` labelled with ``fmt``: 1-2-5 over a few decades, powers of ten over many; no ``6x10^4``."""
    decades = math.log10(max(high, 1e-12) / max(low, 1e-12))
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 3.2 else (1.0,)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt(v)))
    axis.set_minor_locator(LogLocator(base=10, subs="auto"))
    axis.set_minor_formatter(NullFormatter())


def _heat_text_colour(rgba: Sequence[float]) -> str:
    r, g, b = rgba[:3]
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"


# --- 1. isolation matrix


def draw_isolation(records: list[dict[str, Any]]) -> Figure | None:
    """One panel per probe: impl (rows) x load (columns), coloured pass/fail, counts written in."""
    probes_recs = of_kind(records, "probe")
    if not probes_recs:
        return None
    probes = ordered((r["probe"] for r in probes_recs), PROBES)
    impls = impls_of(probes_recs)
    loads = loads_of(probes_recs)
    cells = {(r["impl"], r["load"], r["probe"]): r for r in probes_recs}
    ncols = min(3, len(probes) + 1)
    nrows = math.ceil((len(probes) + 1) / ncols)
    panel_h = 0.32 * len(impls) + 1.1
    fig = _figure(panel_h * nrows + 0.9)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for index, probe in enumerate(probes):
        ax = axes[index // ncols][index % ncols]
        judged = probe in JUDGED
        for y, impl in enumerate(impls):
            for x, load in enumerate(loads):
                face, text, weight, colour = _isolation_cell(cells.get((impl, load, probe)), judged)
                ax.add_patch(_rect(x, y, face))
                ax.text(x, y, text, ha="center", va="center", fontsize=7 if "\n" in text else 8, fontweight=weight, color=colour, linespacing=1.0)
        _grid_axes(ax, loads, impls, show_rows=index % ncols == 0)
        title = probe if judged else f"{probe} (reported, not judged)"
        ax.set_title(title + ("\nviolations / checks" if judged else "\nchildren that see the parent's value"), fontsize=9)
    key_ax = axes[len(probes) // ncols][len(probes) % ncols]
    key_ax.axis("off")
    key_ax.legend(
        handles=[
            Patch(facecolor=palette.VERDICT_COLOURS["ok"], edgecolor="#777777", label="ok: no violation"),
            Patch(facecolor=palette.VERDICT_COLOURS["fail"], edgecolor="#777777", label="FAIL: violations (bold)"),
            Patch(facecolor=palette.VERDICT_COLOURS["reported"], edgecolor="#777777", label="reported, not judged"),
            Patch(facecolor=palette.VERDICT_COLOURS["error"], edgecolor="#777777", label="error: probe could not run"),
            Patch(facecolor=palette.VERDICT_COLOURS["missing"], edgecolor="#777777", label="- : not measured"),
        ],
        loc="center",
        frameon=False,
        title="cell colour",
    )
    for extra in range(len(probes) + 1, nrows * ncols):
        axes[extra // ncols][extra % ncols].axis("off")
    workers = sorted({r.get("workers") for r in probes_recs if isinstance(r.get("workers"), int)})
    worker_text = f", {'/'.join(map(str, workers))} workers per cell" if workers else ""
    fig.suptitle(f"Isolation probes: which Local keeps each worker's value to itself{worker_text}")
    return fig


def _isolation_cell(rec: dict[str, Any] | None, judged: bool) -> tuple[str, str, str, str]:
    """(face colour, text, font weight, text colour) of one isolation cell."""
    if rec is None:
        return palette.VERDICT_COLOURS["missing"], "-", "normal", "#666666"
    if rec.get("outcome") != "ok":
        return palette.VERDICT_COLOURS["error"], "error", "bold", "white"
    checks = rec.get("checks")
    if not judged:
        inherited = (rec.get("details") or {}).get("inherited")
        return palette.VERDICT_COLOURS["reported"], f"inherits\n{inherited}/{checks}", "normal", "#333333"
    violations = rec.get("violations") or 0
    if violations:
        return palette.VERDICT_COLOURS["fail"], f"{violations}/{checks}", "bold", palette.FAIL_TEXT
    return palette.VERDICT_COLOURS["ok"], f"0/{checks}", "normal", "#1E4D3A"


def _rect(x: float, y: float, face: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=face, edgecolor="white", linewidth=1.5)


def _grid_axes(ax: Axes, columns: Sequence[str], rows: Sequence[str], *, show_rows: bool, rotate: float = 30) -> None:
    ax.set_xlim(-0.5, len(columns) - 0.5)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xticks(range(len(columns)), columns, rotation=rotate, ha="right" if rotate else "center", rotation_mode="anchor")
    ax.set_yticks(range(len(rows)), rows if show_rows else [""] * len(rows))
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


# --- 2. cost per op


def draw_cost(records: list[dict[str, Any]]) -> Figure | None:
    """Grouped bars per op, one per impl, log scale, floor and threading.local marked as lines across each group."""
    micro = of_kind(records, "micro")
    if not micro:
        return None
    ops = ordered((r["op"] for r in micro), OP_ORDER)
    cells = {(r["impl"], r["op"]): r for r in micro}
    impls = [i for i in impls_of(micro) if i != "plain"]
    fig = _figure(4.6)
    ax = fig.subplots()
    width = 0.84 / max(1, len(impls))
    floor_ns = 0.5  # values net of the harness can be ~0: draw them at half a nanosecond
    tops: list[float] = []
    for k, impl in enumerate(impls):
        xs, ys, lows, highs = [], [], [], []
        for g, op in enumerate(ops):
            rec = cells.get((impl, op))
            if rec is None:
                continue
            median = max(float(rec["ns_median"]), floor_ns)
            spread = float(rec.get("ns_spread") or 0.0)
            xs.append(g - 0.42 + width * (k + 0.5))
            ys.append(median)
            lows.append(median - max(median - spread, floor_ns))
            highs.append(spread)
            tops.append(median + spread)
        ax.bar(xs, ys, width=width * 0.92, color=palette.impl_colour(impl), label=impl, zorder=2)
        ax.errorbar(xs, ys, yerr=[lows, highs], fmt="none", ecolor="#444444", elinewidth=0.8, capsize=1.5, zorder=3)
    for g, op in enumerate(ops):
        for name, colour, style in (("plain", palette.FLOOR_COLOUR, (0, (2, 1.5))), ("threading-local", palette.REFERENCE_COLOUR, "--")):
            rec = cells.get((name, op))
            if rec is not None:
                ax.hlines(max(float(rec["ns_median"]), floor_ns), g - 0.46, g + 0.46, colors=colour, linestyles=style, linewidth=1.3, zorder=4)
    ax.set_yscale("log")
    ax.set_xticks(range(len(ops)), ops)
    ax.set_xlim(-0.5, len(ops) - 0.5)
    if tops:
        ax.set_ylim(floor_ns * 0.8 if any(cells.get(("plain", op)) for op in ops) else None, max(tops) * 1.8)
    low, high = ax.get_ylim()
    _log_ticks(ax.yaxis, lambda v: f"{v:g}", low, high)
    ax.grid(axis="y", which="major", color="#DDDDDD", linewidth=0.6, zorder=0)
    ax.set_xlabel("operation on the Local (stack ops through LocalStack, proxy-get through LocalProxy)")
    ax.set_ylabel("ns per op (median, log scale)")
    handles, labels = ax.get_legend_handles_labels()
    if any(r["impl"] == "plain" for r in micro):
        handles.append(Line2D([], [], color=palette.FLOOR_COLOUR, linestyle=(0, (2, 1.5)), linewidth=1.3))
        labels.append("floor: plain attribute")
    if any(r["impl"] == "threading-local" for r in micro):
        handles.append(Line2D([], [], color=palette.REFERENCE_COLOUR, linestyle="--", linewidth=1.3))
        labels.append("threading.local (reference)")
    fig.legend(handles, labels, loc="outside lower center", ncols=min(5, len(labels)), frameon=False)
    procs = sorted({r.get("processes") for r in micro if isinstance(r.get("processes"), int)})
    how = (f"median over {procs[-1]} fresh process{'es' if procs[-1] != 1 else ''}, error bars ± MAD" if procs else "median, error bars ± MAD")
    ax.set_title(f"{how}; lower is better", fontsize=9, color="#444444")
    fig.suptitle("Cost per operation of each Local implementation")
    return fig


# --- 3. throughput


def _db_panels(n: int, height: float) -> tuple[Figure, list[Axes]]:
    fig = _figure(height)
    axes = fig.subplots(1, n, squeeze=False, sharey=True)[0]
    return fig, list(axes)


def _concurrency_axis(ax: Axes, levels: Sequence[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(levels))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    if levels:
        ax.set_xlim(min(levels) / 1.4, max(levels) * 1.4)
    ax.set_xlabel("concurrent workers")
    ax.grid(which="major", color="#E3E3E3", linewidth=0.6)


def _points(ax: Axes, pts: Sequence[tuple[float, float]], **style: Any) -> None:
    """Plot (x, y) points; nothing at all when there are none (an empty unclipped line would upset the layout)."""
    if pts:
        ax.plot([x for x, _ in pts], [y for _, y in pts], **style)


def _bad(rec: dict[str, Any]) -> bool:
    return rec.get("outcome") != "ok" or bool(error_total(rec)) or bool(rec.get("wrong_results"))


def draw_throughput(records: list[dict[str, Any]]) -> Figure | None:
    """Successful ops/s vs concurrency, a line per strategy, one panel per load, the mysqlslap ceiling drawn."""
    db = of_kind(records, "db")
    if not db:
        return None
    loads = loads_of(db)
    strategies = strategies_of(db)
    levels = sorted({r["concurrency"] for r in db})
    fig, axes = _db_panels(len(loads), 4.4)
    values = [r["ops_per_s"] for r in db if isinstance(r.get("ops_per_s"), (int, float)) and r["ops_per_s"] > 0]
    ceilings = {r["concurrency"]: r["server_ceiling_ops_per_s"] for r in db if isinstance(r.get("server_ceiling_ops_per_s"), (int, float))}
    top = max([*values, *ceilings.values(), 1.0])
    bottom = min(values) / 2.5 if values else 1.0
    idle = False
    for ax, load in zip(axes, loads, strict=True):
        if ceilings:
            xs = sorted(ceilings)
            ax.plot(xs, [ceilings[c] for c in xs], color=palette.CEILING_COLOUR, linewidth=5, alpha=0.25, solid_capstyle="round", zorder=1)
            ax.plot(xs, [ceilings[c] for c in xs], color=palette.CEILING_COLOUR, linewidth=1, linestyle=":", zorder=1)
        for k, strategy in enumerate(strategies):
            rows = sorted((r for r in db if r["load"] == load and r["strategy"] == strategy), key=lambda r: r["concurrency"])
            if not rows:
                continue
            colour = palette.strategy_colour(strategy)
            style = palette.load_style(load)
            dodge = 2 ** (0.05 * (k - (len(strategies) - 1) / 2))  # markers on the bottom edge side by side, not on top of each other
            pts = [(r["concurrency"], float(r.get("ops_per_s") or 0.0), _bad(r)) for r in rows]
            good = [(c, v) for c, v, _bad_cell in pts if v > 0]
            _points(ax, good, color=colour, linestyle=style.linestyle, linewidth=1.4, zorder=2)
            _points(ax, [(c, v) for c, v, bad in pts if not bad and v > 0], linestyle="none", marker=style.marker, color=colour, markersize=5, zorder=3)
            _points(ax, [(c, v) if v > 0 else (c * dodge, bottom) for c, v, bad in pts if bad], linestyle="none", marker="X", color=colour, markersize=8,
                    markeredgecolor="white", markeredgewidth=0.6, zorder=4, clip_on=False)
            _points(ax, [(c * dodge, bottom) for c, v, bad in pts if not bad and v <= 0], linestyle="none", marker=style.marker, markersize=6,
                    markerfacecolor="white", markeredgecolor=colour, markeredgewidth=1.4, zorder=4, clip_on=False)
            idle = idle or any(not bad and v <= 0 for _c, v, bad in pts)
        _concurrency_axis(ax, levels)
        ax.set_yscale("log")
        ax.set_ylim(bottom, top * 1.6)
        ax.set_title(f"load: {load}")
    axes[0].set_ylabel("successful operations per second (log scale)")
    for ax in axes:
        _log_ticks(ax.yaxis, short_count, bottom, top * 1.6)
    handles = [Line2D([], [], color=palette.strategy_colour(s), marker="o", markersize=4, linewidth=1.4, label=s) for s in strategies]
    if ceilings:
        handles.append(Line2D([], [], color=palette.CEILING_COLOUR, linewidth=5, alpha=0.35, label="server ceiling (mysqlslap, C client)"))
    handles.append(Line2D([], [], color="#555555", marker="X", linestyle="none", markersize=7, label="errors or wrong results (bottom edge: 0 ops/s)"))
    if idle:
        handles.append(Line2D([], [], color="#555555", marker="o", markerfacecolor="white", linestyle="none", markersize=6,
                              label="no error, but 0 ops in the window (bottom edge)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=4, frameon=False)
    mix = _mix_text(db)
    fig.suptitle("Throughput by connection strategy" + (f" ({mix})" if mix else ""))
    return fig


def _mix_text(db: list[dict[str, Any]]) -> str:
    mixes = {tuple(sorted((r.get("mix") or {}).items())) for r in db if r.get("mix")}
    if len(mixes) != 1:
        return ""
    mix = dict(next(iter(mixes)))
    total = sum(mix.values())
    if set(mix) == {"select_token"}:
        return "SELECT %s per op"
    return "mix: " + ", ".join(f"{name} {weight}/{total}" for name, weight in mix.items())


# --- 4. latency


def _cdf_y_forward(y: Any) -> Any:
    import numpy as np

    return -np.log10(np.clip(1.0 - np.asarray(y, dtype=float), 0, None) + 1e-3)


def _cdf_y_inverse(t: Any) -> Any:
    import numpy as np

    return 1.0 + 1e-3 - np.power(10.0, -np.asarray(t, dtype=float))


def cdf_points(rec: dict[str, Any]) -> tuple[list[float], list[float], bool]:
    """(latency ms, fraction of ops at or below it, from_histogram) for one db record."""
    hist = rec.get(HISTOGRAM_FIELD)
    if isinstance(hist, dict) and isinstance(hist.get("edges"), list) and isinstance(hist.get("counts"), list):
        edges, counts = hist["edges"], hist["counts"]
        total = sum(counts)
        if total > 0 and len(edges) == len(counts) + 1:
            xs, ys, running = [], [], 0
            for edge, count in zip(edges[1:], counts, strict=True):
                running += count
                xs.append(float(edge))
                ys.append(running / total)
            return xs, ys, True
    lat = rec.get("latency_ms") or {}
    pts = [(lat.get(k), q) for k, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))]
    pts = [(float(v), q) for v, q in pts if isinstance(v, (int, float)) and v > 0]
    return [v for v, _ in pts], [q for _, q in pts], False


def _cdf_concurrency(db: list[dict[str, Any]]) -> int | None:
    with_latency = [r for r in db if (r.get("latency_ms") or {}).get("p50")]
    levels = sorted({r["concurrency"] for r in with_latency})
    if not levels:
        return None
    if CDF_CONCURRENCY in levels:
        return CDF_CONCURRENCY
    counts = {c: sum(1 for r in with_latency if r["concurrency"] == c) for c in levels}
    return max(levels, key=lambda c: (counts[c], c))


def draw_latency(records: list[dict[str, Any]]) -> Figure | None:
    """Top row: p50 (solid) and p99 (dashed) vs concurrency per strategy; bottom row: the latency CDF at one concurrency."""
    db = of_kind(records, "db")
    if not any((r.get("latency_ms") or {}).get("p50") for r in db):
        return None
    loads = loads_of(db)
    strategies = strategies_of(db)
    levels = sorted({r["concurrency"] for r in db})
    at = _cdf_concurrency(db)
    fig = _figure(7.6)
    axes = fig.subplots(2, len(loads), squeeze=False)
    lat_values = [v for r in db for k, v in (r.get("latency_ms") or {}).items() if k in ("p50", "p99", "max") and isinstance(v, (int, float)) and v > 0]
    low, high = min(lat_values) / 1.6, max(lat_values) * 1.6
    any_hist = False
    for col, load in enumerate(loads):
        ax = axes[0][col]
        for strategy in strategies:
            rows = sorted((r for r in db if r["load"] == load and r["strategy"] == strategy), key=lambda r: r["concurrency"])
            colour = palette.strategy_colour(strategy)
            for key, style, marker in (("p50", "-", "o"), ("p99", "--", "^")):
                pts = [(r["concurrency"], (r.get("latency_ms") or {}).get(key)) for r in rows]
                pts = [(c, v) for c, v in pts if isinstance(v, (int, float)) and v > 0]
                ax.plot([c for c, _ in pts], [v for _, v in pts], color=colour, linestyle=style, marker=marker, markersize=3.5, linewidth=1.2)
        _concurrency_axis(ax, levels)
        ax.set_yscale("log")
        ax.set_ylim(low, high)
        _log_ticks(ax.yaxis, lambda v: f"{v:g}", low, high)
        ax.set_title(f"load: {load}: p50 (solid) and p99 (dashed)")
        ax.set_ylabel("latency per op, ms (log scale)")
        cdf = axes[1][col]
        for strategy in strategies:
            rec = next((r for r in db if r["load"] == load and r["strategy"] == strategy and r["concurrency"] == at), None)
            if rec is None:
                continue
            xs, ys, from_hist = cdf_points(rec)
            any_hist = any_hist or from_hist
            if xs:
                cdf.plot(xs, ys, color=palette.strategy_colour(strategy), marker=None if from_hist else "o", markersize=3.5,
                         linewidth=1.3, drawstyle="steps-post" if from_hist else "default")
        cdf.set_xscale("log")
        cdf.set_xlim(low, high)
        _log_ticks(cdf.xaxis, lambda v: f"{v:g}", low, high)
        cdf.set_yscale("function", functions=(_cdf_y_forward, _cdf_y_inverse))
        cdf.set_ylim(0.45 if not any_hist else 0.0, 1.0)
        ticks = [0.5, 0.9, 0.99, 1.0] if not any_hist else [0.0, 0.5, 0.9, 0.99, 1.0]
        cdf.yaxis.set_major_locator(FixedLocator(ticks))
        cdf.yaxis.set_minor_locator(NullLocator())
        cdf.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: "max" if v >= 0.9999 else f"{v * 100:g}%"))
        cdf.grid(color="#E3E3E3", linewidth=0.6)
        cdf.set_xlabel("latency per op, ms (log scale)")
        cdf.set_ylabel("share of ops at or below")
        cdf.set_title(f"load: {load}: latency CDF at {at} workers")
    handles = [Line2D([], [], color=palette.strategy_colour(s), linewidth=1.6, label=s) for s in strategies]
    handles += [Line2D([], [], color="#333333", marker="o", markersize=3.5, linewidth=1.2, label="p50 (top row)"),
                Line2D([], [], color="#333333", marker="^", markersize=3.5, linewidth=1.2, linestyle="--", label="p99 (top row)")]
    fig.legend(handles=handles, loc="outside lower center", ncols=5, frameon=False)
    how = "CDF from per-op histograms" if any_hist else "CDF drawn through the recorded p50, p90, p99 and max"
    fig.suptitle(f"Latency by connection strategy ({how})")
    return fig


# --- 5. errors and wrong results


def draw_errors(records: list[dict[str, Any]]) -> Figure | None:
    """Heatmaps, strategy (rows) x concurrency (columns), one column of panels per load: errors on top, wrong results below."""
    db = of_kind(records, "db")
    if not db:
        return None
    import matplotlib
    import numpy as np

    strategies = strategies_of(db)
    loads = loads_of(db)
    cells = {(r["strategy"], r["load"], r["concurrency"]): r for r in db}
    panel_h = 0.36 * len(strategies) + 1.0
    fig = _figure(2 * panel_h + 1.3)
    axes = fig.subplots(2, len(loads), squeeze=False)
    panels: list[tuple[str, Callable[[dict[str, Any]], int | None], bool]] = [
        ("errors (most frequent class below)", error_total, True),
        ("wrong results (not the worker's own reply)", lambda r: r.get("wrong_results"), False),
    ]
    counts = [v for r in db for v in (error_total(r), r.get("wrong_results")) if isinstance(v, int) and v > 0]
    norm = LogNorm(vmin=1, vmax=max([*counts, 10]))
    from matplotlib.colors import ListedColormap

    # The pale start of OrRd is cut off: a count of 1 must not look like the white of a zero.
    cmap = ListedColormap(matplotlib.colormaps["OrRd"](np.linspace(0.22, 1.0, 256)))
    for row, (title, value, with_class) in enumerate(panels):
        for col, load in enumerate(loads):
            ax = axes[row][col]
            levels = sorted({r["concurrency"] for r in db if r["load"] == load})
            for y, strategy in enumerate(strategies):
                for x, c in enumerate(levels):
                    face, text, colour, weight = _error_cell(cells.get((strategy, load, c)), value, cmap, norm, with_class=with_class)
                    ax.add_patch(_rect(x, y, face))
                    ax.text(x, y, text, ha="center", va="center", fontsize=7.5 if "\n" in text else 8.5, color=colour, fontweight=weight, linespacing=1.0)
            _grid_axes(ax, [str(c) for c in levels], strategies, show_rows=col == 0, rotate=0)
            ax.set_title(f"{title}\nload: {load}", fontsize=9.5)
            ax.set_xlabel("concurrent workers")
    fig.legend(
        handles=[
            Patch(facecolor="white", edgecolor="#999999", label="0: none"),
            Patch(facecolor=cmap(norm(10)), edgecolor="#999999", label="some (darker = more, log scale)"),
            Patch(facecolor=palette.VERDICT_COLOURS["error"], edgecolor="#999999", label="hung / skipped / cell crashed"),
            Patch(facecolor=palette.VERDICT_COLOURS["missing"], edgecolor="none", label="- : not measured"),
        ],
        loc="outside lower center", ncols=4, frameon=False,
    )
    fig.suptitle("Errors and wrong results by connection strategy (counts over the measured window)")
    return fig


def _short_class(label: str) -> str:
    """An error class short enough for a grid cell: ``RuntimeError:reentrant`` -> ``reentrant``."""
    head, _, tail = label.partition(":")
    if tail and head in ("RuntimeError", "pool"):
        label = tail
    return label if len(label) <= 16 else label[:15] + "…"


def _error_cell(rec: dict[str, Any] | None, value: Callable[[dict[str, Any]], int | None], cmap: Any, norm: LogNorm,
                *, with_class: bool) -> tuple[str, str, str, str]:
    if rec is None:
        return palette.VERDICT_COLOURS["missing"], "-", "#777777", "normal"
    outcome = rec.get("outcome")
    n = value(rec)
    if (rec.get("errors") or {}).get("cell-crashed"):
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
        errors = rec.get("errors") or {}
        if errors:
            top = max(errors, key=lambda k: errors[k])
            text += "\n" + _short_class(top)
    return face, text, _heat_text_colour(face), "bold"


# --- 6. request scenario


def draw_request(records: list[dict[str, Any]]) -> Figure | None:
    """One panel per load: impl (rows) x strategy (columns): local violations, wrong results, ops/s."""
    req = of_kind(records, "request")
    if not req:
        return None
    loads = loads_of(req)
    impls = impls_of(req)
    strategies = strategies_of(req)
    cells = {(r["impl"], r["strategy"], r["load"]): r for r in req}
    panel_h = 0.42 * len(impls) + 1.2
    fig = _figure(panel_h * len(loads) + 1.0)
    axes = fig.subplots(len(loads), 1, squeeze=False)[:, 0]
    for ax, load in zip(axes, loads, strict=True):
        for y, impl in enumerate(impls):
            for x, strategy in enumerate(strategies):
                face, text, colour, weight = _request_cell(cells.get((impl, strategy, load)))
                ax.add_patch(_rect(x, y, face))
                ax.text(x, y, text, ha="center", va="center", fontsize=7.5, color=colour, fontweight=weight, linespacing=1.05)
        _grid_axes(ax, strategies, impls, show_rows=True, rotate=20)
        conc = sorted({r["concurrency"] for r in req if r["load"] == load})
        ax.set_title(f"load: {load}, {'/'.join(map(str, conc))} concurrent requests", fontsize=9.5)
    axes[-1].set_xlabel("connection strategy")
    fig.legend(
        handles=[
            Patch(facecolor=palette.VERDICT_COLOURS["ok"], edgecolor="#999999", label="no leak, no error"),
            Patch(facecolor=palette.VERDICT_COLOURS["fail"], edgecolor="#999999", label="local violations, wrong results or errors (bold)"),
            Patch(facecolor=palette.VERDICT_COLOURS["error"], edgecolor="#999999", label="hung / skipped / crashed"),
        ],
        loc="outside lower center", ncols=3, frameon=False,
        title="cell text: L = requests that read another's context (Local), W = wrong DB replies, E = errors; then successful ops/s",
        title_fontsize=8.5,
    )
    fig.suptitle("Request scenario: request context on a Local x connection strategy")
    return fig


def _request_cell(rec: dict[str, Any] | None) -> tuple[str, str, str, str]:
    if rec is None:
        return palette.VERDICT_COLOURS["missing"], "-", "#777777", "normal"
    outcome = rec.get("outcome")
    if outcome in ("hung", "skipped"):
        return palette.VERDICT_COLOURS["error"], str(outcome), "white", "bold"
    if (rec.get("errors") or {}).get("cell-crashed"):
        return palette.VERDICT_COLOURS["error"], "cell\ncrashed", "white", "bold"
    lv = rec.get("local_violations")
    wr = rec.get("wrong_results")
    errors = error_total(rec)
    rate = rec.get("ops_per_s")
    line1 = f"L {short_count(lv)}  W {short_count(wr)}"
    line2 = (f"E {short_count(errors)}  " if errors else "") + (f"{short_count(rate)}/s" if isinstance(rate, (int, float)) else "-/s")
    bad = bool(lv) or bool(wr) or bool(errors) or outcome != "ok"
    if bad:
        return palette.VERDICT_COLOURS["fail"], f"{line1}\n{line2}", palette.FAIL_TEXT, "bold"
    return palette.VERDICT_COLOURS["ok"], f"{line1}\n{line2}", "#1E4D3A", "normal"


# --- all charts

DRAWERS: dict[str, Callable[[list[dict[str, Any]]], Figure | None]] = {
    "isolation": draw_isolation,
    "cost_per_op": draw_cost,
    "throughput": draw_throughput,
    "latency": draw_latency,
    "errors": draw_errors,
    "request": draw_request,
}


def skip_reasons(records: list[dict[str, Any]]) -> dict[str, str]:
    """Chart name -> why it will not be drawn from these records (charts that will be drawn are absent)."""
    reasons: dict[str, str] = {}
    words = {"probe": "no probe records (run `ctxbench locals`)", "micro": "no micro records (the run used --no-micro)",
             "db": "no db records (no database run, or no server)", "request": "no request-scenario records"}
    for name, kind in CHART_KIND.items():
        recs = of_kind(records, kind)
        if not recs:
            reasons[name] = words[kind]
        elif kind in ("db", "request") and all(r.get("outcome") == "skipped" for r in recs):
            reasons[name] = f"every {kind} cell was skipped ({recs[0].get('reason') or 'no server'})"
        elif name == "latency" and not any((r.get("latency_ms") or {}).get("p50") for r in recs):
            reasons[name] = "no db record carries a latency"
    return reasons


def draw_all(records: list[dict[str, Any]], out_dir: Path, *, formats: Sequence[str] = FORMATS, notes: list[str] | None = None) -> list[Path]:
    """Draw every chart the records allow into ``out_dir``; return the files written.

    A chart without records is skipped: ``"<chart>: skipped: <reason>"`` is
    logged and appended to ``notes`` (when given).  Records that cannot be
    charted are left out the same way.  A stale file of a skipped chart is
    removed, so the directory never shows a chart the records do not support.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        if fmt not in ("png", "svg", "pdf"):
            raise ValueError(f"unsupported chart format {fmt!r} (png, svg, pdf)")
    said: list[str] = []
    valid = _keep_valid("records", records, said)
    reasons = skip_reasons(valid)
    written: list[Path] = []
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        for name, draw in DRAWERS.items():
            if name in reasons:
                said.append(f"{name}: skipped: {reasons[name]}")
                for fmt in formats:
                    (out_dir / f"{name}.{fmt}").unlink(missing_ok=True)
                continue
            drawable = [r for r in valid if not (r["kind"] in ("db", "request") and r.get("outcome") == "skipped")]
            fig = draw(drawable)
            if fig is None:
                said.append(f"{name}: skipped: nothing to draw")
                continue
            written += _save(fig, out_dir, name, formats)
    for line in said:
        log.info("%s", line)
    if notes is not None:
        notes.extend(said)
    return written
