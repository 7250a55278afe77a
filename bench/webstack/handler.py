"""What the WSGI app and its ASGI twin share: the token's slot on the Local, the in-flight counter, the reply shapes,
the settings file and the process facts ``/_load`` reports.

Contract: nothing here imports a web framework, a server or a database driver, so both apps (:mod:`bench.webstack.app`
under Flask, :mod:`bench.webstack.asgi` under Starlette) build their routes on the same pieces and answer the same
bodies: ``{"local": ..., "row": ...}`` for a request, ``{"error": CLASS}`` (HTTP 500) for a failed one.
:func:`process_facts` says which load the calling code runs under: gevent's patches, the type ``threading.local``
gives, the OS thread, whether it runs in a greenlet other than the hub's root, and whether it runs in an asyncio
task (with the running event loop's class).  Nothing here patches.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

import localimpls
from bench.webstack import ENV_APP_SPEC

#: Seconds the handler sleeps between writing and reading the Local (0: a bare switch, as any I/O gives).
DEFAULT_IO_SLEEP = 0.0
#: The longest ``/_load`` may hold a request.
MAX_HOLD = 2.0
#: How every line the app writes about itself starts (the launcher prefers such a line when a start fails).
APP_LINE = "ctxbench stack app: "


class Slot:
    """Set/get of the per-request token on the Local under test (``holder``: a Local instance, or ``flask.g``)."""

    def __init__(self, holder: Any) -> None:
        self.holder = holder

    @classmethod
    def of_impl(cls, impl: str) -> Slot:
        """A slot on a new instance of the Local ``impl`` (a ``localimpls`` name or ``package.module:Class``)."""
        return cls(localimpls.resolve(impl)())

    def set(self, token: str) -> None:
        self.holder.token = token

    def get(self) -> Any:
        return getattr(self.holder, "token", None)


class InFlight:
    """How many requests this process has in flight, and the most it has had; a context manager around one."""

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

    def __enter__(self) -> InFlight:
        self.enter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.leave()


def reply(local: Any, row: Any) -> dict[str, Any]:
    """The body of a served request: what the Local held after the query, and the row the query returned."""
    return {"local": local, "row": row}


def error_reply(exc: BaseException) -> dict[str, Any]:
    """The body of a failed request (HTTP 500): the error's class, which the client counts."""
    return {"error": type(exc).__name__}


def hold_seconds(raw: Any) -> float:
    """``/_load``'s ``hold`` parameter as seconds, within 0 .. :data:`MAX_HOLD` (ValueError when not a number)."""
    return min(MAX_HOLD, max(0.0, float(raw or 0)))


def io_sleep_of(settings: dict[str, Any]) -> float:
    """The seconds the handler sleeps between writing and reading the Local."""
    return float(settings.get("io_sleep", DEFAULT_IO_SLEEP))


def read_settings() -> dict[str, Any]:
    """The app's settings from the private file :data:`ENV_APP_SPEC` names; SystemExit with one line if unusable."""
    path = os.environ.get(ENV_APP_SPEC)
    if not path:
        raise SystemExit(f"{APP_LINE}{ENV_APP_SPEC} is not set")
    try:
        with open(path, encoding="utf-8") as fh:
            settings = json.load(fh)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{APP_LINE}cannot read its settings: {exc.__class__.__name__}") from None
    if not isinstance(settings, dict):
        raise SystemExit(f"{APP_LINE}its settings are not a JSON object")
    return settings


def native_thread_id() -> int:
    """The OS thread's id, even when gevent patched threading."""
    if "gevent" in sys.modules:
        from gevent import monkey

        return int(monkey.get_original("threading", "get_native_id")())
    return threading.get_native_id()


def _asyncio_facts() -> dict[str, Any]:
    """Whether the caller runs in an asyncio task, and the running loop's class (None outside a loop)."""
    if "asyncio" not in sys.modules:
        return {"asyncio_task": False, "event_loop": None}
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return {"asyncio_task": False, "event_loop": None}
    return {"asyncio_task": asyncio.current_task() is not None,
            "event_loop": f"{type(loop).__module__}.{type(loop).__qualname__}"}


def process_facts() -> dict[str, Any]:
    """Which load the caller runs under: pid, gevent's patches, ``threading.local``'s type, OS thread, greenlet,
    asyncio task and event loop."""
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
            "native_thread_id": native_thread_id(), "greenlet": in_greenlet, **_asyncio_facts()}
