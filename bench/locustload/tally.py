"""What one Locust worker process counts: the measured window, the oracle's counts and the latencies inside it.

Contract: a :class:`Window` says which phase an operation belongs to by the moment it *ended* (the rule of
``bench.cell.db.summary`` and ``bench.webstack.drive``): before the window (``warm-up``), inside it (measured), or after
it.  Only operations ending inside the window enter a :class:`Tally`; every operation is reported to Locust, under a
request type that names its phase (:func:`request_type`), so Locust's own statistics of the measured type count
exactly what the tally counts.  :meth:`Tally.report` is what the worker sends to the master: plain JSON, the
latencies of the right replies as an HDR histogram (:func:`bench.records.latency.encode`).
"""

from __future__ import annotations

import time
from array import array
from typing import Any

from bench.records import latency

#: Locust request names of the outcomes that are not an operation's own name.
SILENT_WRONG_NAME = "silent wrong: another operation's reply"
WRONG_NAME = "wrong result"
WRONG_LOCAL_NAME = "wrong local: another request's token"
#: Suffixes of the request type outside the measured window.
WARMUP_SUFFIX = " (warm-up)"
AFTER_SUFFIX = " (after the window)"
#: The oracle's verdicts on a wrong reply, as ``bench.cell.db.workload.judge`` gives them (by index).
WRONG_KINDS = ("ok", "foreign", "stale", "other")


class Window:
    """The measured window on this process's ``perf_counter`` clock; unknown (everything warm-up) until set."""

    def __init__(self) -> None:
        self.begin = float("inf")
        self.end = float("inf")

    def start(self, warmup: float, duration: float, now: float | None = None) -> None:
        """The window begins ``warmup`` seconds from ``now`` and lasts ``duration`` seconds."""
        t0 = time.perf_counter() if now is None else now
        self.begin = t0 + warmup
        self.end = self.begin + duration

    def phase(self, t_end: float) -> str:
        """``warm-up``, ``window`` or ``after`` for an operation that ended at ``t_end``."""
        if t_end < self.begin:
            return "warm-up"
        return "window" if t_end < self.end else "after"

    def covered(self, now: float | None = None) -> float:
        """Seconds of the window that have passed (all of it once it is over; 0 before it began)."""
        t = time.perf_counter() if now is None else now
        if self.begin == float("inf") or t <= self.begin:
            return 0.0
        return min(t, self.end) - self.begin

    def over(self, now: float | None = None) -> bool:
        """Whether the window has ended."""
        return (time.perf_counter() if now is None else now) >= self.end


def request_type(base: str, phase: str) -> str:
    """The Locust request type of an operation of ``phase``: ``base`` inside the window, suffixed outside it."""
    if phase == "window":
        return base
    return base + (WARMUP_SUFFIX if phase == "warm-up" else AFTER_SUFFIX)


class Tally:
    """The oracle's counts and the right replies' latencies inside the window, for one worker process.

    ``requests`` counts every operation that ended inside the window; ``ok`` the right replies among them (their
    latencies are kept); ``errors`` the failed ones by label; ``wrong`` the wrong replies by the oracle's verdict
    (``foreign``, ``stale``, ``other``; for HTTP also ``wrong_local``), ``http_errors`` non-2xx statuses.
    """

    def __init__(self) -> None:
        self.requests = 0
        self.ok = 0
        self.errors: dict[str, int] = {}
        self.wrong: dict[str, int] = {}
        self.http_errors: dict[str, int] = {}
        self.app_errors: dict[str, int] = {}
        self.latencies = array("d")
        self.warmup_requests = 0
        self.after_requests = 0

    def count_phase(self, phase: str) -> bool:
        """Count an operation of ``phase`` outside the window; True when it is inside (the caller tallies it)."""
        if phase == "window":
            self.requests += 1
            return True
        if phase == "warm-up":
            self.warmup_requests += 1
        else:
            self.after_requests += 1
        return False

    def right(self, seconds: float) -> None:
        """A right reply inside the window, after ``seconds``."""
        self.ok += 1
        self.latencies.append(seconds)

    def error(self, label: str) -> None:
        """A failed operation inside the window."""
        self.errors[label] = self.errors.get(label, 0) + 1

    def wrong_reply(self, kind: str) -> None:
        """A wrong reply inside the window (``foreign``, ``stale``, ``other`` or ``wrong_local``)."""
        self.wrong[kind] = self.wrong.get(kind, 0) + 1

    def http_error(self, status: str, app_error: str = "") -> None:
        """A non-2xx reply inside the window (and the error class the app named, if any)."""
        self.http_errors[status] = self.http_errors.get(status, 0) + 1
        if app_error:
            self.app_errors[app_error] = self.app_errors.get(app_error, 0) + 1

    def report(self) -> dict[str, Any]:
        """The counts and the histogram of right replies, as plain JSON for the master."""
        return {
            "requests": self.requests, "ok": self.ok, "errors": dict(sorted(self.errors.items())),
            "wrong": dict(sorted(self.wrong.items())), "http_errors": dict(sorted(self.http_errors.items())),
            "app_errors": dict(sorted(self.app_errors.items())), "warmup_requests": self.warmup_requests,
            "after_requests": self.after_requests, latency.FIELD: latency.encode(latency.from_seconds(self.latencies)),
        }
