"""Terminal tables built from records only (never from live objects).

The same functions serve ``ctxbench locals`` output and the Markdown report, so
a verdict is worded the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bench.cell.probes import JUDGED, PROBES


def probe_verdict(rec: dict[str, Any] | None) -> str:
    """``ok 0/40``, ``FAIL 35/40``, ``inherits 16/16``, or ``error``."""
    if rec is None:
        return "-"
    if rec.get("outcome") != "ok":
        return "error"
    if rec["probe"] not in JUDGED:
        return f"inherits {rec['details']['inherited']}/{rec['checks']}"
    word = "FAIL" if rec["violations"] else "ok"
    return f"{word} {rec['violations']}/{rec['checks']}"


def _ordered(values: Iterable[str], order: Iterable[str]) -> list[str]:
    values = list(dict.fromkeys(values))
    rank = {name: i for i, name in enumerate(order)}
    return sorted(values, key=lambda v: (rank.get(v, len(rank)), values.index(v)))


def probe_rows(records: list[dict[str, Any]], impl_order: Iterable[str] = (), load_order: Iterable[str] = ()) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per impl x load, one column per probe."""
    probes = [p for p in PROBES if any(r["kind"] == "probe" and r["probe"] == p for r in records)]
    cells = {(r["impl"], r["load"], r["probe"]): r for r in records if r["kind"] == "probe"}
    impls = _ordered((r["impl"] for r in records if r["kind"] == "probe"), impl_order)
    loads = _ordered((r["load"] for r in records if r["kind"] == "probe"), load_order)
    rows = []
    for impl in impls:
        for load in loads:
            if not any((impl, load, p) in cells for p in probes):
                continue
            rows.append([impl, load, *(probe_verdict(cells.get((impl, load, p))) for p in probes)])
    return ["impl", "load", *probes], rows


def micro_rows(records: list[dict[str, Any]], impl_order: Iterable[str] = ()) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per impl, one column per op: ``median ns (ratio)``."""
    micro = [r for r in records if r["kind"] == "micro"]
    ops = list(dict.fromkeys(r["op"] for r in micro))
    cells = {(r["impl"], r["op"]): r for r in micro}
    impls = _ordered((r["impl"] for r in micro), ["plain", "threading-local", *impl_order])
    rows = []
    for impl in impls:
        row = [impl]
        for op in ops:
            rec = cells.get((impl, op))
            if rec is None:
                row.append("-")
                continue
            ratio = rec.get("ratio_to_threading_local")
            ratio_text = f" ({ratio:.2f}x)" if ratio is not None else ""
            row.append(f"{rec['ns_median']:.1f} ±{rec['ns_spread']:.1f}{ratio_text}")
        rows.append(row)
    return ["impl (ns per op ± MAD, x threading.local)", *ops], rows


def md_cell(text: str) -> str:
    """A table cell or list item for Markdown: a ``|`` escaped, line breaks flattened."""
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def print_table(title: str, header: list[str], rows: list[list[str]], *, style: Callable[[str], str] | None = None) -> None:
    """Print with rich (wraps to the terminal; plain text when piped); ``style`` marks up each cell (default: ok/FAIL colours)."""
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
