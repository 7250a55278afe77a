"""The parent's side of the delay proxy: start it, steer it, end it.

:func:`delay_proxy` starts ``python -m bench.net.proxy`` (through :mod:`bench.child`: a session of its own, ended
with its tree however the block ends, dead with its parent) in front of a server and yields a :class:`DelayProxy`
whose :attr:`~DelayProxy.target` is the server as seen through it.  The proxy listens on 127.0.0.1 only.

The round trip a user asks for (``rtt_ms``) is split evenly: each direction waits ``rtt_ms / 2``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.child import Child, start, write_spec
from bench.poll import poll

#: Seconds the proxy gets to say it is listening.
READY_TIMEOUT = 10.0
#: Seconds one control request may take.
CONTROL_TIMEOUT = 5.0


class ProxyError(RuntimeError):
    """The delay proxy did not start, or did not answer a control request."""


class DelayProxy:
    """A running delay proxy in front of one server; see :mod:`bench.net.proxy` for what it does to traffic."""

    def __init__(self, child: Child, folder: Path, upstream: Any, port: int, rtt_ms: float) -> None:
        self.child = child
        self.folder = folder
        self.upstream = upstream
        self.port = port
        self.rtt_ms = rtt_ms

    @property
    def target(self) -> Any:
        """The upstream :class:`~bench.server.ServerTarget` with the proxy's address: what clients connect to."""
        return dataclasses.replace(self.upstream, host="127.0.0.1", port=self.port)

    def _send(self, request: dict[str, Any]) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(CONTROL_TIMEOUT)
            try:
                sock.connect(str(self.folder / "control.sock"))
                sock.sendall(json.dumps(request).encode() + b"\n")
                with sock.makefile("rb") as stream:
                    line = stream.readline()
            except OSError as exc:
                raise ProxyError(f"the delay proxy did not answer {request['op']!r}: {exc}") from None
        if not line:
            raise ProxyError(f"the delay proxy closed the control channel on {request['op']!r}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise ProxyError(f"the delay proxy refused {request['op']!r}: {reply['error']}")
        return reply

    def set_rtt(self, rtt_ms: float) -> dict[str, Any]:
        """Add ``rtt_ms`` to every round trip from now on (half each way)."""
        self.rtt_ms = rtt_ms
        return self._send({"op": "set", "delay_s": rtt_ms / 2000.0})

    def partition(self) -> dict[str, Any]:
        """Stop forwarding in both directions, closing nothing."""
        return self._send({"op": "partition"})

    def heal(self) -> dict[str, Any]:
        """Forward again; what waited during the partition is delivered."""
        return self._send({"op": "heal"})

    def reset(self) -> dict[str, Any]:
        """Close every relayed connection with an RST; ``reset_links`` says how many."""
        return self._send({"op": "reset"})

    def stats(self) -> dict[str, Any]:
        """The proxy's state: ``delay_s``, ``partitioned``, ``links`` open, ``accepted``, ``resets``."""
        return self._send({"op": "stats"})

    def close(self) -> None:
        self.child.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def delay_proxy(upstream: Any, rtt_ms: float = 0.0) -> Iterator[DelayProxy]:
    """A delay proxy in front of ``upstream`` (a ServerTarget) adding ``rtt_ms`` per round trip; ended after the
    block, by an exception (Ctrl-C included) or not."""
    if rtt_ms < 0:
        raise ValueError(f"a round trip cannot be negative: {rtt_ms!r} ms")
    folder = Path(tempfile.mkdtemp(prefix="ctxbench-proxy-"))  # 0700: the control socket is ours alone
    try:
        spec = write_spec(folder / "spec.json", {"host": upstream.host, "port": upstream.port,
                                                 "delay_s": rtt_ms / 2000.0, "folder": str(folder)})
        with (folder / "stderr").open("wb") as stderr:
            child = start([sys.executable, "-m", "bench.net.proxy", str(spec)], cwd=folder, stderr=stderr)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    proxy = None
    try:
        ready = folder / "ready.json"
        poll(lambda: ready.exists() or child.poll() is not None, until=bool, timeout=READY_TIMEOUT, interval=0.01)
        if not ready.exists():
            tail = (folder / "stderr").read_text(errors="replace").strip().splitlines()[-1:]
            raise ProxyError(f"the delay proxy did not start: {tail[0] if tail else 'no output'}")
        port = int(json.loads(ready.read_text())["port"])
        proxy = DelayProxy(child, folder, upstream, port, rtt_ms)
        yield proxy
    finally:
        child.close()
        shutil.rmtree(folder, ignore_errors=True)
