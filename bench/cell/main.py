"""The child-process entry point: run one cell, write its records, exit.

``python -m bench.cell SPEC_JSON OUT_PATH``.  The parent plans, this process
measures (the pyperf split).  The load is installed first -- gevent patches
before the suite imports a subject -- then the cell's task runs and its records
are written atomically to OUT_PATH as ``{"records": [...], "facts": {...}}``.
A failure inside one probe is recorded against that probe; the process exits 0
whenever it managed to write its output.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.cell.loads import Load


def _error_text(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}".strip().splitlines()[0][:500]


def run_probes(spec: dict[str, Any], load: Load) -> dict[str, Any]:
    """Verify the load, then run each requested probe on one impl."""
    import localimpls
    from bench.cell.loads import LoadMismatch
    from bench.cell.probes import PROBES
    from bench.cell.twin import resolve_subject

    impl, load_name, workers = spec["impl"], spec["load"], spec["workers"]
    base = {"kind": "probe", "impl": impl, "load": load_name, "workers": workers}
    try:
        facts = load.verify()
    except LoadMismatch as exc:
        raise SystemExit(f"load {load_name!r} is not what it claims: {exc}") from None
    records = []
    try:
        factory = resolve_subject(impl)
        factory()  # constructing one must work before any probe starts
    except Exception as exc:
        error = (exc.args[0] if isinstance(exc, localimpls.ImplError)
                 else f"impl {impl!r} failed on construction: {_error_text(exc)}")
        for probe in spec["probes"]:
            records.append({**base, "probe": probe, "outcome": "error", "violations": None, "checks": 0,
                            "error": error})
        return {"records": records, "facts": {"load": facts}}
    for probe in spec["probes"]:
        started = time.perf_counter()
        try:
            result = PROBES[probe](load, factory, workers)
        except Exception as exc:
            records.append({
                **base, "probe": probe, "outcome": "error", "violations": None, "checks": 0,
                "error": f"impl {impl!r} failed under {load_name} in {probe}: {_error_text(exc)}",
                "traceback": traceback.format_exc(),
            })
            continue
        records.append({
            **base, "probe": probe, "outcome": "ok", "violations": result.violations, "checks": result.checks,
            "details": result.details, "duration_s": round(time.perf_counter() - started, 4),
        })
    return {"records": records, "facts": {"load": facts}}


def run_db(spec: dict[str, Any], load: Load, out_path: str) -> dict[str, Any]:
    """A ``db`` or ``request`` cell: connection strategy x load against a real server (:mod:`bench.cell.db`)."""
    from bench.cell.db import run_cell

    return run_cell(spec, load, out_path)


def run_micro(spec: dict[str, Any], load: Load | None, out_path: str) -> dict[str, Any]:
    """A micro-benchmark worker: every subject of the spec timed in this process (:mod:`bench.cell.micro`)."""
    from bench.cell.micro import run_micro_worker

    return run_micro_worker(spec)


def _probes(spec: dict[str, Any], load: Load, out_path: str) -> dict[str, Any]:
    return run_probes(spec, load)


#: Cell task name -> what runs it, called as ``task(spec, load, out_path)``.
TASKS: dict[str, Callable[[dict[str, Any], Any, str], dict[str, Any]]] = {
    "probes": _probes, "db": run_db, "request": run_db, "micro": run_micro,
}


def main(argv: list[str]) -> int:
    """``python -m bench.cell SPEC OUT``: install the load, run the task, write its output atomically to OUT."""
    raw = argv[1]
    if raw.startswith("@"):  # the parent passes the spec in a private file
        with open(raw[1:], encoding="utf-8") as handle:
            raw = handle.read()
    spec = json.loads(raw)
    out_path = argv[2]
    from bench.cell.loads import get_load

    load = get_load(spec["load"]) if spec.get("load") else None
    if load is not None:
        load.install()  # first: gevent patches before any subject is imported
    output = TASKS[spec["task"]](spec, load, out_path)
    from bench.records.io import atomic_write_json

    atomic_write_json(out_path, output)
    return 0
