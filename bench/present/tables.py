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
    error_total,
    impls_of,
    loads_of,
    of_kind,
    ordered,
    silent_wrong,
    strategies_of,
)
from bench.records.kinds import DbRecord, ProbeRecord, Record, RequestRecord, known


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


#: ``silent wrong`` leads: another operation's reply returned as success is what a user cannot see.
DB_HEADER: tuple[str, ...] = (
    "strategy", "load", "workers", "silent wrong", "errors", "wrong results", "ops/s", "p50 ms", "p99 ms", "p99.9 ms",
    "outcome", "of ceiling",
)
REQUEST_HEADER: tuple[str, ...] = (
    "impl", "strategy", "load", "workers", "silent wrong", "local violations", "wrong results", "errors", "ops/s",
    "outcome",
)


def _fmt_rate(v: Any) -> str:
    return f"{v:,.0f}" if isinstance(v, (int, float)) else "-"


def _fmt_ms(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return "-"
    return f"{v:.3g}" if v < 100 else f"{v:,.0f}"


def _errors_text(rec: Workload) -> str:
    errors = rec.errors or {}
    total = error_total(rec)
    if not total:
        return "0"
    top = sorted(errors.items(), key=lambda kv: -kv[1])
    return f"{total:,} (" + ", ".join(f"{k} {v:,}" for k, v in top[:3]) + (", ..." if len(top) > 3 else "") + ")"


def _db_row(r: DbRecord) -> list[str]:
    lat = r.latency_ms or {}
    ceiling = r.server_ceiling_ops_per_s
    rate = r.ops_per_s
    share = "-"
    if isinstance(ceiling, (int, float)) and ceiling and isinstance(rate, (int, float)):
        share = f"{rate / ceiling:.0%}"
    return [r.strategy, r.load, workers_text(r), _count(silent_wrong(r)), _errors_text(r),
            _count(r.wrong_results), _fmt_rate(rate), _fmt_ms(lat.get("p50")), _fmt_ms(lat.get("p99")),
            _fmt_ms(lat.get("p99.9")), str(r.outcome), share]


def db_rows(records: Sequence[Record]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per strategy x load x concurrency."""
    db = of_kind(records, "db")
    rank_s = {s: i for i, s in enumerate(strategies_of(db))}
    rank_l = {ld: i for i, ld in enumerate(loads_of(db))}
    rows = [_db_row(r) for r in sorted(db, key=lambda r: (rank_s[r.strategy], rank_l[r.load], r.concurrency,
                                                          r.processes or 1))]
    return list(DB_HEADER), rows


def _count(value: Any) -> str:
    """``-`` for a count not recorded (absent or null), else the count."""
    value = known(value)
    return "-" if value is None else f"{value:,}"


def request_rows(records: Sequence[Record]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per impl x strategy x load of the request scenario."""
    req = of_kind(records, "request")
    rank_i = {v: i for i, v in enumerate(impls_of(req))}
    rank_s = {v: i for i, v in enumerate(strategies_of(req))}
    rank_l = {v: i for i, v in enumerate(loads_of(req))}
    rows = [[r.impl, r.strategy, r.load, workers_text(r), _count(silent_wrong(r)),
             _count(r.local_violations),
             _count(r.wrong_results), _errors_text(r), _fmt_rate(r.ops_per_s), str(r.outcome)]
            for r in sorted(req, key=lambda r: (rank_i[r.impl], rank_l[r.load], rank_s[r.strategy],
                                                r.processes or 1))]
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


def scaling_rows(records: Iterable[Record]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: cells of one strategy/load/workers measured at several process counts, one row per count.

    Efficiency = ops/s(P) / (P x ops/s(P=1)): 100% when P processes do P times the work of one; CPU seconds are
    the client processes' together and the server's, over the same span, so the limit can be read off; "of
    ceiling" is ops/s over what ``mysqlslap`` reached at the same total concurrency.
    """
    groups: dict[tuple[Any, ...], dict[int, Workload]] = {}
    for r in records:
        if isinstance(r, (DbRecord, RequestRecord)):
            groups.setdefault(cell_of(r), {})[r.processes or 1] = r
    rows = []
    for (kind, impl, strategy, load, c), by_p in groups.items():
        if len(by_p) < 2:
            continue
        one = by_p[1].ops_per_s if 1 in by_p else None
        name = f"request {impl} x {strategy}" if kind == "request" else strategy
        for p in sorted(by_p):
            r = by_p[p]
            rate = r.ops_per_s
            eff = f"{rate / (p * one):.0%}" if isinstance(rate, (int, float)) and one else "-"
            ceiling = r.ratio_to_ceiling  # of mysqlslap at the total concurrency P x C
            rows.append([name, load, str(c), str(p), _fmt_rate(rate), eff, _fmt_s(r.client_cpu_s),
                         _fmt_s(r.server_cpu_s), f"{ceiling:.0%}" if isinstance(ceiling, float) else "-",
                         str(r.outcome)])
    return list(SCALING_HEADER), rows


STACK_HEADER: tuple[str, ...] = (
    "server", "impl", "strategy", "clients", "silent wrong", "wrong Local", "HTTP errors", "client errors",
    "requests", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "outcome",
)


def _classes_text(counts: Any) -> str:
    """``-`` (not counted: absent or null), ``0``, or ``12 (500 10, 502 2)``: a total and its top classes."""
    counts = known(counts)
    if counts is None:
        return "-"
    counts = {k: int(v) for k, v in (counts or {}).items() if isinstance(v, (int, float)) and v}
    if not counts:
        return "0"
    top = sorted(counts.items(), key=lambda kv: -kv[1])
    return f"{sum(counts.values()):,} (" + ", ".join(f"{k} {v:,}" for k, v in top[:3]) + (
        ", ..." if len(top) > 3 else "") + ")"


def stack_rows(records: Sequence[Record]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per real-stack cell, silent wrong replies first (the number a user must see)."""
    stack = of_kind(records, "stack")
    servers = list(dict.fromkeys(r.server for r in stack))
    rank_i = {v: i for i, v in enumerate(impls_of(stack))}
    rank_s = {v: i for i, v in enumerate(strategies_of(stack))}
    rows = []
    for r in sorted(stack, key=lambda r: (servers.index(r.server), rank_i[r.impl], rank_s[r.strategy],
                                          r.concurrency)):
        lat = r.latency_ms or {}
        clients = str(r.concurrency) + (f" (w={r.workers})" if r.workers != 1 else "")
        rows.append([r.server, r.impl, r.strategy, clients, _count(r.silent_wrong),
                     _count(r.wrong_local), _classes_text(r.http_errors),
                     _classes_text(r.client_errors), _count(r.requests), _fmt_rate(r.ops_per_s),
                     _fmt_ms(lat.get("p50")), _fmt_ms(lat.get("p99")), _fmt_ms(lat.get("p99.9")),
                     str(r.outcome)])
    return list(STACK_HEADER), rows


STACK_PROCESS_HEADER: tuple[str, ...] = (
    "server", "impl", "strategy", "clients", "pid", "requests", "share", "silent wrong", "wrong Local", "errors",
    "req/s", "p50 ms", "p99 ms",
)


def stack_process_rows(records: Sequence[Record]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per server process of every real-stack cell that ran more than one (``pid`` ``-``:
    requests that got no reply, so named no process)."""
    rows = []
    for r in of_kind(records, "stack"):
        shares = r.per_process or []
        if len([s for s in shares if s.get("pid") is not None]) < 2:
            continue
        total = r.requests or 0
        for share in shares:
            lat = share.get("latency_ms") or {}
            part = f"{share['requests'] / total:.0%}" if total else "-"
            pid = "-" if share.get("pid") is None else str(share["pid"])
            rows.append([r.server, r.impl, r.strategy, str(r.concurrency), pid,
                         _count(share.get("requests")), part, _count(share.get("silent_wrong")),
                         _count(share.get("wrong_local")), _count(share.get("errors")),
                         _fmt_rate(share.get("ops_per_s")), _fmt_ms(lat.get("p50")), _fmt_ms(lat.get("p99"))])
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
