"""TLS against a real server: a private mariadbd with a throwaway CA, on 127.0.0.1 only, stopped by pid at the end.

The account the tests use has a password and ``REQUIRE X509``: a connection that lost the URL's TLS settings on
its way (no client certificate) is refused, so a cell, a counter read, a leak check or mysqlslap that dropped them
fails loudly.  The server's ``Ssl_accepts`` counter against ``Connections`` shows every connection was TLS, and
``Aborted_connects`` that none was refused (even where the code falls back to another connection).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pymysql
import pytest

import bench.server as mysql
from bench.errors import UsageError
from bench.exec.db import run_db
from bench.plan.selection import DbSelection
from bench.records.schema import to_json
from bench.server import ServerHandle, ServerTarget, TlsSettings
from benchmarks.db_overhead import measure_overhead
from tests import tls_certs

pytestmark = [pytest.mark.db, pytest.mark.slow]

SECRET = "Rv8-distinctive-tls-Pw-3141"
USER = "tls_bench"


@dataclass(frozen=True)
class TlsServer:
    """The private server, its certificates, and URLs for the X509 account."""

    handle: ServerHandle
    ca: Path
    other_ca: Path
    client: tls_certs.Pair

    def url(self, *, ca: Path | None = None, host: str = "127.0.0.1", extra: str = "") -> str:
        target = self.handle.target
        return (f"mysql://{USER}:{SECRET}@{host}:{target.port}/{target.database}?ssl_ca={ca or self.ca}"
                f"&ssl_verify_identity=true&ssl_cert={self.client.cert}&ssl_key={self.client.key}{extra}")

    def target(self, **kwargs: Any) -> ServerTarget:
        return mysql.parse_url(self.url(**kwargs))

    def status(self, *names: str) -> dict[str, int]:
        """Global status over a plain root connection (counted in Connections, not in Ssl_accepts)."""
        root = dataclasses.replace(self.handle.target, tls=TlsSettings(requested=False))
        conn = pymysql.connect(**root.connect_kwargs(), autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({', '.join(['%s'] * len(names))})", names)
                return {str(name): int(value) for name, value in cur.fetchall()}
        finally:
            conn.close()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    if mysql.find_server_binary() is None:
        if os.environ.get("CTXBENCH_REQUIRE_DB") == "1":
            pytest.fail("CTXBENCH_REQUIRE_DB=1, but no mariadbd or mysqld to start a TLS server", pytrace=False)
        pytest.skip("no mariadbd or mysqld to start a TLS server")
    folder = tmp_path_factory.mktemp("tls")
    ca = tls_certs.authority(folder, "server")
    other = tls_certs.authority(folder, "other")
    server = tls_certs.issue(ca, folder, "server", ip="127.0.0.1")
    client = tls_certs.issue(ca, folder, "client")
    handle = mysql.start_private_server(server_args=[f"--ssl-ca={ca.cert}", f"--ssl-cert={server.cert}",
                                                     f"--ssl-key={server.key}"])
    pid = handle.pid
    try:
        root = pymysql.connect(**handle.target.connect_kwargs(), autocommit=True)
        with root.cursor() as cur:
            cur.execute(f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY %s REQUIRE X509", (SECRET,))
            cur.execute(f"GRANT ALL PRIVILEGES ON `{handle.target.database}`.* TO '{USER}'@'127.0.0.1'")
        root.close()
        yield TlsServer(handle, ca.cert, other.cert, client)
    finally:
        handle.close()
    assert pid is not None and _gone(pid)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _ctxbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.cli.main", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "NO_COLOR": "1"})


def test_doctor_reports_tls_as_the_server_sees_it(tls_server: TlsServer) -> None:
    result = _ctxbench("doctor", "--mysql-url", tls_server.url())
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("TLS "))
    assert "in use (TLSv1." in row and f"certificate verified against {tls_server.ca}, host name checked" in row
    assert f"client certificate {tls_server.client.cert}" in row
    assert SECRET not in result.stdout + result.stderr
    facts = json.loads(_ctxbench("doctor", "--json", "--mysql-url", tls_server.url()).stdout)
    assert facts["tls"] is True and facts["tls_cipher"] and facts["tls_version"].startswith("TLSv1")
    assert facts["tls_mode"] == "verify-identity" and facts["tls_verified"] is True
    assert facts["tls_settings"]["ca"] == str(tls_server.ca) and "ssl_ca=" in facts["url"]
    assert SECRET not in json.dumps(facts)


def test_doctor_says_not_in_use_when_tls_is_off(tls_server: TlsServer) -> None:
    root = dataclasses.replace(tls_server.handle.target, tls=TlsSettings(requested=False))
    url = root.redacted_url().replace(":***@", f":{root.password}@")
    result = _ctxbench("doctor", "--mysql-url", url)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("TLS "))
    assert "not in use (ssl=false)" in row and "the server offers it" in row
    assert root.password not in result.stdout + result.stderr


@pytest.mark.parametrize(("case", "problem"), [
    ("wrong CA", "TLS certificate of 127.0.0.1:{port} not accepted: self-signed certificate in certificate chain"),
    ("wrong host name", "TLS certificate of localhost:{port} not accepted: Hostname mismatch"),
])
def test_a_certificate_that_does_not_verify_is_one_line(tls_server: TlsServer, case: str, problem: str) -> None:
    """A second CA, and a host name the certificate does not name (localhost resolves to 127.0.0.1 only here)."""
    if case == "wrong host name" and {info[4][0] for info in socket.getaddrinfo("localhost", 1)} != {"127.0.0.1"}:
        pytest.skip("localhost does not resolve to 127.0.0.1 alone")
    url = tls_server.url(ca=tls_server.other_ca) if case == "wrong CA" else tls_server.url(host="localhost")
    for command in (["doctor", "--mysql-url", url], ["db", "--mysql-url", url, "--strategy", "own-connection"]):
        result = _ctxbench(*command)
        output = result.stdout + result.stderr
        errors = [line for line in output.splitlines() if line.strip() and not line.startswith("checking ")]
        assert result.returncode == 2, output
        assert len(errors) == 1 and problem.format(port=tls_server.handle.target.port) in errors[0], output
        assert "Traceback" not in output and SECRET not in output


def test_db_cells_speak_tls_on_every_connection(tls_server: TlsServer) -> None:
    """Db, request and overhead cells, their counters, the parent's leak check and mysqlslap: all TLS, none refused."""
    target = tls_server.target()
    names = ("Connections", "Ssl_accepts", "Aborted_connects")
    before = tls_server.status(*names)
    records, errors = run_db(target, DbSelection(strategies=["pooled-tuned", "per-request"], loads=["threads"],
                                                 concurrency=[2], duration=0.5, warmup=0.2, request_impls=["fast"],
                                                 request_strategies=["pooled-tuned"]), ceiling=True)
    overhead = measure_overhead(target, ops=100, repeats=3)
    after = tls_server.status(*names)
    assert errors == [] and sorted(rec["kind"] for rec in records) == ["db", "db", "request"]
    assert overhead["server_url"] == target.redacted_url()
    for rec in records:
        assert rec["outcome"] == "ok" and rec["ops"] > 0 and rec["errors"] == {}, rec.get("reason")
        assert rec["leaked_connections"] == 0  # the parent read Threads_connected over TLS, with the certificate
        assert rec["server_ceiling_ops_per_s"]  # mysqlslap logged in: it had the client certificate
        assert "ssl_ca=" in rec["server_url"] and "ssl_verify_identity=true" in rec["server_url"]
        assert SECRET not in json.dumps(rec, default=to_json)
    tls_accepted = after["Ssl_accepts"] - before["Ssl_accepts"]
    assert tls_accepted > 10  # cells, counters, per-request connects, mysqlslap
    # The one plain connection in between is the root connection that read ``after``.
    assert after["Connections"] - before["Connections"] - tls_accepted == 1
    # No connection was refused: a reader that fell back after one without the certificate would show here.
    assert after["Aborted_connects"] == before["Aborted_connects"]


def test_a_cell_given_the_wrong_ca_fails_on_the_certificate(tls_server: TlsServer) -> None:
    """The CA travels to the cell: with another CA its connections are refused, and the cell says why."""
    records, _ = run_db(tls_server.target(ca=tls_server.other_ca),
                        DbSelection(strategies=["own-connection"], loads=["threads"], concurrency=[1], duration=0.3,
                                    warmup=0.1), ceiling=False)
    assert [rec["outcome"] for rec in records] == ["errors"]  # not "skipped": a server answered
    assert "CERTIFICATE_VERIFY_FAILED" in records[0]["reason"] and SECRET not in json.dumps(records, default=to_json)


def test_mysqlslap_needs_the_settings_it_is_given(tls_server: TlsServer) -> None:
    if mysql.find_mysqlslap() is None:
        pytest.skip("no mysqlslap or mariadb-slap installed")
    target = tls_server.target()
    assert (mysql.mysqlslap_ceiling(target, concurrency=2, queries=200) or 0) > 0
    with pytest.raises(mysql.MysqlslapError) as info:  # without its client certificate the account is refused
        mysql.mysqlslap_ceiling(dataclasses.replace(target, tls=TlsSettings(requested=True)), concurrency=2,
                                queries=20)
    assert "Access denied" in str(info.value) and SECRET not in str(info.value)
    with pytest.raises(mysql.MysqlslapError) as info:  # another CA: the C client checks the chain too
        mysql.mysqlslap_ceiling(tls_server.target(ca=tls_server.other_ca), concurrency=2, queries=20)
    assert "certificate" in str(info.value) and SECRET not in str(info.value)


def test_the_stack_app_connects_with_the_settings(tls_server: TlsServer) -> None:
    pytest.importorskip("flask")
    from bench.exec.stackcell import run_stack_cell

    children = {proc.pid for proc in psutil.Process().children(recursive=True)}
    rec, error = run_stack_cell(tls_server.target(), {"server": "waitress", "impl": "fast",
                                                      "strategy": "pooled-tuned", "workers": 1, "concurrency": 2,
                                                      "duration": 0.5, "warmup": 0.2})
    assert error is None and rec["outcome"] == "ok" and rec["ok"] > 0, rec.get("reason")
    assert SECRET not in json.dumps(rec, default=to_json)
    left = {proc.pid for proc in psutil.Process().children(recursive=True)} - children
    assert {pid for pid in left if not _gone(pid)} == set()


def test_a_server_without_tls_is_named_when_the_url_asks_for_it(mysql_server: ServerHandle) -> None:
    if mysql.server_info(mysql_server.target)["tls_available"]:
        pytest.skip("the session's server offers TLS")
    target = dataclasses.replace(mysql_server.target, tls=TlsSettings(requested=True))
    with pytest.raises(UsageError) as info:
        mysql.check_target(target)
    assert f"{target.host}:{target.port} does not offer TLS, but the URL asks for it (ssl=true)" in str(info.value)
    records, _ = run_db(target, DbSelection(strategies=["own-connection"], loads=["threads"], concurrency=[1],
                                            duration=0.3, warmup=0.1), ceiling=False)
    assert [rec["outcome"] for rec in records] == ["errors"]  # a server answered: not "skipped"


def test_asyncio_cells_speak_tls_with_the_settings(tls_server: TlsServer) -> None:
    """The async drivers get the URL's CA, host-name check and client certificate (the account requires X509): every
    asyncio strategy's connections are TLS and none is refused; with another CA they fail on the certificate."""
    pytest.importorskip("aiomysql")
    pytest.importorskip("asyncmy")
    target = tls_server.target()
    names = ("Connections", "Ssl_accepts", "Aborted_connects")
    before = tls_server.status(*names)
    strategies = ["aiomysql-pool", "asyncmy-pool", "sqlalchemy-async", "per-request", "locked", "to-thread"]
    records, errors = run_db(target, DbSelection(strategies=strategies, loads=["asyncio"], concurrency=[2],
                                                 duration=0.3, warmup=0.1), ceiling=False)
    after = tls_server.status(*names)
    assert errors == []
    for rec in records:
        assert rec["outcome"] == "ok" and rec["ops"] > 0 and rec["errors"] == {}, (rec["strategy"], rec.get("reason"))
        assert SECRET not in json.dumps(rec, default=to_json)
    tls_accepted = after["Ssl_accepts"] - before["Ssl_accepts"]
    assert tls_accepted > 10
    assert after["Connections"] - before["Connections"] - tls_accepted == 1  # the root connection reading ``after``
    assert after["Aborted_connects"] == before["Aborted_connects"]
    (wrong,), _ = run_db(tls_server.target(ca=tls_server.other_ca),
                         DbSelection(strategies=["aiomysql-pool"], loads=["asyncio"], concurrency=[1], duration=0.3,
                                     warmup=0.1), ceiling=False)
    assert wrong["outcome"] == "errors" and "certificate verify failed" in wrong["reason"], wrong.get("reason")


def test_every_driver_speaks_tls_with_the_urls_settings(tls_server: TlsServer) -> None:
    """Each driver gets the URL's CA, host-name check and client certificate in its own keywords (the account requires
    X509): its cells connect over TLS and none is refused; with another CA each fails on the certificate."""
    from bench.cell.drivers import DRIVERS, missing

    installed = [name for name in DRIVERS if missing(name) is None]
    names = ("Connections", "Ssl_accepts", "Aborted_connects")
    before = tls_server.status(*names)
    records, errors = run_db(tls_server.target(), DbSelection(strategies=["own-connection", "pooled-tuned"],
                                                              loads=["threads"], concurrency=[2], duration=0.3,
                                                              warmup=0.1, drivers=installed), ceiling=False)
    after = tls_server.status(*names)
    assert errors == [] and len(records) == 2 * len(installed)
    for rec in records:
        assert rec["outcome"] == "ok" and rec["ops"] > 0 and rec["errors"] == {}, (rec["driver"], rec.get("reason"))
        assert "error" not in rec["connect_close_ms"], rec["connect_close_ms"]
        assert SECRET not in json.dumps(rec, default=to_json)
    tls_accepted = after["Ssl_accepts"] - before["Ssl_accepts"]
    assert after["Connections"] - before["Connections"] - tls_accepted == 1  # the root connection reading ``after``
    assert after["Aborted_connects"] == before["Aborted_connects"]
    wrong, _ = run_db(tls_server.target(ca=tls_server.other_ca),
                      DbSelection(strategies=["own-connection"], loads=["threads"], concurrency=[1], duration=0.3,
                                  warmup=0.1, drivers=installed), ceiling=False)
    for rec in wrong:
        assert rec["outcome"] == "errors" and "certificate" in rec["reason"].lower(), (rec["driver"], rec["reason"])
