"""The kernel-level partition (bench/net/netns.py, bench/net/nsserver.py): a network namespace joined to the host by
a veth pair whose link is cut, and a private server inside it.

What a partition is, checked on real TCP connections: with the link down a bounded read gives up with 2013 after
its timeout, a connect times out (2003) instead of being refused, and a query sent during the cut completes once
the link is back (TCP retransmits it) -- nothing is lost, only delayed.  And what is made is gone afterwards: the
namespace, its devices, every process inside, also after Ctrl-C and after a SIGKILLed process (the next sweep).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pymysql
import pytest

import bench.server as server
from bench.net import Namespace, iproute, namespace_unavailable, namespaced_server, sweep_stale, veth_namespace
from bench.poll import poll
from bench.server import Placement, install, private

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def netns() -> None:
    """Skip (saying why) where this process may not make network namespaces."""
    reason = namespace_unavailable()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def server_binary(netns: None) -> None:
    if server.find_server_binary() is None:
        if os.environ.get("CTXBENCH_REQUIRE_DB") == "1":
            pytest.fail("CTXBENCH_REQUIRE_DB=1 but no mariadbd or mysqld to start")
        pytest.skip("no mariadbd or mysqld to start")


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _gone(pid: int) -> bool:
    return not poll(lambda: _running(pid), until=lambda alive: not alive, timeout=10, interval=0.05)


def _made(ns: Namespace) -> dict[str, bool]:
    """Which of a namespace's parts exist on the host now."""
    devices = iproute.link_names()
    return {"namespace": ns.name in iproute.namespaces(), "host end": ns.host_link in devices,
            "sink": ns.sink_link in devices}


def _start_inside(ns: Namespace) -> subprocess.Popen[bytes]:
    """``sleep 60`` inside the namespace (in a session of its own: only the namespace's clean-up ends it)."""
    sleeper = subprocess.Popen([*ns.run_prefix(), "sleep", "60"], start_new_session=True, stdin=subprocess.DEVNULL)
    assert poll(ns.pids, until=lambda pids: sleeper.pid in pids, timeout=10, interval=0.05)
    return sleeper


def test_the_default_placement_changes_nothing_and_a_namespace_one_goes_first() -> None:
    here = install.server_command("/usr/sbin/mariadbd", "mariadb", "10.11", Path("/tmp/x"), 4000)
    assert here == install.server_command("/usr/sbin/mariadbd", "mariadb", "10.11", Path("/tmp/x"), 4000, (),
                                          Placement())
    assert here[0] == "/usr/sbin/mariadbd" and "--bind-address=127.0.0.1" in here
    inside = install.server_command("/usr/sbin/mariadbd", "mariadb", "10.11", Path("/tmp/x"), 4000, (),
                                    Placement("169.254.9.2", ("ip", "netns", "exec", "ns"), "169.254.9.1"))
    assert inside[:5] == ["ip", "netns", "exec", "ns", "/usr/sbin/mariadbd"] and inside[5] == "--no-defaults"
    assert "--bind-address=169.254.9.2" in inside and "--bind-address=127.0.0.1" not in inside


@pytest.mark.db
@pytest.mark.parametrize("ending", ["normal", "ctrl-c"])
def test_the_namespace_its_devices_and_processes_live_only_inside_the_block(netns: None, ending: str) -> None:
    outcome = pytest.raises(KeyboardInterrupt) if ending == "ctrl-c" else contextlib.nullcontext()
    sleeper = None
    try:
        with outcome, veth_namespace() as ns:
            assert _made(ns) == {"namespace": True, "host end": True, "sink": True}
            assert ns.ns_link in [link["ifname"] for link in iproute.links(ns.name)]
            subnet = ipaddress.ip_network(ns.subnet)
            assert subnet.prefixlen == 30 and subnet.subnet_of(ipaddress.ip_network("169.254.0.0/16"))
            assert {ns.host_address, ns.ns_address} == {str(subnet[1]), str(subnet[2])}
            assert ns.link_is_up() and max(map(len, (ns.host_link, ns.ns_link, ns.sink_link))) <= 15
            assert ns.run_prefix()[1:] == ["netns", "exec", ns.name]
            sleeper = _start_inside(ns)
            if ending == "ctrl-c":
                raise KeyboardInterrupt
    finally:
        if sleeper is not None and _running(sleeper.pid):
            sleeper.kill()
    assert sleeper is not None and _gone(sleeper.pid)
    assert _made(ns) == {"namespace": False, "host end": False, "sink": False}
    assert iproute.route_device(ns.ns_address) not in (ns.host_link, ns.sink_link)


@pytest.mark.db
def test_a_private_server_in_the_namespace_answers_from_the_host(server_binary: None) -> None:
    with namespaced_server() as (ns, handle):
        assert handle.ephemeral and handle.target.host == ns.ns_address
        assert handle.pid in ns.pids()  # it runs inside the namespace, not on the host
        conn = pymysql.connect(**handle.target.connect_kwargs(), connect_timeout=5, read_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1, CURRENT_USER(), DATABASE(), @@bind_address")
                assert cur.fetchone() == (1, f"root@{ns.host_address}", "test", ns.ns_address)
        finally:
            conn.close()
        with pytest.raises(pymysql.err.OperationalError) as denied:  # root needs the generated password
            pymysql.connect(**{**handle.target.connect_kwargs(), "password": ""}, connect_timeout=5)
        assert denied.value.args[0] == 1045
        handle.kill()  # a crash, and a restart on the same port, still inside
        assert handle.restart() < 30 and handle.pid in ns.pids()
        pymysql.connect(**handle.target.connect_kwargs(), connect_timeout=5).close()
        pid, tempdir = handle.pid, handle.tempdir
    assert tempdir is not None and not tempdir.exists()
    assert _gone(pid)
    assert _made(ns) == {"namespace": False, "host end": False, "sink": False}


def _query(conn: Any, sql: str, into: dict[str, Any]) -> None:
    """Run ``sql`` on ``conn``; its rows (or the error) and when it ended go into ``into``."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            into["rows"] = cur.fetchall()
    except Exception as exc:
        into["error"] = exc
    into["ended"] = time.monotonic()


def _fails(call: Any) -> tuple[int, float]:
    """The MySQL error number ``call()`` fails with, and after how many seconds."""
    started = time.monotonic()
    with pytest.raises(pymysql.err.OperationalError) as failed:
        call()
    return failed.value.args[0], time.monotonic() - started


@pytest.mark.db
@pytest.mark.slow
def test_a_cut_link_delays_and_times_out_but_resets_nothing_and_loses_nothing(server_binary: None) -> None:
    with namespaced_server() as (ns, handle):
        kwargs = handle.target.connect_kwargs()
        bounded = pymysql.connect(**kwargs, connect_timeout=5, read_timeout=1)
        patient = pymysql.connect(**kwargs, connect_timeout=5)  # no read timeout: waits as long as TCP does
        blocked: dict[str, Any] = {}
        waiter = threading.Thread(target=_query, args=(patient, "SELECT 42", blocked), daemon=True)
        ns.link_down()
        try:
            cut = time.monotonic()
            waiter.start()
            code, took = _fails(lambda: bounded.cursor().execute("SELECT 1"))
            assert code == 2013 and 0.8 <= took <= 3  # the read timed out; no reset came
            code, took = _fails(lambda: pymysql.connect(**kwargs, connect_timeout=1))
            assert code == 2003 and 0.8 <= took <= 3  # timed out, not refused
            time.sleep(max(0.0, cut + 2 - time.monotonic()))
            assert waiter.is_alive() and not blocked  # 2 s into the cut the query still waits
        finally:
            mended = time.monotonic()
            ns.link_up()
        waiter.join(30)
        assert blocked.get("rows") == ((42,),), blocked.get("error")  # TCP retransmitted it: nothing lost
        assert mended <= blocked["ended"] <= mended + 10
        again: dict[str, Any] = {}
        _query(patient, "SELECT 43", again)  # the same connection goes on
        assert again.get("rows") == ((43,),)
        fresh = pymysql.connect(**kwargs, connect_timeout=5, read_timeout=5)
        with fresh.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
        for conn in (bounded, patient, fresh):
            conn.close()


_ABANDONS = """
import subprocess, sys
from bench.net import namespaced_server, veth_namespace
if sys.argv[1] == "server":
    block = namespaced_server()  # kept: a collected generator would leave the block
    ns, handle = block.__enter__()
    inside, folder = handle.pid, handle.tempdir
else:
    block = veth_namespace()
    ns = block.__enter__()
    inside = subprocess.Popen([*ns.run_prefix(), "sleep", "600"], start_new_session=True,
                              stdin=subprocess.DEVNULL).pid
    folder = None
print(ns.name, ns.host_link, ns.sink_link, inside, folder, flush=True)
sys.stdin.read()
"""


@pytest.mark.db
@pytest.mark.parametrize("inside", ["sleep", "server"])
def test_a_namespace_left_by_a_killed_process_is_swept(netns: None, inside: str) -> None:
    """SIGKILL the process inside its block: the namespace and its devices stay, until the next sweep; a process
    inside stays too (swept with it), a private server dies with its parent (its folder is swept as always)."""
    if inside == "server" and server.find_server_binary() is None:
        pytest.skip("no mariadbd or mysqld to start")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", _ABANDONS, inside], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        name, host_link, sink_link, pid, folder = (parent.stdout.readline() if parent.stdout else "").split()
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
    left = Namespace(name, host_link, "", sink_link, "", "")
    try:
        assert _made(left) == {"namespace": True, "host end": True, "sink": True}  # nobody cleaned up
        if inside == "server":
            assert _gone(int(pid))  # the parent-death signal, through `ip netns exec`
        else:
            assert _running(int(pid))
        assert name in sweep_stale()
        assert _made(left) == {"namespace": False, "host end": False, "sink": False}
        assert _gone(int(pid))
        if inside == "server":
            private.sweep_stale(str(Path(folder).parent))
            assert not Path(folder).exists()
    finally:
        sweep_stale()
