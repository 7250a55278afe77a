"""Running what the gate compares: the quick matrix, fresh samples of suspects, re-runs of changed cells.

:func:`measure` runs a :class:`~bench.gate.plan.GatePlan` (probes and micro-benchmarks
through :func:`bench.exec.locals.run_locals`, database cells one at a time through
:func:`bench.exec.db.run_db`) and returns a :class:`Measurement`: the records, the gate's
metrics and correctness entries, error lines and notes.  Nothing here judges anything.
:func:`speed_remeasure` and :func:`combined_rerun` make the callables the confirmation
step (:mod:`bench.gate.confirm`) calls with the names it suspects.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bench.cell.micro import rotated
from bench.errors import UsageError
from bench.gate.metrics import Metric, db_entries, db_metrics, micro_metrics, model_entries, probe_entries
from bench.gate.plan import DB_REFERENCE, ENV_REQUIRE_DB, JOBS, GatePlan
from bench.plan.selection import DbSelection, LocalsPlan
from bench.records.kinds import Record

log = logging.getLogger(__name__)

#: Records per repeat: ``rounds[r]`` holds the records of repeat ``r``.
Rounds = list[list[Record]]


@dataclass
class Measurement:
    """What one run of the quick matrix produced."""

    environment: dict[str, Any]
    records: list[Record] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    speed: dict[str, Metric] = field(default_factory=dict)
    correctness: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Why the database half did not run (None: it ran, or it was not asked for).
    db_skipped: str | None = None
    db_ran: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class DbServer:
    """The server of the database half: its target (a ServerTarget), or None and why the half is skipped."""

    target: Any = None
    skipped: str | None = None


@dataclass
class Fresh:
    """Fresh samples of some metrics: what a confirmation step measured."""

    metrics: dict[str, Metric] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: Lines ``NAME: why`` for metrics that got fewer samples than asked for.
    notes: list[str] = field(default_factory=list)


#: Fresh samples of the metrics of the given names.
Remeasure = Callable[[Sequence[str]], Fresh]
#: Fresh correctness entries of the cells of the given names, and error lines.
Rerun = Callable[[Sequence[str]], tuple[dict[str, dict[str, Any]], list[str]]]


def machine_load() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def run_db_rounds(target: Any, selection: DbSelection, *, repeats: int) -> tuple[Rounds, list[str]]:
    """``repeats`` rounds of every cell of ``selection``, each cell a fresh process; records per round, error lines.

    Within a round the cells of one load and concurrency run back to back, the reference among
    them, in an order rotated from round to round: a ratio's two halves are measured seconds
    apart, and no strategy always runs first or last.  Every record gets ``repeat`` and
    ``machine_load_1m`` (read right after the cell).
    """
    from bench.exec.db import run_db

    rounds: Rounds = []
    errors: list[str] = []
    groups = [(load, c) for load in selection.loads for c in selection.concurrency]
    for r in range(repeats):
        records: list[Record] = []
        for g, (load, c) in enumerate(groups):
            order = rotated(list(selection.strategies), r + g, repeats)
            log.info("db: repeat %d/%d, %s c=%d: %s", r + 1, repeats, load, c, ", ".join(order))
            for strategy in order:  # one cell at a time, so the machine's load can be read after each
                one = replace(selection, strategies=[strategy], loads=[load], concurrency=[c])
                recs, errs = run_db(target, one, ceiling=False)
                load_1m = machine_load()
                records += [rec.replace(repeat=r, machine_load_1m=load_1m) for rec in recs]
                errors += [e for e in errs if e not in errors]
        rounds.append(records)
    return rounds, errors


def find_target(url: str | None) -> tuple[Any, Any, str | None]:
    """(server handle, target, None) or (None, None, why the database half is skipped).

    A URL the user gave that does not work is a UsageError (from
    :func:`bench.server.find_server`); no server at all is a skip, unless
    ``CTXBENCH_REQUIRE_DB=1``.
    """
    from bench.server import ServerUnavailable, find_server

    try:
        handle = find_server(url)
    except ServerUnavailable as exc:
        if os.environ.get(ENV_REQUIRE_DB) == "1":
            raise UsageError(f"{ENV_REQUIRE_DB}=1, but {exc.reason}") from None
        return None, None, exc.reason
    return handle, handle.target, None


def measure(plan: GatePlan, target: Any, *, db_skipped: str | None = None, quiet: bool = False,
            jobs: int = JOBS) -> Measurement:
    """Run the probes, the micro-benchmarks and, with a server ``target``, the database rounds of ``plan``.

    ``target`` None with ``plan.db``: the database half is skipped for the reason ``db_skipped``.
    """
    from bench.exec.locals import run_locals
    from bench.records.environment import fingerprint, load_average

    started = time.monotonic()
    out = Measurement(environment=fingerprint())
    outcome = run_locals(plan, jobs=jobs, quiet=quiet)
    out.records += outcome.records
    out.errors += outcome.errors
    out.correctness.update(probe_entries(outcome.records))
    out.speed.update(micro_metrics(outcome.records, out.notes))
    if plan.db and target is None:
        out.db_skipped = db_skipped or "no MySQL-protocol server"
    elif plan.db:
        out.environment["db_server"] = target.redacted_url()
        rounds, errors = run_db_rounds(target, plan.db_selection(), repeats=plan.db_repeats)
        out.db_ran = True
        out.errors += errors
        for records in rounds:
            out.records += records
        out.correctness.update(db_entries(rounds))
        out.speed.update(db_metrics(rounds, out.notes))
    if plan.stack and target is not None:
        out.errors += [e for e in run_stack_check(target, out.records, quiet=quiet) if e not in out.errors]
        out.correctness.update(model_entries(out.records))
    out.environment["load_average_end"] = load_average()
    out.seconds = time.monotonic() - started
    return out


def run_stack_check(target: Any, records: list[Record], *, quiet: bool = True) -> list[str]:
    """The quick real-stack matrix and the in-process db cells that predict it, appended to ``records``.

    The gate's own db rounds hold only the strategies expected safe at its concurrency, so the stack's
    predictors are run here once each (the matrix's ``--quick`` timing).  Returns error lines.  Without the
    ``stack`` extra every stack cell is recorded skipped (said once) and no model entry is formed.
    """
    from bench.cell.loads import DB_LOADS
    from bench.exec.pipeline import MemorySink, Pipeline
    from bench.plan.cells import Cell, Planned, Timing, cell_id, model_companions, plan_stack
    from bench.plan.matrix import DB_QUICK, STACK_QUICK
    from bench.plan.selection import DbSelection, StackSelection
    from bench.webstack.servers import SERVERS

    stack = StackSelection(**{k: list(v) if isinstance(v, tuple) else v for k, v in STACK_QUICK.items()})
    none = DbSelection(strategies=[], loads=[], concurrency=[], duration=DB_QUICK["duration"],
                       warmup=DB_QUICK["warmup"], request_impls=[], request_strategies=[])
    loads = {name: info.model_load for name, info in SERVERS.items()}
    timing = Timing(none.duration, none.warmup, none.hang_after)
    cells = [Planned(cell_id("db", c.strategy, c.load, f"c{c.concurrency}"), "db", c.label(),
                     Cell("db", c.strategy, c.load, c.concurrency).spec(timing))
             for c in model_companions(none, stack, loads, DB_LOADS)]
    sink = MemorySink()
    errors = Pipeline(sink, title="stack check", quiet=quiet, target=target).run(cells + plan_stack(stack))
    records += sink.records
    return errors


def remeasure(plan: GatePlan, target: Any, wanted: Sequence[Metric]) -> Fresh:
    """Fresh samples of just the metrics ``wanted``: their impls (with threading.local) or strategies (with locked)."""
    from bench.exec.micro import run_micro

    fresh = Fresh()
    micro = [m for m in wanted if m.kind == "micro"]
    if micro:
        impls = list(dict.fromkeys(m.subject for m in micro))
        ops = list(dict.fromkeys(str(m.op) for m in micro))
        log.info("confirming %d micro metric(s): %s x %s", len(micro), ", ".join(impls), ", ".join(ops))
        records, errors = run_micro(impls, ops=ops, processes=plan.micro_processes, values=plan.micro_values)
        fresh.errors += errors
        fresh.metrics.update(micro_metrics(records, fresh.notes))
    db = [m for m in wanted if m.kind == "db"]
    if db and target is None:
        fresh.errors.append("cannot confirm database metrics: no server")
    elif db:
        for load, c in dict.fromkeys((str(m.load), int(m.concurrency or 0)) for m in db):
            strategies = [DB_REFERENCE, *dict.fromkeys(m.subject for m in db if m.load == load and m.concurrency == c)]
            log.info("confirming database metric(s) at %s c=%d: %s", load, c, ", ".join(strategies[1:]))
            rounds, errors = run_db_rounds(target, plan.db_selection(strategies, [load], [c]), repeats=plan.db_repeats)
            fresh.errors += errors
            fresh.metrics.update(db_metrics(rounds, fresh.notes))
    names = {m.name for m in wanted}
    fresh.metrics = {n: m for n, m in fresh.metrics.items() if n in names}
    return fresh


def speed_remeasure(plan: GatePlan, target: Any, baseline_speed: Mapping[str, Metric]) -> Remeasure:
    """A :data:`Remeasure` measuring the named baseline metrics again with ``plan``'s sizes."""
    return lambda names: remeasure(plan, target, [baseline_speed[n] for n in names])


def probe_rerun(plan: GatePlan) -> Rerun:
    """A :data:`Rerun` that runs the probe cells of the given keys again, in fresh processes."""
    def rerun(names: Sequence[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        from bench.exec.locals import run_locals

        parts = [name.split("/") for name in names if name.startswith("probe/")]
        if not parts:
            return {}, []
        impls = tuple(dict.fromkeys("/".join(p[1:-2]) for p in parts))
        loads = tuple(dict.fromkeys(p[-2] for p in parts))
        probes = tuple(dict.fromkeys(p[-1] for p in parts))
        again = LocalsPlan(impls=impls, loads=loads, probes=probes, workers=plan.workers, micro=False)
        outcome = run_locals(again, quiet=True)
        return probe_entries(outcome.records), outcome.errors

    return rerun


def combined_rerun(plan: GatePlan, target: Any) -> Rerun:
    """Probe cells through :func:`probe_rerun`; database cells (errors only) as ``plan.db_repeats`` more repeats."""
    probes = probe_rerun(plan)

    def rerun(names: Sequence[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        fresh, errors = probes(names)
        cells = [n.split("/") for n in names if n.startswith("db/")]
        if cells and target is not None:
            for strategy, load, c in dict.fromkeys(("/".join(p[1:-2]), p[-2], int(p[-1][1:])) for p in cells):
                rounds, errs = run_db_rounds(target, plan.db_selection([strategy], [load], [c]),
                                             repeats=plan.db_repeats)
                errors += errs
                fresh.update(db_entries(rounds))
        return fresh, errors

    return rerun
