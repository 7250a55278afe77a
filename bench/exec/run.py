"""``ctxbench run``: the whole matrix into one run directory, resumable, then charts and report.

The parent plans every cell up front and writes the plan (``run.json``); each
cell then runs in a fresh process and its records land in ``cells/<id>.json``
the moment it ends.  Nothing else holds results, so an interrupted run keeps
every finished cell and ``--resume`` runs only the missing ones (a database
cell recorded as skipped for want of a server counts as missing).  Charts and
the report are drawn from the cell files alone, after the last cell.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.exec import db as dbrun
from bench.plan import matrix
from bench.exec.session import DbSelection, open_server
from bench.records.environment import fingerprint, load_average
from bench.exec.locals import probe_specs
from bench.plan.matrix import LocalsPlan
from bench.exec.progress import CellProgress
from bench.exec.rundir import RunDir, cell_id
from bench.exec.spawn import CellResult, run_cells


@dataclass(frozen=True)
class Planned:
    """One cell of a run: its id, kind and what the runner needs to run it."""

    id: str
    kind: str  # probes | micro | ceiling | db | request
    label: str
    spec: dict[str, Any]


@dataclass
class RunOutcome:
    run_dir: RunDir
    ran: int = 0
    errors: list[str] | None = None
    problems: list[str] | None = None


def plan_run(locals_plan: LocalsPlan | None, db: DbSelection | None, *, quick: bool) -> list[Planned]:
    """Every cell of the run, in the order they run."""
    cells: list[Planned] = []
    if locals_plan is not None:
        for spec in probe_specs(locals_plan):
            cells.append(Planned(cell_id("probes", spec["impl"], spec["load"]), "probes", f"probes {spec['impl']} x {spec['load']}", spec))
        if locals_plan.micro:
            micro = {"impls": list(locals_plan.impls), "processes": locals_plan.micro_processes, "values": locals_plan.micro_values,
                     "min_time": matrix.MICRO_QUICK_MIN_TIME if quick else matrix.MICRO_MIN_TIME}
            cells.append(Planned("micro", "micro", "micro-benchmarks", micro))
    if db is not None:
        db_cells = dbrun.plan(strategies=db.strategies, loads=db.loads, concurrency=db.concurrency,
                              impls_for_request=db.request_impls, request_strategies=db.request_strategies)
        for c in sorted({cell.concurrency for cell in db_cells}):
            cells.append(Planned(cell_id("ceiling", f"c{c}"), "ceiling", f"server ceiling c={c} (mysqlslap)", {"concurrency": c}))
        timing = {"duration": db.duration, "warmup": db.warmup, "hang_after": db.hang_after}
        for cell in db_cells:
            cid = cell_id(cell.kind, cell.impl, cell.strategy, cell.load, f"c{cell.concurrency}")
            spec = {"kind": cell.kind, "strategy": cell.strategy, "load": cell.load, "concurrency": cell.concurrency, "impl": cell.impl, **timing}
            cells.append(Planned(cid, cell.kind, cell.label(), spec))
    return cells


def _db_cell(spec: dict[str, Any]) -> dbrun.Cell:
    return dbrun.Cell(spec["kind"], spec["strategy"], spec["load"], spec["concurrency"], spec.get("impl"))


def _is_done(run_dir: RunDir, cid: str) -> bool:
    """A cell is finished when its file is readable -- unless it only says 'skipped' (no server then)."""
    from bench.records.io import RecordError, read_json

    try:
        doc = read_json(run_dir.cell_path(cid))
    except RecordError:
        return False
    records = doc.get("records") if isinstance(doc, dict) else None
    if not isinstance(records, list):
        return False
    return not records or not all(r.get("outcome") == "skipped" for r in records)


def execute(run_dir: RunDir, cells: list[Planned], *, mysql_url: str | None, jobs: int = 2, quiet: bool = False,
            log: Callable[[str], None] | None = None) -> RunOutcome:
    """Run every cell of ``cells`` that ``run_dir`` does not hold yet; then draw charts and write the report."""
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    outcome = RunOutcome(run_dir, errors=[], problems=[])
    todo = [c for c in cells if not _is_done(run_dir, c.id)]
    if len(todo) < len(cells):
        say(f"resuming {run_dir.run_id}: {len(cells) - len(todo)} of {len(cells)} cells already finished, {len(todo)} to run")
    environment = fingerprint()
    environment["run_id"] = run_dir.run_id
    run_dir.write_environment(environment)
    errors = outcome.errors
    assert errors is not None

    def error(line: str) -> None:
        if line not in errors:
            errors.append(line)
            bar.log(f"ctxbench: error: {line}")

    with CellProgress(len(todo), "run", quiet=quiet) as bar:
        _run_probes(run_dir, [c for c in todo if c.kind == "probes"], jobs, bar, error)
        for cell in (c for c in todo if c.kind == "micro"):
            _run_micro(run_dir, cell, bar, error)
        db_todo = [c for c in todo if c.kind in ("ceiling", "db", "request")]
        if db_todo:
            with open_server(mysql_url, environment, quiet=quiet) as target:
                run_dir.write_environment(environment)
                _run_db(run_dir, cells, db_todo, target, bar, error)
    outcome.ran = len(todo)
    environment["load_average_end"] = load_average()
    run_dir.write_environment(environment)
    say("drawing charts and writing the report")
    from bench.present.report import render_report

    _page, _md, problems = render_report(run_dir.path, run_dir.path)
    outcome.problems = problems
    return outcome


def _run_probes(run_dir: RunDir, cells: list[Planned], jobs: int, bar: CellProgress, error: Callable[[str], None]) -> None:
    by_spec = {id(c.spec): c for c in cells}

    def done(result: CellResult) -> None:
        cell = by_spec[id(result.spec)]
        if result.failure:
            error(f"cell {cell.label}: {result.failure}")
        for rec in result.records:
            if rec.get("outcome") == "error" and rec.get("error"):
                error(rec["error"])
        run_dir.write_cell(cell.id, result.records, facts=result.facts)
        bar.finished(cell.label)

    if cells:
        bar.running("probe cells")
        run_cells([c.spec for c in cells], timeout=matrix.PROBE_CELL_TIMEOUT, jobs=jobs, on_done=done)


def _run_micro(run_dir: RunDir, cell: Planned, bar: CellProgress, error: Callable[[str], None]) -> None:
    from bench.exec.micro import run_micro

    bar.running(cell.label)
    spec = cell.spec
    records, errors = run_micro(spec["impls"], processes=spec["processes"], values=spec["values"], min_time=spec["min_time"], progress=bar.running)
    for line in errors:
        error(line)
    run_dir.write_cell(cell.id, records, errors=errors)
    bar.finished(cell.label)


def _stored_ceilings(run_dir: RunDir, cells: list[Planned]) -> tuple[dict[int, float | None], dict[int, list[float] | None]]:
    from bench.records.io import RecordError, read_json

    ceilings: dict[int, float | None] = {}
    samples: dict[int, list[float] | None] = {}
    for cell in cells:
        if cell.kind != "ceiling":
            continue
        try:
            (rec,) = read_json(run_dir.cell_path(cell.id))["records"]
        except (RecordError, ValueError, KeyError, TypeError):
            continue
        ceilings[rec["concurrency"]] = rec.get("ops_per_s")
        samples[rec["concurrency"]] = rec.get("samples")
    return ceilings, samples


def _run_db(run_dir: RunDir, all_cells: list[Planned], cells: list[Planned], target: Any, bar: CellProgress, error: Callable[[str], None]) -> None:
    if target is None:
        for cell in cells:
            if cell.kind == "ceiling":
                rec = {"kind": "ceiling", "concurrency": cell.spec["concurrency"], "outcome": "skipped", "ops_per_s": None}
            else:
                rec = dbrun._stub(_db_cell(cell.spec), "skipped", "no MySQL-protocol server")
            run_dir.write_cell(cell.id, [rec])
            bar.finished(cell.label, "skipped")
        return
    for cell in (c for c in cells if c.kind == "ceiling"):
        bar.running(cell.label)
        c = cell.spec["concurrency"]
        try:
            values = dbrun.measure_ceiling(target, c)
        except Exception as exc:  # mysqlslap failing is reported; the matrix still runs
            values = None
            error(f"mysqlslap ceiling at concurrency {c}: {exc}".splitlines()[0])
        rec = {"kind": "ceiling", "concurrency": c, "query": dbrun.CEILING_QUERY, "samples": values,
               "ops_per_s": max(values) if values else None, "outcome": "ok" if values else "skipped"}
        run_dir.write_cell(cell.id, [rec])
        bar.finished(cell.label, f"{rec['ops_per_s']} queries/s" if values else "no mysqlslap")
    ceilings, samples = _stored_ceilings(run_dir, all_cells)
    from bench.records.scrub import scrub

    for cell in (c for c in cells if c.kind in ("db", "request")):
        bar.running(cell.label)
        spec = cell.spec
        hang_after = spec.get("hang_after", dbrun.DEFAULT_HANG_AFTER)  # plans written before --hang-after lack it
        base = dbrun.base_cell_spec(target, duration=spec["duration"], warmup=spec["warmup"], hang_after=hang_after)
        limit = dbrun.cell_timeout(spec["duration"], spec["warmup"], hang_after)
        rec, problem = dbrun.run_one(target, _db_cell(spec), base_spec=base, limit=limit, ceilings=ceilings, samples=samples)
        if problem:
            error(scrub([problem], target.password)[0])
        run_dir.write_cell(cell.id, scrub([rec], target.password))
        bar.finished(cell.label, str(rec.get("outcome")))


def plan_document(cells: list[Planned], options: dict[str, Any]) -> dict[str, Any]:
    """What run.json holds: the options and every planned cell (no secrets: the server is found at run time)."""
    return {"options": options, "cells": [{"id": c.id, "kind": c.kind, "label": c.label, "spec": c.spec} for c in cells]}


def cells_from_document(doc: dict[str, Any]) -> list[Planned]:
    return [Planned(c["id"], c["kind"], c["label"], c["spec"]) for c in doc.get("cells", [])]


def default_results_root() -> Path:
    return Path("results")
