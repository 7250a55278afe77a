"""The ASGI twin of the Flask app: Starlette under uvicorn, one request = one token through a Local and an async
connection strategy.

Contract: :func:`create_app` builds a Starlette app from the same settings as :mod:`bench.webstack.app` (``impl``,
``strategy``, ``connect`` -- ``pymysql.connect``'s keywords -- ``concurrency``, ``io_sleep``): one Local per server
process, made with the app, and one strategy of the asyncio load (:func:`bench.cell.strategies.build_strategy` with
``load="asyncio"``: aiomysql, asyncmy, SQLAlchemy's async engine or ``to-thread``) built on the server's event loop
when the lifespan starts and closed when it ends.  ``GET /q?t=TOKEN`` puts the token into the Local, yields
(``await asyncio.sleep(io_sleep)``: other requests' tasks run), runs ``SELECT %s`` with the token through the
strategy, reads the Local again and answers the same body as the Flask app (:func:`bench.webstack.handler.reply`);
any error is HTTP 500 with the error's class.  Every reply the app makes carries the process's pid in
:data:`bench.webstack.PID_HEADER`.  ``GET /_load?hold=S`` holds the request ``S`` seconds (awaiting, so overlapping
requests overlap as tasks) and reports the process facts, the running event loop (``uvloop`` or asyncio's own),
whether the request ran in an asyncio task, the server software and the most requests in flight.

The app never reconnects or repairs a connection.  ``flask-g`` is Flask's and is refused here.  Nothing here
imports a database driver before the lifespan starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.cell.db.aloop import aselect_token
from bench.cell.db.workload import select_token
from bench.cell.drivers import use_named
from bench.cell.strategies import build_strategy, check_product
from bench.child import die_with_parent
from bench.webstack import PID_HEADER, STACK_IMPLS_EXTRA
from bench.webstack.handler import (
    APP_LINE,
    InFlight,
    Slot,
    error_reply,
    hold_seconds,
    io_sleep_of,
    process_facts,
    read_settings,
    reply,
)

#: The load every strategy of this app is built for.
LOAD = "asyncio"


def _json(body: Mapping[str, Any], status: int = 200) -> JSONResponse:
    """A JSON reply stamped with this process's pid."""
    return JSONResponse(dict(body), status_code=status, headers={PID_HEADER: str(os.getpid())})


def server_software() -> str:
    """``uvicorn/VERSION`` when uvicorn runs this process (the ASGI scope names no server), else ``""``."""
    uvicorn = sys.modules.get("uvicorn")
    return f"uvicorn/{getattr(uvicorn, '__version__', '?')}" if uvicorn is not None else ""


def load_facts() -> dict[str, Any]:
    """Which load this process runs: the process facts, whether its loop is uvloop's, the server software."""
    facts = process_facts()
    return {**facts, "uvloop": str(facts.get("event_loop") or "").startswith("uvloop"),
            "server_software": server_software()}


async def aquery(strategy: Any, token: str) -> Any:
    """``SELECT %s`` of ``token`` through one checkout of an asyncio strategy: in ``asyncio.to_thread`` for blocking
    connections (``sync_ops``), bounded by ``asyncio.wait_for`` when the strategy has an ``op_timeout``."""
    async with strategy.checkout() as conn:
        if getattr(strategy, "sync_ops", False):
            return await asyncio.to_thread(select_token, conn, token)
        timeout = getattr(strategy, "op_timeout", None)
        if timeout:
            return await asyncio.wait_for(aselect_token(conn, token), timeout)
        return await aselect_token(conn, token)


async def build(settings: Mapping[str, Any]) -> Any:
    """The settings' strategy, built for the asyncio load on the running loop (awaited when its builder is async)."""
    name = str(settings["strategy"])
    use_named(settings.get("driver"))  # to-thread's blocking driver (--driver; none: PyMySQL)
    strategy = build_strategy(name, dict(settings["connect"]), int(settings.get("concurrency", 1)), load=LOAD)
    if inspect.isawaitable(strategy):
        strategy = check_product(name, await strategy)
    return strategy


async def close(strategy: Any) -> None:
    """Close a strategy whose ``close()`` may be a coroutine."""
    done = strategy.close()
    if inspect.isawaitable(done):
        await done


class _Handlers:
    """The routes' state: the slot on the Local, the strategy (set at startup), the in-flight counter."""

    def __init__(self, slot: Slot, io_sleep: float) -> None:
        self.slot = slot
        self.io_sleep = io_sleep
        self.strategy: Any = None
        self.flight = InFlight()

    async def query(self, request: Request) -> JSONResponse:
        token = request.query_params.get("t", "")
        try:
            self.slot.set(token)
            await asyncio.sleep(self.io_sleep)  # the switch a handler doing I/O gives: other tasks run here
            row = await aquery(self.strategy, token)
            return _json(reply(self.slot.get(), row))
        except Exception as exc:  # an app answers 500; the class is what the client counts
            return _json(error_reply(exc), 500)

    async def load(self, request: Request) -> JSONResponse:
        hold = hold_seconds(request.query_params.get("hold"))
        with self.flight:
            await asyncio.sleep(hold)
            return _json({**load_facts(), "in_flight_peak": self.flight.peak})


def create_app(settings: Mapping[str, Any]) -> Starlette:
    """The app for one server process: its Local now, its strategy when the lifespan starts (on the server's loop),
    closed when it ends.  ValueError when ``impl`` is one only the Flask app has."""
    impl = str(settings["impl"])
    if impl in STACK_IMPLS_EXTRA:
        raise ValueError(f"impl {impl!r} is Flask's: the ASGI app serves localimpls names and package.module:Class")
    handlers = _Handlers(Slot.of_impl(impl), io_sleep_of(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            handlers.strategy = await build(settings)
        except Exception as exc:  # uvicorn then stops the start; this line says why (its own last line does not)
            sys.stderr.write(f"{APP_LINE}strategy {settings['strategy']!r} could not be built: "
                             f"{type(exc).__name__}: {exc}\n")
            sys.stderr.flush()
            raise
        try:
            yield
        finally:
            await close(handlers.strategy)

    routes = [Route("/q", handlers.query, methods=["GET"]), Route("/_load", handlers.load, methods=["GET"])]
    return Starlette(routes=routes, lifespan=lifespan)


def create_app_from_env() -> Starlette:
    """The app whose settings are in the file :data:`bench.webstack.ENV_APP_SPEC` names (uvicorn's ``--factory``);
    SystemExit with one line if unusable.  A worker process of ``uvicorn --workers N`` builds it: it is made to die
    with the supervisor (:func:`bench.child.die_with_parent`; uvicorn's workers would serve on without it)."""
    die_with_parent()
    try:
        return create_app(read_settings())
    except ValueError as exc:
        raise SystemExit(f"{APP_LINE}{exc}") from None
