"""The real stack as part of the matrix: selection, planned cells, the pipeline's handling, the command's bad input.

Nothing here starts a server: the pipeline's stack runner is exercised with the extra reported missing, with no
database server, and with the cell runner replaced by one that returns a hand-built record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest

import bench.exec.stackcell
import bench.webstack
from bench.cli.args import stack_selection
from bench.cli.main import main
from bench.exec.pipeline import MemorySink, Pipeline
from bench.plan import matrix
from bench.plan.cells import model_companions, plan_stack
from bench.plan.runplan import plan_run
from bench.plan.selection import DbSelection, StackSelection, check_stack
from bench.records.schema import check_record
from bench.webstack.servers import SERVERS
from tests.test_stack_model import stack_rec


def _selection(**kw: Any) -> StackSelection:
    base: dict[str, Any] = {"servers": ["waitress"], "impls": ["fast"], "strategies": ["global"], "concurrency": [4],
                            "duration": 0.5, "warmup": 0.1, "workers": 1}
    return StackSelection(**{**base, **kw})


def test_default_and_quick_matrices_fit_their_time_bounds() -> None:
    """About 5 s a cell (server start and stop included): 3 minutes for the default, 40 s for --quick."""
    full, quick = plan_stack(stack_selection()), plan_stack(stack_selection(quick=True))
    assert len(full) == 24 and len(quick) == 4
    assert set(matrix.STACK_DEFAULT["servers"]) == set(SERVERS)
    uvicorn = {c.spec.strategy for c in full if c.spec.server == "uvicorn"}
    assert uvicorn == set(matrix.STACK_DEFAULT["async_strategies"])  # the ASGI app's own defaults
    assert {c.spec.strategy for c in full if c.spec.server == "waitress"} == {"global", "pooled-tuned"}
    per_cell = 3.0 + matrix.STACK_DEFAULT["duration"] + matrix.STACK_DEFAULT["warmup"]
    assert len(full) * per_cell <= 180
    assert len(quick) * (3.0 + matrix.STACK_QUICK["duration"] + matrix.STACK_QUICK["warmup"]) <= 40


def test_stack_cells_have_stable_unique_ids() -> None:
    cells = plan_stack(_selection(servers=["waitress", "gevent-pywsgi"], impls=["fast", "flask-g"],
                                  strategies=["global", "tests.broken_strategies:factory"], concurrency=[4, 16]))
    ids = [c.id for c in cells]
    assert len(set(ids)) == len(ids) == 16
    assert ids[0] == "stack--waitress--fast--global--c4--w1"
    assert "stack--gevent-pywsgi--flask-g--tests.broken_strategies_factory--c16--w1" in ids
    assert [c.id for c in plan_stack(_selection())] == [c.id for c in plan_stack(_selection())]
    assert cells[0].label == "stack waitress fast x global c=4"
    assert cells[0].spec.to_json() == {"server": "waitress", "workers": 1, "impl": "fast", "strategy": "global",
                             "concurrency": 4, "duration": 0.5, "warmup": 0.1}


@pytest.mark.parametrize(("change", "message"), [
    ({"servers": ["nginx"]}, "unknown server 'nginx' (known: gunicorn-gthread"),
    ({"servers": []}, "no server selected"),
    ({"impls": ["nope"]}, "unknown impl 'nope'"),
    ({"strategies": ["nope"]}, "unknown strategy 'nope'"),
    ({"concurrency": [0]}, "concurrency must be a whole number"),
    ({"duration": 0}, "duration must be a positive number"),
    ({"workers": 0}, "workers must be a whole number from 1 to 64, got 0"),
])
def test_bad_stack_selection_is_one_line(change: dict[str, Any], message: str) -> None:
    from bench.errors import UsageError

    with pytest.raises(UsageError) as caught:
        check_stack(_selection(**change))
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(("change", "message"), [
    ({"servers": ["uvicorn"], "strategies": ["pooled-tuned"]},
     "server uvicorn runs its app under asyncio: strategy 'pooled-tuned' does not run under asyncio"),
    ({"servers": ["waitress", "uvicorn"], "strategies": ["global", "pooled-tuned"]}, "server uvicorn runs its app"),
    ({"servers": ["waitress"], "strategies": ["aiomysql-pool"]},
     "server waitress runs its app under threads: strategy 'aiomysql-pool' does not run under threads"),
    ({"servers": ["uvicorn"], "impls": ["flask-g"]}, "server uvicorn runs the ASGI app: impl 'flask-g' is Flask's"),
    ({"servers": ["waitress"], "strategies": ["own-connection"]}, "no app serves it (a request has no worker index)"),
])
def test_a_strategy_or_impl_the_servers_app_cannot_serve_is_one_line(change: dict[str, Any], message: str) -> None:
    from bench.errors import UsageError

    with pytest.raises(UsageError) as caught:
        check_stack(_selection(**change))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_asgi_server_takes_async_strategies_and_several_workers() -> None:
    ok = check_stack(_selection(servers=["uvicorn"], strategies=["global", "aiomysql-pool", "to-thread"], workers=2))
    assert [c.spec.strategy for c in plan_stack(ok)] == ["global", "aiomysql-pool", "to-thread"]


@pytest.mark.parametrize(("argv", "message"), [
    (["stack", "--server", "uvicorn", "--strategy", "pooled-tuned"], "strategy 'pooled-tuned' does not run under"),
    (["stack", "--server", "gunicorn-gevent", "--strategy", "asyncmy-pool"], "server gunicorn-gevent runs its app"),
])
def test_stack_command_refuses_an_unfit_strategy_before_anything_runs(argv: list[str], message: str,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_uvicorn_cells_are_predicted_by_request_cells_under_asyncio() -> None:
    db = DbSelection(strategies=["pooled-tuned"], loads=["threads"], concurrency=[4], duration=0.5, warmup=0.1,
                     request_impls=["fast"], request_strategies=["pooled-tuned"])
    stack = _selection(servers=["uvicorn"], impls=["fast", "threading-local"], strategies=["global", "aiomysql-pool"],
                       concurrency=[16])
    loads = {name: info.model_load for name, info in SERVERS.items()}
    extra = model_companions(db, stack, loads, ("threads", "gevent", "asyncio"))
    assert {(c.impl, c.strategy, c.load, c.concurrency) for c in extra} == {
        (i, s, "asyncio", 16) for i in ("fast", "threading-local") for s in ("global", "aiomysql-pool")}
    from bench.cell.loads import DB_LOADS

    assert "asyncio" in DB_LOADS  # the db matrix can run them
    defaults = stack_selection()
    assert defaults.strategies_for("uvicorn") == list(matrix.STACK_DEFAULT["async_strategies"])
    assert defaults.strategies_for("waitress") == list(matrix.STACK_DEFAULT["strategies"])


def test_flask_g_is_an_impl_of_the_stack_only() -> None:
    assert check_stack(_selection(impls=["flask-g", "contextvar"])).impls == ["flask-g", "contextvar"]


def test_companion_request_cells_predict_every_stack_cell() -> None:
    db = DbSelection(strategies=["pooled-tuned"], loads=["threads"], concurrency=[4], duration=0.5, warmup=0.1,
                     request_impls=["fast"], request_strategies=["pooled-tuned"])
    stack = _selection(servers=["gunicorn-gthread", "gevent-pywsgi"], impls=["fast"],
                       strategies=["global", "pooled-tuned"], concurrency=[16])
    loads = {name: info.model_load for name, info in SERVERS.items()}
    extra = model_companions(db, stack, loads, ("threads", "gevent"))
    assert [(c.kind, c.impl, c.strategy, c.load, c.concurrency) for c in extra] == [
        ("request", "fast", "global", "threads", 16), ("request", "fast", "global", "gevent", 16),
        ("request", "fast", "pooled-tuned", "gevent", 16)]
    assert model_companions(db, stack, loads, ("threads",)) == extra[:1]  # a load the db matrix cannot run: none
    cells = plan_run(None, db, quick=True, stack=stack)
    kinds = [c.kind for c in cells]
    assert kinds[-4:] == ["stack"] * 4 and "request--fast--global--gevent--c16" in {c.id for c in cells}
    assert len({c.id for c in cells}) == len(cells)
    assert [c.kind for c in plan_run(None, db, quick=True)] == ["ceiling", "ceiling", "db", "request"]


def test_flask_g_is_predicted_by_a_contextvar_backed_local() -> None:
    from bench.plan.cells import model_predictor

    assert model_predictor("flask-g") in ("werkzeug", "contextvar")
    assert model_predictor("threading-local") == "threading-local"


@dataclass
class _Target:
    password: str = "Zq7-stack-secret"


def test_missing_extra_records_every_cell_skipped_and_says_so_once(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    line = "the real stack needs locust: pip install 'ctxbench[stack]'"
    monkeypatch.setattr(bench.webstack, "missing_extra", lambda: line)
    sink = MemorySink()
    with caplog.at_level(logging.WARNING):
        errors = Pipeline(sink, quiet=True, target=_Target()).run(plan_stack(_selection(impls=["fast", "flask-g"])))
    assert errors == []
    assert [r["outcome"] for r in sink.records] == ["skipped", "skipped"]
    assert all(r["reason"] == line and check_record(r) is None for r in sink.records)
    assert caplog.text.count("pip install 'ctxbench[stack]'") == 1


def test_no_server_records_stack_cells_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.webstack, "missing_extra", lambda: None)
    sink = MemorySink()
    Pipeline(sink, quiet=True).run(plan_stack(_selection()))
    assert [(r["outcome"], r["reason"]) for r in sink.records] == [("skipped", "no MySQL-protocol server")]


def test_stack_cells_run_through_the_cell_runner_and_secrets_are_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    target = _Target()
    seen: list[Any] = []

    def runner(got: Any, spec: Any) -> tuple[dict[str, Any], str | None]:
        assert got is target
        seen.append(spec)
        rec = stack_rec(spec.server, "threads", spec.impl, spec.strategy, silent=3)
        rec.reason = f"mysql://root:{target.password}@127.0.0.1/x"
        return rec, f"stack cell failed near mysql://root:{target.password}@127.0.0.1/x"

    monkeypatch.setattr(bench.webstack, "missing_extra", lambda: None)
    monkeypatch.setattr(bench.exec.stackcell, "run_stack_cell", runner)
    sink = MemorySink()
    errors = Pipeline(sink, quiet=True, target=target).run(plan_stack(_selection(strategies=["global", "locked"])))
    assert [s.strategy for s in seen] == ["global", "locked"]
    assert [r["silent_wrong"] for r in sink.records] == [3, 3]
    assert len(errors) == 1 and target.password not in errors[0]
    assert all(target.password not in r["reason"] for r in sink.records)


@pytest.mark.parametrize(("argv", "message"), [
    (["stack", "--server", "nginx"], "unknown server 'nginx'"),
    (["stack", "--workers", "0"], "--workers"),
    (["stack", "--concurrency", "x"], "--concurrency"),
    (["stack", "--impl", "nope"], "unknown impl 'nope'"),
])
def test_stack_command_bad_input_is_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        status = int(exc.code or 0)
    assert status == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("ctxbench: error:")]
    assert len(lines) == 1 and message in lines[0], err


@pytest.mark.parametrize(("flags", "stack_cells"), [
    (["--quick"], 4), ([], 24), (["--quick", "--no-stack"], 0), (["--quick", "--no-db"], 0),
])
def test_run_includes_the_stack_unless_told_not_to(flags: list[str], stack_cells: int, tmp_path: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.cli.run as run_command
    from bench.cli.main import build_parser

    monkeypatch.setattr(run_command, "check_url_early", lambda url: None)  # nothing here connects to a server
    args = build_parser().parse_args(["run", "--out", str(tmp_path), "--no-micro", *flags])
    _run_dir, cells = run_command._new_run(args)
    first = [c for c in cells if c.repeat == 0]
    assert sum(1 for c in first if c.kind == "stack") == stack_cells
    repeats = matrix.RUN_QUICK_REPEATS if "--quick" in flags else matrix.RUN_REPEATS
    assert sum(1 for c in cells if c.kind == "stack") == stack_cells * repeats  # every stack cell is repeated
    if stack_cells:
        assert {c.kind for c in first[-stack_cells:]} == {"stack"}  # the stack runs last in the first round


def test_stack_model_plans_the_probes_and_request_cells_that_predict_each_cell() -> None:
    from bench.plan.cells import plan_stack_model

    stack = _selection(servers=["waitress", "uvicorn"], impls=["fast"], strategies=["global"], concurrency=[16],
                       duration=1.0, warmup=0.3)
    cells = plan_stack_model(stack)
    assert [(c.kind, c.spec.impl, c.spec.load) for c in cells] == [
        ("probes", "fast", "threads"), ("probes", "fast", "asyncio"),
        ("request", "fast", "threads"), ("request", "fast", "asyncio")]
    assert cells[0].spec.probes == ["isolation"]
    assert all(c.spec.duration == 1.0 and c.spec.warmup == 0.3 for c in cells if c.kind == "request")
    assert {c.spec.concurrency for c in cells if c.kind == "request"} == {16}


def test_without_the_asgi_extra_run_plans_no_asyncio_predictors(monkeypatch: pytest.MonkeyPatch) -> None:
    db = DbSelection(strategies=["pooled-tuned"], loads=["threads"], concurrency=[4], duration=0.5, warmup=0.1,
                     request_impls=["fast"], request_strategies=["pooled-tuned"])
    stack = _selection(servers=["waitress", "uvicorn"], strategies=["global"])
    monkeypatch.setattr(bench.webstack, "missing_extra", lambda interface="wsgi": None)  # as with every extra
    planned = {c.id for c in plan_run(None, db, quick=True, stack=stack)}
    assert "request--fast--global--asyncio--c4" in planned and "request--fast--global--threads--c4" in planned
    monkeypatch.setattr(bench.webstack, "missing_extra",
                        lambda interface="wsgi": "aiomysql" if interface == "asgi" else None)
    planned = {c.id for c in plan_run(None, db, quick=True, stack=stack)}
    assert "request--fast--global--asyncio--c4" not in planned and "request--fast--global--threads--c4" in planned
    assert "stack--uvicorn--fast--global--c4--w1" in planned  # still planned: recorded skipped, saying why


def test_a_missing_driver_refuses_a_named_strategy_but_not_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from bench.errors import UsageError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "aiomysql" else real(name, *a))
    with pytest.raises(UsageError) as caught:
        check_stack(_selection(servers=["uvicorn"], strategies=["aiomysql-pool"]))
    assert str(caught.value) == ("server uvicorn: strategy 'aiomysql-pool' under asyncio needs aiomysql: "
                                 "pip install 'ctxbench[asyncio]'")
    defaults = stack_selection()  # the default matrix still plans uvicorn's cells: they are recorded skipped
    assert "uvicorn" in defaults.servers and defaults.strategies_for("uvicorn") == ["global", "aiomysql-pool"]


@pytest.mark.parametrize(("flags", "strategies", "concurrency"), [
    (["--quick"], {"global", "aiomysql-pool", "to-thread"}, 8),
    ([], {"global", "locked", "per-request", "own-connection", "aiomysql-pool", "asyncmy-pool", "sqlalchemy-async",
          "to-thread"}, 16),
])
def test_run_has_a_small_asyncio_part(flags: list[str], strategies: set[str], concurrency: int, tmp_path: Any,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.cli.run as run_command
    from bench.cli.main import build_parser

    monkeypatch.setattr(run_command, "check_url_early", lambda url: None)

    def planned(*more: str) -> list[Any]:
        args = build_parser().parse_args(["run", "--out", str(tmp_path), "--no-micro", "--no-stack", *flags, *more])
        return run_command._new_run(args)[1]

    cells = planned()
    db = [c for c in cells if c.kind == "db" and c.spec.load == "asyncio"]
    assert {c.spec.strategy for c in db} == strategies
    assert {c.spec.concurrency for c in db} == {concurrency}
    requests = [c for c in cells if c.kind == "request" and c.spec.load == "asyncio"]
    assert requests and {c.spec.strategy for c in requests} <= set(matrix.DB_ASYNC_REQUEST_STRATEGIES)
    assert len({c.id for c in cells}) == len(cells)  # nothing planned twice
    for more in (["--no-asyncio"], ["--db-load", "threads"]):
        assert not [c for c in planned(*more) if c.kind in ("db", "request") and c.spec.load == "asyncio"]
