"""Locust's events wired to the master and worker sides; importing this module (the locustfile does) registers them.

Contract: ``init_command_line_parser`` adds ctxbench's options; ``init`` registers the report message on the master
(or a local runner); ``test_start`` begins a run on each side (a bad plan ends the master with exit code 2 and one
line); ``spawning_complete`` starts the worker's window and the master's bounded wait for reports; ``test_stop``
sends the worker's report if the run stopped before the window's end, and closes its strategy; ``quitting`` writes
the master's record if the run ended before it was written. Registration happens once per process, however often the
locustfile is imported.
"""

from __future__ import annotations

import logging
from typing import Any

from locust import events
from locust.runners import MasterRunner, WorkerRunner

from bench.locustload import master, options, worker

log = logging.getLogger(__name__)

#: The environment, for events whose listeners are not given it (``spawning_complete``).
_ENVIRONMENT: dict[str, Any] = {}


def _is_master(environment: Any) -> bool:
    return not isinstance(environment.runner, WorkerRunner)


def _is_worker(environment: Any) -> bool:
    return not isinstance(environment.runner, MasterRunner)


def _scenario(environment: Any) -> str:
    classes = environment.user_classes
    return str(getattr(classes[0], "scenario", "db")) if classes else "db"


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    options.add_arguments(parser)


@events.init.add_listener
def _on_init(environment: Any, runner: Any = None, **_: Any) -> None:
    if runner is not None and _is_master(environment):
        runner.register_message(worker.REPORT_MESSAGE, master.MASTER.on_report)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    if _is_master(environment):
        try:
            master.MASTER.begin(environment)
        except options.PlanError as exc:
            log.error("ctxbench: %s", exc)
            environment.process_exit_code = 2
            import gevent

            gevent.spawn_later(0, environment.runner.quit)
            return
    if _is_worker(environment):
        worker.SIDE.begin(environment)


@events.spawning_complete.add_listener
def _on_spawning_complete(user_count: int, **_: Any) -> None:
    import gevent

    environment = _ENVIRONMENT.get("env")
    if environment is None:
        return
    if _is_worker(environment) and worker.SIDE.plan is not None and worker.SIDE.window.begin == float("inf"):
        plan = worker.SIDE.plan
        worker.SIDE.window.start(plan.warmup, plan.duration)
        gevent.spawn(worker.finish_window, environment, lambda: _scenario(environment))
    if _is_master(environment) and master.MASTER.plan is not None and master.MASTER.written is None:
        gevent.spawn(master.finish_run, environment)


@events.init.add_listener
def _keep_environment(environment: Any, **_: Any) -> None:
    _ENVIRONMENT["env"] = environment


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    if _is_worker(environment):
        try:  # stopped before the window's end: what was measured so far still reaches the master
            worker.send_report(environment, _scenario(environment))
        finally:
            worker.SIDE.close()


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    side = master.MASTER
    if _is_master(environment) and side.plan is not None and side.written is None:
        side.expected = side.expected or sorted(side.reports)
        try:
            side.write(environment)
        except Exception as exc:  # the record could not be written: said in one line, the exit code says it too
            log.error("ctxbench: the record was not written: %s", exc)
            environment.process_exit_code = 1
