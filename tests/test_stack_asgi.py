"""The ASGI stack: the Starlette app under uvicorn, real HTTP on loopback, checked as the WSGI servers are.

Cells are short (1 s after a 0.3 s warmup) and nothing here compares times: only counts, what the server proved and
what the in-process model said.  Every process a cell starts must be gone when it returns (checked by pid).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from bench.records import latency
from bench.records.schema import check_record
from bench.server import ServerTarget

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiomysql")
pytest.importorskip("locust")

from bench.exec.stackcell import run_stack_cell
from bench.webstack import missing_extra
from bench.webstack.launch import check_proof
from bench.webstack.servers import SERVERS, ServerInfo, expected_facts

CONCURRENCY = 8
SHARE_COUNTS = ("requests", "ok", "silent_wrong", "wrong_local")


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest) -> ServerTarget:
    return request.getfixturevalue("mysql_server").target  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def cells() -> Iterator[dict[tuple[str, str, int], dict[str, Any]]]:
    """Cells run once per module, by (impl, strategy, workers)."""
    yield {}


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _run(target: Any, **spec: Any) -> tuple[dict[str, Any], str | None]:
    """One uvicorn cell, checking that every process it started is gone by pid when it returns."""
    before = {proc.pid for proc in psutil.Process().children(recursive=True)}
    rec, error = run_stack_cell(target, {"server": "uvicorn", "workers": 1, "concurrency": CONCURRENCY,
                                         "duration": 1.0, "warmup": 0.3, **spec})
    assert [pid for pid in rec["server_pids"] if _alive(pid)] == []
    left = [proc.pid for proc in psutil.Process().children(recursive=True) if proc.pid not in before]
    assert [pid for pid in left if _alive(pid)] == []
    return rec, error


def _cell(cells: dict[Any, Any], target: Any, impl: str, strategy: str, workers: int = 1) -> dict[str, Any]:
    key = (impl, strategy, workers)
    if key not in cells:
        cells[key] = _run(target, impl=impl, strategy=strategy, workers=workers)[0]
    return cells[key]  # type: ignore[no-any-return]


def _errors(rec: dict[str, Any]) -> int:
    return sum(rec["http_errors"].values()) + sum(rec["client_errors"].values())


@pytest.mark.db
@pytest.mark.slow
@pytest.mark.parametrize("impl", ["fast", "contextvar"])
def test_uvicorn_proves_asyncio_and_serves_right_with_a_pool(cells: dict[Any, Any], target: Any, impl: str) -> None:
    rec = _cell(cells, target, impl, "aiomysql-pool")
    assert rec["outcome"] == "ok", rec.get("reason")
    assert check_record(rec) is None
    assert rec["model_load"] == "asyncio" and rec["requests"] > 0 and rec["ok"] == rec["requests"]
    assert rec["silent_wrong"] == rec["wrong_local"] == _errors(rec) == 0
    facts = rec["load_facts"]
    for key, want in expected_facts("asyncio").items():
        assert facts[key] == want, (key, facts)
    assert facts["os_threads_per_process"] == 1 and facts["in_flight_peak"] >= 2  # tasks overlapped on one thread
    assert facts["server_software"].startswith("uvicorn/")
    uvloop = importlib.util.find_spec("uvloop") is not None
    assert ("uvloop" in facts["event_loop"]) == uvloop  # --loop auto: uvloop exactly when it is installed
    (share,) = rec["per_process"]
    assert share["pid"] in rec["server_pids"] and share["requests"] == rec["requests"]
    assert rec[latency.FIELD]["count"] == rec["requests"]


@pytest.mark.db
@pytest.mark.slow
def test_one_shared_aiomysql_connection_under_uvicorn_fails(cells: dict[Any, Any], target: Any) -> None:
    """``global``: every task awaits on one aiomysql connection.  Measured (7 cells, c=8 and 16): the first
    overlapping reads raise RuntimeError (asyncio's StreamReader: another coroutine is already waiting) or
    InternalError (a packet out of sequence); then either the stream stays open out of step and almost every later
    request is HTTP 200 with another request's row (4 of 7), or aiomysql closed it and every later request is HTTP
    500 InterfaceError (3 of 7)."""
    rec = _cell(cells, target, "fast", "global")
    assert rec["outcome"] == "errors" and rec["wrong_local"] == 0
    assert rec["silent_wrong"] + _errors(rec) > rec["requests"] // 2, rec  # most requests failed, one way or the other
    seen = {**rec["warmup"]["app_errors"], **rec["app_errors"]}
    assert {"RuntimeError", "InternalError"} & set(seen), seen  # the first collisions raise, in either mode


@pytest.mark.db
@pytest.mark.slow
def test_threading_local_is_shared_by_the_tasks_of_one_thread(cells: dict[Any, Any], target: Any) -> None:
    """Every task of the event loop runs on one OS thread: ``threading.local`` is one namespace for all of them."""
    rec = _cell(cells, target, "threading-local", "aiomysql-pool")
    assert rec["wrong_local"] > 0 and rec["outcome"] == "errors"
    assert rec["silent_wrong"] == 0 and _errors(rec) == 0  # the pool kept the replies apart; only the Local leaked


@pytest.mark.db
@pytest.mark.slow
def test_uvicorn_workers_two_pids_whose_shares_add_up(target: Any) -> None:
    """``--workers 2``: both processes prove the load; the kernel hands the (kept-alive) client connections to
    whichever worker accepts first, so a cell may find one worker idle -- up to three cells are run until both have
    a share (measured: 1 of 3 cells, at 16, 16 and 32 clients, left one idle)."""
    for _ in range(3):
        rec, error = _run(target, impl="fast", strategy="aiomysql-pool", workers=2, concurrency=32)
        assert error is None and rec["outcome"] == "ok", rec.get("reason")
        assert rec["load_facts"]["processes_answering"] == 2 and rec["processes"] == 2
        if len(rec["per_process"]) == 2:
            break
    pids = [share["pid"] for share in rec["per_process"]]
    assert len(pids) == 2 and set(pids) <= set(rec["server_pids"]) and rec["server_pid"] not in pids
    assert all(share["requests"] > 0 for share in rec["per_process"])
    for key in SHARE_COUNTS:
        assert sum(share[key] for share in rec["per_process"]) == rec[key], key
    assert latency.merge(share[latency.FIELD] for share in rec["per_process"])["count"] == rec["requests"]


@pytest.mark.db
@pytest.mark.slow
def test_a_server_that_does_not_prove_asyncio_does_not_count(monkeypatch: pytest.MonkeyPatch, target: Any) -> None:
    """The proof can fail both ways: waitress declared asyncio, and uvicorn declared a thread server."""
    liars = (ServerInfo("waitress-as-asyncio", "", "asyncio", SERVERS["waitress"].argv, "waitress"),
             ServerInfo("uvicorn-as-threads", "", "threads", SERVERS["uvicorn"].argv, "uvicorn", interface="asgi"))
    for liar, wrong in zip(liars, ("asyncio_tasks is False, expected True", "asyncio_tasks is True, expected False"),
                           strict=True):
        monkeypatch.setitem(SERVERS, liar.name, liar)
        rec, error = _run(target, server=liar.name, impl="fast", strategy="per-request")
        assert rec["outcome"] == "error" and rec["requests"] is None
        assert error is not None and f"did not prove load {liar.model_load}" in error and wrong in error


def test_tasks_on_several_threads_are_not_asyncio() -> None:
    facts = {"pids_ours": True, "server_software": "uvicorn/0.1", **expected_facts("asyncio"),
             "os_threads_per_process": 2, "in_flight_peak": 4}
    assert check_proof(SERVERS["uvicorn"], facts, overlap_possible=True) == "tasks ran on 2 OS threads in one process"
    assert check_proof(SERVERS["uvicorn"], {**facts, "os_threads_per_process": 1}, overlap_possible=True) is None
    assert check_proof(SERVERS["uvicorn"], {**facts, "os_threads_per_process": 1, "in_flight_peak": 1},
                       overlap_possible=True) == "overlapping requests did not overlap in any process"


@pytest.mark.parametrize(("spec", "words"), [
    ({"strategy": "pooled-tuned"}, "strategy 'pooled-tuned' does not run under asyncio"),
    ({"impl": "flask-g"}, "impl 'flask-g' is Flask's"),
    ({"server": "gunicorn-gthread", "strategy": "aiomysql-pool"},
     "strategy 'aiomysql-pool' does not run under threads"),
])
def test_an_unfit_strategy_or_impl_is_one_line_and_starts_nothing(spec: dict[str, Any], words: str) -> None:
    rec, error = run_stack_cell(None, {"server": "uvicorn", "impl": "fast", "strategy": "global", "concurrency": 2,
                                       "duration": 1, **spec})
    assert rec["outcome"] == "error" and error is not None and words in error and "\n" not in error
    assert rec["server_pids"] == []


def test_missing_extra_names_what_an_asgi_server_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    assert missing_extra("asgi") is None
    real = importlib.util.find_spec
    gone = {"uvicorn"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in gone else real(name, *a))
    assert missing_extra() is None  # the WSGI servers do not need it
    message = missing_extra("asgi")
    assert message == "the real stack's ASGI servers need uvicorn: pip install 'ctxbench[stack]'"
    gone.add("aiomysql")
    assert missing_extra("asgi") == ("the real stack's ASGI servers need uvicorn, aiomysql: "
                                     "pip install 'ctxbench[stack,asyncio]'")
    gone.discard("aiomysql")
    rec, error = run_stack_cell(ServerTarget("127.0.0.1", 1, "u", "p", "d", "url"),
                                {"server": "uvicorn", "impl": "fast", "strategy": "global", "concurrency": 2,
                                 "duration": 1})
    assert rec["outcome"] == "skipped" and rec["reason"] == message and error is None


@pytest.mark.db
@pytest.mark.slow
def test_the_model_under_asyncio_predicts_uvicorn(target: Any) -> None:
    """Each uvicorn cell beside the isolation probe and the request-scenario cell of its impl x strategy under
    ``asyncio``, run through the one pipeline as ``ctxbench run`` plans them: both leak ``threading.local`` (one
    thread for every task), both keep ``fast`` apart, both find the pool safe."""
    from bench.cell.loads import DB_LOADS
    from bench.exec.pipeline import MemorySink, Pipeline
    from bench.plan.cells import Planned, Timing, model_companions, plan_locals, plan_stack
    from bench.plan.selection import DbSelection, LocalsPlan, StackSelection
    from bench.present.model import pair_all

    impls = ["threading-local", "fast"]
    stack = StackSelection(servers=["uvicorn"], impls=impls, strategies=["aiomysql-pool"], concurrency=[CONCURRENCY],
                           duration=1.0, warmup=0.3)
    none = DbSelection(strategies=[], loads=[], concurrency=[], duration=0.5, warmup=0.2, request_impls=[],
                       request_strategies=[])
    companions = model_companions(none, stack, {"uvicorn": "asyncio"}, DB_LOADS)
    assert {(c.impl, c.load) for c in companions} == {(impl, "asyncio") for impl in impls}
    timing = Timing(none.duration, none.warmup, none.hang_after)
    cells = plan_locals(LocalsPlan(tuple(impls), ("asyncio",), ("isolation",), 8, micro=False))
    cells += [Planned(c.id(), c.kind, c.label(), c.spec(timing)) for c in companions] + plan_stack(stack)
    sink = MemorySink()
    errors = Pipeline(sink, quiet=True, target=target).run(cells)
    assert errors == [], errors
    pairings = {p.stack.impl: p for p in pair_all(sink.records)}
    assert set(pairings) == set(impls)
    leaky, safe = pairings["threading-local"], pairings["fast"]
    assert leaky.local is not None and (leaky.local.stack, leaky.local.model) == ("leaks", "leaks")
    assert safe.local is not None and (safe.local.stack, safe.local.model) == ("isolates", "isolates")
    for p in (leaky, safe):
        assert p.strategy is not None and "request" in p.strategy.model_cell and "asyncio" in p.strategy.model_cell
        assert (p.strategy.stack, p.strategy.model) == ("safe", "safe")
        assert p.verdict == "agree"


def test_uvicorn_and_its_workers_die_with_a_parent_killed_by_sigkill() -> None:
    """uvicorn --workers 2 in its own session still ends, supervisor and workers, when the process that started it
    is SIGKILLed (no stop ran)."""
    import json
    import subprocess
    import sys

    from bench.poll import poll
    from tests.test_stack import _STARTS_AND_DIES

    # per-request connects on each request only: the app starts with nothing listening on the port it names
    connect = '{"host": "127.0.0.1", "port": 1, "user": "u", "password": "", "database": "d"}'
    script = _STARTS_AND_DIES.replace('{"port": 1}', connect)
    assert script != _STARTS_AND_DIES
    out = subprocess.run([sys.executable, "-c", script, "uvicorn"], capture_output=True, text=True,
                         timeout=60).stdout
    pids = json.loads(out.splitlines()[0])
    assert len(pids) >= 3  # the supervisor and two workers (and multiprocessing's helper, when it runs one)
    left = poll(lambda: [pid for pid in pids if _alive(pid)], until=lambda alive: not alive, timeout=15, interval=0.2)
    assert left == []


def test_a_strategy_that_cannot_be_built_at_startup_is_an_error_and_leaves_nothing() -> None:
    """aiomysql's pool connects when the lifespan starts; with nothing listening uvicorn stops the start itself."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    nowhere = ServerTarget("127.0.0.1", dead_port, "u", "s3cret-pass", "d", "url")
    for workers in (1, 2):
        rec, error = _run(nowhere, impl="fast", strategy="aiomysql-pool", workers=workers)
        assert rec["outcome"] == "error" and error is not None and "\n" not in error, rec
        assert "s3cret-pass" not in error and "s3cret-pass" not in str(rec)
        assert "strategy 'aiomysql-pool' could not be built: OperationalError" in error  # the app's line, not uvicorn's
        assert rec["server_pids"] and rec["requests"] is None  # it started, and every pid it had is gone (_run)


def test_locust_refuses_an_unfit_strategy_for_its_app_server_before_starting_it(tmp_path: Any) -> None:
    from bench.errors import UsageError
    from bench.locustload.launch import RunSpec
    from bench.locustload.session import run_local

    spec = RunSpec(scenario="stack", strategy="pooled-tuned", users=4, workers=1, duration=0.5, warmup=0.1,
                   report_grace=1.0, connect_timeout=5.0, stop_timeout=5.0, bind_host="127.0.0.1", port=0,
                   run_dir=tmp_path, impl="fast", server="uvicorn")
    before = {proc.pid for proc in psutil.Process().children(recursive=True)}
    with pytest.raises(UsageError) as caught:
        run_local(spec, ServerTarget("127.0.0.1", 1, "u", "p", "d", "url"))
    assert "strategy 'pooled-tuned' does not run under asyncio" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert {proc.pid for proc in psutil.Process().children(recursive=True)} - before == set()  # nothing started
