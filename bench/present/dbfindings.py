"""Findings about the database: wrong results, errors and hangs per strategy, silent wrong replies, throughput, and
the request scenario -- plain sentences computed from db and request records (:mod:`bench.present.findings`).

Counts are exact (:func:`bench.present.spread.share`: never "0%" for 3 of 6,000 or "100%" for 537 of 538); a speed
is the median of a cell's repeats with its range and n (:mod:`bench.present.spread`), in correct operations/s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bench.present.common import (
    Workload,
    error_total,
    impls_of,
    is_bad,
    loads_of,
    of_kind,
    ordered,
    silent_wrong,
    strategies_of,
)
from bench.present.spread import cells, share
from bench.records.kinds import DbRecord, Record


def join_words(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _levels(values: Any) -> str:
    return join_words([str(v) for v in sorted(set(values))])


def _fmt_rate(v: Any) -> str:
    return f"{v:,.0f}" if isinstance(v, (int, float)) else "-"


def _rate(rec: DbRecord) -> float:
    """A db record's ops/s, 0 when it measured none."""
    return float(rec.ops_per_s) if isinstance(rec.ops_per_s, (int, float)) else 0.0


def percent(ratio: float) -> str:
    """A ratio of two speeds as a percentage with one decimal: ``89.8%`` (never rounded to 90%)."""
    return f"{ratio:.1%}"


# --- the connection strategies


def _by_strategy_load(recs: Sequence[Workload],
                      pick: Callable[[Workload], bool]) -> dict[str, dict[str, list[int]]]:
    found: dict[str, dict[str, list[int]]] = {}
    for r in recs:
        if pick(r):
            found.setdefault(r.strategy, {}).setdefault(r.load, []).append(r.concurrency)
    return found


def _where(per_load: dict[str, list[int]], loads: list[str]) -> str:
    return join_words([f"under {load} at concurrency {_levels(per_load[load])}" for load in loads if load in per_load])


_WRONG_WORDS = {"foreign": "from another worker", "stale": "stale (its own earlier reply)", "other": "unattributable"}


def _fault_findings(db: list[DbRecord], loads: list[str], strategies: list[str]) -> list[str]:
    """Wrong results, errors and hangs per strategy, and the strategies without any."""
    out: list[str] = []
    wrong = _by_strategy_load(db, lambda r: bool(r.wrong_results))
    for strategy in ordered(wrong, strategies):
        mine = [r for r in db if r.strategy == strategy and r.wrong_results]
        total = sum(int(r.wrong_results or 0) for r in mine)
        detail = {k: sum(int((r.wrong_detail or {}).get(k) or 0) for r in mine) for k in _WRONG_WORDS}
        split = ", ".join(f"{n:,} {_WRONG_WORDS[k]}" for k, n in detail.items() if n)
        out.append(f"{strategy} returned wrong results {_where(wrong[strategy], loads)} ({total:,} in all"
                   + (f": {split}" if split else "") + ").")
    errs = _by_strategy_load(db, lambda r: error_total(r) > 0)
    for strategy in ordered(errs, strategies):
        classes: dict[str, int] = {}
        for r in db:
            if r.strategy == strategy:
                for k, v in (r.errors or {}).items():
                    classes[k] = classes.get(k, 0) + int(v)
        top = sorted(classes.items(), key=lambda kv: -kv[1])[:3]
        listed = ", ".join(f"{k}: {v:,}" for k, v in top)
        out.append(f"{strategy} raised errors {_where(errs[strategy], loads)} ({listed}).")
    hung = _by_strategy_load(db, lambda r: r.outcome == "hung")
    for strategy in ordered(hung, strategies):
        out.append(f"{strategy} hung {_where(hung[strategy], loads)}.")
    clean = [s for s in strategies if all(not is_bad(r) for r in db if r.strategy == s)]
    if clean:
        out.append(f"{join_words(clean)} returned only each worker's own rows, with no error, in every cell measured.")
    return out


def _idle_findings(db: list[DbRecord], loads: list[str], strategies: list[str]) -> list[str]:
    """Clean cells that finished no operation in the window, with the slow first connections that explain it."""
    idle: dict[tuple[str, int], list[DbRecord]] = {}
    for r in db:
        if r.outcome == "ok" and r.ops_per_s == 0:
            idle.setdefault((r.load, r.concurrency), []).append(r)
    out: list[str] = []
    for (load, c), recs in sorted(idle.items(), key=lambda kv: (loads.index(kv[0][0]), kv[0][1])):
        names = ordered((r.strategy for r in recs), strategies)
        text = (f"Under {load} at {c} workers, {join_words(names)} finished no operation inside the measured window "
                f"and recorded no error")
        slowest = max(((r.first_checkout_ms or {}).get("max") or 0 for r in recs), default=0)
        budget = max((float(r.warmup_s or 0) + float(r.duration_s or 0) for r in recs), default=0)
        if slowest and budget and slowest / 1e3 > budget / 2:
            text += (f"; first connections took up to {slowest / 1e3:.1f} s "
                     f"against a warm-up plus window of {budget:.1f} s")
        out.append(text + ".")
    return out


def _speed_findings(db: list[DbRecord], loads: list[str]) -> list[str]:
    """The fastest correct strategy per load (median of its repeats, against the server's ceiling), and pooled-tuned
    against own-connection."""
    out: list[str] = []
    for load in loads:
        mine = [c for c in cells(db) if c.first.load == load and not any(is_bad(r) for r in c.records)  # type: ignore[arg-type]
                and (c.of(_rate).median or 0) > 0]
        if not mine:
            continue
        best = max(mine, key=lambda c: c.of(_rate).median or 0)
        rate = best.of(_rate)
        text = (f"Under {load} the highest throughput of a correct strategy is {best.first.strategy}'s "
                f"{rate.text()} correct ops/s at {best.first.concurrency} workers")
        ceiling = best.of(lambda r: r.server_ceiling_ops_per_s).median
        if ceiling:
            text += (f", {percent((rate.median or 0) / ceiling)} of the server's own ceiling there "
                     f"(mysqlslap: {_fmt_rate(ceiling)} queries/s)")
        out.append(text + ".")
    shares = ratio_to_own(db)
    for load in loads:
        ratios = [(row["concurrency"], row["ratio"]) for row in shares if row["load"] == load]
        if ratios:
            detail = ", ".join(f"{percent(ratio)} at {c} worker{'s' if c != 1 else ''}" for c, ratio in ratios)
            out.append(f"Under {load}, pooled-tuned reaches {detail} of own-connection's throughput.")
    return out


def ratio_to_own(records: Sequence[Record], strategy: str = "pooled-tuned",
                 reference: str = "own-connection") -> list[dict[str, Any]]:
    """``strategy``'s throughput over ``reference``'s at the same load and concurrency, sorted by load then
    concurrency; only pairs of db records that both ran clean and measured a rate."""
    by_key = {(r.strategy, r.load, r.concurrency): r for r in records
              if isinstance(r, DbRecord) and not is_bad(r) and r.ops_per_s}
    rows = []
    for (name, load, c), rec in by_key.items():
        ref = by_key.get((reference, load, c))
        if name == strategy and ref is not None:
            rows.append({"load": load, "concurrency": c, "strategy_ops_per_s": rec.ops_per_s,
                         "reference_ops_per_s": ref.ops_per_s, "ratio": _rate(rec) / _rate(ref)})
    return sorted(rows, key=lambda row: (row["load"], row["concurrency"]))


def db_findings(records: Sequence[Record]) -> list[str]:
    """Sentences about wrong results, errors, hangs, clean strategies and throughput, from db records."""
    db = [r for r in of_kind(records, "db") if r.outcome != "skipped"]
    if not db:
        return []
    loads = loads_of(db)
    strategies = strategies_of(db)
    return [*_fault_findings(db, loads, strategies), *_idle_findings(db, loads, strategies),
            *_speed_findings(db, loads)]


# --- silent wrong results: the number a user must see first


def _silent_sentence(label: str, recs: Sequence[Workload], loads: list[str]) -> str:
    """One sentence: how often ``recs`` (cells with silent wrong results) returned another operation's reply."""
    total = sum(silent_wrong(r) or 0 for r in recs)
    errors = sum(error_total(r) for r in recs)
    where = _where(_by_strategy_load(recs, lambda r: True).get(recs[0].strategy, {}), loads)
    ops = sum(int(r.ops_total or 0) for r in recs)
    count = f"in {share(total, ops)} of its operations" if ops else f"{total:,} times"
    compared = f"more often than it raised an error ({errors:,})" if total > errors else f"beside {errors:,} errors"
    return (f"{label} returned another operation's reply (another worker's or another request's) as its own, "
            f"without any error, {count} {where}; {compared}.")


def silent_findings(records: Sequence[Record]) -> list[str]:
    """Sentences about silent wrong results (another operation's reply returned as success), per strategy and kind."""
    out: list[str] = []
    kinds: tuple[tuple[Sequence[Workload], str], ...] = (
        (of_kind(records, "db"), "{s}"), (of_kind(records, "request"), "In the request scenario, {s}"))
    for of_this_kind, label in kinds:
        cells = [r for r in of_this_kind if r.outcome != "skipped"]
        silent = [r for r in cells if silent_wrong(r)]
        loads = loads_of(cells)
        for strategy in strategies_of(silent):
            mine = [r for r in silent if r.strategy == strategy]
            out.append(_silent_sentence(label.format(s=strategy), mine, loads))
    measured = [r for of_this_kind, _label in kinds for r in of_this_kind if r.outcome != "skipped"]
    if measured and not out:
        out.append("No strategy returned another operation's reply as success in any cell measured.")
    return out


# --- the request scenario


def request_findings(records: Sequence[Record]) -> list[str]:
    """Sentences about the request scenario: which Local leaked request context, under which load."""
    req = [r for r in of_kind(records, "request") if r.outcome != "skipped"]
    if not req:
        return []
    out: list[str] = []
    loads = loads_of(req)
    for impl in impls_of(req):
        mine = [r for r in req if r.impl == impl]
        leaked = [r for r in mine if r.local_violations]
        if leaked:
            parts = []
            for load in loads:
                at = [r for r in leaked if r.load == load]
                if at:
                    total = sum(int(r.local_violations or 0) for r in at)
                    of = len([r for r in mine if r.load == load])
                    parts.append(f"under {load} ({total:,} reads of another request's context, "
                                 f"with {len(at)} of {of} strategies)")
            out.append(f"With the request context on {impl}, requests saw another request's context "
                       f"{join_words(parts)}.")
    clean = [i for i in impls_of(req) if all(not r.local_violations for r in req if r.impl == i)]
    if clean:
        out.append(f"With the request context on {join_words(clean)}, no request saw another's context "
                   f"under {join_words(loads)}.")
    return out
