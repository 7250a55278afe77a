"""What a cell's workers did, summarised: throughput and latency, correctness counts, the timeline.

Latency is done - before checkout (what a request sees), pool wait is in hand -
before checkout, both over operations that finished inside the window with the
right reply.  In ops mode the window starts at the warm-up's end and lasts
until the last operation.  A window with idle gaps counts its ops/s over its
active time (``active_s``: the window less the gaps).  Latency percentiles are read from the cell's HDR
histogram (``latency_hist``, :mod:`bench.records.latency`), which the record
carries so that cells of several processes can be merged exactly.
"""

from __future__ import annotations

from typing import Any

from bench.cell.db.state import TIMELINE_BUCKET, Run, WorkerState
from bench.cell.db.workload import FOREIGN, LOCAL, OTHER, STALE
from bench.records import latency as hdr


def _percentiles_ms(values: Any) -> dict[str, float | None]:
    import numpy as np

    if values.size == 0:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.percentile(values, [50, 90, 99]) * 1e3
    return {"p50": round(float(p50), 4), "p90": round(float(p90), 4), "p99": round(float(p99), 4),
            "max": round(float(values.max()) * 1e3, 4)}


def _live_rows(st: WorkerState) -> Any:
    """The complete stamp rows of a worker that has not finished (``stored`` is set when its loop ends): the
    leading rows whose done stamp is written (the array is zero-filled up front and filled in order)."""
    import numpy as np

    rows = np.frombuffer(st.buf, dtype=np.float64).reshape(-1, 3)
    return rows[: int(np.count_nonzero(rows[:, 2]))]


def _stamps(run: Run, live: bool = False) -> Any:
    """Every worker's stamps as one (n, 3) array: before checkout, in hand, done.

    ``live``: read while workers may still run (the watchdog firing): an unfinished worker's rows are read as far
    as they are complete.
    """
    import numpy as np

    parts = [_live_rows(st) if live and not done else
             np.frombuffer(st.buf, dtype=np.float64, count=st.stored).reshape(-1, 3)
             for st, done in zip(run.states, run.finished, strict=True) if st.stored or (live and not done)]
    return np.concatenate(parts) if parts else np.zeros((0, 3))


def summarise_timing(run: Run) -> dict[str, Any]:
    """Throughput, latency and pool wait over the operations that finished inside the window."""
    import numpy as np

    stamps = _stamps(run)
    start, end = run.window
    if run.ops_per_worker is None:
        inside = stamps[(stamps[:, 2] >= start) & (stamps[:, 2] < end)]
        span = end - start
    else:
        inside = stamps[stamps[:, 0] >= start]
        span = float(inside[:, 2].max() - inside[:, 0].min()) if len(inside) else 0.0
    # With idle gaps (duration mode only), ops/s is per second of the window outside them.
    active = run.active_s() if run.idle_gaps is not None else span
    latency = inside[:, 2] - inside[:, 0]
    hist = hdr.from_seconds(latency)
    wait = inside[:, 1] - inside[:, 0]
    firsts = np.array([st.first_checkout for st in run.states if st.first_checkout is not None])
    wait_summary: dict[str, Any] = {k: v for k, v in _percentiles_ms(wait).items() if k in ("p50", "p99", "max")}
    wait_summary["total"] = round(float(wait.sum()) * 1e3, 3)
    wait_summary["share_of_latency"] = round(float(wait.sum() / latency.sum()), 4) if latency.size else None
    return {
        "ops": len(inside),
        "measured_s": round(span, 4),
        "ops_per_s": round(len(inside) / active, 1) if active > 0 else None,
        **({"active_s": round(active, 4)} if run.idle_gaps is not None else {}),
        "latency_ms": {k: v for k, v in hdr.summary_ms(hist).items() if k != "count"},
        hdr.FIELD: hdr.encode(hist),
        "pool_wait_ms": wait_summary,
        "first_checkout_ms": {"p50": round(float(np.median(firsts)) * 1e3, 3) if firsts.size else None,
                              "max": round(float(firsts.max()) * 1e3, 3) if firsts.size else None},
        "storage_growths": sum(st.growths for st in run.states),
    }


def _summed(states: list[WorkerState], attr: str) -> dict[str, int]:
    """The per-worker counts of ``attr`` (a dict of label -> count), added up."""
    out: dict[str, int] = {}
    for st in states:
        for label, count in dict(getattr(st, attr)).items():
            out[label] = out.get(label, 0) + count
    return dict(sorted(out.items()))


def correctness(run: Run) -> dict[str, Any]:
    """Errors, wrong results, Local violations and the connections used, over every worker.

    ``silent_wrong`` counts replies that provably answered another operation -- another
    worker's, or an earlier one of this worker's (in the request scenario: another
    request's) -- and came back without any error (``wrong_detail`` foreign + stale, also
    inside ``wrong_results``; ``other`` replies cannot be attributed and are not in it).

    ``connection_id_errors`` (how often a connection's id could not be read) is
    present only when it happened: then ``connections_used`` counts only the ids
    that could be read.
    """
    states = run.states
    errors = _summed(states, "errors")
    samples: dict[str, str] = {}
    for st in states:
        for label, text in dict(st.samples).items():
            samples.setdefault(label, text)
    foreign = sum(st.counts[FOREIGN] for st in states)
    stale = sum(st.counts[STALE] for st in states)
    other = sum(st.counts[OTHER] for st in states)
    ids: set[int] = set()
    for st in states:
        ids |= st.ids
    id_errors = sum(st.id_errors for st in states)
    return {
        "ops_total": int(sum(run.progress)),
        "errors": errors,
        "error_count": sum(errors.values()),
        "error_samples": samples,
        "error_codes": _summed(states, "codes"),
        # Another operation's reply returned as success: the failure a user cannot see.
        "silent_wrong": foreign + stale,
        "wrong_results": foreign + stale + other,
        "wrong_detail": {"foreign": foreign, "stale": stale, "other": other},
        "local_violations": sum(st.counts[LOCAL] for st in states),
        "connections_used": len(ids),
        "connection_id_samples": {"checked": sum(st.id_checks for st in states),
                                  "mismatched": sum(st.id_mismatches for st in states)},
        **({"connection_id_errors": id_errors} if id_errors else {}),
        "client_statements": sum(st.statements for st in states),
    }


def timeline(run: Run, live: bool = False) -> dict[str, Any]:
    """When right replies and errors happened, in :data:`TIMELINE_BUCKET` buckets of the monotonic clock.

    Times are ``time.perf_counter()`` values, which on Linux are CLOCK_MONOTONIC and so
    comparable with the parent's ``time.monotonic()``: the fault scenarios line them up
    with the moment they killed or restarted the server.  Buckets are sparse
    ``[index, count]`` pairs; bucket ``i`` covers ``[i * bucket_s, (i + 1) * bucket_s)``.
    ``live``: the workers may still run (a hung cell's record): see :func:`_stamps`.
    """
    import numpy as np

    done = _stamps(run, live)[:, 2]
    ok: dict[int, int] = {}
    if done.size:
        keys, counts = np.unique(np.floor(done / TIMELINE_BUCKET).astype(np.int64), return_counts=True)
        ok = {int(k): int(n) for k, n in zip(keys, counts, strict=True)}
    errors: dict[int, int] = {}
    for st in run.states:
        for key, n in dict(st.err_buckets).items():
            errors[key] = errors.get(key, 0) + n
    firsts = [st.first_error for st in run.states if st.first_error is not None]
    lasts = [st.last_error for st in run.states if st.last_error is not None]
    return {
        "clock": "CLOCK_MONOTONIC seconds (time.perf_counter in the cell = time.monotonic in the parent)",
        "bucket_s": TIMELINE_BUCKET,
        "window": list(run.window),
        "t_go": run.t_go,
        "ok": sorted(ok.items()),
        "errors": sorted(errors.items()),
        "ok_total": int(done.size),
        "first_ok_at": float(done.min()) if done.size else None,
        "first_error_at": min(firsts) if firsts else None,
        "last_error_at": max(lasts) if lasts else None,
    }
