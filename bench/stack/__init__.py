"""The real stack (placeholder of the interface; the full package lands from its own branch).

:data:`STACK_IMPLS_EXTRA` are the impl names the stack app takes beyond the Locals of :mod:`localimpls`;
:func:`missing_extra` says in one line what is missing to run the real stack, or None.
"""

from __future__ import annotations

import importlib.util

#: Impl names only the real app knows (Flask's own per-request namespace).
STACK_IMPLS_EXTRA: tuple[str, ...] = ("flask-g",)
_EXTRA_MODULES: tuple[str, ...] = ("flask", "gunicorn", "locust", "waitress")


def missing_extra() -> str | None:
    """One line naming what the real stack lacks and how to get it, or None when everything is installed."""
    missing = [name for name in _EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return f"the real stack needs {', '.join(missing)}: pip install 'ctxbench[stack]'"
