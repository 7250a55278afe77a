"""Which cells exist: the default matrix, ``--quick``, and input validation.

The whole matrix is declared here as data, so that what a run covers can be
read in one place (and is copied into the README).  Functions below turn the
user's selection flags into validated lists, raising a one-line UsageError for
anything unknown or nonsensical.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import localimpls
from bench.errors import UsageError
from bench.cell.loads import LOADS
from bench.cell.probes import PROBES

#: Loads the locals matrix covers.
LOCAL_LOADS: tuple[str, ...] = tuple(LOADS)
#: Probes run in every impl x load cell.
LOCAL_PROBES: tuple[str, ...] = tuple(PROBES)
#: Workers per probe cell (started together at a barrier).
LOCAL_WORKERS = 8
#: Micro-benchmark method: fresh processes x values per process, after warm-ups.
MICRO_PROCESSES = 3
MICRO_VALUES = 5
MICRO_MIN_TIME = 0.01
#: ``--quick``: fewer, shorter micro-benchmark values (still fresh processes).
MICRO_QUICK_PROCESSES = 2
MICRO_QUICK_VALUES = 3
MICRO_QUICK_MIN_TIME = 0.004
#: Time limit for one probe cell (seconds).
PROBE_CELL_TIMEOUT = 120.0


#: The database matrix (``ctxbench db`` and the DB part of ``ctxbench run``).
DB_DEFAULT: dict[str, Any] = {
    "strategies": ("global", "locked", "pooled", "pooled-tuned", "persistent", "per-request", "sqlalchemy-queuepool", "own-connection"),
    "loads": ("threads", "gevent"),
    "concurrency": (1, 4, 16, 64),
    "duration": 2.0,  # measured seconds per cell, after the warm-up
    "warmup": 0.5,
    "request_impls": ("fast", "contextvar", "threading-local"),
    "request_strategies": ("pooled-tuned", "locked", "per-request"),
}
#: ``--quick``: one concurrency above 1 (where sharing goes wrong), short cells.
DB_QUICK: dict[str, Any] = {
    **DB_DEFAULT,
    "concurrency": (8,),
    "duration": 0.5,
    "warmup": 0.2,
    "request_impls": ("fast", "threading-local"),
    "request_strategies": ("pooled-tuned",),
}


@dataclass(frozen=True)
class LocalsPlan:
    """A validated selection for the locals matrix."""

    impls: tuple[str, ...]
    loads: tuple[str, ...]
    probes: tuple[str, ...]
    workers: int
    micro: bool = True
    micro_processes: int = MICRO_PROCESSES
    micro_values: int = MICRO_VALUES


def split_names(values: Iterable[str] | None) -> list[str]:
    """Flatten repeatable, comma-separated flags: ``--x a,b --x c`` -> [a, b, c]."""
    names: list[str] = []
    for value in values or ():
        for part in value.split(","):
            part = part.strip()
            if part and part not in names:
                names.append(part)
    return names


def check_count(name: str, value: int, *, low: int, high: int) -> int:
    """A whole number within [low, high], or a UsageError naming the flag."""
    if not low <= value <= high:
        raise UsageError(f"{name} must be between {low} and {high}, got {value}")
    return value


def select_impls(requested: Sequence[str]) -> tuple[list[str], list[str]]:
    """(valid impl names, one error line per unknown name).  Import paths are checked in the cell."""
    if not requested:
        return localimpls.default_impls(), []
    valid, errors = [], []
    for name in requested:
        try:
            localimpls.target_of(name)
        except localimpls.ImplError as exc:
            errors.append(str(exc))
            continue
        valid.append(name)
    return valid, errors


def select_loads(requested: Sequence[str], *, allowed: Sequence[str] = LOCAL_LOADS) -> tuple[list[str], list[str]]:
    """(valid load names, one error line per unknown name)."""
    if not requested:
        return list(allowed), []
    valid, errors = [], []
    for name in requested:
        if name in allowed:
            valid.append(name)
        else:
            errors.append(f"unknown load {name!r} (known: {', '.join(allowed)})")
    return valid, errors


def select_probes(requested: Sequence[str]) -> list[str]:
    if not requested:
        return list(LOCAL_PROBES)
    unknown = [p for p in requested if p not in PROBES]
    if unknown:
        raise UsageError(f"unknown probe {unknown[0]!r} (known: {', '.join(PROBES)})")
    return list(requested)
