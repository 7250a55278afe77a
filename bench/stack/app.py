"""The Flask app a real server runs: one request = one token through a Local and a connection strategy.

Contract: :func:`create_app` builds a Flask app from its settings (``impl``, ``strategy``, ``connect`` -- the
keyword arguments of ``pymysql.connect`` -- and ``concurrency``): one Local and one strategy per server process,
made when the app is made, as an application's module-level objects would be.  ``GET /q?t=TOKEN`` puts the token
into the Local under test (any ``localimpls`` name or ``package.module:Class``, or ``flask-g`` for ``flask.g``),
yields as a handler doing I/O does (``time.sleep``, patched under gevent), runs ``SELECT %s`` with the token through
the strategy, reads the Local again and answers ``{"local": ..., "row": ...}``; any error is HTTP 500 with the
error's class.  Every reply carries the answering process's pid in the :data:`bench.stack.PID_HEADER` header.
The app never reconnects or repairs a connection: it uses it as an application does.
``GET /_load?hold=S`` says which load this process runs (gevent's patches, OS thread, greenlet, pid, the most
requests it had in flight) after holding the request ``S`` seconds, so that overlapping requests show whether they
ran on OS threads or greenlets.

A server process imports this module after gevent patched (if it does); nothing here patches.  The settings
(with the server's password) come from a private file named by :data:`ENV_APP_SPEC` (:func:`create_app_from_env`).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, g, jsonify, request

import localimpls
from bench.cell.strategies import build_strategy
from bench.stack import ENV_APP_SPEC, PID_HEADER

log = logging.getLogger(__name__)

#: Seconds the handler sleeps between writing and reading the Local (0: a bare switch, as any I/O gives).
DEFAULT_IO_SLEEP = 0.0
#: The longest ``/_load`` may hold a request.
MAX_HOLD = 2.0


class _Slot:
    """Set/get of the per-request token on the Local under test."""

    def __init__(self, impl: str) -> None:
        self.holder: Any = g if impl == "flask-g" else localimpls.resolve(impl)()

    def set(self, token: str) -> None:
        self.holder.token = token

    def get(self) -> Any:
        return getattr(self.holder, "token", None)


class _InFlight:
    """How many requests this process has in flight, and the most it has had."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held for two statements only: never across a switch
        self.now = 0
        self.peak = 0

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def native_thread_id() -> int:
    """The OS thread's id, even when gevent patched threading."""
    if "gevent" in sys.modules:
        from gevent import monkey

        return int(monkey.get_original("threading", "get_native_id")())
    return threading.get_native_id()


def load_facts() -> dict[str, Any]:
    """Which load this process runs: gevent's patches, the Local type threading gives, OS thread and greenlet."""
    patched = {"threading": False, "socket": False}
    if "gevent" in sys.modules:
        from gevent import monkey

        patched = {name: bool(monkey.is_module_patched(name)) for name in patched}
    in_greenlet = False
    if "greenlet" in sys.modules:
        import greenlet

        in_greenlet = greenlet.getcurrent().parent is not None
    local_type = threading.local
    return {"pid": os.getpid(), "threading_patched": patched["threading"], "socket_patched": patched["socket"],
            "threading_local": f"{local_type.__module__}.{local_type.__qualname__}",
            "native_thread_id": native_thread_id(), "greenlet": in_greenlet,
            "server_software": str(request.environ.get("SERVER_SOFTWARE", ""))}


def _query(strategy: Any, token: str) -> Any:
    with strategy.checkout() as conn:
        cursor = conn.cursor()
        try:
            cursor.execute("SELECT %s", (token,))
            row = cursor.fetchone()
        finally:
            cursor.close()
    return row[0] if row else None


def _routes(app: Flask, slot: _Slot, strategy: Any, io_sleep: float) -> None:
    flight = _InFlight()

    @app.get("/q")
    def query() -> Any:
        token = request.args.get("t", "")
        try:
            slot.set(token)
            time.sleep(io_sleep)  # the switch a handler doing I/O gives (gevent's sleep when patched)
            row = _query(strategy, token)
            return jsonify(local=slot.get(), row=row)
        except Exception as exc:  # an app answers 500; the class is what the client counts
            return jsonify(error=type(exc).__name__), 500

    @app.get("/_load")
    def load() -> Any:
        hold = min(MAX_HOLD, max(0.0, float(request.args.get("hold", 0) or 0)))
        flight.enter()
        try:
            time.sleep(hold)
            return jsonify(**load_facts(), in_flight_peak=flight.peak)
        finally:
            flight.leave()


def _stamp_pid(response: Response) -> Response:
    """Every reply names the server process that made it (:data:`bench.stack.PID_HEADER`)."""
    response.headers[PID_HEADER] = str(os.getpid())
    return response


def create_app(settings: Mapping[str, Any], *, on_exit: Callable[[Callable[[], None]], Any] = atexit.register) -> Flask:
    """The app for one server process: its Local and its strategy are made here, once."""
    impl, strategy_name = str(settings["impl"]), str(settings["strategy"])
    slot_factory = _Slot  # flask.g or a Local made now, before any request
    strategy = build_strategy(strategy_name, dict(settings["connect"]), int(settings.get("concurrency", 1)))
    on_exit(strategy.close)
    app = Flask("ctxbench_stack")
    app.config["CTXBENCH"] = {"impl": impl, "strategy": strategy_name}
    app.after_request(_stamp_pid)
    _routes(app, slot_factory(impl), strategy, float(settings.get("io_sleep", DEFAULT_IO_SLEEP)))
    return app


def create_app_from_env() -> Flask:
    """The app whose settings are in the file :data:`ENV_APP_SPEC` names; SystemExit with one line if unusable."""
    path = os.environ.get(ENV_APP_SPEC)
    if not path:
        raise SystemExit(f"ctxbench stack app: {ENV_APP_SPEC} is not set")
    try:
        with open(path, encoding="utf-8") as fh:
            settings = json.load(fh)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"ctxbench stack app: cannot read its settings: {exc.__class__.__name__}") from None
    return create_app(settings)
