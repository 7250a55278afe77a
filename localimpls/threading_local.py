"""``threading-local``: the standard library's ``threading.local``, the C baseline.

Promises one namespace per OS thread.  It knows nothing of greenlets or asyncio
tasks: every worker that shares a thread shares its data.  Under
``gevent.monkey.patch_all()`` the name ``threading.local`` is rebound to
``gevent.local.local``, which is per greenlet; this module reads the attribute
at call time so that the subject is whatever the running load made of it.
"""

from __future__ import annotations

import threading
from typing import Any


def Local() -> Any:  # noqa: N802 - a factory standing in for a class
    """A new ``threading.local`` as the current process defines it."""
    return threading.local()
