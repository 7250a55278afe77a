"""What a reader needs to know before any number: when the run was, on what machine, how long each cell measured, how
many times.

Read from the environment (``environment.json``: run id, cpu, platform, server, packages) and the records (windows,
repeats).  Every function returns plain text, "unknown" where the run did not record it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from bench.present.spread import cells
from bench.records.kinds import DbRecord, ProbeRecord, Record, RequestRecord, StackRecord, known

_RUN_ID = re.compile(r"^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "")


def run_date(environment: dict[str, Any]) -> str:
    """``2026-11-29 17:59:31`` from the run id (the time the run started, the machine's clock); else "unknown"."""
    match = _RUN_ID.match(str(environment.get("run_id") or ""))
    if not match:
        return "date unknown"
    y, mo, d, h, mi, s = match.groups()
    return f"{y}-{mo}-{d} {h}:{mi}:{s}"


def _server(environment: dict[str, Any]) -> str:
    server = environment.get("server") or {}
    if not isinstance(server, dict) or not server.get("version"):
        return ""
    text = f"server {server['version']}"
    host = urlsplit(str(server.get("url") or "")).hostname or ""
    if server.get("url") and host in LOCAL_HOSTS:
        text += " on 127.0.0.1: client and server on one host"
    elif host:
        text += f" on {host}"
    if server.get("tls_summary"):
        text += f"; TLS {server['tls_summary']}"
    return text


def machine(environment: dict[str, Any], *, short: bool = False) -> str:
    """``2 cores (AMD EPYC), Python 3.11.7; server 10.11.19-MariaDB on 127.0.0.1: client and server on one host``."""
    cpu = environment.get("cpu") or {}
    parts = []
    if isinstance(cpu, dict) and cpu.get("count"):
        parts.append(f"{cpu['count']} cores" + (f" ({cpu['model']})" if cpu.get("model") else ""))
    python = environment.get("python") or {}
    if isinstance(python, dict) and python.get("version") and not short:
        parts.append(f"Python {python['version']}")
    text = ", ".join(parts) or "machine unknown"
    server = _server(environment)
    return f"{text}; {server}" if server else text


def _seconds(value: float) -> str:
    return f"{value:g} s"


def windows(records: Sequence[Record]) -> str:
    """The measured window (and warm-up) of each kind of cell: ``db and request cells: 2 s after 0.5 s warm-up``."""
    kinds = (("db and request cells", (DbRecord, RequestRecord)), ("stack cells", (StackRecord,)))
    parts = []
    for words, types in kinds:
        mine = [r for r in records if isinstance(r, types) and r.outcome != "skipped"]
        spans = sorted({float(d) for r in mine if (d := known(r.duration_s))})
        warm = sorted({float(w) for r in mine if (w := known(r.warmup_s))})
        if spans:
            text = f"{words}: {' / '.join(_seconds(s) for s in spans)} window"
            parts.append(text + (f" after {' / '.join(_seconds(w) for w in warm)} warm-up" if warm else ""))
    if any(isinstance(r, ProbeRecord) for r in records):
        parts.append("probes: fixed rounds, no window")
    return "; ".join(parts) or "no timed cell"


def repeats(records: Sequence[Record]) -> str:
    """``each cell measured once (n=1)`` or ``up to 5 repeats per cell (n shown beside each figure)``."""
    n = max((cell.n for cell in cells(records)), default=1)
    return "each cell measured once (n=1)" if n <= 1 else f"up to {n} repeats per cell (n shown beside each figure)"


def summary(environment: dict[str, Any], records: Sequence[Record]) -> list[tuple[str, str]]:
    """(label, text) lines for the top of a report."""
    commit = str(environment.get("commit") or "unknown")
    return [("run", f"{run_date(environment)} (run {environment.get('run_id') or 'unknown'}, commit {commit[:12]}, "
                    f"{len(records)} records)"),
            ("machine", machine(environment)), ("windows", windows(records)), ("repeats", repeats(records))]
