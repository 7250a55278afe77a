"""The parent side of the micro-benchmarks: worker processes one after another, their values aggregated.

:func:`run_micro` never times anything.  It runs ``processes`` fresh workers
(``python -m bench.cell``, task ``micro``, through :func:`bench.exec.spawn.run_cell`,
which kills the whole process tree of a worker that overruns its time limit)
one after another, so timings never overlap; every worker measures every
subject (:mod:`bench.cell.micro`), the subjects' order rotated from process to
process.  A worker that crashes or hangs is retried one subject per process, so
the culprit is named and the others are still measured.  pyperf's ``Runner`` is
not used because it owns ``sys.argv`` and spawns workers by re-running the
calling script; the CLI and the tests need a plain function.

Records: ``{"kind": "micro", "impl", "op", "ns_median", "ns_spread", "spread_kind": "mad", "values", "processes",
"values_per_process", "loops", "harness_ns", "ratio_to_threading_local"}``; nanoseconds rounded to 0.1 (harness to
0.01), ratios to 0.001.  ``loops`` is the smallest loop count any process used; each loop iteration runs the op
:data:`bench.cell.micro.UNROLL` times.
"""

from __future__ import annotations

import logging
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.cell.micro import MINUS_SET, SUBJECT_REFERENCE, check_ops, rotated, subject_error_text, subjects_for
from bench.cell.micro.ops import check_int, check_positive, one_line
from bench.errors import UsageError
from bench.exec.spawn import run_cell
from bench.plan.specs import MicroSpec, MicroTask
from bench.records.kinds import MicroRecord

log = logging.getLogger(__name__)


def worker_timeout(subjects: int, ops: int, values: int, warmups: int, min_time: float) -> float:
    """Seconds a worker may take before it is declared hung: a generous multiple of the planned work."""
    # Per series: calibration (doubling: under 4 x min_time) + warmups + values;
    # per subject: the ops, the harness, and a set timed beside each composite op.
    planned = subjects * (ops + 1 + len(MINUS_SET)) * (values + warmups + 4) * max(min_time, 0.001)
    return 60.0 + 5.0 * planned


def _spawn(spec: MicroTask, timeout: float, python: str | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """Run one worker process (on ``python``, else this interpreter); return (its output, None) or (None, why it
    failed, one line)."""
    try:
        result = run_cell(spec, timeout=timeout, python=python)
    except OSError as exc:
        raise UsageError(f"micro: cannot run {python or sys.executable!r}: {exc.strerror or exc}") from None
    if result.timed_out:
        return None, f"worker process timed out after {timeout:.0f} s"
    if result.failure is not None:
        return None, one_line(f"worker process {result.failure}")
    output = result.output
    if not output:
        return None, "worker process wrote no output"
    if not all(isinstance(output.get(key), dict) for key in ("values", "errors", "harness_ns")):
        return None, "worker output is not a micro result"
    return output, None


@dataclass
class Collected:
    """Everything the workers reported, per subject."""

    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    loops: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    harness: dict[str, list[float]] = field(default_factory=dict)
    processes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    #: The interpreter the workers ran on, as they measured it (:func:`merge_interpreter`).
    interpreter: dict[str, Any] = field(default_factory=dict)

    def merge(self, output: dict[str, Any]) -> None:
        """Add one worker's output; a subject's first error wins and drops its values."""
        self.interpreter = merge_interpreter(self.interpreter, (output.get("facts") or {}).get("interpreter"))
        for name, message in output["errors"].items():
            self.errors.setdefault(name, subject_error_text(name, str(message)))
        for name, per_op in output["values"].items():
            if name in self.errors:
                continue
            self.processes[name] = self.processes.get(name, 0) + 1
            self.harness.setdefault(name, []).append(float(output["harness_ns"][name]))
            for op, values in per_op.items():
                self.values.setdefault(name, {}).setdefault(op, []).extend(float(v) for v in values)
                self.loops.setdefault(name, {}).setdefault(op, []).append(int(output["loops"][name][op]))
        for name in self.errors:
            self.values.pop(name, None)

    def fail(self, name: str, reason: str) -> None:
        """Subject ``name`` failed outside any worker's output (its process crashed or hung)."""
        self.errors.setdefault(name, subject_error_text(name, reason))
        self.values.pop(name, None)


def merge_interpreter(known: dict[str, Any], facts: Any) -> dict[str, Any]:
    """The interpreter facts of several worker processes as one: the GIL counts as on if it was on in any of them."""
    if not isinstance(facts, dict):
        return known
    if not known:
        return dict(facts)
    merged = {**known, "gil": bool(known.get("gil")) or bool(facts.get("gil"))}
    by = [*known.get("gil_enabled_by", []), *facts.get("gil_enabled_by", [])]
    if by:
        merged["gil_enabled_by"] = list(dict.fromkeys(by))
    return merged


def aggregate(collected: Collected, subjects: Sequence[str], ops: Sequence[str],
              values_per_process: int) -> list[MicroRecord]:
    """One record per measured (subject, op), with its ratio to threading-local for that op."""
    from scipy.stats import median_abs_deviation

    medians = {(name, op): statistics.median(series) for name, per_op in collected.values.items()
               for op, series in per_op.items() if series}
    records: list[MicroRecord] = []
    for name in subjects:
        if name in collected.errors or name not in collected.values:
            continue
        for op in ops:
            series = collected.values[name].get(op)
            if not series:
                continue
            median = medians[name, op]
            reference = medians.get((SUBJECT_REFERENCE, op))
            ratio = round(median / reference, 3) if reference else None  # None: reference missing (or zero)
            records.append(MicroRecord(
                impl=name, op=op, ns_median=round(median, 1),
                ns_spread=round(float(median_abs_deviation(series)), 1), spread_kind="mad",
                values=[round(v, 1) for v in series], processes=collected.processes[name],
                values_per_process=values_per_process, loops=min(collected.loops[name][op]),
                harness_ns=round(statistics.median(collected.harness[name]), 2), ratio_to_threading_local=ratio,
                **collected.interpreter))
    return records


@dataclass(frozen=True)
class _Plan:
    """A validated micro run: what every worker's spec holds, and each worker's time limit."""

    subjects: list[str]
    ops: list[str]
    processes: int
    values: int
    warmups: int
    min_time: float
    python: str | None = None

    def spec(self, impls: list[str], seed: int) -> MicroTask:
        return MicroTask(ops=self.ops, values=self.values, warmups=self.warmups, min_time=self.min_time,
                         impls=impls, seed=seed)

    def limit(self, count: int) -> float:
        """Seconds worker processes of ``count`` subjects may take (:func:`worker_timeout`, read when called)."""
        return worker_timeout(count, len(self.ops), self.values, self.warmups, self.min_time)


def _run_process(plan: _Plan, index: int, collected: Collected, say: Callable[[str], None]) -> bool:
    """Worker ``index``: every subject not yet failed, in rotated order; retried one subject per process on a crash."""
    # Subjects that already failed fail the same way again: not re-run.
    order = rotated([name for name in plan.subjects if name not in collected.errors], index, plan.processes)
    if not order:
        return False
    say(f"micro: process {index + 1}/{plan.processes}: {len(order)} subjects x {len(plan.ops)} ops")
    output, failure = _spawn(plan.spec(order, index), plan.limit(len(order)), plan.python)
    if output is not None:
        collected.merge(output)
        return True
    # The whole process failed (crash, hang): one process per subject names the culprit.
    say(f"micro: process {index + 1}/{plan.processes} failed ({failure}); retrying one subject per process")
    for name in order:
        solo, solo_failure = _spawn(plan.spec([name], index), plan.limit(1), plan.python)
        if solo is not None:
            collected.merge(solo)
        else:
            collected.fail(name, str(solo_failure))
    return True


def run_micro(
    impls: list[str],
    *,
    ops: list[str] | None = None,
    processes: int = 3,
    values: int = 5,
    warmups: int = 1,
    min_time: float = 0.01,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[MicroRecord], list[str]]:
    """Measure ``impls`` (plus ``plain`` and ``threading-local``) in ``processes`` fresh workers, one after another.

    Returns ``(records, errors)``: one ``micro`` record per (subject, op) that
    was measured, and one ``impl 'NAME': reason`` line per subject that was
    not.  Each worker process is bounded by :func:`worker_timeout`, a generous
    multiple of its planned work.  Progress lines go to ``progress``
    when given (a progress display), else to this module's logger.  Raises
    UsageError for nonsense arguments.
    """
    plan = _Plan(
        subjects=subjects_for(impls), ops=check_ops(ops), processes=check_int("processes", processes, 1),
        values=check_int("values", values, 1), warmups=check_int("warmups", warmups, 0),
        min_time=check_positive("min_time", min_time),
    )
    return _run(plan, progress or log.info)


def run_micro_spec(spec: MicroSpec, *, progress: Callable[[str], None] | None = None
                   ) -> tuple[list[MicroRecord], list[str]]:
    """:func:`run_micro` of a planned micro cell, its workers on the cell's interpreter (``--python``)."""
    plan = _Plan(subjects=subjects_for(spec.impls), ops=check_ops(None), processes=check_int("processes",
                 spec.processes, 1), values=check_int("values", spec.values, 1), warmups=1,
                 min_time=check_positive("min_time", spec.min_time), python=spec.python or None)
    return _run(plan, progress or log.info)


def _run(plan: _Plan, say: Callable[[str], None]) -> tuple[list[MicroRecord], list[str]]:
    """Every worker process of ``plan``, one after another; the records and error lines."""
    collected = Collected()
    for index in range(plan.processes):
        if not _run_process(plan, index, collected, say):
            break
    errors = [collected.errors[name] for name in plan.subjects if name in collected.errors]
    return aggregate(collected, plan.subjects, plan.ops, plan.values), errors
