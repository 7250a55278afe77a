"""The master side of a run: collect the workers' reports, merge them, write one record, end the run -- in bounded time.

Contract: on ``test_start`` the master reads the plan (a bad one ends the run: exit code 2, one line) and the
server's counters if it can reach a server (``CTXBENCH_MYSQL_URL`` or root on 127.0.0.1:3306; never a private
one).  When every user runs, it waits for the window's end, then for a report (message
:data:`~bench.locustload.worker.REPORT_MESSAGE`) from every worker that took part -- until each has reported or gone
missing (Locust's heartbeats), and never longer than the drain bound plus ``--report-grace`` -- reads the counters
again, writes one record into the run directory (``environment.json``, ``run.json``, ``cells/<id>.json``) and quits
the run.  If the run ends another way first (``-t``, a signal), whatever reports arrived are written on quitting,
``partial`` if any is missing: nothing measured is lost.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from bench.locustload.merge import Report, merge_record
from bench.locustload.options import NONCE_OPTION, Plan, PlanError, new_nonce, read_plan
from bench.locustload.worker import DRAIN_BOUND

log = logging.getLogger(__name__)

#: Locust's state of a worker whose heartbeats stopped.
MISSING = "missing"


class MasterSide:
    """The reports of one run and where its record goes."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """No plan, no reports."""
        self.plan: Plan | None = None
        self.scenario = "db"
        self.reports: dict[str, Report] = {}
        self.expected: list[str] = []
        self.before: dict[str, int] | None = None
        self.server_url: str | None = None
        self.written: Path | None = None

    def begin(self, environment: Any) -> None:
        """A new test: the plan (PlanError if bad), the scenario, the counters before."""
        self.reset()
        setattr(environment.parsed_options, NONCE_OPTION, getattr(environment.parsed_options, NONCE_OPTION, None)
                or new_nonce())
        self.plan = read_plan(environment.parsed_options)
        classes = environment.user_classes
        if len(classes) != 1:
            names = ", ".join(cls.__name__ for cls in classes)
            raise PlanError(f"one user class per run (DbUser or StackUser), not {names}")
        self.scenario = str(getattr(classes[0], "scenario", "db"))
        self.before = self._counters()

    def _counters(self) -> dict[str, int] | None:
        from bench.server import ServerUnavailable, find_server, server_counters

        try:
            target = find_server(None, allow_ephemeral=False).target
            self.server_url = target.redacted_url()
            return server_counters(target)
        except (ServerUnavailable, Exception) as exc:  # no server the master can reach: the record says so
            log.info("ctxbench: server counters not read: %s", type(exc).__name__)
            return None

    def on_report(self, environment: Any, msg: Any) -> None:
        """A worker's report arrived."""
        data = dict(msg.data or {})
        self.reports[str(data.get("id") or msg.node_id)] = data

    def pending(self, environment: Any) -> list[str]:
        """Workers that took part, have not reported, and are not (yet) known to be gone."""
        clients = getattr(environment.runner, "clients", None)
        out = []
        for wid in self.expected:
            if wid in self.reports:
                continue
            if clients is not None and (wid not in clients or clients[wid].state == MISSING):
                continue
            out.append(wid)
        return out

    def write(self, environment: Any) -> Path:
        """Merge what arrived and write the run directory; its path."""
        from bench.exec.rundir import RunDir
        from bench.plan.cells import cell_id
        from bench.records.environment import fingerprint

        assert self.plan is not None
        after = self._counters() if self.before is not None else None
        server = None
        if self.before is not None and after is not None:
            server = {"deltas": {k: after[k] - self.before[k] for k in self.before
                                 if k in after and k not in ("Threads_connected", "Max_used_connections")},
                      "max_used_connections": after.get("Max_used_connections")}
        rec = merge_record(self.plan, self.scenario, list(self.reports.values()), self.expected, server=server,
                           server_url=self.server_url)
        run_dir = RunDir(Path(self.plan.run_dir)) if self.plan.run_dir else RunDir.create(Path("results"))
        run_dir.cells.mkdir(parents=True, exist_ok=True)
        cid = cell_id("locust", self.scenario, rec.strategy, f"u{rec.users}", f"p{rec.locust_processes}")
        options = {k: v for k, v in vars(self.plan).items() if k != "nonce"}
        run_dir.write_plan({"command": "locust", "options": {**options, "scenario": self.scenario},
                            "cells": [{"id": cid, "kind": rec.kind, "label": f"locust {self.scenario}"}]})
        run_dir.write_environment({**fingerprint(), "server": {"found": self.before is not None,
                                                               "url": self.server_url}})
        run_dir.write_cell(cid, [rec])
        self.written = run_dir.path
        log.info("ctxbench: record written to %s (%s, %d of %d workers reported)", run_dir.cell_path(cid),
                 rec.outcome, rec.reported_processes, rec.locust_processes)
        return run_dir.path


#: The one per master process.
MASTER = MasterSide()


def finish_run(environment: Any) -> None:
    """After the window: wait (bounded) for the reports, write the record, quit the run."""
    import gevent

    assert MASTER.plan is not None
    runner = environment.runner
    MASTER.expected = sorted(getattr(runner, "clients", {}) or ["local"])
    gevent.sleep(MASTER.plan.warmup + MASTER.plan.duration)
    deadline = time.monotonic() + DRAIN_BOUND + MASTER.plan.report_grace
    while MASTER.pending(environment) and time.monotonic() < deadline:
        gevent.sleep(0.1)
    try:
        MASTER.write(environment)
    finally:
        gevent.spawn_later(0, runner.quit)
