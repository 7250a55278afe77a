"""The MySQL-protocol server the database half measures against: found or started, described, counted.

Every command and test finds its server the same way (:func:`find_server`, order in
:mod:`bench.server.discovery`): a URL the user gave (which must work, or a one-line UsageError says why), root
without a password on 127.0.0.1:3306, a private throwaway server (:mod:`bench.server.private`), or
:class:`ServerUnavailable` saying how to get one.

Secrets: a password never appears in a message, a repr, a record or a command line (``mysqlslap`` gets it through
``MYSQL_PWD``).  Importing this package imports nothing that gevent patches (no socket, ssl, subprocess or PyMySQL
at import time; only ``threading``, which ``logging`` imports and gevent patches in place): a cell process may
import :class:`ServerTarget` before or after its load has patched the process.

Modules: ``target`` (ServerTarget, Placement, errors, defaults), ``url`` (parsing), ``connect`` (login check, failure
description), ``discovery`` (find_server), ``handle`` (ServerHandle), ``private``/``install``/``process`` (the
private server), ``facts`` (server_info, counters), ``programs``, ``slap`` (mysqlslap), ``doctor``, ``tls`` (the
URL's TLS parameters, for every client).
"""

from bench.server.connect import check_target
from bench.server.discovery import find_server, start_private_server
from bench.server.doctor import doctor
from bench.server.facts import COUNTERS, server_counters, server_info
from bench.server.handle import ServerHandle
from bench.server.install import EPHEMERAL_MAX_CONNECTIONS
from bench.server.private import TEMP_PREFIX
from bench.server.programs import find_mysqlslap, find_server_binary
from bench.server.slap import mysqlslap_ceiling
from bench.server.target import (
    COMPOSE_URLS,
    DEFAULT_DATABASE,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_USER,
    ENV_SKIP_LOCAL,
    ENV_URL,
    HELP,
    LOCAL_TIMEOUT,
    SCHEMES,
    START_TIMEOUT,
    STOP_TIMEOUT,
    URL_SHAPE,
    URL_TIMEOUT,
    EphemeralStartError,
    MysqlslapError,
    Placement,
    ServerTarget,
    ServerUnavailable,
)
from bench.server.tls import TlsSettings, parse_tls
from bench.server.url import parse_url

__all__ = [
    "COMPOSE_URLS",
    "COUNTERS",
    "DEFAULT_DATABASE",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_USER",
    "ENV_SKIP_LOCAL",
    "ENV_URL",
    "EPHEMERAL_MAX_CONNECTIONS",
    "HELP",
    "LOCAL_TIMEOUT",
    "SCHEMES",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "TEMP_PREFIX",
    "URL_SHAPE",
    "URL_TIMEOUT",
    "EphemeralStartError",
    "MysqlslapError",
    "Placement",
    "ServerHandle",
    "ServerTarget",
    "ServerUnavailable",
    "TlsSettings",
    "check_target",
    "doctor",
    "find_mysqlslap",
    "find_server",
    "find_server_binary",
    "mysqlslap_ceiling",
    "parse_tls",
    "parse_url",
    "server_counters",
    "server_info",
    "start_private_server",
]
