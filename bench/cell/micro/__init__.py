"""Micro-benchmarks of Local implementations, the worker side: nanoseconds per attribute op, measured pyperf style.

Contract
    For every subject -- a name :func:`localimpls.resolve` accepts, plus the
    floor ``plain`` (an ordinary instance attribute) and the reference
    ``threading-local`` (always measured) -- and every op in :data:`OPS`, the
    parent (:func:`bench.exec.micro.run_micro`) makes one ``micro`` record
    holding the median cost of *one* op in nanoseconds, net of the timing
    loop, its median absolute deviation, every value it came from, and its
    ratio to ``threading.local`` for the same op.  A subject that cannot be
    imported or does not behave like a Local yields one error line
    ``impl 'NAME': <reason>`` and no records; every other subject is still
    measured.

    This package is what runs in a worker process (``python -m bench.cell``,
    task ``micro``): :func:`run_micro_worker` checks every subject
    (:func:`check_subject`), then, op by op, takes ``values`` values of every
    subject in interleaved rounds (the order rotated from round to round), each
    op in a new, empty ``contextvars.Context`` with fresh objects, through a
    timing function compiled for that subject and op (:func:`compile_loop`:
    the op unrolled :data:`UNROLL` times, every object a local variable, the
    loop count calibrated by doubling until one value takes ``min_time``, the
    collector off).  The cost of the empty loop (``HARNESS_STATEMENT``) is
    subtracted; ``del``, ``push`` and ``pop`` include a restoring ``set``, and
    the subject's own ``set``, timed just before in the same round, is
    subtracted instead::

        del  = time(l.x = v; del l.x)         - set
        push = time(s.push(o); l.stack = saved) - set     # l = s._local, saved = ()
        pop  = time(s.pop(); l.stack = saved)   - set     # saved = (o,)

    Why it is built like this, with the measurements behind it: ``docs/cell.md``.
"""

from bench.cell.micro.compile import compile_call, compile_loop
from bench.cell.micro.measure import WorkerSpec, op_order, run_micro_worker
from bench.cell.micro.ops import (
    ARGUMENTS,
    HARNESS_STATEMENT,
    MINUS_SET,
    OPS,
    STATEMENTS,
    SUBJECT_PLAIN,
    SUBJECT_REFERENCE,
    UNROLL,
    Payload,
    Plain,
    SubjectError,
    check_ops,
    format_ns,
    rotated,
    subject_error_text,
    subjects_for,
)
from bench.cell.micro.subjects import check_subject, prepare, subject_factory

__all__ = [
    "ARGUMENTS", "HARNESS_STATEMENT", "MINUS_SET", "OPS", "STATEMENTS", "SUBJECT_PLAIN", "SUBJECT_REFERENCE", "UNROLL",
    "Payload", "Plain", "SubjectError", "WorkerSpec", "check_ops", "check_subject", "compile_call", "compile_loop",
    "format_ns", "op_order", "prepare", "rotated", "run_micro_worker", "subject_error_text", "subject_factory",
    "subjects_for",
]
