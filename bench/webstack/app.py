"""The Flask app a real server runs: one request = one token through a Local and a connection strategy.

Contract: :func:`create_app` builds a Flask app from its settings (``impl``, ``strategy``, ``connect`` -- the
keyword arguments of ``pymysql.connect`` -- ``concurrency``, and ``driver`` when one is named): one Local and one
strategy per server process, made when the app is made, as an application's module-level objects would be.
``GET /q?t=TOKEN`` puts the token into the Local under test (any ``localimpls`` name or ``package.module:Class``,
or ``flask-g`` for ``flask.g``), yields as a handler doing I/O does (``time.sleep``, patched under gevent), runs
``SELECT %s`` with the token through the strategy, reads the Local again and answers ``{"local": ..., "row":
...}``; any error is HTTP 500 with the error's class.  Every reply carries the answering process's pid in the
:data:`bench.webstack.PID_HEADER` header.  The app never reconnects or repairs a connection: it uses it as an
application does.
``GET /_load?hold=S`` says which load this process runs (gevent's patches, OS thread, greenlet, pid, the most
requests it had in flight) after holding the request ``S`` seconds, so that overlapping requests show whether they
ran on OS threads or greenlets.

A server process imports this module after gevent patched (if it does); nothing here patches.  The settings
(with the server's password) come from a private file named by :data:`ENV_APP_SPEC` (:func:`create_app_from_env`).
"""

from __future__ import annotations

import atexit
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, g, jsonify, request

from bench.cell.db.workload import select_token
from bench.cell.drivers import use_named
from bench.cell.strategies import build_strategy
from bench.child import die_with_parent
from bench.webstack import PID_HEADER
from bench.webstack.handler import (
    InFlight,
    Slot,
    error_reply,
    hold_seconds,
    io_sleep_of,
    process_facts,
    read_settings,
    reply,
)

log = logging.getLogger(__name__)


def load_facts() -> dict[str, Any]:
    """Which load this process runs (:func:`bench.webstack.handler.process_facts`) and the server's software."""
    return {**process_facts(), "server_software": str(request.environ.get("SERVER_SOFTWARE", ""))}


def _query(strategy: Any, token: str) -> Any:
    with strategy.checkout() as conn:
        return select_token(conn, token)


def _routes(app: Flask, slot: Slot, strategy: Any, io_sleep: float) -> None:
    flight = InFlight()

    @app.get("/q")
    def query() -> Any:
        token = request.args.get("t", "")
        try:
            slot.set(token)
            time.sleep(io_sleep)  # the switch a handler doing I/O gives (gevent's sleep when patched)
            row = _query(strategy, token)
            return jsonify(reply(slot.get(), row))
        except Exception as exc:  # an app answers 500; the class is what the client counts
            return jsonify(error_reply(exc)), 500

    @app.get("/_load")
    def load() -> Any:
        hold = hold_seconds(request.args.get("hold"))
        with flight:
            time.sleep(hold)
            return jsonify(**load_facts(), in_flight_peak=flight.peak)


def _stamp_pid(response: Response) -> Response:
    """Every reply names the server process that made it (:data:`bench.webstack.PID_HEADER`)."""
    response.headers[PID_HEADER] = str(os.getpid())
    return response


def create_app(settings: Mapping[str, Any], *, on_exit: Callable[[Callable[[], None]], Any] = atexit.register) -> Flask:
    """The app for one server process: its Local and its strategy are made here, once."""
    impl, strategy_name = str(settings["impl"]), str(settings["strategy"])
    use_named(settings.get("driver"))  # the MySQL driver the strategy speaks (--driver; none: PyMySQL)
    strategy = build_strategy(strategy_name, dict(settings["connect"]), int(settings.get("concurrency", 1)))
    on_exit(strategy.close)
    app = Flask("ctxbench_stack")
    app.config["CTXBENCH"] = {"impl": impl, "strategy": strategy_name}
    app.after_request(_stamp_pid)
    slot = Slot(g) if impl == "flask-g" else Slot.of_impl(impl)  # flask.g, or a Local made now, before any request
    _routes(app, slot, strategy, io_sleep_of(settings))
    return app


def create_app_from_env() -> Flask:
    """The app whose settings are in the file :data:`ENV_APP_SPEC` names; SystemExit with one line if unusable.

    A server's worker process (gunicorn's) builds it: it is made to die with the server's master process
    (:func:`bench.child.die_with_parent`).
    """
    die_with_parent()
    return create_app(read_settings())
