"""The database matrix against a real server: which strategies keep replies apart, and the harness itself.

Expected outcomes are what we measured (see the lead's report): one shared
connection (``global``) fails at concurrency >= 4 under threads and gevent;
every other built-in strategy gives no error and no wrong reply; a pool that
hands one connection to two workers is caught by the oracle; a request
context on ``threading-local`` leaks between greenlets under
``gevent-nothread`` and on ``fast`` never does.  No assertion is about time.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sysconfig
import time
from typing import Any

import pytest

from bench.cell import db as dbwork
from bench.cell import strategies
from bench.errors import UsageError
from bench.exec.db import run_db
from bench.plan.cells import Cell
from bench.plan.cells import db_cells as plan
from bench.plan.selection import DbSelection, check_selection
from bench.present.findings import ratio_to_own
from bench.records import latency
from bench.records.schema import to_json
from bench.server import ServerTarget

pytestmark = pytest.mark.db

SAFE = ("locked", "pooled", "pooled-tuned", "persistent", "per-request", "sqlalchemy-queuepool", "own-connection")
BROKEN = "tests.broken_strategies:SharedPairPool"
#: gevent does not support free-threading: on a free-threaded build the matrix runs under threads only.
LOADS = ("threads",) if sysconfig.get_config_var("Py_GIL_DISABLED") else ("threads", "gevent")
#: Short cells (and no ceiling: ``run_db(..., ceiling=False)``).
SHORT = {"duration": 0.5, "warmup": 0.2}
#: Distinctive, so that finding it in a record cannot be a coincidence.
SECRET = "Kx9-distinctive-db-Pw-0815"


def _local_default_or_skip() -> ServerTarget:
    """127.0.0.1:3306 as root without a password; skip (or fail under CTXBENCH_REQUIRE_DB=1) if it does not answer."""
    import pymysql

    target = ServerTarget("127.0.0.1", 3306, "root", "", "test", "local-default")
    try:
        pymysql.connect(**target.connect_kwargs(), connect_timeout=2).close()
    except pymysql.err.MySQLError as exc:
        reason = f"no MySQL server on 127.0.0.1:3306: {exc}"
        if os.environ.get("CTXBENCH_REQUIRE_DB") == "1":
            pytest.fail(f"CTXBENCH_REQUIRE_DB=1, but {reason}", pytrace=False)
        pytest.skip(reason)
    return target


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest) -> ServerTarget:
    """The session's server (tests/conftest.py ``mysql_server``), else the local default."""
    try:
        return request.getfixturevalue("mysql_server").target  # type: ignore[no-any-return]
    except pytest.FixtureLookupError:
        return _local_default_or_skip()


def _by_cell(records: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {(r["strategy"], r["load"], r["concurrency"], r.get("impl")): r for r in records}


@pytest.fixture(scope="module")
def matrix(target: ServerTarget) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Every strategy (and the broken pool) under threads and gevent at concurrency 4; global also at 16."""
    records, errors = run_db(target, DbSelection(strategies=["global", *SAFE, BROKEN], loads=LOADS, concurrency=[4],
                                                 **SHORT), ceiling=False)
    more, more_errors = run_db(target, DbSelection(strategies=["global"], loads=LOADS, concurrency=[16], **SHORT),
                               ceiling=False)
    assert errors + more_errors == []
    return _by_cell(records + more)


@pytest.fixture(scope="module")
def requests(target: ServerTarget) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The request scenario: Local impl x strategy x load, at concurrency 4."""
    records: list[dict[str, Any]] = []
    for impls, strats, loads in (
        (["fast"], ["pooled-tuned"], ["threads", "gevent"]),
        (["fast", "threading-local"], ["per-request"], ["gevent-nothread"]),
        (["threading-local"], ["pooled-tuned"], ["threads", "gevent"]),
        (["gevent-local"], ["pooled-tuned"], ["threads"]),  # gevent imported into a threads process
    ):
        recs, errors = run_db(target, DbSelection(strategies=strats, loads=loads, concurrency=[1], request_impls=impls,
                                                  request_concurrency=4, **SHORT), ceiling=False)
        assert errors == []
        records += [r for r in recs if r["kind"] == "request"]
    return _by_cell(records)


# --- the verdicts


@pytest.mark.parametrize("load", LOADS)
@pytest.mark.parametrize("strategy", SAFE)
def test_safe_strategies_keep_replies_apart(matrix: dict[tuple[Any, ...], dict[str, Any]], strategy: str,
                                            load: str) -> None:
    rec = matrix[strategy, load, 4, None]
    assert rec["outcome"] == "ok", rec
    assert rec["errors"] == {} and rec["wrong_results"] == 0 and rec["silent_wrong"] == 0
    assert rec["ops"] > 0 and rec["ops_per_s"] > 0
    assert rec["latency_ms"]["p50"] <= rec["latency_ms"]["p99"] <= rec["latency_ms"]["max"]
    assert rec["connection_id_samples"]["mismatched"] == 0
    if strategy == "per-request":
        assert rec["connections_used"] >= min(rec["ops_total"], 5)  # a new server connection per operation
    else:
        assert 1 <= rec["connections_used"] <= 4


@pytest.mark.parametrize("concurrency", [4, 16])
@pytest.mark.parametrize("load", LOADS)
def test_one_shared_connection_fails(matrix: dict[tuple[Any, ...], dict[str, Any]], load: str,
                                     concurrency: int) -> None:
    rec = matrix["global", load, concurrency, None]
    assert rec["outcome"] == "errors"
    assert sum(rec["errors"].values()) + rec["wrong_results"] > 0
    # reconnects may add ids, never without errors
    assert rec["connections_used"] <= 1 or sum(rec["errors"].values()) > 0


@pytest.mark.parametrize("load", LOADS)
def test_broken_pool_is_caught(matrix: dict[tuple[Any, ...], dict[str, Any]], load: str) -> None:
    rec = matrix[BROKEN, load, 4, None]
    assert rec["outcome"] == "errors"
    assert sum(rec["errors"].values()) + rec["wrong_results"] > 0


def test_unreadable_connection_ids_are_counted(target: ServerTarget) -> None:
    """A connection whose id cannot be read is counted in the record, not silently dropped (nor counted as a
    connection)."""
    selection = DbSelection(strategies=["tests.broken_strategies:HidesThreadId"], loads=["threads"], concurrency=[2],
                            **SHORT)
    records, errors = run_db(target, selection, ceiling=False)
    assert errors == []
    rec = records[0]
    assert rec["outcome"] == "ok", rec
    # Every checkout is a new connection: the connect phase's two CONNECTION_ID() samples and every op fail to read it.
    assert rec["connection_id_errors"] >= rec["ops_total"] + rec["connection_id_samples"]["checked"]
    assert rec["connections_used"] == 2  # the two ids the server reported in the connect phase, nothing else


def test_gevent_error_labels(matrix: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    """Under gevent two greenlets on one PyMySQL socket hit the buffered reader's reentrancy check."""
    labels = set(matrix["global", "gevent", 4, None]["errors"])
    assert labels & {"RuntimeError:reentrant", "ConcurrentObjectUseError"}, labels


def test_lock_type_is_the_loads(matrix: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    assert matrix["locked", "threads", 4, None]["strategy_facts"]["lock_type"] == "_thread.lock"
    if "gevent" in LOADS:
        assert matrix["locked", "gevent", 4, None]["strategy_facts"]["lock_type"].startswith("gevent.")


def test_server_sees_what_pools_add(matrix: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    """Reset on return shows as server-side ROLLBACKs the workload never sent (lower bounds: counters are
    server-wide)."""
    for strategy in ("pooled", "sqlalchemy-queuepool"):
        rec = matrix[strategy, "threads", 4, None]
        deltas = rec["server"]["deltas"]
        assert deltas["Com_rollback"] >= 0.9 * rec["ops_total"], (strategy, deltas)
        assert rec["server_statements"] >= rec["client_statements"] + 0.9 * rec["ops_total"]
    pings = matrix["pooled", "threads", 4, None]["server"]["deltas"]["Com_admin_commands"]
    assert pings >= 0.9 * matrix["pooled", "threads", 4, None]["ops_total"]  # ping=1: one COM_PING per checkout


def test_records_have_every_field(matrix: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    rec = matrix["pooled-tuned", "threads", 4, None]
    for key in ("kind", "strategy", "load", "concurrency", "duration_s", "ops", "errors", "wrong_results", "ops_per_s",
                "latency_ms", "pool_wait_ms", "connect_ms", "connections_used", "server", "client_statements",
                "server_statements", "server_ceiling_ops_per_s", "ratio_to_ceiling", "outcome", "mix",
                "leaked_connections"):
        assert key in rec, key
    assert rec["kind"] == "db" and rec["mix"] == dbwork.DEFAULT_MIX
    assert set(rec["latency_ms"]) == {"p50", "p90", "p99", "p99.9", "max", "mean"}
    # The percentiles are read from the record's own histogram, which holds every timed operation.
    assert rec["latency_hist"]["count"] == rec["ops"]
    assert latency.field_summary_ms(rec["latency_hist"])["p99"] == rec["latency_ms"]["p99"]
    assert isinstance(rec["leaked_connections"], int) and rec["leaked_connections"] >= 0
    assert rec["storage_growths"] == 0  # the preallocated stamps sufficed


def test_ratio_to_own(matrix: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    rows = ratio_to_own(list(matrix.values()))
    assert {(row["load"], row["concurrency"]) for row in rows} == {(load, 4) for load in LOADS}
    assert all(row["ratio"] > 0 for row in rows)


@pytest.mark.parametrize("load", LOADS)
def test_request_context_on_fast_never_leaks(requests: dict[tuple[Any, ...], dict[str, Any]], load: str) -> None:
    rec = requests["pooled-tuned", load, 4, "fast"]
    assert rec["kind"] == "request" and rec["outcome"] == "ok", rec
    assert rec["local_violations"] == 0 and rec["wrong_results"] == 0 and rec["ops"] > 0


@pytest.mark.parametrize("load", LOADS)
def test_request_context_on_threading_local_holds_where_it_is_per_worker(
        requests: dict[tuple[Any, ...], dict[str, Any]], load: str) -> None:
    rec = requests["pooled-tuned", load, 4, "threading-local"]
    assert rec["local_violations"] == 0 and rec["wrong_results"] == 0


def test_gevent_local_in_a_threads_process(requests: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    """gevent imported (not patched) into a threads process: the harness must still use thread primitives."""
    rec = requests["pooled-tuned", "threads", 4, "gevent-local"]
    assert rec["outcome"] == "ok" and rec["local_violations"] == 0, rec


def test_request_context_leaks_between_greenlets_on_threading_local(
        requests: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    """Under gevent-nothread threading.local is per OS thread: every greenlet shares one stack."""
    leaky = requests["per-request", "gevent-nothread", 4, "threading-local"]
    assert leaky["local_violations"] > 0
    assert leaky["wrong_results"] == 0  # the connections were still each request's own
    sound = requests["per-request", "gevent-nothread", 4, "fast"]
    assert sound["local_violations"] == 0 and sound["outcome"] == "ok"


# --- the harness


def test_a_pool_that_blocks_forever_ends_as_hung(target: ServerTarget) -> None:
    """A real lock under gevent-nothread blocks the hub: the cell's watchdog thread ends it."""
    started = time.monotonic()
    records, errors = run_db(target, DbSelection(strategies=["locked"], loads=["gevent-nothread"], concurrency=[4],
                                                 hang_after=1.0, **SHORT), ceiling=False)
    assert errors == []  # the cell ended itself; the parent did not have to kill it
    (rec,) = records
    assert rec["outcome"] == "hung" and rec["unfinished_workers"] > 0
    assert time.monotonic() - started < 20


def test_password_never_recorded(target: ServerTarget) -> None:
    wrong = dataclasses.replace(target, password=SECRET)
    records, errors = run_db(wrong, DbSelection(strategies=["pooled-tuned"], loads=["threads"], concurrency=[2],
                                                **SHORT), ceiling=False)
    text = json.dumps([records, errors], default=to_json)
    assert SECRET not in text
    (rec,) = records
    assert rec["outcome"] in ("errors", "skipped")
    assert (rec["server_url"].endswith(f"@{target.host}:{target.port}/{target.database}")
            and ":***@" in rec["server_url"])


def test_no_server_means_skipped() -> None:
    records, errors = run_db(None, DbSelection(strategies=["pooled", "global"], loads=["threads"], concurrency=[1, 4],
                                               request_impls=["fast"], duration=1.0, warmup=0.0))
    assert errors == [] and len(records) == 6
    assert {r["outcome"] for r in records} == {"skipped"}


def test_overhead_measurement_runs(target: ServerTarget, tmp_path: Any) -> None:
    """``benchmarks/db_overhead.py`` as it is run: the record printed and written, measured in a fresh process."""
    import subprocess
    import sys
    from urllib.parse import quote

    from bench.records.environment import PROJECT_ROOT

    url = f"mysql://{quote(target.user)}:{quote(target.password)}@{target.host}:{target.port}/{target.database}"
    out = tmp_path / "overhead.json"
    done = subprocess.run([sys.executable, "benchmarks/db_overhead.py", "--mysql-url", url, "--ops", "200",
                           "--repeats", "3", "--json", str(out)], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr
    rec = json.loads(done.stdout)
    assert rec == json.loads(out.read_text()) and rec["kind"] == "db-overhead" and rec["load"] == "threads"
    for variant in ("bare", "harness_no_record", "harness_record"):
        assert rec["per_op_us_best"][variant] > 0 and rec["stub_per_op_ns"][variant] > 0
    assert rec["stub_per_op_ns"]["harness_record"] > rec["stub_per_op_ns"]["bare"]


# --- inputs


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"strategies": ["nope"]}, "unknown strategy 'nope'"),
        ({"strategies": ["pkg.mod:"]}, "expected package.module:factory"),
        ({"loads": ["greenlet"]}, "unknown load 'greenlet'"),
        ({"loads": ["asyncio"]}, "'pooled' does not run under asyncio"),
        ({"concurrency": [0]}, "concurrency must be"),
        ({"concurrency": [10_001]}, "concurrency must be"),
        ({"duration": 0}, "duration must be"),
        ({"duration": -1.0}, "duration must be"),
        ({"warmup": -0.1}, "warmup must be"),
        ({"request_impls": ["no-such-impl"]}, "unknown impl"),
        ({"request_strategies": ["nope"]}, "unknown strategy 'nope'"),
        ({"request_concurrency": 0}, "concurrency must be"),
        ({"processes": [0]}, "processes must be"),
        ({"mix": {"select_token": 0}}, "weight must be"),
        ({"mix": {"drop_table": 1}}, "unknown operation"),
    ],
)
def test_bad_input_is_one_line(kwargs: dict[str, Any], words: str) -> None:
    args: dict[str, Any] = {"strategies": ["pooled"], "loads": ["threads"], "concurrency": [4], "duration": 1.0,
                            "warmup": 0.1}
    args.update(kwargs)
    for check in (check_selection, lambda selection: run_db(None, selection)):  # run_db checks before it runs
        with pytest.raises(UsageError) as info:
            check(DbSelection(**args))
        assert words in str(info.value) and "\n" not in str(info.value)


def test_unknown_strategy_lists_the_known_ones() -> None:
    with pytest.raises(strategies.StrategyError) as info:
        strategies.build_strategy("bogus", {}, 1)
    for name in strategies.STRATEGIES:
        assert name in str(info.value)


def test_a_factory_must_return_a_strategy() -> None:
    with pytest.raises(strategies.StrategyError, match="lacks checkout"):
        strategies.build_strategy("tests.broken_strategies:not_a_strategy", {}, 1)


def test_plan_covers_the_matrix() -> None:
    cells = plan(strategies=["pooled", "global"], loads=["threads", "gevent"], concurrency=[1, 4],
                 impls_for_request=["fast", "contextvar"], request_strategies=["pooled-tuned"], request_concurrency=8)
    assert len(cells) == 2 * 2 * 2 + 2 * 1 * 2
    assert Cell("request", "pooled-tuned", "gevent", 8, "contextvar") in cells


def test_mix() -> None:
    assert dbwork.parse_mix("select_token:3,pk_lookup") == {"select_token": 3, "pk_lookup": 1}
    cycle = dbwork.mix_cycle({"select_token": 3, "write_txn": 1})
    assert sorted(cycle) == ["select_token", "select_token", "select_token", "write_txn"]
    with pytest.raises(ValueError, match="unknown operation"):
        dbwork.parse_mix("select_token,nope:2")


def test_error_labels() -> None:
    import pymysql

    assert dbwork.classify(RuntimeError("reentrant call inside <_io.BufferedReader>")) == "RuntimeError:reentrant"
    assert dbwork.classify(pymysql.err.OperationalError(1040, "Too many connections")) == "server:1040"
    lost = pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query (timed out)")
    assert dbwork.classify(lost) == "timeout"
    assert dbwork.classify(pymysql.err.InterfaceError(0, "")) == "InterfaceError"
    assert dbwork.classify(TimeoutError()) == "timeout"
    import struct

    try:
        struct.unpack("<I", b"")
    except struct.error as exc:
        assert dbwork.classify(exc) == "struct.error"
    assert dbwork.classify(IndexError()) == "IndexError"


def test_every_safe_strategy_leaves_no_connection_open_after_close(
        matrix: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    """Closing the strategy (and ending its workers) gives every connection back to the server.

    A per-thread pool (``persistent``) closes a worker's connection when the thread's local is released: a
    reference the measuring harness kept past the worker's end held it open.
    """
    for strategy in SAFE:
        for load in LOADS:
            rec = matrix[strategy, load, 4, None]
            if strategy == "persistent" and rec.get("free_threaded"):
                # On 3.14t an ended thread's connection can wait for the cyclic collector to be closed, so one may
                # still be open when the cell reads the server's count (benchmarks/persistent_thread_end.py,
                # docs/freethreading.md).
                assert rec["open_after_close"] in (0, 1), rec["open_after_close"]
                continue
            assert rec["open_after_close"] == 0, (strategy, load, rec["open_after_close"])
