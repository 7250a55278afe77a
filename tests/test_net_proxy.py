"""The delay proxy against a real server: the round trip it adds, partition, reset, and nothing left behind."""

from __future__ import annotations

import socket
import statistics
import threading
import time
from typing import Any

import psutil
import pymysql
import pytest

from bench.net import ProxyError, delay_proxy, measure_rtt

pytestmark = pytest.mark.db


def _proxies() -> list[int]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if "bench.net.proxy" in " ".join(proc.info["cmdline"] or ()):
            found.append(proc.pid)
    return found


def _connect(target: Any, **options: Any) -> Any:
    return pymysql.connect(**target.connect_kwargs(), **options)


def test_measured_rtt_is_the_setting_plus_the_proxys_own_cost(mysql_server: Any) -> None:
    # 5 ms: well above the wake-up jitter of a loaded 2-core machine (docs/network.md).  Three rounds, interleaved,
    # each figure the median of its rounds: a burst of load on this shared machine moves one round, not the
    # comparison.
    rounds: list[tuple[float, float, float]] = []
    with delay_proxy(mysql_server.target) as proxy:
        for _ in range(3):
            proxy.set_rtt(0.0)
            direct, at_zero = measure_rtt(mysql_server.target), measure_rtt(proxy.target)
            proxy.set_rtt(5.0)
            rounds.append((direct.median_ms, at_zero.median_ms, measure_rtt(proxy.target).median_ms))
            assert at_zero.p10_ms <= at_zero.median_ms <= at_zero.p90_ms
    direct_ms, zero_ms, two_ms = (statistics.median(column) for column in zip(*rounds, strict=True))
    expected = 5.0 + max(0.0, zero_ms - direct_ms)
    # Never early (a delay applied once instead of split over both directions shows as 2.5 ms); late by at most a
    # fifth (wake-ups on a loaded machine are late, never early: +10% was seen at load average 5-12).
    assert 0.95 * expected <= two_ms <= 1.2 * expected, rounds


def test_a_partition_delays_and_loses_nothing_a_read_timeout_turns_it_into_an_error(mysql_server: Any) -> None:
    with delay_proxy(mysql_server.target) as proxy:
        bounded = _connect(proxy.target, read_timeout=1)
        patient = _connect(proxy.target)
        proxy.partition()
        assert proxy.stats()["partitioned"] is True
        started = time.monotonic()
        with pytest.raises(pymysql.OperationalError) as failed:
            bounded.cursor().execute("SELECT 1")
        assert failed.value.args[0] == 2013
        assert 0.8 <= time.monotonic() - started <= 3.0
        answers: list[Any] = []

        def wait_for_answer() -> None:
            cur = patient.cursor()
            cur.execute("SELECT 2")
            answers.append((cur.fetchall(), time.monotonic()))

        waiter = threading.Thread(target=wait_for_answer)
        waiter.start()
        time.sleep(1.5)
        assert not answers  # held, not lost, not failed
        healed_at = time.monotonic()
        proxy.heal()
        waiter.join(10)
        assert answers and answers[0][0] == ((2,),)
        assert answers[0][1] - healed_at < 1.0
        patient.close()


def test_reset_drops_every_relayed_connection_at_once_and_new_ones_work(mysql_server: Any) -> None:
    with delay_proxy(mysql_server.target) as proxy:
        conns = [_connect(proxy.target) for _ in range(3)]
        assert proxy.reset()["reset_links"] == 3
        for conn in conns:
            with pytest.raises(pymysql.OperationalError) as lost:
                conn.cursor().execute("SELECT 1")
            assert lost.value.args[0] in (2006, 2013)
        fresh = _connect(proxy.target)
        cur = fresh.cursor()
        cur.execute("SELECT 3")
        assert cur.fetchall() == ((3,),)
        fresh.close()


def test_no_proxy_outlives_its_block_even_on_ctrl_c(mysql_server: Any) -> None:
    with pytest.raises(KeyboardInterrupt), delay_proxy(mysql_server.target, rtt_ms=1.0) as proxy:
        assert proxy.child.pid in _proxies()
        raise KeyboardInterrupt
    assert proxy.child.pid not in _proxies()  # other runs' proxies may come and go meanwhile
    assert not proxy.folder.exists()


def test_a_negative_round_trip_is_refused_and_a_dead_proxy_is_an_error(mysql_server: Any) -> None:
    with pytest.raises(ValueError, match="negative"), delay_proxy(mysql_server.target, rtt_ms=-1):
        pass
    with delay_proxy(mysql_server.target) as proxy:
        proxy.child.kill()
        with pytest.raises(ProxyError, match="did not answer"):
            proxy.stats()


def _server_has(target: Any, connection_id: int) -> bool:
    admin = _connect(target)
    try:
        cur = admin.cursor()
        cur.execute("SELECT COUNT(*) FROM information_schema.processlist WHERE id = %s", (connection_id,))
        return bool(cur.fetchone()[0])
    finally:
        admin.close()


def test_a_clients_reset_crosses_to_the_server_and_no_reset_leaves_a_connection_behind(mysql_server: Any) -> None:
    """An idle connection whose client resets it (a process killed with unread data, a firewall) is reset on the
    server's side too, and so is every connection the proxy resets: the server is left holding none of them."""
    from bench.net.proxy import LINGER_RST
    from bench.poll import poll

    direct = mysql_server.target
    with delay_proxy(direct) as proxy:
        conn = _connect(proxy.target)
        server_id = conn.thread_id()
        conn._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
        conn._rfile.close()  # the socket's last reference is its file object's and its own
        conn._sock.close()  # an RST from the client's side, nothing said to the server
        assert not poll(lambda: _server_has(direct, server_id), until=lambda held: not held, timeout=5,
                        interval=0.1), "the server still holds the connection its client reset"
        for _ in range(5):  # idle and busy links reset together, again and again
            conns = [_connect(proxy.target) for _ in range(4)]
            ids = [c.thread_id() for c in conns]
            busy = threading.Thread(target=_swallow, args=(conns[0],))
            busy.start()
            proxy.reset()
            busy.join(10)
            assert not poll(lambda ids=ids: [i for i in ids if _server_has(direct, i)], until=lambda held: not held,
                            timeout=5, interval=0.1), "the server still holds connections the proxy reset"
        assert proxy.stats()["links"] == 0


def _swallow(conn: Any) -> None:
    try:
        while True:
            conn.cursor().execute("SELECT 1")
    except pymysql.MySQLError:
        pass
