"""Finding or starting a MySQL-protocol server, and reading its facts and counters.

The database half of the suite needs one server, found the same way by every
command and test, in this order (:func:`find_server`):

1. ``--mysql-url`` or ``CTXBENCH_MYSQL_URL``.  A URL the user gave must work:
   if it does not, the command ends with a one-line :class:`UsageError` naming
   the cause (unknown host, connection refused, access denied, unknown
   database, timeout) within a bounded time -- never a silent fallback to
   another server, which would measure something the user did not ask for.
2. A server already answering on 127.0.0.1:3306 as ``root`` without a password
   (the state a fresh ``mariadb-server`` package leaves for root on many
   systems).
3. A private, throwaway server started from ``mariadbd``/``mysqld``: its own
   data directory in a temporary folder, 127.0.0.1 only, a free port, a random
   root password.  It never outlives the process that started it: it stops on
   :meth:`ServerHandle.close`, at interpreter exit, on Ctrl-C, SIGTERM and
   SIGHUP, on Linux also when the starting process dies (parent-death signal),
   and a data directory left behind by a process killed with SIGKILL is swept
   away by the next start.
4. Otherwise :class:`ServerUnavailable`, whose message says how to get a
   server; callers report the database cells as skipped.

Secrets: a password never appears in a message, a repr, a record or a command
line (``mysqlslap`` gets it through ``MYSQL_PWD``).  Error texts are built from
parts known to be safe and scrubbed of the password once more before raising.

Importing this module imports nothing that gevent patches (no socket, ssl,
threading, subprocess or PyMySQL): a cell process may import it for
:class:`ServerTarget` before or after its load has patched the process.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import UsageError

if TYPE_CHECKING:
    import subprocess
    from types import FrameType, TracebackType

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
#: max_connections of the ephemeral server (also set in docker-compose.yml): room for the
#: widest concurrency the database cells use plus the pools' spare connections.
EPHEMERAL_MAX_CONNECTIONS = 512
#: Name prefix of an ephemeral server's temporary folder; the stale-folder sweep looks only at these.
TEMP_PREFIX = "ctxbench-mysql-"

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

Progress = Callable[[str], None]


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
        host = f"[{self.host}]" if ":" in self.host else self.host
        user, database = urllib.parse.quote(self.user, safe=""), urllib.parse.quote(self.database, safe="")
        return f"mysql://{user}{secret}@{host}:{self.port}/{database}"


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


# --------------------------------------------------------------------------
# URLs and messages


def _origin(source: str) -> str:
    """Where a URL came from, as the user knows it."""
    return {"url": "--mysql-url", "env": ENV_URL}.get(source, "MySQL URL")


def _scrub(text: str, password: str) -> str:
    """``text`` on one line, with the password (plain or percent-encoded) replaced by ``***``."""
    if password:
        for form in {password, urllib.parse.quote(password, safe="")}:
            text = text.replace(form, "***")
    return " ".join(text.splitlines())


def parse_url(url: str, source: str = "url") -> ServerTarget:
    """Parse ``mysql://user:password@host:port/database`` into a :class:`ServerTarget`.

    Also accepts ``mysql+pymysql://`` and ``mariadb://``.  Defaults: user ``root``,
    empty password, port 3306, database ``test``; user and password are
    percent-decoded.  Malformed input raises :class:`UsageError` with one line
    naming the problem; the message echoes no part of the URL that could hold
    the password (a password with an unencoded ``/``, ``?``, ``#`` or ``@`` spills
    into other parts).
    """
    where = _origin(source)
    if not isinstance(url, str) or not url.strip():
        raise UsageError(f"{where}: empty MySQL URL; expected {URL_SHAPE}")
    text = url.strip()
    scheme, sep, _ = text.partition("://")
    if not sep:
        raise UsageError(f"{where}: not a MySQL URL; expected {URL_SHAPE}")
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        shown = repr(scheme) if re.fullmatch(r"[a-z][a-z0-9+.\-]{0,30}", scheme) else "in the URL"
        raise UsageError(f"{where}: unsupported scheme {shown}; use mysql://, mysql+pymysql:// or mariadb://")
    if "?" in text or "#" in text:
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
    return ServerTarget(
        host=host,
        port=port,
        user=user or DEFAULT_USER,
        password=password,
        database=database,
        source=source,
    )


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
        if not re.fullmatch(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,252})", host):
            raise UsageError(f"{where}: bad host name in the MySQL URL (letters, digits, '.', '-' and '_' only)")
    if port_text is None:
        return host, DEFAULT_PORT
    if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise UsageError(f"{where}: bad port in the MySQL URL (must be a number from 1 to 65535)")
    return host, int(port_text)


def _parse_database(path: str, where: str) -> str:
    """The URL path (after the first ``/``) -> database name; empty means ``test``."""
    if "@" in path:
        raise UsageError(f"{where}: '@' after the host in the MySQL URL (percent-encode '/' and '@' in the password)")
    database = urllib.parse.unquote(path)
    if not database:
        return DEFAULT_DATABASE
    if "/" in database or len(database) > 64 or any(ord(ch) < 32 for ch in database):
        raise UsageError(f"{where}: bad database name in the MySQL URL (one name, at most 64 characters)")
    return database


# --------------------------------------------------------------------------
# Connecting


def _open(target: ServerTarget, *, timeout: float, database: bool = True) -> Any:
    """A PyMySQL connection (autocommit) whose connect and every read/write is bounded by ``timeout``."""
    import pymysql

    kwargs = target.connect_kwargs()
    if not database:
        kwargs["database"] = None
    return pymysql.connect(
        **kwargs,
        connect_timeout=timeout,
        read_timeout=timeout,
        write_timeout=timeout,
        autocommit=True,
        charset="utf8mb4",
    )


class _Deadline(Exception):
    """A call did not finish in time."""


def _run_with_deadline(fn: Callable[[], Any], timeout: float) -> Any:
    """``fn()`` in a daemon thread, given up after ``timeout`` seconds.

    Socket timeouts bound each connect and read but not name resolution, and a
    login is several reads; a thread puts one hard bound on the whole attempt.
    A late attempt finishes on its own socket timeouts and is discarded.
    """
    import threading

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    worker = threading.Thread(target=run, name="ctxbench-mysql-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise _Deadline
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _describe_failure(exc: BaseException, target: ServerTarget) -> str:
    """One line naming why logging in to ``target`` failed; no password."""
    import socket

    import pymysql

    where = f"{target.host}:{target.port}"
    code = exc.args[0] if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int) else None
    text = str(exc.args[1]) if code is not None and len(exc.args) > 1 else str(exc)
    cause = getattr(exc, "original_exception", exc)
    if isinstance(cause, socket.gaierror):
        message = f"unknown host {target.host!r}"
    elif isinstance(cause, ConnectionRefusedError):
        message = f"connection refused by {where}: is a server listening on that port?"
    elif isinstance(cause, TimeoutError) or (code in (2003, 2013) and "timed out" in text):
        message = f"timeout connecting to {where}"
    elif code in (1045, 1698):
        message = f"access denied for user {target.user!r} on {where}: wrong password?"
    elif code == 1044:
        message = f"access denied for user {target.user!r} to database {target.database!r} on {where}"
    elif code == 1049:
        message = f"unknown database {target.database!r} on {where}"
    elif code == 1130:
        message = f"{where} does not let user {target.user!r} log in from this host"
    elif code == 1040:
        message = f"too many connections on {where}"
    elif isinstance(cause, OSError):
        message = f"cannot connect to {where}: {cause.strerror or cause}"
    elif code is not None:
        message = f"MySQL error {code} from {where}: {text}"
    else:
        message = f"cannot use {where}: {type(exc).__name__}: {exc}"
    return _scrub(message, target.password)


def check_target(target: ServerTarget, *, timeout: float = URL_TIMEOUT) -> None:
    """Log in to ``target`` and run ``SELECT 1`` within ``timeout`` seconds, or raise a one-line UsageError."""
    if timeout <= 0:
        raise UsageError(f"timeout must be positive, not {timeout!r}")
    origin = _origin(target.source)

    def attempt() -> None:
        conn = _open(target, timeout=timeout)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        finally:
            conn.close()

    try:
        _run_with_deadline(attempt, timeout)
    except _Deadline:
        raise UsageError(f"{origin}: timeout after {timeout:g} s connecting to {target.host}:{target.port}") from None
    except Exception as exc:
        raise UsageError(f"{origin}: {_describe_failure(exc, target)}") from None


# --------------------------------------------------------------------------
# The handle


class ServerHandle:
    """A server to use, and the duty to stop it if this process started it.

    Use as a context manager, or call :meth:`close`; closing a server found
    rather than started does nothing.  A server this process started can also
    be killed (:meth:`kill`), shut down (:meth:`terminate`) and started again on
    the same port and data directory (:meth:`restart`) -- what ``ctxbench
    faults`` does to it; a server found rather than started refuses all three.
    """

    def __init__(self, target: ServerTarget, path_taken: str, server: _EphemeralServer | None = None) -> None:
        self.target = target
        #: Which discovery step found the server, for people.
        self.path_taken = path_taken
        self._server = server

    @property
    def ephemeral(self) -> bool:
        """Whether this process started the server (and will stop it)."""
        return self._server is not None

    @property
    def pid(self) -> int | None:
        """Process id of an ephemeral server; None otherwise."""
        return self._server.pid if self._server else None

    @property
    def tempdir(self) -> Path | None:
        """Temporary folder (data directory, socket, logs) of an ephemeral server; None otherwise."""
        return self._server.tempdir if self._server else None

    def close(self) -> None:
        """Stop an ephemeral server (terminate, wait, kill) and remove its folder.  Idempotent."""
        if self._server is not None:
            self._server.stop()

    # Faults (bench/faults.py): only a server this process started may be killed or restarted.

    def _own(self, action: str) -> _EphemeralServer:
        if self._server is None:
            raise UsageError(f"cannot {action} a server ctxbench did not start ({self.path_taken})")
        return self._server

    @property
    def running(self) -> bool:
        """Whether an ephemeral server's process is alive (False for a server found, not started)."""
        return self._server is not None and self._server.running

    def kill(self) -> None:
        """SIGKILL the ephemeral server (a crash); its data directory and port stay for :meth:`restart`."""
        self._own("kill").kill()

    def terminate(self) -> None:
        """Shut the ephemeral server down cleanly (SIGTERM, wait); data directory and port stay for :meth:`restart`."""
        self._own("shut down").terminate()

    def restart(self, timeout: float = START_TIMEOUT) -> float:
        """Start the ephemeral server again on the same port and data directory (stopping it first if it runs).

        Returns the seconds from launch until the generated password logs in over TCP;
        raises :class:`EphemeralStartError` if it does not within ``timeout``.
        """
        return self._own("restart").restart(self.target, timeout)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ServerHandle({self.target.redacted_url()!r}, ephemeral={self.ephemeral}, path_taken={self.path_taken!r})"


# --------------------------------------------------------------------------
# Discovery


def _quiet(_: str) -> None:
    """Default progress callback."""


def find_server(
    url: str | None = None,
    *,
    allow_ephemeral: bool = True,
    progress: Progress | None = None,
    skip_local_default: bool | None = None,
    timeout: float = URL_TIMEOUT,
    start_timeout: float = START_TIMEOUT,
) -> ServerHandle:
    """Find a server in the order the module docstring gives; see there.

    ``url`` (or ``CTXBENCH_MYSQL_URL`` when ``url`` is None) must work within
    ``timeout`` seconds or a one-line :class:`UsageError` says why.
    ``skip_local_default`` (default: env ``CTXBENCH_MYSQL_SKIP_LOCAL=1``) skips
    127.0.0.1:3306; ``allow_ephemeral=False`` never starts a server.  Raises
    :class:`ServerUnavailable` (or its :class:`EphemeralStartError`) when
    nothing is found.
    """
    say = progress or _quiet
    if url is None and os.environ.get(ENV_URL, "").strip():
        url, source = os.environ[ENV_URL], "env"
    else:
        source = "url"
    if url is not None:
        target = parse_url(url, source)
        say(f"checking {target.redacted_url()} from {_origin(source)}")
        check_target(target, timeout=timeout)
        return ServerHandle(target, f"{_origin(source)}: {target.redacted_url()}")

    tried: list[str] = []
    if skip_local_default is None:
        skip_local_default = os.environ.get(ENV_SKIP_LOCAL, "").strip() not in ("", "0")
    if skip_local_default:
        tried.append(f"{DEFAULT_HOST}:{DEFAULT_PORT} skipped")
    else:
        say(f"trying root without password on {DEFAULT_HOST}:{DEFAULT_PORT}")
        local, why = _try_local_default()
        if local is not None:
            return ServerHandle(local, f"local default: root without password on {DEFAULT_HOST}:{DEFAULT_PORT}")
        tried.append(f"{DEFAULT_HOST}:{DEFAULT_PORT}: {why}")

    if allow_ephemeral:
        handle = _start_ephemeral(say, start_timeout)
        if handle is not None:
            return handle
        tried.append("no mariadbd or mysqld on PATH or in /usr/sbin")
    else:
        tried.append("starting a private server not allowed")
    raise ServerUnavailable(f"no MySQL-protocol server: no {ENV_URL} or --mysql-url, " + "; ".join(tried))


def start_private_server(*, progress: Progress | None = None, timeout: float = START_TIMEOUT) -> ServerHandle:
    """Always a fresh private server (step 3 alone), whatever URL or local server exists.

    For what may only be done to a server ctxbench owns: killing and restarting it
    (``ctxbench faults``).  Raises :class:`ServerUnavailable` without a server binary.
    """
    handle = _start_ephemeral(progress or _quiet, timeout)
    if handle is None:
        raise ServerUnavailable("no mariadbd or mysqld on PATH or in /usr/sbin to start a private server")
    return handle


def _try_local_default() -> tuple[ServerTarget | None, str]:
    """Log in as root without password on 127.0.0.1:3306, creating database ``test`` if missing.

    Returns the target, or None and why not (one short phrase).
    """
    import pymysql

    target = ServerTarget(DEFAULT_HOST, DEFAULT_PORT, DEFAULT_USER, "", DEFAULT_DATABASE, "local-default")
    try:
        conn = _open(target, timeout=LOCAL_TIMEOUT, database=False)
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW DATABASES LIKE %s", (DEFAULT_DATABASE,))
                if not cur.fetchall():
                    cur.execute(f"CREATE DATABASE IF NOT EXISTS `{DEFAULT_DATABASE}`")
        finally:
            conn.close()
    except pymysql.err.MySQLError as exc:
        return None, _describe_failure(exc, target)
    return target, ""


# --------------------------------------------------------------------------
# The ephemeral server
#
# Process handling: the server is our own child, so subprocess.Popen starts it
# and owns it (terminate/wait/kill with timeouts, exit status, reaping).  psutil
# is used where Popen cannot help: checking that the pid of a server left behind
# by a dead ctxbench process still runs that server (its command line names the
# folder) before stopping it, so that a recycled pid is never signalled.

_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin", "/usr/bin", "/usr/local/bin")
_LIVE: set[_EphemeralServer] = set()
_SAVED_HANDLERS: dict[int, Any] = {}


def _find_program(names: tuple[str, ...], extra_dirs: tuple[str, ...] = _SBIN_DIRS) -> str | None:
    """First of ``names`` on PATH, then in ``extra_dirs``."""
    import shutil

    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for directory in extra_dirs:
        for name in names:
            candidate = Path(directory, name)
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def find_server_binary() -> str | None:
    """``mariadbd`` or ``mysqld`` on PATH or in /usr/sbin (and a few usual places), or None."""
    return _find_program(("mariadbd", "mysqld"))


def _binary_version(binary: str) -> tuple[str, str]:
    """(flavor, version) of a server binary, from ``--version``."""
    import subprocess

    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=15, check=False).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EphemeralStartError(f"{binary} --version failed: {exc}", []) from None
    match = re.search(r"Ver\s+(\S+)", out)
    version = match.group(1) if match else "unknown"
    return ("mariadb" if "mariadb" in out.lower() else "mysql"), version


def _temp_base() -> str:
    """Folder for the temporary folder: the system one, unless a socket path there would be too long."""
    import tempfile

    base = tempfile.gettempdir()
    # sun_path holds 108 bytes; <base>/ctxbench-mysql-XXXXXXXX/mysqld.sock adds 36.
    return base if len(base) <= 64 else "/tmp"


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((DEFAULT_HOST, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 12) -> list[str]:
    """Last non-empty lines of a log file (empty list if unreadable)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` making Linux send SIGTERM to the child when its parent dies, or None.

    The kernel sends it when the *thread* that forked exits, so it is only used
    from the main thread, which lives as long as the process.
    """
    import threading

    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, sigterm = 1, 15

    def set_pdeathsig() -> None:
        prctl(pr_set_pdeathsig, sigterm)

    return set_pdeathsig


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    """Signal handler: turn SIGTERM/SIGHUP into SystemExit so ``finally``, ``with`` and atexit stop the server."""
    raise SystemExit(128 + signum)


def _install_signal_handlers() -> None:
    """Make SIGTERM and SIGHUP raise SystemExit while an ephemeral server runs, unless someone else handles them."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers; atexit and the parent-death signal still apply
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signum not in _SAVED_HANDLERS and signal.getsignal(signum) is signal.SIG_DFL:
            _SAVED_HANDLERS[signum] = signal.signal(signum, _raise_system_exit)


def _restore_signal_handlers() -> None:
    """Put back the default handlers once no ephemeral server runs."""
    import signal
    import threading

    if _LIVE or threading.current_thread() is not threading.main_thread():
        return
    for signum, previous in list(_SAVED_HANDLERS.items()):
        if signal.getsignal(signum) is _raise_system_exit:
            signal.signal(signum, previous)
        del _SAVED_HANDLERS[signum]


@atexit.register
def _stop_all() -> None:
    """At interpreter exit, stop every ephemeral server this process started."""
    for server in list(_LIVE):
        try:
            server.stop()
        except Exception:  # exiting anyway; the next start sweeps what is left
            pass


class _EphemeralServer:
    """A throwaway server process and its temporary folder."""

    def __init__(self, tempdir: Path) -> None:
        self.tempdir = tempdir
        self.owner_pid = os.getpid()
        self.process: subprocess.Popen[bytes] | None = None
        #: The server's command line (same port, same folder): what :meth:`restart` launches again.
        self.command: list[str] = []
        _LIVE.add(self)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the server process and reap it; the folder stays."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)

    def terminate(self) -> None:
        """SIGTERM (a clean shutdown), wait, SIGKILL if it takes too long; the folder stays."""
        import subprocess

        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self, target: ServerTarget, timeout: float) -> float:
        """Launch the same command again (same port, same data directory) and wait until ``target`` logs in."""
        import subprocess
        import time

        if not self.command:
            raise EphemeralStartError("the private server was never launched", [])
        self.terminate()
        started = time.monotonic()
        deadline = started + timeout
        with open(self.tempdir / "server.out", "ab") as out:
            self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                            preexec_fn=_parent_death_signal())
        (self.tempdir / "server.pid").write_text(str(self.process.pid))
        errlog = self.tempdir / "error.log"
        while True:
            if self.process.poll() is not None:
                raise EphemeralStartError(f"the private server exited with status {self.process.returncode} while restarting", _tail(errlog))
            try:
                check_target(target, timeout=2.0)
                return time.monotonic() - started
            except UsageError:
                if time.monotonic() > deadline:
                    raise EphemeralStartError("the private server did not accept its login in time after a restart", _tail(errlog)) from None
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminate, wait, kill; remove the folder.  Safe to repeat, and to interrupt and repeat."""
        import shutil
        import subprocess

        if os.getpid() != self.owner_pid:
            return  # a forked child must not stop its parent's server
        try:
            self.terminate()
        except subprocess.TimeoutExpired:
            pass  # even SIGKILL was not reaped in time: remove the folder regardless
        shutil.rmtree(self.tempdir, ignore_errors=True)
        _LIVE.discard(self)
        _restore_signal_handlers()


def _sweep_stale(base: str, say: Progress) -> None:
    """Remove folders of ephemeral servers whose ctxbench process died without cleaning up (SIGKILL)."""
    import shutil

    import psutil

    for folder in Path(base).glob(f"{TEMP_PREFIX}*"):
        try:
            if folder.stat().st_uid != os.getuid():
                continue
            owner = int((folder / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # not ours, or being created right now
        if psutil.pid_exists(owner):
            continue
        try:
            server = psutil.Process(int((folder / "server.pid").read_text()))
            if str(folder) in " ".join(server.cmdline()):
                server.terminate()
                try:
                    server.wait(STOP_TIMEOUT)
                except psutil.TimeoutExpired:
                    server.kill()
        except (OSError, ValueError, psutil.Error):
            pass
        say(f"removing {folder}, left behind by ctxbench process {owner}")
        shutil.rmtree(folder, ignore_errors=True)


def _start_ephemeral(say: Progress, timeout: float) -> ServerHandle | None:
    """Start a private server (see module docstring); None if there is no server binary."""
    import tempfile
    import time

    binary = find_server_binary()
    if binary is None:
        return None
    deadline = time.monotonic() + timeout
    flavor, version = _binary_version(binary)
    base = _temp_base()
    _sweep_stale(base, say)
    _install_signal_handlers()
    server = _EphemeralServer(Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=base)))
    try:
        (server.tempdir / "owner.pid").write_text(str(os.getpid()))
        say(f"starting a private {Path(binary).name} {version} in {server.tempdir}")
        _initialize(binary, flavor, server.tempdir, deadline)
        target = _launch(binary, flavor, version, server, deadline)
    except BaseException:
        server.stop()
        raise
    say(f"private server ready on {target.host}:{target.port}")
    path = f"ephemeral: {Path(binary).name} {version} started by ctxbench on {target.host}:{target.port}, data in {server.tempdir}"
    return ServerHandle(target, path, server)


def _as_root() -> list[str]:
    """``--user=root``: mariadbd/mysqld refuse to run as root without it."""
    return ["--user=root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []


def _initialize(binary: str, flavor: str, tempdir: Path, deadline: float) -> None:
    """Create a fresh data directory whose root logs in through the socket without a password."""
    import subprocess
    import time

    datadir, log = tempdir / "data", tempdir / "install.log"
    if flavor == "mariadb":
        installer = _find_program(("mariadb-install-db", "mysql_install_db"), (str(Path(binary).parent), *_SBIN_DIRS))
        if installer is None:
            raise EphemeralStartError(f"found {binary} but no mariadb-install-db to create its data directory", [])
        command = [
            installer,
            "--no-defaults",
            f"--datadir={datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
            *_as_root(),
        ]
    else:
        command = [binary, "--no-defaults", "--initialize-insecure", f"--datadir={datadir}", f"--log-error={log}", *_as_root()]
    with open(log, "ab") as out:
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=max(1.0, deadline - time.monotonic()),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise EphemeralStartError(f"{Path(command[0]).name} did not finish in time", _tail(log)) from None
    if result.returncode != 0:
        raise EphemeralStartError(f"{Path(command[0]).name} failed with exit status {result.returncode}", _tail(log))


def _server_command(binary: str, flavor: str, version: str, tempdir: Path, port: int) -> list[str]:
    """The server's command line: no option files, 127.0.0.1 only, everything inside ``tempdir``."""
    command = [
        binary,
        "--no-defaults",  # must come first
        f"--datadir={tempdir / 'data'}",
        f"--socket={tempdir / 'mysqld.sock'}",
        f"--pid-file={tempdir / 'mysqld.pid'}",
        f"--log-error={tempdir / 'error.log'}",
        f"--tmpdir={tempdir}",
        f"--port={port}",
        f"--bind-address={DEFAULT_HOST}",
        "--skip-name-resolve",
        f"--max-connections={EPHEMERAL_MAX_CONNECTIONS}",
        *_as_root(),
    ]
    major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
    if flavor == "mysql" and major >= 8:
        command += ["--mysqlx=OFF", "--skip-log-bin"]  # X Protocol would listen on every interface
    return command


def _launch(binary: str, flavor: str, version: str, server: _EphemeralServer, deadline: float) -> ServerTarget:
    """Start the server on a free port (three tries: a port can be taken between pick and bind), set it up."""
    import subprocess

    errlog = server.tempdir / "error.log"
    for _ in range(3):
        port = _free_port()
        server.command = _server_command(binary, flavor, version, server.tempdir, port)
        with open(server.tempdir / "server.out", "ab") as out:
            server.process = subprocess.Popen(
                server.command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Only a prctl call, set up before the fork: safe enough with other threads running.
                preexec_fn=_parent_death_signal(),
            )
        (server.tempdir / "server.pid").write_text(str(server.process.pid))
        try:
            return _set_up(server, port, deadline)
        except EphemeralStartError as exc:
            tail = " ".join(exc.log_tail)
            if server.process.poll() is None or not re.search(r"already in use|Bind on TCP/IP port", tail):
                raise
    raise EphemeralStartError("could not find a free port for the private server", _tail(errlog))


def _drop_unusable_account(cur: Any, user: str, host: str) -> None:
    """Drop an account no client of the private server needs (anonymous, or for the machine's host name).

    Under --skip-name-resolve the server may refuse to touch an account named
    by host name (MariaDB: error 1396); such an account can never match a
    client anyway -- clients are known by address and only 127.0.0.1 is
    served -- so it is left alone.
    """
    import pymysql

    try:
        cur.execute("DROP USER %s@%s", (user, host))
    except pymysql.err.MySQLError:
        pass


def _set_up(server: _EphemeralServer, port: int, deadline: float) -> ServerTarget:
    """Wait for the socket, give every root account a fresh random password, create ``test``; check TCP login."""
    import secrets
    import time

    import pymysql

    errlog = server.tempdir / "error.log"
    sock = server.tempdir / "mysqld.sock"
    proc = server.process
    assert proc is not None
    conn = None
    while conn is None:
        if proc.poll() is not None:
            raise EphemeralStartError(f"the private server exited with status {proc.returncode} while starting", _tail(errlog))
        if time.monotonic() > deadline:
            raise EphemeralStartError("the private server did not accept connections in time", _tail(errlog))
        if sock.exists():
            try:
                conn = pymysql.connect(unix_socket=str(sock), user="root", password="", connect_timeout=2, autocommit=True)
                break
            except pymysql.err.MySQLError:
                pass
        time.sleep(0.1)
    password = secrets.token_urlsafe(18)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY %s", (password,))
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
            cur.execute("SELECT Host FROM mysql.user WHERE User = ''")
            for (host,) in cur.fetchall():
                _drop_unusable_account(cur, "", host)
            cur.execute("SELECT Host FROM mysql.user WHERE User = 'root'")
            for (host,) in cur.fetchall():
                if host in ("localhost", "127.0.0.1", "::1"):
                    cur.execute("ALTER USER 'root'@%s IDENTIFIED BY %s", (host, password))
                else:
                    _drop_unusable_account(cur, "root", host)
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{DEFAULT_DATABASE}`")
    except pymysql.err.MySQLError as exc:
        raise EphemeralStartError(_scrub(f"setting up the private server failed: {exc}", password), _tail(errlog)) from None
    finally:
        conn.close()
    target = ServerTarget(DEFAULT_HOST, port, "root", password, DEFAULT_DATABASE, "ephemeral")
    try:
        check_target(target, timeout=max(2.0, deadline - time.monotonic()))
    except UsageError as exc:
        raise EphemeralStartError(f"the private server does not accept its own login: {exc}", _tail(errlog)) from None
    return target


# --------------------------------------------------------------------------
# Facts and counters


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


def server_info(target: ServerTarget) -> dict[str, Any]:
    """Facts about the server, for the environment record and ``ctxbench doctor``; never the password.

    ``tls`` says whether the benchmark's connections are encrypted (PyMySQL connects without TLS
    unless told); ``tls_available`` whether the server could encrypt (None if it does not say).
    """
    conn = _open(target, timeout=URL_TIMEOUT)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION(), CURRENT_USER()")
            version, account = (str(value) for value in cur.fetchone())
            comment = _variable(cur, "version_comment") or ""
            max_connections = _variable(cur, "max_connections")
            have_ssl = _variable(cur, "have_ssl")
            cert_expiry = _status(cur, "Ssl_server_not_after", "GLOBAL")
            cipher = _status(cur, "Ssl_cipher")
            info = {
                "source": target.source,
                "url": target.redacted_url(),
                "version": version,
                "flavor": "mariadb" if "mariadb" in f"{version} {comment}".lower() else "mysql",
                "max_connections": int(max_connections) if max_connections and max_connections.isdigit() else None,
                "thread_handling": _variable(cur, "thread_handling"),
                "account": account,
                "auth_plugin": _auth_plugin(cur, account),
                "tls": bool(cipher),
                "tls_cipher": cipher or None,
                "tls_available": (have_ssl == "YES") if have_ssl is not None else (bool(cert_expiry) if cert_expiry is not None else None),
            }
    finally:
        conn.close()
    return info


def server_counters(target: ServerTarget) -> dict[str, int]:
    """The :data:`COUNTERS` from ``SHOW GLOBAL STATUS`` (a counter the server lacks is left out).

    Each call opens its own connection and counts itself: measured on MariaDB 10.11 with
    PyMySQL 1.1, Connections +1 and Questions +3 (session setup and the SHOW) per call.
    """
    conn = _open(target, timeout=URL_TIMEOUT)
    try:
        with conn.cursor() as cur:
            placeholders = ", ".join(["%s"] * len(COUNTERS))
            cur.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({placeholders})", COUNTERS)
            rows = {str(name).lower(): value for name, value in cur.fetchall()}
    finally:
        conn.close()
    return {name: int(rows[name.lower()]) for name in COUNTERS if name.lower() in rows}


def find_mysqlslap() -> str | None:
    """``mariadb-slap`` or ``mysqlslap`` on PATH or in /usr/bin, or None."""
    return _find_program(("mariadb-slap", "mysqlslap"))


def mysqlslap_ceiling(target: ServerTarget, *, concurrency: int, queries: int = 20000, query: str = "SELECT 1", timeout: float = 120) -> float | None:
    """Queries per second ``mysqlslap`` reaches against ``target``: a ceiling for the Python clients.

    None if no ``mysqlslap``/``mariadb-slap`` is installed; :class:`MysqlslapError` if it fails.
    The password goes through ``MYSQL_PWD``, never the command line.  The schema is never
    dropped (``--no-drop``).
    """
    import subprocess

    if not isinstance(concurrency, int) or concurrency < 1:
        raise UsageError(f"mysqlslap concurrency must be a positive integer, not {concurrency!r}")
    if not isinstance(queries, int) or queries < concurrency:
        raise UsageError(f"mysqlslap queries must be an integer of at least the concurrency ({concurrency}), not {queries!r}")
    if not query.strip():
        raise UsageError("mysqlslap query must not be empty")
    tool = find_mysqlslap()
    if tool is None:
        return None
    command = [
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
    ]
    env = {key: value for key, value in os.environ.items() if key != "MYSQL_PWD"}
    if target.password:
        env["MYSQL_PWD"] = target.password
    name = Path(tool).name
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MysqlslapError(f"{name} did not finish within {timeout:g} s") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or ["no output"])[-1]
        raise MysqlslapError(_scrub(f"{name} failed with exit status {result.returncode}: {last}", target.password))
    match = re.search(r"Average number of seconds to run all queries:\s*([0-9.]+)", result.stdout)
    if match is None:
        raise MysqlslapError(f"{name} printed no 'Average number of seconds to run all queries'")
    seconds = float(match.group(1))
    if seconds <= 0:
        raise MysqlslapError(f"{name} ran {queries} queries too fast to time; ask for more queries")
    return (queries // concurrency) * concurrency / seconds


def doctor(url: str | None = None, *, progress: Progress | None = None) -> dict[str, Any]:
    """What ``ctxbench doctor`` reports about the database side.

    Finds a server as :func:`find_server` does (stopping it again if it started
    one).  A bad URL still raises :class:`UsageError`; no server at all gives
    ``{"found": False, "reason": ..., "help": ...}``.
    """
    slap = find_mysqlslap()
    try:
        handle = find_server(url, progress=progress)
    except ServerUnavailable as exc:
        return {"found": False, "reason": exc.reason, "help": exc.help, "mysqlslap": slap, "mysqlslap_available": slap is not None}
    with handle:
        info = server_info(handle.target)
    return {
        "found": True,
        "path_taken": handle.path_taken,
        "url": handle.target.redacted_url(),
        "version": info["version"],
        "flavor": info["flavor"],
        "max_connections": info["max_connections"],
        "thread_handling": info["thread_handling"],
        "auth_plugin": info["auth_plugin"],
        "tls": info["tls"],
        "tls_available": info["tls_available"],
        "ephemeral": handle.ephemeral,
        "mysqlslap": slap,
        "mysqlslap_available": slap is not None,
    }
