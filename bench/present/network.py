"""The network views: correct replies per second against the measured round trip, beside what the round trip allows.

What is promised
    Only cells run with a round trip (``--rtt``: records carrying ``rtt_set_ms``) are read here, and every other view
    leaves them out (:func:`bench.present.common.direct`).  Every figure uses the *measured* round trip
    (``rtt_ms``: the median ``SELECT 1`` ping through the cell's path just before it ran), never the setting, which
    is shown only to name the cell.  :func:`network_rows` is the table -- one row per strategy x round trip (and
    load, workers), with the throughput's spread over repeats, the measured round trip and its p10-p90, the proxy's
    own cost, the bound and the share of the bound reached; :func:`network_findings` the sentences.  A cell that
    failed (a wrong reply, an error, a hang) shows what failed, never a speed or a share.

    The bound (``rtt_bound_ops_per_s``, written by the parent that ran the cell) is what the round trip alone allows
    if every operation were one round trip: the operations that can wait on the network at once (one per process
    for a strategy whose checkouts exclude each other, else every worker: C) over the measured round trip.  A
    strategy that needs more round trips per operation (a connection per operation: greeting, login, settings,
    query) reaches a share of it that says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.present.common import on_network, strategies_of
from bench.present.spread import Cell, Measured, cells, correct_per_s, outcome_name, spread
from bench.present.tables import speed
from bench.records.kinds import Record, RequestRecord, StackRecord, known

NETWORK_TITLE = ("Throughput against the measured round trip: each strategy at each round trip set, the bound "
                 "(operations in flight / measured RTT) and the share of it reached")
NETWORK_HEADER: tuple[str, ...] = (
    "strategy", "load", "workers", "round trip set", "measured RTT ms (p10-p90)", "proxy cost ms",
    "correct ops/s", "bound ops/s (in flight / RTT)", "of bound", "outcome",
)


def network_cells(records: Sequence[Record]) -> list[Cell]:
    """The cells run with a round trip, repeats together, in the order strategies are shown, then by round trip."""
    found = [c for c in cells(r for r in records if on_network(r)) if c.first.outcome != "skipped"]
    rank = {s: i for i, s in enumerate(strategies_of([c.first for c in found]))}
    return sorted(found, key=lambda c: (group_of(c.first), rank[c.first.strategy], known(c.first.rtt_set_ms) or 0.0))


def group_of(rec: Measured) -> tuple[str, ...]:
    """What a panel of the chart (and a block of the table) holds: one kind of cell, one load or server, one
    concurrency (and impl)."""
    if isinstance(rec, StackRecord):
        return ("stack", rec.server, rec.impl, str(rec.concurrency), str(rec.workers))
    impl = rec.impl if isinstance(rec, RequestRecord) else ""
    return (rec.kind, rec.load, impl, str(rec.concurrency), str(known(rec.processes) or 1))


def group_title(rec: Measured) -> str:
    """``db, threads, 8 workers``; ``request fast, gevent, 16 workers``; ``stack waitress fast, 16 clients``."""
    if isinstance(rec, StackRecord):
        return f"stack {rec.server} {rec.impl}, {rec.concurrency} clients" + (
            f", {rec.workers} server processes" if rec.workers != 1 else "")
    head = f"request {rec.impl}" if isinstance(rec, RequestRecord) else "db"
    return f"{head}, {rec.load}, {workers(rec)}"


def workers(rec: Measured) -> str:
    """``8 workers``, ``2x8 workers`` (processes x workers), ``16 clients``."""
    if isinstance(rec, StackRecord):
        return f"{rec.concurrency} clients"
    processes = known(rec.processes) or 1
    return f"{processes}x{rec.concurrency} workers" if processes > 1 else f"{rec.concurrency} workers"


def rtt_set_text(value: float | None) -> str:
    """``0 (direct)``, ``0.5 ms``, ``1 ms``."""
    if value is None:
        return "-"
    return "0 (direct)" if value == 0 else f"{value:g} ms"


def ms(value: float | None) -> str:
    """A time in milliseconds to three significant digits (``0.0512``, ``1.21``); ``-`` when unknown."""
    return "-" if value is None else f"{value:.3g}"


def measured_rtt(cell: Cell) -> float | None:
    """The cell's measured round trip: the median over its repeats of each measurement's median ping."""
    return cell.of(lambda r: known(r.rtt_ms)).median


def bound(cell: Cell) -> float | None:
    """What the round trip alone allows this cell (median over its repeats)."""
    return cell.of(lambda r: known(r.rtt_bound_ops_per_s)).median


def share_of_bound(cell: Cell) -> float | None:
    """Correct ops/s over the bound (medians over the repeats); None when the cell failed or either is unknown."""
    rate, top = cell.of(correct_per_s).median, bound(cell)
    if outcome_name(cell) != "ok" or not rate or not top:
        return None
    return rate / top


def share_text(share: float | None, below: str = "<1%") -> str:
    """``84%``; ``below`` (``<1%``) for a share that rounds to nothing; ``-`` when there is none (a failed cell)."""
    if share is None:
        return "-"
    return below if round(share * 100) < 1 else f"{share:.0%}"


def _rtt_cell(cell: Cell) -> str:
    low = min((v for v in (known(r.rtt_p10_ms) for r in cell.records) if v is not None), default=None)
    high = max((v for v in (known(r.rtt_p90_ms) for r in cell.records) if v is not None), default=None)
    span = f" ({ms(low)}-{ms(high)})" if low is not None and high is not None else ""
    return ms(measured_rtt(cell)) + span


def network_rows(records: Sequence[Record]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per cell run with a round trip (its repeats together); none without such cells."""
    rows = []
    for cell in network_cells(records):
        r = cell.first
        outcome = outcome_name(cell)
        cost = cell.of(lambda rec: known(rec.proxy_cost_ms)).median
        top = bound(cell)
        share = share_of_bound(cell)
        name = r.strategy if r.kind == "db" else f"{group_title(r).split(',')[0]}: {r.strategy}"
        load = r.server if isinstance(r, StackRecord) else r.load
        rows.append([name, load, workers(r), rtt_set_text(known(r.rtt_set_ms)), _rtt_cell(cell),
                     "- (direct)" if cost is None else ms(cost), speed(cell, outcome),
                     "-" if top is None else f"{top:,.0f}", share_text(share), outcome])
    return list(NETWORK_HEADER), rows


def _said(cell: Cell) -> str:
    r = cell.first
    share = share_of_bound(cell)
    if share is None:
        return f"{r.strategy} failed ({outcome_name(cell)})"
    rate = cell.of(correct_per_s).median or 0.0
    share_words = share_text(share, below="under 1%")
    return f"{r.strategy} {rate:,.0f} correct ops/s ({share_words} of its bound, {bound(cell) or 0:,.0f})"


def network_findings(records: Sequence[Record]) -> list[str]:
    """A sentence per group and round trip set: each strategy's correct ops/s and share of its bound at the measured
    round trip; then what the proxy itself cost.  [] without cells run with a round trip."""
    found = network_cells(records)
    out: list[str] = []
    groups: dict[tuple[Any, ...], list[Cell]] = {}
    for cell in found:
        groups.setdefault((*group_of(cell.first), known(cell.first.rtt_set_ms)), []).append(cell)
    for members in groups.values():
        first = members[0].first
        rtt = spread(measured_rtt(c) for c in members).median
        where = f"{group_title(first)}, round trip set {rtt_set_text(known(first.rtt_set_ms))}"
        out.append(f"At a measured round trip of {ms(rtt)} ms ({where}): " + "; ".join(_said(c) for c in members)
                   + ".")
    costs = spread(known(r.proxy_cost_ms) for c in found for r in c.records)
    directs = spread(known(r.rtt_direct_ms) for c in found for r in c.records)
    if costs.median is not None:
        out.append(f"The delay proxy itself added {ms(costs.median)} ms to a round trip (median over {costs.n} "
                   f"measurements, {ms(costs.low)}-{ms(costs.high)}); the direct round trip was {ms(directs.median)} "
                   "ms. The measured round trip includes it: the tables and the chart use the measured one.")
    return out
