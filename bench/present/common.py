"""What every view of the records shares: the order names are shown in, records of a kind, and small counts.

Charts, tables, findings and the report all pick and order records through these functions, so the same
records give the same rows, panels and sentences in the same order everywhere: the known names in their
fixed order (:mod:`bench.present.palette`), then any others in order of first appearance.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, TypeVar, overload

from bench.present import palette
from bench.records.kinds import (
    DbRecord,
    MicroRecord,
    ProbeRecord,
    Record,
    RequestRecord,
    StackRecord,
    known,
)

#: The order of the known loads and ops (others follow in order of appearance).
LOAD_ORDER: tuple[str, ...] = tuple(palette.LOAD_STYLES)
OP_ORDER: tuple[str, ...] = ("get", "set", "del", "push", "top", "pop", "proxy-get")

#: A cell of the database workload harness: a connection strategy under a load (db), with a request context on a
#: Local beside it (request).
Workload = DbRecord | RequestRecord
#: The records that name an impl, a strategy, a load.
WithImpl = ProbeRecord | MicroRecord | RequestRecord | StackRecord
WithStrategy = DbRecord | RequestRecord | StackRecord
WithLoad = ProbeRecord | DbRecord | RequestRecord
R = TypeVar("R", bound=Record)


def ordered(values: Iterable[str], order: Iterable[str]) -> list[str]:
    """Distinct ``values``: the known ones in ``order``, then the others as they first appear."""
    values = list(dict.fromkeys(values))
    rank = {name: i for i, name in enumerate(order)}
    return sorted(values, key=lambda v: (rank.get(v, len(rank)), values.index(v)))


def impls_of(records: Iterable[WithImpl]) -> list[str]:
    """The impls of ``records``, in palette order."""
    return ordered((r.impl for r in records), palette.IMPL_COLOURS)


def strategies_of(records: Iterable[WithStrategy]) -> list[str]:
    """The strategies of ``records``, in palette order."""
    return ordered((r.strategy for r in records), palette.STRATEGY_COLOURS)


def loads_of(records: Iterable[WithLoad]) -> list[str]:
    """The loads of ``records``, in :data:`LOAD_ORDER`."""
    return ordered((r.load for r in records), LOAD_ORDER)


@overload
def of_kind(records: Iterable[Record], kind: Literal["probe"]) -> list[ProbeRecord]: ...
@overload
def of_kind(records: Iterable[Record], kind: Literal["micro"]) -> list[MicroRecord]: ...
@overload
def of_kind(records: Iterable[Record], kind: Literal["db"]) -> list[DbRecord]: ...
@overload
def of_kind(records: Iterable[Record], kind: Literal["request"]) -> list[RequestRecord]: ...
@overload
def of_kind(records: Iterable[Record], kind: Literal["stack"]) -> list[StackRecord]: ...
@overload
def of_kind(records: Iterable[Record], kind: str) -> list[Record]: ...
def of_kind(records: Iterable[Record], kind: str) -> list[Any]:
    """The records of ``kind`` (records are typed, so valid, once read: :func:`bench.records.read.load_records`)."""
    return [r for r in records if r.kind == kind]


def skipped(rec: Record) -> bool:
    """Whether ``rec`` is a db, request or stack cell that was skipped (no server, or nothing to run it on)."""
    return isinstance(rec, (DbRecord, RequestRecord, StackRecord)) and rec.outcome == "skipped"


def cell_of(rec: Workload) -> tuple[str, str | None, str, str, int, float | None, str | None]:
    """The cell a db/request record measured: kind, impl (request records only), strategy, load, concurrency, the
    round trip asked for (None without ``--rtt``) and the driver named (None without ``--driver``)."""
    return (rec.kind, rec.impl if isinstance(rec, RequestRecord) else None, rec.strategy, rec.load, rec.concurrency,
            known(rec.rtt_set_ms), known(rec.driver))


def on_network(rec: Record) -> bool:
    """Whether ``rec`` is a db, request or stack cell run with a round trip (``--rtt``; 0 included): such cells are
    read by the network views only (:mod:`bench.present.network`)."""
    return isinstance(rec, (DbRecord, RequestRecord, StackRecord)) and known(rec.rtt_set_ms) is not None


def on_driver(rec: Record) -> bool:
    """Whether ``rec`` is a db, request or stack cell run over a driver named with ``--driver`` (PyMySQL included):
    such cells are read by the driver views (:mod:`bench.present.drivers`) and the answer's driver verdicts only."""
    return isinstance(rec, (DbRecord, RequestRecord, StackRecord)) and known(rec.driver) is not None


def direct(records: Iterable[R]) -> list[R]:
    """``records`` without the cells run with a round trip or over a named driver: what every view but the
    network's and the drivers' reads."""
    return [r for r in records if not on_network(r) and not on_driver(r)]


def one_per_cell(records: Iterable[R]) -> list[R]:
    """``records`` with one db/request record per impl x strategy x load x concurrency: where a cell was also run
    as several processes (``--processes``), the record with the fewest.

    Charts, findings and the model check compare cells by their workers; a cell run at several process counts is
    compared across them in the scaling table instead.  Other kinds pass through; the order is kept.
    """
    records = list(records)
    fewest: dict[tuple[Any, ...], int] = {}
    for r in records:
        if isinstance(r, (DbRecord, RequestRecord)):
            key = cell_of(r)
            fewest[key] = min(fewest.get(key, 1 << 30), r.processes or 1)
    return [r for r in records if not isinstance(r, (DbRecord, RequestRecord))
            or (r.processes or 1) == fewest[cell_of(r)]]


def error_total(rec: Workload) -> int:
    """All errors of a db/request record, over every class."""
    errors = rec.errors or {}
    return int(sum(v for v in errors.values() if isinstance(v, (int, float))))


def silent_wrong(rec: Workload) -> int | None:
    """Another operation's replies returned without any error (older records: ``wrong_detail`` foreign + stale)."""
    if isinstance(rec.silent_wrong, int):
        return rec.silent_wrong
    detail = rec.wrong_detail
    if isinstance(detail, dict) and isinstance(detail.get("foreign"), int):
        return int(detail["foreign"]) + int(detail.get("stale") or 0)
    return None


def is_bad(rec: Workload) -> bool:
    """Whether a db/request cell did not end clean: an outcome other than ok, any error or any wrong result."""
    return rec.outcome != "ok" or bool(error_total(rec)) or bool(rec.wrong_results)


def short_count(n: float | None) -> str:
    """``7`` ``950`` ``12k`` ``1.2M``: a count that fits in a grid cell."""
    if n is None:
        return "-"
    n = float(n)
    if n < 1000:
        return f"{n:.0f}"
    if n < 10_000:
        return f"{n / 1e3:.1f}k"
    if n < 1e6:
        return f"{n / 1e3:.0f}k"
    return f"{n / 1e6:.1f}M"
