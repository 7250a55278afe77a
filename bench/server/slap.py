"""The ``mysqlslap`` ceiling: how many queries per second the server's own C client reaches.

Contract: :func:`mysqlslap_ceiling` returns queries/s, None when no ``mysqlslap``/``mariadb-slap`` is installed,
or raises :class:`~bench.server.target.MysqlslapError` (one line, no password) when it fails.  The password goes
through ``MYSQL_PWD``, never the command line; the schema is never dropped (``--no-drop``).  The client connects
with the target's TLS settings (:meth:`~bench.server.tls.TlsSettings.slap_args`: MySQL's ``--ssl-mode`` or MariaDB's
``--ssl``/``--ssl-verify-server-cert``, whichever the installed client's ``--help`` lists).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from bench.errors import UsageError
from bench.server import programs
from bench.server.target import MysqlslapError, ServerTarget, scrub

_AVERAGE = re.compile(r"Average number of seconds to run all queries:\s*([0-9.]+)")


def _validate(concurrency: int, queries: int, query: str) -> None:
    if not isinstance(concurrency, int) or concurrency < 1:
        raise UsageError(f"mysqlslap concurrency must be a positive integer, not {concurrency!r}")
    if not isinstance(queries, int) or queries < concurrency:
        raise UsageError(
            f"mysqlslap queries must be an integer of at least the concurrency ({concurrency}), not {queries!r}")
    if not query.strip():
        raise UsageError("mysqlslap query must not be empty")


@functools.cache
def mysql_style(tool: str) -> bool:
    """Whether ``tool`` takes MySQL's ``--ssl-mode`` (else MariaDB's ``--ssl`` options), from its ``--help``."""
    import subprocess

    try:
        result = subprocess.run([tool, "--no-defaults", "--help"], capture_output=True, text=True, timeout=15,
                                check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--ssl-mode" in result.stdout


def _command(tool: str, target: ServerTarget, concurrency: int, queries: int, query: str) -> list[str]:
    tls = target.tls.slap_args(mysql_style(tool)) if target.tls.mode != "driver-default" else []
    return [
        tool,
        "--no-defaults",  # must come first: no option file may add a password or a socket
        f"--host={target.host}",
        f"--port={target.port}",
        "--protocol=TCP",
        f"--user={target.user}",
        f"--create-schema={target.database}",
        "--no-drop",
        f"--concurrency={concurrency}",
        f"--number-of-queries={queries}",
        f"--query={query}",
        "--iterations=1",
        *tls,
    ]


def mysqlslap_ceiling(target: ServerTarget, *, concurrency: int, queries: int = 20000, query: str = "SELECT 1",
                      timeout: float = 120) -> float | None:
    """Queries per second ``mysqlslap`` reaches against ``target``: a ceiling for the Python clients."""
    import subprocess

    _validate(concurrency, queries, query)
    tool = programs.find_mysqlslap()
    if tool is None:
        return None
    env = {key: value for key, value in os.environ.items() if key != "MYSQL_PWD"}
    if target.password:
        env["MYSQL_PWD"] = target.password
    name = Path(tool).name
    command = _command(tool, target, concurrency, queries, query)
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MysqlslapError(f"{name} did not finish within {timeout:g} s") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or ["no output"])[-1]
        raise MysqlslapError(scrub(f"{name} failed with exit status {result.returncode}: {last}", target.password))
    match = _AVERAGE.search(result.stdout)
    if match is None:
        raise MysqlslapError(f"{name} printed no 'Average number of seconds to run all queries'")
    seconds = float(match.group(1))
    if seconds <= 0:
        raise MysqlslapError(f"{name} ran {queries} queries too fast to time; ask for more queries")
    return (queries // concurrency) * concurrency / seconds
