"""The master's record: the workers' reports added up into one ``db`` or ``stack`` record with ``load: "locust"``.

Contract: :func:`merge_record` sums every count of the reports (requests, right replies, errors by label, wrong
replies by verdict, HTTP statuses) and adds their histograms (:func:`bench.records.latency.merge`); ``ops_per_s`` is
the right replies per second of the window (each worker's over the part of the window it covered -- all of it unless
the run stopped early, then ``truncated`` -- added up). ``locust_workers`` keeps each report's own counts;
``locust_processes`` says how many worker processes took part and ``reported_processes`` how many reported.  A db
record reads like a db cell of several load processes (``processes`` = the Locust processes, ``concurrency`` the
users of one -- the largest share when the split is uneven -- and ``total_concurrency`` = ``users`` all of them); a
stack record like a stack cell (``concurrency`` = the HTTP clients, ``processes`` = ``workers`` the app's server
processes). A worker that took part but never reported is named in
``missing_workers`` and makes the record ``partial``. Nothing here talks to Locust or a server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.cell.strategies import settings_of
from bench.records import latency
from bench.swarm.options import Plan

#: The per-worker fields copied into ``locust_workers``.
WORKER_FIELDS = ("id", "index", "host", "pid", "users", "requests", "ok", "errors", "wrong", "http_errors",
                 "warmup_requests", "after_requests", "in_flight_at_report", "server_url", "error")


def _worker_entry(report: Mapping[str, Any]) -> dict[str, Any]:
    """One worker's own counts in the record, with its latency percentiles (from its histogram)."""
    field = report.get(latency.FIELD)
    lat = {k: v for k, v in latency.field_summary_ms(field).items() if k != "count"} if field else None
    return {**{key: report.get(key) for key in WORKER_FIELDS}, "ops": report.get("ok"), "latency_ms": lat}


def _summed(reports: Sequence[Mapping[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for report in reports:
        for label, count in dict(report.get(key) or {}).items():
            out[label] = out.get(label, 0) + int(count)
    return dict(sorted(out.items()))


def _rate(reports: Sequence[Mapping[str, Any]], duration: float, key: str) -> float | None:
    """``key`` (right replies, or requests) per second: each worker's over the part of the window it covered, added."""
    rate = 0.0
    for r in reports:
        span = float(r.get("measured_s", duration))
        if span > 0:
            rate += int(r.get(key, 0)) / span
    return round(rate, 1) if any(float(r.get("measured_s", duration)) > 0 for r in reports) else None


def _totals(reports: Sequence[Mapping[str, Any]], duration: float, rate_of: str) -> dict[str, Any]:
    """What every kind of record shares: counts, histogram, throughput."""
    hist = latency.merge([r[latency.FIELD] for r in reports if r.get(latency.FIELD)])
    spans = [float(r.get("measured_s", duration)) for r in reports]
    return {
        "requests": sum(int(r.get("requests", 0)) for r in reports),
        "ok": sum(int(r.get("ok", 0)) for r in reports),
        "measured_s": round(max(spans), 4) if spans else 0.0,
        # The run stopped before the window's end (a signal): the counts cover only part of it.
        "truncated": any(span < duration - 1e-3 for span in spans),
        "ops_per_s": _rate(reports, duration, rate_of),
        latency.FIELD: hist,
        "latency_ms": {k: v for k, v in latency.field_summary_ms(hist).items() if k != "count"},
        "warmup_requests": sum(int(r.get("warmup_requests", 0)) for r in reports),
    }


def _db_fields(reports: Sequence[Mapping[str, Any]], plan: Plan, users: int) -> dict[str, Any]:
    wrong = _summed(reports, "wrong")
    errors = _summed(reports, "errors")
    foreign, stale, other = (wrong.get(k, 0) for k in ("foreign", "stale", "other"))
    return {
        "kind": "db", "strategy": plan.strategy, "mix": dict(plan.mix), "settings": settings_of(plan.strategy),
        "errors": errors, "error_count": sum(errors.values()),
        "wrong_results": foreign + stale + other, "wrong_detail": {"foreign": foreign, "stale": stale, "other": other},
        "silent_wrong": foreign + stale, "local_violations": 0,
    }


def _model_load(server: str) -> str | None:
    """The in-process load that claims to predict ``server`` (None for an app on a server ctxbench does not know)."""
    from bench.stack.servers import SERVERS

    info = SERVERS.get(server)
    return info.model_load if info else None


def _stack_fields(reports: Sequence[Mapping[str, Any]], plan: Plan, users: int) -> dict[str, Any]:
    wrong = _summed(reports, "wrong")
    return {
        "kind": "stack", "server": plan.server, "workers": 1, "impl": plan.impl, "strategy": plan.strategy,
        "model_load": _model_load(plan.server), "wrong_local": wrong.get("wrong_local", 0),
        "silent_wrong": wrong.get("silent_wrong", 0), "http_errors": _summed(reports, "http_errors"),
        "app_errors": _summed(reports, "app_errors"), "client_errors": _summed(reports, "errors"),
    }


def _outcome(rec: dict[str, Any], problems: list[str]) -> tuple[str, str | None]:
    if rec["kind"] == "db":
        failed = rec["error_count"] + rec["wrong_results"]
    else:
        failed = (rec["wrong_local"] + rec["silent_wrong"] + sum(rec["http_errors"].values())
                  + sum(rec["client_errors"].values()))
    if problems and not rec["requests"]:
        return "error", problems[0]
    if failed:
        return "errors", f"{failed} of {rec['requests']} operations came back wrong or failed"
    if not rec["requests"]:
        return "errors", "no operation ended inside the window"
    return "ok", None


def merge_record(plan: Plan, scenario: str, reports: Sequence[Mapping[str, Any]], expected: Sequence[str],
                 *, server: Mapping[str, Any] | None = None, server_url: str | None = None) -> dict[str, Any]:
    """One record of the run from the workers' ``reports``; ``expected`` the ids of every worker that took part."""
    reports = sorted(reports, key=lambda r: (int(r.get("index", 0)), str(r.get("id"))))
    reported = {str(r.get("id")) for r in reports}
    missing = sorted(set(expected) - reported)
    users = sum(int(r.get("users", 0)) for r in reports)
    shares = [int(r.get("users", 0)) for r in reports] or [0]
    fields = _db_fields(reports, plan, users) if scenario == "db" else _stack_fields(reports, plan, users)
    problems = [f"worker {r.get('index')}: {r['error']}" for r in reports if r.get("error")]
    urls = sorted({str(r["server_url"]) for r in reports if r.get("server_url")})
    rec: dict[str, Any] = {
        **fields, "load": "locust", "users": users, "duration_s": plan.duration, "warmup_s": plan.warmup,
        # ops_per_s as each kind's cells count it: right replies (db), requests ended in the window (stack).
        **_totals(reports, plan.duration, "ok" if scenario == "db" else "requests"),
        "locust_processes": len(set(expected) | reported), "reported_processes": len(reports),
        "locust_workers": [_worker_entry(r) for r in reports],
        "missing_workers": missing, "partial": bool(missing),
        "server_url": server_url or (urls[0] if len(urls) == 1 else None), "worker_server_urls": urls,
    }
    # A db record's ``server`` is the MySQL server's counters; a stack record's ``server`` names the app's server.
    rec["server" if scenario == "db" else "server_counters"] = dict(server) if server is not None else None
    if scenario == "db":  # as a db cell of several load processes: concurrency per process, all of them in total
        rec.update(ops=rec["ok"], processes=rec["locust_processes"], concurrency=max(shares), total_concurrency=users)
    else:  # as a stack cell: concurrency is the HTTP clients, processes the app's server processes
        rec.update(concurrency=users, processes=rec["workers"])
    rec["outcome"], reason = _outcome(rec, problems)
    if missing:
        reason = f"{len(missing)} of {rec['locust_processes']} workers sent no report: " + ", ".join(missing)
    if reason:
        rec["reason"] = reason
    if problems:
        rec["worker_problems"] = problems
    return rec
