"""``--driver``: the MySQL driver as a dimension of the database, request and stack cells, and the run's driver part.

``--driver pymysql,mysqlclient,mariadb,connector,connector-pure`` (or ``package.module:attr``, a DB-API 2 module)
runs each cell once per driver; without it every cell speaks PyMySQL and nothing about the cells changes (ids,
records).  A name that is neither is refused in one line; a driver that is not installed is not an error: its
cells are recorded ``skipped`` with the reason and one warning says so (the pipeline does that).  Strategies that
cannot be built over a driver are left out of the defaults and refused when named
(:func:`bench.cell.strategies.check_driver`).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bench.cell import strategies as strategies_mod
from bench.cell.drivers import DRIVERS, missing
from bench.plan import matrix
from bench.plan.selection import DbSelection, check_selection, split_names

log = logging.getLogger(__name__)


def add_driver(p: argparse.ArgumentParser, default: str) -> None:
    """``--driver NAME[,NAME...]`` (one definition for ``db``, ``run`` and ``stack``); ``default`` says what happens
    without it."""
    p.add_argument("--driver", action="append", metavar="NAME[,NAME...]",
                   help=f"the MySQL driver the strategies speak, one cell per driver: {', '.join(DRIVERS)}, or "
                        "package.module:attr (a DB-API 2 module taking PyMySQL's connect() keywords); a driver that "
                        f"is not installed has its cells recorded skipped (docs/drivers.md; {default})")


def drivers_of(args: argparse.Namespace) -> list[str] | None:
    """``--driver``'s names, flattened in order, first occurrence kept; None when it was not given."""
    names = split_names(getattr(args, "driver", None))
    return names or None


def taking(strategies: Sequence[str], loads: Sequence[str], drivers: Sequence[str] | None) -> list[str]:
    """The strategies of ``strategies`` that can be built over every driver of ``drivers`` under every load (all of
    them when no driver is named): what the defaults become with ``--driver``."""
    if not drivers:
        return list(strategies)

    def fits(name: str) -> bool:
        try:
            for load in loads:
                for driver in drivers:
                    strategies_mod.check_driver(name, load, driver)
        except strategies_mod.StrategyError:
            return False
        return True

    return [name for name in strategies if fits(name)]


def serving(defaults: Mapping[str, Any], drivers: Sequence[str] | None) -> list[str]:
    """The stack's default servers whose default strategies can be built over every driver of ``drivers`` (all of
    them when no driver is named; an ASGI server's async strategies cannot)."""
    from bench.webstack.servers import SERVERS

    out = []
    for name in defaults["servers"]:
        load = SERVERS[name].model_load
        names = defaults["async_strategies"] if load == "asyncio" else defaults["strategies"]
        if len(taking(names, [load], drivers)) == len(names):
            out.append(name)
    return out


def installed(names: Sequence[str]) -> list[str]:
    """The drivers of ``names`` whose modules are installed here (imports none of them)."""
    return [name for name in names if missing(name) is None]


def driver_part(db: DbSelection, args: argparse.Namespace, *, quick: bool) -> DbSelection | None:
    """The driver part of ``ctxbench run`` beside ``db`` (its timing, hang bound and processes): its strategies under
    its loads at its concurrency, one cell per driver -- ``--driver``'s, else every built-in driver installed here
    (none but PyMySQL: the part is left out, said once)."""
    part = matrix.DRIVER_RUN_QUICK if quick else matrix.DRIVER_RUN
    named = drivers_of(args)
    drivers = named or installed(part["drivers"])
    if not named and drivers == [matrix.DRIVER_RUN["drivers"][0]]:
        log.warning("the driver part is left out: no driver but PyMySQL is installed: pip install 'ctxbench[drivers]'")
        return None
    return check_selection(DbSelection(
        strategies=list(part["strategies"]), loads=list(part["loads"]), concurrency=list(part["concurrency"]),
        duration=db.duration, warmup=db.warmup, request_impls=[], hang_after=db.hang_after,
        processes=list(db.processes), drivers=drivers,
    ))
