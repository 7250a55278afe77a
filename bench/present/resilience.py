"""Resilience: each strategy under each network fault -- a verdict, detection, stuck operations, recovery, wrong
results -- and one sentence per fault saying who failed fast and who waited, read from ``fault`` records only.

The network faults are :data:`~bench.records.kinds.NETWORK_FAULTS` (``ctxbench faults``; the fields are documented in
:mod:`bench.faults.netjudge`).  :func:`verdict` words one record; :func:`resilience_rows` is the table the terminal,
the HTML page and REPORT.md show; :func:`resilience_findings` the sentences above it; :func:`path_findings` compares
a partition done by the proxy with one done by taking a link down, strategy by strategy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bench.records.kinds import NETWORK_FAULTS, FaultRecord, Record, known

#: What "failed" is called under each fault: a partition is detected by failing, a spike by timing out.
_FAILED = {"partition": "fails fast", "reset": "errors", "idle-timeout": "errors after idle",
           "latency-spike": "times out"}
#: How the table names the two ways a partition is done.
PATH_NAMES = {"proxy": "proxy", "netns": "link down"}
HEADER = ["fault", "strategy", "load", "verdict", "detection", "stuck (longest wait)", "recovery", "errors (codes)",
          "wrong", "leaked"]


def network_records(records: Iterable[Record]) -> list[FaultRecord]:
    """The ``fault`` records of the network scenarios, in the order given."""
    return [r for r in records if isinstance(r, FaultRecord) and r.scenario in NETWORK_FAULTS]


def verdict(rec: FaultRecord) -> str:
    """``hung``, ``wrong results``, or how the strategy failed and whether it recovered: the words the table, the
    sentences and the two partition paths are compared by.

    How it failed: errors, the first within ``stuck_bound_s`` of the fault (``fails fast`` under a partition,
    ``errors`` after a reset ...); errors, the first later (``fails slowly``); no error but operations that waited past
    the bound (``stalls``); ``no errors``.  Operations stuck behind others (a pool's lock) show in the table's stuck
    count, not in the verdict: the first failure is what tells an application the network is gone.
    """
    if known(rec.fault_not_injected):
        return "not injected"
    if rec.outcome == "hung":
        return "hung"
    if rec.wrong_results:
        return "wrong results"
    if "cell-crashed" in (rec.errors or {}):
        return "cell crashed"
    detection, bound = known(rec.time_to_first_error_s), known(rec.stuck_bound_s)
    if rec.error_count:
        late = detection is None or (bound is not None and detection > bound)
        how = "fails slowly" if late else _FAILED.get(rec.scenario, "errors")
    elif rec.stuck_ops:
        how = "stalls"
    else:
        how = "no errors"
    recovered = known(rec.recovered)
    return how if recovered is None else f"{how}, {'recovers' if recovered else 'no recovery'}"


def _seconds(value: Any) -> str:
    value = known(value)
    return "-" if value is None else f"{value:.3g} s"


def _errors(rec: FaultRecord) -> str:
    """``12 (2013: 10, 2003: 2)``: the count and the error numbers within."""
    total = rec.error_count or 0
    if not total:
        return "0"
    codes: dict[str, int] = {}
    for key, n in (rec.error_codes or {}).items():
        code = key.rsplit(":", 1)[-1]
        codes[code] = codes.get(code, 0) + n
    within = ", ".join(f"{code}: {n}" for code, n in sorted(codes.items(), key=lambda item: -item[1]))
    return f"{total} ({within})" if within else str(total)


def _recovery(rec: FaultRecord) -> str:
    """From the heal to the first right reply (idle-timeout: from a burst's start, the longest), and to the first after
    the last error when that came later; NO when the errors went on."""
    if rec.outcome == "hung":
        return "not observed"
    recovered = known(rec.recovered)
    if recovered is False:
        return "NO"
    if recovered is None:
        return "-"
    first, settled = known(rec.first_ok_after_heal_s), known(rec.recovery_s)
    if first is not None and settled is not None and settled > first + 0.05:
        return f"{first:g} s (last error {settled:g} s)"
    return _seconds(first)


def _stuck(rec: FaultRecord) -> str:
    stuck, longest = known(rec.stuck_ops), known(rec.longest_wait_s)
    if stuck is None:
        return "-"
    return f"{stuck} ({longest:g} s)" if longest is not None else str(stuck)


def _path(rec: FaultRecord) -> str:
    return known(rec.path) or "proxy"


def resilience_rows(records: Sequence[Record]) -> tuple[list[str], list[list[str]]]:
    """One row per network fault x strategy x load, faults in order; a fault done both ways (the proxy, a link
    down) has the two rows of a strategy side by side, each marked with its path."""
    recs = network_records(records)
    rows = []
    for fault in NETWORK_FAULTS:
        of_fault = [r for r in recs if r.scenario == fault]
        both = len({_path(r) for r in of_fault}) > 1
        first = {name: k for k, name in reversed(list(enumerate(r.strategy for r in of_fault)))}
        for rec in sorted(of_fault, key=lambda r: (first[r.strategy], r.load, _path(r) != "proxy")):
            where = f" ({PATH_NAMES[_path(rec)]})" if both else ""
            rows.append([fault, rec.strategy + where, rec.load, verdict(rec), _seconds(rec.time_to_first_error_s),
                         _stuck(rec), _recovery(rec), _errors(rec), str(known(rec.wrong_results)),
                         "-" if known(rec.leaked_connections) is None else str(rec.leaked_connections)])
    return list(HEADER), rows


def _names(recs: Sequence[FaultRecord]) -> str:
    names = list(dict.fromkeys(r.strategy + ("" if len({x.load for x in recs}) == 1 else f" ({r.load})")
                               for r in recs))
    if len(names) < 3:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _span(values: Iterable[Any], unit: str = " s") -> str:
    got = sorted(float(v) for v in values if known(v) is not None)
    if not got:
        return "-"
    low, high = f"{got[0]:.3g}", f"{got[-1]:.3g}"
    return f"{low}{unit}" if low == high else f"{low}-{high}{unit}"


def _has_timeout(rec: FaultRecord) -> bool:
    """Whether the strategy's recorded settings bound a wait (a setting named ``*timeout*`` with a value)."""
    settings = (rec.cell or {}).get("settings") or {}
    return any("timeout" in key and value for key, value in settings.items())


def _partition(recs: Sequence[FaultRecord]) -> str:
    fast = [r for r in recs if verdict(r).startswith("fails fast")]
    hung = [r for r in recs if verdict(r) == "hung"]
    stalls = [r for r in recs if verdict(r).startswith(("stalls", "fails slowly"))]
    length = _span(r.partition_s for r in recs)
    parts = [f"Under a {length} partition only {_names(fast)} failed fast (first error "
             f"{_span(r.time_to_first_error_s for r in fast)} after the fault)" if fast
             else f"Under a {length} partition no strategy failed fast"]
    if hung:
        parts.append(f"{_names(hung)} hung (every worker waiting, ended by the {_span(r.hang_bound_s for r in hung)}"
                     " watchdog)")
    if stalls:
        parts.append(f"{_names(stalls)} stalled (no error within {_span(r.stuck_bound_s for r in stalls)}, "
                     "operations waiting longer)")
    waited = [*hung, *stalls]
    if fast and waited and all(_has_timeout(r) for r in fast):
        bounded = [r for r in waited if _has_timeout(r)]
        parts.append("every strategy that failed fast sets a read timeout" + (
            f"; a timeout alone was not enough for {_names(bounded)}" if bounded else
            " and none that waited does: set read_timeout"))
    return "; ".join(parts) + "."


def _outcomes(recs: Sequence[FaultRecord], failed: str) -> list[str]:
    """``X and Y <failed> (first error ...)``, ``Z had no error``, ``W never recovered``: the parts of a sentence."""
    erred = [r for r in recs if r.error_count and known(r.recovered) is not False and r.outcome != "hung"]
    clean = [r for r in recs if not r.error_count and not r.stuck_ops and r.outcome != "hung"]
    lost = [r for r in recs if known(r.recovered) is False]
    other = [r for r in recs if r.outcome == "hung" or (r.stuck_ops and not r.error_count)]
    parts = []
    if erred:
        counts = _span((r.error_count for r in erred), "")
        parts.append(f"{_names(erred)} {failed} ({counts} errors) and recovered")
    if clean:
        parts.append(f"{_names(clean)} had no error")
    if lost:
        parts.append(f"{_names(lost)} never recovered")
    if other:
        parts.append(f"{_names(other)} {'hung' if all(r.outcome == 'hung' for r in other) else 'stalled'}")
    return parts


def _sentence(fault: str, recs: Sequence[FaultRecord]) -> str:
    if fault == "partition":
        return _partition(recs)
    if fault == "reset":
        head = "After every connection was reset at once"
        parts = _outcomes(recs, "surfaced errors")
    elif fault == "idle-timeout":
        head = (f"After idle gaps of {_span(g[1] for r in recs for g in (r.idle_gaps or []))} with wait_timeout "
                f"{_span(r.wait_timeout_s for r in recs)}")
        parts = _outcomes(recs, "failed on the first use after a gap")
    else:
        during = [r.ops_per_s_during / r.ops_per_s_before for r in recs if r.ops_per_s_during is not None
                  and r.ops_per_s_before]
        head = (f"With {_span((r.spike_rtt_ms for r in recs), ' ms')} added to every round trip for "
                f"{_span(r.spike_s for r in recs)} (right replies/s during it: "
                f"{_span((round(100 * d) for d in during), '%')} of before)")
        parts = _outcomes(recs, "timed out")
    return f"{head}: {'; '.join(parts)}."


def resilience_findings(records: Sequence[Record]) -> list[str]:
    """One sentence per network fault measured, then one per wrong result or leaked connection."""
    recs = network_records(records)
    lines = []
    for fault in NETWORK_FAULTS:
        of_fault = [r for r in recs if r.scenario == fault and _path(r) == "proxy"]
        if of_fault:
            lines.append(_sentence(fault, of_fault))
    for rec in recs:
        if rec.wrong_results:
            lines.append(f"WRONG RESULTS: {rec.strategy} {rec.load} under {rec.scenario}: {rec.wrong_results}.")
        if rec.leaked_connections:
            lines.append(f"{rec.strategy} {rec.load} under {rec.scenario} left {rec.leaked_connections} connection(s) "
                         "on the server.")
    return [*lines, *path_findings(recs)]


def partition_answer(rec: FaultRecord) -> str:
    """What a partition asks of a strategy, in two words: ``fails fast`` (its first failure within the bound) or
    ``waits`` (hung, failing only later, or stalled); any other verdict as it is."""
    word = verdict(rec)
    if word.startswith("fails fast"):
        return "fails fast"
    return "waits" if word == "hung" or word.startswith(("fails slowly", "stalls")) else word


def path_agreement(records: Sequence[Record]) -> Mapping[tuple[str, str], tuple[FaultRecord, FaultRecord]]:
    """(strategy, load) -> (its partition through the proxy, with the link down), for partitions done both ways."""
    by: dict[tuple[str, str], dict[str, FaultRecord]] = {}
    for rec in network_records(records):
        if rec.scenario == "partition":
            by.setdefault((rec.strategy, rec.load), {})[_path(rec)] = rec
    return {key: (got["proxy"], got["netns"]) for key, got in by.items() if {"proxy", "netns"} <= set(got)}


def path_findings(records: Sequence[Record]) -> list[str]:
    """One sentence: whether the proxy's partition and a real one (a link taken down) gave each strategy the same
    answer -- fails fast or waits -- and where the verdicts in full differ."""
    pairs = path_agreement(records)
    if not pairs:
        return []
    same = [name for (name, _load), (a, b) in pairs.items() if partition_answer(a) == partition_answer(b)]
    differ = [f"{name} (proxy: {verdict(a)}; link down: {verdict(b)})" for (name, _load), (a, b) in pairs.items()
              if partition_answer(a) != partition_answer(b)]
    detail = [f"{name} (proxy: {verdict(a)}; link down: {verdict(b)})" for (name, _load), (a, b) in pairs.items()
              if name in same and verdict(a) != verdict(b)]
    text = (f"A partition through the proxy and a link taken down gave the same answer (fails fast or waits) for "
            f"{len(same)} of {len(pairs)} strategies")
    text += f"; they differ for {', '.join(differ)}" if differ else f" ({_names_of(same)})"
    if detail:
        text += f"; the verdicts in full differ for {', '.join(detail)}"
    return [text + "."]


def _names_of(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
