"""The micro-benchmark's vocabulary: subjects, ops and the statements that time them; argument checks.

Shared by the worker (:mod:`bench.cell.micro.measure`), the parent
(:mod:`bench.exec.micro`) and the pytest-benchmark module
(``benchmarks/pytest_micro.py``).  Nothing here imports a subject.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench.errors import UsageError

OPS: tuple[str, ...] = ("get", "set", "del", "push", "top", "pop", "proxy-get")
#: The floor: an attribute of an ordinary class instance (instance ``__dict__``).
SUBJECT_PLAIN = "plain"
#: The reference every ratio is taken against; always measured.
SUBJECT_REFERENCE = "threading-local"
#: How many times the timing loop's body repeats the op (amortises the loop).
UNROLL = 10
#: The slowest loop count calibration will try before settling.
MAX_LOOPS = 2**32
#: The project root: worker processes run here and import ``bench``/``localimpls`` from it.
#: What is timed for each op: statements cycled through the unrolled loop body;
#: ``l``, ``v``, ``w``, ``s``, ``o``, ``saved`` and ``request`` are local variables.
STATEMENTS: dict[str, tuple[str, ...]] = {
    "get": ("l.x",),
    # Two values, alternated: every store really changes the value.  Storing the
    # value already held is cheaper for some designs (ContextVar.set returns the
    # same HAMT when the value is identical), and a request never does that.
    "set": ("l.x = v", "l.x = w"),
    "del": ("l.x = v; del l.x",),
    "push": ("s.push(o); l.stack = saved",),
    "top": ("s.top",),
    "pop": ("s.pop(); l.stack = saved",),
    "proxy-get": ("request.attr",),
}
#: Ops whose statement includes one restoring ``set``, subtracted afterwards.
MINUS_SET: frozenset[str] = frozenset({"del", "push", "pop"})
#: The cheapest statement on the same local: what the loop costs without any op.
HARNESS_STATEMENT: tuple[str, ...] = ("l",)
#: The names every timing function receives, in order, after the loop count and timer.
ARGUMENTS: tuple[str, ...] = ("l", "v", "w", "s", "o", "saved", "request")


class SubjectError(Exception):
    """A subject could not be resolved, or does not behave like a Local; the message is one line."""


class Plain:
    """The floor: an ordinary class whose instances keep attributes in their ``__dict__``."""


class Payload:
    """What a request context pushes: an object with one attribute, ``attr``."""

    def __init__(self, attr: Any) -> None:
        self.attr = attr



def format_ns(x: float | None) -> str:
    """A duration given in nanoseconds, as text with a unit: ``12.3 ns``, ``1.23 us``; ``-`` for None."""
    if x is None:
        return "-"
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise ValueError(f"format_ns: expected a finite number of nanoseconds, got {x!r}")
    size = abs(x)
    if size < 100:
        return f"{x:.1f} ns"
    if size < 1e3:
        return f"{x:.0f} ns"
    for scale, unit in ((1e3, "us"), (1e6, "ms"), (1e9, "s")):
        if size < scale * 1e3 or unit == "s":
            return f"{x / scale:.3g} {unit}"
    raise AssertionError("unreachable")


def one_line(text: str, limit: int = 300) -> str:
    """The first line of ``text``, stripped and cut to ``limit`` characters."""
    lines = text.strip().splitlines()
    return (lines[0] if lines else "").strip()[:limit]


def exception_text(exc: BaseException) -> str:
    """``ExcName: message`` on one line."""
    return one_line(f"{exc.__class__.__name__}: {exc}")


def subject_error_text(name: str, reason: str) -> str:
    """``impl 'NAME': reason`` on one line, without doubling a prefix the reason already has."""
    reason = one_line(reason)
    prefix = f"impl {name!r}:"
    return reason if reason.startswith(prefix) else f"{prefix} {reason}"


def check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"micro: {name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise UsageError(f"micro: {name} must be a positive number of seconds, got {value!r}")
    return float(value)


def check_ops(ops: Sequence[str] | None) -> list[str]:
    """The requested ops, validated and deduplicated in the given order; every op when None."""
    if ops is None:
        return list(OPS)
    if isinstance(ops, str) or not ops:
        raise UsageError(f"micro: ops must be a non-empty list of op names ({', '.join(OPS)}), got {ops!r}")
    unknown = [op for op in ops if op not in OPS]
    if unknown:
        raise UsageError(f"micro: unknown op {unknown[0]!r} (known: {', '.join(OPS)})")
    return list(dict.fromkeys(ops))


def subjects_for(impls: Sequence[str]) -> list[str]:
    """``plain``, ``threading-local`` and then the requested subjects, each once, in that order."""
    if isinstance(impls, str):
        raise UsageError(f"micro: impls must be a list of names, got the string {impls!r}")
    bad = [name for name in impls if not isinstance(name, str) or not name.strip()]
    if bad:
        raise UsageError(f"micro: impl names must be non-empty strings, got {bad[0]!r}")
    return list(dict.fromkeys([SUBJECT_PLAIN, SUBJECT_REFERENCE, *impls]))



def rotated(items: Sequence[str], index: int, count: int) -> list[str]:
    """``items`` rotated for process ``index`` of ``count``: starts spread evenly over the list."""
    if not items:
        return []
    shift = (index * len(items) // max(count, 1)) % len(items)
    return [*items[shift:], *items[:shift]]

