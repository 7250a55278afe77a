"""The common start of a cell run as several processes: each says it is ready, all start at one time.

A cell of P processes (``--processes``) is P ``python -m bench.cell`` processes with the same spec plus a
``group`` entry: the parent's loopback port, this process's index and a key.  When this process's workers have
all passed the ready barrier (every connection open), the first worker through connects to the parent on
127.0.0.1, sends ``ready <index> <key> <pid>`` and reads ``go <start>``: a ``time.perf_counter()`` value a little
in the future, the same for every process (on Linux ``perf_counter`` is CLOCK_MONOTONIC, one clock for every
process of the machine).  Every worker then sleeps until that moment, so every process's measured window is the
same interval.  The other workers wait on a primitive of their load (a gevent Event for greenlets: a real lock
would block the hub under ``gevent-nothread``), and the socket is the load's own (gevent's when patched), so the
wait lets the hub and the cell's watchdog run (nothing gevent patches is imported at import time).  When the
parent does not answer within ``timeout`` (it gave up and is ending the cell, or it died), the process starts at
once and its record says so (``start_sync``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

#: Longest line the parent sends (``go <float>``).
MAX_LINE = 128


def _read_line(sock: Any) -> str:
    """One line from ``sock`` (without its newline); what arrived before EOF if the peer closed first."""
    data = b""
    while b"\n" not in data and len(data) < MAX_LINE:
        chunk = sock.recv(MAX_LINE)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode("ascii", "replace")


class SharedStart:
    """One start time for every worker of this process and of every other process of the cell."""

    def __init__(self, group: Mapping[str, Any], greenlets: bool) -> None:
        self.port = int(group["port"])
        self.index = int(group["index"])
        self.key = str(group["key"])
        self.timeout = float(group["timeout"])
        #: Why the common start was not had (None when it was).
        self.problem: str | None = None
        #: Seconds from asking the parent to its answer (the wait for the slowest process).
        self.waited_s: float | None = None
        self.start: float | None = None
        self._claimed = False
        self._lock: Any = None
        if greenlets:
            from gevent.event import Event

            self._done: Any = Event()
        else:
            import threading

            self._done = threading.Event()
            self._lock = threading.Lock()

    def _claim(self) -> bool:
        """True for the first caller only (greenlets do not switch between the test and the set)."""
        if self._lock is None:
            first = not self._claimed
            self._claimed = True
            return first
        with self._lock:
            first = not self._claimed
            self._claimed = True
            return first

    def wait(self) -> float:
        """Block until the common start and return it; the first caller asks the parent, the others wait for it."""
        if self._claim():
            try:
                self.start = self._exchange()
            finally:
                if self.start is None:
                    self.start = time.perf_counter()
                self._done.set()
        else:
            self._done.wait()
        assert self.start is not None
        delay = self.start - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        return self.start

    def _exchange(self) -> float | None:
        """Tell the parent this process is ready; the start it answers (None, with ``problem`` set, when none)."""
        import socket  # here, not at import: the load patches socket first (gevent's when patched)

        asked = time.perf_counter()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout) as sock:
                sock.sendall(f"ready {self.index} {self.key} {os.getpid()}\n".encode("ascii"))
                line = _read_line(sock)
        except OSError as exc:
            self.problem = f"no start from the parent: {type(exc).__name__}: {exc}"
            return None
        finally:
            self.waited_s = round(time.perf_counter() - asked, 4)
        word, _, value = line.partition(" ")
        try:
            if word != "go":
                raise ValueError(line)
            return float(value)
        except ValueError:
            self.problem = f"the parent answered {line[:60]!r}, not a start time"
            return None

    def facts(self) -> dict[str, Any]:
        """What the record says about the start: whether it was the common one, and the wait for it."""
        return {"ok": self.problem is None, "start": self.start, "waited_s": self.waited_s, "problem": self.problem}
