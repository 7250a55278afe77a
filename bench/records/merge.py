"""One record from the records of a cell's several processes (``--processes``): pure, records in, record out.

Each process of a several-process cell ran ``concurrency`` workers over the same measured window (one common start:
:mod:`bench.cell.db.start`), so its counts add up: ops, ops/s, errors by label, wrong results, silent wrong
replies, Local violations, client statements and client CPU are sums.  Connections are the distinct server ids
over every process (each reports its ``connection_ids``); latency is the merge of the processes' HDR histograms,
and the percentiles are read from that merge, never averaged.  The outcome is the worst of the processes'; a
process that hung or crashed is named in ``reason`` by its index and pid.  ``per_process`` keeps each one's own
figures.  What only the parent knows (the server's counters, its CPU, the ceiling, the leak check) is added by
the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.records import latency

#: Outcomes from best to worst; the merged record takes the worst of its processes'.
OUTCOME_ORDER = ("ok", "errors", "skipped", "hung")
#: Fields every process has alike (the cell's coordinates and settings): taken from the first.
SHARED = ("kind", "impl", "strategy", "load", "concurrency", "duration_s", "warmup_s", "ops_requested", "mix",
          "settings", "server_url", "target_source", "connect_options", "hang_after_s", "server_pid")
#: Counts that add up over processes (None when any process lacks them: a hung or crashed process).
SUMMED = ("ops", "ops_total", "ops_per_s", "error_count", "wrong_results", "silent_wrong", "local_violations",
          "client_statements", "client_cpu_s", "storage_growths", "ready_barrier_timeouts")
#: Counts by label that add up label by label.
BY_LABEL = ("errors", "error_codes", "wrong_detail", "connection_id_samples")
#: What each entry of ``per_process`` holds.
PER_PROCESS = ("ops", "ops_per_s", "error_count", "silent_wrong", "wrong_results", "local_violations",
               "client_statements", "latency_ms", "outcome", "window")


def _index(rec: Mapping[str, Any]) -> int:
    return int(rec.get("process_index", 0))


def _sum(records: Sequence[Mapping[str, Any]], name: str) -> int | float | None:
    values = [rec.get(name) for rec in records]
    if not values or any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in values):
        return None
    total = sum(values)  # type: ignore[arg-type]
    return round(total, 4) if isinstance(total, float) else total


def _by_label(records: Sequence[Mapping[str, Any]], name: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for rec in records:
        for label, count in (rec.get(name) or {}).items():
            out[label] = out.get(label, 0) + int(count)
    return dict(sorted(out.items()))


def _outcome(records: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
    """The worst outcome, and the reasons of the processes that had one (``process i (pid N): ...``)."""
    ranks = [OUTCOME_ORDER.index(r.get("outcome")) if r.get("outcome") in OUTCOME_ORDER else 1 for r in records]
    worst = OUTCOME_ORDER[max(ranks)]
    reasons = [f"process {_index(r)} (pid {r.get('pid')}) {r.get('outcome')}: {process_reason(r)}"
               for r in records if r.get("reason") or r.get("outcome") == "hung"]
    return worst, "; ".join(reasons) or None


def process_reason(rec: Mapping[str, Any]) -> str:
    """A process's own reason, or for a hung one without any, the phase it hung in."""
    return str(rec.get("reason") or f"no progress for {rec.get('hang_after_s')}s in phase {rec.get('hung_phase')}")


def _latency(records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The merged histogram and the percentiles read from it (None when a process has none)."""
    fields = [rec.get(latency.FIELD) for rec in records]
    if not fields or any(not f for f in fields):
        return None, None
    merged = latency.merge(fields)  # type: ignore[arg-type]
    summary = {k: v for k, v in latency.field_summary_ms(merged).items() if k != "count"}
    return merged, summary


def _connections(records: Sequence[Mapping[str, Any]]) -> int | None:
    """Distinct server connection ids over every process (None when a process did not report its ids)."""
    if any(not isinstance(rec.get("connection_ids"), list) for rec in records):
        return None
    ids: set[int] = set()
    for rec in records:
        ids.update(int(i) for i in rec["connection_ids"])
    return len(ids)


def _strategy_facts(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The first process's facts, with every count summed over processes (reconnects, reopened connections)."""
    facts = dict(records[0].get("strategy_facts") or {})
    for key, value in facts.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            facts[key] = sum((r.get("strategy_facts") or {}).get(key, 0) for r in records)
    return facts


def _timing(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The shared window, whether every process had it, and the wait for the slowest."""
    windows = [rec.get("window") for rec in records]
    syncs = [rec.get("start_sync") or {} for rec in records]
    waits = [s.get("waited_s") for s in syncs if isinstance(s.get("waited_s"), (int, float))]
    measured = [rec.get("measured_s") for rec in records if isinstance(rec.get("measured_s"), (int, float))]
    waits_pool = [(rec.get("pool_wait_ms") or {}) for rec in records]
    totals = [w.get("total") for w in waits_pool if isinstance(w.get("total"), (int, float))]
    maxima = [w.get("max") for w in waits_pool if isinstance(w.get("max"), (int, float))]
    return {
        "window": windows[0],
        "windows_equal": all(w is not None and w == windows[0] for w in windows),
        "start_sync": {"ok": all(s.get("ok") is True for s in syncs), "waited_s_max": max(waits) if waits else None},
        "measured_s": max(measured) if measured else None,
        "pool_wait_ms": {"total": round(sum(totals), 3) if totals else None, "max": max(maxima) if maxima else None},
    }


def _per_process(rec: Mapping[str, Any]) -> dict[str, Any]:
    """One process's own figures, as ``per_process`` lists them."""
    return {"index": _index(rec), "pid": rec.get("pid"), **{k: rec.get(k) for k in PER_PROCESS},
            "cpu_s": rec.get("client_cpu_s"), "latency_count": (rec.get(latency.FIELD) or {}).get("count")}


def merge_processes(records: Sequence[Mapping[str, Any]], processes: int) -> dict[str, Any]:
    """The record of a cell of ``processes`` processes from each one's record (one per process, any order).

    A process that left no record is passed as a stub with its ``process_index``, ``pid``, ``outcome`` and
    ``reason``.  The caller adds the server's fields (counters, CPU, ceiling, leak check).
    """
    if not records:
        raise ValueError("no process records to merge")
    ordered = sorted(records, key=_index)
    first = next((r for r in ordered if r.get("strategy")), ordered[0])
    rec: dict[str, Any] = {key: first[key] for key in SHARED if key in first}
    concurrency = int(first.get("concurrency") or 0)
    rec.update({"processes": processes, "concurrency": concurrency, "total_concurrency": processes * concurrency})
    rec.update({name: _sum(ordered, name) for name in SUMMED})
    rec.update({name: _by_label(ordered, name) for name in BY_LABEL})
    samples: dict[str, str] = {}
    for r in ordered:
        for label, text in (r.get("error_samples") or {}).items():
            samples.setdefault(label, text)
    rec["error_samples"] = samples
    rec["connections_used"] = _connections(ordered)
    rec[latency.FIELD], rec["latency_ms"] = _latency(ordered)
    rec["strategy_facts"] = _strategy_facts(ordered)
    rec.update(_timing(ordered))
    ops_total, cpu = rec.get("ops_total"), rec.get("client_cpu_s")
    rec["client_cpu_us_per_op"] = round(cpu / ops_total * 1e6, 2) if cpu is not None and ops_total else None
    rec["outcome"], reason = _outcome(ordered)
    if reason:
        rec["reason"] = reason
    rec["per_process"] = [_per_process(r) for r in ordered]
    return rec
