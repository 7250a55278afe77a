"""A cell of several processes: P ``python -m bench.cell`` started at once, one common start, every pid ended.

The parent listens on 127.0.0.1 (an ephemeral port, passed in each child's spec with its index and a random key),
starts the P processes through the one spawner (:func:`bench.exec.spawn.launch`, on :mod:`bench.child`) and
waits, within ``ready_timeout``, until every one of them has said ``ready`` (its workers all connected:
:mod:`bench.cell.db.start`).  Then it sends each the same start time, a ``time.perf_counter()`` value
``lead`` seconds ahead (CLOCK_MONOTONIC: the same clock in every process of the machine).  A process that ends
before it is ready, or that is not ready in time, ends the group: every process is killed and the failure names
the process by index and pid.  After the start the parent waits for every process until ``timeout`` and kills
(by pid, with its children) whichever is still running then.
"""

from __future__ import annotations

import hmac
import secrets
import selectors
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.exec.spawn import CellResult, Launched, collect, launch
from bench.plan.matrix import PROCESS_READY_WAIT, PROCESS_START_LEAD
from bench.plan.specs import DbTask


@dataclass
class GroupRun:
    """What came back from a group of cell processes."""

    #: One result per process, by index.
    results: list[CellResult] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    #: The common start sent to every process (perf_counter seconds), None when the group never started.
    start: float | None = None
    #: Why the group did not run as one (a process ended before it was ready, or was not ready in time).
    failure: str | None = None
    #: Seconds from the first spawn to the last ``ready``.
    ready_s: float | None = None
    #: Indexes of the processes killed at the time limit.
    timed_out: list[int] = field(default_factory=list)
    #: Indexes of the processes killed because the group did not start (another one failed).
    killed: list[int] = field(default_factory=list)


def _ready_index(line: bytes, key: str, launched: list[Launched]) -> int | None:
    """The index a ``ready <index> <key> <pid>`` line names, if the key and the pid are the ones given it."""
    parts = line.decode("ascii", "replace").split()
    if len(parts) != 4 or parts[0] != "ready" or not hmac.compare_digest(parts[2], key):
        return None
    try:
        index, pid = int(parts[1]), int(parts[3])
    except ValueError:
        return None
    return index if 0 <= index < len(launched) and launched[index].pid == pid else None


def _ended_early(launched: list[Launched], ready: dict[int, socket.socket]) -> str | None:
    for i, one in enumerate(launched):
        code = one.child.poll()
        if i not in ready and code is not None:
            return f"process {i} (pid {one.pid}) ended with status {code} before it was ready"
    return None


def _gather(listener: socket.socket, launched: list[Launched], key: str,
            ready_timeout: float) -> tuple[dict[int, socket.socket], str | None]:
    """Every process's ready connection, by index; or those so far and why the others never came."""
    deadline = time.monotonic() + ready_timeout
    ready: dict[int, socket.socket] = {}
    pending: dict[socket.socket, bytes] = {}
    with selectors.DefaultSelector() as sel:
        sel.register(listener, selectors.EVENT_READ)
        try:
            while len(ready) < len(launched):
                gone = _ended_early(launched, ready)
                if gone or time.monotonic() >= deadline:
                    late = ", ".join(f"{i} (pid {c.pid})" for i, c in enumerate(launched) if i not in ready)
                    return ready, gone or f"process {late} not ready within {ready_timeout:g}s"
                for sk, _ in sel.select(0.05):
                    if sk.fileobj is listener:
                        conn, _ = listener.accept()
                        sel.register(conn, selectors.EVENT_READ)
                        pending[conn] = b""
                        continue
                    conn = sk.fileobj  # type: ignore[assignment]
                    chunk = conn.recv(256)
                    data = pending[conn] + chunk
                    if chunk and b"\n" not in data and len(data) < 256:
                        pending[conn] = data
                        continue
                    sel.unregister(conn)
                    del pending[conn]
                    index = _ready_index(data.split(b"\n", 1)[0], key, launched)
                    if index is None or index in ready:
                        conn.close()  # a stranger, or a repeat: not one of ours
                    else:
                        ready[index] = conn
        finally:
            for conn in pending:
                conn.close()
    return ready, None


def _wait_all(launched: list[Launched], deadline: float) -> list[int]:
    """Wait for every process until ``deadline`` (monotonic); kill the ones still running; their indexes."""
    late = [i for i, one in enumerate(launched) if one.child.wait(max(0.0, deadline - time.monotonic())) is None]
    for i in late:
        launched[i].child.kill()
    return late


def _kill_all(launched: list[Launched]) -> list[int]:
    """Kill every process still running (by pid, with its children); their indexes."""
    killed = []
    for i, one in enumerate(launched):
        if one.child.poll() is None:
            one.child.kill()
            killed.append(i)
    return killed


def _start(ready: dict[int, socket.socket], lead: float) -> float:
    """Send every process the same start, ``lead`` seconds from now; close the connections."""
    start = time.perf_counter() + lead
    line = f"go {start!r}\n".encode("ascii")
    for conn in ready.values():
        try:
            conn.sendall(line)
        except OSError:  # the process died meanwhile: it shows as a crashed process
            pass
        conn.close()
    return start


def run_group(spec: DbTask, processes: int, *, timeout: float, ready_timeout: float = PROCESS_READY_WAIT,
              lead: float = PROCESS_START_LEAD, on_start: Callable[[float], None] | None = None) -> GroupRun:
    """Run ``processes`` cell processes of ``spec`` with one common start; every one ended by pid before returning.

    ``on_start(start)`` is called in the parent right after the start was sent (to watch the window).
    """
    began = time.monotonic()
    key = secrets.token_hex(16)
    launched: list[Launched] = []
    run = GroupRun()
    with tempfile.TemporaryDirectory(prefix="ctxbench-group-") as tmp, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(processes)
        group = {"port": listener.getsockname()[1], "key": key, "timeout": ready_timeout + 10.0}
        try:
            for i in range(processes):
                launched.append(launch(spec.replace(group={**group, "index": i}), Path(tmp), f"p{i}", index=i))
            run.pids = [child.pid for child in launched]
            ready, run.failure = _gather(listener, launched, key, ready_timeout)
            if run.failure is None:
                run.ready_s = round(time.monotonic() - began, 3)
                run.start = _start(ready, lead)
                if on_start is not None:
                    on_start(run.start)
                run.timed_out = _wait_all(launched, began + timeout)
            else:
                for conn in ready.values():
                    conn.close()
                run.killed = _kill_all(launched)
        except BaseException:
            _kill_all(launched)
            raise
        run.results = [collect(child, timed_out=i in run.timed_out, timeout=timeout)
                       for i, child in enumerate(launched)]
    return run
