"""How long the workers' operations waited, read from outside the workers: nothing is added to an operation.

A fault scenario needs the operations that hung -- ended (right, wrong or failed) long after they began, or still
waiting when the cell ended or its watchdog fired -- and the longest wait of any, failed and unfinished ones
included.  The workers already publish how many operations each has done (``Run.progress``, which the watchdog
reads); :class:`WaitTracker` is sampled from the watchdog's thread every :data:`RESOLUTION_S` and notes, per worker,
the tick at which its count last moved.  An operation that ended between ticks ``k-1`` and ``k`` began at or before
the tick that saw its predecessor end, so ``t[k-1] - t[seen]`` is a lower bound of its wait, and for an operation
still running at ``now`` so is ``now - t[seen]``: quick operations give 0, never a false hang; a wait is
under-counted by at most two ticks.  The workers pay nothing: no stamp, no store beyond the count they kept anyway.
During an idle gap (``Run.idle_at``) nobody waits: the workers sleep on purpose, and a wait counts from the gap's end
(an operation still running across a gap is under-counted by the gap).
"""

from __future__ import annotations

import time
from array import array
from typing import Any

#: Seconds between two samples (the watchdog's own tick).
RESOLUTION_S = 0.05


class WaitTracker:
    """Per-worker waits of a cell's operations, from its progress counts; ``bound`` s makes an operation stuck."""

    def __init__(self, run: Any, bound: float) -> None:
        self.run = run
        self.bound = bound
        n = len(run.progress)
        self.seen = array("q", bytes(8 * n))
        self.since = [0.0] * n  # the tick that saw worker i's count move last
        self.prev: float | None = None  # the tick before the current one (None: not started yet)
        self.longest = 0.0
        self.over = 0  # operations that ended after waiting more than ``bound``

    def tick(self, now: float) -> None:
        """One sample (from the watchdog's thread): every worker whose count moved ended an operation."""
        run = self.run
        if run.t_go is None:
            return
        prev = self.prev
        self.prev = now
        progress, finished, seen, since = run.progress, run.finished, self.seen, self.since
        if prev is None:  # the first tick after the start: every clock starts here
            for i in range(len(seen)):
                seen[i] = progress[i]
                since[i] = now
            return
        idle_at = getattr(run, "idle_at", None)
        idle = idle_at is not None and idle_at(time.perf_counter())
        for i in range(len(seen)):
            count = progress[i]
            if count != seen[i]:
                waited = prev - since[i]
                if waited > self.longest:
                    self.longest = waited
                if waited > self.bound:
                    self.over += 1
                seen[i] = count
                since[i] = now
            elif finished[i] or idle:
                since[i] = now  # done, or idle on purpose (an idle gap): not waiting for anything

    def summary(self, now: float) -> dict[str, Any]:
        """``op_waits`` of the record: operations that ended past the bound, those still waiting past it at ``now``
        (the cell's end, or its watchdog firing), and the longest wait of any (seconds, lower bounds)."""
        self.tick(now)
        run = self.run
        waiting = [now - self.since[i] for i in range(len(self.seen)) if not run.finished[i]]
        if self.prev is None:  # the workers never started: nothing was timed
            waiting = []
        longest = max([self.longest, *waiting])
        return {"bound_s": self.bound, "ended_over_bound": self.over,
                "in_flight_over_bound": sum(1 for w in waiting if w > self.bound),
                "in_flight": len(waiting), "longest_s": round(longest, 3), "resolution_s": RESOLUTION_S}
