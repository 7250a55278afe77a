"""A run directory: ``results/<run-id>/``, one file per finished cell, resumable.

Layout::

    results/<run-id>/
        run.json            the plan: options and every cell id, written first
        environment.json    the fingerprint (rewritten at the end with end-of-run facts)
        cells/<cell-id>.json  {"schema", "cell", "records": [...]}, written atomically when the cell ends
        charts/             drawn from the cell files only
        report.html, REPORT.md

A cell's file exists only once the cell has finished, so after a Ctrl-C, a
crash or a killed cell the directory holds exactly what was finished, and
``--resume <run-id>`` runs only the cells whose files are missing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.plan.cells import Planned
from bench.records.io import SCHEMA_VERSION, RecordError, atomic_write_json, read_json
from bench.records.kinds import Record
from bench.records.schema import RecordInvalid, records_from_json, records_to_json


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


class RunDir:
    """One run's directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cells = path / "cells"
        self.charts = path / "charts"

    @classmethod
    def create(cls, root: Path, run_id: str | None = None) -> RunDir:
        run_id = run_id or new_run_id()
        path = root / run_id
        suffix = 1
        while path.exists():  # two runs started in the same second
            suffix += 1
            path = root / f"{run_id}-{suffix}"
        try:
            (path / "cells").mkdir(parents=True)
        except OSError as exc:
            raise UsageError(f"cannot create the run directory {path}: {exc.strerror or exc}") from None
        return cls(path)

    @classmethod
    def open_existing(cls, root: Path, run_id: str) -> RunDir:
        path = Path(run_id) if Path(run_id).is_dir() and "/" in run_id else root / run_id
        if not (path / "run.json").exists():
            raise UsageError(f"no run {run_id!r} to resume under {root} (no run.json)")
        return cls(path)

    @property
    def run_id(self) -> str:
        return self.path.name

    def write_plan(self, plan: dict[str, Any]) -> None:
        atomic_write_json(self.path / "run.json", {"schema": SCHEMA_VERSION, **plan})

    def read_plan(self) -> dict[str, Any]:
        try:
            plan = read_json(self.path / "run.json")
        except RecordError as exc:
            raise UsageError(str(exc)) from None
        if plan.get("schema") != SCHEMA_VERSION:
            raise UsageError(f"{self.path / 'run.json'}: schema version {plan.get('schema')!r}, "
                             f"this ctxbench reads {SCHEMA_VERSION}")
        return plan

    def write_environment(self, environment: dict[str, Any]) -> None:
        atomic_write_json(self.path / "environment.json", environment)

    def cell_path(self, cid: str) -> Path:
        return self.cells / f"{cid}.json"

    def write_cell(self, cid: str, records: list[Record], **extra: Any) -> None:
        """The cell's file, written atomically (the writers' edge: each record in its JSON form)."""
        document = {"schema": SCHEMA_VERSION, "cell": cid, **extra, "records": records_to_json(records)}
        atomic_write_json(self.cell_path(cid), document)

    def write(self, cell: Planned, records: list[Record], **extra: Any) -> None:
        """The pipeline's sink: the cell's file, written atomically."""
        self.write_cell(cell.id, records, **extra)

    def stored(self, cid: str) -> list[Record] | None:
        """The records of a finished cell (typed: a reader's edge), or None when its file is missing or unreadable."""
        try:
            doc = read_json(self.cell_path(cid))
        except RecordError:
            return None
        records = doc.get("records") if isinstance(doc, dict) else None
        if not isinstance(records, list):
            return None
        try:
            return records_from_json(records)
        except RecordInvalid:
            return None

    def is_done(self, cid: str) -> bool:
        """A cell is finished when its file is readable -- unless it only says 'skipped' (no server then)."""
        records = self.stored(cid)
        if records is None:
            return False
        return not records or not all(getattr(r, "outcome", None) == "skipped" for r in records)
