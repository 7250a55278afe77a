"""A cell's driver (``--driver``): selected before its strategy is built, its connect cost, what its record says.

A cell whose spec names a driver imports it (after the load patched), selects it for the strategies
(:func:`bench.cell.drivers.use`), times :data:`CONNECT_SAMPLES` connects and closes through it (untimed by the
window, before the server's counters are read: the reconciliation does not see them), and its record carries
``driver``, ``driver_version``, ``driver_facts`` (module, SQLAlchemy dialect, the connection class that ran -- for
Connector/Python whether the C extension did), ``connect_close_ms`` and ``error_classes`` (the driver's own class
behind each error count).  A cell without one is as it always was: PyMySQL, and none of these fields.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from typing import Any

from bench.cell import drivers
from bench.cell.db.state import Run
from bench.cell.drivers import Driver
from bench.plan.specs import DbTask
from bench.records.kinds import UNSET

#: Connects and closes timed per driver cell; the record keeps their median, fastest and slowest.
CONNECT_SAMPLES = 5


def select_driver(spec: DbTask) -> Driver | None:
    """Import and select the driver ``spec`` names (None: it names none, PyMySQL as always); DriverError in one line
    if it cannot load here."""
    name = spec.driver
    if name is UNSET or name is None:
        drivers.use(None)
        return None
    driver = drivers.load(str(name))
    drivers.use(driver)
    return driver


def connect_cost(driver: Driver, connect_kwargs: Mapping[str, Any], samples: int = CONNECT_SAMPLES) -> dict[str, Any]:
    """Milliseconds of one connect + close through ``driver`` (median, min, max of ``samples``), or the one-line
    reason it failed."""
    times = []
    try:
        for _ in range(samples):
            t0 = time.perf_counter()
            driver.connect(**connect_kwargs).close()
            times.append((time.perf_counter() - t0) * 1e3)
    except Exception as exc:  # the cell goes on: its strategy meets the same failure and counts it
        return {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300], "n": len(times)}
    return {"median": round(statistics.median(times), 3), "min": round(min(times), 3), "max": round(max(times), 3),
            "n": len(times)}


def driver_fields(driver: Driver | None, run: Run | None = None) -> dict[str, Any]:
    """The record's driver fields (none for the default), with the classes behind its error counts."""
    if driver is None:
        return {}
    classes: dict[str, str] = {}
    for st in run.states if run is not None else ():
        for key, name in dict(st.classes).items():
            classes.setdefault(key, name)
    return {"driver": driver.name, "driver_version": driver.version, "driver_facts": driver.facts(),
            "error_classes": dict(sorted(classes.items()))}
