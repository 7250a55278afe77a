"""TLS parameters of ``--mysql-url`` without a server: parsing, refusals, and what each client is handed.

The same settings must reach every client: PyMySQL's keywords (cells, counters, doctor, the stack's app), a cell's
spec and back, and ``mysqlslap``'s options.  Bad input is one line naming the parameter, exit 2, never the password.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import bench.server as mysql
from bench.cell.db import Target, target_spec
from bench.errors import UsageError
from bench.server import install
from bench.server.tls import TlsSettings, describe
from tests import tls_certs

SECRET = "Tq3-distinctive-tls-Pw-2207"


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a client certificate and key, a key that fits no certificate, an encrypted key, a non-PEM file."""
    folder = tmp_path_factory.mktemp("pem")
    ca = tls_certs.authority(folder, "unit")
    client = tls_certs.issue(ca, folder, "client")
    other = tls_certs.issue(ca, folder, "other")
    locked = tls_certs.issue(ca, folder, "locked", key_password=b"k3y-pass")
    junk = folder / "junk.pem"
    junk.write_text("not a certificate\n")
    return {"ca": ca.cert, "cert": client.cert, "key": client.key, "other_key": other.key, "locked_cert": locked.cert,
            "locked_key": locked.key, "junk": junk, "folder": folder}


def _url(query: str) -> str:
    return f"mysql://bench:{SECRET}@127.0.0.1:3306/test?{query}"


def test_the_tls_parameters_become_pymysql_keywords(pem: dict[str, Path]) -> None:
    ca, cert, key = pem["ca"], pem["cert"], pem["key"]
    cases = {
        "": ("driver-default", {}),
        "ssl=false": ("disabled", {"ssl_disabled": True}),
        "ssl=true": ("unverified", {"ssl": {"verify_mode": False}}),
        f"ssl_ca={ca}": ("verify-cert", {"ssl_ca": str(ca), "ssl_verify_cert": True, "ssl_verify_identity": False}),
        f"ssl_ca={ca}&ssl_verify_identity=true": (
            "verify-identity", {"ssl_ca": str(ca), "ssl_verify_cert": True, "ssl_verify_identity": True}),
        f"ssl_ca={ca}&ssl_verify_cert=false": (
            "unverified", {"ssl_ca": str(ca), "ssl_verify_cert": False, "ssl_verify_identity": False}),
        "ssl_verify_cert=ON": ("verify-cert", {"ssl_verify_cert": True, "ssl_verify_identity": False}),
        f"ssl_cert={cert}&ssl_key={key}": (
            "unverified", {"ssl_cert": str(cert), "ssl_key": str(key), "ssl_verify_cert": False,
                           "ssl_verify_identity": False}),
    }
    for query, (mode, expected) in cases.items():
        target = mysql.parse_url(_url(query))
        assert target.tls.mode == mode, query
        kwargs = target.connect_kwargs()
        assert {k: v for k, v in kwargs.items() if k.startswith("ssl")} == expected, query
        assert kwargs["password"] == SECRET and kwargs["host"] == "127.0.0.1"


def test_paths_are_made_absolute_and_percent_decoded(pem: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    spaced = pem["folder"] / "with space.pem"
    spaced.write_bytes(pem["ca"].read_bytes())
    monkeypatch.chdir(pem["folder"])
    target = mysql.parse_url(_url("ssl_ca=with%20space.pem"))
    assert target.tls.ca == str(spaced)  # a cell or a stack worker started in another folder still finds it


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("sslca=/x", "unknown parameter 'sslca'"),
        ("ssl_mode=REQUIRED", "unknown parameter 'ssl_mode'"),
        ("ssl=maybe", "ssl must be true or false, not 'maybe'"),
        ("ssl_verify_identity=2", "ssl_verify_identity must be true or false"),
        ("ssl", "parameter ssl needs a value"),
        ("ssl=true&ssl=false", "parameter ssl given twice"),
        ("ssl_ca=", "ssl_ca is empty"),
        ("ssl_ca=/nonexistent/ctxbench/ca.pem", "ssl_ca file /nonexistent/ctxbench/ca.pem does not exist"),
        ("ssl_ca={folder}", "is not a file"),
        ("ssl_ca={junk}", "holds no PEM certificate"),
        ("ssl_cert={cert}&ssl_key={other_key}", "not a PEM certificate and its matching key"),
        ("ssl_cert={locked_cert}&ssl_key={locked_key}", "is encrypted"),
        ("ssl_key={key}", "ssl_key needs ssl_cert"),
        ("ssl=false&ssl_ca={ca}", "ssl=false contradicts ssl_ca"),
        ("ssl_verify_identity=true", "ssl_verify_identity=true needs ssl_ca"),
        ("ssl_ca={ca}&ssl_verify_identity=true&ssl_verify_cert=false", "contradicts ssl_verify_cert=false"),
    ],
)
def test_a_bad_tls_parameter_is_one_line_naming_it(pem: dict[str, Path], query: str, problem: str) -> None:
    with pytest.raises(UsageError) as info:
        mysql.parse_url(_url(query.format(**pem)), "env")
    message = str(info.value)
    assert message.startswith(f"{mysql.ENV_URL}: ") and problem in message
    assert "\n" not in message and SECRET not in message


def _refused_as_unreadable(path: Path) -> bool:
    try:
        mysql.parse_url(_url(f"ssl_ca={path}"))
    except UsageError as exc:
        return re.search(r"ssl_ca file .* cannot be read", str(exc)) is not None
    return False


def test_an_unreadable_file_is_refused(pem: dict[str, Path]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ctxbench-unreadable-"))
    try:
        folder.chmod(0o755)  # a user without privileges may look in, not read the file
        hidden = folder / "hidden.pem"
        hidden.write_bytes(pem["ca"].read_bytes())
        hidden.chmod(0)
        if os.geteuid() != 0:
            assert _refused_as_unreadable(hidden)
            return
        # Root reads every file: the check runs in a forked child that has given up root for nobody (65534),
        # after one parse of a readable file so that nothing is imported from a folder nobody cannot enter.
        assert not _refused_as_unreadable(pem["ca"])
        pid = os.fork()
        if pid == 0:  # the child: exit 0 only if the file was refused as unreadable
            code = 1
            try:
                os.setgid(65534)
                os.setuid(65534)
                code = 0 if _refused_as_unreadable(hidden) else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        shutil.rmtree(folder)


def test_a_password_spilling_into_the_query_is_never_echoed() -> None:
    for url in ("mysql://root:Zq7?ssl_ca=distinctive@h/db", "mysql://root:Zq7?distinctive&x=4711@h/db"):
        with pytest.raises(UsageError) as info:
            mysql.parse_url(url)
        assert "Zq7" not in str(info.value) and "distinctive" not in str(info.value)


def test_the_redacted_url_keeps_tls_and_parses_back(pem: dict[str, Path]) -> None:
    for query in ("", "ssl=false", "ssl=true", f"ssl_ca={pem['ca']}&ssl_verify_identity=true",
                  f"ssl_ca={pem['ca']}&ssl_verify_cert=false&ssl_cert={pem['cert']}&ssl_key={pem['key']}"):
        target = mysql.parse_url(_url(query))
        shown = target.redacted_url()
        assert SECRET not in shown and SECRET not in repr(target)
        assert mysql.parse_url(shown).tls == target.tls
    assert mysql.parse_url(_url("")).redacted_url() == "mysql://bench:***@127.0.0.1:3306/test"


def test_a_cell_spec_carries_the_tls_settings(pem: dict[str, Path]) -> None:
    target = mysql.parse_url(_url(f"ssl_ca={pem['ca']}&ssl_verify_identity=true&ssl_cert={pem['cert']}"
                                  f"&ssl_key={pem['key']}"))
    cell = Target.from_spec({**target_spec(target), "connect_options": {"read_timeout": 7}})
    assert cell.tls == target.tls
    assert cell.connect_kwargs() == {**target.connect_kwargs(), "connect_timeout": 5, "read_timeout": 7}
    assert cell.server_target().connect_kwargs() == target.connect_kwargs()  # what counters and leak checks use
    plain = Target.from_spec(target_spec(mysql.parse_url(_url(""))))
    assert plain.tls == TlsSettings() and not any(k.startswith("ssl") for k in plain.connect_kwargs())


def test_mysqlslap_gets_the_same_settings_in_its_clients_dialect(pem: dict[str, Path]) -> None:
    ca, cert, key = pem["ca"], pem["cert"], pem["key"]
    identity = mysql.parse_url(_url(f"ssl_ca={ca}&ssl_verify_identity=true&ssl_cert={cert}&ssl_key={key}")).tls
    assert identity.slap_args(mysql_style=False) == [
        "--ssl", f"--ssl-ca={ca}", f"--ssl-cert={cert}", f"--ssl-key={key}", "--ssl-verify-server-cert"]
    assert identity.slap_args(mysql_style=True) == [
        "--ssl-mode=VERIFY_IDENTITY", f"--ssl-ca={ca}", f"--ssl-cert={cert}", f"--ssl-key={key}"]
    chain = mysql.parse_url(_url(f"ssl_ca={ca}")).tls
    assert chain.slap_args(False) == ["--ssl", f"--ssl-ca={ca}"]
    assert chain.slap_args(True) == ["--ssl-mode=VERIFY_CA", f"--ssl-ca={ca}"]
    # Not verifying: MariaDB's client would check the chain of any --ssl-ca it is given, so none is passed.
    unverified = mysql.parse_url(_url(f"ssl_ca={ca}&ssl_verify_cert=false")).tls
    assert unverified.slap_args(False) == ["--ssl"] and unverified.slap_args(True) == ["--ssl-mode=REQUIRED"]
    assert mysql.parse_url(_url("ssl=false")).tls.slap_args(False) == ["--skip-ssl"]
    assert mysql.parse_url(_url("ssl=false")).tls.slap_args(True) == ["--ssl-mode=DISABLED"]
    assert TlsSettings().slap_args(False) == [] == TlsSettings().slap_args(True)


def test_the_installed_mysqlslap_takes_the_options_it_is_given(pem: dict[str, Path]) -> None:
    from bench.server import slap

    tool = mysql.find_mysqlslap()
    if tool is None:
        pytest.skip("no mysqlslap or mariadb-slap installed")
    text = subprocess.run([tool, "--no-defaults", "--help"], capture_output=True, text=True, timeout=15).stdout
    settings = mysql.parse_url(_url(f"ssl_ca={pem['ca']}&ssl_verify_identity=true&ssl_cert={pem['cert']}"
                                    f"&ssl_key={pem['key']}")).tls
    for option in settings.slap_args(slap.mysql_style(tool)) + TlsSettings(False).slap_args(slap.mysql_style(tool)):
        assert option.partition("=")[0] in text, option


def test_describe_says_what_was_verified(pem: dict[str, Path]) -> None:
    verified = mysql.parse_url(_url(f"ssl_ca={pem['ca']}&ssl_verify_identity=true")).tls
    assert describe(verified, "TLSv1.3", "TLS_AES_256_GCM_SHA384") == (
        f"in use (TLSv1.3, TLS_AES_256_GCM_SHA384); certificate verified against {pem['ca']}, host name checked")
    assert "encrypted but unverified" in describe(mysql.parse_url(_url("ssl=true")).tls, "TLSv1.3", "X")
    assert describe(TlsSettings(), None, None) == "not in use"
    assert describe(TlsSettings(False), "", "") == "not in use (ssl=false)"


def test_the_private_server_takes_extra_options_but_not_ones_that_move_it(tmp_path: Path) -> None:
    command = install.server_command("/usr/sbin/mariadbd", "mariadb", "10.11.0", tmp_path, 3999, ["--ssl-ca=/x"])
    assert command[-1] == "--ssl-ca=/x" and "--bind-address=127.0.0.1" in command
    for option in ("--bind-address=0.0.0.0", "--bind_address=::", "--port=3306", "--socket=/tmp/s"):
        with pytest.raises(UsageError, match="set by ctxbench itself"):
            install.server_command("/usr/sbin/mariadbd", "mariadb", "10.11.0", tmp_path, 3999, [option])


def test_a_missing_ca_file_stops_the_run_before_anything_is_measured(tmp_path: Path) -> None:
    """Port 1 has no server: had the URL been used before its check, the error would be a refused connection."""
    out = tmp_path / "results"
    url = f"mysql://bench:{SECRET}@127.0.0.1:1/test?ssl_ca={tmp_path}/missing-ca.pem&ssl_verify_identity=true"
    for command in (["run", "--quick", "--out", str(out), "--mysql-url", url], ["doctor", "--mysql-url", url],
                    ["db", "--mysql-url", url]):
        result = subprocess.run([sys.executable, "-m", "bench.cli.main", *command], capture_output=True, text=True,
                                timeout=120, env={**os.environ, "NO_COLOR": "1"})
        output = result.stdout + result.stderr
        assert result.returncode == 2, (command, output)
        lines = [line for line in output.splitlines() if line.strip()]
        assert len(lines) == 1 and f"ssl_ca file {tmp_path}/missing-ca.pem does not exist" in lines[0], output
        assert "refused" not in output and "Traceback" not in output and SECRET not in output
    assert not out.exists() or not any(out.iterdir())
