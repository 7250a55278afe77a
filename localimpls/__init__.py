"""The subjects: context-local implementations, one small module each.

``REGISTRY`` maps a subject's public name to ``"module:attribute"``.  Nothing is
imported here: a load driver that monkey-patches (gevent) must run before any
subject module touches :mod:`threading`, so subjects are resolved lazily, inside
the process that measures them, by :func:`resolve`.

Adding a Local means adding one module to this package and one line below.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from typing import Any

#: The built-in subjects, in the order tables and charts show them.
BUILTIN: dict[str, str] = {
    "threading-local": "localimpls.threading_local:Local",
    "dict-by-ident": "localimpls.dict_by_ident:Local",
    "greenlet-keyed": "localimpls.greenlet_keyed:Local",
    "contextvar": "localimpls.contextvar_local:Local",
    "fast": "localimpls.fast:Local",
}

#: Third-party references, registered when importable.
REFERENCES: dict[str, str] = {
    "werkzeug": "werkzeug.local:Local",
    "gevent-local": "gevent.local:local",
}

REGISTRY: dict[str, str] = {**BUILTIN, **REFERENCES}


class ImplError(Exception):
    """A subject could not be named, imported or constructed."""


def is_import_path(name: str) -> bool:
    """``package.module:Class`` names a user subject rather than a registered one."""
    return ":" in name


def target_of(name: str) -> str:
    """The ``module:attribute`` a subject name stands for; raise ImplError if unknown."""
    if is_import_path(name):
        module, _, attr = name.partition(":")
        if not module or not attr:
            raise ImplError(f"impl {name!r}: expected package.module:Class")
        return name
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise ImplError(f"unknown impl {name!r} (known: {known}; or package.module:Class)") from None


def resolve(name: str) -> Any:
    """Import and return the class (or factory) behind a subject name."""
    target = target_of(name)
    module_name, _, attr = target.partition(":")
    try:  # imported first, on its own, so that an import-time failure is told apart from a missing name
        importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure is the subject's fault
        raise ImplError(f"impl {name!r}: cannot import {module_name}: {exc.__class__.__name__}: {exc}") from exc
    try:
        obj: Any = pkgutil.resolve_name(target)
    except AttributeError:
        raise ImplError(f"impl {name!r}: {module_name} has no attribute {attr!r}") from None
    if not callable(obj):
        raise ImplError(f"impl {name!r}: {target} is not callable")
    return obj


def available_references() -> list[str]:
    """Reference subjects whose package imports in this environment."""
    found = []
    for name, target in REFERENCES.items():
        module_name = target.partition(":")[0]
        if importlib.util.find_spec(module_name.partition(".")[0]) is not None:
            found.append(name)
    return found


def default_impls() -> list[str]:
    """Every built-in subject plus the importable references."""
    return [*BUILTIN, *available_references()]
