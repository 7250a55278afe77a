"""Running one cell while the parent does something to the server, and watching the server meanwhile.

:func:`start_cell` runs a ``db`` cell (through :func:`bench.exec.db.run_one`, in a fresh process)
from a daemon thread and returns a :class:`~concurrent.futures.Future` of its record and problem
line, so that the main thread can kill or fill the server while the cell goes on.
:func:`kill_cells` ends every cell process this process started (an interrupt must not leave one
behind).  :func:`poll` is the one poll-until-deadline loop the scenarios use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from bench.exec import dbcell
from bench.faults.fixtures import FaultServer
from bench.faults.plan import FLOWING_SELECTS
from bench.plan.cells import Cell, Timing
from bench.plan.matrix import LEAK_WAIT, db_cell_timeout
from bench.poll import poll
from bench.records.kinds import DbRecord

#: A cell's ``db`` record (with the parent's additions) and its problem line, or None.
CellOutcome = tuple[DbRecord, str | None]


def cell_processes() -> list[Any]:
    """This process's ``bench.cell`` children (and theirs), as ``psutil.Process``."""
    import psutil

    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "bench.cell" in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def kill_cells() -> None:
    """Kill every cell process this process started, and what they started."""
    from bench.exec.spawn import kill_tree

    for proc in cell_processes():
        kill_tree(proc.pid)


def start_cell(server: FaultServer, cell: Cell, *, duration: float, warmup: float, hang_after: float,
               extra: Mapping[str, Any] | None = None, settle: Callable[[], object] | None = None,
               ) -> Future[CellOutcome]:
    """Start ``cell`` against the application account; its outcome arrives in the future when the cell ends.

    ``server`` needs only ``app`` (the target the cell connects to: a network fault's proxy) and ``root`` (the
    server itself, for the leak check); ``settle`` runs between the cell's end and the leak check
    (:func:`bench.exec.dbcell.run_one`).  A daemon thread rather than an executor: an interrupted run exits without
    waiting for a cell whose process :func:`kill_cells` has just killed.
    """
    task = dbcell.cell_task(server.app, cell, Timing(duration, warmup, hang_after), timeline=True, **(extra or {}))
    limit = db_cell_timeout(duration, warmup, hang_after)
    future: Future[CellOutcome] = Future()
    future.set_running_or_notify_cancel()

    def work() -> None:
        try:
            # The leak check reads Threads_connected as root: it gets the one connection past max_connections.
            future.set_result(dbcell.run_one(server.root, cell, task, limit=limit, settle=settle))
        except BaseException as exc:  # handed to whoever waits for the result
            future.set_exception(exc)

    threading.Thread(target=work, name="ctxbench-fault-cell", daemon=True).start()
    return future


def wait_flowing(server: FaultServer, running: Future[CellOutcome], base: int | None, concurrency: int,
                 timeout: float = 60.0, selects: int = FLOWING_SELECTS) -> bool:
    """Wait until the cell's workload runs (its SELECTs reach the server); False if the cell ended or never got there.

    ``base`` is the server's ``Com_select`` before the cell started (None: unknown, never flowing); the workload
    flows once ``selects`` more than the connect phase's (one per worker) have reached the server.
    """
    def flowing(now: int | None) -> bool:
        return base is not None and now is not None and now - base >= selects + concurrency

    last = poll(lambda: server.status("Com_select"), until=lambda now: flowing(now) or running.done(),
                timeout=timeout, interval=0.05)
    return flowing(last)


def settled_threads(server: FaultServer, before: int | None, wait: float = LEAK_WAIT) -> int | None:
    """Threads_connected once it is back to ``before`` (or after ``wait`` seconds; None if it cannot be read)."""
    return poll(lambda: server.status("Threads_connected"),
                until=lambda now: now is None or before is None or now <= before, timeout=wait, interval=0.1)
