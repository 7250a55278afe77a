"""``ctxbench run``'s execution: the plan into one run directory, resumable, then charts and report.

The plan (``run.json``) is written before anything runs; the pipeline puts each cell's records in
``cells/<id>.json`` the moment it ends.  Nothing else holds results, so an interrupted run keeps
every finished cell and ``--resume`` runs only the missing ones (a database cell recorded as
skipped for want of a server counts as missing).  Charts and the report are drawn from the cell
files alone, after the last cell.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.exec.pipeline import Pipeline
from bench.exec.rundir import RunDir
from bench.exec.session import open_server
from bench.plan.cells import Planned
from bench.plan.estimate import estimate
from bench.present.report import render_report
from bench.records.environment import fingerprint, load_average
from bench.records.kinds import CeilingRecord

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    run_dir: RunDir
    ran: int = 0
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _stored_ceilings(run_dir: RunDir, cells: list[Planned]) -> dict[int, list[float] | None]:
    """Ceilings that an interrupted run already measured, so resumed database cells still get theirs."""
    ceilings: dict[int, list[float] | None] = {}
    for cell in cells:
        records = run_dir.stored(cell.id) if cell.kind == "ceiling" else None
        if records and isinstance(records[0], CeilingRecord) and records[0].samples:
            ceilings[records[0].concurrency] = records[0].samples
    return ceilings


def execute(run_dir: RunDir, cells: list[Planned], *, mysql_url: str | None, jobs: int = 2,
            quiet: bool = False, interpreters: list[dict[str, Any]] | None = None) -> RunOutcome:
    """Run every cell of ``cells`` that ``run_dir`` does not hold yet; then draw charts and write the report.

    ``interpreters`` (``--python``, as ``environment.json`` holds them) go into the environment.
    """
    todo = [c for c in cells if not run_dir.is_done(c.id)]
    if len(todo) < len(cells):
        log.info("resuming %s: %d of %d cells already finished, %d to run",
                 run_dir.run_id, len(cells) - len(todo), len(cells), len(todo))
    repeats = max((c.repeat + 1 for c in cells), default=1)
    log.info("%d cells to run%s: %s", len(todo), f" (repeated cells measured {repeats} times)"
             if repeats > 1 else "", estimate(todo).text())
    environment = fingerprint()
    environment["run_id"] = run_dir.run_id
    if interpreters:
        environment["interpreters"] = interpreters
    run_dir.write_environment(environment)

    @contextmanager
    def server() -> Iterator[Any]:
        with open_server(mysql_url, environment) as target:
            run_dir.write_environment(environment)
            yield target

    pipeline = Pipeline(run_dir, title="run", jobs=jobs, quiet=quiet, server=server,
                        ceilings=_stored_ceilings(run_dir, cells))
    pipeline.run(todo)
    environment["load_average_end"] = load_average()
    run_dir.write_environment(environment)
    log.info("drawing charts and writing the report")
    _page, _md, problems = render_report(run_dir.path, run_dir.path)
    return RunOutcome(run_dir, ran=len(todo), errors=pipeline.errors, problems=problems)
