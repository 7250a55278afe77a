"""Starting a real server, making it prove its load, and stopping it by pid.

Contract: :func:`start` runs a server of :data:`bench.webstack.servers.SERVERS` through :mod:`bench.child` -- its own
process group (a session of its own), dying with its parent -- on 127.0.0.1, with the app's settings in a private
file (never on its command line), and
returns once the server answers -- from a process of that group -- or raises :class:`StackStartError` with one line
(a port taken, a server that exits, one that does not answer in time).  :func:`prove` sends overlapping requests to
``/_load``, in rounds until every worker process has answered, and raises :class:`StackStartError` unless every
answer shows the server's declared load (gevent's patches, greenlets, asyncio tasks on one thread or OS threads,
this server's software) and
every worker answered.  :func:`stop` ends the group (SIGTERM, then SIGKILL: :meth:`bench.child.Child.end`) and waits
until every pid it had is gone; it never raises.  Only ``http.client`` talks to the server from here: no proxy
set in the environment can step in.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench import child
from bench.poll import poll_until
from bench.records.environment import PROJECT_ROOT
from bench.server.target import scrub
from bench.webstack import ENV_APP_SPEC
from bench.webstack.handler import APP_LINE
from bench.webstack.servers import GRACEFUL_TIMEOUT, ServerInfo, expected_facts, one_thread

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
#: Seconds a server may take from its start to its first answer.
START_TIMEOUT = 30.0
#: Seconds each proof request holds the server, so that the requests overlap.
PROOF_HOLD = 0.3
#: Seconds every worker process of a multi-process server has, after the first answered, to answer too.
WORKERS_TIMEOUT = 30.0
#: Seconds a server has to end after SIGTERM (gunicorn's own graceful timeout, and some) before SIGKILL.
STOP_GRACE = GRACEFUL_TIMEOUT + 3.0


class StackStartError(Exception):
    """A server did not start, did not answer, or did not prove its load; ``str()`` is one line.

    ``pids`` holds every pid the server's group had, once :func:`start` stopped it (all gone by then).
    """

    pids: frozenset[int] = frozenset()


@dataclass
class Running:
    """A started server: its process (the group leader), port and log, and every pid its group had."""

    info: ServerInfo
    child: child.Child
    port: int
    log_path: Path
    pids: set[int] = field(default_factory=set)

    @property
    def pid(self) -> int:
        return self.child.pid

    def group(self) -> set[int]:
        """The server's pids now (the leader and its descendants), remembered for :func:`stop`."""
        try:
            leader = psutil.Process(self.pid)
            now = {self.pid, *(child.pid for child in leader.children(recursive=True))}
        except psutil.NoSuchProcess:
            now = set()
        self.pids |= now
        return now


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_taken(port: int) -> bool:
    """Whether 127.0.0.1:``port`` cannot be bound (another process has it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def get_json(port: int, path: str, timeout: float) -> tuple[int, Any]:
    """``GET path`` on 127.0.0.1:``port``: the status and the decoded JSON body (None when not JSON)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(body)
    except ValueError:
        return resp.status, None


def last_line(path: Path, password: str = "") -> str:
    """The last line of a log the app wrote about itself (:data:`bench.webstack.handler.APP_LINE`), else its last
    non-empty line, with the password scrubbed ('no message' when there is none)."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    own = [line for line in lines if line.startswith(APP_LINE)]
    return scrub((own or lines)[-1], password) if lines else "no message"


def _env(app_spec: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env[ENV_APP_SPEC] = str(app_spec)
    return env


def start(info: ServerInfo, *, port: int, workers: int, concurrency: int, app_spec: Path, workdir: Path,
          password: str = "") -> Running:
    """Start ``info`` on 127.0.0.1:``port`` and wait until it answers (within :data:`START_TIMEOUT` seconds, read
    when called); StackStartError (nothing left) if not."""
    if port_taken(port):
        raise StackStartError(f"{info.name}: port {port} on {HOST} is taken")
    log_path = workdir / f"{info.name}.log"
    with open(log_path, "wb") as log_file:
        server = child.start([sys.executable, *info.argv(port, workers, concurrency)], cwd=PROJECT_ROOT,
                             env=_env(app_spec), stdout=log_file, stderr=child.STDOUT, grace=STOP_GRACE)
    running = Running(info, server, port, log_path)
    try:
        _wait_ready(running, time.monotonic() + START_TIMEOUT, password)
    except BaseException as exc:
        stop(running)
        if isinstance(exc, StackStartError):
            exc.pids = frozenset(running.pids)
        raise
    return running


class _NotYet(Exception):
    pass


def _wait_ready(running: Running, deadline: float, password: str) -> None:
    name, port = running.info.name, running.port

    def attempt() -> None:
        running.group()
        if running.child.poll() is not None:
            why = last_line(running.log_path, password)
            raise StackStartError(f"{name} exited with status {running.child.returncode}: {why}")
        try:
            status, body = get_json(port, "/_load", timeout=2.0)
        except OSError as exc:
            raise _NotYet(str(exc)) from None
        if status != 200 or not isinstance(body, dict):
            raise StackStartError(f"{name}: /_load answered {status} on port {port}: {last_line(running.log_path)}")
        if body.get("pid") not in running.group():
            raise StackStartError(f"{name}: port {port} is answered by pid {body.get('pid')}, not by this server")

    try:
        poll_until(attempt, deadline=deadline, retry_on=_NotYet, interval=0.1)
    except _NotYet:
        why = last_line(running.log_path, password)
        raise StackStartError(f"{name} did not answer on {HOST}:{port} within {START_TIMEOUT:.0f}s: {why}") from None


def _proof_round(running: Running, n: int) -> list[dict[str, Any]]:
    """``n`` overlapping ``/_load`` requests; their bodies, or StackStartError when any got no good answer."""
    try:
        with ThreadPoolExecutor(n) as pool:
            answers = list(pool.map(lambda _: get_json(running.port, f"/_load?hold={PROOF_HOLD}", 10.0), range(n)))
    except OSError as exc:
        raise StackStartError(f"{running.info.name}: the load proof got no answer: {type(exc).__name__}") from None
    bodies = [body for status, body in answers if status == 200 and isinstance(body, dict)]
    if len(bodies) != n:
        raise StackStartError(f"{running.info.name}: the load proof got {len(bodies)} good answers of {n}")
    return bodies


def prove(running: Running, *, concurrency: int, workers: int) -> dict[str, Any]:
    """Overlapping ``/_load`` requests, in rounds until ``workers`` processes have answered (a multi-process server
    answers from its first worker while the others may still be loading the app); the facts they showed, or
    StackStartError naming the first mismatch, or how many processes answered within :data:`WORKERS_TIMEOUT`."""
    timeout = WORKERS_TIMEOUT
    n = max(2, min(concurrency * workers, max(4, workers + 1)))
    bodies = _proof_round(running, n)
    deadline = time.monotonic() + timeout
    while len({body.get("pid") for body in bodies}) < workers and time.monotonic() < deadline:
        bodies += _proof_round(running, n)
    facts = summarise_proof(bodies, running.group())
    if facts["processes_answering"] < workers:
        raise StackStartError(f"{running.info.name}: {facts['processes_answering']} of its {workers} worker processes "
                              f"answered within {timeout:.0f}s")
    mismatch = check_proof(running.info, facts, overlap_possible=concurrency >= 2)
    if mismatch:
        raise StackStartError(f"{running.info.name} did not prove load {running.info.model_load}: {mismatch}")
    return facts


def summarise_proof(bodies: list[Mapping[str, Any]], group: set[int]) -> dict[str, Any]:
    """What the answers of ``/_load`` showed, merged over the server's processes."""
    threads: dict[int, set[int]] = {}
    for body in bodies:
        threads.setdefault(int(body["pid"]), set()).add(int(body["native_thread_id"]))

    def one(key: str) -> Any:
        values = {body.get(key) for body in bodies}
        return values.pop() if len(values) == 1 else sorted(map(str, values))

    return {"server_software": one("server_software"), "threading_patched": one("threading_patched"),
            "socket_patched": one("socket_patched"), "greenlets": one("greenlet"),
            "asyncio_tasks": one("asyncio_task"), "event_loop": one("event_loop"),
            "threading_local": one("threading_local"), "processes_answering": len(threads),
            "pids_ours": all(pid in group for pid in threads),
            "os_threads_per_process": max(len(ids) for ids in threads.values()),
            "in_flight_peak": max(int(body.get("in_flight_peak", 0)) for body in bodies), "proof_requests": len(bodies)}


def check_proof(info: ServerInfo, facts: Mapping[str, Any], *, overlap_possible: bool) -> str | None:
    """The first way ``facts`` differ from what ``info`` must show, or None."""
    if not facts["pids_ours"]:
        return "answered by a process outside the server's group"
    software = facts["server_software"]
    if not isinstance(software, str) or not software.lower().startswith(info.software):
        return f"SERVER_SOFTWARE is {software!r}, expected {info.software}"
    for key, want in expected_facts(info.model_load).items():
        if facts[key] != want:
            return f"{key} is {facts[key]}, expected {want}"
    if not overlap_possible:
        return None
    if facts["in_flight_peak"] < 2:
        return "overlapping requests did not overlap in any process"
    if one_thread(info.model_load) and facts["os_threads_per_process"] != 1:
        what = "tasks" if info.model_load == "asyncio" else "greenlets"
        return f"{what} ran on {facts['os_threads_per_process']} OS threads in one process"
    if not one_thread(info.model_load) and facts["os_threads_per_process"] < 2:
        return "overlapping requests ran on one OS thread"
    return None


def stop(running: Running, grace: float = STOP_GRACE) -> None:
    """End the server's process group (SIGTERM, then SIGKILL after ``grace`` s) and wait until every pid is gone."""
    running.group()
    left = running.child.end(grace)
    if left:
        log.warning("%s: pids %s outlived SIGKILL", running.info.name, sorted(left))
