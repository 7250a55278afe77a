"""The entry of the servers without a command of their own: ``python -m bench.webstack.serve SERVER PORT CONCURRENCY``.

Contract: gevent patches FIRST (``patch_all()`` for ``gevent-pywsgi``, ``patch_all(thread=False)`` for
``gevent-pywsgi-nothread``), then the app is imported and built from its private settings file, then the server
listens on 127.0.0.1:PORT until it is signalled.  ``waitress`` serves with ``threads=CONCURRENCY`` and patches
nothing.  Bad arguments: one line on stderr, exit status 2.
"""

from __future__ import annotations

import sys


def _patch(server: str) -> None:
    if server.startswith("gevent-pywsgi"):
        from gevent import monkey

        monkey.patch_all(thread=server != "gevent-pywsgi-nothread")


def _serve(server: str, port: int, concurrency: int) -> None:
    from bench.webstack.app import create_app_from_env

    app = create_app_from_env()
    if server == "waitress":
        import waitress

        waitress.serve(app, host="127.0.0.1", port=port, threads=concurrency, _quiet=True)
        return
    from gevent.pywsgi import WSGIServer

    WSGIServer(("127.0.0.1", port), app, log=None).serve_forever()


def main(argv: list[str]) -> int:
    """Patch, build the app, serve; 2 with one line on stderr when the arguments are wrong."""
    known = ("gevent-pywsgi", "gevent-pywsgi-nothread", "waitress")
    if len(argv) != 3 or argv[0] not in known or not argv[1].isdigit() or not argv[2].isdigit():
        sys.stderr.write(f"usage: python -m bench.webstack.serve {{{'|'.join(known)}}} PORT CONCURRENCY\n")
        return 2
    _patch(argv[0])
    _serve(argv[0], int(argv[1]), max(1, int(argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
