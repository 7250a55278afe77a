"""Helpers for the fault tests: run ``ctxbench`` in its own session and watch every process it starts.

A process is known by (pid, create time), so a pid the system recycles after
the process ended is never taken for the same process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.records.environment import PROJECT_ROOT


@dataclass(frozen=True)
class Seen:
    pid: int
    created: float
    name: str
    cmdline: str

    def alive(self) -> bool:
        try:
            proc = psutil.Process(self.pid)
            return proc.create_time() == self.created and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    @property
    def is_cell(self) -> bool:
        return "bench.cell" in self.cmdline

    @property
    def is_server(self) -> bool:
        """A private server serving clients (not the bootstrap instance mariadb-install-db runs)."""
        return self.name in ("mariadbd", "mysqld") and "--port=" in self.cmdline


@dataclass
class Watched:
    """A ``python -m bench ...`` process, every descendant it had, and what it printed."""

    proc: subprocess.Popen[str]
    seen: dict[tuple[int, float], Seen] = field(default_factory=dict)
    stdout: str = ""
    stderr_lines: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reader: threading.Thread = field(init=False)

    def poll_children(self) -> list[Seen]:
        """Record the descendants running now; return them."""
        now: list[Seen] = []
        try:
            kids = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            return now
        for kid in kids:
            try:
                seen = Seen(kid.pid, kid.create_time(), kid.name(), " ".join(kid.cmdline()))
            except psutil.Error:  # ended (or a zombie) between listing and reading
                continue
            # the latest look: a child seen between fork and exec still shows its parent's name -- but a process
            # being reaped shows no command line at all: that look says nothing and is not kept
            if seen.cmdline or (seen.pid, seen.created) not in self.seen:
                self.seen[seen.pid, seen.created] = seen
            now.append(seen)
        return now

    def wait_for(self, condition: Callable[[list[Seen]], bool], timeout: float = 120.0) -> bool:
        """Poll the descendants every 20 ms until ``condition(running)`` holds; False if the process ended or time
        ran out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if condition(self.poll_children()):
                return True
            time.sleep(0.02)
        return False

    def wait_for_line(self, text: str, timeout: float = 120.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if any(text in line for line in self.stderr_lines):
                    return True
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the reader thread drain the pipe
                with self._lock:
                    return any(text in line for line in self.stderr_lines)
            self.poll_children()
            time.sleep(0.01)
        return False

    def signal(self, signum: int, *, group: bool = False) -> None:
        """Send ``signum`` to the process, or (``group``) to its whole process group as a terminal's Ctrl-C does."""
        if group:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)

    def finish(self, timeout: float = 300.0) -> int:
        """Wait for the end (watching descendants meanwhile); return the exit status."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"ctxbench did not end within {timeout:g} s")
            self.poll_children()
            time.sleep(0.02)
        self._reader.join(timeout=10)
        self.stdout = self.proc.stdout.read() if self.proc.stdout else ""
        return int(self.proc.returncode)

    @property
    def stderr(self) -> str:
        with self._lock:
            return "".join(self.stderr_lines)

    def left_alive(self) -> list[Seen]:
        """Descendants ever seen that still run."""
        return [s for s in self.seen.values() if s.alive()]

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _default_sigint() -> None:
    """In the child before exec: SIGINT at its default, as a terminal's foreground job has it (a test run in the
    background inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(args: list[str], *, env: Mapping[str, str] | None = None, cwd: Path = PROJECT_ROOT) -> Watched:
    """``python -m bench ARGS`` in a new session (so a group signal reaches only it), SIGINT at its default, stderr
    read line by line."""
    proc = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=cwd, env=dict(env) if env is not None else None,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_default_sigint)
    watched = Watched(proc)

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with watched._lock:
                watched.stderr_lines.append(line)

    watched._reader = threading.Thread(target=read, daemon=True)
    watched._reader.start()
    return watched


def private_server_env() -> dict[str, str]:
    """The environment that makes ctxbench start its own server: no URL, 127.0.0.1:3306 skipped."""
    env = {key: value for key, value in os.environ.items() if key != "CTXBENCH_MYSQL_URL"}
    env["CTXBENCH_MYSQL_SKIP_LOCAL"] = "1"
    return env


def read_cells(run_dir: Path) -> dict[str, Any]:
    """Every cell file of a run, parsed (a file that does not parse fails the test)."""
    import json

    return {path.stem: json.loads(path.read_text()) for path in sorted((run_dir / "cells").glob("*.json"))}


def only_run(root: Path) -> Path:
    (run,) = [p for p in root.iterdir() if p.is_dir()]
    return run
