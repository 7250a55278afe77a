"""The worker side of a run: one strategy per process, the window, and the report sent to the master at its end.

Contract: on ``test_start`` a worker process reads the master's plan (:func:`bench.locustload.options.read_plan`) and
starts a fresh :class:`~bench.locustload.tally.Tally`; the first db user builds the process's one strategy, sized to the
users this process runs (as each gunicorn worker has its own pool). When the master says every user is running
(``spawning_complete``) the window starts: ``warmup`` seconds later, for ``duration`` seconds. At its end users stop
starting operations, the operations in flight get :data:`DRAIN_BOUND` seconds, then the worker sends Locust's
statistics and its report (message :data:`REPORT_MESSAGE`: the tally, the histogram, who it is) to the master. When
the test stops first (the master quits on a signal), the report of the window so far is sent then, its
``measured_s`` saying how much of the window it covers. The strategy is closed when the test stops. A problem that
stops the workload (no server, a strategy that cannot be built) is sent in the report's ``error`` as one line, never
the password.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from bench.locustload.options import Plan, PlanError, read_plan
from bench.locustload.tally import Tally, Window

log = logging.getLogger(__name__)

#: The custom message a worker's report travels in.
REPORT_MESSAGE = "ctxbench_report"
#: Seconds the operations in flight at the window's end get before the report is sent without them.
DRAIN_BOUND = 10.0
#: Users of one process are numbered from ``worker index x USER_STRIDE``: ids unique across the run.
USER_STRIDE = 1_000_000


class WorkerSide:
    """Everything the users of one worker process share."""

    def __init__(self) -> None:
        self._lock: Any = None
        self.reset()

    def reset(self) -> None:
        """Nothing planned, nothing counted, no strategy (the caller closed it)."""
        self.plan: Plan | None = None
        self.window = Window()
        self.tally = Tally()
        self.strategy: Any = None
        self.server_url: str | None = None
        self.password = ""
        self.error: str | None = None
        self.users = 0
        self.in_flight = 0
        self.sent = False

    def begin(self, environment: Any) -> None:
        """A new test: the master's plan, empty counts."""
        self.close()
        self.reset()
        try:
            self.plan = read_plan(environment.parsed_options)
        except PlanError as exc:
            self.error = str(exc)

    def next_user(self, environment: Any) -> int:
        """A run-wide id for a new user of this process."""
        index = max(0, int(getattr(environment.runner, "worker_index", 0)))
        self.users += 1
        return index * USER_STRIDE + self.users - 1

    def strategy_for(self, environment: Any) -> Any:
        """The process's strategy, built by the first user that asks (None, with ``error`` set, if it cannot be)."""
        from gevent.lock import Semaphore

        if self._lock is None:
            self._lock = Semaphore()
        with self._lock:
            if self.strategy is None and self.error is None:
                self._build(int(environment.runner.target_user_count or 1))
        return self.strategy

    def _build(self, concurrency: int) -> None:
        from bench.cell.db.target import Target, target_spec
        from bench.cell.db.workload import ensure_schema
        from bench.cell.strategies import build_strategy
        from bench.server import ServerUnavailable, find_server

        assert self.plan is not None
        try:
            found = find_server(None, allow_ephemeral=False)
            target = Target.from_spec(target_spec(found.target))
            self.password = target.password
            self.server_url = target.redacted_url()
            import pymysql

            admin = pymysql.connect(**target.connect_kwargs())
            try:
                ensure_schema(admin)
            finally:
                admin.close()
            self.strategy = build_strategy(self.plan.strategy, target.connect_kwargs(), concurrency)
        except ServerUnavailable as exc:
            self.fail(exc.reason)
        except Exception as exc:  # the strategy or the server failed: one line for the record
            self.fail(f"{type(exc).__name__}: {exc}")

    def fail(self, line: str) -> None:
        """Note the first problem that stops this process's workload (one line, no password)."""
        from bench.server.target import scrub

        if self.error is None:
            self.error = scrub(line, self.password)[:300]
            log.error("ctxbench: %s", self.error)

    def close(self) -> None:
        """Close the strategy, if one was built."""
        strategy, self.strategy = self.strategy, None
        if strategy is not None:
            try:
                strategy.close()
            except Exception:  # closing over a broken connection: nothing left to release
                pass

    def report(self, environment: Any, scenario: str) -> dict[str, Any]:
        """What this worker tells the master."""
        runner = environment.runner
        return {"id": str(getattr(runner, "client_id", "local")), "index": int(getattr(runner, "worker_index", 0)),
                "host": socket.gethostname(), "pid": os.getpid(), "users": self.users, "scenario": scenario,
                "server_url": self.server_url, "error": self.error, "in_flight_at_report": self.in_flight,
                "measured_s": round(self.window.covered(), 6),
                **self.tally.report()}


#: The one per process.
SIDE = WorkerSide()


def finish_window(environment: Any, scenario: Callable[[], str]) -> None:
    """Wait for the window's end and the operations in flight, then send Locust's statistics and the report."""
    import gevent

    gevent.sleep(max(0.0, SIDE.window.end - time.perf_counter()))
    deadline = time.perf_counter() + DRAIN_BOUND
    while SIDE.in_flight and time.perf_counter() < deadline:
        gevent.sleep(0.01)
    runner = environment.runner
    if hasattr(runner, "client_id"):  # a worker: its statistics first, so the master has them before the report
        data: dict[str, Any] = {}
        environment.events.report_to_master.fire(client_id=runner.client_id, data=data)
        runner.send_message("stats", data)
    send_report(environment, scenario())


def send_report(environment: Any, scenario: str) -> None:
    """Send this worker's report to the master, once: at the window's end, or earlier when the run stops first."""
    if SIDE.sent or SIDE.plan is None:
        return
    SIDE.sent = True
    environment.runner.send_message(REPORT_MESSAGE, SIDE.report(environment, scenario))
