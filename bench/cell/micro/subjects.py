"""The subjects of the micro-benchmark: how each is made, checked, and given fresh objects for one op."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.cell.micro.ops import (
    OPS,
    STATEMENTS,
    SUBJECT_PLAIN,
    Payload,
    Plain,
    SubjectError,
    exception_text,
    subject_error_text,
)


def subject_factory(name: str) -> Callable[[], Any]:
    """What makes a new Local for subject ``name`` (``NAME@base``: from the base tree); SubjectError if it cannot."""
    if name == SUBJECT_PLAIN:
        return Plain
    import localimpls  # here, not at module level: a worker may patch (gevent) before subjects import
    from bench.cell.base_subject import resolve_subject

    try:
        factory: Callable[[], Any] = resolve_subject(name)
    except localimpls.ImplError as exc:
        raise SubjectError(subject_error_text(name, str(exc))) from None
    return factory


def check_subject(name: str, factory: Callable[[], Any]) -> None:
    """Run every op once and check its result; raise SubjectError naming the first that misbehaves.

    Timing something that does not work would produce a number that means
    nothing, so a subject must pass this before any op of it is measured.
    """
    from bench.cell.base_subject import stack_types

    LocalStack, LocalProxy = stack_types(factory)  # noqa: N806 (classes)
    missing = object()
    step = "construction"
    try:
        local = factory()
        value = object()
        step = "set"
        local.x = value
        step = "get after set"
        got = local.x
        if got is not value:
            raise SubjectError(subject_error_text(name, f"get after set returned {got!r}, not the value set"))
        step = "set over an existing value"
        local.x = value
        step = "del"
        del local.x
        step = "get after del"
        if getattr(local, "x", missing) is not missing:
            raise SubjectError(subject_error_text(name, "attribute still readable after del"))
        step = "LocalStack construction"
        payload = Payload(value)
        stack = LocalStack(factory)
        step = "push"
        stack.push(payload)
        step = "top"
        if stack.top is not payload:
            raise SubjectError(subject_error_text(name, "stack.top is not the object just pushed"))
        step = "proxy-get"
        if LocalProxy(lambda: stack.top).attr is not value:
            raise SubjectError(subject_error_text(name, "proxy read returned the wrong value"))
        step = "pop"
        if stack.pop() is not payload or stack.top is not None:
            raise SubjectError(subject_error_text(name, "pop did not return the pushed object and empty the stack"))
    except SubjectError:
        raise
    except Exception as exc:  # any failure is the subject's: report it, measure the others
        raise SubjectError(subject_error_text(name, f"{step} failed: {exception_text(exc)}")) from None


def prepare(factory: Callable[[], Any], op: str) -> dict[str, Any]:
    """Fresh objects for one op: the locals ``l, v, w, s, o, saved, request`` its statements use.

    ``l`` is always a Local (for stack ops, the stack's own), so the harness
    statement ``l`` can run on the same variable as the op.
    """
    from bench.cell.base_subject import stack_types

    LocalStack, LocalProxy = stack_types(factory)  # noqa: N806 (classes)
    if op not in STATEMENTS:
        raise ValueError(f"unknown op {op!r} (known: {', '.join(OPS)})")
    value = object()
    names: dict[str, Any] = {"l": None, "v": value, "w": object(), "s": None, "o": None, "saved": None, "request": None}
    if op in ("get", "set", "del"):
        local = factory()
        if op != "del":
            local.x = value  # get reads an existing value, set overwrites one
        names["l"] = local
        return names
    payload = Payload(value)
    stack = LocalStack(factory)
    names.update(s=stack, o=payload, l=stack._local)
    if op == "push":
        stack.push(payload)
        stack.pop()  # leaves an empty tuple: the state push starts from, and restores to
    else:
        stack.push(payload)  # top, pop, proxy-get work on a one-item stack
    names["saved"] = stack._local.stack
    if op == "proxy-get":
        names["request"] = LocalProxy(lambda: stack.top)
    return names
