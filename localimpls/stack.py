"""``LocalStack`` and ``LocalProxy`` over any Local, as Flask's request context uses them.

A request pushes its context onto a stack kept in a Local; handlers read the
current request through a proxy that looks up the stack's top on every access.
The stack is a *tuple* replaced on every push and pop, never a list mutated in
place: an asyncio child task that shares its parent's (copied) storage can then
never change what the parent sees, so the stack is exactly as isolated as the
Local underneath it -- no more, no less, which is what the probes measure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class LocalStack(Generic[T]):
    """A per-context stack stored in attribute ``stack`` of a Local."""

    __slots__ = ("_local",)

    def __init__(self, local_factory: Callable[[], Any]) -> None:
        self._local = local_factory()

    def push(self, obj: T) -> None:
        """Make ``obj`` the top of this context's stack."""
        local = self._local
        local.stack = (*getattr(local, "stack", ()), obj)

    def pop(self) -> T | None:
        """Remove and return the top, or None when this context's stack is empty."""
        local = self._local
        stack = getattr(local, "stack", ())
        if not stack:
            return None
        local.stack = stack[:-1]
        return stack[-1]

    @property
    def top(self) -> T | None:
        """The top of this context's stack, or None."""
        try:
            return self._local.stack[-1]  # type: ignore[no-any-return]
        except (AttributeError, IndexError):
            return None


class LocalProxy:
    """Forwards attribute reads to whatever ``lookup()`` returns right now.

    ``request = LocalProxy(lambda: stack.top)`` reads ``stack.top.<name>`` on
    every ``request.<name>``.  Only reads are forwarded: that is all a handler
    does with a request, and all this suite measures.
    """

    __slots__ = ("_ctxbench_lookup",)

    def __init__(self, lookup: Callable[[], Any]) -> None:
        object.__setattr__(self, "_ctxbench_lookup", lookup)

    def __getattribute__(self, name: str) -> Any:
        # __getattribute__ rather than __getattr__: skips a failed normal
        # lookup (an internal AttributeError) on every read.
        return getattr(_lookup_of(self)(), name)

    def __repr__(self) -> str:
        return f"<LocalProxy {_lookup_of(self)()!r}>"


# The slot's member descriptor, called directly: reads the lookup without
# going through the overridden __getattribute__.
_lookup_of: Callable[[LocalProxy], Callable[[], Any]] = LocalProxy._ctxbench_lookup.__get__  # type: ignore[attr-defined]
