"""Finding or starting a MySQL-protocol server, and reading its facts and counters.

(Work in progress: the discovery order, the ephemeral server, doctor facts,
server counters and the mysqlslap ceiling are being built here.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``pymysql.connect``."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
        }

    def redacted_url(self) -> str:
        """``mysql://user:***@host:port/database`` -- safe to print and store."""
        secret = ":***" if self.password else ""
        return f"mysql://{self.user}{secret}@{self.host}:{self.port}/{self.database}"
