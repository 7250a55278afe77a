"""The locals matrix: expected verdicts, probe power, load verification, CLI behaviour."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any

import pytest

from bench.exec.locals import run_locals
from bench.exec.spawn import run_cell
from bench.plan.selection import LocalsPlan
from bench.records.environment import PROJECT_ROOT

IMPLS = ("threading-local", "dict-by-ident", "greenlet-keyed", "contextvar", "fast", "werkzeug", "gevent-local")
LOADS = ("threads", "gevent", "gevent-nothread", "greenlet", "asyncio")
JUDGED = ("isolation", "child-write", "stale-reuse", "leak")
ALL_FAIL = set(JUDGED)

# What we measured, written down: the judged probes each cell FAILS (all others pass).
EXPECTED_FAILURES: dict[tuple[str, str], set[str]] = {}
for _load in LOADS:
    for _impl in IMPLS:
        EXPECTED_FAILURES[_impl, _load] = set()
    # Keys that are recycled (thread idents; id() of a dead greenlet under gevent).
    EXPECTED_FAILURES["dict-by-ident", _load] = {"stale-reuse", "leak"}
    # Keys are the greenlet objects themselves: nothing is ever released.
    EXPECTED_FAILURES["greenlet-keyed", _load] = {"leak"}
for _load in ("gevent-nothread", "greenlet", "asyncio"):
    # Every worker shares the one OS thread.
    EXPECTED_FAILURES["threading-local", _load] = ALL_FAIL
    EXPECTED_FAILURES["dict-by-ident", _load] = ALL_FAIL
# Every asyncio task runs on the one greenlet.
EXPECTED_FAILURES["greenlet-keyed", "asyncio"] = ALL_FAIL
EXPECTED_FAILURES["gevent-local", "asyncio"] = ALL_FAIL

# Context-based Locals: a child inherits its parent's values only under asyncio.
CONTEXT_BASED = ("contextvar", "fast", "werkzeug")


@pytest.fixture(scope="module")
def matrix() -> dict[tuple[str, str, str], dict[str, Any]]:
    plan = LocalsPlan(impls=IMPLS, loads=LOADS, probes=(*JUDGED, "inheritance"), workers=8, micro=False)
    outcome = run_locals(plan, quiet=True)
    assert outcome.errors == []
    return {(r["impl"], r["load"], r["probe"]): r for r in outcome.records}


@pytest.mark.parametrize("load", LOADS)
@pytest.mark.parametrize("impl", IMPLS)
def test_expected_verdicts(matrix: dict[tuple[str, str, str], dict[str, Any]], impl: str, load: str) -> None:
    failing = {probe for probe in JUDGED if matrix[impl, load, probe]["violations"]}
    assert failing == EXPECTED_FAILURES[impl, load]
    for probe in JUDGED:
        rec = matrix[impl, load, probe]
        assert rec["outcome"] == "ok" and rec["checks"] > 0


@pytest.mark.parametrize("load", LOADS)
def test_inheritance_reported(matrix: dict[tuple[str, str, str], dict[str, Any]], load: str) -> None:
    for impl in CONTEXT_BASED:
        rec = matrix[impl, load, "inheritance"]
        assert rec["violations"] is None  # reported, not judged
        # A task copies its creator's context; so does a thread where threads inherit it (free-threaded 3.14).
        inherits = load == "asyncio" or (load == "threads" and getattr(sys.flags, "thread_inherit_context", False))
        expected = rec["checks"] if inherits else 0
        assert rec["details"]["inherited"] == expected, (impl, load)


def test_fast_passes_whatever_contextvar_passes(matrix: dict[tuple[str, str, str], dict[str, Any]]) -> None:
    for load in LOADS:
        for probe in JUDGED:
            if matrix["contextvar", load, probe]["violations"] == 0:
                assert matrix["fast", load, probe]["violations"] == 0, (load, probe)


def _probe(impl: str, load: str, probe: str) -> dict[str, Any]:
    result = run_cell({"task": "probes", "impl": impl, "load": load, "workers": 8, "probes": [probe]}, timeout=60)
    assert result.failure is None
    (rec,) = result.records
    assert rec["outcome"] == "ok", rec.get("error")
    return rec


@pytest.mark.parametrize(
    ("broken", "load", "caught_by", "passes"),
    [
        ("SharedLocal", "threads", "isolation", None),
        ("MutatingContextVarLocal", "asyncio", "child-write", "isolation"),
        ("StickyLocal", "threads", "stale-reuse", "isolation"),
        ("LeakyLocal", "threads", "leak", "isolation"),
    ],
)
def test_each_probe_catches_its_broken_local(broken: str, load: str, caught_by: str, passes: str | None) -> None:
    impl = f"tests.broken_locals:{broken}"
    assert _probe(impl, load, caught_by)["violations"] > 0
    if passes:
        assert _probe(impl, load, passes)["violations"] == 0


def test_broken_locals_are_caught_on_every_run() -> None:
    """Deterministic, not lucky: three runs, three catches."""
    for _ in range(3):
        assert _probe("tests.broken_locals:SharedLocal", "gevent", "isolation")["violations"] > 0


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("import gevent; from bench.cell.loads import Threads; Threads().verify()", "gevent is imported"),
        ("from bench.cell.loads import Gevent; Gevent().verify()", "threading patched=False"),
        ("from gevent import monkey; monkey.patch_all(); "
         "from bench.cell.loads import GeventNoThread; GeventNoThread().verify()",
         "threading patched=True"),
    ],
)
def test_a_load_that_is_not_what_it_claims_fails_loudly(code: str, message: str) -> None:
    proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "LoadMismatch" in proc.stderr and message in proc.stderr


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120)


def test_cli_unknown_and_failing_impls_do_not_stop_the_others(tmp_path: Any) -> None:
    out = tmp_path / "locals.json"
    proc = _cli(
        "locals", "--no-micro", "--quiet", "--json", str(out), "--load", "threads,nosuchload",
        "--impl", "fast,nosuch", "--impl", "tests.broken_locals:ExplodingLocal", "--impl", "nosuch.module:Local",
    )
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ctxbench: error:")]
    assert any("unknown impl 'nosuch'" in line for line in errors)
    assert any("unknown load 'nosuchload'" in line for line in errors)
    assert any("nosuch.module:Local" in line and "cannot import" in line for line in errors)
    assert any("ExplodingLocal" in line and "exploding local" in line for line in errors)
    assert "Traceback" not in proc.stderr
    doc = json.loads(out.read_text())
    assert doc["schema"] == 1
    assert {"python", "packages", "cpu", "commit"} <= set(doc["environment"])
    fast = [r for r in doc["records"] if r["impl"] == "fast"]
    assert {r["probe"] for r in fast} == {"isolation", "child-write", "inheritance", "stale-reuse", "leak", "race"}
    assert all(r["violations"] in (0, None) and r["kind"] == "probe" for r in fast)


@pytest.mark.parametrize("args", [["--workers", "0"], ["--workers", "-1"], ["--workers", "1000000"],
                                  ["--probe", "nope"]])
def test_cli_nonsense_numbers_and_names(args: list[str]) -> None:
    proc = _cli("locals", "--no-micro", "--quiet", "--impl", "fast", "--load", "threads", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ctxbench: error:")


def test_cli_unwritable_json_path_fails_before_measuring(tmp_path: Any) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = _cli("locals", "--no-micro", "--quiet", "--impl", "fast", "--load", "threads",
                "--json", str(blocker / "sub" / "x.json"))
    assert proc.returncode == 2
    assert "cannot write results" in proc.stderr


# --- the subjects themselves -------------------------------------------------

def _factories() -> list[Any]:
    import localimpls

    return [localimpls.resolve(name) for name in localimpls.default_impls()]


@pytest.mark.parametrize("factory", _factories(), ids=lambda f: getattr(f, "__module__", "?"))
def test_attribute_protocol(factory: Any) -> None:
    local = factory()
    assert not hasattr(local, "x")
    with pytest.raises(AttributeError):
        local.x  # noqa: B018
    local.x = 1
    assert local.x == 1
    assert getattr(local, "missing", "default") == "default"
    del local.x
    assert not hasattr(local, "x")
    with pytest.raises(AttributeError):
        del local.x
    local.x = 2
    assert local.x == 2

    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(getattr(local, "x", None)))
    thread.start()
    thread.join()
    # A new thread starts with a copy of its creator's context where threads inherit it (free-threaded 3.14).
    inherits = getattr(sys.flags, "thread_inherit_context", False) and factory.__module__ in (
        "localimpls.contextvar_local", "localimpls.fast", "werkzeug.local")
    assert seen == ([2] if inherits else [None])


def test_fast_release_and_class_attributes() -> None:
    from localimpls.fast import Local

    local = Local()
    local.a, local.b = 1, 2
    local.__release_local__()
    assert not hasattr(local, "a") and not hasattr(local, "b")
    local.a = 3
    assert local.a == 3
    assert isinstance(local, Local) and local.__class__.__name__ == "Local"
    other = Local()
    other.a = "other"
    assert local.a == 3  # instances never share storage


def test_fast_first_write_race_keeps_every_value() -> None:
    """Many threads writing a brand-new name at once: each must read back its own value."""
    from localimpls.fast import Local

    for _ in range(20):
        local = Local()
        barrier = threading.Barrier(8)
        bad: list[int] = []

        def work(i: int, local: Any = local, barrier: threading.Barrier = barrier, bad: list[int] = bad) -> None:
            barrier.wait()
            local.fresh = i
            if local.fresh != i:
                bad.append(i)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert bad == []


@pytest.mark.parametrize("factory", _factories(), ids=lambda f: getattr(f, "__module__", "?"))
def test_stack_and_proxy_over_any_local(factory: Any) -> None:
    from localimpls.stack import LocalProxy, LocalStack

    class Request:
        def __init__(self, path: str) -> None:
            self.path = path

    stack: LocalStack[Request] = LocalStack(factory)
    request = LocalProxy(lambda: stack.top)
    assert stack.top is None and stack.pop() is None
    outer, inner = Request("/outer"), Request("/inner")
    stack.push(outer)
    assert request.path == "/outer"
    stack.push(inner)
    assert request.path == "/inner" and stack.top is inner
    assert stack.pop() is inner
    assert request.path == "/outer"
    assert stack.pop() is outer and stack.top is None
