"""Why ``gevent.pywsgi`` answers the stack's requests at ~44 ms: Nagle's algorithm meets the client's delayed ACK.

``gevent.pywsgi`` writes a response's headers and its body in two ``send`` calls and leaves Nagle's algorithm on
(gevent does not set ``TCP_NODELAY`` on the sockets it accepts).  On a keep-alive connection the body, a small
segment sent while the headers are not yet acknowledged, waits for the client's delayed ACK (~40 ms on Linux).
This script shows it without ctxbench's app or load: one patched process, a ``gevent.pywsgi`` server greenlet on
a free 127.0.0.1 port with a three-line WSGI app, and one keep-alive ``http.client`` connection sending requests
one after another -- first as gevent serves them, then with ``TCP_NODELAY`` set on each accepted socket.

    python benchmarks/pywsgi_nodelay.py [--requests N]

No process is started; the server greenlet is stopped before the script ends.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402  (after patching, as a gevent app imports)
import http.client  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from gevent.pywsgi import WSGIServer  # noqa: E402

BODY = b'{"ok": 1}'


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
    return [BODY]


class NoDelayServer(WSGIServer):
    """``gevent.pywsgi`` with Nagle's algorithm off on every accepted socket."""

    def handle(self, sock: socket.socket, address: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


def timed(server_class: type[WSGIServer], requests: int) -> list[float]:
    """Milliseconds per request over one keep-alive connection to a fresh server of ``server_class``."""
    server = server_class(("127.0.0.1", 0), app, log=None)
    server.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
        times = []
        for _ in range(requests):
            start = time.perf_counter()
            conn.request("GET", "/")
            reply = conn.getresponse()
            assert reply.status == 200 and reply.read() == BODY
            times.append((time.perf_counter() - start) * 1000)
        conn.close()
        return times
    finally:
        server.stop(timeout=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="requests per server (default 100)")
    args = parser.parse_args()
    if args.requests < 2:
        parser.error("--requests must be at least 2")
    print(f"{args.requests} requests, one keep-alive connection, one at a time")
    for label, cls in (("gevent.pywsgi as shipped", WSGIServer), ("with TCP_NODELAY", NoDelayServer)):
        ms = sorted(timed(cls, args.requests))
        p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
        print(f"{label:26s} p50 {statistics.median(ms):7.2f} ms   p99 {p99:7.2f} ms   min {ms[0]:6.2f} ms")


if __name__ == "__main__":
    main()
