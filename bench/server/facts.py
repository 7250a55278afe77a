"""What a server is (version, flavor, limits, account, TLS) and how busy it has been (global status counters).

Contract: :func:`server_info` gives the facts the environment record and ``ctxbench doctor`` show, never the
password; :func:`server_counters` reads :data:`COUNTERS` over a connection of its own, which it counts itself
(docs/server.md gives the measured cost).
"""

from __future__ import annotations

from typing import Any

from bench.server.connect import open_connection
from bench.server.target import URL_TIMEOUT, ServerTarget
from bench.server.tls import describe

#: The ``SHOW GLOBAL STATUS`` counters :func:`server_counters` reads.
COUNTERS = (
    "Questions",
    "Com_select",
    "Com_insert",
    "Com_commit",
    "Threads_connected",
    "Max_used_connections",
    "Connections",
    "Aborted_connects",
    "Aborted_clients",
)


def _variable(cur: Any, name: str) -> str | None:
    """A global variable's value, or None if the server has no such variable."""
    cur.execute("SHOW GLOBAL VARIABLES LIKE %s", (name,))
    return next((str(value) for key, value in cur.fetchall() if key.lower() == name.lower()), None)


def _status(cur: Any, name: str, scope: str = "SESSION") -> str | None:
    """A status variable's value, or None if the server has no such variable."""
    cur.execute(f"SHOW {scope} STATUS LIKE %s", (name,))
    return next((str(value) for key, value in cur.fetchall() if key.lower() == name.lower()), None)


def _auth_plugin(cur: Any, account: str) -> str | None:
    """Authentication plugin of ``user@host`` from mysql.global_priv (MariaDB) or mysql.user; None if unreadable."""
    import pymysql

    user, _, host = account.rpartition("@")
    queries = (
        "SELECT JSON_VALUE(Priv, '$.plugin') FROM mysql.global_priv WHERE User = %s AND Host = %s",
        "SELECT plugin FROM mysql.user WHERE User = %s AND Host = %s",
    )
    for query in queries:
        try:
            cur.execute(query, (user, host))
            row = cur.fetchone()
        except pymysql.err.MySQLError:
            continue
        if row and row[0]:
            return str(row[0])
    return None


def _tls_available(have_ssl: str | None, cert_expiry: str | None) -> bool | None:
    """Whether the server could encrypt: ``have_ssl`` (MySQL, older MariaDB), else a server certificate; None."""
    if have_ssl is not None:
        return have_ssl == "YES"
    return bool(cert_expiry) if cert_expiry is not None else None


def server_info(target: ServerTarget) -> dict[str, Any]:
    """Facts about the server, for the environment record and ``ctxbench doctor``; never the password.

    ``tls`` says whether a connection made with the target's settings is encrypted, as the server saw it
    (``tls_version``, ``tls_cipher`` from SHOW SESSION STATUS); ``tls_mode`` and ``tls_verified`` what the settings
    asked for (:data:`bench.server.tls.MODES`; whether the server's certificate was verified), ``tls_settings`` the
    settings themselves (file paths, no secret), ``tls_summary`` one line for people; ``tls_available`` whether the
    server could encrypt (None if it does not say).
    """
    conn = open_connection(target, timeout=URL_TIMEOUT)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION(), CURRENT_USER()")
            version, account = (str(value) for value in cur.fetchone())
            comment = _variable(cur, "version_comment") or ""
            max_connections = _variable(cur, "max_connections")
            cipher = _status(cur, "Ssl_cipher")
            tls_version = _status(cur, "Ssl_version")
            return {
                "source": target.source,
                "url": target.redacted_url(),
                "version": version,
                "flavor": "mariadb" if "mariadb" in f"{version} {comment}".lower() else "mysql",
                "max_connections": int(max_connections) if max_connections and max_connections.isdigit() else None,
                "thread_handling": _variable(cur, "thread_handling"),
                "account": account,
                "auth_plugin": _auth_plugin(cur, account),
                "tls": bool(cipher),
                "tls_version": tls_version or None,
                "tls_cipher": cipher or None,
                "tls_mode": target.tls.mode,
                "tls_verified": bool(cipher) and target.tls.verify_cert,
                "tls_settings": target.tls.as_dict(),
                "tls_summary": describe(target.tls, tls_version, cipher),
                "tls_available": _tls_available(_variable(cur, "have_ssl"),
                                                _status(cur, "Ssl_server_not_after", "GLOBAL")),
            }
    finally:
        conn.close()


def server_counters(target: ServerTarget) -> dict[str, int]:
    """The :data:`COUNTERS` from ``SHOW GLOBAL STATUS`` (a counter the server lacks is left out)."""
    conn = open_connection(target, timeout=URL_TIMEOUT)
    try:
        with conn.cursor() as cur:
            placeholders = ", ".join(["%s"] * len(COUNTERS))
            cur.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({placeholders})", COUNTERS)
            rows = {str(name).lower(): value for name, value in cur.fetchall()}
    finally:
        conn.close()
    return {name: int(rows[name.lower()]) for name in COUNTERS if name.lower() in rows}
