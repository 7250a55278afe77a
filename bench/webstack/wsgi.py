"""The WSGI entry gunicorn imports (``bench.webstack.wsgi:app``): the app built from its private settings file.

Contract: importing this module builds the app once per process (:func:`bench.webstack.app.create_app_from_env`);
gunicorn imports it in each worker, after the worker class patched (gevent workers patch everything).
"""

from __future__ import annotations

from bench.webstack.app import create_app_from_env

app = create_app_from_env()
