"""What a cell's timeline says about a server fault: time to first error, errors, recovery.

The cell stamps its right replies and its errors with ``time.perf_counter`` -- on Linux
``CLOCK_MONOTONIC``, the clock of the parent's ``time.monotonic`` -- and returns them as a sparse
timeline (``bucket_s`` buckets, exact first and last error; see :func:`bench.cell.db.summary.timeline`).
The parent notes when it killed the server (``fault_at``) and when the server took the login again
(``back_at``); :func:`recovery` computes from the two:

* ``time_to_first_error_s``: first error at or after the fault, minus the fault;
* ``errors_during_outage`` / ``errors_after_restart``: errors before and after the server was back;
* ``recovered``: right replies, and no error at all, in the last second of the window;
* ``recovery_s``: from the server being back to the first right reply after the strategy's last error;
* ``throughput_after_ratio``: right replies per second in that last second over the second before the fault.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from bench.faults.plan import LEAD

#: A timeline's ``ok`` or ``errors``: (bucket index, count) pairs.
Buckets = Sequence[Sequence[float]]


class AfterRestart(TypedDict):
    """What needs the server back (or says it never came back): fields of the ``fault`` record."""

    errors_during_outage: int
    errors_after_restart: int | None
    observed_after_restart_s: float
    first_ok_after_restart_s: float | None
    recovered: bool
    recovery_s: float | None
    ops_per_s_after: float | None
    throughput_after_ratio: float | None


class Recovery(AfterRestart):
    """What :func:`recovery` measured: fields of the ``fault`` record (``FaultRecord.replace(**recovery)``)."""

    errors_before_fault: int
    time_to_first_error_s: float | None
    ops_per_s_before: float | None


def _sum_between(pairs: Buckets, bucket: float, start: float, end: float) -> int:
    """Events in the buckets that lie in [start, end)."""
    lo, hi = int(start / bucket), int(end / bucket)
    return int(sum(n for k, n in pairs if lo <= k < hi))


def _first_at_or_after(pairs: Buckets, bucket: float, t: float) -> float | None:
    """The start of the first non-empty bucket at or after the bucket holding ``t``."""
    lo = int(t / bucket)
    keys = [k for k, n in pairs if k >= lo and n]
    return min(keys) * bucket if keys else None


def _never_back(errors: Buckets, b: float, fault_at: float, end: float) -> AfterRestart:
    return AfterRestart(errors_during_outage=_sum_between(errors, b, fault_at, end + 1.0), errors_after_restart=None,
                        recovered=False, recovery_s=None, first_ok_after_restart_s=None, ops_per_s_after=None,
                        throughput_after_ratio=None, observed_after_restart_s=0.0)


def _after_restart(timeline: Mapping[str, Any], fault_at: float, back_at: float,
                   rate_before: float | None) -> AfterRestart:
    """The fields that need the server back: errors on either side of ``back_at``, the last second, the recovery."""
    b = float(timeline["bucket_s"])
    ok, errors = timeline["ok"], timeline["errors"]
    end = float(timeline["window"][1])
    tail_from = max(back_at, end - 1.0)
    ok_tail = _sum_between(ok, b, tail_from, end)
    rate_after = ok_tail / (end - tail_from) if end > tail_from else None
    last_error = timeline.get("last_error_at")
    first_ok_after = _first_at_or_after(ok, b, back_at)
    settled_ok = _first_at_or_after(ok, b, max(back_at, last_error) if last_error is not None else back_at)
    recovered = ok_tail > 0 and _sum_between(errors, b, tail_from, end) == 0
    return AfterRestart(
        errors_during_outage=_sum_between(errors, b, fault_at, back_at),
        errors_after_restart=_sum_between(errors, b, back_at, end + 1.0),
        observed_after_restart_s=round(end - back_at, 3),
        first_ok_after_restart_s=(round(max(0.0, first_ok_after - back_at), 3)
                                  if first_ok_after is not None else None),
        recovered=recovered,
        recovery_s=round(max(0.0, settled_ok - back_at), 3) if recovered and settled_ok is not None else None,
        ops_per_s_after=round(rate_after, 1) if rate_after is not None else None,
        throughput_after_ratio=(round(rate_after / rate_before, 3)
                                if rate_after is not None and rate_before else None),
    )


def recovery(timeline: Mapping[str, Any], *, fault_at: float, back_at: float | None,
             lead: float = LEAD) -> Recovery:
    """Time to first error, errors during and after the outage, and whether and how fast the strategy came back.

    ``fault_at`` is when the server was killed (or told to shut down) and ``back_at`` when it took
    the login again (None: it never came back), both ``time.monotonic()``; ``lead`` seconds before
    the fault give the throughput before it.
    """
    b = float(timeline["bucket_s"])
    ok, errors = timeline["ok"], timeline["errors"]
    start, end = float(timeline["window"][0]), float(timeline["window"][1])
    first_error = timeline.get("first_error_at")
    if first_error is not None and first_error < fault_at:
        # Errors before the fault (none expected) are not its doing.
        first_error = _first_at_or_after(errors, b, fault_at)
    before_from = max(start, fault_at - lead)
    ok_before = _sum_between(ok, b, before_from, fault_at)
    rate_before = ok_before / (fault_at - before_from) if fault_at > before_from else None
    after = (_never_back(errors, b, fault_at, end) if back_at is None
             else _after_restart(timeline, fault_at, back_at, rate_before))
    return Recovery(
        errors_before_fault=_sum_between(errors, b, 0.0, fault_at),
        time_to_first_error_s=round(first_error - fault_at, 4) if first_error is not None else None,
        ops_per_s_before=round(rate_before, 1) if rate_before is not None else None,
        **after,
    )


def rate_between(timeline: Mapping[str, Any], start: float, end: float) -> float | None:
    """Right replies per second in ``[start, end)`` (monotonic seconds; None for an empty span)."""
    if end <= start:
        return None
    b = float(timeline["bucket_s"])
    return round(_sum_between(timeline["ok"], b, start, end) / (end - start), 1)


def errors_between(timeline: Mapping[str, Any], start: float, end: float) -> int:
    """Errors in ``[start, end)`` (monotonic seconds, to the timeline's bucket)."""
    return _sum_between(timeline["errors"], float(timeline["bucket_s"]), start, end)


def first_ok_at_or_after(timeline: Mapping[str, Any], t: float) -> float | None:
    """The start of the first bucket at or after ``t`` holding a right reply (None: none after it)."""
    return _first_at_or_after(timeline["ok"], float(timeline["bucket_s"]), t)
