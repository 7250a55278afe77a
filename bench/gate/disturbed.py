"""Which database repeats shared the server or the machine with other work, and so give no ratio.

:func:`disturbed_cells` takes the records of every repeat (one list per repeat) and
names the cells to leave out; :func:`busy_limit` is the machine-load line one cell may
reach.  Records need ``statement_surplus``/``client_statements`` (server counters) and
``machine_load_1m`` (read after the cell); a record without them is never left out.
Why these two guards, and what they were measured against: docs/gate.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from bench.records.kinds import DbRecord, Record

#: A database cell whose server executed more than this share of its statements (and at least
#: FOREIGN_MIN statements) for someone else was disturbed: its repeat gives no ratio.
FOREIGN_LIMIT = 0.02
FOREIGN_MIN = 50
#: A database cell after which the 1-minute load average exceeded this many runnable tasks per CPU
#: (plus the cell's own threads) shared the machine: its repeat gives no ratio.
BUSY_PER_CPU = 2.0

Cell = tuple[str, str, int]
#: (repeat, strategy, load, concurrency)
RepeatCell = tuple[int, str, str, int]


def busy_limit(rec: DbRecord) -> float:
    """The load above which a database cell shared the machine with other work.

    :data:`BUSY_PER_CPU` runnable tasks per CPU, plus what the cell itself keeps runnable: its
    client threads (one per worker under ``threads``, one under gevent) and, on a local server,
    up to one server thread per connection.
    """
    concurrency = int(rec.concurrency or 1)
    client = concurrency if rec.load == "threads" else 1
    return BUSY_PER_CPU * (os.cpu_count() or 1) + client + concurrency


def _db_records(rounds: Sequence[Sequence[Record]]) -> list[tuple[int, DbRecord]]:
    return [(index, rec) for index, records in enumerate(rounds) for rec in records if isinstance(rec, DbRecord)]


def _cell(rec: DbRecord) -> Cell:
    return rec.strategy, rec.load, rec.concurrency


def busy_machine(rounds: Sequence[Sequence[Record]]) -> set[RepeatCell]:
    """Cells after which the 1-minute load average was above :func:`busy_limit`."""
    out: set[RepeatCell] = set()
    for index, rec in _db_records(rounds):
        load_1m = rec.machine_load_1m
        if isinstance(load_1m, int | float) and load_1m > busy_limit(rec):
            out.add((index, *_cell(rec)))
    return out


def shared_server(rounds: Sequence[Sequence[Record]]) -> set[RepeatCell]:
    """Cells whose server executed statements for another client.

    A cell's ``statement_surplus`` (statements executed minus statements the cell sent) holds the
    strategy's own additions (a ROLLBACK per return, a ping per checkout: the same share of its
    statements every time) plus anyone else's traffic.  The smallest share over a cell's repeats is
    taken as the strategy's own; a repeat more than :data:`FOREIGN_LIMIT` of its statements (and at
    least :data:`FOREIGN_MIN` statements) beyond that was shared.
    """
    rows: dict[Cell, list[tuple[int, float, float]]] = {}
    for index, rec in _db_records(rounds):
        surplus, client = rec.statement_surplus, rec.client_statements
        if isinstance(surplus, int | float) and isinstance(client, int | float) and client > 0:
            rows.setdefault(_cell(rec), []).append((index, float(surplus), float(client)))
    out: set[RepeatCell] = set()
    for cell, repeats in rows.items():
        own = min(surplus / client for _, surplus, client in repeats)
        for index, surplus, client in repeats:
            if surplus - own * client > max(FOREIGN_MIN, FOREIGN_LIMIT * client):
                out.add((index, *cell))
    return out


def disturbed_cells(rounds: Sequence[Sequence[Record]]) -> set[RepeatCell]:
    """(repeat, strategy, load, concurrency) of the cells that shared the server or the machine with other work."""
    return busy_machine(rounds) | shared_server(rounds)
