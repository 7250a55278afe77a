"""The WSGI servers the real stack runs under (placeholder of the interface)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerInfo:
    """One server: its name, what it is, and the in-process load that claims to predict it."""

    name: str
    description: str
    model_load: str


SERVERS: dict[str, ServerInfo] = {
    info.name: info
    for info in (
        ServerInfo("gunicorn-gthread", "gunicorn, gthread workers (OS threads)", "threads"),
        ServerInfo("gunicorn-gevent", "gunicorn, gevent workers (patch_all)", "gevent"),
        ServerInfo("gevent-pywsgi", "gevent.pywsgi after patch_all()", "gevent"),
        ServerInfo("gevent-pywsgi-nothread", "gevent.pywsgi after patch_all(thread=False)", "gevent-nothread"),
        ServerInfo("waitress", "waitress (a pool of OS threads)", "threads"),
    )
}
