"""TLS to the server: the ``ssl*`` parameters of ``--mysql-url``, checked once, then handed to every client.

Contract: :func:`parse_tls` turns the query part of a MySQL URL into :class:`TlsSettings` or raises a one-line
:class:`~bench.errors.UsageError` naming the parameter (unknown, repeated, not a boolean, a file that is missing,
unreadable or not PEM, contradicting another) -- before anything connects.  :class:`TlsSettings` gives the same
settings as ``pymysql.connect`` keywords, as ``mysqlslap`` options, as the URL query and as a JSON-safe dict (a
cell spec, a record); file paths are absolute, so a process started in another folder finds them.  Nothing here
is secret: no key password is taken (an encrypted key is refused).

The parameter names are PyMySQL's ``connect()`` keywords.  Where PyMySQL's own defaults would surprise, the
settings say what they mean: a CA given verifies the server's certificate unless ``ssl_verify_cert=false``
(PyMySQL alone would only encrypt), and ``ssl_verify_identity`` needs ``ssl_ca`` (PyMySQL checks the host name
only against a CA file given).  Importing this module imports nothing that gevent patches.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from bench.errors import UsageError

#: The query parameters ``--mysql-url`` accepts, in the order the URL query is written back.
PARAMETERS = ("ssl", "ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_verify_identity")
_BOOLEANS = ("ssl", "ssl_verify_cert", "ssl_verify_identity")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
_SHOWN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
_SHOWN_VALUE = re.compile(r"[A-Za-z0-9_.-]{1,12}")

#: What each mode means, as output names it.
MODES = {
    "driver-default": "not asked for: PyMySQL's default (1.2 and later: encrypted but unverified when the server "
                      "offers TLS, else plain)",
    "disabled": "off (ssl=false)",
    "unverified": "encrypted but unverified: the server's certificate is not checked",
    "verify-cert": "the server's certificate is verified (its host name is not)",
    "verify-identity": "the server's certificate and host name are verified",
}


class _EncryptedKey(Exception):
    """OpenSSL asked for a key password while a client key was loaded."""


@dataclass(frozen=True)
class TlsSettings:
    """How clients secure their connections to one server.  The default asks for nothing (the driver decides)."""

    #: ``ssl=``: None if not given, False for ``ssl=false`` (never TLS), True for ``ssl=true``.
    requested: bool | None = None
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    verify_cert: bool = False
    verify_identity: bool = False

    @property
    def enabled(self) -> bool:
        """Whether every connection must use TLS (the handshake fails rather than fall back to plain)."""
        return bool(self.requested or self.ca or self.cert or self.verify_cert)

    @property
    def mode(self) -> str:
        """One of :data:`MODES`."""
        if self.requested is False:
            return "disabled"
        if not self.enabled:
            return "driver-default"
        if self.verify_identity:
            return "verify-identity"
        return "verify-cert" if self.verify_cert else "unverified"

    def connect_kwargs(self) -> dict[str, Any]:
        """``pymysql.connect`` keywords (JSON-safe); empty for ``driver-default``."""
        if self.requested is False:
            return {"ssl_disabled": True}
        if not self.enabled:
            return {}
        if not (self.ca or self.cert or self.verify_cert):
            # ssl=true alone: no ssl_* keyword makes PyMySQL require TLS without a CA or certificate; its ``ssl``
            # dict does (no CA: no host name check; verify_mode False: no certificate check).
            return {"ssl": {"verify_mode": False}}
        kwargs: dict[str, Any] = {"ssl_verify_cert": self.verify_cert, "ssl_verify_identity": self.verify_identity}
        for name, value in (("ssl_ca", self.ca), ("ssl_cert", self.cert), ("ssl_key", self.key)):
            if value:
                kwargs[name] = value
        return kwargs

    def slap_args(self, mysql_style: bool) -> list[str]:
        """``mysqlslap`` options: MySQL's client (``--ssl-mode``) if ``mysql_style``, else MariaDB's.

        MariaDB's client checks the certificate chain whenever ``--ssl-ca`` is given and the host name with
        ``--ssl-verify-server-cert``; without a CA (``ssl_verify_cert=true`` on the system's CAs) both clients
        encrypt without verifying.
        """
        mode = self.mode
        if mode == "driver-default":
            return []
        if mode == "disabled":
            return ["--ssl-mode=DISABLED"] if mysql_style else ["--skip-ssl"]
        verify = self.verify_cert and self.ca is not None
        args = [f"--ssl-ca={self.ca}"] if verify else []
        args += [f"--{name}={value}" for name, value in (("ssl-cert", self.cert), ("ssl-key", self.key)) if value]
        if mysql_style:
            level = "VERIFY_IDENTITY" if verify and self.verify_identity else "VERIFY_CA" if verify else "REQUIRED"
            return [f"--ssl-mode={level}", *args]
        return ["--ssl", *args, *(["--ssl-verify-server-cert"] if verify and self.verify_identity else [])]

    def query(self) -> str:
        """The URL query that gives these settings (``""`` when none): safe to print, parses back to them."""
        pairs: list[tuple[str, str]] = []
        if self.requested is not None:
            pairs.append(("ssl", "true" if self.requested else "false"))
        pairs += [(name, urllib.parse.quote(value, safe="/~")) for name, value in
                  (("ssl_ca", self.ca), ("ssl_cert", self.cert), ("ssl_key", self.key)) if value]
        if self.verify_cert != bool(self.ca):  # written only where it differs from its default
            pairs.append(("ssl_verify_cert", "true" if self.verify_cert else "false"))
        if self.verify_identity:
            pairs.append(("ssl_verify_identity", "true"))
        return "&".join(f"{name}={value}" for name, value in pairs)

    def as_dict(self) -> dict[str, Any]:
        """The settings for a cell spec or a record: mode, file paths, the two checks."""
        return {"mode": self.mode, "requested": self.requested, "ca": self.ca, "cert": self.cert, "key": self.key,
                "verify_cert": self.verify_cert, "verify_identity": self.verify_identity}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TlsSettings:
        """The settings :meth:`as_dict` wrote (None or empty: the default)."""
        if not data:
            return cls()
        return cls(data.get("requested"), data.get("ca"), data.get("cert"), data.get("key"),
                   bool(data.get("verify_cert")), bool(data.get("verify_identity")))


def describe(settings: TlsSettings, version: str | None, cipher: str | None) -> str:
    """One line on TLS as the server saw a session (``version``/``cipher`` from SHOW SESSION STATUS)."""
    if not cipher:
        return "not in use" + (" (ssl=false)" if settings.mode == "disabled" else "")
    mode = settings.mode
    if mode in ("verify-cert", "verify-identity"):
        checked = "host name checked" if mode == "verify-identity" else "host name not checked"
        how = f"certificate verified against {settings.ca or 'the system CAs'}, {checked}"
    else:
        how = MODES[mode]
    client = f"; client certificate {settings.cert}" if settings.cert else ""
    return f"in use ({version or 'version unknown'}, {cipher}); {how}{client}"


def _boolean(name: str, value: str, where: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    shown = repr(value) if _SHOWN_VALUE.fullmatch(value) else "that value"
    raise UsageError(f"{where}: {name} must be true or false, not {shown}")


def _readable_file(name: str, value: str, where: str) -> str:
    """An absolute path to a readable regular file, or a UsageError naming the parameter."""
    if not value:
        raise UsageError(f"{where}: {name} is empty (give the path of a PEM file)")
    path = os.path.abspath(os.path.expanduser(value))
    if not os.path.exists(path):
        raise UsageError(f"{where}: {name} file {path} does not exist")
    if not os.path.isfile(path):
        raise UsageError(f"{where}: {name} {path} is not a file")
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise UsageError(f"{where}: {name} file {path} cannot be read: {exc.strerror or exc}") from None
    return path


def _split(query: str, where: str) -> dict[str, str]:
    """``name=value&...`` -> {name: percent-decoded value}; unknown, repeated or malformed names refused."""
    values: dict[str, str] = {}
    for part in query.split("&"):
        if not part:
            continue
        name, eq, raw = part.partition("=")
        shown = repr(name) if _SHOWN_NAME.fullmatch(name) else "(malformed)"
        if name not in PARAMETERS:
            raise UsageError(f"{where}: unknown parameter {shown} in the MySQL URL (known: {', '.join(PARAMETERS)})")
        if not eq:
            raise UsageError(f"{where}: parameter {name} needs a value ({name}=...)")
        if name in values:
            raise UsageError(f"{where}: parameter {name} given twice")
        values[name] = urllib.parse.unquote(raw)
    return values


def _check_pem(settings: TlsSettings, where: str) -> None:
    """Load the CA, certificate and key as OpenSSL will: a file that is not PEM, or a key that does not fit."""
    import ssl

    def no_password() -> bytes:
        raise _EncryptedKey

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if settings.ca:
        try:
            context.load_verify_locations(cafile=settings.ca)
        except (ssl.SSLError, ValueError) as exc:
            raise UsageError(f"{where}: ssl_ca file {settings.ca} holds no PEM certificate ({_reason(exc)})") from None
    if settings.cert:
        try:
            context.load_cert_chain(settings.cert, settings.key, password=no_password)
        except _EncryptedKey:
            raise UsageError(f"{where}: ssl_key {settings.key or settings.cert} is encrypted; give an unencrypted "
                             "key (a key password is not taken)") from None
        except (ssl.SSLError, ValueError) as exc:
            files = f"{settings.cert} and {settings.key}" if settings.key else settings.cert
            raise UsageError(f"{where}: ssl_cert/ssl_key {files}: not a PEM certificate and its matching key "
                             f"({_reason(exc)})") from None


def _reason(exc: Exception) -> str:
    """OpenSSL's reason for a failed load, without the source location."""
    text = str(getattr(exc, "reason", None) or exc)
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", text).strip() or type(exc).__name__


def parse_tls(query: str, where: str) -> TlsSettings:
    """The TLS settings a URL query names (see the module docstring); ``where`` names the URL's origin."""
    values = _split(query, where)
    if not values:
        return TlsSettings()
    flags = {name: _boolean(name, values[name], where) for name in _BOOLEANS if name in values}
    files = {name: _readable_file(name, values[name], where) for name in ("ssl_ca", "ssl_cert", "ssl_key")
             if name in values}
    if flags.get("ssl") is False and len(values) > 1:
        others = ", ".join(name for name in values if name != "ssl")
        raise UsageError(f"{where}: ssl=false contradicts {others}")
    if "ssl_key" in files and "ssl_cert" not in files:
        raise UsageError(f"{where}: ssl_key needs ssl_cert (the client certificate the key belongs to)")
    ca = files.get("ssl_ca")
    verify_identity = flags.get("ssl_verify_identity", False)
    verify_cert = flags.get("ssl_verify_cert", ca is not None)
    if verify_identity and ca is None:
        raise UsageError(f"{where}: ssl_verify_identity=true needs ssl_ca (PyMySQL checks the host name only "
                         "against a CA file given; e.g. ssl_ca=/etc/ssl/certs/ca-certificates.crt)")
    if verify_identity and not verify_cert:
        raise UsageError(f"{where}: ssl_verify_identity=true contradicts ssl_verify_cert=false (a host name is "
                         "checked only on a verified certificate)")
    settings = TlsSettings(flags.get("ssl"), ca, files.get("ssl_cert"), files.get("ssl_key"), verify_cert,
                           verify_identity)
    _check_pem(settings, where)
    return settings
