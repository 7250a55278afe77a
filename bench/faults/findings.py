"""What the ``fault`` records say, for people: one warning line per broken promise, one table row per cell.

Both read records only (:class:`~bench.records.kinds.FaultRecord`, as :mod:`bench.faults.scenarios` builds
them); the command line prints the lines as ``ctxbench: warning:`` and the rows as a table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.records.kinds import FaultRecord, known

HEADER = ["scenario", "strategy", "load", "c", "errors by class", "first error", "recovered", "recovery",
          "after/before", "leaked", "notes"]


def _where(rec: FaultRecord) -> str:
    return f"{rec.scenario} {rec.strategy} {rec.load} c={rec.concurrency}"


def _soak_findings(rec: FaultRecord) -> list[str]:
    lines = []
    if rec.within_bound is False:
        rss = rec.rss_mib or {}
        lines.append(f"resident memory grew {rss.get('growth_mib')} MiB over the window "
                     f"(bound {rss.get('bound_growth_mib')}) and peaked at {rss.get('peak_mib')} MiB "
                     f"(bound {rss.get('bound_peak_mib')})")
    if rec.error_count or rec.wrong_results:
        lines.append(f"{rec.error_count or 0} errors and {known(rec.wrong_results)} wrong results in the soak")
    return lines


def _record_findings(rec: FaultRecord) -> list[str]:
    """The broken promises of one record, without the cell's name."""
    lines = []
    if rec.leaked_connections:
        lines.append(f"the server still held {rec.leaked_connections} connection(s) after the cell ended")
    if rec.scenario not in ("kill", "restart") and rec.open_after_close:  # counters reset on a restart
        lines.append(f"the strategy's close() left {rec.open_after_close} connection(s) open")
    if rec.problem:
        lines.append(str(rec.problem))
    if rec.scenario == "max-connections" and rec.crashed:
        lines.append("the cell crashed instead of counting errors")
    if rec.scenario == "soak":
        lines += _soak_findings(rec)
    if rec.scenario == "hang" and (rec.outcome != "hung" or rec.cell_processes_left):
        lines.append(f"outcome {known(rec.outcome)}, cell processes left {known(rec.cell_processes_left)}")
    return lines


def findings(records: Sequence[FaultRecord]) -> list[str]:
    """One line per broken promise: a leaked connection, a crashed cell, a soak over its bound, a hang not ended."""
    return [f"{_where(rec)}: {line}" for rec in records for line in _record_findings(rec)]


def _fmt(value: Any, unit: str = "") -> str:
    """``value`` with its unit; ``-`` when it is None or absent."""
    value = known(value)
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


def _notes(rec: FaultRecord) -> str:
    """The table's last column: what the scenario measured besides errors and recovery."""
    if rec.scenario == "max-connections":
        return (f"max_connections {known(rec.max_connections)}, "
                f"threads {known(rec.threads_connected_before)}->{known(rec.threads_connected_after)}")
    if rec.scenario == "hang":
        return (f"{known(rec.outcome)} after {known(rec.cell_wall_s)} s by {known(rec.ended_by)}; "
                f"next cell {(rec.next_cell or {}).get('outcome')}")
    if rec.scenario == "soak":
        rss = rec.rss_mib or {}
        return (f"{known(rec.ops_per_s)} ops/s; RSS {rss.get('settled_mib')}->{rss.get('window_end_mib')} MiB "
                f"(+{rss.get('growth_mib')}, bound {rss.get('bound_growth_mib')}), peak {rss.get('peak_mib')} "
                f"(bound {rss.get('bound_peak_mib')})")
    if known(rec.downtime_s) is not None:
        return f"down {rec.downtime_s} s, server back in {known(rec.restart_s)} s"
    return str(rec.fault_not_injected or "")


def fault_rows(records: Sequence[FaultRecord]) -> tuple[list[str], list[list[str]]]:
    """A terminal table: the header and one row per fault cell."""
    rows = []
    for rec in records:
        recovered = known(rec.recovered)
        rows.append([rec.scenario, rec.strategy, rec.load, str(rec.concurrency),
                     _errors_text(rec.errors or {}, rec.error_codes or {}), _fmt(rec.time_to_first_error_s, " s"),
                     "-" if recovered is None else ("yes" if recovered else "NO"), _fmt(rec.recovery_s, " s"),
                     _fmt(rec.throughput_after_ratio), _fmt(rec.leaked_connections), _notes(rec)])
    return list(HEADER), rows
