"""What a network fault did to one strategy, read from its cell's record: detection, stuck operations, recovery.

The parent notes when it did the fault and when the network was whole again (:class:`NetFault`, both
``time.monotonic()``, the clock of the cell's timeline: :mod:`bench.faults.recovery`).  From the cell's ``db`` record:

* ``time_to_first_error_s`` (detection): from the fault to the first failed operation -- an error, a timed-out read
  included (a strategy that never fails has None);
* ``stuck_ops`` / ``longest_wait_s``: operations that waited longer than ``stuck_bound_s`` -- ended, failed, or still
  waiting when the cell ended or its watchdog fired -- and the longest wait of any (the cell's ``op_waits``:
  :mod:`bench.cell.db.waits`);
* ``first_ok_after_heal_s``: from the heal to the first right reply; ``recovered`` / ``recovery_s`` as for the
  server faults (right replies and no error in the window's last second; from the heal to the first right reply
  after the strategy's last error); ``ops_per_s_during`` the right replies per second while the fault lasted;
* a ``hung`` cell (its watchdog ended it): what came after is not observed, and its recovery fields are None.

``idle-timeout`` has no single fault: the server closes idle connections during each gap, and each burst after a
gap is judged on its own (:func:`idle_fields`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.faults.plan import NET_LEAD, OBSERVED_AT_LEAST
from bench.faults.recovery import errors_between, first_ok_at_or_after, rate_between, recovery
from bench.records.kinds import DbRecord, known

#: recovery()'s names for a server that went down -> the names for a network that failed and healed.
_RENAMED = {"errors_during_outage": "errors_during_fault", "errors_after_restart": "errors_after_heal",
            "observed_after_restart_s": "observed_after_heal_s", "first_ok_after_restart_s": "first_ok_after_heal_s"}
#: The fields a hung cell cannot have: it was ended before the network healed, or just after.
_NOT_OBSERVED = ("errors_after_heal", "observed_after_heal_s", "first_ok_after_heal_s", "recovered", "recovery_s",
                 "ops_per_s_after", "throughput_after_ratio")
#: An idle-timeout burst is settled when the last half of it holds right replies and no error.
SETTLED_SHARE = 0.5


@dataclass(frozen=True)
class NetFault:
    """A network fault as the parent did it: when it began, when the network was whole again, its record fields."""

    fault_at: float
    healed_at: float
    settings: Mapping[str, Any] = field(default_factory=dict)


def stuck_fields(op_waits: Mapping[str, Any] | None) -> dict[str, Any]:
    """``stuck_bound_s``, ``stuck_ops`` and ``longest_wait_s`` from a cell's ``op_waits`` (nothing if untracked)."""
    if not op_waits:
        return {}
    return {"stuck_bound_s": op_waits.get("bound_s"),
            "stuck_ops": int(op_waits.get("ended_over_bound", 0)) + int(op_waits.get("in_flight_over_bound", 0)),
            "longest_wait_s": op_waits.get("longest_s")}


def _timeline_fields(timeline: Mapping[str, Any], fault: NetFault, hung: bool) -> dict[str, Any]:
    got = recovery(timeline, fault_at=fault.fault_at, back_at=None if hung else fault.healed_at, lead=NET_LEAD)
    fields: dict[str, Any] = {_RENAMED.get(key, key): value for key, value in got.items()}
    if hung:
        fields.update(dict.fromkeys(_NOT_OBSERVED))
    start, end = float(timeline["window"][0]), float(timeline["window"][1])
    fields["fault_in_window_s"] = round(fault.fault_at - start, 3)
    fields["healed_in_window_s"] = round(fault.healed_at - start, 3)
    fields["ops_per_s_during"] = rate_between(timeline, fault.fault_at, min(fault.healed_at, end))
    if not hung and end < fault.healed_at + OBSERVED_AT_LEAST:
        fields["note"] = (f"the window ended less than {OBSERVED_AT_LEAST:g} s after the heal: recovery not "
                          "observed")
    return fields


def net_fields(rec: DbRecord, fault: NetFault) -> dict[str, Any]:
    """The ``fault`` record's fields for one cell under a partition, a reset or a latency spike."""
    fields: dict[str, Any] = {**fault.settings, "hang_bound_s": known(rec.hang_after_s),
                              **stuck_fields(known(rec.op_waits))}
    timeline = known(rec.timeline)
    if timeline:
        fields.update(_timeline_fields(timeline, fault, rec.outcome == "hung"))
    return fields


def _burst(timeline: Mapping[str, Any], start: float, end: float) -> dict[str, Any]:
    """One burst after an idle gap (monotonic ``start``/``end``): its errors, when the first came, its recovery."""
    errors = errors_between(timeline, start, end)
    first_ok = first_ok_at_or_after(timeline, start)
    tail = end - SETTLED_SHARE * (end - start)
    settled = errors_between(timeline, tail, end) == 0 and (rate_between(timeline, tail, end) or 0) > 0
    seen_ok = first_ok is not None and first_ok < end
    return {"start_in_window_s": None, "errors": errors,
            "first_ok_s": round(first_ok - start, 3) if seen_ok and first_ok is not None else None,
            "settled": settled}


def idle_fields(rec: DbRecord, gaps: Sequence[Sequence[float]], wait_timeout: int) -> dict[str, Any]:
    """The ``fault`` record's fields for one idle-timeout cell: each burst after a gap judged on its own.

    ``gaps`` are ``[start_s, length_s]`` from the window's start.  Detection is from the end of the first gap (the
    first use of a connection the server may have closed) to the first error after it; ``recovered`` means the
    second half of every burst after a gap held right replies and no error; ``first_ok_after_heal_s`` is the longest
    time from a burst's start to its first right reply, ``recovery_s`` to its first right reply after its last
    error (the same when it had none).
    """
    fields: dict[str, Any] = {"wait_timeout_s": wait_timeout, "idle_gaps": [list(g) for g in gaps],
                              "hang_bound_s": known(rec.hang_after_s), **stuck_fields(known(rec.op_waits))}
    timeline = known(rec.timeline)
    if not timeline or not gaps:
        return fields
    start, end = float(timeline["window"][0]), float(timeline["window"][1])
    edges = [start + float(g[0]) + float(g[1]) for g in gaps]  # each burst after a gap begins here
    bursts = []
    for k, begin in enumerate(edges):
        stop = start + float(gaps[k + 1][0]) if k + 1 < len(gaps) else end
        burst = _burst(timeline, begin, stop)
        burst["start_in_window_s"] = round(begin - start, 3)
        last_error = _last_error_in(timeline, begin, stop)
        settled_ok = first_ok_at_or_after(timeline, last_error) if last_error is not None else None
        if last_error is None:  # no error: back as soon as its first right reply (after reconnecting, pinging...)
            burst["recovery_s"] = burst["first_ok_s"]
        else:
            burst["recovery_s"] = round(settled_ok - begin, 3) if settled_ok is not None and settled_ok < stop else None
        bursts.append(burst)
    first_errors = [b["start_in_window_s"] for b in bursts if b["errors"]]
    got = recovery(timeline, fault_at=edges[0], back_at=edges[0], lead=NET_LEAD)
    last_from = start + float(gaps[-1][0]) + float(gaps[-1][1])
    fields.update(
        bursts=bursts, errors_before_fault=got["errors_before_fault"],
        time_to_first_error_s=got["time_to_first_error_s"] if first_errors else None,
        errors_after_heal=sum(b["errors"] for b in bursts),
        # right replies per second in the first burst (before any gap) and in the last one
        ops_per_s_before=rate_between(timeline, start, start + float(gaps[0][0])),
        ops_per_s_after=rate_between(timeline, last_from, end),
        recovered=all(b["settled"] for b in bursts),
        first_ok_after_heal_s=max((b["first_ok_s"] for b in bursts if b["first_ok_s"] is not None), default=None),
        recovery_s=max((b["recovery_s"] for b in bursts if b["recovery_s"] is not None), default=None),
        fault_in_window_s=round(edges[0] - start, 3),
    )
    return fields


def _last_error_in(timeline: Mapping[str, Any], start: float, end: float) -> float | None:
    """The start of the last bucket in ``[start, end)`` holding an error (None: no error there)."""
    b = float(timeline["bucket_s"])
    lo, hi = int(start / b), int(end / b)
    keys = [k for k, n in timeline["errors"] if lo <= k < hi and n]
    return max(keys) * b if keys else None
