"""``greenlet-keyed``: a dict keyed by ``greenlet.getcurrent()`` (werkzeug < 2.0, Flask 1.x).

Promises one namespace per greenlet, and because every OS thread has its own
main greenlet, one per thread too.  Keys are the greenlet objects themselves, so
an ident is never recycled while its entry exists -- but that also means the
dict keeps every finished greenlet (and its data) alive until
``__release_local__`` is called, which Flask 1.x did at the end of each request.
All asyncio tasks run on one greenlet and therefore share one namespace.
"""

from __future__ import annotations

from typing import Any

from greenlet import getcurrent


class Local:
    """Attribute namespace keyed by the current greenlet object."""

    __slots__ = ("__storage__", "__ident_func__")

    def __init__(self) -> None:
        object.__setattr__(self, "__storage__", {})
        object.__setattr__(self, "__ident_func__", getcurrent)

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
