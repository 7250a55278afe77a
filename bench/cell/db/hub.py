"""The hub's ticker: how long the event loop of a greenlet or asyncio cell could not run anything else.

Under gevent every greenlet shares one hub: a driver that waits for the server in C (where gevent's patched
sockets cannot reach) or a long stretch of CPU without a switch stops every other greenlet until it returns.  Rows
stay right while greenlets take turns, so the oracle cannot see it; this can.  A ticker (a greenlet, or an
asyncio task) sleeps :data:`TICK_S` at a time on the load's own loop and notes how late each wake-up is: a wake-up
due at ``t`` that runs at ``t + s`` means the loop ran nothing else for about ``s``.

Lateness has a third cause besides the loop's own work and its blocking calls: the machine.  A process waiting for
a CPU behind others (a shared, loaded machine) wakes late too, through no fault of its loop.  The kernel counts
that wait (``/proc/thread-self/schedstat``: time spent runnable on a run queue); the ticker reads it at every
wake-up and takes it off the lateness it can explain, so the verdict judges the loop, not the machine
(``machine_wait_ms`` says how much was taken off; without schedstat nothing is).

Over the measured window it keeps the longest stall and the *blocked share*: the time spent late beyond
:data:`TOLERANCE_S` (a fair loop busy with many workers is late by a round of their turns, not blocked), over the
window's length.  A cell **blocks the hub** when its longest stall exceeds :data:`BOUND_STALL_S` or its blocked
share exceeds :data:`BOUND_SHARE` (docs/drivers.md says why these).  A wake-up costs a timer, a switch, two clock
reads and one ``pread`` of schedstat; nothing is allocated per tick but the read's bytes.
"""

from __future__ import annotations

import os
import time
from typing import Any

#: Seconds the ticker sleeps between wake-ups.
TICK_S = 0.01
#: Lateness up to this is a fair loop's turn-taking, not a stall (seconds).
TOLERANCE_S = 0.01
#: A cell whose loop stalls longer than this once blocks the hub (seconds).
BOUND_STALL_S = 0.1
#: A cell whose loop is blocked (late beyond the tolerance) for more than this share of the window blocks the hub.
BOUND_SHARE = 0.2
#: Where the kernel counts the calling thread's time spent waiting for a CPU (second field, nanoseconds).
SCHEDSTAT = "/proc/thread-self/schedstat"


def _open_schedstat() -> int | None:
    """A descriptor on this thread's schedstat (None where the kernel has none)."""
    try:
        return os.open(SCHEDSTAT, os.O_RDONLY)
    except OSError:
        return None


def queue_wait_s(fd: int | None) -> float:
    """Seconds the thread behind ``fd`` has waited on a run queue so far (0.0 without schedstat)."""
    if fd is None:
        return 0.0
    try:
        return int(os.pread(fd, 96, 0).split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class HubTicker:
    """Notes how late each of its wake-ups is, inside the window of ``run`` (a :class:`bench.cell.db.state.Run`)."""

    def __init__(self, run: Any, interval: float = TICK_S, tolerance: float = TOLERANCE_S) -> None:
        self.run = run
        self.interval = interval
        self.tolerance = tolerance
        self.ticks = 0  # wake-ups inside the window
        self.longest = 0.0  # the longest stall inside the window, the machine's wait taken off (seconds)
        self.raw_longest = 0.0  # the same as the clock saw it
        self.blocked = 0.0  # seconds inside the window spent late beyond the tolerance
        self.machine = 0.0  # seconds of lateness the run queue explains (taken off)
        self.over = 0  # stalls longer than BOUND_STALL_S
        self.due: float | None = None  # when the wake-up being waited for is due (perf_counter)
        self.stopped_at: float | None = None
        self._fd: int | None = None  # the loop thread's schedstat
        self._queued = 0.0  # its run-queue wait at the last wake-up

    def note(self, due: float, now: float, queued: float = 0.0) -> None:
        """A wake-up due at ``due`` ran at ``now``, ``queued`` seconds of the wait since the last one spent on a run
        queue: count what of its lateness, less the machine's share, falls inside the window."""
        run = self.run
        if run.t_go is None:
            return
        start, end = run.window
        machine = min(max(queued, 0.0), max(now - due, 0.0))
        late_from, raw_until, until = max(due, start), min(now, end), min(now - machine, end)
        if raw_until <= start or late_from >= end:
            return
        self.ticks += 1
        self.machine += machine
        self.raw_longest = max(self.raw_longest, raw_until - late_from)
        stall = until - late_from
        if stall > self.longest:
            self.longest = stall
        if now - machine - due > BOUND_STALL_S:
            self.over += 1
        blocked_from = max(due + self.tolerance, start)
        if until > blocked_from:
            self.blocked += until - blocked_from

    def _wake(self, due: float, now: float) -> None:
        queued = queue_wait_s(self._fd)
        self.note(due, now, queued - self._queued)
        self._queued = queued

    def run_greenlet(self) -> None:
        """The ticker as a greenlet (gevent's sleep, on the hub's thread); runs until killed."""
        import gevent

        sleep, perf, interval = gevent.sleep, time.perf_counter, self.interval
        self._fd = _open_schedstat()
        self._queued = queue_wait_s(self._fd)
        while True:
            self.due = due = perf() + interval
            sleep(interval)
            self._wake(due, perf())

    async def run_task(self) -> None:
        """The ticker as an asyncio task (on the loop's thread); runs until cancelled."""
        import asyncio

        sleep, perf, interval = asyncio.sleep, time.perf_counter, self.interval
        self._fd = _open_schedstat()
        self._queued = queue_wait_s(self._fd)
        while True:
            self.due = due = perf() + interval
            await sleep(interval)
            self._wake(due, perf())

    def stop(self) -> None:
        """The workers are done: the window ends here if it had no end (ops mode)."""
        self.stopped_at = time.perf_counter()

    def fields(self, now: float | None = None) -> dict[str, Any]:
        """The record's ``hub`` and ``blocks_hub`` at ``now`` (default: when the workers ended): a wake-up overdue
        then -- the ticker killed before it ran, or the watchdog ending a cell whose loop is stuck -- counts too."""
        now = self.stopped_at if now is None else now
        longest, raw, blocked, over, machine = self.longest, self.raw_longest, self.blocked, self.over, self.machine
        start, end = self.run.window if self.run.t_go is not None else (0.0, 0.0)
        due = self.due
        if now is not None and due is not None and self.run.t_go is not None and now > due and due < end:
            queued = min(max(queue_wait_s(self._fd) - self._queued, 0.0), now - due)
            longest = max(longest, min(now - queued, end) - max(due, start))
            raw = max(raw, min(now, end) - max(due, start))
            blocked += max(0.0, min(now - queued, end) - max(due + self.tolerance, start))
            over += int(now - queued - due > BOUND_STALL_S)
            machine += queued
        span = max(0.0, min(end, now if now is not None else end) - start)
        share = blocked / span if span > 0 else None
        blocks = longest > BOUND_STALL_S or (share is not None and share > BOUND_SHARE)
        hub = {"tick_ms": round(self.interval * 1e3, 3), "tolerance_ms": round(self.tolerance * 1e3, 3),
               "ticks": self.ticks, "longest_stall_ms": round(longest * 1e3, 3),
               "blocked_share": None if share is None else round(share, 4), "stalls_over_bound": over,
               "raw_longest_stall_ms": round(raw * 1e3, 3), "machine_wait_ms": round(machine * 1e3, 3),
               "window_s": round(span, 4), "bound_stall_ms": BOUND_STALL_S * 1e3, "bound_share": BOUND_SHARE}
        return {"hub": hub, "blocks_hub": bool(blocks)}
