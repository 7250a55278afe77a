"""The database half under the asyncio load, against a real server.

What we measured and assert: every expected-safe strategy under asyncio (the async twins of ``locked``,
``per-request``, ``own-connection``; the driver pools; the AsyncEngine; blocking PyMySQL in
``asyncio.to_thread``) gives no error and no wrong reply at concurrency 4 and 16; one aiomysql connection
shared by every task (``global``) gives errors -- aiomysql's "readexactly() called while another coroutine is
already waiting", then "Not connected" -- *and* other tasks' replies returned as success; a strategy asked for
under a load it cannot serve is refused in one line; a hanging async strategy (the loop idle, or blocked by a
blocking call) ends ``hung``; a request context on a ContextVar-based Local never leaks between tasks, and on
``threading.local`` (one thread for every task) always does.  No assertion is about time.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from bench.cell import strategies
from bench.errors import UsageError
from bench.exec.db import run_db
from bench.plan import matrix
from bench.plan.selection import DbSelection, validate_db
from bench.server import ServerTarget

SAFE_ASYNC = ("locked", "per-request", "own-connection", "aiomysql-pool", "asyncmy-pool", "sqlalchemy-async",
              "to-thread")
#: Short cells (and no ceiling: ``run_db(..., ceiling=False)``).
SHORT = {"duration": 0.5, "warmup": 0.2}
Records = dict[tuple[Any, ...], dict[str, Any]]


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest) -> ServerTarget:
    return request.getfixturevalue("mysql_server").target  # type: ignore[no-any-return]


def _by_cell(records: list[dict[str, Any]]) -> Records:
    return {(r["strategy"], r["concurrency"], r.get("impl")): r for r in records}


@pytest.fixture(scope="module")
def matrix_async(target: ServerTarget) -> Records:
    """Every asyncio strategy, global, and a user ``async def`` factory, under asyncio at concurrency 4 and 16."""
    names = ["global", *SAFE_ASYNC, "tests.async_strategies:own_connection"]
    records, errors = run_db(target, DbSelection(strategies=names, loads=["asyncio"], concurrency=[4, 16], **SHORT),
                             ceiling=False)
    assert errors == []
    return _by_cell(records)


@pytest.fixture(scope="module")
def requests_async(target: ServerTarget) -> Records:
    """The request scenario under asyncio: three Locals over the aiomysql pool, at concurrency 8."""
    records, errors = run_db(target, DbSelection(strategies=["aiomysql-pool"], loads=["asyncio"], concurrency=[8],
                                                 request_impls=["fast", "contextvar", "threading-local"],
                                                 request_concurrency=8, **SHORT), ceiling=False)
    assert errors == []
    return _by_cell([r for r in records if r["kind"] == "request"])


pytestmark = pytest.mark.db


@pytest.mark.parametrize("concurrency", [4, 16])
@pytest.mark.parametrize("strategy", [*SAFE_ASYNC, "tests.async_strategies:own_connection"])
def test_safe_async_strategies_keep_replies_apart(matrix_async: Records, strategy: str, concurrency: int) -> None:
    rec = matrix_async[strategy, concurrency, None]
    assert rec["outcome"] == "ok", rec
    assert rec["load"] == "asyncio"
    assert rec["errors"] == {} and rec["wrong_results"] == 0 and rec["silent_wrong"] == 0
    assert rec["ops"] > 0 and rec["ops_per_s"] > 0
    assert rec["latency_hist"]["count"] == rec["ops"]  # every right reply stamped once, in the shared buffers
    assert rec["latency_ms"]["p50"] <= rec["latency_ms"]["p99"] <= rec["latency_ms"]["max"]
    assert rec["connection_id_samples"]["mismatched"] == 0
    assert rec["open_after_close"] == 0  # close() (a coroutine) ran on the loop and closed everything
    if strategy == "per-request":
        assert rec["connections_used"] >= min(rec["ops_total"], 5)
    elif strategy == "asyncmy-pool":
        # asyncmy's pool drops a connection given back inside a transaction; the pk lookup (a SELECT of an
        # InnoDB table, autocommit off) leaves one open, so it opens a new connection for about every one.
        assert rec["connections_used"] > concurrency
    else:
        assert 1 <= rec["connections_used"] <= concurrency


@pytest.mark.parametrize("concurrency", [4, 16])
def test_one_shared_async_connection_fails(matrix_async: Records, concurrency: int) -> None:
    rec = matrix_async["global", concurrency, None]
    assert rec["outcome"] == "errors"
    assert rec["error_count"] > 0
    assert any("another coroutine is already waiting" in text for text in rec["error_samples"].values()), rec
    assert rec["connections_used"] == 1


def test_shared_async_connection_returns_other_tasks_rows(matrix_async: Records) -> None:
    """Measured: besides the errors, aiomysql hands one task another task's reply as its own."""
    assert sum(matrix_async["global", c, None]["silent_wrong"] for c in (4, 16)) > 0


def test_loop_and_lock_are_recorded(matrix_async: Records) -> None:
    rec = matrix_async["locked", 4, None]
    assert rec["strategy_facts"]["lock_type"] == "asyncio.locks.Lock"
    assert rec["load_facts"]["os_threads_for_4_workers"] == 1
    assert rec["load_facts"]["db_event_loop"].startswith("uvloop")  # installed with the asyncio extra
    assert rec["settings"] == {"driver": "aiomysql"}


@pytest.mark.parametrize("impl", ["fast", "contextvar"])
def test_request_context_on_a_contextvar_local_never_leaks(requests_async: Records, impl: str) -> None:
    rec = requests_async["aiomysql-pool", 8, impl]
    assert rec["outcome"] == "ok", rec
    assert rec["local_violations"] == 0 and rec["wrong_results"] == 0 and rec["errors"] == {}
    assert rec["ops"] > 0  # the replies were checked: each one is the request's own token


def test_request_context_on_threading_local_leaks_between_tasks(requests_async: Records) -> None:
    """The same probe fails where it must: every task runs on one thread, so they share threading.local."""
    rec = requests_async["aiomysql-pool", 8, "threading-local"]
    assert rec["outcome"] == "errors" and rec["local_violations"] > 0


@pytest.mark.parametrize("factory", ["NeverReady", "BlocksTheLoop"])
def test_a_hanging_async_strategy_ends_hung(target: ServerTarget, factory: str) -> None:
    """An idle loop (a checkout that never gets a connection) and a blocked one (a blocking call inside a coroutine):
    the watchdog thread sees no progress and ends the cell itself."""
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}  # the private server, if any
    started = time.monotonic()
    records, errors = run_db(target, DbSelection(strategies=[f"tests.async_strategies:{factory}"], loads=["asyncio"],
                                                 concurrency=[4], hang_after=1.0, **SHORT), ceiling=False)
    assert errors == []  # the cell ended itself; the parent did not have to kill it
    (rec,) = records
    assert rec["outcome"] == "hung" and rec["unfinished_workers"] == 4 and rec["hung_phase"] == "workers"
    assert time.monotonic() - started < 30
    assert {p.pid for p in psutil.Process().children(recursive=True)} - before == set()  # the cell is gone


@pytest.mark.parametrize(("strategy", "load"), [("pooled", "asyncio"), ("aiomysql-pool", "threads"),
                                                ("to-thread", "gevent"), ("persistent", "asyncio")])
def test_a_strategy_under_a_load_it_cannot_serve_is_one_line(strategy: str, load: str) -> None:
    with pytest.raises(UsageError) as info:
        validate_db(strategies=[strategy], loads=[load], concurrency=[4], duration=1.0, warmup=0.1)
    text = str(info.value)
    assert f"{strategy!r} does not run under {load}" in text and "\n" not in text


def test_the_cli_refuses_it_with_exit_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.cli.main", "db", "--quiet", "--db-load", "asyncio",
                           "--strategy", "pooled"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "'pooled' does not run under asyncio" in lines[0], proc.stderr


def test_each_strategy_declares_its_loads() -> None:
    for name in ("global", "locked", "per-request", "own-connection"):
        assert set(strategies.STRATEGIES[name].loads()) >= {"threads", "gevent", "asyncio"}
    for name in ("aiomysql-pool", "asyncmy-pool", "sqlalchemy-async", "to-thread"):
        assert strategies.STRATEGIES[name].loads() == ("asyncio",)
    for name in ("pooled", "pooled-tuned", "persistent", "sqlalchemy-queuepool", "global-reconnect", "pooled-timeout",
                 "per-request-timeout", "own-connection-timeout", "sqlalchemy-pre-ping", "sqlalchemy-recycle"):
        assert "asyncio" not in strategies.STRATEGIES[name].loads()
    for name in ("aiomysql-pool-recycle", "sqlalchemy-async-pre-ping"):
        assert strategies.STRATEGIES[name].loads() == ("asyncio",)
    assert strategies.serves("package.module:factory", "asyncio")  # a user factory: the cell finds out


def test_default_strategies_follow_the_loads() -> None:
    only_async = matrix.default_db_strategies(["asyncio"], matrix.DB_DEFAULT["strategies"],
                                              matrix.DB_ASYNC_STRATEGIES)
    assert set(only_async) == {n for n, i in strategies.STRATEGIES.items() if i.in_default and "asyncio" in i.loads()}
    both = matrix.default_db_strategies(["threads", "asyncio"], matrix.DB_DEFAULT["strategies"],
                                        matrix.DB_ASYNC_STRATEGIES)
    assert both == ["global", "locked", "per-request", "own-connection"]
    assert "aiomysql-pool" not in matrix.DB_DEFAULT["strategies"]  # the default matrix is unchanged


def test_a_missing_driver_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the ``asyncio`` extra's driver, the selection is refused before anything runs (planted: asyncmy gone)."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "asyncmy" else real(name, *a))
    with pytest.raises(UsageError, match=r"needs asyncmy: pip install 'ctxbench\[asyncio\]'"):
        validate_db(strategies=["asyncmy-pool"], loads=["asyncio"], concurrency=[4], duration=1.0, warmup=0.1)
    validate_db(strategies=["aiomysql-pool"], loads=["asyncio"], concurrency=[4], duration=1.0, warmup=0.1)


def test_two_processes_of_tasks_start_together(target: ServerTarget) -> None:
    """``--processes 2`` under asyncio: each process's tasks wait for the common start, the records merge."""
    records, errors = run_db(target, DbSelection(strategies=["aiomysql-pool"], loads=["asyncio"], concurrency=[4],
                                                 processes=[2], **SHORT), ceiling=False)
    assert errors == []
    (rec,) = records
    assert rec["outcome"] == "ok" and rec["processes"] == 2 and rec["start_sync"]["ok"] is True
    assert rec["error_count"] == 0 and rec["wrong_results"] == 0
    assert [p["ops"] > 0 for p in rec["per_process"]] == [True, True]
    assert sum(p["ops"] for p in rec["per_process"]) == rec["ops"]


@pytest.mark.parametrize(("impl", "parent_sees_child"), [("fast", False), ("contextvar", False),
                                                         ("threading-local", True)])
def test_a_child_task_starts_with_a_copy_of_the_request_context(impl: str, parent_sees_child: bool) -> None:
    """What the README says of request contexts under asyncio: a child task sees its parent's request (a copy of
    the context), and a context it pushes and leaves behind is not seen by the parent -- on a ContextVar Local.
    On ``threading.local`` every task shares one slot, so the child's push shows in the parent."""
    import asyncio

    import localimpls
    from localimpls.stack import LocalStack

    stack: LocalStack[str] = LocalStack(localimpls.resolve(impl))

    async def child() -> str | None:
        seen = stack.top
        stack.push("child's request")  # left behind: the child ends without popping
        return seen

    async def parent() -> tuple[str | None, str | None]:
        stack.push("parent's request")
        seen_by_child = await asyncio.create_task(child())
        return seen_by_child, stack.top

    seen_by_child, parent_top = asyncio.run(parent())
    assert seen_by_child == "parent's request"
    assert (parent_top == "child's request") is parent_sees_child


def test_the_gate_selects_the_asyncio_strategies_for_an_asyncio_load() -> None:
    """``ctxbench regress --db-load asyncio``: the expected-safe strategies that run there, ``locked`` the reference."""
    from bench.cli import regress
    from bench.cli.main import build_parser

    parser = build_parser()
    plan = regress.plan_from_args(parser.parse_args(["regress", "--db-load", "asyncio", "--no-micro"]))
    assert plan.db_loads == ("asyncio",)
    assert set(plan.strategies) == {n for n, i in strategies.STRATEGIES.items()
                                    if i.expected_safe and i.in_default and "asyncio" in i.loads()}
    assert regress.plan_from_args(parser.parse_args(["regress", "--no-micro"])).strategies == tuple(
        n for n, i in strategies.STRATEGIES.items()
        if i.expected_safe and i.in_default and {"threads", "gevent"} <= set(i.loads()))


def test_the_overhead_measurement_refuses_asyncio() -> None:
    """The overhead measurement times the blocking harness: asked under asyncio, it says so in one line."""
    from bench.records.environment import PROJECT_ROOT
    from benchmarks.db_overhead import measure_overhead

    with pytest.raises(UsageError, match="blocking load") as info:
        measure_overhead(None, load="asyncio")
    assert "\n" not in str(info.value)
    done = subprocess.run([sys.executable, "benchmarks/db_overhead.py", "--load", "asyncio"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"db_overhead: {info.value}"]
