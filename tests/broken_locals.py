"""Deliberately broken Locals: each probe must catch the one aimed at it.

Every class here is wrong in exactly one way, so a probe that reports it proves
that the probe can fail, and the others passing it shows they are not simply
failing everything.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, ClassVar


class SharedLocal:
    """No isolation at all: one namespace for every worker (isolation must fail)."""


class MutatingContextVarLocal:
    """A ContextVar holding a dict that is mutated in place.

    Isolated between threads and greenlets (each starts with an empty context),
    but an asyncio child task shares its parent's dict after the context copy,
    so a child's write reaches the parent (child-write must fail under asyncio).
    """

    __slots__ = ("_storage",)

    def __init__(self) -> None:
        object.__setattr__(self, "_storage", ContextVar(f"mutating.{id(self)}"))

    def _values(self) -> dict[str, Any]:
        try:
            return self._storage.get()
        except LookupError:
            values: dict[str, Any] = {}
            self._storage.set(values)
            return values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values()[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._values()[name] = value  # the bug: in place, not copy-on-write


class StickyLocal:
    """Isolated while a worker lives, but a fresh worker is handed the last value written
    anywhere (stale-reuse must fail; isolation passes because workers write before reading)."""

    __slots__ = ("_storage",)
    _last: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        object.__setattr__(self, "_storage", ContextVar(f"sticky.{id(self)}"))

    def __getattr__(self, name: str) -> Any:
        values = self._storage.get(None)
        if values is not None and name in values:
            return values[name]
        if name in StickyLocal._last:
            return StickyLocal._last[name]  # the bug: falls back to a global
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        values = dict(self._storage.get({}))
        values[name] = value
        self._storage.set(values)
        StickyLocal._last[name] = value


class LeakyLocal:
    """Correctly isolated, but remembers every value ever written (leak must fail)."""

    __slots__ = ("_storage",)
    _history: ClassVar[list[Any]] = []

    def __init__(self) -> None:
        object.__setattr__(self, "_storage", ContextVar(f"leaky.{id(self)}"))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._storage.get({})[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        values = dict(self._storage.get({}))
        values[name] = value
        self._storage.set(values)
        LeakyLocal._history.append(value)  # the bug


class ExplodingLocal:
    """Constructs fine, raises on every use: the suite must report it, not crash."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("exploding local")

    def __setattr__(self, name: str, value: Any) -> None:
        raise RuntimeError("exploding local")
