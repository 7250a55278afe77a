"""The Locust users: each one db worker (a greenlet) or one HTTP client of the real stack, every reply checked.

Contract: :class:`DbUser` runs the db mix's operations (``bench.cell.db.loop.run_op``, the tokens and the oracle
of the in-process cell) through the process's one strategy; :class:`StackUser` sends the stack's ``GET /q?t=TOKEN``
and checks the reply with ``bench.webstack.drive.classify``.  Every operation is reported through Locust's request
event: the operation's name (``select_token``, ``/q``...) when it came back right or failed, the exception on error,
and a name of its own when the reply was wrong (:data:`~bench.locustload.tally.SILENT_WRONG_NAME` for another
operation's reply, :data:`~bench.locustload.tally.WRONG_NAME`, :data:`~bench.locustload.tally.WRONG_LOCAL_NAME`).  The
request type says the phase (``mysql``/``GET`` inside the window).  Users stop starting operations when the window ends.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

import gevent
from locust import FastHttpUser, User, constant, task

from bench.cell.db.loop import run_op
from bench.cell.db.workload import OP_CODES, OTHER, classify, judge, mix_cycle
from bench.cell.strategies import worker_handle
from bench.locustload.tally import SILENT_WRONG_NAME, WRONG_KINDS, WRONG_LOCAL_NAME, WRONG_NAME, request_type
from bench.locustload.worker import SIDE
from bench.webstack.drive import classify as classify_reply

#: Operation names by code, as Locust shows them.
OP_NAMES: dict[int, str] = {code: name for name, code in OP_CODES.items()}
#: Seconds an idle user sleeps between looks at whether there is work (after the window, or without a strategy).
IDLE = 0.1


class WrongResult(Exception):
    """A reply that was not the operation's own, returned without any error."""


class DbUser(User):
    """One db worker: the mix's operations through the process's strategy, each reply judged by the oracle."""

    scenario: ClassVar[str] = "db"
    wait_time = constant(0)

    def on_start(self) -> None:
        """A run-wide id, this process's strategy (built by the first user) and this user's handle on it."""
        self.uid = SIDE.next_user(self.environment)
        strategy = SIDE.strategy_for(self.environment)
        self.handle: Any = None
        if strategy is not None:
            try:
                self.handle = worker_handle(strategy, self.uid)
            except Exception as exc:  # a strategy that cannot serve this user: the report says why, the user idles
                SIDE.fail(f"worker_handle: {type(exc).__name__}: {exc}")
        self.recover = getattr(strategy, "recover", None)
        plan = SIDE.plan
        self.nonce = plan.nonce if plan else "none"
        self.prefix = f"{self.nonce}.{self.uid}."
        self.cycle = tuple(OP_CODES[name] for name in mix_cycle(plan.mix)) if plan else (0,)
        self.n = 0

    @task
    def operate(self) -> None:
        """The mix's next operation, its reply judged; idle once the window is over or without a strategy."""
        if self.handle is None or SIDE.window.over():
            gevent.sleep(IDLE)
            return
        op = self.cycle[(self.uid + self.n) % len(self.cycle)]
        n, self.n = self.n, self.n + 1
        SIDE.in_flight += 1
        t0 = time.perf_counter()
        try:
            with self.handle.checkout() as conn:
                expected, reply = run_op(op, conn, self.prefix, self.uid, n)
        except Exception as exc:  # counted by class, reported as Locust's failure; the user carries on
            self._done(t0, OP_NAMES[op], exc, label=classify(exc))
            if self.recover is not None:
                self.recover()
            gevent.sleep(0)
            return
        finally:
            SIDE.in_flight -= 1
        if reply == expected:
            self._done(t0, OP_NAMES[op], None)
            return
        got = reply[0] if isinstance(reply, tuple) and reply else reply
        verdict = judge(got, self.nonce, self.uid)
        name = WRONG_NAME if verdict == OTHER else SILENT_WRONG_NAME
        self._done(t0, name, WrongResult(f"{OP_NAMES[op]}: {WRONG_KINDS[verdict]} reply"), wrong=WRONG_KINDS[verdict])

    def _done(self, t0: float, name: str, exc: BaseException | None, label: str = "", wrong: str = "") -> None:
        """Report one operation to Locust under its phase's request type; tally it when it ended in the window."""
        t_end = time.perf_counter()
        phase = SIDE.window.phase(t_end)
        self.environment.events.request.fire(request_type=request_type("mysql", phase), name=name,
                                             response_time=(t_end - t0) * 1e3, response_length=0, exception=exc,
                                             context={})
        if not SIDE.tally.count_phase(phase):
            return
        if wrong:
            SIDE.tally.wrong_reply(wrong)
        elif exc is not None:
            SIDE.tally.error(label)
        else:
            SIDE.tally.right(t_end - t0)


class StackUser(FastHttpUser):
    """One HTTP client of the real stack's app under ``--host``: ``GET /q?t=TOKEN``, the reply checked."""

    scenario: ClassVar[str] = "stack"
    wait_time = constant(0)
    network_timeout = 5.0
    connection_timeout = 5.0

    def on_start(self) -> None:
        """A run-wide id and this user's token prefix."""
        self.uid = SIDE.next_user(self.environment)
        self.prefix = f"{SIDE.plan.nonce if SIDE.plan else 'none'}-{self.uid}-{os.urandom(2).hex()}"
        self.n = 0

    @task
    def query(self) -> None:
        """``GET /q?t=TOKEN``, the reply judged; idle once the window is over."""
        if SIDE.window.over():
            gevent.sleep(IDLE)
            return
        token = f"{self.prefix}-{self.n}"
        self.n += 1
        SIDE.in_flight += 1
        t0 = time.perf_counter()
        try:
            with self.client.get(f"/q?t={token}", name="/q", catch_response=True) as resp:
                self._judge(resp, token, t0)
        finally:
            SIDE.in_flight -= 1

    def _judge(self, resp: Any, token: str, t0: float) -> None:
        """Name the reply's outcome for Locust (phase, failure, name of its own) and tally it when in the window."""
        t_end = time.perf_counter()
        phase = SIDE.window.phase(t_end)
        resp.request_meta["request_type"] = request_type("GET", phase)
        inside = SIDE.tally.count_phase(phase)
        if not resp.status_code:  # no HTTP reply at all: Locust reports the client's error itself
            if inside:
                SIDE.tally.error(type(resp.error).__name__ if resp.error else "no-reply")
            return
        kind, label, detail = classify_reply(token, int(resp.status_code), resp.content)
        if kind == "http_errors":
            if inside:
                SIDE.tally.http_error(label, detail)
            resp.failure(f"HTTP {label}" + (f": {detail}" if detail else ""))
            return
        if kind == "ok":
            if inside:
                SIDE.tally.right(t_end - t0)
            resp.success()
            return
        resp.request_meta["name"] = SILENT_WRONG_NAME if "silent_wrong" in kind else WRONG_LOCAL_NAME
        for part in kind.split("+"):
            if inside:
                SIDE.tally.wrong_reply(part)
        resp.failure(WrongResult(kind.replace("+", " and ")))
