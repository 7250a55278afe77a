"""Finding a MySQL server: URL parsing, one-line errors without secrets, facts, counters, the ephemeral server."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
import urllib.parse
from collections.abc import Iterator

import psutil
import pymysql
import pytest

import bench.server as mysql
from bench.errors import UsageError
from bench.server import ServerHandle, ServerTarget, ServerUnavailable, programs

#: Distinctive, so that finding it in a message cannot be a coincidence.
SECRET = "Zq7-distinctive-Pw-4711"


def url_of(target: ServerTarget, **changes: object) -> str:
    """A mysql:// URL (with the password) for ``target`` with ``changes`` applied."""
    t = dataclasses.replace(target, **changes)
    host = f"[{t.host}]" if ":" in t.host else t.host
    quote = urllib.parse.quote
    return f"mysql://{quote(t.user, safe='')}:{quote(t.password, safe='')}@{host}:{t.port}/{quote(t.database, safe='')}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def usage_error(url: str, **kwargs: object) -> tuple[str, float]:
    """The message of the UsageError that ``find_server(url)`` raises, and how long it took."""
    start = time.monotonic()
    with pytest.raises(UsageError) as info:
        mysql.find_server(url, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message, message
    assert SECRET not in message and urllib.parse.quote(SECRET) not in message, message
    return message, time.monotonic() - start


@pytest.fixture
def require_db() -> bool:
    """Whether a missing server must fail the test rather than skip it."""
    return os.environ.get("CTXBENCH_REQUIRE_DB") == "1"


@pytest.fixture(autouse=True)
def no_env_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests decide for themselves whether CTXBENCH_MYSQL_URL is set."""
    monkeypatch.delenv(mysql.ENV_URL, raising=False)
    yield


# --- URL parsing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://127.0.0.1", ("127.0.0.1", 3306, "root", "", "test")),
        ("mysql://db.example:3307/", ("db.example", 3307, "root", "", "test")),
        (f"mysql://bench:{SECRET}@h:1/bench_db", ("h", 1, "bench", SECRET, "bench_db")),
        ("mysql+pymysql://u%40corp:p%2F%40%3A%3F%23w@h/x", ("h", 3306, "u@corp", "p/@:?#w", "x")),
        ("MariaDB://:pw@[::1]:3308/d", ("::1", 3308, "root", "pw", "d")),
        ("  mysql://h:65535  ", ("h", 65535, "root", "", "test")),
    ],
)
def test_parse_url_good(url: str, expected: tuple[str, int, str, str, str]) -> None:
    target = mysql.parse_url(url, "env")
    assert (target.host, target.port, target.user, target.password, target.database) == expected
    assert target.source == "env"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "empty MySQL URL"),
        (f"postgres://root:{SECRET}@h/db", "unsupported scheme 'postgres'"),
        (f"root:{SECRET}@h/db", "not a MySQL URL"),
        (f"mysql://root:{SECRET}@", "missing host"),
        (f"mysql://root:{SECRET}@:3306/db", "missing host"),
        (f"mysql://root:{SECRET}@h:0/db", "bad port"),
        (f"mysql://root:{SECRET}@h:70000/db", "bad port"),
        (f"mysql://root:{SECRET}@h:33o6/db", "bad port"),
        (f"mysql://root:{SECRET}@[::1/db", "bad IPv6 host"),
        (f"mysql://root:{SECRET}@bad host/db", "bad host name"),
        (f"mysql://root:{SECRET}@h/a/b", "bad database name"),
        # Unencoded '/', '?', '#' in the password spill into other parts; still never echoed.
        ("mysql://root:Zq7-distinctive/Pw-4711@h/db", "'@' after the host"),
        ("mysql://root:4711/Zq7-distinctive-Pw@h/db", "'@' after the host"),
        ("mysql://root:Zq7?distinctive-Pw-4711@h/db", "unexpected '?' or '#'"),
        ("mysql://root:Zq7-distinctive:Pw-4711/x", "bad port"),
    ],
)
def test_parse_url_bad_names_the_problem_not_the_password(url: str, problem: str) -> None:
    with pytest.raises(UsageError) as info:
        mysql.parse_url(url, "url")
    message = str(info.value)
    assert problem in message
    assert message.startswith("--mysql-url: ")
    assert "\n" not in message
    for fragment in ("Zq7", "distinctive", "4711"):
        assert fragment not in message


def test_password_never_in_repr_or_redacted_url() -> None:
    target = mysql.parse_url(f"mysql://root:{SECRET}@h:3307/db")
    assert SECRET not in repr(target)
    assert target.redacted_url() == "mysql://root:***@h:3307/db"
    assert SECRET not in repr(ServerHandle(target, "test"))


# --- A given URL must work, or say why in one line, fast -------------------------------------------------


def test_refused_port() -> None:
    port = free_port()
    message, took = usage_error(f"mysql://root:{SECRET}@127.0.0.1:{port}/test")
    assert f"connection refused by 127.0.0.1:{port}" in message
    assert took < 10


def test_unknown_host() -> None:
    message, took = usage_error(f"mysql://root:{SECRET}@ctxbench-no-such-host.invalid/test")
    assert "unknown host 'ctxbench-no-such-host.invalid'" in message
    assert took < 10


def test_timeout_when_nothing_answers() -> None:
    with socket.socket() as listener:  # accepts TCP connections (backlog) but never says hello
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        message, took = usage_error(f"mysql://root:{SECRET}@127.0.0.1:{port}/test", timeout=1.0)
    assert f"timeout after 1 s connecting to 127.0.0.1:{port}" in message
    assert took < 5


def test_env_url_failure_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(mysql.ENV_URL, f"mysql://root:{SECRET}@127.0.0.1:{free_port()}/test")
    message, _ = usage_error(None)  # type: ignore[arg-type]
    assert message.startswith(f"{mysql.ENV_URL}: connection refused")


@pytest.mark.db
def test_wrong_password(mysql_server: ServerHandle) -> None:
    target = mysql_server.target
    message, took = usage_error(url_of(target, password=SECRET))
    assert f"access denied for user {target.user!r} on {target.host}:{target.port}" in message
    assert took < 10


@pytest.mark.db
def test_unknown_database(mysql_server: ServerHandle) -> None:
    target = mysql_server.target
    message, took = usage_error(url_of(target, database="ctxbench_no_such_db"))
    assert f"unknown database 'ctxbench_no_such_db' on {target.host}:{target.port}" in message
    assert took < 10


@pytest.mark.db
def test_url_and_env_are_used_as_given(mysql_server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    url = url_of(mysql_server.target)
    monkeypatch.setenv(mysql.ENV_URL, url)
    with mysql.find_server() as handle:
        assert handle.target.source == "env"
        assert not handle.ephemeral
        assert handle.path_taken.startswith(mysql.ENV_URL)
    # The argument wins over the environment, even a broken environment.
    monkeypatch.setenv(mysql.ENV_URL, f"mysql://root@127.0.0.1:{free_port()}/test")
    with mysql.find_server(url) as handle:
        assert handle.target.source == "url"
        assert handle.target.password == mysql_server.target.password


# --- No server at all -------------------------------------------------------------------------------------


def test_nothing_found_explains_how_to_get_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ServerUnavailable) as info:
        mysql.find_server(skip_local_default=True, allow_ephemeral=False)
    assert "docker compose up -d" in str(info.value)
    assert mysql.COMPOSE_URLS["mariadb"] in info.value.help
    assert "mariadb-server" in info.value.help and "--mysql-url" in info.value.help
    monkeypatch.setenv(mysql.ENV_SKIP_LOCAL, "1")
    monkeypatch.setattr(programs, "find_server_binary", lambda: None)
    report = mysql.doctor(None)
    assert report["found"] is False
    assert "no mariadbd or mysqld" in report["reason"]


# --- Facts, counters, ceiling -------------------------------------------------------------------------------


@pytest.mark.db
def test_server_info(mysql_server: ServerHandle) -> None:
    target = mysql_server.target
    info = mysql.server_info(target)
    assert info["version"] and info["flavor"] in ("mariadb", "mysql")
    assert isinstance(info["max_connections"], int) and info["max_connections"] > 0
    assert info["thread_handling"]
    assert info["source"] == target.source and info["url"] == target.redacted_url()
    assert info["tls"] in (True, False)
    if target.password:
        assert target.password not in json.dumps(info)


@pytest.mark.db
def test_counters_move(mysql_server: ServerHandle) -> None:
    target = mysql_server.target
    before = mysql.server_counters(target)
    assert set(before) == set(mysql.COUNTERS)
    assert all(isinstance(value, int) for value in before.values())
    conn = pymysql.connect(**target.connect_kwargs(), autocommit=True)
    try:
        with conn.cursor() as cur:
            for _ in range(20):
                cur.execute("SELECT 1")
            cur.execute("CREATE TEMPORARY TABLE ctxbench_counter_probe (i INT)")
            conn.begin()
            cur.execute("INSERT INTO ctxbench_counter_probe VALUES (1)")
            conn.commit()
    finally:
        conn.close()
    after = mysql.server_counters(target)
    assert after["Com_select"] >= before["Com_select"] + 20
    assert after["Questions"] >= before["Questions"] + 23
    assert after["Com_insert"] >= before["Com_insert"] + 1
    assert after["Com_commit"] >= before["Com_commit"] + 1
    assert after["Connections"] >= before["Connections"] + 2


@pytest.mark.db
def test_mysqlslap_ceiling(mysql_server: ServerHandle) -> None:
    if mysql.find_mysqlslap() is None:
        pytest.skip("no mysqlslap or mariadb-slap installed")
    qps = mysql.mysqlslap_ceiling(mysql_server.target, concurrency=4, queries=4000)
    assert qps is not None and qps > 0
    with pytest.raises(mysql.MysqlslapError) as info:
        mysql.mysqlslap_ceiling(dataclasses.replace(mysql_server.target, password=SECRET), concurrency=2, queries=10)
    assert SECRET not in str(info.value)
    with pytest.raises(UsageError):
        mysql.mysqlslap_ceiling(mysql_server.target, concurrency=0)


@pytest.mark.db
def test_doctor(mysql_server: ServerHandle) -> None:
    report = mysql.doctor(url_of(mysql_server.target))
    assert report["found"] is True and report["ephemeral"] is False
    assert report["path_taken"].startswith("--mysql-url")
    assert report["version"] and report["max_connections"] > 0
    assert report["mysqlslap_available"] == (mysql.find_mysqlslap() is not None)
    assert SECRET not in json.dumps(report)


# --- The ephemeral server, end to end ---------------------------------------------------------------------


@pytest.mark.db
@pytest.mark.slow
def test_ephemeral_server_end_to_end(require_db: bool) -> None:
    if mysql.find_server_binary() is None:
        if require_db:
            pytest.fail("CTXBENCH_REQUIRE_DB=1 but no mariadbd or mysqld to start")
        pytest.skip("no mariadbd or mysqld to start")
    handle = mysql.find_server(skip_local_default=True)
    pid, tempdir = handle.pid, handle.tempdir
    try:
        target = handle.target
        assert handle.ephemeral and target.source == "ephemeral" and handle.path_taken.startswith("ephemeral")
        assert pid is not None and tempdir is not None and tempdir.is_dir()
        assert target.host == "127.0.0.1" and len(target.password) >= 16
        assert target.password not in repr(handle) and target.password not in handle.path_taken
        conn = pymysql.connect(**target.connect_kwargs())
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT DATABASE(), @@bind_address")
                assert cur.fetchone() == ("test", "127.0.0.1")
        finally:
            conn.close()
        with pytest.raises(pymysql.err.OperationalError) as denied:  # root needs the generated password
            pymysql.connect(**{**target.connect_kwargs(), "password": ""})
        assert denied.value.args[0] == 1045
        listening = [c.laddr for c in psutil.Process(pid).net_connections("inet") if c.status == psutil.CONN_LISTEN]
        assert listening and {addr.ip for addr in listening} == {"127.0.0.1"}
        assert target.port in {addr.port for addr in listening}
    finally:
        handle.close()
    handle.close()  # idempotent
    assert not psutil.pid_exists(pid) or psutil.Process(pid).name() not in ("mariadbd", "mysqld")
    assert not tempdir.exists()
