"""What ``ctxbench locust`` prints at the end: the merged record and each worker's share, read from the record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.present.tables import print_table


def _failed(rec: dict[str, Any]) -> int:
    if rec.get("kind") == "db":
        return int(rec.get("error_count") or 0)
    return sum((rec.get("http_errors") or {}).values()) + sum((rec.get("client_errors") or {}).values())


def summary_rows(rec: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: every worker, then the total (silent wrong first, as in every ctxbench table)."""
    header = ["worker", "host", "pid", "users", "silent wrong", "wrong", "errors", "ok", "ok/s", "p50 / p99 ms"]
    duration = float(rec.get("measured_s") or rec.get("duration_s") or 0) or 1.0
    rows = []
    for w in rec.get("locust_workers") or []:
        wrong = w.get("wrong") or {}
        silent = sum(v for k, v in wrong.items() if k in ("foreign", "stale", "silent_wrong"))
        errors = sum((w.get("errors") or {}).values()) + sum((w.get("http_errors") or {}).values())
        wl = w.get("latency_ms") or {}
        rows.append([str(w.get("index")), str(w.get("host")), str(w.get("pid")), str(w.get("users")), str(silent),
                     str(sum(wrong.values())), str(errors), str(w.get("ok")), f"{(w.get('ok') or 0) / duration:,.0f}",
                     f"{wl.get('p50')} / {wl.get('p99')}" if wl else ""])
    for wid in rec.get("missing_workers") or []:
        rows.append([f"{wid} (no report)", "", "", "", "", "", "", "", "", ""])
    lat = rec.get("latency_ms") or {}
    wrong_total = rec.get("wrong_results", (rec.get("wrong_local") or 0) + (rec.get("silent_wrong") or 0))
    rows.append(["total", "", "", str(rec.get("users")), str(rec.get("silent_wrong")), str(wrong_total),
                 str(_failed(rec)), str(rec.get("ok")), f"{(rec.get('ok') or 0) / duration:,.0f}",
                 f"{lat.get('p50')} / {lat.get('p99')}"])
    return header, rows


def print_summary(rec: dict[str, Any], run_dir: Path) -> None:
    """The table, the outcome and where the record is."""
    header, rows = summary_rows(rec)
    partial = " (partial)" if rec.get("partial") else ""
    title = (f"Locust {rec.get('kind')} x {rec.get('strategy')}: {rec.get('reported_processes')} of "
             f"{rec.get('locust_processes')} workers reported, {rec.get('duration_s')} s window{partial}")
    print_table(title, header, rows)
    print(f"outcome: {rec.get('outcome')}" + (f" ({rec['reason']})" if rec.get("reason") else ""))
    print(f"run directory: {run_dir}")
