"""Key findings: plain sentences computed from the records, never typed in.

:func:`findings` returns every sentence in report order -- isolation and cost of the Locals, then the
connection strategies, then the request scenario.  Each sentence names what it counts and where
(load, concurrency); a kind of record that is absent gives no sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bench.cell.probes import JUDGED, PROBES
from bench.present.common import (
    LOAD_ORDER,
    OP_ORDER,
    Workload,
    error_total,
    impls_of,
    is_bad,
    loads_of,
    of_kind,
    one_per_cell,
    ordered,
    silent_wrong,
    strategies_of,
)
from bench.records.kinds import DbRecord, MicroRecord, ProbeRecord, Record

ProbeCells = dict[tuple[str, str, str], ProbeRecord]


def join_words(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _levels(values: Iterable[int]) -> str:
    return join_words([str(v) for v in sorted(set(values))])


def _fmt_rate(v: Any) -> str:
    return f"{v:,.0f}" if isinstance(v, (int, float)) else "-"


def _rate(rec: DbRecord) -> float:
    """A db record's ops/s, 0 when it measured none."""
    return float(rec.ops_per_s) if isinstance(rec.ops_per_s, (int, float)) else 0.0


def _verb(names: Sequence[str], one: str, many: str) -> str:
    return one if len(names) == 1 else many


# --- the Locals


def _load_findings(load: str, impls: list[str], judged: list[str], cells: ProbeCells) -> list[str]:
    """Which impls fail which judged probe under ``load``, which pass all, which could not be probed."""
    failing: dict[tuple[str, ...], list[str]] = {}
    broken: list[str] = []
    for impl in impls:
        recs = [cells.get((impl, load, p)) for p in judged]
        if any(r is not None and r.outcome != "ok" for r in recs):
            broken.append(impl)
        fails = tuple(p for p, r in zip(judged, recs, strict=True)
                      if r is not None and r.outcome == "ok" and r.violations)
        if fails:
            failing.setdefault(fails, []).append(impl)
    out: list[str] = []
    parts = [f"{join_words(names)} {_verb(names, 'fails', 'fail')} {join_words(list(fails))}"
             for fails, names in failing.items()]
    measured = [i for i in impls if any((i, load, p) in cells for p in judged)]
    if parts:
        text = f"Under {load}, " + "; ".join(parts) + "."
        clean = [i for i in measured if i not in broken and not any(i in names for names in failing.values())]
        if clean:
            text += f" {join_words(clean)} {_verb(clean, 'passes', 'pass')} every judged probe."
        out.append(text)
    elif measured:
        out.append(f"Under {load}, every impl measured passes every judged probe ({join_words(judged)}).")
    if broken:
        out.append(f"Under {load}, {join_words(broken)} could not be probed (error).")
    return out


def _passes(rec: ProbeRecord | None) -> bool:
    return rec is not None and rec.outcome == "ok" and not rec.violations


def _always_clean(impls: list[str], loads: list[str], judged: list[str], cells: ProbeCells) -> list[str]:
    """The impls that pass every judged probe under every load."""
    return [i for i in impls if all(_passes(cells.get((i, ld, p))) for ld in loads for p in judged)]


def _probe_findings(probes: list[ProbeRecord]) -> tuple[list[str], list[str]]:
    """Sentences about isolation and inheritance, and the impls that pass every judged probe under every load."""
    impls = impls_of(probes)
    loads = loads_of(probes)
    judged = [p for p in PROBES if p in JUDGED and any(r.probe == p for r in probes)]
    cells = {(r.impl, r.load, r.probe): r for r in probes}
    out = [line for load in loads for line in _load_findings(load, impls, judged, cells)]
    always = _always_clean(impls, loads, judged, cells)
    if always and len(loads) > 1:
        out.append(f"{join_words(always)} {_verb(always, 'passes', 'pass')} every judged probe under every load "
                   f"measured ({join_words(loads)}).")
    inherit: dict[str, list[str]] = {}
    for r in probes:
        if r.probe == "inheritance" and r.outcome == "ok":
            inherited = (r.details or {}).get("inherited")
            if inherited and inherited == r.checks:
                inherit.setdefault(r.load, []).append(r.impl)
    for load in ordered(inherit, LOAD_ORDER):
        names = ordered(inherit[load], impls)
        out.append(f"A child starts with its parent's value under {load} with {join_words(names)} "
                   "(reported, not judged).")
    return out, always


def _cost_findings(micro: list[MicroRecord], safe: set[str]) -> list[str]:
    """Sentences about the cost per op, and the cheapest read among the ``safe`` impls."""
    cells = {(r.impl, r.op): r for r in micro}
    ops = ordered((r.op for r in micro), OP_ORDER)
    out: list[str] = []
    ref = cells.get(("threading-local", "get"))
    floor = cells.get(("plain", "get"))
    if ref and floor:
        out.append(f"A threading.local read costs {ref.ns_median:.1f} ns, "
                   f"a plain attribute read {floor.ns_median:.1f} ns (the floor).")
    for impl in impls_of(micro):
        if impl in ("plain", "threading-local"):
            continue
        ratios = [(op, cells[(impl, op)].ratio_to_threading_local) for op in ops if (impl, op) in cells]
        ratios = [(op, r) for op, r in ratios if isinstance(r, (int, float))]
        if not ratios:
            continue
        read = dict(ratios).get("get")
        head = f"{impl} read is {read:.1f}x threading.local" if read is not None else f"{impl} costs"
        detail = ", ".join(f"{op} {r:.1f}x" for op, r in ratios)
        out.append(f"{head} ({detail}).")
    gets = [(cells[(i, "get")].ns_median, i) for i in safe if (i, "get") in cells]
    if gets:
        ns, best = min(gets)
        ratio = cells[(best, "get")].ratio_to_threading_local
        ratio_text = f", {ratio:.1f}x threading.local" if isinstance(ratio, (int, float)) else ""
        out.append(f"Of the impls that pass every judged probe under every load, the cheapest read is {best}'s "
                   f"({ns:.1f} ns{ratio_text}).")
    return out


def locals_findings(records: Sequence[Record]) -> list[str]:
    """Sentences about isolation (per load), inheritance and cost, from probe and micro records."""
    probes = of_kind(records, "probe")
    micro = of_kind(records, "micro")
    out: list[str] = []
    always: list[str] = []
    if probes:
        out, always = _probe_findings(probes)
    if micro:
        safe = set(always) if probes and len(loads_of(probes)) > 1 else set()
        out += _cost_findings(micro, safe)
    return out


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
    """The fastest correct strategy per load (against the server's ceiling), and pooled-tuned against own-connection."""
    out: list[str] = []
    for load in loads:
        rows = [r for r in db if r.load == load and not is_bad(r) and _rate(r) > 0]
        if not rows:
            continue
        best = max(rows, key=_rate)
        text = (f"Under {load} the highest throughput of a correct strategy is {best.strategy}'s "
                f"{_fmt_rate(best.ops_per_s)} ops/s at {best.concurrency} workers")
        ceiling = best.server_ceiling_ops_per_s
        if isinstance(ceiling, (int, float)) and ceiling > 0:
            text += (f", {_rate(best) / ceiling:.0%} of the server's own ceiling there "
                     f"(mysqlslap: {_fmt_rate(ceiling)} queries/s)")
        out.append(text + ".")
    shares = ratio_to_own(db)
    for load in loads:
        ratios = [(row["concurrency"], row["ratio"]) for row in shares if row["load"] == load]
        if ratios:
            detail = ", ".join(f"{ratio:.0%} at {c} worker{'s' if c != 1 else ''}" for c, ratio in ratios)
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
    share = f", {total / ops:.0%} of its operations there" if ops else ""
    compared = f"more often than it raised an error ({errors:,})" if total > errors else f"beside {errors:,} errors"
    return (f"{label} returned another operation's reply (another worker's or another request's) as its own, "
            f"without any error, {total:,} times {where}{share}; {compared}.")


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


# --- the real stack


def stack_findings(records: Sequence[Record]) -> list[str]:
    """Sentences about the real stack: silent wrong replies first, then Locals that leaked, per server."""
    stack = [r for r in of_kind(records, "stack") if r.outcome not in ("skipped", "error")]
    out: list[str] = []
    for r in stack:
        requests = r.requests or 0
        silent = int(r.silent_wrong or 0)
        if silent and requests:
            errors = sum(int(v) for v in (r.http_errors or {}).values())
            out.append(f"Under {r.server} with {r.impl} x {r.strategy}, {silent / requests:.0%} of requests "
                       f"({silent:,} of {requests:,}) were answered 200 with another request's row; "
                       f"{errors:,} got an HTTP error.")
    leaks: dict[str, list[str]] = {}
    for r in stack:
        if r.wrong_local:
            leaks.setdefault(r.impl, []).append(r.server)
    for impl, servers in leaks.items():
        out.append(f"With the request token on {impl}, replies carried another request's token under "
                   f"{join_words(list(dict.fromkeys(servers)))}.")
    hung = [f"{r.server} ({r.impl} x {r.strategy})" for r in stack if r.outcome == "hung"]
    if hung:
        out.append(f"The real server hung under {join_words(hung)}.")
    return out


def findings(records: Sequence[Record]) -> list[str]:
    """Every key finding, in report order: silent wrong results first, then locals, database, request scenario,
    the real stack and the model check."""
    from bench.present.model import model_findings

    records = one_per_cell(records)  # a cell also run as several processes is read from its one-process record
    return [*silent_findings(records), *locals_findings(records), *db_findings(records), *request_findings(records),
            *stack_findings(records), *model_findings(records)]
