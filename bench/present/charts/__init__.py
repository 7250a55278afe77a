"""Charts, regenerated from stored records only: no server, no rerun, no live object.

What is promised
    :func:`draw_all` draws every chart whose records are present and returns the files it wrote, with
    stable names (``isolation``, ``cost_per_op``, ``throughput``, ``latency``, ``errors``, ``request``, ``stack``,
    ``network``; ``.png`` and ``.svg``).  Cells run with a round trip (``--rtt``) are drawn in the network chart only;
    every other chart reads the direct cells (:func:`bench.present.common.direct`).  A chart whose records are
    absent is not drawn: the reason is logged, appended to ``notes`` when a list is passed, and available
    beforehand from :func:`skip_reasons`, so a report can say why it is missing.  Records are read by
    :func:`bench.records.read.load_records`.

    Every chart has a title saying what it shows and a subtitle saying how it was measured (window, runs per
    cell, and the machine when ``environment`` is passed), units on its axes and a legend placed outside the
    data, is 9 inches wide (:mod:`bench.present.charts.figure`), and uses the colours and markers of
    :mod:`bench.present.palette`, so a name looks the same in every chart.  Throughput is correct replies per
    second in every chart; a cell that failed (a wrong reply, an error, a hang) shows what failed, never a
    speed (:mod:`bench.present.charts.how`).  Repeated cells are drawn at their median with the lowest to
    highest run as a bar.  One module per chart draws it from a list of records.

Why
    Charts are a view of the records, never a second measurement: drawing them again from the same files
    gives the same pictures, and a partial run still gets every chart it has data for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from bench.present.charts.cost import draw_cost
from bench.present.charts.errors import draw_errors
from bench.present.charts.figure import FORMATS, PNG_DPI, STYLE, save
from bench.present.charts.how import machine_text
from bench.present.charts.isolation import draw_isolation
from bench.present.charts.latency import draw_latency
from bench.present.charts.network import draw_network
from bench.present.charts.request import draw_request
from bench.present.charts.stack import draw_stack
from bench.present.charts.throughput import draw_throughput
from bench.present.common import direct, of_kind, on_network, one_per_cell, skipped
from bench.records.kinds import DbRecord, Record, RequestRecord, StackRecord
from bench.records.read import keep_valid

__all__ = ["CHARTS", "CHART_KIND", "DRAWERS", "FORMATS", "PNG_DPI", "draw_all", "machine_text", "skip_reasons"]

log = logging.getLogger(__name__)

#: Every chart, in the order a report shows them, with its one-line description.
CHARTS: dict[str, str] = {
    "isolation": "isolation probes: impl x load per probe, violations/checks in each cell, failures hatched",
    "cost_per_op": "cost per op in one thread with no load: median ns per get/set/del/push/top/pop/proxy-get per "
                   "impl, log scale, floor and threading.local marked; beside it, the loads each impl is unsafe under",
    "throughput": "correct operations per second vs concurrency per strategy, one panel per load, server ceiling "
                  "drawn; failed cells named in a strip below, not drawn as a speed",
    "latency": "latency per op at each load's highest concurrency (p50 to p99, p99.9, max) beside workers / correct "
               "ops/s, a note where the percentiles leave a wait out; p99 vs concurrency",
    "errors": "silent wrong results, errors, other wrong results and hangs: only the strategies and kinds that "
              "happened, per load x concurrency, counts written in; the clean strategies named",
    "request": "request scenario: impl x strategy per load, correct ops/s or what failed (wrong Local / silent "
               "wrong / errors)",
    "stack": "the real stack: server x impl / strategy, correct replies/s or what failed (silent wrong / wrong "
             "Local / errors)",
    "network": "correct ops/s against the measured round trip per strategy, log-log, the round trip's bounds (in "
               "flight / RTT: C/RTT dashed, 1/RTT dotted) in grey, the share of its bound beside each point; failed "
               "cells named, no speed",
}
#: Which record kind each chart is drawn from.
CHART_KIND: dict[str, str] = {
    "isolation": "probe", "cost_per_op": "micro", "throughput": "db", "latency": "db", "errors": "db",
    "request": "request", "stack": "stack", "network": "network",
}
DRAWERS: dict[str, Callable[[list[Record], str | None], Figure | None]] = {
    "isolation": draw_isolation,
    "cost_per_op": draw_cost,
    "throughput": draw_throughput,
    "latency": draw_latency,
    "errors": draw_errors,
    "request": draw_request,
    "stack": draw_stack,
    "network": draw_network,
}
#: Why a chart of each kind has nothing to draw when no record of that kind is there.
NO_RECORDS: dict[str, str] = {
    "probe": "no probe records (run `ctxbench locals`)",
    "micro": "no micro records (the run used --no-micro)",
    "db": "no db records (no database run, or no server)",
    "request": "no request-scenario records",
    "stack": "no real-stack records (run `ctxbench stack`, or the run used --no-stack)",
    "network": "no cell ran with a round trip (--rtt)",
}


def skip_reasons(records: Sequence[Record]) -> dict[str, str]:
    """Chart name -> why it will not be drawn from these records (charts that will be drawn are absent)."""
    reasons: dict[str, str] = {}
    plain = direct(records)
    for name, kind in CHART_KIND.items():
        recs = [r for r in records if on_network(r)] if kind == "network" else of_kind(plain, kind)
        cells = [r for r in recs if isinstance(r, (DbRecord, RequestRecord, StackRecord))]
        if not recs and kind != "network" and any(r.kind == kind for r in records):
            reasons[name] = f"every {kind} cell ran with a round trip (--rtt): see the network chart"
        elif not recs:
            reasons[name] = NO_RECORDS[kind]
        elif cells and all(r.outcome == "skipped" for r in cells):
            what = "cell with a round trip" if kind == "network" else f"{kind} cell"
            reasons[name] = f"every {what} was skipped ({cells[0].reason or 'no server'})"
        elif name == "latency" and not any((r.latency_ms or {}).get("p50") for r in cells):
            reasons[name] = "no db record carries a latency"
    return reasons


def draw_all(records: Sequence[Record], out_dir: Path, *, formats: Sequence[str] = FORMATS,
             notes: list[str] | None = None, environment: Mapping[str, Any] | None = None) -> list[Path]:
    """Draw every chart the records allow into ``out_dir``; return the files written.

    ``environment`` (the run's ``environment.json``), when given, names the machine in every chart's subtitle.

    A chart without records is skipped: ``"<chart>: skipped: <reason>"`` is logged and appended to
    ``notes`` (when given).  Records that cannot be charted are left out the same way.  A stale file of a
    skipped chart is removed, so the directory never shows a chart the records do not support.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        if fmt not in ("png", "svg", "pdf"):
            raise ValueError(f"unsupported chart format {fmt!r} (png, svg, pdf)")
    said: list[str] = []
    valid = one_per_cell(keep_valid("records", records, said))  # several-process cells: the scaling table
    reasons = skip_reasons(valid)
    drawable = [r for r in valid if not skipped(r)]
    machine = machine_text(environment) or None
    written: list[Path] = []
    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]  # matplotlib types the keys as one Literal
        for name, draw in DRAWERS.items():
            if name in reasons:
                said.append(f"{name}: skipped: {reasons[name]}")
                for fmt in formats:
                    (out_dir / f"{name}.{fmt}").unlink(missing_ok=True)
                continue
            fig = draw(drawable if name == "network" else direct(drawable), machine)
            if fig is None:
                said.append(f"{name}: skipped: nothing to draw")
                continue
            written += save(fig, out_dir, name, formats)
    for line in said:
        log.info("%s", line)
    if notes is not None:
        notes.extend(said)
    return written
