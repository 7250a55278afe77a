"""What ``ctxbench faults`` runs: the scenarios, their defaults and timings, and the checked plan.

:class:`FaultPlan` is what the command line builds; :func:`validate` returns it unchanged or
raises a one-line :class:`~bench.errors.UsageError` naming the first bad value.  Every default of
the fault scenarios is here; the soak's memory bounds are in :mod:`bench.faults.soak`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.cell.loads import ASYNC_DB_LOADS, DB_LOADS
from bench.cell.strategies import STRATEGIES
from bench.errors import UsageError
from bench.plan.selection import validate_db
from bench.records.kinds import NETWORK_FAULTS

#: The network faults (:mod:`bench.faults.network`): each cell talks to the private server through a delay proxy.
NETWORK_SCENARIOS: tuple[str, ...] = NETWORK_FAULTS
#: Scenarios in the order they run; ``soak`` only when asked for (two minutes by default).
SCENARIOS: tuple[str, ...] = ("kill", "restart", "max-connections", "hang", "soak", *NETWORK_SCENARIOS)
DEFAULT_SCENARIOS: tuple[str, ...] = ("kill", "restart", "max-connections", "hang", *NETWORK_SCENARIOS)
#: ``--scenario network``: the four network faults.
SCENARIO_GROUPS: dict[str, tuple[str, ...]] = {"network": NETWORK_SCENARIOS}
#: The loads the default fault strategies must serve: the blocking ones (the fault plan runs under threads).
BLOCKING_DB_LOADS: tuple[str, ...] = tuple(name for name in DB_LOADS if name not in ASYNC_DB_LOADS)
FAULT_CONCURRENCY = 8
#: Measured seconds of a kill/restart cell: about 1.5 s before the fault, ``down`` s of outage, the rest to
#: recover in.
FAULT_DURATION = 6.0
FAULT_WARMUP = 0.5
#: Seconds of right replies measured before the fault, and the least the window goes on after the server is back.
LEAD = 1.0
OBSERVE = 2.0
#: A kill/restart cell whose window ended less than this long after the server was back did not see
#: the recovery (the restart took longer than planned: a busy machine) and is run again, once.
OBSERVED_AT_LEAST = 1.0
SERVER_FAULT_ATTEMPTS = 2
#: Seconds the server stays down after a kill or shutdown.
DOWN = 1.0
MAX_DOWN = 60.0
#: A fault cell's watchdog: longer than any outage, so a strategy blocked on a dead server is not taken for hung.
FAULT_HANG_AFTER = 15.0
#: SELECTs beyond the connect phase's one per worker that must reach the server before the parent takes the
#: workload to be flowing (a connection per operation runs only some tens per second: PyMySQL builds a TLS
#: context for every connection).
FLOWING_SELECTS = 20
#: max_connections set for the ``max-connections`` scenario (restored afterwards); cells run at twice it.
MAX_CONNECTIONS = 20
MAXCONN_DURATION = 2.0
MAXCONN_WARMUP = 0.3
#: The ``hang`` scenario: its watchdog and concurrency (the strategy is :data:`bench.faults.fixtures.HANG_STRATEGY`).
HANG_AFTER = 2.0
HANG_CONCURRENCY = 4
#: The network faults.  The strategies they add to the server faults' defaults: a read timeout (PyMySQL's
#: connect/read/write timeout of 1 s), a check before use, connections recycled.
NETWORK_EXTRA_STRATEGIES: tuple[str, ...] = ("pooled-timeout", "per-request-timeout", "own-connection-timeout",
                                             "sqlalchemy-pre-ping", "sqlalchemy-recycle")
#: The partition again with a real link taken down (a private server in a network namespace: bench.net.netns),
#: where namespaces can be made: strategies with a read timeout and without, pooled and a connection per operation
#: (a connect meets the proxy's partition in its read, a real one in its connect).
LINK_DOWN_STRATEGIES: tuple[str, ...] = ("pooled-timeout", "per-request-timeout", "pooled-tuned", "per-request")
#: A network cell's watchdog: an operation waiting this long with no other worker moving is a hang...
NET_HANG_AFTER = 4.0
#: ... and the partition lasts longer, so a strategy that waits for the network to come back is caught waiting
#: (the watchdog fires about 4 s into the partition: 2 s to spare on a busy machine).
PARTITION = 6.0
MAX_PARTITION = 60.0
#: Seconds past which an operation counts as stuck (``stuck_ops``): above a 1 s read timeout plus a 1 s
#: reconnect, below the watchdog.
NET_STUCK_AFTER = 3.0
NET_WARMUP = 0.3
#: Seconds of the window before the fault, and at least after the heal (the last second judges the recovery),
#: and the margin for the fault landing late (the parent waits for the workload to flow first).
NET_LEAD = 0.5
NET_OBSERVE = 2.0
#: After a partition, half a second more: a connect begun during a real partition fails at its 1 s timeout even if
#: the link is back meanwhile (TCP sends the SYN again only after 1 s), so errors may go on for 1 s after the heal.
PARTITION_OBSERVE = 2.5
NET_MARGIN = 0.3
#: SELECTs beyond the connect phase's that tell the parent the network cell's workload flows (a connection per
#: operation runs some tens per second: the server faults' 20 would put the fault a second late).
NET_FLOWING_SELECTS = 4
#: ``latency-spike``: the proxy's round trip goes from 0 to this for ``SPIKE`` seconds.
SPIKE_RTT_MS = 200.0
SPIKE = 2.0
#: ``idle-timeout``: the server's ``wait_timeout`` (restored after) and the cell's bursts and idle gaps (a gap
#: 0.5 s longer than ``wait_timeout``: the server closes an idle session on its own timer, to the second; a burst
#: long enough for a pool that pings to replace its c connections, one after the other, in its first half).
IDLE_WAIT_TIMEOUT = 2
IDLE_BURST = 1.0
IDLE_GAP = 2.5
IDLE_BURSTS = 2
#: The soak: (strategy, load, concurrency) cells, each ``SOAK_DURATION`` seconds.
SOAK_CELLS: tuple[tuple[str, str, int], ...] = (("pooled-tuned", "gevent", 256), ("pooled-tuned", "threads", 64))
SOAK_DURATION = 60.0
SOAK_WARMUP = 2.0


def fault_strategies(loads: Sequence[str] = BLOCKING_DB_LOADS) -> tuple[str, ...]:
    """The strategies the server faults run by default, read from the registry when asked.

    Every built-in strategy that declares ``faults`` (all but the unprotected shared connections, ``global`` and
    ``global-reconnect``: wrong with or without a fault) and serves every load of ``loads``; the pools first, then a
    connection per operation or per worker, then one connection behind a lock (``fault_rank``; ties in table order).
    """
    chosen = [info for info in STRATEGIES.values() if info.faults and set(loads) <= set(info.loads())]
    return tuple(info.name for info in sorted(chosen, key=lambda info: info.fault_rank))


def network_strategies(loads: Sequence[str] = BLOCKING_DB_LOADS) -> tuple[str, ...]:
    """The strategies the network faults run by default: the server faults' and :data:`NETWORK_EXTRA_STRATEGIES`
    (those the registry holds that serve every load of ``loads``)."""
    extra = [name for name in NETWORK_EXTRA_STRATEGIES
             if name in STRATEGIES and set(loads) <= set(STRATEGIES[name].loads())]
    return tuple(dict.fromkeys((*fault_strategies(loads), *extra)))


def link_down_strategies(named: Sequence[str] | None = None) -> tuple[str, ...]:
    """The strategies of the kernel-level partition: :data:`LINK_DOWN_STRATEGIES` the registry holds (and, when
    strategies were ``named``, those of them)."""
    return tuple(name for name in LINK_DOWN_STRATEGIES if name in STRATEGIES and (named is None or name in named))


def idle_gaps(burst: float = IDLE_BURST, gap: float = IDLE_GAP, bursts: int = IDLE_BURSTS) -> list[list[float]]:
    """``[[start_s, length_s], ...]`` of the idle-timeout cell: ``bursts`` bursts of work with a gap between each."""
    return [[round(k * (burst + gap) + burst, 3), gap] for k in range(bursts - 1)]


def idle_duration(burst: float = IDLE_BURST, gap: float = IDLE_GAP, bursts: int = IDLE_BURSTS) -> float:
    return bursts * burst + (bursts - 1) * gap


@dataclass(frozen=True)
class FaultPlan:
    """A selection for :func:`bench.faults.run_faults`; check it with :func:`validate`."""

    scenarios: tuple[str, ...] = DEFAULT_SCENARIOS
    strategies: tuple[str, ...] = field(default_factory=fault_strategies)
    loads: tuple[str, ...] = ("threads",)
    concurrency: int = FAULT_CONCURRENCY
    duration: float = FAULT_DURATION
    down: float = DOWN
    max_connections: int = MAX_CONNECTIONS
    hang_after: float = HANG_AFTER
    soak_duration: float = SOAK_DURATION
    soak_cells: tuple[tuple[str, str, int], ...] = SOAK_CELLS
    #: The strategies of the network scenarios (``--strategy`` sets both lists).
    net_strategies: tuple[str, ...] = field(default_factory=network_strategies)
    partition: float = PARTITION
    #: The strategies whose partition is done a second time with a real link taken down (none: not done).
    link_down: tuple[str, ...] = field(default_factory=link_down_strategies)


def shortest_duration(down: float) -> float:
    """The least ``--duration`` a kill/restart cell with ``down`` seconds of outage can observe a recovery in."""
    return LEAD + down + OBSERVE + 0.5


def validate(plan: FaultPlan) -> FaultPlan:
    """The plan, or a one-line UsageError naming its first bad value."""
    if not plan.scenarios:
        raise UsageError("no fault scenario selected")
    for name in plan.scenarios:
        if name not in SCENARIOS:
            raise UsageError(f"unknown fault scenario {name!r} (known: {', '.join(SCENARIOS)})")
    validate_db(strategies=list(plan.strategies), loads=list(plan.loads), concurrency=[plan.concurrency],
                   duration=plan.duration, warmup=FAULT_WARMUP)
    if set(plan.scenarios) & set(NETWORK_SCENARIOS):
        validate_db(strategies=list(plan.net_strategies), loads=list(plan.loads), concurrency=[plan.concurrency],
                    duration=plan.duration, warmup=FAULT_WARMUP)
    if plan.link_down and "partition" in plan.scenarios:
        validate_db(strategies=list(plan.link_down), loads=list(plan.loads), concurrency=[plan.concurrency],
                    duration=plan.duration, warmup=FAULT_WARMUP)
    if not 0 < plan.partition <= MAX_PARTITION:
        raise UsageError(f"--partition must be more than 0 and at most {MAX_PARTITION:g} seconds, "
                         f"got {plan.partition!r}")
    # The outage before the duration: a --down too long is the bad value, not the --duration it would need.
    if not 0 < plan.down <= MAX_DOWN:
        raise UsageError(f"--down must be more than 0 and at most {MAX_DOWN:g} seconds, got {plan.down!r}")
    if plan.duration < shortest_duration(plan.down):
        raise UsageError(f"--duration must be at least {shortest_duration(plan.down):g} s for --down {plan.down:g} "
                         f"({LEAD:g} s before the fault, the outage, {OBSERVE:g} s after the server is back)")
    if not 2 <= plan.max_connections <= 1000:
        raise UsageError(f"--max-connections must be from 2 to 1000, got {plan.max_connections!r}")
    if not plan.hang_after > 0:
        raise UsageError(f"--hang-after must be a positive number of seconds, got {plan.hang_after!r}")
    if not plan.soak_duration > 0:
        raise UsageError(f"--soak-duration must be a positive number of seconds, got {plan.soak_duration!r}")
    return plan
