"""Reading what a run left behind, tolerantly: every record that can be read is kept, every problem is named.

:func:`load_records` reads results documents (``{"schema", "environment", "records"}``) and run
directories (``environment.json``, ``run.json`` -- the plan -- and ``cells/*.json``, each
``{"schema", "cell", "records"}``).  A missing, empty, truncated or malformed file, a file of another
schema version, a planned cell whose file is absent, or a record that does not meet its kind's schema
(:func:`bench.records.schema.check_record`) is one line in ``problems`` (file and reason); every other
record is returned as its typed record (:mod:`bench.records.kinds`): this is the readers' edge.
When several sources carry an environment, the first one's values win and the
others fill gaps.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.records.io import RecordError, read_json, read_results
from bench.records.kinds import Record
from bench.records.schema import RUN_KINDS, SCHEMA_VERSION, RecordInvalid, from_json

#: Files of a run directory that are not results documents (answer.json: the report's answer, written beside them).
RUN_DIR_FILES: frozenset[str] = frozenset({"environment.json", "run.json", "answer.json"})

Sources = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def keep_valid(source: str, records: Iterable[Any], problems: list[str]) -> list[Record]:
    """The records of ``source`` that meet their schema, typed (the reader's edge); a ``problems`` line per other.

    A record that is already typed is kept as it is if its kind is one a run holds.
    """
    kept: list[Record] = []
    for index, rec in enumerate(records):
        try:
            if isinstance(rec, Record):
                if rec.kind not in RUN_KINDS:
                    raise RecordInvalid(f"unknown kind {rec.kind!r}")
                kept.append(rec)
            else:
                kept.append(from_json(rec, RUN_KINDS))
        except RecordInvalid as exc:
            problems.append(f"{source}: record {index}: {exc}; skipped")
    return kept


def _read_cell_file(path: Path) -> list[Any]:
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("records"), list):
        raise RecordError(f"{path}: not a ctxbench cell file (no 'records' list)")
    if doc.get("schema") != SCHEMA_VERSION:
        raise RecordError(f"{path}: schema version {doc.get('schema')!r}, this ctxbench reads {SCHEMA_VERSION}")
    return list(doc["records"])


def _planned_cells(plan: Any) -> list[str]:
    """Cell ids a run directory's ``run.json`` lists under ``cells`` (ids, or objects with an ``id``); [] when none."""
    cells = plan.get("cells") if isinstance(plan, dict) else None
    if not isinstance(cells, list):
        return []
    ids = [c if isinstance(c, str) else c.get("id") if isinstance(c, dict) else None for c in cells]
    return [i for i in ids if isinstance(i, str) and i]


def _merge_environment(into: dict[str, Any], more: Any) -> None:
    if isinstance(more, dict):
        for key, value in more.items():
            into.setdefault(key, value)


def _read_environment(path: Path, environment: dict[str, Any], problems: list[str]) -> None:
    """Merge a run directory's ``environment.json`` into ``environment`` (a problem line if it cannot be read)."""
    env_path = path / "environment.json"
    if env_path.exists():
        try:
            env = read_json(env_path)
            if not isinstance(env, dict):
                raise RecordError(f"{env_path}: not a JSON object")
            _merge_environment(environment, env)
        except RecordError as exc:
            problems.append(str(exc))
    elif (path / "cells").is_dir():
        problems.append(f"{env_path}: missing (the environment is unknown)")


def _missing_planned(path: Path, problems: list[str]) -> None:
    """One problem line per cell ``run.json`` plans whose file is not in ``cells/``."""
    plan_path = path / "run.json"
    if not plan_path.exists():
        return
    cells_dir = path / "cells"
    try:
        planned = _planned_cells(read_json(plan_path))
    except RecordError as exc:
        problems.append(f"{exc} (the plan: missing cells cannot be named)")
        planned = []
    for cid in planned:
        if not (cells_dir / f"{cid}.json").exists():
            problems.append(f"{cells_dir / f'{cid}.json'}: missing (planned in run.json, the cell did not finish)")


def _read_run_dir(path: Path, environment: dict[str, Any],
                  problems: list[str]) -> tuple[list[Record], list[Path]]:
    """The records of a run directory's cells, and the results documents beside them (read by the caller)."""
    cells_dir = path / "cells"
    _read_environment(path, environment, problems)
    records: list[Record] = []
    for cell_path in sorted(cells_dir.glob("*.json")) if cells_dir.is_dir() else []:
        try:
            records += keep_valid(str(cell_path), _read_cell_file(cell_path), problems)
        except RecordError as exc:
            problems.append(f"{exc}; skipped")
    _missing_planned(path, problems)
    documents = sorted(p for p in path.glob("*.json") if p.name not in RUN_DIR_FILES)
    if not documents and not cells_dir.is_dir() and not (path / "environment.json").exists():
        problems.append(f"{path}: no results here (no environment.json, cells/ or results file)")
    return records, documents


def load_records(paths_or_dir: Sources) -> tuple[dict[str, Any], list[Record], list[str]]:
    """``(environment, records, problems)`` from results documents and/or run directories.

    A run directory holds ``environment.json`` and ``cells/*.json`` (and ``run.json``, the plan:
    a planned cell without its file is named as missing); any other ``*.json`` directly inside it
    is read as a results document.
    """
    sources = [paths_or_dir] if isinstance(paths_or_dir, (str, os.PathLike)) else list(paths_or_dir)
    environment: dict[str, Any] = {}
    records: list[Record] = []
    problems: list[str] = []
    for source in sources:
        path = Path(source)
        documents = [path]
        if path.is_dir():
            cell_records, documents = _read_run_dir(path, environment, problems)
            records += cell_records
        for doc_path in documents:
            try:
                doc = read_results(doc_path)
            except RecordError as exc:
                problems.append(f"{exc}; skipped")
                continue
            _merge_environment(environment, doc.get("environment"))
            records += keep_valid(str(doc_path), doc["records"], problems)
    return environment, records, problems
