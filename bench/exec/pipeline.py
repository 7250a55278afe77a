"""The one pipeline: run planned cells, each in a fresh process, into a record sink.

Every command that measures (``locals``, ``db``, ``run``, ``regress``) plans a list of
:class:`~bench.plan.cells.Planned` cells and hands it to :class:`Pipeline`, which runs them in
plan order (probes, micro-benchmarks and ceilings first) and gives each cell's records, marked with the
planned cell's ``repeat``, to a :class:`Sink` the moment the cell ends: a run
directory (one file per cell, resumable) or a :class:`MemorySink` (records in memory, optionally
rewritten to one JSON document after every cell).  Probe cells time nothing, so ``jobs`` of them run
at once; everything that measures runs alone.  Database cells need a server target; without one
they are recorded ``skipped`` through the same sink.  So do real-stack cells, which are also recorded
``skipped`` (and the reason logged once) when the ``stack`` extra is not installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench.exec import dbcell, dbcell_group, netpath
from bench.exec.progress import CellProgress
from bench.exec.spawn import CellResult, run_cells
from bench.plan.cells import Cell, Planned, Timing
from bench.plan.matrix import PROBE_CELL_TIMEOUT, db_cell_timeout
from bench.plan.specs import CeilingSpec, DbSpec, MicroSpec, ParallelSpec, StackSpec
from bench.records.io import atomic_write_json, results_document
from bench.records.kinds import (
    UNSET,
    CeilingRecord,
    DbRecord,
    ProbeRecord,
    Record,
    RequestRecord,
    StackRecord,
    known,
)
from bench.records.scrub import scrub

log = logging.getLogger(__name__)

#: Kinds of cell that need a server.
DB_KINDS = ("ceiling", "db", "request", "stack")


class Sink(Protocol):
    """Where a finished cell's records go."""

    def write(self, cell: Planned, records: list[Record], **extra: Any) -> None: ...


@dataclass
class MemorySink:
    """Records in memory, in the order cells finish; with ``path``, a results document rewritten after each cell."""

    path: Path | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    #: Kinds of cell whose records are not kept (``db`` keeps ceilings inside each database record).
    exclude: tuple[str, ...] = ()
    records: list[Record] = field(default_factory=list)

    def write(self, cell: Planned, records: list[Record], **extra: Any) -> None:
        if cell.kind in self.exclude:
            return
        self.records.extend(records)
        self.save()

    def save(self) -> None:
        """Rewrite the document (atomically) with every record so far; nothing without a path."""
        if self.path is not None:
            atomic_write_json(self.path, results_document(self.environment, self.records))


@dataclass
class Pipeline:
    """Runs planned cells into ``sink``; collects error lines (each once) and what each load verified."""

    sink: Sink
    title: str = "run"
    jobs: int = 2
    quiet: bool = False
    #: The server for database cells (a ServerTarget), or None: those cells are recorded ``skipped``.
    target: Any = None
    #: Or how to get one: entered just before the first database cell, left when the run ends.
    server: Callable[[], AbstractContextManager[Any]] | None = None
    #: Extra ``pymysql.connect`` keywords for every database cell.
    connect_options: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    load_facts: dict[str, Any] = field(default_factory=dict)
    #: The ceiling at each concurrency: measured by this pipeline's ceiling cells, or preloaded on resume.
    ceilings: dict[int, list[float] | None] = field(default_factory=dict)
    _bar: CellProgress | None = None
    _warned_stack: bool = False
    _warned_drivers: set[str] = field(default_factory=set)

    def run(self, cells: Sequence[Planned]) -> list[str]:
        """Run ``cells`` (probe cells ``jobs`` at a time); return the error lines.

        Probes, micro-benchmarks and ceilings first, by kind (a database cell needs its ceiling); then the measured
        cells (db, request, stack) in plan order, so that the rounds of a repeated plan stay interleaved.
        """
        runners: dict[str, Callable[[list[Planned]], None]] = {
            "probes": self._probes, "micro": self._micro, "parallel": self._parallel, "ceiling": self._ceiling,
            "db": self._db, "request": self._db, "stack": self._stack,
        }
        with ExitStack() as stack, CellProgress(len(cells), self.title, quiet=self.quiet) as self._bar:
            for kind, batch in batches(cells):
                if kind in DB_KINDS and self.target is None and self.server is not None:
                    self.target = stack.enter_context(self.server())
                    self.server = None
                runners[kind](batch)
        return self.errors

    def error(self, line: str) -> None:
        """An error line, logged once however often it recurs."""
        if self.target is not None:
            line = scrub(line, self.target.password)
        if line not in self.errors:
            self.errors.append(line)
            log.error(line)

    def _finished(self, cell: Planned, records: list[Record], status: str = "", **extra: Any) -> None:
        if self.target is not None:
            records = scrub(records, self.target.password)
        # Which measurement of the cell this was: the planned cell's repeat, on every record that measures a speed.
        records = [r.replace(repeat=cell.repeat) if isinstance(r, MEASURED_RECORDS) else r for r in records]
        planned = getattr(cell.spec, "interpreter", None)
        records = on_interpreter(records, planned)
        ran = {r.get("interpreter") for r in records} - {None, planned}
        if isinstance(planned, str) and ran:
            self.error(f"cell {cell.label}: planned on {planned}, ran on {', '.join(sorted(ran))}")
        self.sink.write(cell, records, **extra)
        assert self._bar is not None
        self._bar.finished(cell.label, status)

    def _probes(self, cells: list[Planned]) -> None:
        by_spec = {id(c.spec): c for c in cells}

        def done(result: CellResult) -> None:
            cell = by_spec[id(result.spec)]
            if result.failure:
                self.error(f"cell {cell.label}: {result.failure}")
            for rec in result.records:
                if isinstance(rec, ProbeRecord) and rec.outcome == "error" and rec.error:
                    self.error(rec.error)
            if "load" in result.facts:
                on = getattr(cell.spec, "interpreter", None)
                key = f"{cell.spec.load} [{on}]" if isinstance(on, str) else cell.spec.load  # type: ignore[union-attr]
                self.load_facts[key] = result.facts["load"]
            bad = sum(1 for r in result.records if isinstance(r, ProbeRecord) and r.violations)
            self._finished(cell, result.records, f"{bad} probe(s) with violations" if bad else "", facts=result.facts)

        assert self._bar is not None
        self._bar.running("probe cells")
        run_cells([c.spec for c in cells], timeout=PROBE_CELL_TIMEOUT, jobs=self.jobs, on_done=done)

    def _micro(self, cells: list[Planned]) -> None:
        from bench.exec.micro import run_micro_spec

        assert self._bar is not None
        for cell in cells:
            self._bar.running(cell.label)
            spec = cell.spec
            assert isinstance(spec, MicroSpec)
            records, errors = run_micro_spec(spec, progress=self._bar.running)
            for line in errors:
                self.error(line)
            self._finished(cell, records, errors=errors)

    def _parallel(self, cells: list[Planned]) -> None:
        from bench.exec.parallel import run_parallel

        assert self._bar is not None
        for cell in cells:
            self._bar.running(cell.label)
            spec = cell.spec
            assert isinstance(spec, ParallelSpec)
            records, errors = run_parallel(spec, progress=self._bar.running)
            for line in errors:
                self.error(line)
            self._finished(cell, records, errors=errors)

    def _ceiling(self, cells: list[Planned]) -> None:
        assert self._bar is not None
        for cell in cells:
            assert isinstance(cell.spec, CeilingSpec)
            c = cell.spec.concurrency
            if self.target is None:
                self._finished(cell, [CeilingRecord(concurrency=c, outcome="skipped", ops_per_s=None)], "skipped")
                continue
            self._bar.running(cell.label)
            try:
                values = dbcell.measure_ceiling(self.target, c)
            except Exception as exc:  # mysqlslap failing is reported; the matrix still runs
                values = None
                self.error(f"mysqlslap ceiling at concurrency {c}: {exc}".splitlines()[0])
            self.ceilings[c] = values
            rec = dbcell.ceiling_record(c, values)
            log.info("ceiling c=%s: %s queries/s (best of %s; mysqlslap, %s)", c, rec.ops_per_s, values, rec.query)
            self._finished(cell, [rec], f"{rec.ops_per_s} queries/s" if values else "no mysqlslap")

    def _db(self, cells: list[Planned]) -> None:
        assert self._bar is not None
        best = {c: (max(v) if v else None) for c, v in self.ceilings.items()}
        for cell in cells:
            spec = cell.spec
            assert isinstance(spec, DbSpec)
            db = Cell.from_spec(spec)
            if self.target is None:
                self._finished(cell, [dbcell.stub_record(db, "skipped", "no MySQL-protocol server")], "skipped")
                continue
            absent = self._driver_missing(db.driver)
            if absent:
                self._finished(cell, [dbcell.stub_record(db, "skipped", absent)], "skipped")
                continue
            self._bar.running(cell.label)
            rec, problem = self._db_cell(db, spec, dbcell.Ceilings(best, self.ceilings))
            if problem:
                self.error(problem)
            self._finished(cell, [rec], dbcell.brief(rec))

    def _driver_missing(self, driver: str | None) -> str | None:
        """Why ``driver`` is not installed here (its cells are recorded skipped, said once as a warning), or None."""
        from bench.cell.drivers import missing

        why = missing(driver) if driver is not None else None
        if why and driver not in self._warned_drivers:
            self._warned_drivers.add(str(driver))
            log.warning("cells over driver %s are recorded as skipped: %s", driver, why)
        return why

    def _db_cell(self, db: Cell, spec: DbSpec,
                 ceilings: dbcell.Ceilings) -> tuple[DbRecord | RequestRecord, str | None]:
        """One db or request cell; with a round trip (``--rtt``) over a delay proxy (or direct at 0), the round trip
        measured first and the proxy ended with the cell."""
        timing = Timing(spec.duration, spec.warmup, spec.watchdog, spec.mix or None)
        limit = db_cell_timeout(spec.duration, spec.warmup, spec.watchdog, db.processes)
        run = dbcell.run_one if db.processes == 1 else dbcell_group.run_many

        def measure(via: Any) -> tuple[DbRecord | RequestRecord, str | None]:
            task = dbcell.cell_task(self.target, db, timing, connect_options=self.connect_options, via=via)
            return run(self.target, db, task, limit=limit, ceilings=ceilings)

        if db.rtt_ms is None:
            return measure(self.target)
        waiting = netpath.in_flight(db.strategy, db.load, db.total_concurrency, db.processes)
        return netpath.run_over(self.target, db.rtt_ms, waiting, measure,
                                lambda why: dbcell.stub_record(db, "errors", why, errors={"network-path": 1}))

    def _stack(self, cells: list[Planned]) -> None:
        from bench.exec.stackcell import run_stack_cell
        from bench.webstack import missing_extra

        assert self._bar is not None
        missing = missing_extra()
        if missing and not self._warned_stack:
            log.warning("real-stack cells are recorded as skipped: %s", missing)
            self._warned_stack = True
        reason = missing or ("no MySQL-protocol server" if self.target is None else None)
        for cell in cells:
            assert isinstance(cell.spec, StackSpec)
            why = reason or one_process_reason(cell.spec)
            if why:
                self._finished(cell, [stack_stub(cell.spec, "skipped", why)], "skipped")
                continue
            self._bar.running(cell.label)
            spec = cell.spec
            if spec.rtt is None:
                rec, problem = run_stack_cell(self.target, spec)
            else:  # the app servers reach the database over a delay proxy (or directly at 0)
                waiting = netpath.in_flight(spec.strategy, stack_model_load(spec), spec.concurrency, spec.workers)
                rec, problem = netpath.run_over(self.target, spec.rtt, waiting,
                                                lambda via, spec=spec: run_stack_cell(via, spec),
                                                lambda why, spec=spec: stack_stub(spec, "error", why))
            if problem:
                self.error(problem)
            self._finished(cell, [rec], stack_brief(rec))


#: Records that measure a speed, and so say which measurement of their cell they are (``repeat``).
MEASURED_RECORDS = (DbRecord, RequestRecord, StackRecord)
#: Kinds of cell run before the measured ones, kind by kind in this order.
SETUP_KINDS = ("probes", "micro", "parallel", "ceiling")


def batches(cells: Sequence[Planned]) -> list[tuple[str, list[Planned]]]:
    """``cells`` as (kind, cells) batches in the order they run: the probe, micro and ceiling cells kind by kind
    (probe cells run together, and every ceiling before the database cells that read it), then each run of
    consecutive measured cells of one kind, in plan order."""
    out: list[tuple[str, list[Planned]]] = []
    for kind in SETUP_KINDS:
        batch = [c for c in cells if c.kind == kind]
        if batch:
            out.append((kind, batch))
    for cell in cells:
        if cell.kind in SETUP_KINDS:
            continue
        if out and out[-1][0] == cell.kind:
            out[-1][1].append(cell)
        else:
            out.append((cell.kind, [cell]))
    return out


def on_interpreter(records: list[Record], interpreter: Any) -> list[Record]:
    """``records`` of a cell planned on ``interpreter`` (``--python``; None: the parent's) each naming it, so that
    a record the cell could not stamp itself (skipped, hung, crashed) still says where it was planned."""
    if not isinstance(interpreter, str):
        return records
    return [r.replace(interpreter=interpreter) if "interpreter" in r.__struct_fields__ and not r.get("interpreter")
            else r for r in records]


def stack_stub(spec: StackSpec, outcome: str, reason: str) -> StackRecord:
    """The record of a real-stack cell that did not run (``skipped``): its coordinates, the reason, no counts."""
    from bench.webstack.servers import SERVERS

    info = SERVERS.get(spec.server)
    return StackRecord(server=spec.server, workers=spec.workers, impl=spec.impl, strategy=spec.strategy,
                       concurrency=spec.concurrency, model_load=info.model_load if info else None, duration_s=None,
                       outcome=outcome, reason=reason, ops_per_s=None,
                       rtt_set_ms=UNSET if spec.rtt is None else spec.rtt)


def stack_model_load(spec: StackSpec) -> str:
    """The in-process load of a stack cell's server (its strategies are built as under that load)."""
    from bench.webstack.servers import SERVERS

    info = SERVERS.get(spec.server)
    return info.model_load if info is not None else "threads"


def one_process_reason(spec: StackSpec) -> str | None:
    """Why a stack cell cannot run as planned: a one-process server asked for several worker processes (else None)."""
    from bench.webstack.servers import SERVERS

    info = SERVERS.get(spec.server)
    if info is None or info.multi_process or spec.workers == 1:
        return None
    return f"server {info.name} runs one process: {spec.workers} worker processes need a gunicorn server"


def stack_brief(rec: StackRecord) -> str:
    """One line on a finished real-stack cell, for the progress display."""
    http = sum((rec.http_errors or {}).values())
    client = sum((rec.client_errors or {}).values())
    return (f"{rec.outcome}, {known(rec.ops_per_s)} req/s, wrong local {known(rec.wrong_local)}, "
            f"silent wrong {known(rec.silent_wrong)}, http errors {http}, client errors {client}")
