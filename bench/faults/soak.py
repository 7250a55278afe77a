"""The soak's memory: the cell process's resident memory sampled, and held to two bounds.

:class:`RssSampler` samples the resident memory of the running cell process every
:data:`RSS_INTERVAL` seconds on a thread.  :func:`rss_summary` judges the samples over the cell's
measured window:

* growth: memory is counted from the end of the connection ramp -- the first sample, at least
  :data:`SOAK_SETTLE` of the way into the window, after which it grows by less than
  :data:`SOAK_RAMP_MIB_S` over :data:`SOAK_RAMP_PROBE_S` -- to the peak of the window's last tenth,
  and may grow by at most :data:`SOAK_RSS_GROWTH_MIB`.  Memory that never settles, or settles only
  in the second half of the window, fails.
* peak: at most :func:`peak_bound_mib` -- the cell's preallocated latency stamps, plus
  :data:`SOAK_MIB_PER_WORKER` per worker, plus :data:`SOAK_BASE_MIB`.

Why these numbers (and what the soak measured) is in the README, "Measured: the soak".
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from typing import Any

from bench.cell.db import STAMP_BYTES, stamp_capacity
from bench.faults.running import cell_processes

#: How often the soak samples the cell process's resident memory (seconds).
RSS_INTERVAL = 0.5
#: Growth is counted from no earlier than this fraction of the measured window (stacks and buffers
#: are still being touched in the first seconds) ...
SOAK_SETTLE = 0.1
#: ... nor before memory grows by less than ``SOAK_RAMP_MIB_S`` over ``SOAK_RAMP_PROBE_S`` seconds (the
#: connections are still being opened before that).
SOAK_RAMP_MIB_S = 1.0
SOAK_RAMP_PROBE_S = 2.0
#: Growth allowed from then to the end of the window: a steady cell keeps nothing per operation.
SOAK_RSS_GROWTH_MIB = 16.0
#: The peak bound's parts besides the preallocated stamps: each worker's connection, buffers and
#: thread or greenlet; the interpreter with gevent, PyMySQL, DBUtils and numpy.
SOAK_MIB_PER_WORKER = 1.0
SOAK_BASE_MIB = 128.0
_MIB = 1024.0 * 1024.0

#: (time.monotonic(), resident bytes) pairs.
Samples = Sequence[tuple[float, int]]


class RssSampler:
    """Samples the resident memory of the running cell process(es), ``RSS_INTERVAL`` apart, on a thread."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ctxbench-rss", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # A sampler until told to stop, not a wait for a condition: the Event's wait is the interval.
        import psutil

        while not self._stop.is_set():
            for proc in cell_processes():
                with contextlib.suppress(psutil.Error):  # the cell ended between listing and reading
                    self.samples.append((time.monotonic(), int(proc.memory_info().rss)))
            self._stop.wait(RSS_INTERVAL)

    def stop(self) -> list[tuple[float, int]]:
        """Stop sampling; every sample taken."""
        self._stop.set()
        self._thread.join()
        return self.samples


def peak_bound_mib(duration: float, warmup: float, concurrency: int) -> float:
    """The soak's bound on peak RSS: the cell's preallocated latency stamps, plus so much per worker, plus a base."""
    stamps = stamp_capacity(warmup + duration, concurrency) * STAMP_BYTES * concurrency
    return round(stamps / _MIB + SOAK_MIB_PER_WORKER * concurrency + SOAK_BASE_MIB, 1)


def _ramp_end(samples: Samples, earliest: float, end: float) -> float | None:
    """The first sample time from ``earliest`` after which memory grows less than the ramp rate over the probe span.

    None if there is none.
    """
    limit = SOAK_RAMP_MIB_S * SOAK_RAMP_PROBE_S * _MIB
    for i, (t, rss) in enumerate(samples):
        if t < earliest or t + SOAK_RAMP_PROBE_S > end:
            continue
        later = next((r for u, r in samples[i:] if u >= t + SOAK_RAMP_PROBE_S), None)
        if later is not None and later - rss < limit:
            return t
    return None


def _settle(samples: Samples, start: float, end: float) -> tuple[float, str | None]:
    """Where growth is counted from, and a note if memory did not settle in the first half of the window."""
    earliest = start + SOAK_SETTLE * (end - start)
    settled_at = _ramp_end(samples, earliest, end)
    if settled_at is not None and settled_at <= start + (end - start) / 2:
        return settled_at, None
    where = "at the end of the window" if settled_at is None else "in the first half of the window"
    # Report the growth from the usual point; the verdict is a failure anyway.
    return earliest, f"memory was still growing by more than {SOAK_RAMP_MIB_S:g} MiB/s {where}"


def rss_summary(samples: Samples, window: Sequence[float], *, bound_mib: float = SOAK_RSS_GROWTH_MIB,
                peak_bound: float | None = None) -> dict[str, Any]:
    """Resident memory over the measured window: settled, end, peak, growth after settling, and the verdict."""
    start, end = float(window[0]), float(window[1])
    settled_at, note = _settle(samples, start, end)
    inside = [(t, rss) for t, rss in samples if settled_at <= t <= end]
    if len(inside) < 2:
        return {"samples": len(samples), "within_bound": None, "bound_growth_mib": bound_mib,
                "note": "too few samples inside the window"}
    settled, last = inside[0][1], inside[-1][1]
    peak = max(rss for _, rss in samples)
    growth = (max(rss for _, rss in inside[-max(1, len(inside) // 10):]) - settled) / _MIB  # last tenth's peak
    ok = note is None and growth <= bound_mib and (peak_bound is None or peak / _MIB <= peak_bound)
    return {
        **({"note": note} if note else {}),
        "samples": len(samples), "interval_s": RSS_INTERVAL, "settle_s": round(settled_at - start, 1),
        "window_start_mib": round(min((rss for t, rss in samples if t >= start), default=0) / _MIB, 1),
        "settled_mib": round(settled / _MIB, 1), "window_end_mib": round(last / _MIB, 1),
        "peak_mib": round(peak / _MIB, 1), "growth_mib": round(growth, 1), "bound_growth_mib": bound_mib,
        "bound_peak_mib": peak_bound, "within_bound": ok,
        "series_mib": [[round(t - start, 1), round(rss / _MIB, 1)] for t, rss in samples],
    }
