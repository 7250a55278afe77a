"""Starting Locust processes with the packaged locustfile, waiting for them within a bound, and ending them by pid.

Contract: :func:`master_argv` and :func:`worker_argv` are the Locust command lines (headless, no web UI, the master
bound to the address given -- 127.0.0.1 unless told otherwise --, a run time ``-t`` and a stop timeout); no password
is on them: :func:`child_env` puts the server's URL into the child's ``CTXBENCH_MYSQL_URL``.  :func:`start` runs one
through :mod:`bench.child`: its own process group, dying with its parent, ended as a whole -- SIGTERM, then SIGKILL
after :data:`TERM_GRACE` s -- when it is closed or outlives the bound it is waited for
(:meth:`bench.child.Child.wait_or_end`).  :func:`wait_reachable` says whether a master answers on its port within a
bound.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench import child
from bench.locustload import LOCUSTFILE, USER_CLASSES
from bench.locustload.worker import DRAIN_BOUND
from bench.plan.matrix import LOCUST_SLACK
from bench.records.environment import PROJECT_ROOT
from bench.server import ENV_URL, ServerTarget

#: The folder of a run directory holding Locust's own files (its CSV, its JSON statistics, the workers' logs).
LOCUST_FILES = "locust"
#: Seconds a process gets between SIGTERM and SIGKILL.
TERM_GRACE = 5.0


@dataclass(frozen=True)
class RunSpec:
    """One run as the master is told it."""

    scenario: str
    strategy: str
    users: int
    workers: int
    duration: float
    warmup: float
    report_grace: float
    connect_timeout: float
    stop_timeout: float
    bind_host: str
    port: int
    run_dir: Path
    host: str | None = None
    impl: str = "unknown"
    server: str = "external"
    mix: str | None = None

    def run_time(self) -> int:
        """Locust's ``-t``: the window, the warm-up, the reports' bound and spawning, in whole seconds."""
        return math.ceil(self.warmup + self.duration + DRAIN_BOUND + self.report_grace + 10)

    def bound(self) -> float:
        """Seconds the master process may take in all (its workers' connection included)."""
        return self.connect_timeout + self.run_time() + self.stop_timeout + LOCUST_SLACK


def _python_locust() -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]


def master_argv(spec: RunSpec) -> list[str]:
    """The master's command line: headless, bounded, the packaged locustfile's user class for the scenario."""
    argv = [*_python_locust(), USER_CLASSES[spec.scenario], "--master", "--headless", "--only-summary",
            "--master-bind-host", spec.bind_host, "--master-bind-port", str(spec.port),
            "--expect-workers", str(spec.workers), "--expect-workers-max-wait", f"{spec.connect_timeout:g}",
            "-u", str(spec.users), "-r", str(spec.users), "-t", f"{spec.run_time()}s",
            "--stop-timeout", f"{spec.stop_timeout:g}", "--exit-code-on-error", "0",
            "--csv", str(spec.run_dir / LOCUST_FILES / "locust"),
            "--json-file", str(spec.run_dir / LOCUST_FILES / "stats"),
            "--strategy", spec.strategy, "--warmup", f"{spec.warmup:g}", "--duration", f"{spec.duration:g}",
            "--report-grace", f"{spec.report_grace:g}", "--run-dir", str(spec.run_dir),
            "--app-impl", spec.impl, "--app-server", spec.server]
    if spec.mix:
        argv += ["--mix", spec.mix]
    if spec.host:
        argv += ["--host", spec.host]
    return argv


def worker_argv(master_host: str, master_port: int) -> list[str]:
    """A worker's command line: it takes everything else from the master."""
    return [*_python_locust(), "--worker", "--master-host", master_host, "--master-port", str(master_port)]


def full_url(target: ServerTarget) -> str:
    """``mysql://user:password@host:port/database?ssl...`` of ``target`` (for a child's environment only)."""
    quote = urllib.parse.quote
    secret = f":{quote(target.password, safe='')}" if target.password else ""
    host = f"[{target.host}]" if ":" in target.host else target.host
    query = target.tls.query()
    return (f"mysql://{quote(target.user, safe='')}{secret}@{host}:{target.port}/{quote(target.database, safe='')}"
            + (f"?{query}" if query else ""))


def child_env(target: ServerTarget | None) -> dict[str, str]:
    """The environment of a Locust process: the project importable, the server's URL (if any) in ``ENV_URL``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    if target is not None:  # otherwise the child reads the caller's own ENV_URL, if set
        env[ENV_URL] = full_url(target)
    return env


def start(argv: Sequence[str], env: Mapping[str, str], output: IO[Any] | int | None) -> child.Child:
    """Start one Locust process as its own group, its output (stdout and stderr) to ``output`` (None: this
    process's); closing it sends SIGTERM, then SIGKILL after :data:`TERM_GRACE` s."""
    return child.start(argv, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=output, grace=TERM_GRACE)


def wait_reachable(host: str, port: int, bound: float, interval: float = 0.5) -> bool:
    """Whether a TCP connection to ``host:port`` succeeds within ``bound`` seconds."""
    deadline = time.monotonic() + bound
    while True:
        try:
            with socket.create_connection((host, port), timeout=max(0.1, min(2.0, deadline - time.monotonic()))):
                return True
        except OSError:
            if time.monotonic() + interval >= deadline:
                return False
            time.sleep(interval)
