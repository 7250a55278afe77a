"""Parsing ``mysql://user:password@host:port/database?ssl...`` into a :class:`~bench.server.target.ServerTarget`.

Contract: malformed input raises :class:`~bench.errors.UsageError` with one line that names the problem and the
option or variable the URL came from, and echoes no part of the URL that could hold the password.

SQLAlchemy's ``make_url`` is not used: it accepts what must be refused here with a reason (an unencoded ``/`` or
``?`` in the password, port 0, a host with a space), and its own errors (``int()`` of the port) can echo the
password; the redacted form is :meth:`ServerTarget.redacted_url`, which keeps the record field as it was.  The
query (TLS: ``ssl``, ``ssl_ca``, ``ssl_cert``, ``ssl_key``, ``ssl_verify_cert``, ``ssl_verify_identity``) is
:func:`bench.server.tls.parse_tls`'s, read after the rest so that a password spilling into it is never echoed.
"""

from __future__ import annotations

import re
import urllib.parse

from bench.errors import UsageError
from bench.server.target import DEFAULT_DATABASE, DEFAULT_PORT, DEFAULT_USER, SCHEMES, URL_SHAPE, ServerTarget, origin
from bench.server.tls import parse_tls

_HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,252})")
_SCHEME_SHOWN = re.compile(r"[a-z][a-z0-9+.\-]{0,30}")


def parse_url(url: str, source: str = "url") -> ServerTarget:
    """Parse ``mysql://user:password@host:port/database?ssl...`` into a :class:`ServerTarget`.

    Also accepts ``mysql+pymysql://`` and ``mariadb://``.  Defaults: user ``root``, empty password, port 3306,
    database ``test``, no TLS asked for; user and password are percent-decoded.  A password with an unencoded
    ``/``, ``?``, ``#`` or ``@`` spills into other parts: the error then names that part, never its text.
    """
    where = origin(source)
    if not isinstance(url, str) or not url.strip():
        raise UsageError(f"{where}: empty MySQL URL; expected {URL_SHAPE}")
    text = url.strip()
    scheme, sep, _ = text.partition("://")
    if not sep:
        raise UsageError(f"{where}: not a MySQL URL; expected {URL_SHAPE}")
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        shown = repr(scheme) if _SCHEME_SHOWN.fullmatch(scheme) else "in the URL"
        raise UsageError(f"{where}: unsupported scheme {shown}; use mysql://, mysql+pymysql:// or mariadb://")
    text, _, query = text.partition("?")
    if "#" in text or "@" in query or "#" in query:  # '@' after '?': a '?' in the password
        raise UsageError(f"{where}: unexpected '?' or '#' in the MySQL URL (percent-encode them in the password)")
    netloc, _, path = text[len(scheme) + 3 :].partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    user_raw, _, password_raw = userinfo.partition(":")
    user = urllib.parse.unquote(user_raw) if at else ""
    password = urllib.parse.unquote(password_raw) if at else ""
    database = _parse_database(path, where)  # first: '@' there means the password holds a '/'
    host, port = _parse_hostport(hostport, where)
    if any(ord(ch) < 32 for ch in user):
        raise UsageError(f"{where}: control character in the user name")
    tls = parse_tls(query, where)
    return ServerTarget(host=host, port=port, user=user or DEFAULT_USER, password=password, database=database,
                        source=source, tls=tls)


def _parse_hostport(hostport: str, where: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` -> (host, port)."""
    if hostport.startswith("["):
        end = hostport.find("]")
        host, rest = (hostport[1:end], hostport[end + 1 :]) if end > 0 else ("", "")
        if end <= 0 or not re.fullmatch(r"[0-9A-Fa-f:.]+", host) or (rest and not rest.startswith(":")):
            raise UsageError(f"{where}: bad IPv6 host in the MySQL URL; expected [address]:port")
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_raw = hostport.partition(":")
        port_text = port_text_raw if colon else None
        if not host:
            raise UsageError(f"{where}: missing host in the MySQL URL; expected {URL_SHAPE}")
        if not _HOST_NAME.fullmatch(host):
            raise UsageError(f"{where}: bad host name in the MySQL URL (letters, digits, '.', '-' and '_' only)")
    if port_text is None:
        return host, DEFAULT_PORT
    if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise UsageError(f"{where}: bad port in the MySQL URL (must be a number from 1 to 65535)")
    return host, int(port_text)


def _parse_database(path: str, where: str) -> str:
    """The URL path (after the first ``/``) -> database name; empty means ``test``."""
    if "@" in path:
        raise UsageError(
            f"{where}: '@' after the host in the MySQL URL (percent-encode '/' and '@' in the password)")
    database = urllib.parse.unquote(path)
    if not database:
        return DEFAULT_DATABASE
    if "/" in database or len(database) > 64 or any(ord(ch) < 32 for ch in database):
        raise UsageError(f"{where}: bad database name in the MySQL URL (one name, at most 64 characters)")
    return database
