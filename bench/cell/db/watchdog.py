"""The hang watchdog of a ``db`` cell: a ``hung`` record and the end of the process when progress stops.

It runs on a *real* OS thread (gevent's original ``start_new_thread`` and
``sleep`` when gevent is loaded), so it still runs when a real lock has blocked
the hub under ``gevent-nothread``.  After ``hang_after`` seconds without any
progress (operations, connect phases or a new phase) outside the waits that are
meant (the common start of several processes, an idle gap), it writes the record to
the cell's output file with plain os calls and ends the process with
``os._exit``.  The parent's time limit is the last resort.  When the cell tracks its operations' waits
(:class:`~bench.cell.db.waits.WaitTracker`), the same thread samples them on every tick.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.cell.db.state import Run
from bench.cell.db.waits import WaitTracker


def _originals() -> tuple[Callable[..., Any], Callable[[float], None], Callable[[], Any]]:
    """Real-thread start, sleep and lock, even when gevent has patched them."""
    if "gevent.monkey" in sys.modules:
        from gevent.monkey import get_original

        return (get_original("_thread", "start_new_thread"), get_original("time", "sleep"),
                get_original("_thread", "allocate_lock"))
    import _thread

    return _thread.start_new_thread, time.sleep, _thread.allocate_lock


class Watchdog:
    """Ends the process with a ``hung`` record when the workers stop making progress."""

    def __init__(self, run: Run, hang_after: float, hung_record: Callable[[], dict[str, Any]], out_path: str,
                 tracker: WaitTracker | None = None) -> None:
        self.run = run
        self.tracker = tracker
        self.hang_after = hang_after
        self.hung_record = hung_record
        self.out_path = out_path
        start_thread, self._sleep, allocate_lock = _originals()
        self._lock = allocate_lock()
        self.armed = True
        start_thread(self._watch, ())

    def disarm(self) -> None:
        """Stop watching (the workers are done); no sample is being taken once this returns."""
        with self._lock:
            self.armed = False

    def _watch(self) -> None:
        last: tuple[int, str] = (-1, "")
        since = time.monotonic()
        while self.armed:
            self._sleep(0.05)
            now = time.monotonic()
            if self.tracker is not None:
                with self._lock:
                    if self.armed:
                        self.tracker.tick(now)
            seen = (sum(self.run.progress) + sum(self.run.connected), self.run.phase)
            # Waiting for the common start of several processes is bounded by the parent, not a hang; nor is an idle
            # gap, the workers' sleep on purpose (read from the clock, one check per tick): after one, the time
            # without progress counts from the gap's end.
            if seen != last or seen[1] == "start" or self.run.idle_at(time.perf_counter()):
                last, since = seen, now
            elif now - since > self.hang_after:
                with self._lock:
                    if not self.armed:
                        return
                    self._fire()

    def _fire(self) -> None:
        try:
            text = json.dumps({"records": [self.hung_record()], "facts": {}}, indent=1, default=str)
        except Exception as exc:  # still end the process, with what can be said
            text = json.dumps({"records": [], "facts": {"watchdog_error": repr(exc)}})
        # Plain os calls only: this thread must not touch anything gevent patched.
        tmp = f"{self.out_path}.hung.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.replace(tmp, self.out_path)
        sys.stderr.flush()
        os._exit(0)
