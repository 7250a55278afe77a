"""bench.server beyond URL parsing and discovery: import hygiene, logging, polling, the private server's lifecycle."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import psutil
import pymysql
import pytest

import bench.server as server
from bench.poll import poll_until
from bench.server import private

ROOT = Path(__file__).resolve().parents[1]


def _needs_binary() -> None:
    if server.find_server_binary() is None:
        if os.environ.get("CTXBENCH_REQUIRE_DB") == "1":
            pytest.fail("CTXBENCH_REQUIRE_DB=1 but no mariadbd or mysqld to start")
        pytest.skip("no mariadbd or mysqld to start")


def test_importing_the_package_imports_nothing_gevent_patches() -> None:
    code = ("import sys, json, bench.server; "
            "print(json.dumps([m for m in ('socket', 'ssl', 'subprocess', 'select', 'pymysql', 'mirakuru', "
            "'psutil', 'tenacity', 'sqlalchemy') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert json.loads(out.stdout) == []


def test_poll_until_retries_then_gives_up_with_the_last_error() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError("not yet")
        return "ok"

    assert poll_until(flaky, deadline=time.monotonic() + 5, retry_on=TimeoutError, interval=0.01) == "ok"
    assert len(calls) == 3
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="never"):
        poll_until(lambda: (_ for _ in ()).throw(TimeoutError("never")), deadline=started + 0.2,
                   retry_on=TimeoutError, interval=0.01)
    assert time.monotonic() - started < 2
    with pytest.raises(KeyError):  # not retried
        poll_until(lambda: {}["x"], deadline=time.monotonic() + 5, retry_on=TimeoutError)


@pytest.mark.db
def test_discovery_logs_what_it_checks_without_the_password(
        mysql_server: server.ServerHandle, caplog: pytest.LogCaptureFixture) -> None:
    t = mysql_server.target
    url = (f"mysql://{urllib.parse.quote(t.user, safe='')}:{urllib.parse.quote(t.password, safe='')}"
           f"@{t.host}:{t.port}/{t.database}")
    with caplog.at_level(logging.INFO, logger="bench.server"), server.find_server(url):
        pass
    assert f"checking {t.redacted_url()} from --mysql-url" in caplog.messages
    if t.password:
        assert all(t.password not in message for message in caplog.messages)


@pytest.mark.db
@pytest.mark.slow
def test_restart_keeps_port_and_password() -> None:
    _needs_binary()
    with server.start_private_server() as handle:
        target, first = handle.target, handle.pid
        handle.kill()
        assert not handle.running
        assert handle.restart() < 30
        assert handle.running and handle.pid != first
        pymysql.connect(**target.connect_kwargs()).close()  # same port, same generated password
        handle.terminate()
        assert not handle.running
        handle.restart()
        pymysql.connect(**target.connect_kwargs()).close()
        tempdir = handle.tempdir
    assert tempdir is not None and not tempdir.exists()


_STARTER = """
import json, sys, time
import bench.server as server
handle = server.start_private_server()
print(json.dumps({"pid": handle.pid, "tempdir": str(handle.tempdir)}), flush=True)
time.sleep(600)
"""


@pytest.mark.db
@pytest.mark.slow
def test_a_server_dies_with_its_parent_and_its_folder_is_swept() -> None:
    """SIGKILL the process that started a private server: the server goes (Linux), the next sweep removes the folder."""
    _needs_binary()
    parent = subprocess.Popen([sys.executable, "-c", _STARTER], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = parent.stdout.readline() if parent.stdout else ""
        facts = json.loads(line)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
    tempdir = Path(facts["tempdir"])
    assert tempdir.is_dir()  # nobody cleaned up: the parent had no chance
    if sys.platform.startswith("linux"):
        try:
            psutil.Process(facts["pid"]).wait(timeout=30)
        except psutil.NoSuchProcess:
            pass
    private.sweep_stale(str(tempdir.parent))
    assert not tempdir.exists()
    assert not psutil.pid_exists(facts["pid"]) or psutil.Process(facts["pid"]).status() == psutil.STATUS_ZOMBIE


_EXITER = """
import os, subprocess, sys
import bench.server.process  # imports mirakuru
# A process another ctxbench started through mirakuru: its marker merely contains this process's pid.
env = {**os.environ, "mirakuru_uuid": f"1{os.getpid()}:0123456789abcdef"}
other = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
print(other.pid, flush=True)
"""


def test_exiting_kills_no_process_of_another_ctxbench() -> None:
    """mirakuru's exit hook would SIGKILL every process whose marker merely contains this pid: it is not installed."""
    out = subprocess.run([sys.executable, "-c", _EXITER], capture_output=True, text=True, check=True, cwd=ROOT)
    pid = int(out.stdout)
    try:
        assert psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE, "killed at exit"
    finally:
        if psutil.pid_exists(pid):
            psutil.Process(pid).kill()
