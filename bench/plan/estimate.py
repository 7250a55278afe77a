"""How long a plan takes: each planned cell's window and warm-up, plus what a cell costs around them.

The costs around the window were measured on this project's 2-core VM (``docs/repeats.md`` says how):

* a db or request cell's process (start, imports, connect phase, teardown) is ``cell_wall_s`` minus warm-up and
  window in ``results/reference``: 0.6-0.8 s at 1-16 workers, about 2 s at 64 (opening 64 connections);
* the parent's part between two cells (leak check, record, next spawn) is the gap between two cell files'
  mtimes minus the later cell's ``cell_wall_s`` in a ``--quick`` run: under 0.1 s, 2 s when the leak check waits;
* a stack cell (server start and proof, load process, stop) is 1.8 s beyond its warm-up and window;
* a ceiling cell (three ``mysqlslap`` runs), a probe cell (two at a time), the micro-benchmarks per process and
  value, and the charts and report at the end, each timed in a run;
* a cell with a round trip (``--rtt``): the direct round trip measured first, then for a round trip above 0 the
  delay proxy started and the round trip measured through it twice (at 0, and at the setting: each measurement
  :data:`RTT_PINGS` pings of about one round trip); ``bench.exec.netpath.network_path`` alone, timed five times
  each on the 2-core VM under other work (load average 6-7): median 0.08 s direct, 0.36 s at 1 ms, 0.46 s at 2 ms.

The estimate is what ``ctxbench run`` logs before it starts; the budget the defaults are held to is
:data:`FULL_RUN_BUDGET_S`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bench.plan.cells import Planned
from bench.plan.specs import CeilingSpec, DbSpec, MicroSpec, ParallelSpec, StackSpec

#: The full run (``ctxbench run``, its defaults, ``--repeats`` 3) must end within this many seconds.
FULL_RUN_BUDGET_S = 17 * 60.0
#: A db/request cell's process beyond warm-up and window: a base, and per worker (connections to open).
DB_CELL_BASE_S = 0.65
DB_CELL_PER_WORKER_S = 0.02
#: The parent's share between two db/request cells (leak check, writing the record, spawning the next).
PARENT_PER_CELL_S = 0.15
#: A stack cell beyond warm-up and window: server start, its proof, the load process, the stop.
STACK_CELL_EXTRA_S = 1.8
#: Three ``mysqlslap`` runs.
CEILING_CELL_S = 1.5
#: A probe cell (they run ``jobs`` at a time; this is per cell at the default two).
PROBE_CELL_S = 0.4
#: The micro-benchmarks: seconds per process x value (3 x 5 took 30 s).
MICRO_PER_VALUE_S = 2.0
#: The 1-thread / 2-thread cell: beyond each window (threads started, loop sized), and per process.
PARALLEL_WINDOW_EXTRA_S = 0.02
PARALLEL_PROCESS_S = 1.0
#: Start-up (environment, server found) and the charts and report drawn at the end.
START_S = 5.0
REPORT_S = 15.0
#: A cell with a round trip: the direct measurement (and the server settling after it), then with a proxy its
#: start, the measurement at 0 and its end; and the pings of the measurement at the setting (each about one round
#: trip: bench.net.rtt's 60 timed and 5 untimed).
RTT_DIRECT_S = 0.1
RTT_PROXY_S = 0.25
RTT_PINGS = 65


def rtt_seconds(rtt_ms: float | None) -> float:
    """Seconds measuring the round trip adds to a cell run at ``rtt_ms`` (0 for a cell without one)."""
    if rtt_ms is None:
        return 0.0
    if rtt_ms <= 0:
        return RTT_DIRECT_S
    return RTT_DIRECT_S + RTT_PROXY_S + RTT_PINGS * rtt_ms / 1000.0


@dataclass
class Estimate:
    """Seconds a plan takes, in all and by kind of cell (``report`` and ``start`` included)."""

    by_kind: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.by_kind.values())

    def text(self) -> str:
        """``about 12.9 min (db 310 s, request 250 s, ...)``."""
        parts = ", ".join(f"{kind} {s:.0f} s" for kind, s in self.by_kind.items() if s)
        return f"about {self.seconds / 60:.1f} min ({parts})"


def cell_seconds(cell: Planned) -> float:
    """Seconds one planned cell takes, window and all."""
    spec = cell.spec
    if isinstance(spec, DbSpec):
        workers = spec.concurrency * spec.process_count
        return (spec.warmup + spec.duration + DB_CELL_BASE_S + DB_CELL_PER_WORKER_S * workers + PARENT_PER_CELL_S
                + rtt_seconds(spec.rtt))
    if isinstance(spec, StackSpec):
        return spec.warmup + spec.duration + STACK_CELL_EXTRA_S + rtt_seconds(spec.rtt)
    if isinstance(spec, CeilingSpec):
        return CEILING_CELL_S
    if isinstance(spec, MicroSpec):
        return MICRO_PER_VALUE_S * spec.processes * spec.values
    if isinstance(spec, ParallelSpec):  # two windows per subject, op and round; plain, threading-local, 2 ContextVars
        windows = 2 * (len(spec.impls) + 4) * len(spec.ops) * spec.rounds * spec.processes
        return windows * (spec.window + PARALLEL_WINDOW_EXTRA_S) + PARALLEL_PROCESS_S * spec.processes
    return PROBE_CELL_S


def estimate(cells: Iterable[Planned], *, report: bool = True) -> Estimate:
    """How long ``cells`` take, by kind, with the start and (``report``) the charts and report."""
    out = Estimate({"start": START_S})
    for cell in cells:
        out.by_kind[cell.kind] = out.by_kind.get(cell.kind, 0.0) + cell_seconds(cell)
    if report:
        out.by_kind["report"] = REPORT_S
    return out
