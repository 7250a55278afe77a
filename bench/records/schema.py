"""The record kinds, and the one place a record turns into JSON and back.

:data:`SCHEMAS` maps each ``kind`` to its type (:mod:`bench.records.kinds`).  :func:`from_json`
reads one record's JSON form (validating it: a missing required field, a null one or a value of the
wrong type is refused with a one-line reason, :func:`check_record`); :func:`to_json` writes it.
They are called at two edges only: a cell process writing its output and its parent reading it, and
a sink writing stored files and a reader reading them.  A reader keeps records with fields it does
not know (a newer writer's): those fields are dropped, the rest is read.

The version of the stored format is :data:`SCHEMA_VERSION`; what each version and each addition
within it changed is ``docs/schema.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from bench.records.kinds import (
    CeilingRecord,
    DbOverheadRecord,
    DbRecord,
    FaultRecord,
    MicroRecord,
    ParallelRecord,
    ProbeRecord,
    Record,
    RequestRecord,
    StackRecord,
)

#: The version of the stored format, written into every results document, cell file and environment.
SCHEMA_VERSION = 1

#: Every record kind and its type.
SCHEMAS: dict[str, type[Record]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (ProbeRecord, MicroRecord, ParallelRecord, DbRecord, RequestRecord, CeilingRecord, DbOverheadRecord,
                FaultRecord, StackRecord)
}
#: The kinds a run directory holds: what charts, the report and the gate read (``fault``: ``ctxbench faults
#: --json`` beside a run's cells, or alone; the report's Resilience section).
RUN_KINDS: frozenset[str] = frozenset({"probe", "micro", "parallel", "db", "request", "ceiling", "stack", "fault"})
#: Any record, as msgspec decodes it (the ``kind`` field picks the type).
AnyRecord = ProbeRecord | MicroRecord | ParallelRecord | DbRecord | RequestRecord | CeilingRecord | DbOverheadRecord \
    | FaultRecord | StackRecord


def required_fields(kind: str) -> tuple[str, ...]:
    """The fields (beyond ``kind``) every record of ``kind`` carries, in declaration order."""
    return tuple(f.name for f in msgspec.structs.fields(SCHEMAS[kind]) if f.required)


#: Required fields that hold a count (an int, never a bool) or a number, per kind: named in the reason.
_INT_FIELDS: dict[str, tuple[str, ...]] = {"db": ("concurrency",), "request": ("concurrency",),
                                           "stack": ("concurrency", "workers"), "fault": ("concurrency",)}
_NUMBER_FIELDS: dict[str, tuple[str, ...]] = {"micro": ("ns_median",),
                                              "parallel": ("ops_per_s_1", "ops_per_s_2", "scaling")}


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _wrong_type(kind: str, rec: dict[str, Any]) -> str | None:
    """The first required field of ``rec`` whose value its kind rules out, as ``"<field> <value>"``."""
    for name in _INT_FIELDS.get(kind, ()):
        if not _is_count(rec[name]):
            return f"{name} {rec[name]!r}"
    for name in _NUMBER_FIELDS.get(kind, ()):
        if not isinstance(rec[name], (int, float)) or isinstance(rec[name], bool):
            return f"{name} {rec[name]!r}"
    if kind == "probe" and rec["outcome"] == "ok":
        return _probe_counts(rec)
    return None


def _probe_counts(rec: dict[str, Any]) -> str | None:
    """An ok probe carries its checks, and its violations -- or, reported not judged, ``details.inherited``."""
    if not isinstance(rec.get("checks"), int):
        return f"checks {rec.get('checks')!r}"
    details = rec.get("details")
    reported = rec.get("violations") is None and isinstance(details, dict) and _is_count(details.get("inherited"))
    if not (_is_count(rec.get("violations")) or reported):
        return f"violations {rec.get('violations')!r}"
    return None


def _shape(rec: Any, kinds: frozenset[str] | set[str]) -> str | None:
    """Why the JSON object ``rec`` is not a record of one of ``kinds`` by its required fields, or None."""
    if not isinstance(rec, dict):
        return f"not an object ({type(rec).__name__})"
    kind = rec.get("kind")
    if kind not in kinds or kind not in SCHEMAS:
        return f"unknown kind {kind!r}"
    missing = [name for name in required_fields(kind) if rec.get(name) is None]
    if missing:
        return f"{kind} record without {', '.join(repr(m) for m in missing)}"
    wrong = _wrong_type(kind, rec)
    return None if wrong is None else f"{kind} record with {wrong}"


def check_record(rec: Any, kinds: frozenset[str] | set[str] = RUN_KINDS) -> str | None:
    """Why ``rec`` is not a valid record of one of ``kinds``, or None when it is.

    ``rec`` is a JSON object, or a typed record (checked through its JSON form: a field set by assignment is not
    validated when it is set, so a wrong type shows here).
    """
    try:
        from_json(to_json(rec) if isinstance(rec, Record) else rec, kinds)
    except RecordInvalid as exc:
        return str(exc)
    return None


class RecordInvalid(ValueError):
    """A JSON object that is not a valid record; its message is the one-line reason."""


def from_json(rec: Any, kinds: frozenset[str] | set[str] = frozenset(SCHEMAS)) -> Record:
    """The typed record of the JSON object ``rec`` (a reader's edge); :class:`RecordInvalid` with the reason."""
    reason = _shape(rec, kinds)
    if reason is not None:
        raise RecordInvalid(reason)
    try:
        return msgspec.convert(rec, type=SCHEMAS[rec["kind"]])
    except msgspec.ValidationError as exc:
        raise RecordInvalid(f"{rec['kind']} record: {exc}") from None


def to_json(rec: Record) -> dict[str, Any]:
    """The JSON object of ``rec`` (a writer's edge): ``kind``, the required fields, then the others as set."""
    body = msgspec.to_builtins(rec)
    head = {"kind": body.pop("kind")}
    head.update((name, body.pop(name)) for name in required_fields(head["kind"]))
    return {**head, **body}


def records_from_json(items: Iterable[Any], kinds: frozenset[str] | set[str] = frozenset(SCHEMAS)) -> list[Record]:
    """Every JSON object of ``items`` as its typed record (the first invalid one raises :class:`RecordInvalid`)."""
    return [from_json(item, kinds) for item in items]


def records_to_json(records: Iterable[Record]) -> list[dict[str, Any]]:
    """Every record of ``records`` in its JSON form."""
    return [to_json(rec) for rec in records]
