"""The server a ``db`` cell connects to, as its spec carries it (the only place the password travels)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.cell.db.workload import error_code
from bench.plan.specs import Connection
from bench.server import ServerTarget, TlsSettings


@dataclass(frozen=True)
class Target(ServerTarget):
    """A server target as a cell spec carries it, plus extra connect options."""

    source: str = "spec"
    #: Extra ``pymysql.connect`` keywords for every connection (e.g. ``ssl_disabled``); recorded.
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: Connection | Mapping[str, Any]) -> Target:
        """The target named by a cell spec's connection fields (a typed task spec, or its JSON form)."""
        if not isinstance(spec, Connection):
            spec = Connection(**{k: spec[k] for k in ("host", "port", "user", "database")},
                              password=spec.get("password"), source=spec.get("source"), tls=spec.get("tls"),
                              connect_options=spec.get("connect_options") or {})
        return cls(spec.host, int(spec.port), spec.user, spec.password or "", spec.database,
                   source=spec.source or "spec", tls=TlsSettings.from_dict(spec.tls),
                   options=dict(spec.connect_options or {}))

    def connect_kwargs(self) -> dict[str, Any]:
        """``pymysql.connect`` keywords, with a connect timeout and the extra options."""
        # connect_timeout: a server that accepts but never answers must not stall a cell.
        return {**super().connect_kwargs(), "connect_timeout": 5, **self.options}

    def server_target(self) -> ServerTarget:
        """The plain :class:`ServerTarget` (its TLS settings, without the extra options)."""
        return ServerTarget(self.host, self.port, self.user, self.password, self.database, self.source, self.tls)


def target_spec(target: ServerTarget) -> dict[str, Any]:
    """The connection fields of a ``ServerTarget`` for a cell spec (the only place the password goes), TLS included."""
    return {"host": target.host, "port": target.port, "user": target.user, "password": target.password,
            "database": target.database, "source": target.source, "tls": target.tls.as_dict()}


def is_unreachable(exc: BaseException) -> bool:
    """Whether a connect error means "no server there" (the cell is skipped) rather than a failure.

    A TLS handshake that failed (a certificate not verified, a server without TLS) found a server: a failure.
    """
    import ssl

    if isinstance(getattr(exc, "original_exception", None), ssl.SSLError) or "SSL" in str(exc):
        return False
    return error_code(exc) in (2002, 2003, 2006, 2013) and "Access denied" not in str(exc)
