"""``contextvar``: one ContextVar holding a dict, copied on every write (werkzeug >= 2.0).

Promises one namespace per :mod:`contextvars` context: per OS thread, per
greenlet (greenlet >= 1.0 gives each greenlet its own context) and per asyncio
task (a task runs in a *copy* of its creator's context, so it starts with the
creator's values).  Writes replace the dict instead of mutating it: a child task
shares its parent's dict object after the copy, and an in-place write would
reach the parent.  Reads go through ``__getattr__``, the slow path on 3.11.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any


class Local:
    """Attribute namespace per contextvars context, copy-on-write."""

    __slots__ = ("_storage",)

    def __init__(self) -> None:
        object.__setattr__(self, "_storage", ContextVar(f"ctxbench.contextvar.{id(self)}"))

    def __release_local__(self) -> None:
        self._storage.set({})

    def __getattr__(self, name: str) -> Any:
        values = self._storage.get({})
        try:
            return values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        values = self._storage.get({}).copy()
        values[name] = value
        self._storage.set(values)

    def __delattr__(self, name: str) -> None:
        values = self._storage.get({}).copy()
        try:
            del values[name]
        except KeyError:
            raise AttributeError(name) from None
        self._storage.set(values)
