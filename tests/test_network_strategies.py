"""The strategy variants that exist for network failures, against a real server.

What is asserted: each variant builds, serves right replies with no error in a short cell under every load it
serves (threads and gevent; asyncio for the asyncio ones), and records the settings it was built with; records of
cells without idle gaps say nothing of them; the ``-timeout`` variants' read timeout applies (``SELECT SLEEP(3)``
fails with 2013 after about :data:`NET_TIMEOUT` per attempt -- DBUtils makes two -- where ``pooled`` waits the
3 s); ``own-connection-timeout``
comes back after a timeout closed its connection (its ping-before-use habit); ``sqlalchemy-pre-ping`` hands out a
working connection after the server killed the pooled one; the recycling pools replace a connection idle (or,
SQLAlchemy, open) longer than :data:`RECYCLE_S`.  Times are asserted only with wide margins.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

import pymysql
import pytest

from bench.cell import strategies
from bench.cell.netconnections import NET_TIMEOUT, RECYCLE_S, TIMEOUT_SETTINGS
from bench.exec.db import run_db
from bench.plan.selection import DbSelection
from bench.server import ServerTarget

pytestmark = pytest.mark.db

SYNC_VARIANTS = ("pooled-timeout", "per-request-timeout", "own-connection-timeout", "sqlalchemy-pre-ping",
                 "sqlalchemy-recycle")
ASYNC_VARIANTS = ("aiomysql-pool-recycle", "sqlalchemy-async-pre-ping")
TIMEOUT_VARIANTS = ("pooled-timeout", "per-request-timeout", "own-connection-timeout")
SHORT = {"duration": 0.5, "warmup": 0.2}


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest) -> ServerTarget:
    return request.getfixturevalue("mysql_server").target  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def cells(target: ServerTarget) -> dict[tuple[str, str], Any]:
    """Every variant in a short cell at concurrency 4: the blocking ones under threads and gevent, the asyncio ones
    under asyncio."""
    records, errors = run_db(target, DbSelection(strategies=list(SYNC_VARIANTS), loads=["threads", "gevent"],
                                                 concurrency=[4], **SHORT), ceiling=False)
    more, more_errors = run_db(target, DbSelection(strategies=list(ASYNC_VARIANTS), loads=["asyncio"],
                                                   concurrency=[4], **SHORT), ceiling=False)
    assert errors + more_errors == []
    return {(r["strategy"], r["load"]): r for r in records + more if r["kind"] == "db"}


def _served() -> list[tuple[str, str]]:
    return [(name, load) for name in SYNC_VARIANTS for load in ("threads", "gevent")] + [
        (name, "asyncio") for name in ASYNC_VARIANTS]


def _select_1(conn: Any) -> Any:
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        return cur.fetchone()[0]


def _server_id(conn: Any) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID()")
        return int(cur.fetchone()[0])


@pytest.mark.parametrize(("name", "load"), _served())
def test_a_variant_runs_a_short_cell_right_and_records_its_settings(cells: dict[tuple[str, str], Any], name: str,
                                                                    load: str) -> None:
    rec = cells[name, load]
    assert rec["outcome"] == "ok", rec.get("reason")
    assert rec["errors"] == {} and rec["wrong_results"] == 0 and rec["silent_wrong"] == 0
    assert rec["ops"] > 0 and rec["ops_per_s"] > 0
    assert rec["connection_id_samples"]["mismatched"] == 0 and "connection_id_errors" not in rec
    assert rec["settings"] == strategies.settings_of(name, load)
    assert "idle_gaps" not in rec and "active_s" not in rec  # no gaps given: the record is as it always was
    if name in TIMEOUT_VARIANTS:
        assert {k: rec["settings"][k] for k in TIMEOUT_SETTINGS} == TIMEOUT_SETTINGS
    if name == "own-connection-timeout":
        assert rec["settings"]["ping_before_use"] is True and rec["strategy_facts"] == {"reopened": 0}
    if "pre-ping" in name:
        assert rec["settings"]["pool_pre_ping"] is True
    if "recycle" in name:
        assert rec["settings"]["pool_recycle_s"] == RECYCLE_S


@pytest.mark.parametrize("name", SYNC_VARIANTS)
def test_a_blocking_variant_builds_and_reaches_its_pymysql_connection(target: ServerTarget, name: str) -> None:
    """Built by name, it checks out a connection whose PyMySQL connection (``raw``, the oracle's way to the server's
    connection id) is the one the server sees."""
    strategy = strategies.build_strategy(name, target.connect_kwargs(), 2)
    raw = strategies.unwrapper(strategy)
    try:
        with strategies.worker_handle(strategy, 0).checkout() as conn:
            assert _select_1(conn) == 1
            inner = raw(conn)
            assert isinstance(inner, pymysql.connections.Connection)
            assert inner.thread_id() == _server_id(conn)
    finally:
        strategy.close()


async def _abuild(name: str, target: ServerTarget, concurrency: int) -> Any:
    """Build an asyncio strategy as the cell does (its builder may be a coroutine)."""
    made = strategies.build_strategy(name, target.connect_kwargs(), concurrency, "asyncio")
    return strategies.check_product(name, await made if inspect.isawaitable(made) else made)


@pytest.mark.parametrize("name", ASYNC_VARIANTS)
def test_an_asyncio_variant_builds_and_serves(target: ServerTarget, name: str) -> None:
    async def main() -> int:
        strategy = await _abuild(name, target, 2)
        try:
            async with strategy.checkout() as conn:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT 1")
                    return int((await cur.fetchone())[0])
        finally:
            await strategy.close()

    assert asyncio.run(main()) == 1


def _sleep_3(strategy: Any) -> tuple[float, BaseException | None]:
    """Seconds a ``SELECT SLEEP(3)`` through one checkout took, and what it raised."""
    started = time.perf_counter()
    try:
        with strategies.worker_handle(strategy, 0).checkout() as conn, conn.cursor() as cur:
            cur.execute("SELECT SLEEP(3)")
            cur.fetchone()
    except pymysql.err.MySQLError as exc:
        return time.perf_counter() - started, exc
    return time.perf_counter() - started, None


@pytest.mark.parametrize(("name", "attempts"), [("pooled-timeout", 2), ("per-request-timeout", 1),
                                              ("own-connection-timeout", 1)])
def test_the_read_timeout_applies(target: ServerTarget, name: str, attempts: int) -> None:
    """A read that waits longer than NET_TIMEOUT fails with 2013 (lost connection) after about NET_TIMEOUT -- per
    attempt: DBUtils' cursor runs a statement that failed outside a transaction once more on a new connection, so
    through ``pooled-timeout`` it fails after twice the timeout, still before the 3 s reply."""
    strategy = strategies.build_strategy(name, target.connect_kwargs(), 1)
    try:
        took, exc = _sleep_3(strategy)
    finally:
        strategy.close()
    assert isinstance(exc, pymysql.err.OperationalError) and exc.args[0] == 2013, exc
    assert attempts * NET_TIMEOUT * 0.9 <= took < min(attempts * NET_TIMEOUT + 0.8, 2.9), took


def test_pooled_timeout_inside_a_transaction_fails_after_one_timeout(target: ServerTarget) -> None:
    """DBUtils retries no statement of a transaction (``begin()``): the read fails after one timeout."""
    strategy = strategies.build_strategy("pooled-timeout", target.connect_kwargs(), 1)
    started = time.perf_counter()
    try:
        with strategy.checkout() as conn, pytest.raises(pymysql.err.OperationalError) as info:
            conn.begin()
            with conn.cursor() as cur:
                cur.execute("SELECT SLEEP(3)")
        took = time.perf_counter() - started
    finally:
        strategy.close()
    assert info.value.args[0] == 2013 and NET_TIMEOUT * 0.9 <= took < NET_TIMEOUT + 0.8, took


def test_pooled_without_the_timeout_waits_for_the_reply(target: ServerTarget) -> None:
    strategy = strategies.build_strategy("pooled", target.connect_kwargs(), 1)
    try:
        took, exc = _sleep_3(strategy)
    finally:
        strategy.close()
    assert exc is None and took >= 2.9, (took, exc)


def test_own_connection_timeout_reopens_after_a_timeout_closed_its_connection(target: ServerTarget) -> None:
    """PyMySQL closes a connection whose read timed out; the ping before the next operation finds it closed and the
    worker gets a new one (what ``own-connection`` without the habit never does)."""
    strategy = strategies.build_strategy("own-connection-timeout", target.connect_kwargs(), 1)
    handle = strategies.worker_handle(strategy, 0)
    try:
        with handle.checkout() as first:
            first_id = first.thread_id()
        _, exc = _sleep_3(strategy)
        assert isinstance(exc, pymysql.err.OperationalError) and exc.args[0] == 2013 and not first.open
        with handle.checkout() as second:
            assert second is not first and second.thread_id() != first_id and _select_1(second) == 1
        assert strategy.facts() == {"reopened": 1}
    finally:
        strategy.close()
    assert strategy.facts() == {"reopened": 1} and not second.open  # the cell reads the facts after close()


def _kill(target: ServerTarget, server_id: int) -> None:
    admin = pymysql.connect(**target.connect_kwargs())
    try:
        with admin.cursor() as cur:
            cur.execute(f"KILL {int(server_id)}")
    finally:
        admin.close()


@pytest.mark.parametrize(("name", "survives"), [("sqlalchemy-pre-ping", True), ("sqlalchemy-queuepool", False)])
def test_pre_ping_hands_out_a_working_connection_after_the_server_killed_the_pooled_one(
        target: ServerTarget, name: str, survives: bool) -> None:
    strategy = strategies.build_strategy(name, target.connect_kwargs(), 1)
    try:
        with strategy.checkout() as conn:
            killed = _server_id(conn)
        _kill(target, killed)
        time.sleep(0.1)  # the server ends the thread
        try:
            with strategy.checkout() as conn:
                now = _server_id(conn)
        except pymysql.err.MySQLError:
            now = None
        assert (now is not None and now != killed) is survives, now
    finally:
        strategy.close()


def test_sqlalchemy_recycle_replaces_a_connection_older_than_recycle_s(target: ServerTarget) -> None:
    strategy = strategies.build_strategy("sqlalchemy-recycle", target.connect_kwargs(), 1)
    try:
        with strategy.checkout() as conn:
            before = _server_id(conn)
        with strategy.checkout() as conn:
            assert _server_id(conn) == before  # younger than RECYCLE_S: kept
        time.sleep(RECYCLE_S + 0.2)
        with strategy.checkout() as conn:
            assert _server_id(conn) != before
    finally:
        strategy.close()


def test_aiomysql_pool_recycle_replaces_a_connection_idle_longer_than_recycle_s(target: ServerTarget) -> None:
    async def ids() -> list[int]:
        strategy = await _abuild("aiomysql-pool-recycle", target, 1)
        seen = []
        try:
            for pause in (0.0, RECYCLE_S + 0.2):
                await asyncio.sleep(pause)
                async with strategy.checkout() as conn:
                    async with conn.cursor() as cur:
                        await cur.execute("SELECT CONNECTION_ID()")
                        seen.append(int((await cur.fetchone())[0]))
        finally:
            await strategy.close()
        return seen

    first, second = asyncio.run(ids())
    assert first != second
