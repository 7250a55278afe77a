"""Key findings: plain sentences computed from the records, never typed in.

:func:`findings` returns every sentence in report order -- silent wrong replies first, then isolation and cost of
the Locals, the connection strategies, the request scenario, the real stack and the model check;
:func:`sectioned` the same sentences by section of the report (:data:`SECTIONS`).  Each sentence names what it
counts and where (load, concurrency); a kind of record that is absent gives no sentence.  Counts are exact
(:func:`bench.present.spread.share`).  The database and request sentences live in :mod:`bench.present.dbfindings`.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.cell.probes import JUDGED, PROBES
from bench.present.common import (
    LOAD_ORDER,
    OP_ORDER,
    direct,
    impls_of,
    loads_of,
    of_kind,
    one_per_cell,
    ordered,
)
from bench.present.dbfindings import (
    db_findings,
    join_words,
    ratio_to_own,
    request_findings,
    silent_findings,
)
from bench.present.spread import cells, share
from bench.records.kinds import MicroRecord, ProbeRecord, Record

ProbeCells = dict[tuple[str, str, str], ProbeRecord]


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


# --- the real stack


def stack_findings(records: Sequence[Record]) -> list[str]:
    """Sentences about the real stack: silent wrong replies first, then Locals that leaked, per server."""
    stack = [r for r in of_kind(records, "stack") if r.outcome not in ("skipped", "error")]
    out: list[str] = []
    for cell in cells(stack):  # a cell measured several times: its repeats added up, n said
        r = cell.first
        requests, silent = cell.total(lambda x: x.requests), cell.total(lambda x: x.silent_wrong)
        if silent and requests:
            errors = sum(int(v) for x in cell.records for v in (x.http_errors or {}).values())  # type: ignore[union-attr]
            repeats = f" over {cell.n} repeats" if cell.n > 1 else ""
            out.append(f"Under {r.server} with {r.impl} x {r.strategy}, {share(silent, requests)} requests{repeats} "  # type: ignore[union-attr]
                       "were answered 200 with another request's row; "
                       f"{errors:,} got an HTTP error.")
    leaks: dict[str, list[str]] = {}
    for r in stack:
        if r.wrong_local:
            leaks.setdefault(r.impl, []).append(r.server)
    for impl, servers in leaks.items():
        out.append(f"With the request token on {impl}, replies carried another request's token under "
                   f"{join_words(list(dict.fromkeys(servers)))}.")
    hung = list(dict.fromkeys(f"{r.server} ({r.impl} x {r.strategy})" for r in stack if r.outcome == "hung"))
    if hung:
        out.append(f"The real server hung under {join_words(hung)}.")
    return out


#: The report's sections of findings, in order: (id, title).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("locals", "Locals: isolation and cost"), ("database", "Database: connection strategies"),
    ("requests", "Request scenario: a request context on a Local beside a strategy"),
    ("stack", "The real stack"), ("model", "Does the model predict the real stack?"),
    ("network", "Network: throughput against the round trip to the database"),
    ("resilience", "Resilience: the network failing under each strategy"),
    ("drivers", "MySQL drivers: speed, CPU, connect cost, and which block the event loop"),
)


def sectioned(records: Sequence[Record]) -> dict[str, list[str]]:
    """Every key finding by section (:data:`SECTIONS`), silent wrong replies first in their sections."""
    from bench.present.drivers import driver_findings
    from bench.present.model import model_findings
    from bench.present.network import network_findings
    from bench.present.resilience import resilience_findings

    network, resilience = network_findings(records), resilience_findings(records)
    drivers = driver_findings(records)
    records = one_per_cell(direct(records))  # a cell also run as several processes: read from its one-process record
    silent = silent_findings(records)
    of_requests = [f for f in silent if f.startswith("In the request scenario")]
    return {"locals": locals_findings(records), "database": [*(f for f in silent if f not in of_requests),
                                                             *db_findings(records)],
            "requests": [*of_requests, *request_findings(records)],
            "stack": stack_findings(records), "model": model_findings(records), "network": network,
            "resilience": resilience, "drivers": drivers}


def findings(records: Sequence[Record]) -> list[str]:
    """Every key finding, in report order: silent wrong results first, then locals, database, request scenario,
    the real stack and the model check."""
    parts = sectioned(records)
    silent = silent_findings(one_per_cell(direct(records)))
    rest = [f for key, _title in SECTIONS for f in parts[key] if f not in silent]
    return [*silent, *rest]


__all__ = ["SECTIONS", "db_findings", "findings", "join_words", "locals_findings", "ratio_to_own", "request_findings",
           "sectioned", "silent_findings", "stack_findings"]
