"""``dict-by-ident``: a dict keyed by ``threading.get_ident()`` behind attribute access.

The classic hand-rolled thread local (werkzeug 0.x without greenlet, many
in-house frameworks).  It promises one namespace per *live* thread, but keeps
that promise poorly:

* thread idents are recycled as soon as a thread ends, so a new thread can be
  handed a dead thread's data (the ``stale-reuse`` probe);
* nothing removes a finished thread's entry unless someone calls
  ``__release_local__`` (the ``leak`` probe);
* ``__getattr__`` runs only after the normal lookup has failed and raised
  AttributeError internally, which is why reads are slow on CPython 3.11.
"""

from __future__ import annotations

import threading
from typing import Any


class Local:
    """Attribute namespace keyed by the calling thread's ident."""

    __slots__ = ("__storage__", "__ident_func__")

    def __init__(self) -> None:
        object.__setattr__(self, "__storage__", {})
        # Looked up now, after any monkey-patching: under gevent this is the
        # per-greenlet ident, without it the OS thread's.
        object.__setattr__(self, "__ident_func__", threading.get_ident)

    def __release_local__(self) -> None:
        self.__storage__.pop(self.__ident_func__(), None)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__storage__[self.__ident_func__()][name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        ident = self.__ident_func__()
        storage = self.__storage__
        try:
            storage[ident][name] = value
        except KeyError:
            storage[ident] = {name: value}

    def __delattr__(self, name: str) -> None:
        try:
            del self.__storage__[self.__ident_func__()][name]
        except KeyError:
            raise AttributeError(name) from None
