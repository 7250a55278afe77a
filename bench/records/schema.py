"""One schema per record kind: the fields each kind must carry, the ones it may carry, and the format history.

A record is a flat JSON object whose ``kind`` names one of the :class:`typing.TypedDict` classes below
(:data:`SCHEMAS`).  ``Required`` fields are present and not null in every record of that kind; the other
fields are what the writers put there when they know it (a field may also be present and null).  A reader
keeps records it does not fully understand: unknown extra fields are allowed, a missing required field is not.

:func:`check_record` says why a record does not meet its kind's schema (None when it does).  Which kinds a
reader accepts is its own choice: :data:`RUN_KINDS` are the kinds ``ctxbench run`` stores in a run
directory, the ones charts and the report are drawn from.

This module is evaluated without ``from __future__ import annotations`` on purpose: ``Required`` inside a
string annotation is not seen by ``TypedDict`` on Python 3.11, and the required keys are read from the classes.
"""

from typing import Any, Literal, Required, TypedDict

from bench.records.latency import HistogramField

#: The version of the stored format, written into every results document, cell file and environment.
SCHEMA_VERSION = 1
#: What each schema version added, oldest first (a reader accepts :data:`SCHEMA_VERSION` only).
SCHEMA_HISTORY: dict[int, str] = {
    1: "results documents {schema, environment, records}; run directories with environment.json, run.json and "
       "cells/<id>.json {schema, cell, records}; record kinds probe, micro, db, request, ceiling, db-overhead, fault. "
       "Added within version 1 (optional; absent from older files, which readers still accept): db and request "
       "records' silent_wrong (another operation's reply returned without any error); strategy global-reconnect "
       "(what global did before: global no longer reconnects); gevent-nothread as a db and request load; "
       "kind stack (a real WSGI server driven over loopback HTTP); latency_hist (an HDR histogram of the latencies, "
       "bench.records.latency) on db, request, stack and fault records, with latency_ms read from it and p99.9 and "
       "mean added to it; stack records' processes and per_process (each server process's share, by pid); "
       "latency_hist_ms ({edges, counts}) never written and no longer declared; "
       "the environment's server facts tls_version, "
       "tls_mode, tls_verified, tls_settings and tls_summary, and the URL's TLS query in server_url; db and request "
       "records' client_cpu_s, server_cpu_s and server_pid (CPU from the start to the workers' end), and for a "
       "cell of several load processes (--processes) processes, total_concurrency, per_process, window, "
       "windows_equal and start_sync "
       "(the processes' records merged; the server's counters read once by the parent); "
       "load locust in db and stack records (ctxbench locust: Locust master/workers, one record merged from the "
       "workers' reports): users, locust_processes, reported_processes, locust_workers, missing_workers, partial, "
       "truncated, requests, ok, warmup_requests, worker_server_urls, worker_problems (db: processes and "
       "total_concurrency as for several load processes; stack: server_counters, measured_s); "
       "asyncio as a db and request load (strategies aiomysql-pool, asyncmy-pool, sqlalchemy-async, to-thread, and "
       "global, locked, per-request, own-connection over aiomysql; settings then those of the asyncio variant), "
       "with load_facts.db_event_loop (uvloop and its version, or asyncio); "
       "stack records of an ASGI server (server uvicorn: the Starlette app, model_load asyncio, strategies of the "
       "asyncio load) and, on every stack record, load_facts.asyncio_tasks (requests ran as asyncio tasks) and "
       "load_facts.event_loop (the running loop's class, e.g. uvloop.Loop; None outside one); "
       "from the A/B gate (regress --against): db records' ab_side, probe and micro records whose impl ends in "
       "@base (the base commit's version of that impl), and the environment's ab {repo, against, base, "
       "base_subject, change, change_subject, uncommitted}",
}


class ProbeRecord(TypedDict, total=False):
    """One isolation probe of one impl under one load (``ctxbench locals``)."""

    kind: Required[Literal["probe"]]
    impl: Required[str]
    load: Required[str]
    probe: Required[str]
    outcome: Required[str]  # "ok", or "error" when the probe could not run
    workers: int
    violations: int | None  # None when the probe could not run, or is reported, not judged
    checks: int  # an int when outcome is "ok"
    details: dict[str, Any]  # a reported probe (inheritance): {"inherited": n}
    duration_s: float
    error: str
    traceback: str


class MicroRecord(TypedDict, total=False):
    """The cost of one op on one impl, over fresh processes (the micro harness)."""

    kind: Required[Literal["micro"]]
    impl: Required[str]
    op: Required[str]
    ns_median: Required[float]
    ns_spread: float
    spread_kind: str  # "mad"
    values: list[float]
    processes: int
    values_per_process: int
    loops: int
    harness_ns: float
    ratio_to_threading_local: float | None  # None when the reference was not measured


class DbRecord(TypedDict, total=False):
    """One connection strategy under one load at one concurrency against a real server."""

    kind: Required[Literal["db"]]
    strategy: Required[str]
    load: Required[str]
    concurrency: Required[int]
    outcome: Required[str]  # "ok", "errors", "hung" or "skipped"
    reason: str  # why a cell was skipped, hung or crashed
    duration_s: float | None
    warmup_s: float
    ops_requested: int | None
    mix: dict[str, int]
    settings: dict[str, Any]
    server_url: str  # password hidden
    target_source: str
    connect_options: dict[str, Any]
    ops: int | None
    ops_total: int
    measured_s: float
    ops_per_s: float | None
    #: p50, p90, p99, p99.9, max, mean, read from latency_hist (older records: p50, p90, p99, max).
    latency_ms: dict[str, float | None]
    #: Every timed operation's latency, an HDR histogram (bench.records.latency); merged by adding.
    latency_hist: HistogramField | None
    pool_wait_ms: dict[str, Any]
    connect_ms: dict[str, Any]
    first_checkout_ms: dict[str, float | None]
    storage_growths: int
    errors: dict[str, int]  # error class -> count
    error_count: int
    error_samples: dict[str, str]
    error_codes: dict[str, int]
    wrong_results: int | None
    wrong_detail: dict[str, int]  # foreign, stale, other
    #: Replies provably answering another operation (another worker's, or another request of the same
    #: worker), returned without any error (= wrong_detail foreign + stale; also in wrong_results).
    #: Absent from records written before it existed.
    silent_wrong: int | None
    connections_used: int | None
    connection_id_samples: dict[str, int]
    client_statements: int | None
    server: dict[str, Any] | None  # counter deltas, threads connected
    server_statements: int | None
    statement_surplus: int | None
    surplus_per_op: float | None
    open_after_close: int | None
    ready_barrier_timeouts: int
    client_cpu_us_per_op: float | None
    strategy_facts: dict[str, Any]
    hang_after_s: float
    hung_phase: str
    unfinished_workers: int
    teardown_problems: dict[str, str]
    timeline: dict[str, Any]
    leaked_connections: int | None
    cell_wall_s: float
    server_ceiling_ops_per_s: float | None
    ceiling_query: str | None
    ceiling_samples: list[float] | None
    ratio_to_ceiling: float | None
    load_facts: dict[str, Any]
    repeat: int  # the gate's repeats
    machine_load_1m: float | None
    #: ``regress --against``: which side of the A/B pair the cell measured (``change`` or ``base``).
    ab_side: Literal["change", "base"]
    #: CPU seconds from the start (warm-up included) to the workers' end: the client process(es)' together,
    #: and the server's when it runs on this machine and its process was found (None otherwise).
    client_cpu_s: float | None
    server_cpu_s: float | None
    server_pid: int | None
    #: A cell of several load processes (``--processes``; absent for one): ``concurrency`` is per process.
    processes: int
    total_concurrency: int  # processes x concurrency: what the server sees at once (the ceiling's concurrency)
    #: One entry per process: index, pid, ops, ops_per_s, error_count, silent_wrong, wrong_results,
    #: local_violations, client_statements, cpu_s (its client CPU), latency_ms, latency_count, outcome, window.
    per_process: list[dict[str, Any]]
    window: list[float]  # the measured window, perf_counter seconds (CLOCK_MONOTONIC), the same in every process
    windows_equal: bool  # every process reported that same window
    start_sync: dict[str, Any]  # ok (every process had the common start), waited_s_max, ready_s
    #: Written by one process of several, for the merge only (not in a merged record): its index and pid,
    #: its start and the server ids of its connections.
    process_index: int
    pid: int
    t_go: float
    connection_ids: list[int]
    #: ``load: "locust"`` (``ctxbench locust``): one record merged from the Locust workers' reports.
    #: (``processes`` = its Locust worker processes, ``concurrency`` the users of one -- the largest share --,
    #: ``total_concurrency`` all of them, as for a cell of several load processes.)
    users: int  # Locust users in total (= total_concurrency)
    locust_processes: int  # Locust worker processes that took part
    reported_processes: int  # those that sent their report
    locust_workers: list[dict[str, Any]]  # per worker: id, index, host, pid, users, requests, ok, errors, wrong...
    missing_workers: list[str]  # workers that took part and sent no report (died, or too late)
    partial: bool  # True when any worker is missing: the totals cover only the others
    truncated: bool  # True when the run was stopped before the window's end (the reports cover measured_s)
    requests: int  # operations that ended inside the window (right, failed or wrong)
    warmup_requests: int  # operations that ended before it
    worker_server_urls: list[str]  # the server each worker used, redacted
    worker_problems: list[str]  # one line per worker that could not run the workload


class RequestRecord(TypedDict, total=False):
    """The request scenario: a request context kept on a Local while a strategy serves the queries.

    Carries every field of :class:`DbRecord` (the same workload harness) plus the ones below.
    """

    kind: Required[Literal["request"]]
    impl: Required[str]
    strategy: Required[str]
    load: Required[str]
    concurrency: Required[int]
    outcome: Required[str]
    local_violations: int | None  # requests that read another request's context
    latency_ms: dict[str, float | None]  # as in DbRecord
    latency_hist: HistogramField | None  # as in DbRecord


class CeilingRecord(TypedDict, total=False):
    """The server's own capacity at one concurrency (mysqlslap), stored by ``ctxbench run``.

    Already copied into every db record, so no chart needs these.
    """

    kind: Required[Literal["ceiling"]]
    concurrency: Required[int]
    outcome: Required[str]  # "ok" or "skipped"
    query: str
    samples: list[float] | None
    ops_per_s: float | None


class DbOverheadRecord(TypedDict, total=False):
    """``SELECT 1`` per op bare vs through the measuring harness (``ctxbench db --overhead``)."""

    kind: Required[Literal["db-overhead"]]
    load: Required[str]
    ops_per_block: int
    blocks: int
    per_op_us_best: dict[str, float]
    per_op_us_median: dict[str, float]
    recording_overhead: float
    harness_overhead: float
    recording_overhead_best: float
    harness_overhead_best: float
    stub_per_op_ns: dict[str, float]
    recording_cost_share: float
    harness_cost_share: float
    server_url: str


class FaultRecord(TypedDict, total=False):
    """One fault scenario on one strategy x load (``ctxbench faults``); scenario-specific fields may follow."""

    kind: Required[Literal["fault"]]
    scenario: Required[str]
    strategy: Required[str]
    load: Required[str]
    concurrency: Required[int]
    outcome: str | None
    problem: str | None  # None when the strategy behaved as the scenario demands
    errors: dict[str, int]
    error_count: int
    error_codes: dict[str, int]
    error_samples: dict[str, str]
    wrong_results: int | None
    ops: int | None
    ops_per_s: float | None
    leaked_connections: int | None
    cell_wall_s: float | None
    attempts: int
    latency_ms: dict[str, float | None]  # the cell's, as in DbRecord
    latency_hist: HistogramField | None  # the cell's histogram, as in DbRecord
    cell: dict[str, Any]  # the whole db record of the cell


class StackRecord(TypedDict, total=False):
    """One cell of the real stack: a WSGI app (or its ASGI twin) under a real server, driven over loopback HTTP
    (``ctxbench stack``).

    Every response is checked against its request's token: ``wrong_local`` counts replies whose Local held
    another request's token, ``silent_wrong`` replies answered 200 with another request's row (no error seen
    anywhere), ``http_errors`` non-2xx statuses and ``client_errors`` requests with no reply (timeouts, resets).
    """

    kind: Required[Literal["stack"]]
    server: Required[str]  # a name of bench.stack.servers.SERVERS
    workers: Required[int]  # server worker processes
    impl: Required[str]  # the Local the handler keeps the request token in (or "flask-g")
    strategy: Required[str]
    concurrency: Required[int]  # concurrent HTTP clients
    outcome: Required[str]  # "ok", "errors", "hung", "skipped" or "error"
    model_load: str  # the in-process load that claims to predict this server
    duration_s: float | None
    reason: str  # why a cell was skipped, hung or failed
    requests: int  # requests sent in the measured window
    ok: int  # answered 200 with the request's own token and row
    wrong_local: int
    silent_wrong: int
    http_errors: dict[str, int]  # status -> count
    client_errors: dict[str, int]  # error class -> count
    ops_per_s: float | None  # requests ended in the window per second
    latency_ms: dict[str, float | None]  # p50, p90, p99, p99.9, max, mean, read from latency_hist
    latency_hist: HistogramField | None  # every request's latency in the window (HDR histogram, bench.records.latency)
    processes: int  # server processes (= workers)
    #: Each server process's share of the window, by the pid its replies named, sorted by pid (requests with no
    #: reply last, pid None): {pid, requests, ok, silent_wrong, wrong_local, errors, ops_per_s, latency_ms,
    #: latency_hist}.  The shares add up to the totals; their histograms merged are latency_hist.
    per_process: list[dict[str, Any]]
    #: What the server proved about its load: patched or not, threads, greenlets or asyncio tasks (asyncio_tasks,
    #: event_loop), processes answering, the most requests in flight.
    load_facts: dict[str, Any]
    load: str  # "locust" when Locust workers drove it (``ctxbench locust --scenario stack``); the fields below too
    server_counters: dict[str, Any] | None  # the MySQL server's counter deltas, when the master could read them
    measured_s: float  # seconds of the window the workers' reports cover
    users: int  # Locust users in total (= concurrency: HTTP clients)
    locust_processes: int  # Locust worker processes that took part (``processes`` counts the app's server processes)
    reported_processes: int  # those that sent their report
    locust_workers: list[dict[str, Any]]  # per worker: id, index, host, pid, users, requests, ok, errors, wrong...
    missing_workers: list[str]  # workers that took part and sent no report (died, or too late)
    partial: bool  # True when any worker is missing: the totals cover only the others
    truncated: bool  # True when the run was stopped before the window's end (the reports cover measured_s)
    warmup_requests: int  # operations that ended before it
    worker_server_urls: list[str]  # the server each worker used, redacted
    worker_problems: list[str]  # one line per worker that could not run the workload


#: Every record kind and its schema.
SCHEMAS: dict[str, type] = {
    "probe": ProbeRecord,
    "micro": MicroRecord,
    "db": DbRecord,
    "request": RequestRecord,
    "ceiling": CeilingRecord,
    "db-overhead": DbOverheadRecord,
    "fault": FaultRecord,
    "stack": StackRecord,
}
#: The kinds a run directory holds: what charts, the report and the gate read.
RUN_KINDS: frozenset[str] = frozenset({"probe", "micro", "db", "request", "ceiling", "stack"})


def required_fields(kind: str) -> tuple[str, ...]:
    """The fields (beyond ``kind``) every record of ``kind`` carries, in declaration order."""
    schema = SCHEMAS[kind]
    required = schema.__required_keys__  # type: ignore[attr-defined]
    return tuple(name for name in schema.__annotations__ if name in required and name != "kind")


#: Required fields that hold a count (an int, never a bool) or a number, per kind.
_INT_FIELDS: dict[str, tuple[str, ...]] = {"db": ("concurrency",), "request": ("concurrency",),
                                           "stack": ("concurrency", "workers")}
_NUMBER_FIELDS: dict[str, tuple[str, ...]] = {"micro": ("ns_median",)}


def _wrong_type(kind: str, rec: dict[str, Any]) -> str | None:
    """The first field of ``rec`` whose value its kind's schema rules out, as ``"<field> <value>"``."""
    for name in _INT_FIELDS.get(kind, ()):
        if not _is_count(rec[name]):
            return f"{name} {rec[name]!r}"
    for name in _NUMBER_FIELDS.get(kind, ()):
        if not isinstance(rec[name], (int, float)):
            return f"{name} {rec[name]!r}"
    if kind == "probe" and rec["outcome"] == "ok":
        return _probe_counts(rec)
    return None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _probe_counts(rec: dict[str, Any]) -> str | None:
    """An ok probe carries its checks, and its violations -- or, reported not judged, ``details.inherited``."""
    if not isinstance(rec.get("checks"), int):
        return f"checks {rec.get('checks')!r}"
    details = rec.get("details")
    reported = rec.get("violations") is None and isinstance(details, dict) and _is_count(details.get("inherited"))
    if not (_is_count(rec.get("violations")) or reported):
        return f"violations {rec.get('violations')!r}"
    return None


def check_record(rec: Any, kinds: frozenset[str] | set[str] = RUN_KINDS) -> str | None:
    """Why ``rec`` is not a valid record of one of ``kinds``, or None when it is."""
    if not isinstance(rec, dict):
        return f"not an object ({type(rec).__name__})"
    kind = rec.get("kind")
    if kind not in kinds or kind not in SCHEMAS:
        return f"unknown kind {kind!r}"
    missing = [name for name in required_fields(kind) if rec.get(name) is None]
    if missing:
        return f"{kind} record without {', '.join(repr(m) for m in missing)}"
    wrong = _wrong_type(kind, rec)
    return None if wrong is None else f"{kind} record with {wrong}"
