"""Timing functions compiled like timeit's: the op written out ``unroll`` times, every object a local variable."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from bench.cell.micro.ops import ARGUMENTS, UNROLL, check_int

# timeit's loop: iterating itertools.repeat(None, n) hands out the same None n
# times, with no int object created or freed per pass; the objects arrive as
# arguments, so each use is a LOAD_FAST (no global or closure lookup timed).
_LOOP_TEMPLATE = """\
def inner(_loops, _timer, {args}):
    _it = _repeat(None, _loops)
    _t0 = _timer()
    for _ in _it:
{body}
    return _timer() - _t0
"""

_CALL_TEMPLATE = """\
def run({defaults}):
{body}
"""


def _unrolled(statements: Sequence[str], unroll: int, indent: str) -> str:
    """``unroll`` lines cycling through ``statements``; ``unroll`` must be a multiple of their count.

    A multiple, so that every pass of the loop leaves the objects as it found them.
    """
    check_int("unroll", unroll, 1)
    if isinstance(statements, str) or not statements or unroll % len(statements):
        raise ValueError(f"unroll ({unroll}) must be a positive multiple of the number of statements in {statements!r}")
    return "\n".join(indent + line for line in itertools.islice(itertools.cycle(statements), unroll))


def compile_loop(statements: Sequence[str], unroll: int = UNROLL) -> Callable[..., int]:
    """A timing function ``inner(loops, timer, l, v, w, s, o, saved, request) -> elapsed ns``, like timeit's.

    The loop body is the op written out ``unroll`` times, so the loop's own
    cost (FOR_ITER, STORE_FAST, JUMP_BACKWARD) is shared by that many ops.
    """
    source = _LOOP_TEMPLATE.format(args=", ".join(ARGUMENTS), body=_unrolled(statements, unroll, " " * 8))
    namespace: dict[str, Any] = {"_repeat": itertools.repeat}
    exec(compile(source, f"<ctxbench.micro: {' / '.join(statements)}>", "exec"), namespace)
    function: Callable[..., int] = namespace["inner"]
    return function


def compile_call(statements: Sequence[str], names: dict[str, Any], unroll: int) -> Callable[[], None]:
    """A no-argument function running the op ``unroll`` times on ``names`` bound as defaults.

    Defaults make every name a LOAD_FAST inside the function, as in
    :func:`compile_loop`; this is the shape pytest-benchmark calls.
    """
    defaults = ", ".join(f"{arg}={arg}" for arg in ARGUMENTS)
    source = _CALL_TEMPLATE.format(defaults=defaults, body=_unrolled(statements, unroll, " " * 4))
    namespace: dict[str, Any] = {arg: names[arg] for arg in ARGUMENTS}
    exec(compile(source, f"<ctxbench.micro: {' / '.join(statements)}>", "exec"), namespace)
    function: Callable[[], None] = namespace["run"]
    return function
