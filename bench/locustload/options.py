"""The run's plan as Locust options: declared once, parsed by Locust, sent by the master to every worker.

Contract: :func:`add_arguments` declares ctxbench's options on Locust's own parser (``locust -f ... --help`` lists
them; none is shown in a web UI).  The master sends its parsed options to each worker with the spawn message
(Locust's mechanism for custom arguments), so a worker runs the master's plan whatever its own command line says.
No option holds a password: each process reads its server's URL from its own environment
(``CTXBENCH_MYSQL_URL``), which Locust never parses, prints or sends.  :func:`read_plan` turns the options into a
:class:`Plan` and names the first bad value in one line (:class:`PlanError`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from bench.cell.db.workload import DEFAULT_MIX, parse_mix
from bench.cell.strategies import StrategyError, check_name
from bench.plan.matrix import LOCUST_DEFAULT

#: The attribute of the parsed options through which the master hands every worker the run's nonce.
NONCE_OPTION = "ctxbench_nonce"


class PlanError(ValueError):
    """An option of the run is wrong; ``str()`` is one line naming it."""


@dataclass(frozen=True)
class Plan:
    """What every process of one run agrees on."""

    strategy: str
    mix: dict[str, int]
    warmup: float
    duration: float
    report_grace: float
    run_dir: str | None
    impl: str
    server: str
    nonce: str


def add_arguments(parser: Any) -> None:
    """ctxbench's options on Locust's parser (``events.init_command_line_parser``)."""
    group = parser  # Locust's own parser: an argument group would not take include_in_web_ui
    group.add_argument("--strategy", default=LOCUST_DEFAULT["strategy"], include_in_web_ui=False,
                       help="connection strategy of the db scenario: a built-in name or package.module:factory")
    group.add_argument("--mix", default=",".join(f"{k}:{v}" for k, v in DEFAULT_MIX.items()), include_in_web_ui=False,
                       help="operations of the db scenario and their weights")
    group.add_argument("--warmup", type=float, default=LOCUST_DEFAULT["warmup"], include_in_web_ui=False,
                       help="seconds after all users started before the measured window")
    group.add_argument("--duration", type=float, default=LOCUST_DEFAULT["duration"], include_in_web_ui=False,
                       help="seconds of the measured window")
    group.add_argument("--report-grace", type=float, default=LOCUST_DEFAULT["report_grace"], include_in_web_ui=False,
                       help="seconds the master waits for the workers' reports after the window")
    group.add_argument("--run-dir", default=None, include_in_web_ui=False,
                       help="run directory the master writes its record into (default: a new one under results/)")
    group.add_argument("--app-impl", default="unknown", include_in_web_ui=False,
                       help="stack scenario: the Local the app under --host keeps the token in (recorded)")
    group.add_argument("--app-server", default="external", include_in_web_ui=False,
                       help="stack scenario: the server the app under --host runs on (recorded)")


def read_plan(options: Any) -> Plan:
    """The plan in Locust's parsed ``options``; PlanError naming the first bad value."""
    try:
        check_name(str(options.strategy))
    except StrategyError as exc:
        raise PlanError(str(exc)) from None
    try:
        mix = parse_mix(str(options.mix))
    except ValueError as exc:
        raise PlanError(f"--mix: {exc}") from None
    for name in ("warmup", "duration", "report_grace"):
        value = float(getattr(options, name))
        if value < 0 or (name != "warmup" and value == 0) or value > 3600:
            raise PlanError(f"--{name.replace('_', '-')} {value:g} is out of range (0..3600 seconds)")
    return Plan(strategy=str(options.strategy), mix=mix, warmup=float(options.warmup),
                duration=float(options.duration), report_grace=float(options.report_grace),
                run_dir=options.run_dir, impl=str(options.app_impl), server=str(options.app_server),
                nonce=str(getattr(options, NONCE_OPTION, None) or "local"))


def new_nonce() -> str:
    """A fresh run nonce: the first part of every token of the run, on every worker."""
    return os.urandom(4).hex()
