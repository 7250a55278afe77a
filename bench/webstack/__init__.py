"""The real stack: a real Flask app under real WSGI servers (and its Starlette twin under uvicorn), driven over
loopback HTTP by Locust.

Contract: :data:`bench.webstack.servers.SERVERS` declares each server with the in-process load it corresponds to;
:mod:`bench.webstack.app` is the WSGI app a server runs (one Local and one connection strategy per server process);
:mod:`bench.webstack.launch` starts a server as its own process group on a free 127.0.0.1 port, makes it prove its
load, and stops it by pid; :mod:`bench.webstack.drive` is the HTTP load (``python -m bench.webstack.drive``, its own
process: Locust patches with gevent at import).  :mod:`bench.exec.stackcell` puts them together into one cell.

Nothing here imports Flask, gunicorn, Locust, waitress, uvicorn or Starlette at module level: they are an optional
extra, and :func:`missing_extra` says in one line how to get them when they are absent.
"""

from __future__ import annotations

import importlib.util

#: Impl names the stack accepts besides every ``localimpls`` name and ``package.module:Class``.
STACK_IMPLS_EXTRA: tuple[str, ...] = ("flask-g",)

#: Impls only the real app has, and the in-process impls that predict them, best first (Flask keeps ``g`` in a
#: ContextVar-backed context: werkzeug's Local where it is installed, else ``contextvar``).
PREDICTORS: dict[str, tuple[str, ...]] = {"flask-g": ("werkzeug", "contextvar")}

#: Environment variable naming the app's private settings file (JSON, mode 0600): the server's password travels
#: there, never on a command line.
ENV_APP_SPEC = "CTXBENCH_STACK_APP"

#: Response header naming the pid of the server process that answered (every reply of the app carries it), so that
#: the load can count each process's share of a multi-process server.
PID_HEADER = "X-Ctxbench-Pid"

#: The import names of the optional extra ``ctxbench[stack]`` that every WSGI cell needs.
EXTRA_MODULES: tuple[str, ...] = ("flask", "gunicorn", "locust", "waitress")
#: What an ASGI server's cell needs: the load (Locust), the server and the app's framework (all in ``[stack]``) and
#: the async driver most asyncio strategies use (``[asyncio]``; each strategy's own modules are checked when it is
#: selected).
ASGI_MODULES: tuple[str, ...] = ("locust", "uvicorn", "starlette", "aiomysql")


def missing_extra(interface: str = "wsgi") -> str | None:
    """None when what a cell of a server of ``interface`` ("wsgi": Flask, gunicorn, Locust, waitress; "asgi":
    Locust, uvicorn, Starlette, aiomysql) can be imported, else one line naming what is missing and how to get it."""
    names = ASGI_MODULES if interface == "asgi" else EXTRA_MODULES
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    if interface != "asgi":
        return f"the real stack needs {', '.join(missing)}: pip install 'ctxbench[stack]'"
    extras = "stack,asyncio" if "aiomysql" in missing else "stack"
    return f"the real stack's ASGI servers need {', '.join(missing)}: pip install 'ctxbench[{extras}]'"


__all__ = ["ASGI_MODULES", "ENV_APP_SPEC", "EXTRA_MODULES", "PID_HEADER", "PREDICTORS", "STACK_IMPLS_EXTRA",
           "missing_extra"]
