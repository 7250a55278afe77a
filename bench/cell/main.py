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

from msgspec import UNSET

from bench.plan.specs import DbTask, MicroTask, ParallelTask, ProbesSpec, task_from_json

if TYPE_CHECKING:
    from bench.cell.loads import Load


def _error_text(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}".strip().splitlines()[0][:500]


def run_probes(spec: ProbesSpec, load: Load) -> dict[str, Any]:
    """Verify the load, then run each requested probe on one impl; the output with its typed records."""
    import localimpls
    from bench.cell.base_subject import resolve_subject
    from bench.cell.loads import LoadMismatch
    from bench.cell.probes import PROBES
    from bench.records.kinds import ProbeRecord

    try:
        facts = load.verify()
    except LoadMismatch as exc:
        raise SystemExit(f"load {spec.load!r} is not what it claims: {exc}") from None

    def failed(probe: str, error: str, trace: Any = UNSET) -> ProbeRecord:
        return ProbeRecord(impl=spec.impl, load=spec.load, workers=spec.workers, probe=probe, outcome="error",
                           violations=None, checks=0, error=error, traceback=trace)

    try:
        factory = resolve_subject(spec.impl)
        factory()  # constructing one must work before any probe starts
    except Exception as exc:
        error = (exc.args[0] if isinstance(exc, localimpls.ImplError)
                 else f"impl {spec.impl!r} failed on construction: {_error_text(exc)}")
        return {"records": [failed(probe, error) for probe in spec.probes], "facts": {"load": facts}}
    records = []
    for probe in spec.probes:
        started = time.perf_counter()
        try:
            result = PROBES[probe](load, factory, spec.workers)
        except Exception as exc:
            error = f"impl {spec.impl!r} failed under {spec.load} in {probe}: {_error_text(exc)}"
            records.append(failed(probe, error, traceback.format_exc()))
            continue
        records.append(ProbeRecord(
            impl=spec.impl, load=spec.load, workers=spec.workers, probe=probe, outcome="ok",
            violations=result.violations, checks=result.checks, details=result.details,
            duration_s=round(time.perf_counter() - started, 4)))
    return {"records": records, "facts": {"load": facts}}


def run_db(spec: DbTask, load: Load, out_path: str) -> dict[str, Any]:
    """A ``db`` or ``request`` cell: connection strategy x load against a real server (:mod:`bench.cell.db`)."""
    from bench.cell.db import run_cell

    return run_cell(spec, load, out_path)


def run_micro(spec: MicroTask, load: Load | None, out_path: str) -> dict[str, Any]:
    """A micro-benchmark worker: every subject of the spec timed in this process (:mod:`bench.cell.micro`)."""
    from bench.cell.micro import run_micro_worker

    return run_micro_worker(spec)


def run_parallel(spec: ParallelTask, load: Load | None, out_path: str) -> dict[str, Any]:
    """One process of the 1-thread / 2-thread cell (:mod:`bench.cell.micro.parallel`)."""
    from bench.cell.micro.parallel import run_parallel_worker

    return run_parallel_worker(spec)


def _probes(spec: ProbesSpec, load: Load, out_path: str) -> dict[str, Any]:
    return run_probes(spec, load)


#: Cell task name -> what runs it, called as ``task(spec, load, out_path)``.
TASKS: dict[str, Callable[[Any, Any, str], dict[str, Any]]] = {
    "probes": _probes, "db": run_db, "request": run_db, "micro": run_micro, "parallel": run_parallel,
}


def _stamped(output: dict[str, Any]) -> dict[str, Any]:
    """``output`` with the interpreter's facts, read now that the cell has imported and run everything: under
    ``facts`` and on every record (its JSON form is written after this)."""
    from bench.cell.interpreter import facts
    from bench.records.kinds import Record

    interpreter = facts()
    output.setdefault("facts", {})["interpreter"] = interpreter
    records = output.get("records")
    if records is not None:
        output["records"] = [r.replace(**interpreter) if isinstance(r, Record) and "gil" in r.__struct_fields__ else r
                             for r in records]
    return output


def main(argv: list[str]) -> int:
    """``python -m bench.cell SPEC OUT``: install the load, run the task, write its output atomically to OUT."""
    raw = argv[1]
    if raw.startswith("@"):  # the parent passes the spec in a private file
        with open(raw[1:], encoding="utf-8") as handle:
            raw = handle.read()
    task = task_from_json(json.loads(raw))  # the cell's edge: the spec is typed from here on
    out_path = argv[2]
    from bench.cell.interpreter import free_threaded, watch_gil

    watch_gil()  # before the load installs: gevent's import is what turns the GIL back on
    if free_threaded():  # the histograms' C helper would turn it back on too: its pure-Python twin stands in
        from bench.records.hdrcodec import install

        install()
    from bench.cell.loads import get_load

    load = get_load(task.load) if getattr(task, "load", None) else None
    if load is not None:
        load.install()  # first: gevent patches before any subject is imported
    output = _stamped(TASKS[task.task](task, load, out_path))
    from bench.records.io import atomic_write_json
    from bench.records.kinds import Record
    from bench.records.schema import to_json

    records = output.get("records")
    if records is not None:  # and the records' JSON form: the other half of the cell's edge
        output["records"] = [to_json(r) if isinstance(r, Record) else r for r in records]
    atomic_write_json(out_path, output)
    return 0
