"""The hub's ticker: how long the event loop of a greenlet or asyncio cell could not run anything else.

Under gevent every greenlet shares one hub: a driver that waits for the server in C (where gevent's patched
sockets cannot reach) or a long stretch of CPU without a switch stops every other greenlet until it returns.  Rows
stay right while greenlets take turns, so the oracle cannot see it; this can.  A ticker (a greenlet, or an
asyncio task) sleeps :data:`TICK_S` at a time on the load's own loop and notes how late each wake-up is: a wake-up
due at ``t`` that runs at ``t + s`` means the loop ran nothing else for about ``s``.

Lateness has a third cause besides the loop's own work and its blocking calls: the machine.  A process waiting for
a CPU behind others (a shared, loaded machine) wakes late too, through no fault of its loop.  The kernel counts
that wait (``/proc/thread-self/schedstat``: time spent runnable on a run queue); the ticker reads it when it goes
to sleep and when it wakes, and takes that share of the time off the lateness, so the verdict judges the loop,
not the machine (``machine_wait_ms`` says how much was taken off; without schedstat nothing is).  A loop that never
ran the ticker in the whole window blocked the hub whatever the machine did.

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
        self.longest = 0.0  # the longest stall inside the window, the machine's share taken off (seconds)
        self.raw_longest = 0.0  # the same as the clock saw it
        self.blocked = 0.0  # seconds inside the window spent late beyond the tolerance (the machine's share off)
        self.machine = 0.0  # seconds of lateness inside the window the run queue explains (taken off)
        self.over = 0  # stalls longer than BOUND_STALL_S
        self.due: float | None = None  # when the wake-up being waited for is due (perf_counter)
        self.slept_at = 0.0  # when the ticker went to sleep for it
        self.stopped_at: float | None = None
        self._fd: int | None = None  # the loop thread's schedstat
        self._queued = 0.0  # its run-queue wait when the ticker went to sleep

    def note(self, due: float, now: float, machine_share: float = 0.0) -> None:
        """A wake-up due at ``due`` ran at ``now``; ``machine_share`` of the time since the ticker went to sleep the
        thread waited on a run queue: count what of the lateness falls inside the window, that share taken off."""
        run = self.run
        if run.t_go is None:
            return
        start, end = run.window
        seg = min(now, end) - max(due, start)
        if seg <= 0:
            return
        keep = 1.0 - min(max(machine_share, 0.0), 1.0)
        self.ticks += 1
        self.machine += seg * (1.0 - keep)
        self.raw_longest = max(self.raw_longest, seg)
        self.longest = max(self.longest, seg * keep)
        self.over += int((now - due) * keep > BOUND_STALL_S)
        self.blocked += max(0.0, min(now, end) - max(due + self.tolerance, start)) * keep

    def _share(self, now: float) -> float:
        """The share of the time since the ticker went to sleep that its thread waited for a CPU."""
        span = now - self.slept_at
        return (queue_wait_s(self._fd) - self._queued) / span if span > 0 else 0.0

    def _sleeping(self, perf: Any) -> float:
        """Note going to sleep; the wake-up's due time."""
        self.slept_at = now = perf()
        self._queued = queue_wait_s(self._fd)
        self.due = due = now + self.interval
        return due

    def run_greenlet(self) -> None:
        """The ticker as a greenlet (gevent's sleep, on the hub's thread); runs until killed."""
        import gevent

        sleep, perf, interval = gevent.sleep, time.perf_counter, self.interval
        self._fd = _open_schedstat()
        while True:
            due = self._sleeping(perf)
            sleep(interval)
            now = perf()
            self.note(due, now, self._share(now))

    async def run_task(self) -> None:
        """The ticker as an asyncio task (on the loop's thread); runs until cancelled."""
        import asyncio

        sleep, perf, interval = asyncio.sleep, time.perf_counter, self.interval
        self._fd = _open_schedstat()
        while True:
            due = self._sleeping(perf)
            await sleep(interval)
            now = perf()
            self.note(due, now, self._share(now))

    def stop(self) -> None:
        """The workers are done: the window ends here if it had no end (ops mode)."""
        self.stopped_at = time.perf_counter()

    def fields(self, now: float | None = None) -> dict[str, Any]:
        """The record's ``hub`` and ``blocks_hub`` at ``now`` (default: when the workers ended).

        A wake-up overdue then -- the ticker killed before it ran, or the watchdog ending a cell whose loop is stuck
        -- counts too.  A loop that never ran the ticker in the whole window (``ticks`` 0 over at least ten ticks'
        time) blocked the hub whatever the machine did: no other worker could have run either.
        """
        now = self.stopped_at if now is None else now
        pending = HubTicker(self.run, self.interval, self.tolerance)
        due = self.due
        if now is not None and due is not None and now > due:
            pending.note(due, now, self._share(now))
        longest = max(self.longest, pending.longest)
        blocked = self.blocked + pending.blocked
        start, end = self.run.window if self.run.t_go is not None else (0.0, 0.0)
        span = max(0.0, min(end, now if now is not None else end) - start)
        share = blocked / span if span > 0 else None
        never = self.ticks == 0 and span >= 10 * self.interval
        blocks = never or longest > BOUND_STALL_S or (share is not None and share > BOUND_SHARE)
        hub = {"tick_ms": round(self.interval * 1e3, 3), "tolerance_ms": round(self.tolerance * 1e3, 3),
               "ticks": self.ticks, "longest_stall_ms": round(longest * 1e3, 3),
               "blocked_share": None if share is None else round(share, 4),
               "stalls_over_bound": self.over + pending.over,
               "raw_longest_stall_ms": round(max(self.raw_longest, pending.raw_longest) * 1e3, 3),
               "machine_wait_ms": round((self.machine + pending.machine) * 1e3, 3),
               "window_s": round(span, 4), "bound_stall_ms": BOUND_STALL_S * 1e3, "bound_share": BOUND_SHARE}
        return {"hub": hub, "blocks_hub": bool(blocks)}
