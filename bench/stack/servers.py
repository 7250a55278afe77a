"""The real servers, declared as data: how each is started, and which in-process load it corresponds to.

Contract: :data:`SERVERS` maps a server's name to a :class:`ServerInfo`; ``model_load`` names the in-process load
(:mod:`bench.cell.loads`) that claims to predict it, and is also the load the server must prove it runs
(:func:`expected_facts`) before a cell counts.  ``argv(port, workers, concurrency)`` is the command after
``python``: every server binds 127.0.0.1 only, and none takes a password or the app's settings on its command line
(those travel in a private file named by :data:`bench.stack.app.ENV_APP_SPEC`).  Adding a server is one entry here
(and, for a server without a command of its own, one branch in :mod:`bench.stack.serve`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: The WSGI app gunicorn imports (in each worker, after the worker class patched).
WSGI_APP = "bench.stack.wsgi:app"
#: Seconds gunicorn gives its workers to finish on SIGTERM before the parent sends SIGKILL anyway.
GRACEFUL_TIMEOUT = 2

Argv = Callable[[int, int, int], list[str]]


@dataclass(frozen=True)
class ServerInfo:
    """One real server: its name, what it is, the in-process load that claims to predict it, how to start it."""

    name: str
    description: str
    #: "threads" | "gevent" | "gevent-nothread": the in-process load it corresponds to (and must prove).
    model_load: str
    #: ``argv(port, workers, concurrency)``: the command after ``python``.
    argv: Argv
    #: What ``SERVER_SOFTWARE`` starts with when this server answers (the proof that it is this server).
    software: str
    #: Whether ``workers`` > 1 is possible (several processes); the others run one process.
    multi_process: bool = False


def _gunicorn(worker_class: str, per_worker: str) -> Argv:
    def argv(port: int, workers: int, concurrency: int) -> list[str]:
        return ["-m", "gunicorn", "-k", worker_class, per_worker, str(concurrency), "-w", str(workers),
                "--bind", f"127.0.0.1:{port}", "--graceful-timeout", str(GRACEFUL_TIMEOUT), "--timeout", "60",
                "--log-level", "warning", WSGI_APP]

    return argv


def _serve(name: str) -> Argv:
    def argv(port: int, workers: int, concurrency: int) -> list[str]:
        return ["-m", "bench.stack.serve", name, str(port), str(concurrency)]

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
    )
}


def expected_facts(model_load: str) -> dict[str, bool]:
    """What a server running ``model_load`` must show: threading/socket patched, and greenlets (else OS threads)."""
    return {
        "threads": {"threading_patched": False, "socket_patched": False, "greenlets": False},
        "gevent": {"threading_patched": True, "socket_patched": True, "greenlets": True},
        "gevent-nothread": {"threading_patched": False, "socket_patched": True, "greenlets": True},
    }[model_load]


def get_server(name: str) -> ServerInfo:
    """The server called ``name``; ValueError naming the known ones if unknown."""
    try:
        return SERVERS[name]
    except KeyError:
        raise ValueError(f"unknown server {name!r} (known: {', '.join(SERVERS)})") from None
