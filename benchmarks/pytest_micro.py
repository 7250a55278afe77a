"""The micro-benchmarks as pytest-benchmark tests: saved JSON, ``--benchmark-compare``, histograms.

What it promises
    One test per (subject, op), ``test_op[<subject>-<op>]``, for the same
    subjects and ops as :mod:`bench.cell.micro`: ``plain``, every registered
    subject, and any extra ``package.module:Class`` listed (comma separated) in
    ``CTXBENCH_MICRO_IMPLS``.  Run it with::

        pytest benchmarks/pytest_micro.py --benchmark-only --benchmark-autosave
        pytest benchmarks/pytest_micro.py --benchmark-only --benchmark-compare

    pytest collects this file when its path is given, although its name does
    not match ``test_*.py``; ``testpaths = ["tests"]`` keeps it out of a bare
    ``pytest`` run.  It lives outside the ``bench`` package, so it is not
    shipped in the wheel.  A reference subject whose package is not installed
    (werkzeug, gevent) is skipped with the reason; a subject that cannot be
    imported or misbehaves fails with the same one-line reason ``ctxbench
    micro`` gives.

How it differs from ``ctxbench micro`` (bench.cell.micro, bench.exec.micro)
    pytest-benchmark times a call, so each benchmarked function runs the op
    :data:`OPS_PER_CALL` times, written out (compiled like timeit, objects as
    fast locals): the call's own cost is shared by that many ops.  **A reported
    time is for OPS_PER_CALL ops**; ``extra_info.ns_per_op_median`` in the
    saved JSON is the median divided out.  Nothing is subtracted here: ``del``,
    ``push`` and ``pop`` include their restoring ``set`` (compare them with
    the same subject's ``set``), and the harness is included.  As there, each
    test builds and times its objects in a new, empty contextvars.Context.  Use
    ``ctxbench micro`` for net per-op costs and ratios; use this for history
    and comparisons between saved runs.  Benchmarks are grouped per op, so a
    comparison table puts the subjects of one op side by side.  The collector
    is off while timing, as in :mod:`bench.cell.micro`; the other pytest-benchmark
    options (``--benchmark-min-time``, ``--benchmark-max-time``, rounds) keep
    their command-line meaning: at the defaults (up to 1 s per test) the whole
    file takes about a minute; ``--benchmark-max-time=0.2`` gives a quicker look.
"""

from __future__ import annotations

import contextvars
import importlib.util
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import localimpls
from bench.cell.micro import (
    MINUS_SET,
    OPS,
    STATEMENTS,
    SUBJECT_PLAIN,
    SubjectError,
    check_subject,
    compile_call,
    prepare,
    subject_factory,
)

#: How many times one benchmarked call runs the op (a multiple of every op's statement cycle).
OPS_PER_CALL = 100
#: Extra subjects, ``package.module:Class`` or registry names, comma separated.
EXTRA_ENV = "CTXBENCH_MICRO_IMPLS"

#: What each op measures, saved with every result as ``extra_info.measures``.
MEASURES: dict[str, str] = {
    "get": "read l.x (an existing value), no write in between",
    "set": "overwrite l.x, alternating two values",
    "del": "l.x = v; del l.x (includes one set)",
    "push": "stack.push(o) onto an empty stack, then restore it (includes one set)",
    "top": "stack.top of a one-item stack",
    "pop": "stack.pop() of a one-item stack, then restore it (includes one set)",
    "proxy-get": "request.attr through LocalProxy(lambda: stack.top)",
}


def subjects() -> list[str]:
    """``plain``, the registered subjects, then the extras named in ``CTXBENCH_MICRO_IMPLS``."""
    extra = [name.strip() for name in os.environ.get(EXTRA_ENV, "").split(",") if name.strip()]
    return list(dict.fromkeys([SUBJECT_PLAIN, *localimpls.REGISTRY, *extra]))


def missing_package(name: str) -> str | None:
    """The top-level package a reference subject needs when it is not installed, else None."""
    if name not in localimpls.REFERENCES:
        return None
    package = localimpls.REFERENCES[name].partition(":")[0].partition(".")[0]
    return package if importlib.util.find_spec(package) is None else None


def cases() -> Iterator[Any]:
    """Every (subject, op) as a pytest param with id ``subject-op``, skipping absent references."""
    for name in subjects():
        package = missing_package(name)
        reason = f"{name}: package {package!r} is not installed (pip install 'ctxbench[peers]')"
        marks = [pytest.mark.skip(reason=reason)] if package else []
        for op in OPS:
            yield pytest.param(name, op, id=f"{name}-{op}", marks=marks)


_factories: dict[str, Callable[[], Any] | str] = {}  # subject -> factory, or why it failed: checked once per session


def factory_for(name: str) -> Callable[[], Any]:
    """The subject's factory after :func:`bench.cell.micro.check_subject`; fail with the one-line reason otherwise."""
    if name not in _factories:
        try:
            factory = subject_factory(name)
            check_subject(name, factory)
            _factories[name] = factory
        except SubjectError as exc:
            _factories[name] = str(exc)
    found = _factories[name]
    if isinstance(found, str):
        pytest.fail(found, pytrace=False)
    return found


@pytest.fixture
def local_factory(subject: str) -> Callable[[], Any]:
    """The subject's checked factory; a broken subject errors here, before the benchmark fixture exists."""
    return factory_for(subject)


@pytest.mark.benchmark(disable_gc=True)
@pytest.mark.parametrize(("subject", "op"), list(cases()))
def test_op(local_factory: Callable[[], Any], benchmark: Any, subject: str, op: str) -> None:
    """Time of OPS_PER_CALL consecutive ``op``s on a fresh ``subject`` Local, harness included.

    get: ``l.x``.  set: ``l.x = v`` / ``l.x = w`` alternating.  del: ``l.x = v;
    del l.x``.  push: ``s.push(o); l.stack = saved`` from an empty stack.  top:
    ``s.top``.  pop: ``s.pop(); l.stack = saved`` from a one-item stack.
    proxy-get: ``request.attr`` with ``request = LocalProxy(lambda: s.top)``.
    ``s`` is a ``LocalStack`` over the subject and ``l`` its Local.
    """
    benchmark.group = f"micro {op}"
    benchmark.extra_info.update(impl=subject, op=op, ops_per_call=OPS_PER_CALL, measures=MEASURES[op],
                                includes_set=op in MINUS_SET)

    def build_and_time() -> None:
        names = prepare(local_factory, op)  # fresh objects: no other test's ops touch them
        benchmark(compile_call(STATEMENTS[op], names, OPS_PER_CALL))

    # A new, empty context: ContextVar costs grow with the variables a context
    # holds, and earlier tests' Locals must not make this one slower.
    contextvars.Context().run(build_and_time)
    stats = getattr(benchmark.stats, "stats", None)  # None under --benchmark-disable
    if stats is not None:
        benchmark.extra_info["ns_per_op_median"] = round(stats.median * 1e9 / OPS_PER_CALL, 1)
