"""Tables built from records only (never from live objects): header and rows, printed or as Markdown.

The same row builders serve the terminal output of ``ctxbench locals`` and ``ctxbench db``, the HTML
report and REPORT.md, so a verdict or a count is worded the same everywhere.  Every row builder returns
``(header, rows)`` with every cell a string.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bench.cell.probes import JUDGED, PROBES
from bench.present.common import (
    Workload,
    cell_of,
    direct,
    impls_of,
    loads_of,
    of_kind,
    ordered,
    silent_wrong,
    strategies_of,
)
from bench.present.spread import BLOCKS_HUB, attempts, cells, correct_per_s, outcome_name, tally, with_classes
from bench.present.spread import Cell as SpreadCell
from bench.records.kinds import UNSET, DbRecord, ProbeRecord, Record, RequestRecord, StackRecord, known


def probe_verdict(rec: ProbeRecord | None) -> str:
    """``ok 0/40``, ``FAIL 35/40``, ``inherits 16/16``, or ``error``."""
    if rec is None:
        return "-"
    if rec.outcome != "ok":
        return "error"
    if rec.probe not in JUDGED:
        return f"inherits {(rec.details or {}).get('inherited')}/{known(rec.checks)}"
    word = "FAIL" if rec.violations else "ok"
    return f"{word} {known(rec.violations)}/{known(rec.checks)}"


def probe_rows(records: Sequence[Record], impl_order: Iterable[str] = (),
               load_order: Iterable[str] = ()) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per impl x load, one column per probe."""
    recs = of_kind(records, "probe")
    probes = [p for p in PROBES if any(r.probe == p for r in recs)]
    cells = {(r.impl, r.load, r.probe): r for r in recs}
    impls = ordered((r.impl for r in recs), impl_order)
    loads = ordered((r.load for r in recs), load_order)
    rows = []
    for impl in impls:
        for load in loads:
            if not any((impl, load, p) in cells for p in probes):
                continue
            rows.append([impl, load, *(probe_verdict(cells.get((impl, load, p))) for p in probes)])
    return ["impl", "load", *probes], rows


def micro_rows(records: Sequence[Record], impl_order: Iterable[str] = ()) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per impl, one column per op: ``median ns (ratio)``."""
    micro = of_kind(records, "micro")
    ops = list(dict.fromkeys(r.op for r in micro))
    cells = {(r.impl, r.op): r for r in micro}
    impls = ordered((r.impl for r in micro), ["plain", "threading-local", *impl_order])
    rows = []
    for impl in impls:
        row = [impl]
        for op in ops:
            rec = cells.get((impl, op))
            if rec is None:
                row.append("-")
                continue
            ratio = rec.ratio_to_threading_local
            spread = rec.ns_spread
            ratio_text = f" ({ratio:.2f}x)" if isinstance(ratio, (int, float)) else ""
            spread_text = f" ±{spread:.1f}" if isinstance(spread, (int, float)) else ""
            row.append(f"{rec.ns_median:.1f}{spread_text}{ratio_text}")
        rows.append(row)
    return ["impl (ns per op ± MAD, x threading.local)", *ops], rows


def parallel_rows(records: Sequence[Record]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per Local x op of the 1-thread / 2-thread cell: ns per access and ops/s per thread
    at 1 and at 2 threads, and the scaling (ops/s of each of 2 / ops/s of 1)."""
    from bench.present.palette import IMPL_COLOURS
    from bench.records.kinds import ParallelRecord

    recs = [r for r in records if isinstance(r, ParallelRecord)]
    impls = ordered((r.impl for r in recs), IMPL_COLOURS)
    by = {(r.impl, r.op): r for r in recs}
    ops = list(dict.fromkeys(r.op for r in recs))
    rows = [[impl, op, f"{known(r.ns_1) or 0:.1f}", f"{known(r.ns_2) or 0:.1f}", f"{r.ops_per_s_1:,.0f}",
             f"{r.ops_per_s_2:,.0f}", f"{r.scaling:.2f}"]
            for impl in impls for op in ops if (r := by.get((impl, op))) is not None]
    return ["impl", "op", "ns/access, 1 thread", "ns/access, each of 2", "ops/s, 1 thread", "ops/s, each of 2",
            "scaling"], rows


#: ``silent wrong`` leads: another operation's reply returned as success is what a user cannot see.  Counts are
#: exact shares of every operation over the repeats; figures are the median (range, n) over the repeats; a cell
#: that failed shows what failed instead of a speed.
DB_HEADER: tuple[str, ...] = (
    "strategy", "load", "workers", "silent wrong", "errors", "wrong results", "correct ops/s", "longest hub stall ms",
    "p50 ms", "p99 ms", "p99.9 ms", "outcome", "of ceiling", "ceiling (mysqlslap)",
)
REQUEST_HEADER: tuple[str, ...] = (
    "impl", "strategy", "load", "workers", "silent wrong", "local violations", "wrong results", "errors",
    "correct ops/s", "outcome",
)


def _fmt_rate(v: Any) -> str:
    return f"{v:,.0f}" if isinstance(v, (int, float)) else "-"


def _fmt_ms(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return "-"
    return f"{v:.3g}" if v < 100 else f"{v:,.0f}"


def speed(cell: SpreadCell, outcome: str, fmt: Callable[[float], str] = _fmt_rate) -> str:
    """Correct replies per second, median (range, n) over the repeats -- or, when any repeat failed, what failed (a
    cell whose every reply was right but whose event loop stalled past the bound keeps its speed: the stall is said
    beside it)."""
    if outcome == "skipped":
        return "-"
    if outcome != "ok" and not outcome.startswith(BLOCKS_HUB):
        return f"failed: {outcome}"
    return cell.of(correct_per_s).text(fmt)


def hub_text(cell: SpreadCell) -> str:
    """The longest stall of the cell's event loop (median over repeats, ms; the machine's share taken off) and the
    share of the window it was blocked: ``12 (2% blocked)``; ``whole window`` when the loop never ran the ticker in
    the measured window; ``-`` for a cell without a hub (threads) or from before the ticker."""
    hubs = [known(getattr(r, "hub", UNSET)) for r in cell.records]
    if not any(isinstance(h, dict) for h in hubs):
        return "-"
    if all(h.get("ticks") == 0 for h in hubs if isinstance(h, dict)):
        return "whole window"  # the loop never ran the ticker in the measured window: one worker held it
    longest = cell.of(lambda r: (known(getattr(r, "hub", UNSET)) or {}).get("longest_stall_ms")).median
    share = cell.of(lambda r: (known(getattr(r, "hub", UNSET)) or {}).get("blocked_share")).median
    blocked = "" if share is None else f" ({share:.0%} blocked)" if share >= 0.005 else " (<1% blocked)"
    return ("-" if longest is None else _fmt_ms(longest)) + blocked


def _latency(cell: SpreadCell, key: str) -> str:
    return cell.of(lambda r: (known(r.latency_ms) or {}).get(key)).text(_fmt_ms)


def ceiling_text(samples: Any) -> str:
    """The server's ceiling: the best of the mysqlslap runs and their range, ``93,023 (best of 3: 48,100-93,023)``."""
    values = [float(v) for v in known(samples) or [] if isinstance(v, (int, float))]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:,.0f} (one run)"
    return f"{max(values):,.0f} (best of {len(values)}: {min(values):,.0f}-{max(values):,.0f})"


def _db_row(cell: SpreadCell) -> list[str]:
    r = cell.first
    assert isinstance(r, DbRecord)
    outcome = outcome_name(cell)
    ratio = "-" if speed(cell, outcome).startswith(("-", "failed")) else cell.of(
        lambda rec: known(rec.ratio_to_ceiling)).text(lambda v: f"{v:.0%}")
    samples = next((known(rec.ceiling_samples) for rec in cell.records if known(rec.ceiling_samples)), None)
    return [r.strategy, r.load, workers_text(r), tally(cell, silent_wrong, attempts),
            with_classes(cell, lambda rec: rec.errors, attempts),
            tally(cell, lambda rec: rec.wrong_results, attempts),
            speed(cell, outcome), hub_text(cell), _latency(cell, "p50"), _latency(cell, "p99"),
            _latency(cell, "p99.9"), outcome, ratio, ceiling_text(samples)]


def _cells_of(records: Sequence[Record], kind: str) -> list[SpreadCell]:
    """The direct cells of ``kind`` (cells run with ``--rtt`` are the network table's)."""
    return [cell for cell in cells(direct(records)) if cell.first.kind == kind]


def db_rows(records: Sequence[Record]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per strategy x load x concurrency (x processes), its repeats together."""
    db = _cells_of(records, "db")
    firsts = [c.first for c in db]
    rank_s = {s: i for i, s in enumerate(strategies_of(firsts))}  # type: ignore[arg-type]
    rank_l = {ld: i for i, ld in enumerate(loads_of(firsts))}  # type: ignore[arg-type]
    order = sorted(db, key=lambda c: (rank_s[c.first.strategy], rank_l[c.first.load], c.first.concurrency,
                                      known(c.first.processes) or 1))
    return list(DB_HEADER), [_db_row(c) for c in order]


def ceiling_rows(records: Sequence[Record]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: the server's own ceiling (mysqlslap) per concurrency, every run kept: best, range, runs."""
    rows = []
    for r in sorted(of_kind(records, "ceiling"), key=lambda r: r.concurrency):
        values = [float(v) for v in known(r.samples) or []]
        runs = ", ".join(f"{v:,.0f}" for v in values) or "-"
        rows.append([str(r.concurrency), ceiling_text(values), runs, str(known(r.query) or "-"), r.outcome])
    return ["concurrency", "queries/s (best, range)", "runs", "query", "outcome"], rows


def _count(value: Any) -> str:
    """``-`` for a count not recorded (absent or null), else the count."""
    value = known(value)
    return "-" if value is None else f"{value:,}"


def request_rows(records: Sequence[Record]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per impl x strategy x load of the request scenario, its repeats together."""
    req = _cells_of(records, "request")
    firsts: list[Any] = [c.first for c in req]
    rank_i = {v: i for i, v in enumerate(impls_of(firsts))}
    rank_s = {v: i for i, v in enumerate(strategies_of(firsts))}
    rank_l = {v: i for i, v in enumerate(loads_of(firsts))}
    rows = []
    for cell in sorted(req, key=lambda c: (rank_i[c.first.impl], rank_l[c.first.load], rank_s[c.first.strategy],
                                           known(c.first.processes) or 1)):
        r = cell.first
        assert isinstance(r, RequestRecord)
        outcome = outcome_name(cell)
        rows.append([r.impl, r.strategy, r.load, workers_text(r), tally(cell, silent_wrong, attempts),
                     tally(cell, lambda rec: rec.local_violations, attempts),
                     tally(cell, lambda rec: rec.wrong_results, attempts),
                     with_classes(cell, lambda rec: rec.errors, attempts),
                     speed(cell, outcome), outcome])
    return list(REQUEST_HEADER), rows


def workers_text(rec: Workload) -> str:
    """``16`` for one process, ``2x8`` for two processes of 8 workers each."""
    processes = rec.processes or 1
    return f"{processes}x{rec.concurrency}" if processes > 1 else str(rec.concurrency)


SCALING_HEADER: tuple[str, ...] = (
    "cell", "load", "workers per process", "processes", "ops/s", "efficiency", "client CPU s", "server CPU s",
    "of ceiling", "outcome",
)


def _fmt_s(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, (int, float)) else "-"


def _median_text(cell: SpreadCell, value: Callable[[Any], Any], fmt: Callable[[Any], str]) -> str:
    return fmt(cell.of(value).median)


def scaling_rows(records: Iterable[Record]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: cells of one strategy/load/workers measured at several process counts, one row per count.

    Efficiency = ops/s(P) / (P x ops/s(P=1)), of the medians over the repeats: 100% when P processes do P times
    the work of one; CPU seconds (medians) are the client processes' together and the server's, over the same
    span, so the limit can be read off; "of ceiling" is ops/s over what ``mysqlslap`` reached at the same total
    concurrency.
    """
    groups: dict[tuple[Any, ...], dict[int, SpreadCell]] = {}
    for cell in cells(direct(records)):
        r = cell.first
        if isinstance(r, (DbRecord, RequestRecord)):
            groups.setdefault(cell_of(r), {})[known(r.processes) or 1] = cell
    rows = []
    for (kind, impl, strategy, load, c, _rtt, _driver), by_p in groups.items():
        if len(by_p) < 2:
            continue
        one = by_p[1].of(correct_per_s).median if 1 in by_p else None
        name = f"request {impl} x {strategy}" if kind == "request" else strategy
        for p in sorted(by_p):
            cell = by_p[p]
            rate = cell.of(correct_per_s)
            eff = f"{rate.median / (p * one):.0%}" if rate.median is not None and one else "-"
            rows.append([name, load, str(c), str(p), rate.text(), eff,
                         _median_text(cell, lambda r: r.client_cpu_s, _fmt_s),
                         _median_text(cell, lambda r: r.server_cpu_s, _fmt_s),  # of mysqlslap at P x C:
                         _median_text(cell, lambda r: r.ratio_to_ceiling, lambda v: "-" if v is None else f"{v:.0%}"),
                         outcome_name(cell)])
    return list(SCALING_HEADER), rows


STACK_HEADER: tuple[str, ...] = (
    "server", "impl", "strategy", "clients", "silent wrong", "wrong Local", "HTTP errors", "client errors",
    "requests", "correct req/s", "p50 ms", "p99 ms", "p99.9 ms", "outcome",
)


def stack_rows(records: Sequence[Record]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per real-stack cell (its repeats together), silent wrong replies first (the number a
    user must see); counts as exact shares of the requests, throughput as correct replies per second."""
    stack = _cells_of(records, "stack")
    firsts: list[Any] = [c.first for c in stack]
    servers = list(dict.fromkeys(r.server for r in firsts))
    rank_i = {v: i for i, v in enumerate(impls_of(firsts))}
    rank_s = {v: i for i, v in enumerate(strategies_of(firsts))}
    rows = []
    for cell in sorted(stack, key=lambda c: (servers.index(c.first.server), rank_i[c.first.impl],
                                             rank_s[c.first.strategy], c.first.concurrency)):
        r = cell.first
        assert isinstance(r, StackRecord)
        outcome = outcome_name(cell)
        clients = str(r.concurrency) + (f" (w={r.workers})" if r.workers != 1 else "")
        rows.append([r.server, r.impl, r.strategy, clients, tally(cell, lambda rec: rec.silent_wrong, attempts),
                     tally(cell, lambda rec: rec.wrong_local, attempts),
                     with_classes(cell, lambda rec: rec.http_errors, attempts),
                     with_classes(cell, lambda rec: rec.client_errors, attempts),
                     _count(sum(known(rec.requests) or 0 for rec in cell.records) if any(
                         isinstance(known(rec.requests), int) for rec in cell.records) else None),
                     speed(cell, outcome), _latency(cell, "p50"), _latency(cell, "p99"), _latency(cell, "p99.9"),
                     outcome])
    return list(STACK_HEADER), rows


STACK_PROCESS_HEADER: tuple[str, ...] = (
    "server", "impl", "strategy", "clients", "pid", "requests", "share", "silent wrong", "wrong Local", "errors",
    "correct req/s", "p50 ms", "p99 ms", "repeat",
)


def stack_process_rows(records: Sequence[Record]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per server process of every real-stack cell that ran more than one (``pid`` ``-``:
    requests that got no reply, so named no process), repeat by repeat (``repeat`` 1-based)."""
    rows = []
    for r in of_kind(direct(records), "stack"):
        shares = r.per_process or []
        if len([s for s in shares if s.get("pid") is not None]) < 2:
            continue
        total = r.requests or 0
        window = known(r.measured_s) or known(r.duration_s)
        for part in shares:
            lat = part.get("latency_ms") or {}
            of_all = f"{part['requests'] / total:.0%}" if total else "-"
            pid = "-" if part.get("pid") is None else str(part["pid"])
            ok = part.get("ok")
            rows.append([r.server, r.impl, r.strategy, str(r.concurrency), pid,
                         _count(part.get("requests")), of_all, _count(part.get("silent_wrong")),
                         _count(part.get("wrong_local")), _count(part.get("errors")),
                         _fmt_rate(ok / window if isinstance(ok, int) and window else None),
                         _fmt_ms(lat.get("p50")), _fmt_ms(lat.get("p99")), str((known(r.repeat) or 0) + 1)])
    return list(STACK_PROCESS_HEADER), rows


def md_cell(text: str) -> str:
    """A table cell or list item for Markdown: a ``|`` escaped, line breaks flattened."""
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table of ``header`` and ``rows``."""
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def print_table(title: str, header: list[str], rows: list[list[str]], *,
                style: Callable[[str], str] | None = None) -> None:
    """Print with rich (wraps to the terminal; plain text when piped).

    ``style`` marks up each cell (default: ok/FAIL colours).
    """
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for name in header:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*((style or _style)(cell) for cell in row))
    console = Console()
    if not console.is_terminal:
        console = Console(width=220)  # a log or a pipe: do not fold cells at 80 columns
    console.print(table)


def _style(cell: str) -> str:
    if cell.startswith("FAIL") or cell == "error":
        return f"[red]{cell}[/red]"
    if cell.startswith("ok "):
        return f"[green]{cell}[/green]"
    return cell
