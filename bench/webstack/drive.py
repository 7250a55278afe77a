"""The HTTP load on a real server: Locust as a library, headless, in its own process.

``python -m bench.webstack.drive SPEC OUT`` -- SPEC a JSON file holding the stack cell's coordinates and timing
(``server``, ``workers``, ``impl``, ``strategy``, ``concurrency``, ``duration``, ``warmup``, ``request_timeout``;
others are ignored) and the ``url`` to load; OUT where the cell's :class:`~bench.records.kinds.StackRecord` goes,
in its JSON form (:func:`bench.records.schema.to_json`).  Contract: ``concurrency`` Locust users
(``FastHttpUser``, no wait between requests) are all started at once through ``Environment.create_local_runner()``
(no web UI, no master: nothing binds a port); each request carries a fresh unique token and its reply is checked
against that token alone: ``wrong_local`` (HTTP 200 whose Local held another token), ``silent_wrong`` (HTTP 200
carrying another request's row), ``http_errors`` by status (and ``app_errors``: the error class an HTTP 500 named),
``client_errors`` by exception class (no reply within ``request_timeout`` is one).  Only requests that ended inside
the window (after ``warmup``, for ``duration``) are counted; ``ops_per_s`` and the latency histogram
(``latency_hist``, :mod:`bench.records.latency`) with the percentiles read from it (``latency_ms``) are over those.
``per_process`` splits the same counts, rate and histogram by the server pid each reply named
(:data:`bench.webstack.PID_HEADER`; requests with no reply have no pid): the shares add up to the totals.  ``warmup``
holds the counts only for the requests that ended before the window (where a shared connection often fails
first).  ``outcome`` is ``ok`` when every request came back right, ``errors`` (with the ``reason``) when any came
back wrong or failed or none ended inside the window.  What only the parent knows -- ``model_load``, ``processes``,
``load_facts``, the server's pids, ``cell_wall_s``, and whether the server still answers afterwards -- it adds.
The run stops by itself at the window's end.

Locust patches with gevent when it is imported, so nothing else may share this process.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from bench.records import latency
from bench.records.kinds import UNSET, StackRecord
from bench.records.schema import to_json
from bench.webstack import PID_HEADER

#: Seconds a request may wait for its reply (connect, send, receive) unless the spec says otherwise.
DEFAULT_REQUEST_TIMEOUT = 5.0
#: Users started per second (Locust warns above 100): every user is running within a fraction of a second.
SPAWN_RATE = 100


class Row(NamedTuple):
    """One request's outcome: when it started and ended, its kind for the tally, and the server pid that answered."""

    start: float
    end: float
    kind: str
    label: str
    detail: str
    pid: int | None  # None: no reply, or a reply without the pid header


@dataclass
class Counts:
    """The outcomes of some requests: right, wrong (by how), failed (by HTTP status or client error class).

    Its :func:`dataclasses.asdict` is the record's ``warmup`` value, field for field.
    """

    requests: int = 0
    ok: int = 0  # answered 200 with the request's own token and row
    wrong_local: int = 0
    silent_wrong: int = 0
    http_errors: dict[str, int] = field(default_factory=dict)  # status -> count
    client_errors: dict[str, int] = field(default_factory=dict)  # error class -> count
    app_errors: dict[str, int] = field(default_factory=dict)  # the error class an HTTP 500 named -> count

    @property
    def errors(self) -> int:
        """Requests that failed: non-2xx statuses and requests with no reply."""
        return sum(self.http_errors.values()) + sum(self.client_errors.values())

    @property
    def failure(self) -> str | None:
        """Why these requests make a cell's outcome ``errors``; None when every one came back right."""
        failed = self.wrong_local + self.silent_wrong + self.errors
        if failed:
            return f"{failed} of {self.requests} requests came back wrong or failed"
        if not self.requests:
            return "no request ended inside the window"
        return None


def _bump(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1


def counts(rows: Sequence[Row]) -> Counts:
    """``requests``, ``ok``, ``wrong_local``, ``silent_wrong`` and the error classes of ``rows``."""
    out = Counts(requests=len(rows))
    for row in rows:
        if row.kind in ("http_errors", "client_errors"):
            _bump(out.http_errors if row.kind == "http_errors" else out.client_errors, row.label)
            if row.detail:
                _bump(out.app_errors, row.detail)
            continue
        parts = row.kind.split("+")  # "ok", or "wrong_local" and/or "silent_wrong"
        out.ok += "ok" in parts
        out.wrong_local += "wrong_local" in parts
        out.silent_wrong += "silent_wrong" in parts
    return out


class _Timing(NamedTuple):
    """Requests per second over a span, and their latencies: the HDR histogram and the percentiles read from it."""

    ops_per_s: float | None
    latency_ms: dict[str, float | None]
    latency_hist: dict[str, Any]  # the histogram's JSON form (bench.records.latency.encode)


def _timing(rows: Sequence[Row], span: float) -> _Timing:
    """``ops_per_s`` over ``span``, and ``latency_ms`` read from the rows' HDR histogram, which goes in too."""
    hist = latency.from_seconds([row.end - row.start for row in rows])
    return _Timing(round(len(rows) / span, 1) if span > 0 else None,
                   {k: v for k, v in latency.summary_ms(hist).items() if k != "count"}, latency.encode(hist))


def per_process(rows: Sequence[Row], span: float) -> list[dict[str, Any]]:
    """One share per server pid that answered (sorted by pid; requests with no pid last, as ``pid: None``).

    Each share counts ``requests``, ``ok``, ``silent_wrong``, ``wrong_local``, ``errors`` (HTTP and client errors),
    and carries ``ops_per_s``, ``latency_ms`` and ``latency_hist``; the shares add up to the totals.
    """
    by_pid: dict[int | None, list[Row]] = {}
    for row in rows:
        by_pid.setdefault(row.pid, []).append(row)
    shares = []
    for pid in sorted(by_pid, key=lambda p: (p is None, p or 0)):
        part = counts(by_pid[pid])
        shares.append({"pid": pid, "requests": part.requests, "ok": part.ok, "silent_wrong": part.silent_wrong,
                       "wrong_local": part.wrong_local, "errors": part.errors, **_timing(by_pid[pid], span)._asdict()})
    return shares


class Tally:
    """Every request's outcome as a :class:`Row`; summarised over a window."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(self, start: float, kind: str, label: str = "", detail: str = "", pid: int | None = None) -> None:
        self.rows.append(Row(start, time.perf_counter(), kind, label, detail, pid))

    def inside(self, window: tuple[float, float]) -> list[Row]:
        """The rows of the requests that ended inside ``window``."""
        begin, end = window
        return [row for row in self.rows if begin <= row.end < end]

    def record(self, spec: Mapping[str, Any], started: float) -> StackRecord:
        """The cell's record: the requests that ended inside its window (``warmup`` s after ``started``, for
        ``duration`` s) -- counts, ops/s, the latency histogram and its percentiles, the shares per server pid --
        and the warm-up's own counts."""
        begin, end = window(spec, started)
        inside = self.inside((begin, end))
        tallied = counts(inside)
        reason = tallied.failure
        timing = _timing(inside, end - begin)
        return StackRecord(
            server=str(spec["server"]), workers=int(spec["workers"]), impl=str(spec["impl"]),
            strategy=str(spec["strategy"]), concurrency=int(spec["concurrency"]),
            outcome="ok" if reason is None else "errors", reason=UNSET if reason is None else reason,
            duration_s=spec["duration"], warmup_s=spec["warmup"],
            warmup=asdict(counts(self.inside((started, begin)))),
            request_timeout_s=float(spec.get("request_timeout", DEFAULT_REQUEST_TIMEOUT)),
            requests=tallied.requests, ok=tallied.ok, wrong_local=tallied.wrong_local,
            silent_wrong=tallied.silent_wrong, http_errors=tallied.http_errors, app_errors=tallied.app_errors,
            client_errors=tallied.client_errors, ops_per_s=timing.ops_per_s,
            latency_ms=timing.latency_ms, latency_hist=timing.latency_hist,
            per_process=per_process(inside, end - begin),
        )


def window(spec: Mapping[str, Any], started: float) -> tuple[float, float]:
    """The measured window of a run whose users were started at ``started``: ``warmup`` s later, ``duration`` s."""
    begin = started + float(spec["warmup"])
    return begin, begin + float(spec["duration"])


def pid_of(headers: Any) -> int | None:
    """The server pid a reply's :data:`bench.webstack.PID_HEADER` names, or None."""
    value = headers.get(PID_HEADER) if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


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
            tally.add(start, *classify(token, int(resp.status_code), resp.content), pid=pid_of(resp.headers))

    return StackUser


def run(spec: Mapping[str, Any]) -> StackRecord:
    """Run the load the spec describes; the cell's record of its window."""
    import gevent
    from locust.env import Environment

    tally = Tally()
    timeout = float(spec.get("request_timeout", DEFAULT_REQUEST_TIMEOUT))
    env = Environment(user_classes=[_user_class(str(spec["url"]), timeout, tally)])
    runner = env.create_local_runner()
    started = time.perf_counter()
    runner.start(int(spec["concurrency"]), spawn_rate=SPAWN_RATE)
    gevent.sleep(max(0.0, window(spec, started)[1] - time.perf_counter()))
    runner.quit()
    runner.greenlet.join(timeout=timeout + 1)
    return tally.record(spec, started)


def main(argv: list[str]) -> int:
    """``SPEC OUT``: run and write the record; 2 with one line on stderr when the arguments are wrong."""
    if len(argv) != 2:
        sys.stderr.write("usage: python -m bench.webstack.drive SPEC OUT\n")
        return 2
    import locust  # noqa: F401  (patches with gevent before anything else opens a socket)

    with open(argv[0], encoding="utf-8") as fh:
        spec = json.load(fh)
    rec = run(spec)
    tmp = f"{argv[1]}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(to_json(rec), fh)
    os.replace(tmp, argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
