"""Making a private server's data directory and accounts: what runs before and just after it listens.

Contract: :func:`initialize` creates a data directory whose root logs in through the socket without a password;
:func:`server_command` is the server's command line (no option files, 127.0.0.1 only unless a
:class:`~bench.server.target.Placement` says otherwise, everything inside its folder); :func:`secure` gives every
root account a fresh random password, drops accounts no client needs and creates ``test``.  A failure raises
:class:`~bench.server.target.EphemeralStartError` with the log's last lines.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.server.programs import SBIN_DIRS, find_program
from bench.server.target import DEFAULT_DATABASE, EphemeralStartError, Placement, scrub

#: max_connections of the ephemeral server (also set in docker-compose.yml): room for the
#: widest concurrency the database cells use plus the pools' spare connections.
EPHEMERAL_MAX_CONNECTIONS = 512


def tail(path: Path, lines: int = 12) -> list[str]:
    """Last non-empty lines of a log file (empty list if unreadable)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def binary_version(binary: str) -> tuple[str, str]:
    """(flavor, version) of a server binary, from ``--version``."""
    import subprocess

    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=15, check=False).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EphemeralStartError(f"{binary} --version failed: {exc}", []) from None
    match = re.search(r"Ver\s+(\S+)", out)
    version = match.group(1) if match else "unknown"
    return ("mariadb" if "mariadb" in out.lower() else "mysql"), version


def _as_root() -> list[str]:
    """``--user=root``: mariadbd/mysqld refuse to run as root without it."""
    return ["--user=root"] if os.geteuid() == 0 else []


def _install_command(binary: str, flavor: str, datadir: Path, log: Path) -> list[str]:
    if flavor != "mariadb":
        return [binary, "--no-defaults", "--initialize-insecure", f"--datadir={datadir}", f"--log-error={log}",
                *_as_root()]
    installer = find_program(("mariadb-install-db", "mysql_install_db"), (str(Path(binary).parent), *SBIN_DIRS))
    if installer is None:
        raise EphemeralStartError(f"found {binary} but no mariadb-install-db to create its data directory", [])
    return [installer, "--no-defaults", f"--datadir={datadir}", "--auth-root-authentication-method=normal",
            "--skip-test-db", "--skip-name-resolve", *_as_root()]


def initialize(binary: str, flavor: str, tempdir: Path, deadline: float) -> None:
    """Create a fresh data directory whose root logs in through the socket without a password."""
    import subprocess

    log = tempdir / "install.log"
    command = _install_command(binary, flavor, tempdir / "data", log)
    with open(log, "ab") as out:
        try:
            result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    timeout=max(1.0, deadline - time.monotonic()), check=False)
        except subprocess.TimeoutExpired:
            raise EphemeralStartError(f"{Path(command[0]).name} did not finish in time", tail(log)) from None
    if result.returncode != 0:
        raise EphemeralStartError(f"{Path(command[0]).name} failed with exit status {result.returncode}", tail(log))


#: Options :func:`server_command` sets itself, which ``extra`` may not override.
FIXED_OPTIONS = ("--no-defaults", "--datadir", "--socket", "--pid-file", "--log-error", "--tmpdir", "--port",
                 "--bind-address", "--skip-name-resolve", "--max-connections", "--user")


def server_command(binary: str, flavor: str, version: str, tempdir: Path, port: int,
                   extra: Sequence[str] = (), placement: Placement = Placement()) -> list[str]:
    """The server's command line: no option files, 127.0.0.1 only (by default), everything inside ``tempdir``.

    ``extra`` options (e.g. ``--ssl-ca=...``) come last; one that would override a fixed option is a UsageError.
    ``placement`` (default: 127.0.0.1 on this host) gives the bind address and what goes before the command.
    """
    for option in extra:
        if option.partition("=")[0].replace("_", "-") in FIXED_OPTIONS:
            raise UsageError(f"private server option {option.partition('=')[0]} is set by ctxbench itself")
    command = [
        *placement.prefix,
        binary,
        "--no-defaults",  # must come first
        f"--datadir={tempdir / 'data'}",
        f"--socket={tempdir / 'mysqld.sock'}",
        f"--pid-file={tempdir / 'mysqld.pid'}",
        f"--log-error={tempdir / 'error.log'}",
        f"--tmpdir={tempdir}",
        f"--port={port}",
        f"--bind-address={placement.address}",
        "--skip-name-resolve",
        f"--max-connections={EPHEMERAL_MAX_CONNECTIONS}",
        *_as_root(),
    ]
    major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
    if flavor == "mysql" and major >= 8:
        command += ["--mysqlx=OFF", "--skip-log-bin"]  # X Protocol would listen on every interface
    return command + list(extra)


def _drop_unusable_account(cur: Any, user: str, host: str) -> None:
    """Drop an account no client of the private server needs (anonymous, or for the machine's host name).

    Under --skip-name-resolve the server may refuse to touch an account named by host name (MariaDB: error 1396);
    such an account can never match a client anyway -- clients are known by address and only 127.0.0.1 is
    served -- so it is left alone.
    """
    import pymysql

    try:
        cur.execute("DROP USER %s@%s", (user, host))
    except pymysql.err.MySQLError:
        pass


def secure(conn: Any, errlog: Path, client_address: str | None = None) -> str:
    """Over a root connection without password: a fresh random password for every root account; returns it.

    ``client_address`` (a namespaced server's host end) gets a root account of its own, with the same password.
    """
    import secrets

    import pymysql

    password = secrets.token_urlsafe(18)
    kept = ("localhost", "127.0.0.1", "::1") + ((client_address,) if client_address else ())
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY %s", (password,))
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
            if client_address is not None:
                cur.execute("CREATE USER IF NOT EXISTS 'root'@%s IDENTIFIED BY %s", (client_address, password))
                cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@%s WITH GRANT OPTION", (client_address,))
            cur.execute("SELECT Host FROM mysql.user WHERE User = ''")
            for (host,) in cur.fetchall():
                _drop_unusable_account(cur, "", host)
            cur.execute("SELECT Host FROM mysql.user WHERE User = 'root'")
            for (host,) in cur.fetchall():
                if host in kept:
                    cur.execute("ALTER USER 'root'@%s IDENTIFIED BY %s", (host, password))
                else:
                    _drop_unusable_account(cur, "root", host)
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{DEFAULT_DATABASE}`")
    except pymysql.err.MySQLError as exc:
        reason = scrub(f"setting up the private server failed: {exc}", password)
        raise EphemeralStartError(reason, tail(errlog)) from None
    return password
