"""Where a server is and how to log in, the errors discovery raises, and the defaults every step shares.

Contract: a password never appears in a repr, a message or a record; :func:`scrub` is the last line of defence
for texts built from other parts.  Importing this module imports nothing that gevent patches.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from bench.server.tls import TlsSettings

#: Environment variable holding the URL of the server to use (discovery step 1).
ENV_URL = "CTXBENCH_MYSQL_URL"
#: Set to 1 to skip discovery step 2 (the server on 127.0.0.1:3306), e.g. to test the ephemeral path.
ENV_SKIP_LOCAL = "CTXBENCH_MYSQL_SKIP_LOCAL"

SCHEMES = ("mysql", "mysql+pymysql", "mariadb")
URL_SHAPE = "mysql://user:password@host:port/database"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3306
DEFAULT_USER = "root"
DEFAULT_DATABASE = "test"

#: Seconds a URL the user gave may take to prove it works (DNS, TCP, handshake, login, SELECT 1).
URL_TIMEOUT = 10.0
#: Connect timeout for the probe of 127.0.0.1:3306.
LOCAL_TIMEOUT = 2.0
#: Seconds an ephemeral server may take from ``install-db`` to accepting the generated password.
START_TIMEOUT = 60.0
#: Seconds a stopping server gets between SIGTERM and SIGKILL.
STOP_TIMEOUT = 20.0

#: URLs of the services in docker-compose.yml (default password).
COMPOSE_URLS = {
    "mysql": "mysql://root:ctxbench@127.0.0.1:3307/test",
    "mariadb": "mysql://root:ctxbench@127.0.0.1:3308/test",
}

HELP = (
    "To get a MySQL-protocol server, any one of:\n"
    "  docker compose up -d    (in the ctxbench checkout; needs a Docker engine), then\n"
    f"      {ENV_URL}={COMPOSE_URLS['mysql']}     (mysql:8.4)\n"
    f"      {ENV_URL}={COMPOSE_URLS['mariadb']}   (mariadb:11)\n"
    "  install the distribution's server package (Debian/Ubuntu: apt-get install mariadb-server;\n"
    "      Fedora: dnf install mariadb-server): ctxbench starts a private throwaway instance from it\n"
    f"  pass --mysql-url {URL_SHAPE}  (or set {ENV_URL})"
)


@dataclass(frozen=True)
class ServerTarget:
    """Where a server is and how to log in.  ``password`` never appears in repr or output."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str
    #: How it was found: "url" (--mysql-url), "env" (CTXBENCH_MYSQL_URL),
    #: "local-default" (127.0.0.1:3306 root, empty password) or "ephemeral".
    source: str
    #: TLS for every connection to this server (the URL's ``ssl*`` parameters); the default asks for nothing.
    tls: TlsSettings = field(default_factory=TlsSettings)

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``pymysql.connect``, TLS included (JSON-safe)."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
            **self.tls.connect_kwargs(),
        }

    def redacted_url(self) -> str:
        """``mysql://user:***@host:port/database?ssl...`` -- safe to print and store; parses back to the target."""
        secret = ":***" if self.password else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        user, database = urllib.parse.quote(self.user, safe=""), urllib.parse.quote(self.database, safe="")
        query = self.tls.query()
        return f"mysql://{user}{secret}@{host}:{self.port}/{database}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class Placement:
    """Where a private server listens and how its command starts; the default: 127.0.0.1 of this host, as it is.

    Another placement is a network namespace's (:mod:`bench.net.netns`): the server started through ``prefix``
    (``ip netns exec NAME``), bound to ``address`` inside the namespace, and root allowed in from
    ``client_address``, the host's end of the link.  The socket stays in the server's folder, on the shared file
    system, so the setup over it works the same.
    """

    #: The address the server binds to and its target names.
    address: str = DEFAULT_HOST
    #: Put before the server's command line (and again before each restart's).
    prefix: tuple[str, ...] = ()
    #: An address besides 127.0.0.1 root may log in from over TCP (with the same generated password); None: none.
    client_address: str | None = None


class ServerUnavailable(Exception):
    """No server was given, found or started.  Callers report the database cells as skipped.

    ``reason`` is one line saying what was tried; ``help`` says how to get a server;
    ``str(exc)`` is both.
    """

    def __init__(self, reason: str, help_text: str = HELP, detail: str = "") -> None:
        super().__init__("\n".join(part for part in (reason, detail, help_text) if part))
        self.reason = reason
        self.help = help_text


class EphemeralStartError(ServerUnavailable):
    """``mariadbd``/``mysqld`` exists but the throwaway server could not be set up.

    ``log_tail`` holds the last lines of the server's (or the installer's) log.
    """

    def __init__(self, reason: str, log_tail: list[str]) -> None:
        shown = "".join(f"\n    {line}" for line in log_tail) or " (empty)"
        super().__init__(reason, detail=f"  last lines of the log:{shown}")
        self.log_tail = log_tail


class MysqlslapError(RuntimeError):
    """``mysqlslap``/``mariadb-slap`` ran but failed or gave no timing."""


def origin(source: str) -> str:
    """Where a URL came from, as the user knows it."""
    return {"url": "--mysql-url", "env": ENV_URL}.get(source, "MySQL URL")


def scrub(text: str, password: str) -> str:
    """``text`` on one line, with the password (plain or percent-encoded) replaced by ``***``."""
    if password:
        for form in {password, urllib.parse.quote(password, safe="")}:
            text = text.replace(form, "***")
    return " ".join(text.splitlines())
