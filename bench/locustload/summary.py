"""What ``ctxbench locust`` prints at the end: the merged record and each worker's share, read from the record."""

from __future__ import annotations

from pathlib import Path

from bench.present.tables import print_table
from bench.records.kinds import DbRecord, StackRecord, known


def _failed(rec: DbRecord | StackRecord) -> int:
    if isinstance(rec, DbRecord):
        return int(rec.error_count or 0)
    return sum((rec.http_errors or {}).values()) + sum((rec.client_errors or {}).values())


def _wrong(rec: DbRecord | StackRecord) -> int | None:
    if isinstance(rec, DbRecord):
        return known(rec.wrong_results)
    return (rec.wrong_local or 0) + (rec.silent_wrong or 0)


def summary_rows(rec: DbRecord | StackRecord) -> tuple[list[str], list[list[str]]]:
    """Header and rows: every worker, then the total (silent wrong first, as in every ctxbench table)."""
    header = ["worker", "host", "pid", "users", "silent wrong", "wrong", "errors", "ok", "ok/s", "p50 / p99 ms"]
    duration = float(rec.measured_s or rec.duration_s or 0) or 1.0
    rows = []
    for w in rec.locust_workers or []:
        wrong = w.get("wrong") or {}
        silent = sum(v for k, v in wrong.items() if k in ("foreign", "stale", "silent_wrong"))
        errors = sum((w.get("errors") or {}).values()) + sum((w.get("http_errors") or {}).values())
        wl = w.get("latency_ms") or {}
        rows.append([str(w.get("index")), str(w.get("host")), str(w.get("pid")), str(w.get("users")), str(silent),
                     str(sum(wrong.values())), str(errors), str(w.get("ok")), f"{(w.get('ok') or 0) / duration:,.0f}",
                     f"{wl.get('p50')} / {wl.get('p99')}" if wl else ""])
    for wid in rec.missing_workers or []:
        rows.append([f"{wid} (no report)", "", "", "", "", "", "", "", "", ""])
    lat = known(rec.latency_ms) or {}
    rows.append(["total", "", "", str(known(rec.users)), str(known(rec.silent_wrong)), str(_wrong(rec)),
                 str(_failed(rec)), str(known(rec.ok)), f"{(rec.ok or 0) / duration:,.0f}",
                 f"{lat.get('p50')} / {lat.get('p99')}"])
    return header, rows


def print_summary(rec: DbRecord | StackRecord, run_dir: Path) -> None:
    """The table, the outcome and where the record is."""
    header, rows = summary_rows(rec)
    partial = " (partial)" if rec.partial else ""
    title = (f"Locust {rec.kind} x {rec.strategy}: {known(rec.reported_processes)} of "
             f"{known(rec.locust_processes)} workers reported, {known(rec.duration_s)} s window{partial}")
    print_table(title, header, rows)
    print(f"outcome: {rec.outcome}" + (f" ({rec.reason})" if rec.reason else ""))
    print(f"run directory: {run_dir}")
