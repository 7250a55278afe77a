"""The private, throwaway server: its folder, launch, readiness, stop, restart, and the sweep of stale ones.

Contract: :func:`start_ephemeral` returns a :class:`~bench.server.handle.ServerHandle` for a fresh server (own data
directory in a temporary folder, 127.0.0.1 only, a free port, a random root password), or None when no
``mariadbd``/``mysqld`` is installed.  The server never outlives the process that started it: it stops on
``close()``, at interpreter exit, on Ctrl-C, SIGTERM and SIGHUP, on Linux also when the starting process dies
(parent-death signal), and a folder left behind by a process killed with SIGKILL is swept away by the next start.
A restart keeps the port and the data directory.  A :class:`~bench.server.target.Placement` may put the server
elsewhere: started through a prefix (``ip netns exec NAME``, which execs the server: same pid, same parent-death
signal) and bound to that namespace's address, root also allowed in from the host's end of the link; all of the
above holds for it the same.

psutil is used where the process object cannot help: checking that the pid of a server left behind by a dead
ctxbench process still runs that server (its command line names the folder) before stopping it.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from bench.errors import UsageError
from bench.server import install, programs
from bench.server.connect import check_target
from bench.server.handle import ServerHandle
from bench.server.target import (
    DEFAULT_DATABASE,
    DEFAULT_HOST,
    STOP_TIMEOUT,
    EphemeralStartError,
    Placement,
    ServerTarget,
)

if TYPE_CHECKING:
    from types import FrameType

    from bench.server.process import ServerProcess

log = logging.getLogger(__name__)

#: Name prefix of an ephemeral server's temporary folder; the stale-folder sweep looks only at these.
TEMP_PREFIX = "ctxbench-mysql-"

_LIVE: set[EphemeralServer] = set()
_SAVED_HANDLERS: dict[int, Any] = {}


class _NotYet(Exception):
    """The server does not accept the login yet."""


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


class EphemeralServer:
    """A throwaway server process and its temporary folder (what a :class:`ServerHandle` owns)."""

    def __init__(self, tempdir: Path) -> None:
        self.tempdir = tempdir
        self.owner_pid = os.getpid()
        self.process: ServerProcess | None = None
        self._out: IO[bytes] | None = None
        _LIVE.add(self)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running()

    @property
    def errlog(self) -> Path:
        return self.tempdir / "error.log"

    def launch(self, command: list[str]) -> None:
        """Start ``command`` (a new server process replaces the old one); its output goes to ``server.out``."""
        from bench.server.process import ServerProcess

        if self._out is None:
            self._out = open(self.tempdir / "server.out", "ab")  # kept open as long as the server runs
        self.process = ServerProcess(command, self._out).start()
        (self.tempdir / "server.pid").write_text(str(self.process.pid))

    def exited(self, doing: str) -> None:
        """Raise :class:`EphemeralStartError` if the server process has ended."""
        if self.process is not None and not self.process.running():
            raise EphemeralStartError(
                f"the private server exited with status {self.process.returncode} while {doing}",
                install.tail(self.errlog))

    def kill(self) -> None:
        """SIGKILL the server process and reap it; the folder stays."""
        if self.running and self.process is not None:
            self.process.kill()

    def terminate(self) -> None:
        """SIGTERM (a clean shutdown), wait, SIGKILL if it takes too long; the folder stays."""
        if self.running and self.process is not None:
            self.process.stop()

    def restart(self, target: ServerTarget, timeout: float) -> float:
        """Launch the same command again (same port, same data directory) and wait until ``target`` logs in."""
        import time

        from bench.poll import poll_until

        if self.process is None:
            raise EphemeralStartError("the private server was never launched", [])
        self.terminate()
        started = time.monotonic()
        self.process.start()  # the executor keeps its command: same port, same folder
        (self.tempdir / "server.pid").write_text(str(self.process.pid))

        def logs_in() -> None:
            self.exited("restarting")
            try:
                check_target(target, timeout=2.0)
            except UsageError:
                raise _NotYet from None

        try:
            poll_until(logs_in, deadline=started + timeout, retry_on=_NotYet, interval=0.05)
        except _NotYet:
            raise EphemeralStartError("the private server did not accept its login in time after a restart",
                                      install.tail(self.errlog)) from None
        return time.monotonic() - started

    def stop(self) -> None:
        """Terminate, wait, kill; remove the folder.  Safe to repeat, and to interrupt and repeat."""
        import shutil

        if os.getpid() != self.owner_pid:
            return  # a forked child must not stop its parent's server
        self.terminate()
        if self._out is not None:
            self._out.close()
            self._out = None
        shutil.rmtree(self.tempdir, ignore_errors=True)
        _LIVE.discard(self)
        _restore_signal_handlers()


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


def _stop_stale_server(folder: Path) -> None:
    """Stop the server a dead ctxbench process left in ``folder``, if its pid still runs that server."""
    import psutil

    try:
        server = psutil.Process(int((folder / "server.pid").read_text()))
        if str(folder) in " ".join(server.cmdline()):
            server.terminate()
            try:
                server.wait(STOP_TIMEOUT)
            except psutil.TimeoutExpired:
                server.kill()
    except (OSError, ValueError, psutil.Error):
        pass  # gone already, or not ours to stop


def sweep_stale(base: str) -> None:
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
        _stop_stale_server(folder)
        log.info("removing %s, left behind by ctxbench process %s", folder, owner)
        shutil.rmtree(folder, ignore_errors=True)


def _root_over_socket(server: EphemeralServer, deadline: float) -> Any:
    """A root connection without password over the server's socket, once it accepts one."""
    import pymysql

    from bench.poll import poll_until

    sock = server.tempdir / "mysqld.sock"

    def connect() -> Any:
        server.exited("starting")
        if not sock.exists():
            raise _NotYet
        try:
            return pymysql.connect(unix_socket=str(sock), user="root", password="", connect_timeout=2,
                                   autocommit=True)
        except pymysql.err.MySQLError:
            raise _NotYet from None

    try:
        return poll_until(connect, deadline=deadline, retry_on=_NotYet)
    except _NotYet:
        raise EphemeralStartError("the private server did not accept connections in time",
                                  install.tail(server.errlog)) from None


def _set_up(server: EphemeralServer, port: int, deadline: float, placement: Placement) -> ServerTarget:
    """Wait for the socket, give root a fresh random password, create ``test``; check the TCP login."""
    import time

    conn = _root_over_socket(server, deadline)
    try:
        password = install.secure(conn, server.errlog, placement.client_address)
    finally:
        conn.close()
    target = ServerTarget(placement.address, port, "root", password, DEFAULT_DATABASE, "ephemeral")
    try:
        check_target(target, timeout=max(2.0, deadline - time.monotonic()))
    except UsageError as exc:
        raise EphemeralStartError(f"the private server does not accept its own login: {exc}",
                                  install.tail(server.errlog)) from None
    return target


def _launch(binary: str, flavor: str, version: str, server: EphemeralServer, deadline: float,
            server_args: Sequence[str], placement: Placement) -> ServerTarget:
    """Start the server on a free port (three tries: a port can be taken between pick and bind), set it up."""
    for _ in range(3):
        port = _free_port()
        server.launch(install.server_command(binary, flavor, version, server.tempdir, port, server_args, placement))
        try:
            return _set_up(server, port, deadline, placement)
        except EphemeralStartError as exc:
            if server.running or not re.search(r"already in use|Bind on TCP/IP port", " ".join(exc.log_tail)):
                raise
    raise EphemeralStartError("could not find a free port for the private server", install.tail(server.errlog))


def start_ephemeral(timeout: float, server_args: Sequence[str] = (),
                    placement: Placement = Placement()) -> ServerHandle | None:
    """Start a private server (see the module docstring); None if there is no server binary.

    ``server_args`` are extra server options (e.g. ``--ssl-ca=...``, ``--ssl-cert=...``, ``--ssl-key=...``);
    ``placement`` where it listens and what its command starts with (default: 127.0.0.1 on this host).
    """
    import tempfile
    import time

    binary = programs.find_server_binary()
    if binary is None:
        return None
    deadline = time.monotonic() + timeout
    flavor, version = install.binary_version(binary)
    base = _temp_base()
    sweep_stale(base)
    _install_signal_handlers()
    server = EphemeralServer(Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=base)))
    try:
        (server.tempdir / "owner.pid").write_text(str(os.getpid()))
        log.info("starting a private %s %s in %s", Path(binary).name, version, server.tempdir)
        install.initialize(binary, flavor, server.tempdir, deadline)
        target = _launch(binary, flavor, version, server, deadline, server_args, placement)
    except BaseException:
        server.stop()
        raise
    log.info("private server ready on %s:%s", target.host, target.port)
    path = (f"ephemeral: {Path(binary).name} {version} started by ctxbench on {target.host}:{target.port}, "
            f"data in {server.tempdir}")
    return ServerHandle(target, path, server)
