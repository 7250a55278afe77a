"""Stored files: atomic writes, and reading one JSON file or results document with a named reason on failure.

A record is a flat JSON object with a ``kind`` and the fields that kind promises
(:mod:`bench.records.schema`).  A results file is ``{"schema": N, "environment": {...},
"records": [...]}``.  Files are written to a temporary name in the same directory and
renamed over the target, so a reader never sees half a file and a crash never destroys
the previous version.  Reading a whole run (directories, several files) is :mod:`bench.records.read`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.records.kinds import Record
from bench.records.schema import SCHEMA_VERSION, records_to_json

__all__ = [
    "SCHEMA_VERSION", "RecordError", "atomic_write_json", "atomic_write_text", "read_json", "read_results",
    "results_document",
]


class RecordError(Exception):
    """A stored file is missing, truncated, malformed or from another schema."""


def _file_mode() -> int:
    """0666 less the process umask: the mode ``open()`` would give a new file.

    Read from ``/proc/self/status`` where there is one: setting the umask to
    read it back would, for a moment, change it for every thread.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            mask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0)
        os.umask(mask)
    return 0o666 & ~mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never a mix.

    A temporary file in the same folder, flushed to disk, then renamed over
    ``path``: an interrupt or a crash at any moment leaves the previous file whole.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _file_mode())  # mkstemp makes it 0600; a results file is as readable as any other the user writes
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (see :func:`atomic_write_text`)."""
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=False, default=str) + "\n")


def results_document(environment: dict[str, Any], records: list[Record]) -> dict[str, Any]:
    """The JSON document a results file holds (the writers' edge: each record in its JSON form)."""
    return {"schema": SCHEMA_VERSION, "environment": environment, "records": records_to_json(records)}


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse one JSON file; raise RecordError naming the file and the reason."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordError(f"{p}: missing") from None
    except OSError as exc:
        raise RecordError(f"{p}: unreadable ({exc.strerror})") from None
    if not text.strip():
        raise RecordError(f"{p}: empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # Our files always end with their closing bracket: a file that stops
        # before it (a crash mid-write by something else, a copy cut short) is truncated.
        stripped = text.rstrip()
        truncated = exc.pos >= len(stripped) or not stripped.endswith(("}", "]"))
        reason = "truncated" if truncated else "malformed"
        raise RecordError(f"{p}: {reason} JSON ({exc.msg} at line {exc.lineno})") from None


def read_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a results document and check its schema version."""
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("records"), list):
        raise RecordError(f"{path}: not a ctxbench results file (no 'records' list)")
    schema = doc.get("schema")
    if schema != SCHEMA_VERSION:
        raise RecordError(f"{path}: schema version {schema!r}, this ctxbench reads {SCHEMA_VERSION}")
    return doc
