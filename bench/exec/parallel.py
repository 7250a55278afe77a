"""The parent side of the 1-thread / 2-thread cell: fresh processes one after another, their rates aggregated.

:func:`run_parallel` times nothing: it runs ``processes`` worker processes (``python -m bench.cell``, task
``parallel``, :mod:`bench.cell.micro.parallel`) on the cell's interpreter, one after another so that no two overlap,
and makes one ``parallel`` record per (subject, op): the median ops/s of the one thread, the median ops/s of each of
the two, and their ratio, ``scaling`` (:func:`scaling`).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.cell.micro import subject_error_text
from bench.cell.micro.ops import one_line
from bench.cell.micro.parallel import parallel_subjects
from bench.exec.micro import merge_interpreter
from bench.exec.spawn import run_cell
from bench.plan.specs import ParallelSpec, ParallelTask
from bench.records.kinds import ParallelRecord, pair_means

log = logging.getLogger(__name__)


def scaling(one: float, each_of_two: float) -> float:
    """Ops/s of each of two threads over ops/s of one thread (1: no contention, 0.5: the two took turns).

    ValueError unless both are positive numbers.
    """
    if not one > 0 or not each_of_two > 0:
        raise ValueError(f"scaling needs two positive rates, got {one!r} and {each_of_two!r}")
    return each_of_two / one


def best_scaling(values_1: list[float], values_2: list[float]) -> float | None:
    """Scaling from the least disturbed rounds: the best pair (mean of a round's two threads, ``values_2`` in pairs)
    over the best single thread; None without a full pair."""
    pairs = pair_means(values_2)
    if not pairs or not values_1 or max(values_1) <= 0:
        return None
    return max(pairs) / max(values_1)


def worker_timeout(subjects: int, ops: int, rounds: int, window: float) -> float:
    """Seconds a worker may take: a generous multiple of its windows (two per subject, op and round)."""
    return 60.0 + 5.0 * subjects * ops * rounds * 2 * (window + 0.05)


@dataclass
class _Collected:
    values: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    interpreter: dict[str, Any] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)
    cores: int | None = None
    processes: int = 0

    def merge(self, output: dict[str, Any]) -> None:
        self.processes += 1
        self.interpreter = merge_interpreter(self.interpreter, (output.get("facts") or {}).get("interpreter"))
        self.cores = output.get("cores") or self.cores
        if isinstance(output.get("load_1m"), (int, float)):
            self.loads.append(float(output["load_1m"]))
        for name, message in (output.get("errors") or {}).items():
            self.errors.setdefault(name, subject_error_text(name, str(message)))
        for name, per_op in (output.get("values") or {}).items():
            for op, rates in per_op.items():
                mine = self.values.setdefault(name, {}).setdefault(op, {"1": [], "2": []})
                mine["1"] += [float(v) for v in rates.get("1", [])]
                mine["2"] += [float(v) for v in rates.get("2", [])]


def _records(collected: _Collected, spec: ParallelSpec) -> list[ParallelRecord]:
    records = []
    for name in parallel_subjects(spec.impls):
        if name in collected.errors:
            continue
        for op, rates in collected.values.get(name, {}).items():
            if not rates["1"] or not rates["2"]:
                continue
            one, two = statistics.median(rates["1"]), statistics.median(rates["2"])
            best = best_scaling(rates["1"], rates["2"])
            records.append(ParallelRecord(
                impl=name, op=op, ops_per_s_1=round(one), ops_per_s_2=round(two), scaling=round(scaling(one, two), 3),
                ns_1=round(1e9 / one, 2), ns_2=round(1e9 / two, 2),
                scaling_best=round(best, 3) if best is not None else None, values_1=[round(v) for v in rates["1"]],
                values_2=[round(v) for v in rates["2"]], processes=collected.processes, rounds=spec.rounds,
                window_s=spec.window, cores=collected.cores, machine_load_1m=collected.loads,
                **collected.interpreter))
    return records


def run_parallel(spec: ParallelSpec, *, progress: Callable[[str], None] | None = None
                 ) -> tuple[list[ParallelRecord], list[str]]:
    """Run the cell ``spec`` plans; ``(records, error lines)`` (one ``impl 'NAME': reason`` per failed subject)."""
    say = progress or log.info
    collected = _Collected()
    subjects = parallel_subjects(spec.impls)
    errors: list[str] = []
    limit = worker_timeout(len(subjects), len(spec.ops), spec.rounds, spec.window)
    for index in range(spec.processes):
        say(f"1 and 2 threads: process {index + 1}/{spec.processes}: {len(subjects)} subjects x {len(spec.ops)} ops")
        task = ParallelTask(impls=list(spec.impls), ops=list(spec.ops), rounds=spec.rounds, window=spec.window,
                            seed=index)
        result = run_cell(task, timeout=limit, python=spec.python or None)
        if result.failure is not None or not isinstance(result.output.get("values"), dict):
            line = one_line(f"1 and 2 threads: worker process {result.failure or 'wrote no output'}")
            if line not in errors:
                errors.append(line)
            continue
        collected.merge(result.output)
    errors += [collected.errors[name] for name in subjects if name in collected.errors]
    return _records(collected, spec), errors
