"""Planned cells: what will run, in order, each with a stable id.

A plan is a list of :class:`Planned` cells.  ``ctxbench run`` writes it to ``run.json`` before
anything runs (so ``--resume`` knows what is missing); ``locals``, ``db`` and ``regress`` plan the
same way and hand the list to the one pipeline in :mod:`bench.exec.pipeline`.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bench.plan.interpreters import Interpreter, impls_for, loads_for, runnable
from bench.plan.matrix import (
    LOCAL_WORKERS,
    MICRO_MIN_TIME,
    MICRO_QUICK_MIN_TIME,
    PARALLEL_DEFAULT,
    PARALLEL_QUICK,
    REQUEST_CONCURRENCY,
)
from bench.plan.selection import DbSelection, LocalsPlan, StackSelection
from bench.plan.specs import (
    DEFAULT_HANG_AFTER,
    UNSET,
    CeilingSpec,
    DbSpec,
    MicroSpec,
    ParallelSpec,
    PlanSpec,
    ProbesSpec,
    StackSpec,
)

#: Kinds of planned cell, in the order a run takes them.
KINDS = ("probes", "micro", "parallel", "ceiling", "db", "request", "stack")
#: Kinds of cell that measure a speed and are planned again for every repeat (``--repeats``).
REPEATED_KINDS = ("db", "request", "stack")

_CELL_ID = re.compile(r"[^A-Za-z0-9_.=+-]+")


def cell_id(*parts: object) -> str:
    """A file-name-safe, stable id for a cell: ``db--pooled--threads--c16``."""
    return "--".join(_CELL_ID.sub("_", str(p)) for p in parts if p is not None and p != "")


def rtt_text(rtt_ms: float) -> str:
    """A round trip as ids and labels name it: ``0`` (direct), ``0.5ms``, ``1ms``."""
    return "0" if rtt_ms == 0 else f"{rtt_ms:g}ms"


@dataclass(frozen=True)
class Cell:
    """One database or request-scenario cell: strategy x load x concurrency (x impl)."""

    kind: str  # "db" or "request"
    strategy: str
    load: str
    concurrency: int  # workers per process
    impl: str | None = None
    #: Load processes, each running ``concurrency`` workers with its own strategy instance.
    processes: int = 1
    #: The round trip (ms) a delay proxy adds between the cell and the server (0: direct); None: not a coordinate.
    rtt_ms: float | None = None
    #: The MySQL driver the strategy speaks (``--driver``); None: not a coordinate (PyMySQL, as always).
    driver: str | None = None
    #: The interpreter it runs on (``--python``: its path and short name; None: the parent's), and whether its id
    #: and label name it (a run of several interpreters).
    python: str | None = None
    interpreter: str | None = None
    named: bool = False

    @property
    def total_concurrency(self) -> int:
        """Workers over every process: what the server sees at once."""
        return self.concurrency * self.processes

    def label(self) -> str:
        """``db pooled threads c=4`` (``... c=4 p=2`` with several processes, ``... rtt=1ms`` with a round trip,
        ``... over mysqlclient`` with a driver named)."""
        head = f"request {self.impl} x {self.strategy}" if self.kind == "request" else f"db {self.strategy}"
        rtt = f" rtt={rtt_text(self.rtt_ms)}" if self.rtt_ms is not None else ""
        on = f" [{self.interpreter}]" if self.named and self.interpreter else ""
        driver = f" over {self.driver}" if self.driver is not None else ""
        procs = f" p={self.processes}" if self.processes > 1 else ""
        return f"{head} {self.load} c={self.concurrency}{procs}{rtt}{driver}{on}"

    def id(self) -> str:
        """The stable cell id: ``db--pooled--threads--c4``, with ``--p2`` only when there are several processes,
        ``--rtt1ms`` (``--rtt0``: direct) only when a round trip was asked for and ``--drv-mysqlclient`` only when a
        driver was named."""
        procs = f"p{self.processes}" if self.processes > 1 else None
        rtt = f"rtt{rtt_text(self.rtt_ms)}" if self.rtt_ms is not None else None
        on = f"py{self.interpreter}" if self.named and self.interpreter else None
        driver = f"drv-{self.driver}" if self.driver is not None else None
        return cell_id(self.kind, self.impl, self.strategy, self.load, f"c{self.concurrency}", procs, rtt, driver, on)

    def spec(self, timing: Timing) -> DbSpec:
        """The cell's plan spec: its coordinates and ``timing`` (``processes`` only when several, ``rtt_ms`` only when
        set, as older plans)."""
        return DbSpec(kind=self.kind, strategy=self.strategy, load=self.load,  # type: ignore[arg-type]
                      concurrency=self.concurrency, impl=self.impl,
                      processes=self.processes if self.processes > 1 else UNSET, duration=timing.duration,
                      warmup=timing.warmup, hang_after=timing.hang_after,
                      mix=dict(timing.mix) if timing.mix is not None else UNSET,
                      rtt_ms=UNSET if self.rtt_ms is None else float(self.rtt_ms),
                      driver=UNSET if self.driver is None else self.driver,
                      python=self.python or UNSET, interpreter=self.interpreter or UNSET)

    @classmethod
    def from_spec(cls, spec: DbSpec) -> Cell:
        """The cell a plan spec describes (named after its interpreter when it has one)."""
        python = spec.python if isinstance(spec.python, str) else None
        interpreter = spec.interpreter if isinstance(spec.interpreter, str) else None
        return cls(spec.kind, spec.strategy, spec.load, spec.concurrency, spec.impl, spec.process_count, spec.rtt,
                   spec.driver_name, python=python, interpreter=interpreter, named=interpreter is not None)


@dataclass(frozen=True)
class Timing:
    """How long each database cell of a plan measures, and its watchdog and mix."""

    duration: float
    warmup: float
    hang_after: float
    mix: dict[str, int] | None = None


@dataclass(frozen=True)
class Planned:
    """One cell of a plan: its id, kind and what the pipeline needs to run it."""

    id: str
    kind: str  # one of KINDS
    label: str
    spec: PlanSpec
    #: Which measurement of the cell this is (0-based; ``--repeats``): every record it writes carries it.
    repeat: int = 0


def probe_specs(plan: LocalsPlan) -> list[ProbesSpec]:
    """One cell spec per impl x load; every probe of the plan runs in that cell."""
    return [ProbesSpec(impl=impl, load=load, workers=plan.workers, probes=list(plan.probes))
            for load in plan.loads for impl in plan.impls]


def db_cells(*, strategies: Sequence[str], loads: Sequence[str], concurrency: Sequence[int],
             impls_for_request: Sequence[str] | None = None, request_strategies: Sequence[str] | None = None,
             request_concurrency: int = REQUEST_CONCURRENCY, processes: Sequence[int] = (1,)) -> list[Cell]:
    """Every database cell, in the order they run: strategy x load x concurrency x processes, then impl x strategy
    x load x processes."""
    cells = [Cell("db", s, ld, c, None, p) for s in strategies for ld in loads for c in concurrency for p in processes]
    for impl in impls_for_request or ():
        for s in request_strategies or strategies:
            for ld in loads:
                cells += [Cell("request", s, ld, request_concurrency, impl, p) for p in processes]
    return cells


def plan_locals(plan: LocalsPlan, *, quick: bool = False,
                interpreters: Sequence[Interpreter] | None = None) -> list[Planned]:
    """The probe cells (impl x load), then one micro-benchmark cell and one 1-thread / 2-thread cell if the plan has
    them: on each interpreter of ``interpreters`` (else the plan's) that can run cells (the parent's own when none),
    each leaving out what it cannot run (:func:`~bench.plan.interpreters.loads_for`)."""
    ons = runnable(plan.interpreters if interpreters is None else interpreters)
    several = len(ons) > 1
    cells: list[Planned] = []
    for on in ons:
        cells += _locals_on(plan, on, several, quick)
    return cells


def _locals_on(plan: LocalsPlan, on: Interpreter | None, several: bool, quick: bool) -> list[Planned]:
    """:func:`plan_locals` on one interpreter (``on``; None: the parent's)."""
    extra = on.spec_fields() if on is not None else {}
    part = on.id_part(several) if on is not None else None
    label = on.label_part(several) if on is not None else ""
    impls = impls_for(on, plan.impls)
    cells = [Planned(cell_id("probes", impl, load, part), "probes", f"probes {impl} x {load}{label}",
                     ProbesSpec(impl=impl, load=load, workers=plan.workers, probes=list(plan.probes), **extra))
             for load in loads_for(on, plan.loads) for impl in impls]
    if plan.micro:
        micro = MicroSpec(impls=impls, processes=plan.micro_processes, values=plan.micro_values,
                          min_time=MICRO_QUICK_MIN_TIME if quick else MICRO_MIN_TIME, **extra)
        cells.append(Planned(cell_id("micro", part), "micro", f"micro-benchmarks{label}", micro))
    if plan.parallel:
        sizes = PARALLEL_QUICK if quick else PARALLEL_DEFAULT
        parallel = ParallelSpec(impls=impls, ops=list(sizes["ops"]), processes=sizes["processes"],
                                rounds=sizes["rounds"], window=sizes["window"], **extra)
        cells.append(Planned(cell_id("parallel", part), "parallel", f"1 and 2 threads at once{label}", parallel))
    return cells


def plan_db(db: DbSelection, *, ceiling: bool = True, request_concurrency: int = REQUEST_CONCURRENCY,
            mix: dict[str, int] | None = None, interpreters: Sequence[Interpreter] | None = None) -> list[Planned]:
    """A ceiling cell per concurrency (unless ``ceiling`` is off), then every database and request cell, on each
    interpreter of ``interpreters`` (else the selection's) that can run cells (the parent's own when none)."""
    ons = runnable(db.interpreters if interpreters is None else interpreters)
    cells: list[Cell] = []
    for on in ons:
        made = db_cells(strategies=db.strategies, loads=loads_for(on, db.loads), concurrency=db.concurrency,
                        impls_for_request=impls_for(on, db.request_impls),
                        request_strategies=db.request_strategies, request_concurrency=request_concurrency,
                        processes=db.processes)
        if on is not None:
            made = [replace(c, python=on.path, interpreter=on.tag, named=len(ons) > 1) for c in made]
        cells += made
    if db.rtt_ms is not None:  # one cell per round trip, innermost (as processes)
        cells = [replace(cell, rtt_ms=float(r)) for cell in cells for r in db.rtt_ms]
    if db.drivers is not None:  # one cell per driver, innermost: the drivers of one cell side by side
        cells = [replace(cell, driver=d) for cell in cells for d in db.drivers]
    planned = []
    if ceiling:  # at the total concurrency: a cell of P processes x C workers is compared with mysqlslap at P x C
        for c in sorted({cell.total_concurrency for cell in cells}):
            planned.append(Planned(cell_id("ceiling", f"c{c}"), "ceiling", f"server ceiling c={c} (mysqlslap)",
                                   CeilingSpec(concurrency=c)))
    timing = Timing(db.duration, db.warmup, db.hang_after, dict(mix) if mix is not None else None)
    for cell in cells:
        planned.append(Planned(cell.id(), cell.kind, cell.label(), cell.spec(timing)))
    return planned


def stack_label(spec: StackSpec) -> str:
    """``stack gunicorn-gthread threading-local x global c=16`` (workers named when more than one, the round trip
    when one was asked for)."""
    workers = f" w={spec.workers}" if spec.workers != 1 else ""
    rtt = f" rtt={rtt_text(spec.rtt)}" if spec.rtt is not None else ""
    driver = f" over {spec.driver_name}" if spec.driver_name is not None else ""
    return f"stack {spec.server} {spec.impl} x {spec.strategy} c={spec.concurrency}{workers}{rtt}{driver}"


def plan_stack(stack: StackSelection) -> list[Planned]:
    """One cell per server x impl x strategy x concurrency x workers (x round trip, x driver), servers outermost (each
    cell starts its own server)."""
    planned = []
    rtts: list[float | None] = list(stack.rtt_ms) if stack.rtt_ms is not None else [None]
    drivers: list[str | None] = list(stack.drivers) if stack.drivers is not None else [None]
    for server in stack.servers:
        for impl, strategy, c, workers, rtt, driver in itertools.product(
                stack.impls, stack.strategies_for(server), stack.concurrency, stack.worker_counts(), rtts, drivers):
            spec = StackSpec(server=server, workers=workers, impl=impl, strategy=strategy, concurrency=c,
                             duration=stack.duration, warmup=stack.warmup, rtt_ms=UNSET if rtt is None else float(rtt),
                             driver=UNSET if driver is None else driver)
            cid = cell_id("stack", server, impl, strategy, f"c{c}", f"w{workers}",
                          None if rtt is None else f"rtt{rtt_text(rtt)}", None if driver is None else f"drv-{driver}")
            planned.append(Planned(cid, "stack", stack_label(spec), spec))
    return planned


def model_predictor(impl: str) -> str:
    """The in-process impl whose request-scenario cell predicts a stack cell of ``impl`` (itself, or a stand-in)."""
    import localimpls
    from bench.webstack import PREDICTORS

    names = PREDICTORS.get(impl)
    if names is None:
        return impl
    available = set(localimpls.default_impls())
    return next((name for name in names if name in available), names[-1])


def model_companions(db: DbSelection, stack: StackSelection, model_loads: dict[str, str],
                     db_loads: Sequence[str]) -> list[Cell]:
    """The request-scenario cells the stack's cells are checked against that ``db``'s matrix does not hold.

    Each stack cell is predicted by the request-scenario cell (a request context on the Local, ``SELECT %s``
    through the strategy: the in-process twin of the app's handler) of its impl x strategy under its server's
    model load; where ``db`` has none, one at the stack's concurrency is added (loads the database matrix cannot
    run -- ``db_loads`` says which can -- are left to the report to call unpredicted).
    """
    have = {(i, s, ld) for i in db.request_impls for s in db.request_strategies for ld in db.loads}
    extra: list[Cell] = []
    for server in stack.servers:
        load = model_loads.get(server)
        if load is None or load not in db_loads:
            continue
        for impl in stack.impls:
            twin = model_predictor(impl)
            for strategy in stack.strategies_for(server):
                for c in stack.concurrency:
                    cell = Cell("request", strategy, load, c, twin)
                    if (twin, strategy, load) not in have and cell not in extra:
                        extra.append(cell)
    return extra


def plan_stack_model(stack: StackSelection, *, hang_after: float | None = None) -> list[Planned]:
    """The in-process cells that predict ``stack``'s cells (``ctxbench stack --model``): the isolation probe of each
    impl's predictor under each server's model load, then the request-scenario companions at the stack's timing."""
    from bench.cell.loads import DB_LOADS
    from bench.webstack.servers import SERVERS

    loads = {name: SERVERS[name].model_load for name in stack.servers}
    impls = tuple(dict.fromkeys(model_predictor(impl) for impl in stack.impls))
    probes = LocalsPlan(impls, tuple(dict.fromkeys(loads.values())), ("isolation",), LOCAL_WORKERS, micro=False)
    none = DbSelection(strategies=[], loads=[], concurrency=[], duration=stack.duration, warmup=stack.warmup,
                       request_impls=[], request_strategies=[])
    timing = Timing(stack.duration, stack.warmup, DEFAULT_HANG_AFTER if hang_after is None else hang_after)
    companions = [Planned(c.id(), c.kind, c.label() + " (predicts the stack)", c.spec(timing))
                  for c in model_companions(none, stack, loads, DB_LOADS)]
    return plan_locals(probes) + companions


def repeat_id(cid: str, repeat: int) -> str:
    """The id of a cell's ``repeat``-th measurement (0-based): the first keeps the cell's own id (so run directories
    written before repeats existed still resume), later ones add ``--r2``, ``--r3``, ..."""
    return cid if repeat == 0 else f"{cid}--r{repeat + 1}"


def _nth(cell: Planned, repeat: int, repeats: int) -> Planned:
    label = f"{cell.label} [repeat {repeat + 1}/{repeats}]"
    return Planned(repeat_id(cell.id, repeat), cell.kind, label, cell.spec, repeat)


def with_repeats(cells: Sequence[Planned], repeats: int, *,
                 repeated: Callable[[Planned], bool] | None = None) -> list[Planned]:
    """``cells`` in their order (the first repeat), then one round per further repeat of the measured cells.

    A round holds every db, request and stack cell that ``repeated`` accepts (all of them when None), each a
    planned cell of its own (id ``<id>--r2``...; ``repeat`` says which), in an order shuffled for that round and
    seeded by its number, so the same flags give the same plan: all cells' first measurement, then all second
    ones, so that drift of the machine spreads over every cell instead of hitting one, and no cell always
    follows the same neighbour.  Cells of other kinds (probes, micro, ceilings) are planned once.
    """
    if repeats <= 1:
        return list(cells)
    chosen = {c.id for c in cells if c.kind in REPEATED_KINDS and (repeated is None or repeated(c))}
    out = [_nth(c, 0, repeats) if c.id in chosen else c for c in cells]
    for r in range(1, repeats):
        again = [_nth(c, r, repeats) for c in cells if c.id in chosen]
        random.Random(r).shuffle(again)
        out += again
    return out


def stack_predictors(stack: StackSelection) -> set[tuple[str, str, str, int]]:
    """(impl, strategy, load, concurrency) of every request-scenario cell that predicts one of ``stack``'s cells."""
    from bench.webstack.servers import SERVERS

    return {(model_predictor(impl), strategy, SERVERS[server].model_load, c)
            for server in stack.servers if server in SERVERS for impl in stack.impls
            for strategy in stack.strategies_for(server) for c in stack.concurrency}


def answer_cells(stack: StackSelection | None, concurrency: int = REQUEST_CONCURRENCY) -> Callable[[Planned], bool]:
    """Whether a planned cell is one the answer rests on, and so measured again for every repeat.

    With a stack: its cells, the request-scenario cells that predict them (the model check compares the two) and
    the db cells at its concurrency (the strategies compared where the stack runs).  Without one: the db and
    request cells at ``concurrency`` (the request scenario's).  A cell with a round trip (``--rtt``) is never one:
    the answer reads direct cells.
    """
    predictors = stack_predictors(stack) if stack is not None else set()
    wanted = set(stack.concurrency) if stack is not None else {concurrency}

    def accept(cell: Planned) -> bool:
        spec = cell.spec
        if isinstance(spec, DbSpec | StackSpec) and spec.rtt is not None:
            return False
        if cell.kind == "stack" or not isinstance(spec, DbSpec):
            return cell.kind == "stack"
        if spec.kind == "request" and stack is not None:
            return (spec.impl, spec.strategy, spec.load, spec.concurrency) in predictors
        return spec.concurrency in wanted

    return accept
