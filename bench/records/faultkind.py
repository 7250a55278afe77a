"""The ``fault`` record: one fault scenario on one strategy x load (``ctxbench faults``), and the network faults.

Part of the record kinds (:mod:`bench.records.kinds` re-exports both names); a module of its own because the
scenarios' fields are many.
"""

from bench.records.base import UNSET, Counts, Facts, Null, Record
from bench.records.latency import HistogramField

__all__ = ["NETWORK_FAULTS", "FaultRecord"]


#: The fault scenarios that act on the network (``ctxbench faults``): the resilience table's columns, in order.
NETWORK_FAULTS: tuple[str, ...] = ("partition", "reset", "idle-timeout", "latency-spike")


class FaultRecord(Record, kw_only=True, tag="fault"):
    """One fault scenario on one strategy x load (``ctxbench faults``); the scenario's own fields follow."""

    scenario: str
    strategy: str
    load: str
    concurrency: int
    outcome: Null[str] = UNSET
    problem: Null[str] = UNSET  # None when the strategy behaved as the scenario demands
    errors: Null[Counts] = UNSET
    error_count: Null[int] = UNSET
    error_codes: Null[Counts] = UNSET
    error_samples: Null[dict[str, str]] = UNSET
    wrong_results: Null[int] = UNSET
    ops: Null[int] = UNSET
    ops_per_s: Null[float] = UNSET
    leaked_connections: Null[int] = UNSET
    cell_wall_s: Null[float] = UNSET
    attempts: Null[int] = UNSET
    latency_ms: Null[dict[str, float | None]] = UNSET  # the cell's, as in DbRecord
    latency_hist: Null[HistogramField] = UNSET  # the cell's histogram, as in DbRecord
    cell: Null[Facts] = UNSET  # the whole db record of the cell, in its JSON form
    # kill / restart: the fault's timing and the recovery it allowed
    down_s: Null[float] = UNSET
    stop_s: Null[float] = UNSET
    restart_s: Null[float] = UNSET
    downtime_s: Null[float] = UNSET
    fault_not_injected: Null[str] = UNSET
    note: Null[str] = UNSET
    errors_before_fault: Null[int] = UNSET
    time_to_first_error_s: Null[float] = UNSET
    ops_per_s_before: Null[float] = UNSET
    errors_during_outage: Null[int] = UNSET
    errors_after_restart: Null[int] = UNSET
    observed_after_restart_s: Null[float] = UNSET
    first_ok_after_restart_s: Null[float] = UNSET
    recovered: Null[bool] = UNSET
    recovery_s: Null[float] = UNSET
    ops_per_s_after: Null[float] = UNSET
    throughput_after_ratio: Null[float] = UNSET
    # max-connections
    max_connections: Null[int] = UNSET
    errors_1040: Null[int] = UNSET
    crashed: Null[bool] = UNSET
    threads_connected_before: Null[int] = UNSET
    threads_connected_after: Null[int] = UNSET
    open_after_close: Null[int] = UNSET
    max_used_connections: Null[int] = UNSET
    # hang
    hang_after_s: Null[float] = UNSET
    hung_phase: Null[str] = UNSET
    unfinished_workers: Null[int] = UNSET
    ended_by: Null[str] = UNSET
    cell_processes_left: Null[list[int]] = UNSET
    next_cell: Null[Facts] = UNSET
    # soak
    duration_s: Null[float] = UNSET
    rss_mib: Null[Facts] = UNSET
    within_bound: Null[bool] = UNSET
    storage_growths: Null[int] = UNSET
    # the network faults (NETWORK_FAULTS): the fault as done, then what the strategy did
    path: Null[str] = UNSET  # "proxy" (the user-space delay proxy) or "netns" (a veth link taken down)
    partition_s: Null[float] = UNSET
    spike_rtt_ms: Null[float] = UNSET
    spike_s: Null[float] = UNSET
    reset_links: Null[int] = UNSET  # connections the proxy reset at once
    wait_timeout_s: Null[int] = UNSET  # idle-timeout: the server's wait_timeout during the cell
    idle_gaps: Null[list[list[float]]] = UNSET
    hang_bound_s: Null[float] = UNSET  # the cell's watchdog
    fault_in_window_s: Null[float] = UNSET  # when the fault began, from the window's start
    healed_in_window_s: Null[float] = UNSET  # when the network was whole again (the spike ended), likewise
    errors_during_fault: Null[int] = UNSET
    errors_after_heal: Null[int] = UNSET
    observed_after_heal_s: Null[float] = UNSET
    first_ok_after_heal_s: Null[float] = UNSET
    ops_per_s_during: Null[float] = UNSET
    stuck_bound_s: Null[float] = UNSET
    stuck_ops: Null[int] = UNSET  # operations that waited past stuck_bound_s (ended, failed or still waiting)
    longest_wait_s: Null[float] = UNSET  # the longest wait of any operation, failed and unfinished ones included
    bursts: Null[list[Facts]] = UNSET  # idle-timeout: per burst after a gap, its errors and first right reply
    proxy: Null[Facts] = UNSET  # the proxy's counts at the end (accepted, resets, links)
    verdict: Null[str] = UNSET  # bench.present.resilience.verdict: hung, wrong results, fails fast; recovers ...
