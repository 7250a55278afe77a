"""The real stack: a Flask app under real servers, real HTTP on loopback, each verdict from a probe that can fail.

Cells are short (1 s after a 0.3 s warmup) and nothing here compares times: only counts and what the servers
proved.  Every process a cell starts must be gone when it returns (checked by pid).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from bench.records import latency
from bench.server import ServerTarget

pytest.importorskip("flask")
pytest.importorskip("locust")
pytest.importorskip("gunicorn")
pytest.importorskip("waitress")

from bench.exec.stackcell import run_stack_cell
from bench.webstack import missing_extra
from bench.webstack.servers import SERVERS, ServerInfo, expected_facts

pytestmark = [pytest.mark.db, pytest.mark.slow]

CONCURRENCY = 8


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest) -> ServerTarget:
    return request.getfixturevalue("mysql_server").target  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def cells(target: ServerTarget) -> Iterator[dict[tuple[str, str, str], tuple[dict[str, Any], str | None]]]:
    """Cells run once per module, by (server, impl, strategy)."""
    cache: dict[tuple[str, str, str], tuple[dict[str, Any], str | None]] = {}
    yield cache


def _descendants() -> set[int]:
    return {proc.pid for proc in psutil.Process().children(recursive=True)}


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _run(target: Any, **spec: Any) -> tuple[dict[str, Any], str | None]:
    """One cell, checking that every process it started is gone by pid when it returns."""
    before = _descendants()
    rec, error = run_stack_cell(target, {"workers": 1, "concurrency": CONCURRENCY, "duration": 1.0, "warmup": 0.3,
                                         **spec})
    assert all(_gone(pid) for pid in rec["server_pids"]), rec["server_pids"]
    left = {pid for pid in _descendants() - before if not _gone(pid)}
    assert left == set()
    return rec, error


def _cell(cells: dict[Any, Any], target: Any, server: str, impl: str, strategy: str) -> dict[str, Any]:
    key = (server, impl, strategy)
    if key not in cells:
        cells[key] = _run(target, server=server, impl=impl, strategy=strategy)
    return cells[key][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("server", [name for name, info in SERVERS.items() if info.interface == "wsgi"])
def test_each_server_proves_its_load_and_serves_right(cells: dict[Any, Any], target: Any, server: str) -> None:
    rec = _cell(cells, target, server, "fast", "pooled-tuned")
    facts = rec["load_facts"]
    assert rec["model_load"] == SERVERS[server].model_load
    for key, want in expected_facts(rec["model_load"]).items():
        assert facts[key] == want, (key, facts)
    assert facts["in_flight_peak"] >= 2
    assert (facts["os_threads_per_process"] == 1) == facts["greenlets"]
    assert facts["os_threads_per_process"] >= 1
    assert rec["outcome"] == "ok", rec
    assert rec["requests"] > 0 and rec["ok"] == rec["requests"]
    assert rec["latency_ms"]["p50"] is not None and rec["ops_per_s"] > 0
    # One server process answered (workers=1): its pid is the server's own or its one worker's, its share is all.
    (share,) = rec["per_process"]
    assert share["pid"] in rec["server_pids"] and share["requests"] == rec["requests"]
    assert share[latency.FIELD] == rec[latency.FIELD] and rec[latency.FIELD]["count"] == rec["requests"]


def test_threading_local_leaks_between_greenlets_on_one_unpatched_thread(cells: dict[Any, Any], target: Any) -> None:
    leaky = _cell(cells, target, "gevent-pywsgi-nothread", "threading-local", "pooled-tuned")
    assert leaky["wrong_local"] > 0 and leaky["outcome"] == "errors"
    assert leaky["silent_wrong"] == 0  # the pool kept the replies apart; only the Local was shared
    for impl in ("fast", "flask-g"):
        rec = _cell(cells, target, "gevent-pywsgi-nothread", impl, "pooled-tuned")
        assert rec["requests"] > 0 and rec["wrong_local"] == 0 and rec["outcome"] == "ok", rec


def test_a_shared_namespace_is_caught_under_threads(cells: dict[Any, Any], target: Any) -> None:
    """The Local check fails on a broken Local where OS threads are the load too (threading.local holds there)."""
    broken = _cell(cells, target, "gunicorn-gthread", "tests.broken_locals:SharedLocal", "pooled-tuned")
    assert broken["wrong_local"] > 0
    assert _cell(cells, target, "gunicorn-gthread", "threading-local", "pooled-tuned")["wrong_local"] == 0


def test_one_shared_connection_fails_under_gevent(cells: dict[Any, Any], target: Any) -> None:
    shared = _cell(cells, target, "gevent-pywsgi", "fast", "global")
    failed = shared["silent_wrong"] + sum(shared["http_errors"].values()) + sum(shared["client_errors"].values())
    assert failed > 0 and shared["outcome"] == "errors"
    assert shared["wrong_local"] == 0
    for strategy in ("pooled-tuned", "per-request"):
        rec = _cell(cells, target, "gevent-pywsgi", "fast", strategy)
        assert rec["requests"] > 0 and rec["silent_wrong"] == 0, rec
        assert rec["http_errors"] == {} and rec["client_errors"] == {}, rec


def test_a_pool_sharing_connections_is_caught_under_threads(cells: dict[Any, Any], target: Any) -> None:
    rec = _cell(cells, target, "gunicorn-gthread", "fast", "tests.broken_strategies:SharedPairPool")
    assert rec["silent_wrong"] + sum(rec["http_errors"].values()) > 0, rec


def test_an_os_lock_under_greenlets_on_one_thread_ends_hung(target: Any) -> None:
    """``locked`` under patch_all(thread=False): the lock is a real OS lock, a second greenlet blocks the hub."""
    rec, error = _run(target, server="gevent-pywsgi-nothread", impl="fast", strategy="locked", request_timeout=1.0)
    assert rec["outcome"] == "hung", rec
    assert error is not None and "\n" not in error
    assert sum(rec["client_errors"].values()) > 0


def test_a_server_that_cannot_start_is_an_error_and_leaves_nothing(target: ServerTarget) -> None:
    """The app cannot connect (nothing listens on the port given), so its server exits before answering."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    nowhere = ServerTarget("127.0.0.1", dead_port, target.user, "s3cret-pass", target.database, "url")
    for server in ("gunicorn-gthread", "gevent-pywsgi"):
        rec, error = _run(nowhere, server=server, impl="fast", strategy="global")
        assert rec["outcome"] == "error" and error is not None, rec
        assert "\n" not in error and "s3cret-pass" not in error and "s3cret-pass" not in str(rec)
        assert rec["server_pids"], rec  # it did start, and every pid it had is gone (checked in _run)


def test_a_port_taken_is_an_error(target: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        rec, error = _run(target, server="waitress", impl="fast", strategy="per-request", port=port)
    assert rec["outcome"] == "error" and error is not None and f"port {port}" in error and "\n" not in error


def test_a_server_that_does_not_prove_its_declared_load_does_not_count(monkeypatch: pytest.MonkeyPatch,
                                                                       target: Any) -> None:
    """The proof can fail: waitress declared as a gevent server is refused before any load is put on it."""
    liar = ServerInfo("waitress-as-gevent", "waitress declared as gevent", "gevent", SERVERS["waitress"].argv,
                      "waitress")
    monkeypatch.setitem(SERVERS, liar.name, liar)
    rec, error = _run(target, server=liar.name, impl="fast", strategy="per-request")
    assert rec["outcome"] == "error" and rec["requests"] is None
    assert error is not None and "did not prove load gevent" in error and "threading_patched" in error


@pytest.mark.parametrize(("spec", "words"), [
    ({"server": "nginx"}, "unknown server 'nginx'"),
    ({"impl": "no-such-local"}, "unknown impl"),
    ({"strategy": "no-such-strategy"}, "unknown strategy"),
    ({"concurrency": 0}, "concurrency must be"),
    ({"server": "waitress", "workers": 2}, "workers must be 1"),
])
def test_bad_input_is_one_line(spec: dict[str, Any], words: str) -> None:
    full = {"server": "gevent-pywsgi", "impl": "fast", "strategy": "global", "concurrency": 2, "duration": 1,
            "warmup": 0, **spec}
    rec, error = run_stack_cell(None, full)
    assert rec["outcome"] == "error" and error is not None and words in error and "\n" not in error


def test_no_server_means_skipped() -> None:
    rec, error = run_stack_cell(None, {"server": "waitress", "impl": "fast", "strategy": "global", "concurrency": 2,
                                       "duration": 1})
    assert rec["outcome"] == "skipped" and error is None and rec["kind"] == "stack"


def test_missing_extra_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    assert missing_extra() is None
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "locust" else real(name, *a))
    message = missing_extra()
    assert message is not None and "\n" not in message and "locust" in message
    assert "pip install 'ctxbench[stack]'" in message
    rec, error = run_stack_cell(ServerTarget("127.0.0.1", 1, "u", "p", "d", "url"),
                                {"server": "waitress", "impl": "fast", "strategy": "global", "concurrency": 2,
                                 "duration": 1})
    assert rec["outcome"] == "skipped" and rec["reason"] == message and error is None


_STARTS_AND_DIES = """
import json, os, signal, sys, tempfile
from pathlib import Path
from bench.webstack.launch import free_port, start
from bench.webstack.servers import SERVERS
workdir = Path(tempfile.mkdtemp())
app = workdir / "app.json"
app.write_text(json.dumps({"impl": "fast", "strategy": "per-request", "connect": {"port": 1}, "concurrency": 2}))
running = start(SERVERS[sys.argv[1]], port=free_port(), workers=2, concurrency=2, app_spec=app, workdir=workdir)
# The port answers once the first worker is up; on a loaded machine the second may still be forking.
from bench.poll import poll
group = poll(running.group, until=lambda pids: len(pids) >= 3, timeout=30, interval=0.1)
print(json.dumps(sorted(group)), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_servers_die_with_a_parent_killed_by_sigkill() -> None:
    """A server in its own session still ends when the process that started it is SIGKILLed (no stop ran)."""
    import json
    import subprocess
    import sys

    from bench.poll import poll

    out = subprocess.run([sys.executable, "-c", _STARTS_AND_DIES, "gunicorn-gthread"], capture_output=True,
                         text=True, timeout=60).stdout
    pids = json.loads(out.splitlines()[0])
    assert len(pids) == 3  # the master and two workers
    left = poll(lambda: [pid for pid in pids if not _gone(pid)], until=lambda alive: not alive, timeout=15,
                interval=0.2)
    assert left == []
