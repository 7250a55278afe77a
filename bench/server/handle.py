"""A server to use, and the duty to stop it if this process started it.

Contract: use a :class:`ServerHandle` as a context manager, or call :meth:`ServerHandle.close`; closing a server
found rather than started does nothing.  Only a server this process started may be killed, shut down or
restarted (``ctxbench faults``); a server found rather than started refuses all three with a UsageError.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.errors import UsageError
from bench.server.target import START_TIMEOUT, ServerTarget

if TYPE_CHECKING:
    from types import TracebackType

    from bench.server.private import EphemeralServer


class ServerHandle:
    """A found or started server: its :class:`ServerTarget`, how it was found, and (if started) its process."""

    def __init__(self, target: ServerTarget, path_taken: str, server: EphemeralServer | None = None) -> None:
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

    @property
    def running(self) -> bool:
        """Whether an ephemeral server's process is alive (False for a server found, not started)."""
        return self._server is not None and self._server.running

    def close(self) -> None:
        """Stop an ephemeral server (terminate, wait, kill) and remove its folder.  Idempotent."""
        if self._server is not None:
            self._server.stop()

    def _own(self, action: str) -> EphemeralServer:
        if self._server is None:
            raise UsageError(f"cannot {action} a server ctxbench did not start ({self.path_taken})")
        return self._server

    def kill(self) -> None:
        """SIGKILL the ephemeral server (a crash); its data directory and port stay for :meth:`restart`."""
        self._own("kill").kill()

    def terminate(self) -> None:
        """Shut the ephemeral server down cleanly (SIGTERM, wait); data directory and port stay for :meth:`restart`."""
        self._own("shut down").terminate()

    def restart(self, timeout: float = START_TIMEOUT) -> float:
        """Start the ephemeral server again on the same port and data directory (stopping it first if it runs).

        Returns the seconds from launch until the generated password logs in over TCP; raises
        :class:`~bench.server.target.EphemeralStartError` if it does not within ``timeout``.
        """
        return self._own("restart").restart(self.target, timeout)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"ServerHandle({self.target.redacted_url()!r}, ephemeral={self.ephemeral}, "
                f"path_taken={self.path_taken!r})")
