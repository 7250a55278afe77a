"""What the ``fault`` records say, for people: one warning line per broken promise, one table row per cell.

Both read records only (``kind: "fault"``, as :mod:`bench.faults.scenarios` writes them); the
command line prints the lines as ``ctxbench: warning:`` and the rows as a table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Record = Mapping[str, Any]

HEADER = ["scenario", "strategy", "load", "c", "errors by class", "first error", "recovered", "recovery",
          "after/before", "leaked", "notes"]


def _where(rec: Record) -> str:
    return f"{rec['scenario']} {rec['strategy']} {rec['load']} c={rec['concurrency']}"


def _soak_findings(rec: Record) -> list[str]:
    lines = []
    if rec.get("within_bound") is False:
        rss = rec["rss_mib"]
        lines.append(f"resident memory grew {rss['growth_mib']} MiB over the window (bound {rss['bound_growth_mib']}) "
                     f"and peaked at {rss.get('peak_mib')} MiB (bound {rss.get('bound_peak_mib')})")
    if rec.get("error_count") or rec.get("wrong_results"):
        lines.append(f"{rec['error_count']} errors and {rec['wrong_results']} wrong results in the soak")
    return lines


def _record_findings(rec: Record) -> list[str]:
    """The broken promises of one record, without the cell's name."""
    lines = []
    if rec.get("leaked_connections"):
        lines.append(f"the server still held {rec['leaked_connections']} connection(s) after the cell ended")
    if rec["scenario"] not in ("kill", "restart") and rec.get("open_after_close"):  # counters reset on a restart
        lines.append(f"the strategy's close() left {rec['open_after_close']} connection(s) open")
    if rec.get("problem"):
        lines.append(str(rec["problem"]))
    if rec["scenario"] == "max-connections" and rec.get("crashed"):
        lines.append("the cell crashed instead of counting errors")
    if rec["scenario"] == "soak":
        lines += _soak_findings(rec)
    if rec["scenario"] == "hang" and (rec.get("outcome") != "hung" or rec.get("cell_processes_left")):
        lines.append(f"outcome {rec.get('outcome')}, cell processes left {rec.get('cell_processes_left')}")
    return lines


def findings(records: Sequence[Record]) -> list[str]:
    """One line per broken promise: a leaked connection, a crashed cell, a soak over its bound, a hang not ended."""
    return [f"{_where(rec)}: {line}" for rec in records for line in _record_findings(rec)]


def _fmt(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value}{unit}"


def _errors_text(errors: Mapping[str, int], codes: Mapping[str, int]) -> str:
    """``OperationalError 9 (2013: 8, 2003: 1), InterfaceError 13 (0: 13)``: class, count, the error numbers within."""
    parts = []
    for label, count in sorted(errors.items(), key=lambda item: -item[1]):
        within = {key[len(label) + 1:]: n for key, n in codes.items() if key.startswith(label + ":")}
        detail = ""
        if within and label != "server:1040":
            detail = f" ({', '.join(f'{code}: {n}' for code, n in sorted(within.items(), key=lambda item: -item[1]))})"
        parts.append(f"{label} {count}{detail}")
    return ", ".join(parts) or "none"


def _notes(rec: Record) -> str:
    """The table's last column: what the scenario measured besides errors and recovery."""
    scenario = rec["scenario"]
    if scenario == "max-connections":
        return (f"max_connections {rec['max_connections']}, "
                f"threads {rec['threads_connected_before']}->{rec['threads_connected_after']}")
    if scenario == "hang":
        return (f"{rec.get('outcome')} after {rec.get('cell_wall_s')} s by {rec.get('ended_by')}; "
                f"next cell {rec['next_cell']['outcome']}")
    if scenario == "soak":
        rss = rec.get("rss_mib") or {}
        return (f"{rec.get('ops_per_s')} ops/s; RSS {rss.get('settled_mib')}->{rss.get('window_end_mib')} MiB "
                f"(+{rss.get('growth_mib')}, bound {rss.get('bound_growth_mib')}), peak {rss.get('peak_mib')} "
                f"(bound {rss.get('bound_peak_mib')})")
    if rec.get("downtime_s") is not None:
        return f"down {rec.get('downtime_s')} s, server back in {rec.get('restart_s')} s"
    return str(rec.get("fault_not_injected") or "")


def fault_rows(records: Sequence[Record]) -> tuple[list[str], list[list[str]]]:
    """A terminal table: the header and one row per fault cell."""
    rows = []
    for rec in records:
        recovered = rec.get("recovered")
        rows.append([rec["scenario"], rec["strategy"], rec["load"], str(rec["concurrency"]),
                     _errors_text(rec.get("errors") or {}, rec.get("error_codes") or {}),
                     _fmt(rec.get("time_to_first_error_s"), " s"),
                     "-" if recovered is None else ("yes" if recovered else "NO"), _fmt(rec.get("recovery_s"), " s"),
                     _fmt(rec.get("throughput_after_ratio")), _fmt(rec.get("leaked_connections")), _notes(rec)])
    return list(HEADER), rows
