"""The delay proxy: a TCP relay between the application side and the server that adds latency and fails on command.

Run as ``python -m bench.net.proxy SPEC`` (started and ended by :class:`bench.net.handle.DelayProxy`, never by
hand).  ``SPEC`` is a private JSON file: the upstream ``host``/``port``, the one-way ``delay_s``, the folder of the
control socket.  The proxy listens on 127.0.0.1 on a free port, writes ``ready.json`` (its port and pid) into that
folder, and serves until its parent ends it (it also dies with its parent: :func:`bench.child.die_with_parent`).

What it promises, per relayed connection (a :class:`Link`):

* **Delay, in user space, the way toxiproxy does it.**  Each direction is one thread that reads a chunk, stamps
  the time it was read, sleeps until ``stamp + delay`` and sends it: a request/reply protocol such as MySQL's sees
  ``2 x delay`` added to every round trip.  Bytes that arrive while an earlier chunk waits are stamped when they are
  read, so a stream longer than one read (:data:`CHUNK`) pays the delay more than once; the suite's replies fit in
  one read.  Sleeps are ``time.sleep`` (``clock_nanosleep``) with the timer slack lowered to 1 ns, which is what
  makes steps of 0.1 ms usable; asyncio's timers round to about a millisecond.
* **Partition** (:meth:`Proxy.partition`): nothing is forwarded in either direction and nothing is closed.  Data
  already read waits in the proxy and is delivered after :meth:`Proxy.heal`, as TCP's retransmission delivers it
  after a real partition heals.  A connection opened during a partition completes its TCP handshake (the kernel
  accepts it) but gets no greeting until the heal: a client then waits under its *read* timeout, where a real
  partition makes it wait under its *connect* timeout (the kernel-level check, ``bench.net.netns``, compares the
  two).
* **Reset** (:meth:`Proxy.reset`): every relayed connection is closed at once with an RST both ways (``SO_LINGER``
  0), as a failover or a restarting proxy does; new connections are relayed as before.
* **Delay changes take effect at once** (:meth:`Proxy.set_delay`): chunks already waiting keep the delay they were
  read with.

Control: one JSON object per line over the Unix socket ``control.sock`` in the spec's folder (``{"op": "set",
"delay_s": 0.001}``, ``partition``, ``heal``, ``reset``, ``stats``), answered with one JSON line.  This module imports
only the standard library and :mod:`bench.child` (for the parent-death signal): it runs in a process of its own so
that its threads never share a GIL with the client it measures.
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

#: Bytes read per ``recv``: the largest reply of the suite's workloads fits in one.
CHUNK = 256 * 1024
#: ``prctl`` option that sets the calling thread's timer slack (threads it starts inherit it).
PR_SET_TIMERSLACK = 29
#: Seconds: how far one chunk moves the learned wake-up lag (a running median), and the most that lag can be.
LAG_STEP = 0.000005
LAG_MAX = 0.0005
#: ``SO_LINGER`` on, timeout 0: ``close()`` sends an RST instead of a FIN.
LINGER_RST = struct.pack("ii", 1, 0)


def lower_timer_slack() -> None:
    """Ask for 1 ns of timer slack (the default is 50 us): a 100 us sleep then ends within a few us of its time."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: sleeps overshoot more, the measured RTT says by how much
        pass


class Link:
    """One relayed connection: the client's socket, the server's, and a pump thread per direction."""

    def __init__(self, proxy: Proxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.reset_done = False
        self._open_pumps = 2
        self._lock = threading.Lock()
        for src, dst, name in ((client, upstream, "up"), (upstream, client, "down")):
            threading.Thread(target=self._pump, args=(src, dst), name=f"pump-{name}", daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        """Read, wait out the delay (and any partition), send; at the end of the stream pass the FIN on."""
        proxy = self.proxy
        # Bound methods and the clock held in locals: attribute lookups off the per-chunk path.
        recv, sendall, now, sleep = src.recv, dst.sendall, time.monotonic, time.sleep
        healed = proxy.healed
        # How late a sleep wakes (the thread's wake-up and the GIL): learned as it goes and slept off early, so
        # that chunks leave on time instead of ~0.1 ms late per direction.  It is learned from every chunk, slept
        # or not, starting from what the proxy's other links learned, as a running median: each chunk moves it by
        # LAG_STEP towards on time, whatever its lateness, so half the chunks leave on time or earlier and half on
        # time or later.  A wake-up that a busy machine delays by milliseconds moves it no further than a punctual
        # one, and it never exceeds LAG_MAX or the delay: late chunks do not send the next ones early.
        lag = proxy.lag
        failed = False
        try:
            while True:
                data = recv(CHUNK)
                delay = proxy.delay_s
                due = now() + delay
                if not data:
                    break
                wait = due - now() - lag
                if wait > 0:
                    sleep(wait)
                lag = proxy.lag = min(delay, LAG_MAX, max(0.0, lag + (LAG_STEP if now() > due else -LAG_STEP)))
                if not healed.is_set():
                    healed.wait()
                if self.reset_done:
                    return
                sendall(data)
            if not healed.is_set():  # the FIN is held by a partition too
                healed.wait()
            dst.shutdown(socket.SHUT_WR)
        except OSError:  # this side was reset (by its peer, or by this link's reset)
            failed = True
        finally:
            self._pump_done(failed)

    def _pump_done(self, failed: bool) -> None:
        with self._lock:
            self._open_pumps -= 1
            last = self._open_pumps == 0
        if failed and not self.reset_done:
            # A peer's RST crosses to the other side, as it would cross a network (after a partition heals).
            self.proxy.healed.wait()
            self.reset()
        elif last or self.reset_done:
            self.close()

    def reset(self) -> None:
        """Close both sockets with an RST; each pump's blocked ``recv`` returns and its thread ends."""
        with self._lock:  # a pump's close() waits: it must not close a socket before it is shut down here
            self.reset_done = True
            for sock in (self.client, self.upstream):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
                    sock.shutdown(socket.SHUT_RD)  # wakes the pump blocked in recv on it
                except OSError:
                    pass
        self.close()

    def close(self) -> None:
        with self._lock:
            for sock in (self.client, self.upstream):
                try:
                    # A pump still blocked reading this socket wakes: closing the descriptor alone would leave the
                    # socket open under that read, and its peer -- the server -- connected for good.
                    sock.shutdown(socket.SHUT_RD)
                except OSError:
                    pass
                try:
                    sock.close()
                except OSError:
                    pass
        self.proxy.forget(self)


class Proxy:
    """The listener, the links it relays and the state every pump reads (delay, partition)."""

    def __init__(self, upstream: tuple[str, int], delay_s: float) -> None:
        self.upstream = upstream
        self.delay_s = delay_s
        #: Set while the network delivers; cleared during a partition (pumps wait on it).
        self.healed = threading.Event()
        self.healed.set()
        self.links: set[Link] = set()
        #: The wake-up lag the links learned last (seconds): where a new link starts.
        self.lag = 0.0
        self.accepted = 0
        self.resets = 0
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=1024)

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def forget(self, link: Link) -> None:
        with self._lock:
            self.links.discard(link)

    def serve(self) -> None:
        """Accept forever; each client gets its own connection to the server, made as it arrives."""
        while True:
            client, _ = self.listener.accept()
            threading.Thread(target=self._open, args=(client,), name="open", daemon=True).start()

    def _open(self, client: socket.socket) -> None:
        self.healed.wait()  # during a partition the server is out of reach: no connection is made
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
            client.close()
            return
        upstream.settimeout(None)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a chunk goes out when it is due
        with self._lock:
            self.accepted += 1
            self.links.add(Link(self, client, upstream))

    def set_delay(self, delay_s: float) -> None:
        self.delay_s = max(0.0, float(delay_s))

    def partition(self) -> None:
        self.healed.clear()

    def heal(self) -> None:
        self.healed.set()

    def reset(self) -> int:
        """RST every relayed connection; how many there were."""
        with self._lock:
            links = list(self.links)
        for link in links:
            link.reset()
        self.resets += 1
        return len(links)

    def stats(self) -> dict[str, Any]:
        return {"delay_s": self.delay_s, "partitioned": not self.healed.is_set(), "links": len(self.links),
                "accepted": self.accepted, "resets": self.resets}

    def command(self, request: dict[str, Any]) -> dict[str, Any]:
        """Carry out one control request; the reply says what the proxy is doing now."""
        op = request.get("op")
        reply: dict[str, Any] = {}
        if op == "set":
            self.set_delay(float(request["delay_s"]))
        elif op == "partition":
            self.partition()
        elif op == "heal":
            self.heal()
        elif op == "reset":
            reply["reset_links"] = self.reset()
        elif op != "stats":
            return {"error": f"unknown op {op!r}"}
        return {**reply, **self.stats()}


def control_socket(path: Path) -> socket.socket:
    """The listening Unix socket of the control channel (bound before the proxy says it is ready)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    return server


def _control(proxy: Proxy, server: socket.socket) -> None:
    """Answer control requests, one connection at a time."""
    while True:
        conn, _ = server.accept()
        with conn, conn.makefile("rwb") as stream:
            for line in stream:
                try:
                    reply = proxy.command(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    reply = {"error": f"{exc.__class__.__name__}: {exc}"}
                stream.write(json.dumps(reply).encode() + b"\n")
                stream.flush()


def main(argv: list[str]) -> int:
    """Start the proxy from its spec file, report ready, serve until killed."""
    from bench.child import die_with_parent

    die_with_parent()
    spec = json.loads(Path(argv[1]).read_text())
    folder = Path(spec["folder"])
    lower_timer_slack()  # before any thread starts: pumps inherit it
    proxy = Proxy((spec["host"], int(spec["port"])), float(spec.get("delay_s", 0.0)))
    control = control_socket(folder / "control.sock")
    threading.Thread(target=_control, args=(proxy, control), name="control", daemon=True).start()
    ready = folder / "ready.json"
    tmp = folder / "ready.json.tmp"
    tmp.write_text(json.dumps({"port": proxy.port, "pid": os.getpid()}))
    os.replace(tmp, ready)
    proxy.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
