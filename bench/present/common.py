"""What every view of the records shares: the order names are shown in, records of a kind, and small counts.

Charts, tables, findings and the report all pick and order records through these functions, so the same
records give the same rows, panels and sentences in the same order everywhere: the known names in their
fixed order (:mod:`bench.present.palette`), then any others in order of first appearance.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bench.present import palette
from bench.records.schema import check_record

#: The order of the known loads and ops (others follow in order of appearance).
LOAD_ORDER: tuple[str, ...] = tuple(palette.LOAD_STYLES)
OP_ORDER: tuple[str, ...] = ("get", "set", "del", "push", "top", "pop", "proxy-get")


def ordered(values: Iterable[str], order: Iterable[str]) -> list[str]:
    """Distinct ``values``: the known ones in ``order``, then the others as they first appear."""
    values = list(dict.fromkeys(values))
    rank = {name: i for i, name in enumerate(order)}
    return sorted(values, key=lambda v: (rank.get(v, len(rank)), values.index(v)))


def impls_of(records: Iterable[dict[str, Any]]) -> list[str]:
    """The impls of ``records``, in palette order."""
    return ordered((r["impl"] for r in records), palette.IMPL_COLOURS)


def strategies_of(records: Iterable[dict[str, Any]]) -> list[str]:
    """The strategies of ``records``, in palette order."""
    return ordered((r["strategy"] for r in records), palette.STRATEGY_COLOURS)


def loads_of(records: Iterable[dict[str, Any]]) -> list[str]:
    """The loads of ``records``, in :data:`LOAD_ORDER`."""
    return ordered((r["load"] for r in records), LOAD_ORDER)


def of_kind(records: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The records of ``kind`` that meet their schema."""
    return [r for r in records if r.get("kind") == kind and check_record(r) is None]


def one_per_cell(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` with one db/request record per impl x strategy x load x concurrency: where a cell was also run
    as several processes (``--processes``), the record with the fewest.

    Charts, findings and the model check compare cells by their workers; a cell run at several process counts is
    compared across them in the scaling table instead.  Other kinds pass through; the order is kept.
    """
    records = list(records)
    fewest: dict[tuple[Any, ...], int] = {}
    for r in records:
        if r.get("kind") in ("db", "request"):
            key = (r["kind"], r.get("impl"), r.get("strategy"), r.get("load"), r.get("concurrency"))
            fewest[key] = min(fewest.get(key, 1 << 30), int(r.get("processes") or 1))
    return [r for r in records if r.get("kind") not in ("db", "request")
            or int(r.get("processes") or 1) == fewest[(r["kind"], r.get("impl"), r.get("strategy"), r.get("load"),
                                                       r.get("concurrency"))]]


def error_total(rec: dict[str, Any]) -> int:
    """All errors of a db/request record, over every class."""
    errors = rec.get("errors") or {}
    return int(sum(v for v in errors.values() if isinstance(v, (int, float))))


def silent_wrong(rec: dict[str, Any]) -> int | None:
    """Another operation's replies returned without any error (older records: ``wrong_detail`` foreign + stale)."""
    value = rec.get("silent_wrong")
    if isinstance(value, int):
        return value
    detail = rec.get("wrong_detail")
    if isinstance(detail, dict) and isinstance(detail.get("foreign"), int):
        return int(detail["foreign"]) + int(detail.get("stale") or 0)
    return None


def is_bad(rec: dict[str, Any]) -> bool:
    """Whether a db/request cell did not end clean: an outcome other than ok, any error or any wrong result."""
    return rec.get("outcome") != "ok" or bool(error_total(rec)) or bool(rec.get("wrong_results"))


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
