"""``--processes``: selection, plan, cell ids and bad input (nothing here measures or connects)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

import bench.exec.stackcell
import bench.webstack
from bench.cli.main import build_parser, main
from bench.exec.pipeline import MemorySink, Pipeline
from bench.plan.cells import Cell, plan_db, plan_stack
from bench.plan.selection import DbSelection, StackSelection, check_selection
from bench.plan.specs import plan_spec_from_json
from bench.records.schema import from_json


def _db(**change: Any) -> DbSelection:
    fields: dict[str, Any] = {"strategies": ["pooled"], "loads": ["threads"], "concurrency": [4], "duration": 1.0,
                              "warmup": 0.1, "request_impls": ["fast"], "request_strategies": ["pooled-tuned"]}
    fields.update(change)
    return DbSelection(**fields)


def _errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        status = int(exc.code or 0)
    err = capsys.readouterr().err
    return status, [line for line in err.splitlines() if line.startswith("ctxbench: error:")]


@pytest.mark.parametrize(("argv", "words"), [
    (["db", "--processes", "0"], "argument --processes: 0 is out of range 1..64"),
    (["db", "--processes", "x"], "argument --processes: 'x' is not a whole number"),
    (["db", "--processes", "65"], "out of range"),
    (["stack", "--processes", "2", "--server", "waitress"], "server waitress runs one process"),
    (["stack", "--workers", "2", "--server", "gevent-pywsgi"], "server gevent-pywsgi runs one process"),
    (["run", "--processes", "0"], "argument --processes"),
])
def test_bad_processes_are_one_line_and_exit_2(argv: list[str], words: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = _errors(argv, capsys)
    assert status == 2 and len(lines) == 1 and words in lines[0], lines


def test_ids_of_one_process_cells_do_not_change() -> None:
    planned = plan_db(_db(processes=[1, 2]))
    ids = [c.id for c in planned]
    assert "db--pooled--threads--c4" in ids and "db--pooled--threads--c4--p2" in ids
    assert "request--fast--pooled-tuned--threads--c16" in ids and "request--fast--pooled-tuned--threads--c16--p2" in ids
    one = next(c for c in planned if c.id == "db--pooled--threads--c4")
    assert "processes" not in one.spec.to_json() and one.label == "db pooled threads c=4"
    two = next(c for c in planned if c.id == "db--pooled--threads--c4--p2")
    assert two.spec.processes == 2 and two.label == "db pooled threads c=4 p=2"
    assert Cell.from_spec(two.spec).total_concurrency == 8
    old = plan_spec_from_json("db", {"kind": "db", "strategy": "pooled", "load": "threads", "concurrency": 4,
                                     "impl": None, "duration": 1.0, "warmup": 0.1})
    assert Cell.from_spec(old).processes == 1  # type: ignore[arg-type]


def test_the_ceiling_is_planned_at_the_total_concurrency() -> None:
    planned = plan_db(_db(processes=[2], request_impls=[]))
    assert [c.spec.concurrency for c in planned if c.kind == "ceiling"] == [8]


def test_selection_checks_processes() -> None:
    from bench.errors import UsageError

    with pytest.raises(UsageError, match="processes must be a whole number from 1 to 64, got 0"):
        check_selection(_db(processes=[0]))


def test_db_and_stack_flags_reach_their_selections() -> None:
    from bench.cli.args import db_selection, stack_selection

    args = build_parser().parse_args(["db", "--processes", "1,2", "--processes", "4"])
    assert db_selection(args).processes == [1, 2, 4]
    args = build_parser().parse_args(["stack", "--server", "gunicorn-gthread", "--processes", "1,2"])
    cells = plan_stack(stack_selection(args))
    assert [c.spec.workers for c in cells] == [1, 2] * 4  # x 2 impls x 2 strategies
    assert cells[1].id.endswith("--w2")
    args = build_parser().parse_args(["stack", "--server", "gunicorn-gthread", "--workers", "3"])
    assert stack_selection(args).worker_counts() == [3]


def test_run_plans_processes_everywhere_and_records_the_option(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.cli.run as run_command

    monkeypatch.setattr(run_command, "check_url_early", lambda url: None)  # nothing here connects to a server
    args = build_parser().parse_args(["run", "--out", str(tmp_path), "--no-micro", "--no-locals", "--quick",
                                      "--processes", "2"])
    run_dir, cells = run_command._new_run(args)
    db = [c for c in cells if c.kind in ("db", "request")]
    assert db and all(c.spec.processes == 2 for c in db if "predicts" not in c.label)
    assert {c.spec.concurrency for c in cells if c.kind == "ceiling"} == {16, 32}  # 2 x 8 db, 2 x 16 request
    assert {c.spec.workers for c in cells if c.kind == "stack"} == {2}
    assert json.loads((run_dir.path / "run.json").read_text())["options"]["processes"] == [2]


@dataclass
class _Target:
    password: str = "Zq7-procs-secret"


def test_run_records_a_one_process_server_asked_for_two_as_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    def runner(target: Any, spec: Any) -> tuple[dict[str, Any], str | None]:
        ran.append(spec.server)
        return from_json({"kind": "stack", "server": spec.server, "workers": spec.workers, "impl": spec.impl,
                          "strategy": spec.strategy, "concurrency": spec.concurrency, "outcome": "ok"}), None

    monkeypatch.setattr(bench.webstack, "missing_extra", lambda: None)
    monkeypatch.setattr(bench.exec.stackcell, "run_stack_cell", runner)
    selection = StackSelection(servers=["gunicorn-gthread", "waitress"], impls=["fast"], strategies=["global"],
                               concurrency=[4], workers=[2])
    sink = MemorySink()
    errors = Pipeline(sink, quiet=True, target=_Target()).run(plan_stack(selection))
    assert errors == [] and ran == ["gunicorn-gthread"]
    skipped = [r for r in sink.records if r["outcome"] == "skipped"]
    assert [r["server"] for r in skipped] == ["waitress"]
    assert "server waitress runs one process: 2 worker processes" in skipped[0]["reason"]
