"""``ctxbench faults``: kill, restart, fill and hang a private server under each strategy."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from bench import faults
from bench.cli.args import check_writable, count, seconds
from bench.cli.common import sigterm_as_interrupt
from bench.errors import EXIT_ERROR, EXIT_OK
from bench.plan.selection import split_names

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("faults", help="kill, restart, fill and hang a private server, partition, reset and slow "
                                      "the network to it, under each strategy: errors, hangs, recovery, leaks, memory")
    p.add_argument("--scenario", action="append", metavar="NAME",
                   help="kill, restart, max-connections, hang, soak, partition, reset, idle-timeout, latency-spike; "
                        "network = the last four (repeatable, comma-separated; default: all but soak)")
    p.add_argument("--strategy", action="append", metavar="NAME",
                   help="strategies for every scenario but hang and soak (default: every built-in but global, "
                        "global-reconnect and the asyncio-only ones; the network scenarios add the timeout, "
                        "pre-ping and recycle variants)")
    p.add_argument("--db-load", "--load", dest="db_load", action="append", metavar="NAME",
                   help="threads, gevent (default: threads)")
    p.add_argument("--concurrency", type=count(1, 10000), default=None, metavar="N",
                   help="workers per kill/restart cell (default: 8)")
    p.add_argument("--duration", type=seconds(0, 3600), default=None, metavar="S",
                   help="measured seconds of a kill/restart cell (default: 6)")
    p.add_argument("--down", type=seconds(0, 60), default=None, metavar="S",
                   help="seconds the server stays down after a kill or shutdown (default: 1)")
    p.add_argument("--max-connections", type=count(2, 1000), default=None, metavar="N",
                   help="max_connections for that scenario; cells run at 2N (default: 20)")
    p.add_argument("--hang-after", type=seconds(0, 3600), default=None, metavar="S",
                   help="watchdog of the hang scenario (default: 2)")
    p.add_argument("--soak-duration", type=seconds(0, 86400), default=None, metavar="S",
                   help="measured seconds of each soak cell (default: 60)")
    p.add_argument("--partition", type=seconds(0, 60), default=None, metavar="S",
                   help="seconds the partition scenario holds the network (default: 6; the cell's watchdog is 4)")
    p.add_argument("--link-down", action="append", metavar="NAME",
                   help="strategies whose partition is done again with a real link taken down (a private server in "
                        "a network namespace; root only), or none (default: pooled-timeout, per-request-timeout, "
                        "pooled-tuned, per-request, or those of them --strategy names)")
    p.add_argument("--json", type=Path, metavar="PATH",
                   help="write {environment, records} here (rewritten as each cell ends)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def _scenarios(names: list[str]) -> tuple[str, ...]:
    """The scenarios named, a group (``network``) standing for its members, each once."""
    out: list[str] = []
    for name in names:
        out += faults.SCENARIO_GROUPS.get(name, (name,))
    return tuple(dict.fromkeys(out))


def _link_down(given: list[str] | None, named: tuple[str, ...]) -> tuple[str, ...]:
    """``--link-down``'s strategies (``none``: no kernel-level partition), else the default ones (of ``named``)."""
    names = split_names(given)
    if names == ["none"]:
        return ()
    return tuple(names) or faults.link_down_strategies(named or None)


def _plan(args: argparse.Namespace) -> faults.FaultPlan:
    defaults = faults.FaultPlan()
    named = tuple(split_names(args.strategy))
    return faults.validate(faults.FaultPlan(
        scenarios=_scenarios(split_names(args.scenario)) or defaults.scenarios,
        strategies=named or defaults.strategies,
        net_strategies=named or defaults.net_strategies,
        partition=args.partition or defaults.partition,
        link_down=_link_down(args.link_down, named),
        loads=tuple(split_names(args.db_load)) or defaults.loads,
        concurrency=args.concurrency or defaults.concurrency,
        duration=args.duration or defaults.duration,
        down=args.down or defaults.down,
        max_connections=args.max_connections or defaults.max_connections,
        hang_after=args.hang_after or defaults.hang_after,
        soak_duration=args.soak_duration or defaults.soak_duration,
    ))


def run(args: argparse.Namespace) -> int:
    # Imported when the command runs, not at start-up: --help and bad input answer at once without
    # loading matplotlib, scipy or the drivers.
    from bench.exec.pipeline import MemorySink
    from bench.present.tables import print_table
    from bench.records.environment import fingerprint, load_average
    from bench.records.kinds import FaultRecord

    sigterm_as_interrupt()
    plan = _plan(args)
    if args.json:
        check_writable(args.json)
    document = MemorySink(path=args.json, environment=fingerprint())

    def save(rec: FaultRecord) -> None:
        document.records.append(rec)
        document.save()

    records = faults.run_faults(plan, on_record=save, environment=document.environment)
    document.environment["load_average_end"] = load_average()
    document.save()
    server_faults = [rec for rec in records if rec.scenario not in faults.NETWORK_SCENARIOS]
    header, rows = faults.fault_rows(server_faults)
    if rows:
        title = "Faults: errors by class, time to first error, recovery once the server is back, leaks"
        print_table(title, header, rows)
    print_resilience(records)
    for line in faults.findings(records):
        log.warning("%s", line)
    if args.json:
        print(f"records written to {args.json}")
    return EXIT_ERROR if any(rec.problem for rec in records) else EXIT_OK


def print_resilience(records: list[Any]) -> None:
    """The resilience table of the network faults, then one line per fault saying who failed fast and who waited."""
    from bench.present.resilience import resilience_findings, resilience_rows
    from bench.present.tables import print_table

    header, rows = resilience_rows(records)
    if not rows:
        return
    print_table("Resilience: each strategy under each network fault (detection = fault to first failed operation; "
                "stuck = operations waiting past the bound; recovery = heal to first right reply)", header, rows)
    for line in resilience_findings(records):
        print(f"- {line}")
