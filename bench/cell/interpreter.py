"""What interpreter a cell ran on, measured inside the cell: version, build, and whether the GIL was on.

A free-threaded CPython (``python3.14t``) runs without the GIL -- until a C extension that has not declared that it
can run without it is imported: then the interpreter turns the GIL back on for the rest of the process and says so
with a RuntimeWarning (gevent's ``gevent.libev.corecext`` does).  So whether a cell measured anything without the
GIL is a fact of that cell, read with ``sys._is_gil_enabled()`` *after* the cell imported and ran everything it
uses (:func:`facts`), and :func:`watch_gil` notes which module turned it on.  Nothing here imports anything beyond
the standard library, so calling it first in a cell disturbs nothing.
"""

from __future__ import annotations

import platform
import sys
import sysconfig
import warnings
from typing import Any

#: Modules the interpreter named when it turned the GIL back on in this process (filled by :func:`watch_gil`).
_ENABLED_BY: list[str] = []
_MARK = "has been enabled to load module '"


def free_threaded() -> bool:
    """Whether this interpreter is a free-threaded build (``Py_GIL_DISABLED``), whatever the GIL's state now."""
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def gil_enabled() -> bool:
    """Whether the GIL is on in this process now (always True on a build that has one)."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def tag(version: str, threaded: bool) -> str:
    """``3.14t`` for a free-threaded 3.14.x, ``3.14`` for its GIL build."""
    major_minor = ".".join(version.split(".")[:2])
    return major_minor + ("t" if threaded else "")


def watch_gil() -> None:
    """Note every module the interpreter turns the GIL back on for (its RuntimeWarning), passing the warning on."""
    if not free_threaded():
        return
    shown = warnings.showwarning

    def showwarning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        text = str(message)
        if issubclass(category, RuntimeWarning) and _MARK in text:
            _ENABLED_BY.append(text.split(_MARK, 1)[1].split("'", 1)[0])
        shown(message, category, *args, **kwargs)

    warnings.showwarning = showwarning


def facts() -> dict[str, Any]:
    """The interpreter's facts for every record of the cell: call it after the cell's work.

    ``python`` (version), ``free_threaded`` (the build), ``gil`` (on at the end of the cell), ``gil_enabled_by``
    (the modules that turned it on, when the build has none by default and it was turned on).
    """
    threaded = free_threaded()
    gil = gil_enabled()
    out: dict[str, Any] = {"python": platform.python_version(), "free_threaded": threaded, "gil": gil,
                           "interpreter": tag(platform.python_version(), threaded)}
    if threaded and gil:
        out["gil_enabled_by"] = list(dict.fromkeys(_ENABLED_BY)) or ["unknown (no warning seen)"]
    return out
