"""``fast``: ctxbench's coroutine-safe Local, as fast as pure Python allows.

What it promises
    The same isolation as ``contextvar`` (werkzeug >= 2.0): one namespace per
    :mod:`contextvars` context, hence per OS thread, per greenlet and per
    asyncio task; a child task starts with a copy of its parent's values and its
    writes never reach the parent; nothing outlives the context that wrote it.

Why it is shaped like this
    *One ContextVar per attribute name*, not one ContextVar holding a dict.
    ``ContextVar.set`` already copies on write (contexts are immutable HAMTs), so
    a write is one C call instead of dict-copy + set, and a child context can
    never mutate a parent's storage: there is no shared mutable object at all.

    *``__getattribute__``, not ``__getattr__``.*  On CPython 3.11 ``__getattr__``
    runs only after the normal lookup has failed and built an AttributeError,
    which costs several hundred ns per read.  Overriding ``__getattribute__``
    skips that lookup entirely; class attributes (methods, ``__class__``) are
    found on the slow path, after the per-name lookup misses.

    *A subclass per instance.*  Each ``Local()`` gets its own class whose
    methods hold the storage as default arguments, so a read is a LOAD_FAST,
    a dict lookup and a C call -- no ``object.__getattribute__(self, ...)``
    to find per-instance state.  Locals are long-lived module globals; the
    one-off class costs a few microseconds at creation.

    *Deletion is a tombstone.*  A ContextVar cannot be unset, so ``del``
    stores a sentinel.  The unchecked C getter (``ContextVar.get``) serves a
    name until the first time it is deleted anywhere; from then on that name
    is served by a Python getter that turns the sentinel into AttributeError.
    The switch happens before the name is marked as switched, so it holds
    when threads run in parallel (a free-threaded CPython) as well.

Without the GIL
    Every shared structure here is a dict or a set changed one call at a
    time, each call one atomic step under the object's own lock in a
    free-threaded build; values live in each thread's (or task's) own
    context, so threads share nothing they write.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

_DELETED: Any = object()  # tombstone for a deleted attribute, never handed out
_serial = itertools.count()  # names each instance's ContextVars, for debugging only


def _checked_getter(var: ContextVar[Any]) -> Callable[[], Any]:
    """A getter that raises LookupError for a deleted (tombstoned) value."""
    get = var.get

    def get_checked() -> Any:
        value = get()
        if value is _DELETED:
            raise LookupError
        return value

    return get_checked


class Local:
    """Attribute namespace per contextvars context, one ContextVar per name."""

    __slots__ = ()

    def __new__(cls) -> Local:
        variables: dict[str, ContextVar[Any]] = {}
        getters: dict[str, Callable[[], Any]] = {}
        setters: dict[str, Callable[[Any], Any]] = {}
        checked: set[str] = set()  # names now served by the checked getter
        prefix = f"ctxbench.fast.{next(_serial)}."

        def class_attribute(self: Local, name: str) -> Any:
            # Slow path: methods and dunders live on the class.
            try:
                return object.__getattribute__(self, name)
            except AttributeError:
                raise AttributeError(name) from None

        def __getattribute__(self: Local, name: str, _getters: dict[str, Callable[[], Any]] = getters) -> Any:
            # Default argument: LOAD_FAST instead of a closure or global lookup.
            # One except clause catches both misses: KeyError (never set
            # anywhere) subclasses LookupError (not set in this context).
            try:
                return _getters[name]()
            except LookupError:
                return class_attribute(self, name)

        def __setattr__(self: Local, name: str, value: Any,
                        _setters: dict[str, Callable[[Any], Any]] = setters) -> None:
            # Bound ``var.set`` methods, stored ahead: a call instead of a
            # method lookup plus call (about 8 ns a write).
            try:
                _setters[name](value)
            except KeyError:
                # First write of this name anywhere.  dict.setdefault is one
                # atomic step -- under the GIL, and in a free-threaded build
                # under the dict's own lock (a critical section) -- so two
                # threads racing here share one var.
                var = variables.setdefault(name, ContextVar(prefix + name))
                getters.setdefault(name, var.get)
                setters.setdefault(name, var.set)
                var.set(value)

        def check(name: str, var: ContextVar[Any]) -> None:
            # Before any tombstone of this name exists: its getter must turn
            # the tombstone into AttributeError.  The getter is switched
            # *before* the name is marked, so a thread that finds the mark
            # (and so skips this) is served by the checked getter too.  The
            # other order let another thread's first deletion read the
            # tombstone back as a value through the unchecked getter, when
            # threads really run at once (the race probe caught it).
            if name not in checked:
                getters[name] = _checked_getter(var)
                checked.add(name)

        def __delattr__(self: Local, name: str) -> None:
            var = variables.get(name)
            if var is None or var.get(_DELETED) is _DELETED:
                raise AttributeError(name)
            check(name, var)  # first deletion of this name: switch to the checked getter
            var.set(_DELETED)

        def __release_local__(self: Local) -> None:
            """Forget every value this context has set."""
            for name, var in list(variables.items()):
                if var.get(_DELETED) is not _DELETED:
                    check(name, var)
                    var.set(_DELETED)

        namespace = {
            "__slots__": (),
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
            "__getattribute__": __getattribute__,
            "__setattr__": __setattr__,
            "__delattr__": __delattr__,
            "__release_local__": __release_local__,
        }
        bound = type(cls.__name__, (cls,), namespace)
        return object.__new__(bound)

