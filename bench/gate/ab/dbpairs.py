"""A/B for the database strategies: base and change cells in pairs, in a random order, compared pair by pair.

Contract
    :func:`run_db_pairs` runs, ``pairs`` times, every strategy x load x concurrency of a selection
    twice in a row: once as the change (this checkout, the user's factories from ``--repo``'s
    working tree) and once as the base (a cell process started in the base tree
    (:data:`bench.exec.spawn.ENV_CELL_ROOT`), so the base's ``bench`` -- its strategies and
    connection classes -- or, in a user's repository, the base's factory module is what runs),
    the two in a random order per pair.  :func:`db_ab_speed` judges ``db/STRATEGY/LOAD/cN`` on
    the per-pair ratios change ops/s / base ops/s (one sample per pair; a pair in which either
    cell was disturbed, :func:`bench.gate.disturbed.disturbed_cells`, gives none) with the
    rule of :func:`bench.gate.ab.judge`, mirrored: a regression is a fall in throughput.
    :func:`db_ab_correctness` compares each cell's wrong results and errors between the sides.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.exec.spawn import ENV_CELL_ROOT
from bench.gate import stats
from bench.gate.ab.speed import ABResult, min_signed_rank_p, signed_rank_p
from bench.gate.decision import CorrectnessResult, Thresholds, compare_correctness, settle
from bench.gate.disturbed import disturbed_cells
from bench.gate.measure import machine_load
from bench.gate.metrics import db_entries, db_name
from bench.plan.selection import DbSelection
from bench.records.kinds import DbRecord, Record

log = logging.getLogger(__name__)

SIDES: tuple[str, ...] = ("change", "base")
#: Rounds of records per side: ``{"change": [[records of pair 0], ...], "base": [...]}``.
SideRounds = dict[str, list[list[Record]]]


@contextlib.contextmanager
def _side(tree: Path, side: str) -> Iterator[None]:
    saved = os.environ.get(ENV_CELL_ROOT)
    if side == "base":
        os.environ[ENV_CELL_ROOT] = str(tree)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(ENV_CELL_ROOT, None)
        else:
            os.environ[ENV_CELL_ROOT] = saved


def run_db_pairs(target: Any, tree: Path, selection: DbSelection, *, pairs: int,
                 seed: int | None = None) -> tuple[SideRounds, list[str]]:
    """Every cell of ``selection`` ``pairs`` times on each side, the sides of a pair back to back in a random order."""
    from bench.exec.db import run_db

    rng = random.Random(seed)
    rounds: SideRounds = {side: [] for side in SIDES}
    errors: list[str] = []
    for index in range(pairs):
        for side in SIDES:
            rounds[side].append([])
        for load in selection.loads:
            for c in selection.concurrency:
                for strategy in selection.strategies:
                    order = rng.sample(SIDES, 2)
                    log.info("db A/B: pair %d/%d, %s %s c=%d: %s first", index + 1, pairs, strategy, load, c, order[0])
                    one = replace(selection, strategies=[strategy], loads=[load], concurrency=[c])
                    for side in order:
                        with _side(tree, side):
                            recs, errs = run_db(target, one, ceiling=False)
                        load_1m = machine_load()
                        rounds[side][index] += [rec.replace(repeat=index, machine_load_1m=load_1m, ab_side=side)
                                                for rec in recs]
                        errors += [f"{side}: {e}" for e in errs if f"{side}: {e}" not in errors]
    return rounds, errors


def _ops(rec: DbRecord | None) -> float | None:
    value = rec.ops_per_s if rec is not None else None
    ok = rec is not None and rec.outcome == "ok" and isinstance(value, int | float) and value > 0
    return float(value) if ok and value is not None else None


def db_ab_speed(rounds: SideRounds, thresholds: Thresholds, notes: list[str]) -> list[ABResult]:
    """One result per strategy x load x concurrency measured on both sides, on per-pair throughput ratios."""
    disturbed = disturbed_cells(rounds["change"]) | disturbed_cells(rounds["base"])
    paired: dict[tuple[str, str, int], list[float]] = {}
    ops: dict[tuple[str, str, int], tuple[list[float], list[float]]] = {}
    for index, (mine, theirs) in enumerate(zip(rounds["change"], rounds["base"], strict=True)):
        base_cells = {(r.strategy, r.load, r.concurrency): r for r in theirs if isinstance(r, DbRecord)}
        for rec in (r for r in mine if isinstance(r, DbRecord)):
            key = (rec.strategy, rec.load, rec.concurrency)
            series = paired.setdefault(key, [])
            now, before = _ops(rec), _ops(base_cells.get(key))
            if (index, *key) not in disturbed and now and before:
                series.append(now / before)
                ops.setdefault(key, ([], []))[0].append(before)
                ops[key][1].append(now)
    out = []
    for (strategy, load, c), ratios in sorted(paired.items()):
        name = db_name(strategy, load, c)
        before, now = ops.get((strategy, load, c), ([], []))
        max_slowdown, alpha = thresholds.for_metric(name, "db")
        slowdown = 1.0 - stats.median(ratios) if ratios else 0.0
        if len(ratios) < 2 or min_signed_rank_p(len(ratios)) > alpha:
            notes.append(f"{name}: {len(ratios)} usable pair(s)")
            out.append(ABResult(name, "db", before, now, max_slowdown, alpha, slowdown, 1.0, 1.0, "undecidable",
                                f"{len(ratios)} usable pair(s) cannot reach p <= {alpha:g}", paired=ratios))
            continue
        logs = [math.log(r) for r in ratios]
        p_slower, p_faster = signed_rank_p(logs, "less"), signed_rank_p(logs, "greater")
        out.append(settle(ABResult(name, "db", before, now, max_slowdown, alpha, slowdown, p_slower, p_faster, "ok",
                                   paired=ratios)))
    return out


def db_ab_correctness(rounds: SideRounds) -> list[CorrectnessResult]:
    """Each database cell's wrong results and errors, base against change, from the same run."""
    base, now = db_entries(rounds["base"]), db_entries(rounds["change"])
    return [compare_correctness(name, base[name], entry) for name, entry in sorted(now.items()) if name in base]
