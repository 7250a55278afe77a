"""One typed record per kind: the fields each kind must carry and the ones it may carry.

A record is a :class:`msgspec.Struct` whose class names its kind (``kind`` in its JSON form, the tag).
Required fields have no default and are never null.  Every other field defaults to :data:`UNSET`,
which stands for "absent from the JSON" -- not for null: a field a writer set to None is written as
``null``, an unset one is not written at all, so a record read and written again is field for field
what was read (msgspec tells the two apart; dataclasses cannot without a sentinel of their own).
Read an optional field with :func:`known` where absent and null mean the same; ``rec.field or 0``
works as it did for a dict, since UNSET is falsy.

The JSON form exists at two edges only (:mod:`bench.records.schema`): a cell process writing its
output, and a sink writing or a reader reading stored files.  Everything in between handles these
objects.  The format's history is ``docs/schema.md``.
"""

from collections.abc import Sequence
from typing import Literal

from bench.records.base import UNSET, Counts, Facts, Null, Record, UnsetType, known
from bench.records.faultkind import NETWORK_FAULTS, FaultRecord
from bench.records.latency import HistogramField

__all__ = [
    "NETWORK_FAULTS", "UNSET", "CeilingRecord", "DbOverheadRecord", "DbRecord", "FaultRecord", "MicroRecord",
    "ParallelRecord",
    "ProbeRecord", "Record", "RequestRecord", "StackRecord", "UnsetType", "known",
]


class _OnInterpreter(Record, kw_only=True):
    """Which interpreter a cell ran on, measured in the cell (:mod:`bench.cell.interpreter`); absent in older records.

    ``interpreter`` is the short name (``3.14t``), ``python`` the version, ``free_threaded`` the build, ``gil``
    whether the GIL was on at the end of the cell (after every import), ``gil_enabled_by`` the modules that turned
    it back on in a free-threaded build.
    """

    interpreter: Null[str] = UNSET
    python: Null[str] = UNSET
    free_threaded: Null[bool] = UNSET
    gil: Null[bool] = UNSET
    gil_enabled_by: Null[list[str]] = UNSET


class ProbeRecord(_OnInterpreter, kw_only=True, tag="probe"):
    """One isolation probe of one impl under one load (``ctxbench locals``)."""

    impl: str
    load: str
    probe: str
    outcome: str  # "ok", or "error" when the probe could not run
    workers: Null[int] = UNSET
    violations: Null[int] = UNSET  # None when the probe could not run, or is reported, not judged
    checks: Null[int] = UNSET  # an int when outcome is "ok"
    details: Null[Facts] = UNSET  # a reported probe (inheritance): {"inherited": n}
    duration_s: Null[float] = UNSET
    error: Null[str] = UNSET
    traceback: Null[str] = UNSET


class MicroRecord(_OnInterpreter, kw_only=True, tag="micro"):
    """The cost of one op on one impl, over fresh processes (the micro harness)."""

    impl: str
    op: str
    ns_median: float
    ns_spread: Null[float] = UNSET
    spread_kind: Null[str] = UNSET  # "mad"
    values: Null[list[float]] = UNSET
    processes: Null[int] = UNSET
    values_per_process: Null[int] = UNSET
    loops: Null[int] = UNSET
    harness_ns: Null[float] = UNSET
    ratio_to_threading_local: Null[float] = UNSET  # None when the reference was not measured


def pair_means(values_2: Sequence[float]) -> list[float]:
    """Each round's mean of its two threads, from a ``parallel`` record's ``values_2`` (a round's pair together); a
    lone value without its pair is left out."""
    return [(values_2[2 * k] + values_2[2 * k + 1]) / 2 for k in range(len(values_2) // 2)]


class ParallelRecord(_OnInterpreter, kw_only=True, tag="parallel"):
    """One op on one Local run by 1 thread, then by 2 threads at once, each on its own value, for a fixed time.

    ``ops_per_s_1``: the one thread's ops/s; ``ops_per_s_2``: each of the two threads' ops/s (median over threads
    and rounds); ``scaling`` = ``ops_per_s_2 / ops_per_s_1`` (1: no contention; 0.5: the two threads took turns,
    as the GIL makes them).  ``ns_1`` / ``ns_2`` are the same as nanoseconds per access, the timing loop included.
    """

    impl: str
    op: str
    ops_per_s_1: float
    ops_per_s_2: float
    scaling: float
    ns_1: Null[float] = UNSET
    ns_2: Null[float] = UNSET
    #: The same ratio from the least disturbed rounds: the best one-thread round, and the best round of the pair
    #: (the mean of its two threads) -- on a machine shared with other work, what the threads can do undisturbed.
    scaling_best: Null[float] = UNSET
    values_1: Null[list[float]] = UNSET  # ops/s of the one thread, per round
    values_2: Null[list[float]] = UNSET  # ops/s of each of the two threads, per round (the two of a round together)
    processes: Null[int] = UNSET
    rounds: Null[int] = UNSET  # rounds per process
    window_s: Null[float] = UNSET  # seconds each thread count ran, per round
    cores: Null[int] = UNSET
    machine_load_1m: Null[list[float]] = UNSET  # the 1-minute load average at the start of each process


class CeilingRecord(Record, kw_only=True, tag="ceiling"):
    """The server's own capacity at one concurrency (mysqlslap); already copied into every db record."""

    concurrency: int
    outcome: str  # "ok" or "skipped"
    query: Null[str] = UNSET
    samples: Null[list[float]] = UNSET
    ops_per_s: Null[float] = UNSET


class _Network(_OnInterpreter, kw_only=True):
    """The network a db, request or stack cell ran over, when it was run with a round trip (``--rtt``): all absent
    otherwise.  Times in milliseconds; ``rtt_ms`` and its percentiles are measured (``SELECT 1`` pings through the
    path the cell used, just before it), never the setting."""

    rtt_set_ms: Null[float] = UNSET  # the round trip asked for (0: direct, no proxy)
    rtt_ms: Null[float] = UNSET  # the measured round trip the cell ran at: the median ping
    rtt_p10_ms: Null[float] = UNSET
    rtt_p90_ms: Null[float] = UNSET
    rtt_pings: Null[int] = UNSET  # pings timed
    rtt_direct_ms: Null[float] = UNSET  # the median ping straight to the server, no proxy
    proxy_cost_ms: Null[float] = UNSET  # through the proxy at 0 minus direct: its own cost (null when direct)
    #: What the round trip alone allows: the connections that can wait on the network at once (1 for a strategy
    #: whose checkouts exclude each other, else the total concurrency) per measured round trip.
    rtt_bound_ops_per_s: Null[float] = UNSET


class _LocustFields(_Network, kw_only=True):
    """``load: "locust"`` (``ctxbench locust``): one record merged from the Locust workers' reports."""

    users: Null[int] = UNSET  # Locust users in total
    locust_processes: Null[int] = UNSET  # Locust worker processes that took part
    reported_processes: Null[int] = UNSET  # those that sent their report
    locust_workers: Null[list[Facts]] = UNSET  # per worker: id, index, host, pid, users, requests, ok, errors, ...
    missing_workers: Null[list[str]] = UNSET  # workers that took part and sent no report (died, or too late)
    partial: Null[bool] = UNSET  # True when any worker is missing: the totals cover only the others
    truncated: Null[bool] = UNSET  # True when the run was stopped before the window's end
    requests: Null[int] = UNSET  # operations (db) or requests (stack) that ended inside the window
    warmup_requests: Null[int] = UNSET  # operations that ended before it
    worker_server_urls: Null[list[str]] = UNSET  # the server each worker used, redacted
    worker_problems: Null[list[str]] = UNSET  # one line per worker that could not run the workload
    measured_s: Null[float] = UNSET  # seconds of the window the reports cover


class _Workload(_LocustFields, kw_only=True):
    """What the database workload harness records (``db`` and ``request`` cells), besides their coordinates."""

    reason: Null[str] = UNSET  # why a cell was skipped, hung or crashed
    duration_s: Null[float] = UNSET
    warmup_s: Null[float] = UNSET
    ops_requested: Null[int] = UNSET
    mix: Null[Counts] = UNSET
    settings: Null[Facts] = UNSET
    server_url: Null[str] = UNSET  # password hidden
    target_source: Null[str] = UNSET
    connect_options: Null[Facts] = UNSET
    ops: Null[int] = UNSET
    ops_total: Null[int] = UNSET
    ops_per_s: Null[float] = UNSET
    #: p50, p90, p99, p99.9, max, mean, read from latency_hist (older records: p50, p90, p99, max).
    latency_ms: Null[dict[str, float | None]] = UNSET
    #: Every timed operation's latency, an HDR histogram (bench.records.latency); merged by adding.
    latency_hist: Null[HistogramField] = UNSET
    pool_wait_ms: Null[Facts] = UNSET
    connect_ms: Null[Facts] = UNSET
    first_checkout_ms: Null[dict[str, float | None]] = UNSET
    storage_growths: Null[int] = UNSET
    errors: Null[Counts] = UNSET  # error class -> count
    error_count: Null[int] = UNSET
    error_samples: Null[dict[str, str]] = UNSET
    error_codes: Null[Counts] = UNSET
    wrong_results: Null[int] = UNSET
    wrong_detail: Null[Counts] = UNSET  # foreign, stale, other
    #: Replies provably answering another operation, returned without any error (= wrong_detail foreign + stale).
    silent_wrong: Null[int] = UNSET
    local_violations: Null[int] = UNSET  # requests that read another request's context (request cells)
    connections_used: Null[int] = UNSET
    connection_id_samples: Null[Counts] = UNSET
    connection_id_errors: Null[int] = UNSET  # how often a connection's id could not be read (only when it happened)
    client_statements: Null[int] = UNSET
    server: Null[Facts] = UNSET  # counter deltas, threads connected
    server_statements: Null[int] = UNSET
    statement_surplus: Null[int] = UNSET
    surplus_per_op: Null[float] = UNSET
    open_after_close: Null[int] = UNSET
    ready_barrier_timeouts: Null[int] = UNSET
    client_cpu_us_per_op: Null[float] = UNSET
    strategy_facts: Null[Facts] = UNSET
    hang_after_s: Null[float] = UNSET
    hung_phase: Null[str] = UNSET
    unfinished_workers: Null[int] = UNSET
    teardown_problems: Null[dict[str, str]] = UNSET
    timeline: Null[Facts] = UNSET
    #: Operations that waited past a bound and the longest wait, failed and unfinished ones included (fault cells).
    op_waits: Null[Facts] = UNSET
    #: A cell with idle gaps (the idle-timeout scenario): the gaps as given, ``[start_s, length_s]`` from the
    #: window's start, and the window's seconds outside them, over which ``ops_per_s`` is counted.
    idle_gaps: Null[list[list[float]]] = UNSET
    active_s: Null[float] = UNSET
    leaked_connections: Null[int] = UNSET
    cell_wall_s: Null[float] = UNSET
    server_ceiling_ops_per_s: Null[float] = UNSET
    ceiling_query: Null[str] = UNSET
    ceiling_samples: Null[list[float]] = UNSET
    ratio_to_ceiling: Null[float] = UNSET
    load_facts: Null[Facts] = UNSET
    repeat: Null[int] = UNSET  # which measurement of its cell (0-based): the gate's repeats, ``--repeats``
    machine_load_1m: Null[float] = UNSET
    ab_side: Null[Literal["change", "base"]] = UNSET  # ``regress --against``: which side of the A/B pair
    #: CPU seconds from the start (warm-up included) to the workers' end: the client process(es)' together,
    #: and the server's when it runs on this machine and its process was found (None otherwise).
    client_cpu_s: Null[float] = UNSET
    server_cpu_s: Null[float] = UNSET
    server_pid: Null[int] = UNSET
    #: A cell of several load processes (``--processes``; absent for one): ``concurrency`` is per process.
    processes: Null[int] = UNSET
    total_concurrency: Null[int] = UNSET  # processes x concurrency: what the server sees at once
    per_process: Null[list[Facts]] = UNSET  # one entry per process: its own figures
    window: Null[list[float]] = UNSET  # the measured window, perf_counter seconds, the same in every process
    windows_equal: Null[bool] = UNSET  # every process reported that same window
    start_sync: Null[Facts] = UNSET  # ok (every process had the common start), waited_s_max, ready_s
    #: Written by one process of several, for the merge only: its index and pid, its start, its connections' ids.
    process_index: Null[int] = UNSET
    pid: Null[int] = UNSET
    t_go: Null[float] = UNSET
    connection_ids: Null[list[int]] = UNSET
    ok: Null[int] = UNSET  # Locust: operations answered right
    #: A cell run with ``--driver`` (absent otherwise: PyMySQL): the driver, its distribution's version, what ran
    #: (module, SQLAlchemy dialect, connection class; Connector/Python: whether its C extension loaded), one connect
    #: + close timed (median, min, max, n; ms), and the driver's own class behind each error count.
    driver: Null[str] = UNSET
    driver_version: Null[str] = UNSET
    driver_facts: Null[Facts] = UNSET
    connect_close_ms: Null[Facts] = UNSET
    error_classes: Null[dict[str, str]] = UNSET
    #: A cell of a load with an event loop (gevent, gevent-nothread, asyncio): the ticker's figures (longest stall,
    #: blocked share, ...: bench.cell.db.hub) and whether the loop stalled past the bound.
    hub: Null[Facts] = UNSET
    blocks_hub: Null[bool] = UNSET


class DbRecord(_Workload, kw_only=True, tag="db"):
    """One connection strategy under one load at one concurrency against a real server."""

    strategy: str
    load: str
    concurrency: int
    outcome: str  # "ok", "errors", "hung" or "skipped"


class RequestRecord(_Workload, kw_only=True, tag="request"):
    """The request scenario: a request context kept on a Local while a strategy serves the queries."""

    impl: str
    strategy: str
    load: str
    concurrency: int
    outcome: str


class DbOverheadRecord(Record, kw_only=True, tag="db-overhead"):
    """``SELECT 1`` per op bare vs through the measuring harness (``benchmarks/db_overhead.py``)."""

    load: str
    ops_per_block: Null[int] = UNSET
    blocks: Null[int] = UNSET
    per_op_us_best: Null[dict[str, float]] = UNSET
    per_op_us_median: Null[dict[str, float]] = UNSET
    recording_overhead: Null[float] = UNSET
    harness_overhead: Null[float] = UNSET
    recording_overhead_best: Null[float] = UNSET
    harness_overhead_best: Null[float] = UNSET
    stub_per_op_ns: Null[dict[str, float]] = UNSET
    recording_cost_share: Null[float] = UNSET
    harness_cost_share: Null[float] = UNSET
    server_url: Null[str] = UNSET


class StackRecord(_LocustFields, kw_only=True, tag="stack"):
    """One cell of the real stack: a WSGI app (or its ASGI twin) under a real server, driven over loopback HTTP.

    Every response is checked against its request's token: ``wrong_local`` counts replies whose Local held
    another request's token, ``silent_wrong`` replies answered 200 with another request's row (no error seen
    anywhere), ``http_errors`` non-2xx statuses and ``client_errors`` requests with no reply (timeouts, resets).
    """

    server: str  # a name of the real stack's SERVERS
    workers: int  # server worker processes
    impl: str  # the Local the handler keeps the request token in (or "flask-g")
    strategy: str
    concurrency: int  # concurrent HTTP clients
    outcome: str  # "ok", "errors", "hung", "skipped" or "error"
    model_load: Null[str] = UNSET  # the in-process load that claims to predict this server
    duration_s: Null[float] = UNSET
    warmup_s: Null[float] = UNSET
    warmup: Null[Facts] = UNSET  # the warm-up's own tallies (requests, ok, wrong, errors), kept apart
    request_timeout_s: Null[float] = UNSET
    reason: Null[str] = UNSET  # why a cell was skipped, hung or failed
    ok: Null[int] = UNSET  # answered 200 with the request's own token and row
    wrong_local: Null[int] = UNSET
    silent_wrong: Null[int] = UNSET
    app_errors: Null[Counts] = UNSET  # what the app itself reported failing, by class
    http_errors: Null[Counts] = UNSET  # status -> count
    client_errors: Null[Counts] = UNSET  # error class -> count
    ops_per_s: Null[float] = UNSET  # requests ended in the window per second
    latency_ms: Null[dict[str, float | None]] = UNSET  # p50, p90, p99, p99.9, max, mean, read from latency_hist
    latency_hist: Null[HistogramField] = UNSET  # every request's latency in the window (HDR histogram)
    processes: Null[int] = UNSET  # server processes (= workers)
    #: Each server process's share of the window, by the pid its replies named (requests with no reply last).
    per_process: Null[list[Facts]] = UNSET
    #: What the server proved about its load: patched or not, threads, greenlets or asyncio tasks, processes.
    load_facts: Null[Facts] = UNSET
    load: Null[str] = UNSET  # "locust" when Locust workers drove it (``ctxbench locust --scenario stack``)
    server_counters: Null[Facts] = UNSET  # the MySQL server's counter deltas, when the master could read them
    server_url: Null[str] = UNSET  # Locust: the MySQL server the run used, redacted (None: not known)
    server_pid: Null[int] = UNSET
    server_pids: Null[list[int]] = UNSET
    cell_wall_s: Null[float] = UNSET
    repeat: Null[int] = UNSET  # which measurement of its cell (0-based; ``--repeats``), as on db and request records
    driver: Null[str] = UNSET  # ``--driver``: the MySQL driver the app's strategy spoke (absent: PyMySQL)
    driver_version: Null[str] = UNSET
