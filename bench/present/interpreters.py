"""Records by interpreter: which interpreter a record was measured on, and which records a report's main sections use.

A run with ``--python`` measured its cells on several interpreters.  The answer, the Locals, database and request
sections read one of them -- the first the run names (``environment.json`` ``interpreters``), else the first seen
in the records -- so that no table mixes two builds; the free-threading section
(:mod:`bench.present.freethreading`) reads them all.  Records without an interpreter (older runs, the server's
ceiling, the real stack) belong to every interpreter's view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.records.kinds import Record


def interpreter_of(rec: Record) -> str | None:
    """``3.14t`` / ``3.14`` / ``3.11``: the interpreter ``rec`` was measured on, or None when it does not say."""
    name = rec.get("interpreter")
    if isinstance(name, str) and name:
        return name
    version = rec.get("python")
    if isinstance(version, str) and version:
        return ".".join(version.split(".")[:2]) + ("t" if rec.get("free_threaded") else "")
    return None


def interpreters_in(records: Sequence[Record], environment: dict[str, Any] | None = None) -> list[str]:
    """The interpreters of ``records``, in the order the run named them (``environment``), then as first seen."""
    named = [str(i.get("tag")) for i in (environment or {}).get("interpreters") or [] if isinstance(i, dict)]
    seen = [name for name in (interpreter_of(r) for r in records) if name is not None]
    return [name for name in dict.fromkeys([*named, *seen]) if name in seen]


def primary(records: Sequence[Record], environment: dict[str, Any] | None = None) -> list[Record]:
    """The records of the run's first interpreter (and those that name none): what the main sections read."""
    names = interpreters_in(records, environment)
    if len(names) <= 1:
        return list(records)
    return [r for r in records if interpreter_of(r) in (None, names[0])]


def by_interpreter(records: Sequence[Record], environment: dict[str, Any] | None = None) -> dict[str, list[Record]]:
    """``{interpreter: its records (and those that name none)}``; ``{"": records}`` when there are not several."""
    names = interpreters_in(records, environment)
    if len(names) <= 1:
        return {"": list(records)}
    return {name: [r for r in records if interpreter_of(r) in (None, name)] for name in names}
