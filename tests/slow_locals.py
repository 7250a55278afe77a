"""A Local whose reads can be made slower on purpose, by a known fraction: the regression gate's test subject.

What it promises
    :class:`Tunable` is ``fast`` (``localimpls/fast.py``) behind a thin
    delegating wrapper (every attribute read, write and delete goes to the
    wrapped ``fast`` Local, dunders included), so it isolates exactly as
    ``fast`` does under every load.  With ``CTXBENCH_TEST_SLOWDOWN=s`` (a fraction, e.g. ``0.15``) set
    in the environment of the process that imports this module, every read of
    the attribute named by ``CTXBENCH_TEST_SLOW_ATTR`` (default ``x``, the
    attribute the micro-benchmark's ``get`` reads) does extra work calibrated
    to cost ``s`` times what that read costs without it.  Other attributes --
    ``stack``, which ``LocalStack`` reads for ``push``/``top``/``pop``/
    ``proxy-get`` -- and writes are untouched, so exactly one micro metric
    (``get``) slows down.  Unset or ``0``: no extra work and no calibration.

Why it is built like this
    The gate must be shown catching a real slowdown, not a number edited in
    a file: the extra work is real bytecode executed on the read path, timed
    by the same harness as every other subject.  The work is ``n`` copies of
    one cheap statement (``_v = name``: a load and a store, about 3 ns on the
    2-core box this was written on) compiled into the read
    method itself -- no loop and no call, whose fixed costs would make small
    slowdowns impossible -- and ``n`` is calibrated when the module is
    imported, in the process that will be measured: reads are timed without
    and with ``n`` extra statements (best of several interleaved rounds) and
    ``n`` is corrected until it gives ``s`` (see :func:`_calibrate`).  This
    takes a few tens of milliseconds; :data:`CALIBRATION` holds the result,
    including the slowdown achieved in calibration (``achieved``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from localimpls.fast import Local as _Fast

ENV_SLOWDOWN = "CTXBENCH_TEST_SLOWDOWN"
ENV_ATTR = "CTXBENCH_TEST_SLOW_ATTR"
#: Secant steps of calibration at most.
_STEPS = 4
#: Rounds of calibration timing; the fastest round counts (the least disturbed).
_ROUNDS = 7
_READS_PER_ROUND = 2000

_GETATTRIBUTE_TEMPLATE = """\
def __getattribute__(self, name, _slow=slow, _inner_of=inner_of, _get=getattr):
    if name == _slow:
{work}
    return _get(_inner_of(self), name)
"""


def _env_number(name: str, example: str, high: float) -> float:
    """The number in environment variable ``name`` (unset or empty: 0); ValueError when it is not one from 0 to
    ``high``."""
    text = os.environ.get(name, "").strip() or "0"
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r}: expected a number such as {example}") from None
    if not 0 <= value <= high:
        raise ValueError(f"{name}={text!r}: expected a number from 0 to {high:g}")
    return value


def _slowdown() -> float:
    """The fraction by which reads are slowed down."""
    return _env_number(ENV_SLOWDOWN, "0.15", 10)


def _slow_attr() -> str:
    name = os.environ.get(ENV_ATTR, "").strip() or "x"
    if not name.isidentifier():
        raise ValueError(f"{ENV_ATTR}={name!r}: expected an attribute name")
    return name


def _compile_getattribute(statements: int, slow: str) -> Callable[..., Any]:
    """``__getattribute__`` with ``statements`` extra statements on reads of ``slow`` (a plain delegation when 0)."""
    work = "\n".join(["        _v = name"] * statements) or "        pass"
    namespace: dict[str, Any] = {"slow": slow, "inner_of": _INNER.__get__}
    exec(compile(_GETATTRIBUTE_TEMPLATE.format(work=work), f"<tests.slow_locals: {statements} extra>", "exec"),
         namespace)
    function: Callable[..., Any] = namespace["__getattribute__"]
    return function


class Tunable:
    """``fast``, delegated to; reads of one attribute do calibrated extra work (see the module docstring)."""

    __slots__ = ("_inner",)

    def __init__(self) -> None:
        object.__setattr__(self, "_inner", _Fast())

    # __getattribute__ is installed below, once calibrated.

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(_INNER.__get__(self), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(_INNER.__get__(self), name)


#: The slot descriptor: ``_INNER.__get__(obj)`` reads the wrapped Local without any attribute lookup on ``obj``.
_INNER: Any = Tunable.__dict__["_inner"]


def _timer_for(statements: int, slow: str) -> Callable[[], float]:
    """A function timing one round of reads of ``slow`` through a ``__getattribute__`` with ``statements`` extra
    statements."""
    getattribute = _compile_getattribute(statements, slow)
    body = "\n".join([f"        l.{slow}"] * 10)
    namespace: dict[str, Any] = {}
    exec(f"def loop(l, n, timer):\n    t0 = timer()\n    for _ in range(n):\n{body}\n    return timer() - t0\n",
         namespace)
    loop = namespace["loop"]

    def one_round() -> float:
        Tunable.__getattribute__ = getattribute  # type: ignore[method-assign]
        local = Tunable()
        setattr(local, slow, 1)
        loop(local, 20, time.perf_counter_ns)  # warm-up: lets the specialising interpreter settle
        return loop(local, _READS_PER_ROUND // 10, time.perf_counter_ns) / _READS_PER_ROUND

    return one_round


def _best_pair(statements: int, slow: str) -> tuple[float, float]:
    """Best-of-rounds ns per read without and with ``statements`` extra statements, rounds interleaved."""
    plain, slowed = _timer_for(0, slow), _timer_for(statements, slow)
    pairs = [(plain(), slowed()) for _ in range(_ROUNDS)]
    return min(p for p, _ in pairs), min(s for _, s in pairs)


def _calibrate(slowdown: float, slow: str) -> dict[str, Any]:
    """How many extra statements make a read of ``slow`` ``slowdown`` times slower; installs that ``__getattribute__``.

    Secant steps: guess a count, time reads with and without it (interleaved,
    best of several rounds), correct the count by the cost per statement just
    seen.  The cost of one statement depends on how many there are (the
    interpreter fuses neighbouring loads and stores), so it is measured at the
    count that will be used, not at some other count.
    """
    if slowdown == 0:
        Tunable.__getattribute__ = _compile_getattribute(0, slow)  # type: ignore[method-assign]
        return {"slowdown": 0.0, "attribute": slow, "statements": 0}
    statements = max(1, round(slowdown * 150 / 3.0))  # a first guess: a 150 ns read, 3 ns a statement
    read_ns = slowed_ns = 0.0
    for _ in range(_STEPS):
        read_ns, slowed_ns = _best_pair(statements, slow)
        per_statement = max((slowed_ns - read_ns) / statements, 0.05)
        better = max(1, round(slowdown * read_ns / per_statement))
        if better == statements:
            break
        statements = better
    Tunable.__getattribute__ = _compile_getattribute(statements, slow)  # type: ignore[method-assign]
    return {"slowdown": slowdown, "attribute": slow, "statements": statements, "read_ns": round(read_ns, 1),
            "slowed_read_ns": round(slowed_ns, 1), "achieved": round(slowed_ns / read_ns - 1, 3) if read_ns else None}


#: What calibration found in this process: the requested slowdown, the statements added and the costs measured.
CALIBRATION: dict[str, Any] = _calibrate(_slowdown(), _slow_attr())


# --- the same idea for the database half ------------------------------------------------------------

ENV_DB_DELAY = "CTXBENCH_TEST_DB_DELAY_US"


def _db_delay_s() -> float:
    """The CPU time burnt on every checkout, in seconds."""
    return _env_number(ENV_DB_DELAY, "20", 1_000_000) / 1e6


class _SlowCheckout:
    """A worker's own-connection handle that first burns ``delay`` seconds of CPU on every checkout."""

    __slots__ = ("delay", "inner")

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    def checkout(self) -> _SlowCheckout:
        return self

    def __enter__(self) -> Any:
        if self.delay:
            end = time.perf_counter() + self.delay
            while time.perf_counter() < end:  # busy: real work the client does, holding the GIL (and the hub)
                pass
        return self.inner.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.inner.__exit__(*exc)


def slow_own_connection(connect_kwargs: dict[str, Any], concurrency: int) -> Any:
    """``own-connection`` whose every checkout first busy-waits ``CTXBENCH_TEST_DB_DELAY_US`` microseconds.

    For ``--strategy tests.slow_locals:slow_own_connection``: a real client-side
    slowdown of one strategy (the delay is read in the cell process, when the
    strategy is built), so the database half of the gate can be shown catching
    one.  The slowdown in ops/s that a given delay causes depends on the load
    and the machine; the gate's table says what it measured.
    """
    from bench.cell.strategies import OwnConnection

    delay = _db_delay_s()

    class SlowOwnConnection(OwnConnection):
        def for_worker(self, index: int) -> Any:  # type: ignore[override]
            return _SlowCheckout(super().for_worker(index), delay)

    return SlowOwnConnection(connect_kwargs, concurrency)
