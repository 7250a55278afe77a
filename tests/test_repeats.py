"""Repeats: each cell the answer rests on measured several times, in interleaved rounds, each a planned cell of its own.

Planning (ids, order, which cells), the plan's JSON, the pipeline's order and the ``repeat`` on records are fast and
need no server; one small real run is interrupted and resumed against the server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.exec.pipeline import MemorySink, Pipeline, batches
from bench.plan import matrix
from bench.plan.cells import Planned, answer_cells, plan_db, plan_stack, repeat_id, with_repeats
from bench.plan.estimate import FULL_RUN_BUDGET_S, estimate
from bench.plan.runplan import cells_from_document, plan_document, plan_run
from bench.plan.selection import DbSelection, StackSelection
from bench.records.environment import PROJECT_ROOT


def _db(**kw: Any) -> DbSelection:
    base: dict[str, Any] = {"strategies": ["global", "pooled-tuned"], "loads": ["threads"], "concurrency": [1, 16],
                            "duration": 0.1, "warmup": 0.0, "request_impls": ["fast"],
                            "request_strategies": ["pooled-tuned"]}
    return DbSelection(**{**base, **kw})


def _stack(**kw: Any) -> StackSelection:
    base: dict[str, Any] = {"servers": ["waitress", "gevent-pywsgi"], "impls": ["fast"], "strategies": ["global"],
                            "concurrency": [16], "duration": 0.5, "warmup": 0.1}
    return StackSelection(**{**base, **kw})


def test_each_repeat_is_a_cell_of_its_own_and_the_first_keeps_todays_id() -> None:
    once = plan_db(_db())
    cells = with_repeats(once, 3)
    measured = [c for c in once if c.kind in ("db", "request")]
    assert [c.id for c in cells[:len(once)]] == [c.id for c in once]  # the first round: today's ids, today's order
    assert all(c.repeat == 0 for c in cells[:len(once)])
    later = cells[len(once):]
    assert len(later) == 2 * len(measured) and {c.kind for c in later} == {"db", "request"}  # ceilings once
    assert sorted(c.id for c in later if c.repeat == 1) == sorted(f"{c.id}--r2" for c in measured)
    assert sorted(c.id for c in later if c.repeat == 2) == sorted(f"{c.id}--r3" for c in measured)
    assert len({c.id for c in cells}) == len(cells)
    assert "[repeat 2/3]" in next(c.label for c in later if c.repeat == 1)
    assert repeat_id("db--x--threads--c16", 0) == "db--x--threads--c16" and repeat_id("a", 3) == "a--r4"
    assert with_repeats(once, 1) == once


def test_rounds_are_interleaved_and_each_round_is_shuffled_the_same_way_every_time() -> None:
    once = plan_db(_db(concurrency=[1, 4, 16, 64]))
    cells = with_repeats(once, 3)
    assert [c.repeat for c in cells] == sorted(c.repeat for c in cells)  # all first repeats, then all second ...
    second = [c.id.removesuffix("--r2") for c in cells if c.repeat == 1]
    third = [c.id.removesuffix("--r3") for c in cells if c.repeat == 2]
    first = [c.id for c in once if c.kind == "db" or c.kind == "request"]
    assert sorted(second) == sorted(third) == sorted(first)
    assert second != first and third != second  # each round in its own order: no cell always follows another
    assert [c.id for c in with_repeats(once, 3)] == [c.id for c in cells]  # the same flags, the same plan


def test_run_repeats_the_stack_its_predictors_and_the_db_cells_at_its_concurrency() -> None:
    cells = plan_run(None, _db(), quick=True, stack=_stack(), repeats=3)
    again = {c.id.removesuffix("--r2") for c in cells if c.repeat == 1}
    assert {c.id for c in cells if c.kind == "stack" and c.repeat == 0} == {
        "stack--waitress--fast--global--c16--w1", "stack--gevent-pywsgi--fast--global--c16--w1"} <= again
    assert "db--pooled-tuned--threads--c16" in again and "db--global--threads--c16" in again
    assert "db--pooled-tuned--threads--c1" not in again  # the sweep's other concurrencies: once
    assert {"request--fast--global--threads--c16", "request--fast--global--gevent--c16"} <= again  # predictors
    assert "request--fast--pooled-tuned--threads--c16" not in again  # predicts no stack cell: once
    every = plan_run(None, _db(), quick=True, stack=_stack(), repeats=3, repeat_all=True)
    assert "db--pooled-tuned--threads--c1--r3" in {c.id for c in every}
    without = plan_run(None, _db(), quick=True, repeats=2)  # no stack: the request scenario's concurrency
    assert {c.id for c in without if c.repeat} == {"db--global--threads--c16--r2", "db--pooled-tuned--threads--c16--r2",
                                                    "request--fast--pooled-tuned--threads--c16--r2"}
    accept = answer_cells(None, 1)
    assert accept(plan_stack(_stack())[0]) and not accept(plan_db(_db())[0])  # a ceiling is never repeated


def test_the_plan_document_keeps_each_cells_repeat_and_an_old_plan_reads_as_repeat_0() -> None:
    cells = with_repeats(plan_db(_db()), 2)
    doc = json.loads(json.dumps(plan_document(cells, {"repeats": 2})))
    assert cells_from_document(doc) == cells
    assert all("repeat" not in c for c in doc["cells"] if not c["id"].endswith("--r2"))  # as plans were before
    old = {"cells": [{k: v for k, v in c.items() if k != "repeat"} for c in doc["cells"][:3]]}
    assert [c.repeat for c in cells_from_document(old)] == [0, 0, 0]


def test_the_pipeline_runs_setup_cells_first_then_measured_cells_in_plan_order(tmp_path: Path) -> None:
    cells = with_repeats(plan_db(_db()), 3)
    n = sum(c.kind == "ceiling" for c in cells)
    assert n == 2  # c=1, and c=16 (the db sweep's and the request scenario's)
    shuffled = cells[n:] + cells[:n]  # a ceiling planned after database cells still runs before them
    order = [c for _, batch in batches(shuffled) for c in batch]
    assert [c.kind for c in order[:n]] == ["ceiling"] * n
    assert [c.id for c in order[n:]] == [c.id for c in shuffled if c.kind != "ceiling"]
    sink = MemorySink(path=tmp_path / "out.json")
    Pipeline(sink, quiet=True, target=None).run(cells)  # no server: every cell recorded skipped, through the sink
    measured = [r for r in sink.records if r.kind in ("db", "request")]
    assert [r.repeat for r in measured] == [c.repeat for c in cells if c.kind in ("db", "request")]
    stored = json.loads((tmp_path / "out.json").read_text())["records"]
    assert {r["repeat"] for r in stored if r["kind"] == "db"} == {0, 1, 2}


def test_the_full_run_fits_its_budget_and_quick_is_one_measurement() -> None:
    from bench.cli.args import async_part, db_selection, locals_plan, network_part, stack_selection
    from bench.cli.driverargs import driver_part
    from bench.cli.main import build_parser

    def planned(*flags: str) -> list[Planned]:
        args = build_parser().parse_args(["run", *flags])
        db = db_selection(args, quick=args.quick, with_drivers=False)
        stack = stack_selection(quick=args.quick, workers=db.processes)
        repeats = matrix.RUN_QUICK_REPEATS if args.quick else matrix.RUN_REPEATS
        parts = (async_part(db, quick=args.quick), network_part(db, args, quick=args.quick),
                 driver_part(db, args, quick=args.quick))
        return plan_run(locals_plan(args, quick=args.quick), db, quick=args.quick, stack=stack, parts=parts,
                        repeats=repeats)

    full = planned()
    assert max(c.repeat for c in full) == matrix.RUN_REPEATS - 1 == 2
    # A margin for a machine shared with others: measured full runs end about 10% under the estimate (docs/repeats.md).
    assert estimate(full).seconds <= FULL_RUN_BUDGET_S * 0.95
    assert {c.repeat for c in planned("--quick")} == {0}


@pytest.mark.parametrize("args", [["run", "--repeats", "0"], ["db", "--repeats", "x"], ["stack", "--repeats", "51"]])
def test_a_bad_repeat_count_is_one_line_exit_2(args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "bench", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("ctxbench: error:") and "--repeats" in proc.stderr


@pytest.mark.db
@pytest.mark.slow
def test_a_partly_done_repeated_run_resumes_only_its_missing_repeats(mysql_server: Any, tmp_path: Path) -> None:
    t = mysql_server.target
    url = f"mysql://{t.user}:{t.password}@{t.host}:{t.port}/{t.database}"
    flags = ["--no-locals", "--no-stack", "--no-asyncio", "--strategy", "pooled-tuned", "--db-load", "threads",
             "--concurrency", "16", "--request-impl", "none", "--duration", "0.2", "--warmup", "0", "--repeats", "3",
             "--quiet", "--mysql-url", url]
    proc = subprocess.run([sys.executable, "-m", "bench", "run", "--out", str(tmp_path), *flags], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    cells = run / "cells"
    names = sorted(p.stem for p in cells.glob("*.json"))
    assert names == ["ceiling--c16", "db--pooled-tuned--threads--c16", "db--pooled-tuned--threads--c16--r2",
                     "db--pooled-tuned--threads--c16--r3"]
    repeats = [json.loads((cells / f"{n}.json").read_text())["records"][0]["repeat"] for n in names[1:]]
    assert repeats == [0, 1, 2]
    assert "n=3)" in (run / "REPORT.md").read_text()  # the table's median over three repeats
    kept = {n: (cells / f"{n}.json").read_text() for n in names}
    for gone in ("db--pooled-tuned--threads--c16", "db--pooled-tuned--threads--c16--r2"):  # as if interrupted
        (cells / f"{gone}.json").unlink()
    resumed = subprocess.run([sys.executable, "-m", "bench", "run", "--out", str(tmp_path), "--resume", run.name,
                              "--quiet", "--mysql-url", url], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "2 of 4 cells already finished, 2 to run" in resumed.stderr
    assert sorted(p.stem for p in cells.glob("*.json")) == names
    for n in ("ceiling--c16", "db--pooled-tuned--threads--c16--r3"):  # finished cells were not run again
        assert (cells / f"{n}.json").read_text() == kept[n]
    again = json.loads((cells / "db--pooled-tuned--threads--c16--r2.json").read_text())["records"][0]
    assert again["repeat"] == 1
