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

from collections.abc import Sequence
from typing import Any

from bench.records import latency
from bench.records.kinds import UNSET, DbRecord, RequestRecord

Workload = DbRecord | RequestRecord


def _get(rec: Workload, name: str) -> Any:
    """Field ``name`` of ``rec``; None when absent (the merge reads fields by the names listed above)."""
    value = getattr(rec, name, None)
    return None if value is UNSET else value

#: Outcomes from best to worst; the merged record takes the worst of its processes'.
OUTCOME_ORDER = ("ok", "errors", "skipped", "hung")
#: Fields every process has alike (the cell's coordinates and settings): taken from the first.
SHARED = ("kind", "impl", "strategy", "load", "concurrency", "duration_s", "warmup_s", "ops_requested", "mix",
          "settings", "server_url", "target_source", "connect_options", "hang_after_s", "server_pid", "idle_gaps",
          "active_s", "driver", "driver_version", "driver_facts", "connect_close_ms")
#: Counts that add up over processes (None when any process lacks them: a hung or crashed process).
SUMMED = ("ops", "ops_total", "ops_per_s", "error_count", "wrong_results", "silent_wrong", "local_violations",
          "client_statements", "client_cpu_s", "storage_growths", "ready_barrier_timeouts")
#: Counts by label that add up label by label.
BY_LABEL = ("errors", "error_codes", "wrong_detail", "connection_id_samples")
#: What each entry of ``per_process`` holds.
PER_PROCESS = ("ops", "ops_per_s", "error_count", "silent_wrong", "wrong_results", "local_violations",
               "client_statements", "latency_ms", "outcome", "window", "blocks_hub")


def _index(rec: Workload) -> int:
    return int(_get(rec, "process_index") or 0)


def _sum(records: Sequence[Workload], name: str) -> int | float | None:
    values = [_get(rec, name) for rec in records]
    if not values or any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in values):
        return None
    total = sum(values)  # type: ignore[arg-type]
    return round(total, 4) if isinstance(total, float) else total


def _by_label(records: Sequence[Workload], name: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for rec in records:
        for label, count in (_get(rec, name) or {}).items():
            out[label] = out.get(label, 0) + int(count)
    return dict(sorted(out.items()))


def _outcome(records: Sequence[Workload]) -> tuple[str, str | None]:
    """The worst outcome, and the reasons of the processes that had one (``process i (pid N): ...``)."""
    ranks = [OUTCOME_ORDER.index(_get(r, "outcome")) if _get(r, "outcome") in OUTCOME_ORDER else 1 for r in records]
    worst = OUTCOME_ORDER[max(ranks)]
    reasons = [f"process {_index(r)} (pid {_get(r, 'pid')}) {r.outcome}: {process_reason(r)}"
               for r in records if _get(r, "reason") or _get(r, "outcome") == "hung"]
    return worst, "; ".join(reasons) or None


def process_reason(rec: Workload) -> str:
    """A process's own reason, or for a hung one without any, the phase it hung in."""
    hung = f"no progress for {_get(rec, 'hang_after_s')}s in phase {_get(rec, 'hung_phase')}"
    return str(_get(rec, "reason") or hung)


def _latency(records: Sequence[Workload]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The merged histogram and the percentiles read from it (None when a process has none)."""
    fields = [_get(rec, latency.FIELD) for rec in records]
    if not fields or any(not f for f in fields):
        return None, None
    merged = latency.merge(fields)  # type: ignore[arg-type]
    summary = {k: v for k, v in latency.field_summary_ms(merged).items() if k != "count"}
    return merged, summary


def _connections(records: Sequence[Workload]) -> int | None:
    """Distinct server connection ids over every process (None when a process did not report its ids)."""
    if any(not isinstance(_get(rec, "connection_ids"), list) for rec in records):
        return None
    ids: set[int] = set()
    for rec in records:
        ids.update(int(i) for i in _get(rec, "connection_ids"))
    return len(ids)


def _strategy_facts(records: Sequence[Workload]) -> dict[str, Any]:
    """The first process's facts, with every count summed over processes (reconnects, reopened connections)."""
    facts = dict(_get(records[0], "strategy_facts") or {})
    for key, value in facts.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            facts[key] = sum((_get(r, "strategy_facts") or {}).get(key, 0) for r in records)
    return facts


def _timing(records: Sequence[Workload]) -> dict[str, Any]:
    """The shared window, whether every process had it, and the wait for the slowest."""
    windows = [_get(rec, "window") for rec in records]
    syncs = [_get(rec, "start_sync") or {} for rec in records]
    waits = [s.get("waited_s") for s in syncs if isinstance(s.get("waited_s"), (int, float))]
    measured = [_get(rec, "measured_s") for rec in records if isinstance(_get(rec, "measured_s"), (int, float))]
    waits_pool = [(_get(rec, "pool_wait_ms") or {}) for rec in records]
    totals = [w.get("total") for w in waits_pool if isinstance(w.get("total"), (int, float))]
    maxima = [w.get("max") for w in waits_pool if isinstance(w.get("max"), (int, float))]
    return {
        "window": windows[0],
        "windows_equal": all(w is not None and w == windows[0] for w in windows),
        "start_sync": {"ok": all(s.get("ok") is True for s in syncs), "waited_s_max": max(waits) if waits else None},
        "measured_s": max(measured) if measured else None,
        "pool_wait_ms": {"total": round(sum(totals), 3) if totals else None, "max": max(maxima) if maxima else None},
    }


def _hub(records: Sequence[Workload]) -> dict[str, Any]:
    """The event loop's verdict over the processes (each has its own loop): the hub figures of the one that stalled
    longest, and whether any stalled past the bound; nothing when none ran a ticker."""
    hubs = [(_get(rec, "hub"), _get(rec, "blocks_hub")) for rec in records if isinstance(_get(rec, "hub"), dict)]
    if not hubs:
        return {}
    worst = max(hubs, key=lambda pair: float(pair[0].get("longest_stall_ms") or 0.0))[0]
    return {"hub": dict(worst), "blocks_hub": any(bool(blocks) for _, blocks in hubs)}


def _classes(records: Sequence[Workload]) -> dict[str, Any]:
    """The driver's class behind each error count, first seen over the processes (driver cells only)."""
    if all(_get(rec, "error_classes") is None for rec in records):
        return {}
    out: dict[str, str] = {}
    for rec in records:
        for key, name in (_get(rec, "error_classes") or {}).items():
            out.setdefault(key, name)
    return {"error_classes": dict(sorted(out.items()))}


def _per_process(rec: Workload) -> dict[str, Any]:
    """One process's own figures, as ``per_process`` lists them."""
    return {"index": _index(rec), "pid": _get(rec, "pid"), **{k: _get(rec, k) for k in PER_PROCESS},
            "cpu_s": _get(rec, "client_cpu_s"), "latency_count": (_get(rec, latency.FIELD) or {}).get("count")}


def merge_processes(records: Sequence[Workload], processes: int) -> Workload:
    """The record of a cell of ``processes`` processes from each one's record (one per process, any order).

    A process that left no record is passed as a stub record with its ``process_index``, ``pid``, ``outcome`` and
    ``reason``.  Fields are merged by the names listed above; the merged record is of the processes' type.
    The caller adds the server's fields (counters, CPU, ceiling, leak check).
    """
    if not records:
        raise ValueError("no process records to merge")
    ordered = sorted(records, key=_index)
    first = next((r for r in ordered if _get(r, "settings") is not None), ordered[0])  # a stub has no settings
    rec: dict[str, Any] = {key: getattr(first, key) for key in SHARED if key != "kind" and hasattr(first, key)}
    concurrency = int(_get(first, "concurrency") or 0)
    rec.update({"processes": processes, "concurrency": concurrency, "total_concurrency": processes * concurrency})
    rec.update({name: _sum(ordered, name) for name in SUMMED})
    rec.update({name: _by_label(ordered, name) for name in BY_LABEL})
    samples: dict[str, str] = {}
    for r in ordered:
        for label, text in (_get(r, "error_samples") or {}).items():
            samples.setdefault(label, text)
    rec["error_samples"] = samples
    rec["connections_used"] = _connections(ordered)
    rec[latency.FIELD], rec["latency_ms"] = _latency(ordered)
    rec["strategy_facts"] = _strategy_facts(ordered)
    rec.update(_timing(ordered))
    rec.update(_hub(ordered))
    rec.update(_classes(ordered))
    ops_total, cpu = rec.get("ops_total"), rec.get("client_cpu_s")  # ``rec`` is the dict being built
    rec["client_cpu_us_per_op"] = round(cpu / ops_total * 1e6, 2) if cpu is not None and ops_total else None
    rec["outcome"], reason = _outcome(ordered)
    if reason:
        rec["reason"] = reason
    rec["per_process"] = [_per_process(r) for r in ordered]
    return type(first)(**{k: v for k, v in rec.items() if v is not UNSET})
