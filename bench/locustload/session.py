"""The three forms of ``ctxbench locust``: a master, a worker, or both on one machine -- each process ended by pid.

Contract: :func:`run_master` runs the Locust master for one run and returns the record it wrote (None when it wrote
none); :func:`run_local` does the same with ``processes`` worker processes it starts beside the master (each its
own Locust worker, started and ended by pid; their output goes to ``locust/worker-<i>.log`` in the run directory)
and, for the stack scenario, the app under a real server (:mod:`bench.webstack.launch`, 127.0.0.1) that it stops
again; :func:`run_worker` waits (bounded) until the master answers, then runs one worker until the master ends it.
Every wait is bounded; no process started here outlives the call.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench import child
from bench.errors import UsageError
from bench.locustload import launch
from bench.locustload.launch import RunSpec
from bench.server import ServerTarget

log = logging.getLogger(__name__)

#: Seconds a worker may outlive the master's end before it is ended.
WORKER_EXIT_BOUND = 15.0


def read_record(run_dir: Path) -> dict[str, Any] | None:
    """The record the master wrote into ``run_dir`` (None when there is none)."""
    for path in sorted((run_dir / "cells").glob("*.json")):
        try:
            records = json.loads(path.read_text()).get("records") or []
        except (OSError, ValueError):
            continue
        if records:
            return dict(records[0])
    return None


def run_master(spec: RunSpec, target: ServerTarget | None) -> dict[str, Any] | None:
    """One master run (its workers connect from elsewhere); the record, or None."""
    proc = launch.start(launch.master_argv(spec), launch.child_env(target), None)
    log.info("locust master: pid %d, listening on %s:%d for %d workers", proc.pid, spec.bind_host, spec.port,
             spec.workers)
    if not proc.wait_or_end(spec.bound()):
        log.warning("the Locust master did not end within %.0fs and was ended", spec.bound())
    return read_record(spec.run_dir)


@contextmanager
def _app(spec: RunSpec, target: ServerTarget) -> Iterator[str]:
    """The stack's app under ``spec.server`` on a free 127.0.0.1 port, proven and stopped again: its URL."""
    from bench.webstack.launch import free_port, prove, start, stop
    from bench.webstack.servers import get_server, unfit

    try:
        info = get_server(spec.server)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    why = unfit(info, spec.impl, spec.strategy)  # e.g. a blocking pool under uvicorn: one line before anything starts
    if why is not None:
        raise UsageError(why)
    with tempfile.TemporaryDirectory(prefix="ctxbench-locust-app-") as tmp:
        app_spec = child.write_spec(Path(tmp) / "app.json", {
            "impl": spec.impl, "strategy": spec.strategy, "connect": target.connect_kwargs(),
            "concurrency": spec.users, "io_sleep": 0.0})
        port = free_port()
        running = start(info, port=port, workers=1, concurrency=spec.users, app_spec=app_spec, workdir=Path(tmp),
                        password=target.password)
        try:
            prove(running, concurrency=spec.users, workers=1)
            log.info("app: %s on 127.0.0.1:%d (pid %d)", info.name, port, running.pid)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(running)


def run_local(spec: RunSpec, target: ServerTarget | None) -> dict[str, Any] | None:
    """A master and ``spec.workers`` worker processes on this machine; the record, or None."""
    from dataclasses import replace

    with ExitStack() as stack:
        if spec.scenario == "stack" and spec.host is None:
            if target is None:
                raise UsageError("the stack scenario needs a MySQL-protocol server for its app (or --host URL)")
            spec = replace(spec, host=stack.enter_context(_app(spec, target)))
        env = launch.child_env(target)
        master = launch.start(launch.master_argv(spec), env, None)
        stack.callback(master.close)
        log.info("locust master: pid %d on %s:%d", master.pid, spec.bind_host, spec.port)
        launch.wait_reachable(spec.bind_host, spec.port, spec.connect_timeout)
        workers = []
        (spec.run_dir / launch.LOCUST_FILES).mkdir(parents=True, exist_ok=True)
        for i in range(spec.workers):
            out = stack.enter_context(open(spec.run_dir / launch.LOCUST_FILES / f"worker-{i}.log", "wb"))
            proc = launch.start(launch.worker_argv(spec.bind_host, spec.port), env, out)
            stack.callback(proc.close)
            workers.append(proc)
        log.info("locust workers: pids %s", " ".join(str(p.pid) for p in workers))
        if not master.wait_or_end(spec.bound()):
            log.warning("the Locust master did not end within %.0fs and was ended", spec.bound())
        for proc in workers:
            proc.wait_or_end(WORKER_EXIT_BOUND)
    return read_record(spec.run_dir)


def run_worker(master_host: str, master_port: int, target: ServerTarget | None, *, connect_timeout: float,
               timeout: float) -> int:
    """One worker: 1 when the master does not answer within ``connect_timeout``, else the worker's exit status."""
    if not launch.wait_reachable(master_host, master_port, connect_timeout):
        raise ConnectionError(f"no Locust master answered on {master_host}:{master_port} within "
                              f"{connect_timeout:g}s")
    proc = launch.start(launch.worker_argv(master_host, master_port), launch.child_env(target), None)
    log.info("locust worker: pid %d, master %s:%d", proc.pid, master_host, master_port)
    if not proc.wait_or_end(timeout):
        log.warning("the Locust worker did not end within %.0fs and was ended", timeout)
        return 1
    return int(proc.returncode or 0)
