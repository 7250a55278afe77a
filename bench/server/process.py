"""The private server's process: started, stopped and killed through mirakuru, polled through tenacity.

Contract: the process runs in a session of its own (mirakuru's ``setsid``: a terminal's Ctrl-C reaches ctxbench,
which stops the server in order) and, on Linux, gets SIGTERM when the thread that started it dies (parent-death
signal).  :meth:`ServerProcess.stop` sends SIGTERM to its process group and SIGKILL after ``STOP_TIMEOUT``.
This module imports subprocess, mirakuru and psutil: :mod:`bench.server.private` imports it only when it starts a
server, so importing :mod:`bench.server` stays free of what gevent patches.

mirakuru offers no hook for a second ``preexec_fn`` (it sets ``os.setsid`` itself), so :class:`ServerProcess`
extends its ``_popen_kwargs`` to add the parent-death signal; mirakuru's own readiness waits are not used, because
readiness here is a login (socket, then TCP with the generated password) and a failure must carry the server's log.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import IO, Any

from mirakuru import SimpleExecutor
from mirakuru.base import cleanup_subprocesses
from mirakuru.exceptions import ProcessFinishedWithError

from bench.child import death_signal, deferred_interrupt
from bench.server.target import STOP_TIMEOUT

# mirakuru's exit hook SIGKILLs every process whose marker *contains* this pid as a substring (pid 1234 matches
# another ctxbench's server marked "11234:..."); bench.server.private stops its own servers at exit, SIGTERM first.
atexit.unregister(cleanup_subprocesses)


def parent_death_signal() -> Callable[[], None] | None:
    """A function making Linux send SIGTERM to the (forked) child when its parent dies, or None.

    The kernel sends it when the *thread* that forked exits, so it is only used from the main thread, which lives
    as long as the process (a server may outlive the thread that needed it first).  SIGTERM, not the SIGKILL of
    :mod:`bench.child`'s children: the server is given its own shutdown.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return death_signal(signal.SIGTERM)


class ServerProcess(SimpleExecutor):
    """A server process in its own session that dies with its parent; output appended to ``out``."""

    def __init__(self, command: list[str], out: IO[bytes]) -> None:
        super().__init__(command, timeout=STOP_TIMEOUT, stdin=subprocess.DEVNULL, stdout=out,
                         stderr=subprocess.STDOUT)
        self._pdeathsig = parent_death_signal()  # decided in the starting thread, before any fork

    @property
    def _popen_kwargs(self) -> dict[str, Any]:
        kwargs = super()._popen_kwargs
        pdeathsig = self._pdeathsig
        if pdeathsig is not None:
            def in_child() -> None:  # only os.setsid and a prctl call: safe enough with other threads running
                os.setsid()
                pdeathsig()

            kwargs["preexec_fn"] = in_child
        return kwargs

    def start(self) -> ServerProcess:
        """Start the server (mirakuru's start), a Ctrl-C in the fork's hooks held until it returns."""
        with deferred_interrupt():
            super().start()
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process is not None else None

    def stop(self, stop_signal: int | None = None, expected_returncode: int | None = None) -> ServerProcess:
        """SIGTERM the group, wait up to ``STOP_TIMEOUT``, then SIGKILL; a server that had crashed is no error."""
        try:
            super().stop(stop_signal, expected_returncode)
        except ProcessFinishedWithError:
            self._clear_process()
        return self

