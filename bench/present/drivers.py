"""The driver views: each MySQL driver's speed, CPU, connect cost and whether it blocks the event loop, per load.

What is promised
    Only cells run over a driver named with ``--driver`` (records carrying ``driver``) are read here, and every other
    view leaves them out (:func:`bench.present.common.direct`); the answer reads them for its driver verdicts.
    :func:`driver_rows` is the table -- one row per driver x load x strategy (x workers), the driver's version, the
    correct ops/s with its spread over repeats and its share of the server's ceiling, the client CPU per operation,
    one connect + close, the event loop's longest stall and blocked share, and the verdict: ``blocks the hub`` (its
    replies are right, but the loop stalled past the bound: docs/drivers.md), ``ok``, or what failed;
    :func:`driver_findings` the sentences.  Pure: records in, rows out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.present.common import LOAD_ORDER, on_driver, ordered, strategies_of
from bench.present.dbfindings import join_words
from bench.present.spread import BLOCKS_HUB, Cell, blocks_hub, cells, correct_per_s, outcome_name, spread
from bench.present.tables import hub_text, speed, workers_text
from bench.records.kinds import UNSET, DbRecord, Record, RequestRecord, known

#: The built-in drivers in the order tables show them (others, a user's, after them).
DRIVER_ORDER = ("pymysql", "mysqlclient", "mariadb", "connector", "connector-pure")
DRIVERS_TITLE = ("MySQL drivers: correct ops/s, client CPU per operation, one connect + close, and whether the "
                 "driver blocks the event loop (longest stall of the hub, share of the window blocked)")
DRIVERS_HEADER: tuple[str, ...] = (
    "driver", "version", "load", "strategy", "workers", "correct ops/s", "of ceiling", "client CPU µs/op",
    "connect + close ms", "longest hub stall ms", "verdict",
)


def driver_cells(records: Sequence[Record]) -> list[Cell]:
    """The db and request cells run over a named driver, repeats together: by strategy, load, workers, driver."""
    found = [c for c in cells(r for r in records if on_driver(r)) if isinstance(c.first, DbRecord | RequestRecord)]
    firsts = [c.first for c in found]
    rank_s = {s: i for i, s in enumerate(strategies_of(firsts))}  # type: ignore[arg-type]
    rank_l = {ld: i for i, ld in enumerate(ordered((r.load for r in firsts), LOAD_ORDER))}  # type: ignore[union-attr]
    rank_d = {d: i for i, d in enumerate(ordered((str(known(r.driver)) for r in firsts), DRIVER_ORDER))}
    return sorted(found, key=lambda c: (c.first.kind, str(known(getattr(c.first, "impl", ""))),
                                        rank_s[c.first.strategy], rank_l[c.first.load], c.first.concurrency,  # type: ignore[union-attr]
                                        known(c.first.processes) or 1, rank_d[str(known(c.first.driver))]))


def driver_of(cell: Cell) -> str:
    """The cell's driver, by name."""
    return str(known(cell.first.driver))


def _of(cell: Cell, name: str) -> Any:
    return cell.of(lambda r: known(getattr(r, name, UNSET)))


def connect_ms(cell: Cell) -> float | None:
    """One connect + close through the cell's driver, ms: the median over its repeats of each one's median."""
    return cell.of(lambda r: (known(r.connect_close_ms) or {}).get("median")).median  # type: ignore[union-attr]


def _fmt(value: float | None, digits: str = ".3g") -> str:
    if value is None:
        return "-"
    return f"{value:{digits}}" if value < 100 else f"{value:,.0f}"


def verdict(cell: Cell) -> str:
    """``ok``, ``blocks the hub``, ``skipped: <why>`` or what failed (``errors``, ``hung``, ...)."""
    outcome = outcome_name(cell)
    if outcome == "skipped":
        reason = known(cell.first.reason) or ""
        return f"skipped: {reason}" if reason else "skipped"
    return outcome


def driver_rows(records: Sequence[Record]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per cell run over a named driver (its repeats together); none without such cells."""
    rows = []
    for cell in driver_cells(records):
        r = cell.first
        assert isinstance(r, DbRecord | RequestRecord)
        outcome = outcome_name(cell)
        rate = speed(cell, outcome)
        ratio = "-" if rate.startswith(("-", "failed")) else _of(cell, "ratio_to_ceiling").text(lambda v: f"{v:.0%}")
        strategy = r.strategy if isinstance(r, DbRecord) else f"request {r.impl} x {r.strategy}"
        rows.append([driver_of(cell), str(known(r.driver_version) or "-"), r.load, strategy, workers_text(r), rate,
                     ratio, _fmt(_of(cell, "client_cpu_us_per_op").median), _fmt(connect_ms(cell)),
                     hub_text(cell), verdict(cell)])
    return list(DRIVERS_HEADER), rows


def _measured(found: Sequence[Cell]) -> list[Cell]:
    return [c for c in found if outcome_name(c) != "skipped"]


def _blocking_sentences(found: Sequence[Cell]) -> list[str]:
    """Per load with a hub: which drivers blocked it (their longest stall, blocked share) and which did not."""
    out = []
    for load in ordered((c.first.load for c in found if c.first.hub), LOAD_ORDER):  # type: ignore[union-attr]
        here = [c for c in found if c.first.load == load and c.first.hub]  # type: ignore[union-attr]
        bad = ordered((driver_of(c) for c in here if any(blocks_hub(r) for r in c.records)), DRIVER_ORDER)
        good = ordered((driver_of(c) for c in here if driver_of(c) not in bad), DRIVER_ORDER)
        if not bad:
            longest = spread(hub_longest(c) for c in here)
            out.append(f"Under {load}, no driver blocked the hub (longest stall {_fmt(longest.high)} ms).")
            continue
        blocking = [c for c in here if driver_of(c) in bad]
        stall = spread(hub_longest(c) for c in blocking)
        held = all((known(getattr(r, "hub", UNSET)) or {}).get("ticks") == 0 for c in blocking for r in c.records
                   if blocks_hub(r))
        how = ("one greenlet held the loop for the whole measured window (the ticker never woke in it)" if held
               else f"the loop stalled up to {_fmt(stall.high)} ms at a time (the machine's share taken off)")
        text = (f"Under {load}, {join_words(bad)} {'blocks' if len(bad) == 1 else 'block'} the hub: every reply was "
                f"right, but {how}")
        if good:
            calm = spread(hub_longest(c) for c in here if driver_of(c) in good)
            text += f"; {join_words(good)} did not (longest stall {_fmt(calm.high)} ms)"
        out.append(text + ".")
    return out


def hub_longest(cell: Cell) -> float | None:
    """The cell's longest stall of its event loop, ms (median over repeats)."""
    return cell.of(lambda r: (known(getattr(r, "hub", UNSET)) or {}).get("longest_stall_ms")).median


def _fastest_sentences(found: Sequence[Cell]) -> list[str]:
    """Per load and strategy: the fastest driver that neither failed nor blocked the hub, against PyMySQL."""
    out = []
    groups: dict[tuple[Any, ...], list[Cell]] = {}
    for c in found:
        groups.setdefault((c.first.kind, c.first.load, c.first.strategy, c.first.concurrency), []).append(c)
    for (kind, load, strategy, workers), members in groups.items():
        clean = [c for c in members if outcome_name(c) == "ok" and (c.of(correct_per_s).median or 0) > 0]
        if not clean:
            continue
        best = max(clean, key=lambda c: c.of(correct_per_s).median or 0.0)
        rate = best.of(correct_per_s).median or 0.0
        cpu = _of(best, "client_cpu_us_per_op").median
        text = (f"Under {load}, {strategy} at {workers} workers{'' if kind == 'db' else ' (request scenario)'}: "
                f"{driver_of(best)} is the fastest driver that neither failed nor blocked the hub, {rate:,.0f} "
                f"correct ops/s, {_fmt(cpu)} µs of client CPU per operation")
        base = next((c for c in clean if driver_of(c) == "pymysql" and c is not best), None)
        if base is not None:
            ratio = rate / (base.of(correct_per_s).median or rate)
            text += (f" (PyMySQL: {base.of(correct_per_s).median or 0:,.0f} ops/s, "
                     f"{_fmt(_of(base, 'client_cpu_us_per_op').median)} µs; {ratio:.2g}x)")
        out.append(text + ".")
    return out


def driver_findings(records: Sequence[Record]) -> list[str]:
    """Sentences: which drivers block the hub where, the fastest clean driver per load and strategy, and what one
    connect costs each.  [] without cells run over a named driver."""
    found = _measured(driver_cells(records))
    if not found:
        return []
    out = _blocking_sentences(found) + _fastest_sentences(found)
    costs = {d: spread(connect_ms(c) for c in found if driver_of(c) == d).median
             for d in ordered((driver_of(c) for c in found), DRIVER_ORDER)}
    said = [f"{d} {_fmt(v)} ms" for d, v in costs.items() if v is not None]
    if said:
        out.append("One connect + close (median): " + ", ".join(said) + ".")
    return out


__all__ = ["BLOCKS_HUB", "DRIVERS_HEADER", "DRIVERS_TITLE", "DRIVER_ORDER", "driver_cells", "driver_findings",
           "driver_rows", "hub_longest", "verdict"]
