"""Faults: what each connection strategy does when the server fails under it -- measured, not assumed.

``ctxbench faults`` starts a private server of its own and runs ordinary ``db`` cells against it,
each in a fresh process, while it kills, restarts, fills or starves the server (one scenario per
cell); every cell gives one ``kind: "fault"`` record.  This package's public names, by stage:

* the plan -- :class:`FaultPlan`, :func:`validate`, the defaults (:func:`fault_strategies`, from the strategies'
  registry; :mod:`bench.faults.plan`);
* the run -- :func:`run_faults` (:mod:`bench.faults.scenarios`; the network faults: :mod:`bench.faults.network`),
  on the server of :func:`fault_server`, with the ``hang`` scenario's :func:`blocking_pool`
  (:mod:`bench.faults.fixtures`);
* the judging -- :func:`recovery` (:mod:`bench.faults.recovery`), the network faults' fields
  (:mod:`bench.faults.netjudge`), :func:`rss_summary` and :func:`peak_bound_mib` (:mod:`bench.faults.soak`);
* the output -- :func:`findings` and :func:`fault_rows` (:mod:`bench.faults.findings`).

What the scenarios measured, and why they are built so, is in the README ("Faults").
"""

from bench.faults.findings import fault_rows, findings
from bench.faults.fixtures import HANG_STRATEGY, BlockingPool, FaultServer, blocking_pool, fault_server
from bench.faults.plan import (
    DEFAULT_SCENARIOS,
    NETWORK_SCENARIOS,
    SCENARIO_GROUPS,
    SCENARIOS,
    SOAK_CELLS,
    SOAK_DURATION,
    FaultPlan,
    fault_strategies,
    link_down_strategies,
    validate,
)
from bench.faults.record import fault_record
from bench.faults.recovery import recovery
from bench.faults.running import kill_cells
from bench.faults.scenarios import run_faults
from bench.faults.soak import SOAK_BASE_MIB, SOAK_RSS_GROWTH_MIB, peak_bound_mib, rss_summary

__all__ = [
    "DEFAULT_SCENARIOS",
    "HANG_STRATEGY",
    "NETWORK_SCENARIOS",
    "SCENARIOS",
    "SCENARIO_GROUPS",
    "SOAK_BASE_MIB",
    "SOAK_CELLS",
    "SOAK_DURATION",
    "SOAK_RSS_GROWTH_MIB",
    "BlockingPool",
    "FaultPlan",
    "FaultServer",
    "blocking_pool",
    "fault_record",
    "fault_rows",
    "fault_server",
    "fault_strategies",
    "findings",
    "kill_cells",
    "link_down_strategies",
    "peak_bound_mib",
    "recovery",
    "rss_summary",
    "run_faults",
    "validate",
]
