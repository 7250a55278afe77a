"""The whole run's plan: every part of ``ctxbench run`` in order, and ``run.json``, the document that stores it.

The cells of each part are planned in :mod:`bench.plan.cells`; this module puts them in the order a run takes
them (locals, database and its further parts, the stack's companions, the stack, then the repeats) and turns the
plan into the document ``--resume`` reads back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.plan.cells import (
    Planned,
    Timing,
    answer_cells,
    model_companions,
    plan_db,
    plan_locals,
    plan_stack,
    with_repeats,
)
from bench.plan.matrix import REQUEST_CONCURRENCY
from bench.plan.selection import DbSelection, LocalsPlan, StackSelection
from bench.plan.specs import plan_spec_from_json


def plan_run(locals_plan: LocalsPlan | None, db: DbSelection | None, *, quick: bool,
             stack: StackSelection | None = None, parts: Sequence[DbSelection | None] = (), repeats: int = 1,
             repeat_all: bool = False) -> list[Planned]:
    """Every cell of ``ctxbench run``, in the order they run: locals, database (its further ``parts`` after it --
    the asyncio part, the network part -- then the stack's companions not already planned), stack; then the further
    ``repeats`` (:func:`with_repeats`) of the cells the answer rests on (:func:`answer_cells`), or of every db,
    request and stack cell with ``repeat_all``.  The locals, database and further parts run on the interpreters their
    selections name (the parent's own when none); the stack on the parent's."""
    cells = _plan_once(locals_plan, db, quick=quick, stack=stack, parts=parts)
    if repeat_all:
        return with_repeats(cells, repeats)
    concurrency = db.request_concurrency if db is not None else REQUEST_CONCURRENCY
    return with_repeats(cells, repeats, repeated=answer_cells(stack, concurrency))


def _plan_once(locals_plan: LocalsPlan | None, db: DbSelection | None, *, quick: bool,
               stack: StackSelection | None = None, parts: Sequence[DbSelection | None] = ()) -> list[Planned]:
    """Every cell of ``ctxbench run`` measured once (the first repeat), in the order they run; a cell (a ceiling) that
    a further part plans again is planned once."""
    cells = plan_locals(locals_plan, quick=quick) if locals_plan is not None else []
    if db is not None:
        cells += plan_db(db)
    for part in parts:
        if part is not None:
            planned = {c.id for c in cells}
            cells += [c for c in plan_db(part) if c.id not in planned]
    if db is not None and stack is not None:
        from bench.cell.loads import DB_LOADS
        from bench.webstack import missing_extra
        from bench.webstack.servers import SERVERS

        # An ASGI server's predictors run under asyncio over its drivers: without them its cells are only skipped.
        asgi_ready = missing_extra("asgi") is None
        loads = {name: info.model_load for name, info in SERVERS.items() if info.interface != "asgi" or asgi_ready}
        timing = Timing(db.duration, db.warmup, db.hang_after)
        ids = {c.id for c in cells}
        for cell in model_companions(db, stack, loads, DB_LOADS):
            if cell.id() not in ids:
                cells.append(Planned(cell.id(), cell.kind, cell.label() + " (predicts the stack)", cell.spec(timing)))
    return cells + (plan_stack(stack) if stack is not None else [])


def plan_document(cells: list[Planned], options: dict[str, Any]) -> dict[str, Any]:
    """What run.json holds: the options and every planned cell (no secrets: the server is found at run time)."""
    planned = [{"id": c.id, "kind": c.kind, "label": c.label, "spec": c.spec.to_json(),
                **({"repeat": c.repeat} if c.repeat else {})} for c in cells]
    return {"options": options, "cells": planned}


def cells_from_document(doc: dict[str, Any]) -> list[Planned]:
    """The planned cells of a ``run.json`` document, their specs typed (ValueError if one does not fit); a cell
    without ``repeat`` (the first repeat, or a plan written before repeats existed) is repeat 0."""
    return [Planned(c["id"], c["kind"], c["label"], plan_spec_from_json(c["kind"], c["spec"]), int(c.get("repeat", 0)))
            for c in doc.get("cells", [])]
