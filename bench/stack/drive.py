"""The HTTP load on a real server: Locust as a library, headless, in its own process.

``python -m bench.stack.drive SPEC OUT`` -- SPEC a JSON file ``{"url", "concurrency", "duration", "warmup",
"request_timeout"}``, OUT where the JSON result goes.  Contract: ``concurrency`` Locust users (``FastHttpUser``, no
wait between requests) are all started at once through ``Environment.create_local_runner()`` (no web UI, no
master: nothing binds a port); each request carries a fresh unique token and its reply is checked against that
token alone: ``wrong_local`` (HTTP 200 whose Local held another token), ``silent_wrong`` (HTTP 200 carrying another
request's row), ``http_errors`` by status (and ``app_errors``: the error class an HTTP 500 named),
``client_errors`` by exception class (no reply within ``request_timeout`` is one).  Only requests that ended inside
the window (after ``warmup``, for ``duration``) are counted; ``ops_per_s`` and the latency percentiles are over
those.  ``warmup`` holds the same counts for the requests that ended before the window (where a shared connection
often fails first).  The run stops by itself at the window's end.

Locust patches with gevent when it is imported, so nothing else may share this process.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

#: Seconds a request may wait for its reply (connect, send, receive) unless the spec says otherwise.
DEFAULT_REQUEST_TIMEOUT = 5.0
#: Users started per second (Locust warns above 100): every user is running within a fraction of a second.
SPAWN_RATE = 100


class Tally:
    """Every request's outcome, stamped: (start, end, kind, label, detail); summarised over a window."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, float, str, str, str]] = []

    def add(self, start: float, kind: str, label: str = "", detail: str = "") -> None:
        self.rows.append((start, time.perf_counter(), kind, label, detail))

    def summary(self, window: tuple[float, float]) -> dict[str, Any]:
        """Counts, ops/s and latency percentiles over the requests that ended inside ``window``."""
        begin, end = window
        inside = [row for row in self.rows if begin <= row[1] < end]
        counts: dict[str, Any] = {"ok": 0, "wrong_local": 0, "silent_wrong": 0, "http_errors": {}, "client_errors": {},
                                  "app_errors": {}}
        for _, _, kind, label, detail in inside:
            if kind in ("http_errors", "client_errors"):
                counts[kind][label] = counts[kind].get(label, 0) + 1
                if detail:
                    counts["app_errors"][detail] = counts["app_errors"].get(detail, 0) + 1
            else:
                for part in kind.split("+"):
                    counts[part] += 1
        span = end - begin
        latencies = sorted(row[1] - row[0] for row in inside)
        return {"requests": len(inside), **counts, "measured_s": round(span, 4),
                "ops_per_s": round(len(inside) / span, 1) if span > 0 else None,
                "latency_ms": percentiles_ms(latencies)}


def percentiles_ms(sorted_s: Sequence[float]) -> dict[str, float | None]:
    """p50/p90/p99/max of sorted durations in seconds, in milliseconds (None when empty); nearest rank."""
    if not sorted_s:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    n = len(sorted_s)

    def rank(q: float) -> float:
        return round(sorted_s[min(n - 1, max(0, int(q * n + 0.5) - 1))] * 1e3, 3)

    return {"p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "max": round(sorted_s[-1] * 1e3, 3)}


def classify(token: str, status: int, body: bytes | None) -> tuple[str, str, str]:
    """A reply's kind for the tally: ``ok``, ``wrong_local`` and/or ``silent_wrong`` (joined by ``+``), or an
    ``http_errors`` status label and the error class the app named (if any)."""
    if status != 200:
        return "http_errors", str(status), _error_class(body)
    try:
        seen = json.loads(body or b"")
        local, row = seen["local"], seen["row"]
    except (ValueError, KeyError, TypeError):
        return "http_errors", "200-unreadable", ""
    wrong = [name for name, value in (("wrong_local", local), ("silent_wrong", row)) if value != token]
    return ("+".join(wrong) if wrong else "ok"), "", ""


def _error_class(body: bytes | None) -> str:
    try:
        error = json.loads(body or b"").get("error")
    except (ValueError, AttributeError):
        return ""
    return error if isinstance(error, str) else ""


def _user_class(url: str, timeout: float, tally: Tally) -> type:
    from locust import FastHttpUser, constant, task

    prefix = os.urandom(4).hex()
    counter = iter(range(1 << 62))

    class StackUser(FastHttpUser):
        host = url
        wait_time = constant(0)
        network_timeout = timeout
        connection_timeout = timeout

        @task
        def query(self) -> None:
            token = f"{prefix}-{next(counter)}"
            start = time.perf_counter()
            try:
                resp = self.client.get(f"/q?t={token}", name="/q")
            except Exception as exc:  # anything the client raised instead of a reply
                tally.add(start, "client_errors", type(exc).__name__)
                return
            if not resp.status_code:  # no HTTP reply at all (a 4xx/5xx reply also sets resp.error)
                tally.add(start, "client_errors", type(resp.error).__name__ if resp.error else "no-reply")
                return
            tally.add(start, *classify(token, int(resp.status_code), resp.content))

    return StackUser


def run(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Run the load the spec describes; the summary of the window."""
    import gevent
    from locust.env import Environment

    tally = Tally()
    timeout = float(spec.get("request_timeout", DEFAULT_REQUEST_TIMEOUT))
    users = int(spec["concurrency"])
    env = Environment(user_classes=[_user_class(str(spec["url"]), timeout, tally)])
    runner = env.create_local_runner()
    started = time.perf_counter()
    runner.start(users, spawn_rate=SPAWN_RATE)
    begin = started + float(spec["warmup"])
    end = begin + float(spec["duration"])
    gevent.sleep(max(0.0, end - time.perf_counter()))
    runner.quit()
    runner.greenlet.join(timeout=timeout + 1)
    during_warmup = {key: value for key, value in tally.summary((started, begin)).items()
                     if key in ("requests", "ok", "wrong_local", "silent_wrong", "http_errors", "app_errors",
                                "client_errors")}
    return {**tally.summary((begin, end)), "warmup": during_warmup, "users": users, "request_timeout_s": timeout}


def main(argv: list[str]) -> int:
    """``SPEC OUT``: run and write the result; 2 with one line on stderr when the arguments are wrong."""
    if len(argv) != 2:
        sys.stderr.write("usage: python -m bench.stack.drive SPEC OUT\n")
        return 2
    import locust  # noqa: F401  (patches with gevent before anything else opens a socket)

    with open(argv[0], encoding="utf-8") as fh:
        spec = json.load(fh)
    result = run(spec)
    tmp = f"{argv[1]}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    os.replace(tmp, argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
