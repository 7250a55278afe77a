"""The real servers, declared as data: how each is started, and which in-process load it corresponds to.

Contract: :data:`SERVERS` maps a server's name to a :class:`ServerInfo`; ``model_load`` names the in-process load
(:mod:`bench.cell.loads`) that claims to predict it, and is also the load the server must prove it runs
(:func:`expected_facts`) before a cell counts.  ``argv(port, workers, concurrency)`` is the command after
``python``: every server binds 127.0.0.1 only, and none takes a password or the app's settings on its command line
(those travel in a private file named by :data:`bench.webstack.app.ENV_APP_SPEC`).  Adding a server is one entry here
(and, for a server without a command of its own, one branch in :mod:`bench.webstack.serve`).  ``interface`` says which
app it runs: the Flask one (WSGI) or its Starlette twin (ASGI, strategies of the asyncio load only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: The WSGI app gunicorn imports (in each worker, after the worker class patched).
WSGI_APP = "bench.webstack.wsgi:app"
#: The factory uvicorn calls (``--factory``) in each worker process for the ASGI app.
ASGI_FACTORY = "bench.webstack.asgi:create_app_from_env"
#: Seconds gunicorn gives its workers to finish on SIGTERM before the parent sends SIGKILL anyway.
GRACEFUL_TIMEOUT = 2

Argv = Callable[[int, int, int], list[str]]


@dataclass(frozen=True)
class ServerInfo:
    """One real server: its name, what it is, the in-process load that claims to predict it, how to start it."""

    name: str
    description: str
    #: "threads" | "gevent" | "gevent-nothread" | "asyncio": the in-process load it corresponds to (and must prove).
    model_load: str
    #: ``argv(port, workers, concurrency)``: the command after ``python``.
    argv: Argv
    #: What ``SERVER_SOFTWARE`` starts with when this server answers (the proof that it is this server).
    software: str
    #: Whether ``workers`` > 1 is possible (several processes); the others run one process.
    multi_process: bool = False
    #: "wsgi" (the Flask app, :mod:`bench.webstack.app`) or "asgi" (its Starlette twin, :mod:`bench.webstack.asgi`).
    interface: str = "wsgi"


def _gunicorn(worker_class: str, per_worker: str) -> Argv:
    def argv(port: int, workers: int, concurrency: int) -> list[str]:
        return ["-m", "gunicorn", "-k", worker_class, per_worker, str(concurrency), "-w", str(workers),
                "--bind", f"127.0.0.1:{port}", "--graceful-timeout", str(GRACEFUL_TIMEOUT), "--timeout", "60",
                "--log-level", "warning", WSGI_APP]

    return argv


def _serve(name: str) -> Argv:
    def argv(port: int, workers: int, concurrency: int) -> list[str]:
        return ["-m", "bench.webstack.serve", name, str(port), str(concurrency)]

    return argv


def _uvicorn() -> Argv:
    """uvicorn over the ASGI app: ``--loop auto`` (uvloop when installed), lifespan on (a strategy that cannot be
    built stops the start), ``--workers N`` (N > 1: a supervisor and N worker processes; 1: one process)."""
    def argv(port: int, workers: int, concurrency: int) -> list[str]:
        return ["-m", "uvicorn", "--factory", ASGI_FACTORY, "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers), "--loop", "auto", "--lifespan", "on", "--log-level", "warning",
                "--no-access-log", "--timeout-graceful-shutdown", str(GRACEFUL_TIMEOUT)]

    return argv


#: The built-in servers, in the order tables show them.
SERVERS: dict[str, ServerInfo] = {
    info.name: info
    for info in (
        ServerInfo("gunicorn-gthread", "gunicorn, gthread workers (--threads C)", "threads",
                   _gunicorn("gthread", "--threads"), "gunicorn", multi_process=True),
        ServerInfo("gunicorn-gevent", "gunicorn, gevent workers (--worker-connections C; patch_all())", "gevent",
                   _gunicorn("gevent", "--worker-connections"), "gunicorn", multi_process=True),
        ServerInfo("gevent-pywsgi", "gevent.pywsgi.WSGIServer after patch_all()", "gevent",
                   _serve("gevent-pywsgi"), "gevent"),
        ServerInfo("gevent-pywsgi-nothread", "gevent.pywsgi.WSGIServer after patch_all(thread=False)",
                   "gevent-nothread", _serve("gevent-pywsgi-nothread"), "gevent"),
        ServerInfo("waitress", "waitress, one process, threads=C", "threads", _serve("waitress"), "waitress"),
        ServerInfo("uvicorn", "uvicorn, the Starlette app, --workers N (default 1: one process; --loop auto: uvloop "
                   "when installed)", "asyncio", _uvicorn(), "uvicorn", multi_process=True, interface="asgi"),
    )
}


def expected_facts(model_load: str) -> dict[str, bool]:
    """What a server running ``model_load`` must show: threading/socket patched, greenlets, asyncio tasks (and, when
    none of the two, OS threads)."""
    return {
        "threads": {"threading_patched": False, "socket_patched": False, "greenlets": False, "asyncio_tasks": False},
        "gevent": {"threading_patched": True, "socket_patched": True, "greenlets": True, "asyncio_tasks": False},
        "gevent-nothread": {"threading_patched": False, "socket_patched": True, "greenlets": True,
                            "asyncio_tasks": False},
        "asyncio": {"threading_patched": False, "socket_patched": False, "greenlets": False, "asyncio_tasks": True},
    }[model_load]


def one_thread(model_load: str) -> bool:
    """Whether a server of ``model_load`` runs its concurrent requests on one OS thread per process (greenlets on
    the hub's thread, or tasks on the event loop's), rather than on several."""
    facts = expected_facts(model_load)
    return facts["greenlets"] or facts["asyncio_tasks"]


#: Strategies whose checkout needs the worker's index (``for_worker``), which a request handler does not have.
PER_WORKER_ONLY: dict[str, str] = {"own-connection": "gives each in-process worker its own connection"}


def unfit(info: ServerInfo, impl: str, strategy: str) -> str | None:
    """One line saying why ``info``'s app cannot serve ``impl`` x ``strategy``, or None when it can: a strategy must
    run under the server's model load (an ASGI server's app builds asyncio strategies only, a WSGI server's blocking
    ones: :meth:`bench.cell.strategies.StrategyInfo.loads`), ``flask-g`` is the Flask app's only, and no app serves a
    strategy of :data:`PER_WORKER_ONLY`."""
    from bench.cell.strategies import StrategyError, check_serves, serves
    from bench.webstack import STACK_IMPLS_EXTRA

    if strategy in PER_WORKER_ONLY:
        return f"strategy {strategy!r} {PER_WORKER_ONLY[strategy]}: no app serves it (a request has no worker index)"
    if info.interface == "asgi" and impl in STACK_IMPLS_EXTRA:
        return (f"server {info.name} runs the ASGI app: impl {impl!r} is Flask's (it takes localimpls names or "
                "package.module:Class)")
    if serves(strategy, info.model_load):
        return None  # (its driver being installed is the cell's to find: missing_extra, or the app's start)
    try:
        check_serves(strategy, info.model_load)
    except StrategyError as exc:
        return f"server {info.name} runs its app under {info.model_load}: {exc}"
    return None


def get_server(name: str) -> ServerInfo:
    """The server called ``name``; ValueError naming the known ones if unknown."""
    try:
        return SERVERS[name]
    except KeyError:
        raise ValueError(f"unknown server {name!r} (known: {', '.join(SERVERS)})") from None
