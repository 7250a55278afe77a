"""Deliberately broken Locals: each probe must catch the one aimed at it.

Every class here is wrong in exactly one way, so a probe that reports it proves
that the probe can fail, and the others passing it shows they are not simply
failing everything.  The last two are wrong only where threads really run at
once (a free-threaded CPython): under the GIL the steps they rely on run as one.
"""

from __future__ import annotations

from contextvars import ContextVar
from threading import get_ident
from typing import Any, ClassVar

_MISSING: Any = object()


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


class _Box:
    """Shared state kept in plain slots: storing to one is a single bytecode, with no call in which the
    interpreter could switch threads (CPython switches at calls and backward jumps)."""

    __slots__ = ("ident", "namespace", "storage")

    def __init__(self) -> None:
        self.storage: dict[int, dict[str, Any]] = {}
        self.ident: int | None = None
        self.namespace: dict[str, Any] | None = None


class SwapDictLocal:
    """A dict keyed by thread ident, copied and swapped in on every write instead of changed in place.

    Each write builds a copy of the shared dict with the writer's entry changed and stores the copy back: with no
    call in between, the GIL runs the two as one step, so nothing is lost.  Threads that really run at once copy the
    same dict and the last store wins: another thread's write, or its deletion, is undone (race must fail without
    the GIL: lost and stale reads).
    """

    __slots__ = ("_box",)

    def __init__(self) -> None:
        object.__setattr__(self, "_box", _Box())

    def __getattr__(self, name: str) -> Any:
        try:
            return self._box.storage[get_ident()][name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        ident, box = get_ident(), self._box
        mine = box.storage.get(ident, {})
        box.storage = {**box.storage, ident: {**mine, name: value}}  # the bug: copy and store back, two steps

    def __delattr__(self, name: str) -> None:
        ident, box = get_ident(), self._box
        mine = dict(box.storage.get(ident, {}))
        if mine.pop(name, _MISSING) is _MISSING:
            raise AttributeError(name)
        box.storage = {**box.storage, ident: mine}


class CachedIdentLocal:
    """A dict keyed by thread ident with a one-entry cache of the last user: the ContextVar cache in Python.

    The cache is two fields, the ident it is for and that ident's namespace, stored one after the other -- as
    CPython's ContextVar kept ``var_cached`` and ``var_cached_tsid`` (CPython issue 121546).  Under the GIL the two
    stores, and the two loads that check them, run as one step.  Without it a thread can match its own ident
    against a namespace another thread stored a moment later (race must fail without the GIL: foreign reads).
    """

    __slots__ = ("_box",)

    def __init__(self) -> None:
        object.__setattr__(self, "_box", _Box())

    def _mine(self) -> dict[str, Any]:
        ident, cache = get_ident(), self._box
        if cache.ident == ident:  # the bug: ident and namespace checked, and below stored, as two steps
            return cache.namespace  # type: ignore[return-value]
        mine = cache.storage.setdefault(ident, {})
        cache.ident = ident
        cache.namespace = mine
        return mine

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mine()[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._mine()[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self._mine()[name]
        except KeyError:
            raise AttributeError(name) from None
