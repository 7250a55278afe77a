"""Tests of ``ctxbench regress --against REF``: the A/B gate (base and change timed in the same rounds).

Every repository here is built in ``tmp_path`` (``git init``, a small Local committed, the
change made in the working tree); the project's own history is never touched.  Bad input
ends with one line and exit status 2 and leaves no worktree behind (``git worktree list``,
and the temporary area, ``TMPDIR``, is empty).  End to end, a read made about three times
slower in the change is flagged on exactly that metric, and an A/A run (the same code on
both sides) flags nothing; only directions and big effects are asserted, never timings.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.cell import base_subject as twin
from bench.errors import EXIT_ERROR, EXIT_OK, EXIT_REGRESSION
from bench.gate.ab import speed as ab
from bench.records.kinds import Record
from bench.records.schema import from_json

ROOT = Path(__file__).resolve().parent.parent
IMPL = "abpkg.loc:Local"
#: A Local whose reads of ``x`` run ``N`` empty loop iterations first: N = 0 in the base, more in a slowed change.
LOCAL_SOURCE = '''\
import threading

N = 0


class Local(threading.local):
    def __getattribute__(self, name):
        if name == "x":
            for _ in range(N):
                pass
        return threading.local.__getattribute__(self, name)
'''
QUICK = ["--no-db", "--load", "threads", "--probe", "isolation", "--quiet", "--micro-processes", "5",
         "--micro-values", "3"]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout


def make_repo(path: Path, source: str = LOCAL_SOURCE) -> Path:
    """A git repository with package ``abpkg`` (module ``loc``) committed once."""
    (path / "abpkg").mkdir(parents=True)
    (path / "abpkg" / "__init__.py").write_text("")
    (path / "abpkg" / "loc.py").write_text(source)
    git(path, "init", "-q")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "base: a Local")
    return path


def slow_down(repo: Path, loops: int) -> None:
    """The change: reads of ``x`` run ``loops`` extra iterations (real bytecode on the read path)."""
    (repo / "abpkg" / "loc.py").write_text(LOCAL_SOURCE.replace("N = 0", f"N = {loops}"))


def run_ab(repo: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``ctxbench regress --against ...`` in a fresh process whose temporary area is ``tmp``."""
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.run([sys.executable, "-m", "bench", "regress", "--repo", str(repo), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def worktrees(repo: Path) -> int:
    return sum(1 for line in git(repo, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree "))


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert proc.returncode == EXIT_ERROR, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def assert_nothing_left(repo: Path, tmp: Path) -> None:
    assert worktrees(repo) == 1
    assert list(tmp.iterdir()) == []


# ---- bad input: one line, exit 2, no worktree left ----

def test_repo_that_is_not_git(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    proc = run_ab(plain, tmp_path / "tmp", "--against", "HEAD", "--impl", IMPL, *QUICK)
    assert_one_line_error(proc, "not a git repository")
    assert list((tmp_path / "tmp").iterdir()) == []


def test_ref_that_does_not_exist(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    proc = run_ab(repo, tmp_path / "tmp", "--against", "no-such-branch", "--impl", IMPL, *QUICK)
    line = assert_one_line_error(proc, "no-such-branch", "no such commit")
    assert "shallow" not in line
    assert_nothing_left(repo, tmp_path / "tmp")


def test_shallow_clone_without_the_base(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    slow_down(repo, 5)
    git(repo, "commit", "-qam", "second")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(clone)], check=True)
    proc = run_ab(clone, tmp_path / "tmp", "--against", "HEAD~1", "--impl", IMPL, *QUICK)
    assert_one_line_error(proc, "HEAD~1", "shallow")
    assert_nothing_left(clone, tmp_path / "tmp")


def test_base_where_the_impl_does_not_import(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", source=LOCAL_SOURCE + "\nraise RuntimeError('broken at import')\n")
    (repo / "abpkg" / "loc.py").write_text(LOCAL_SOURCE)  # the change fixes it
    proc = run_ab(repo, tmp_path / "tmp", "--against", "HEAD", "--impl", IMPL, *QUICK)
    assert_one_line_error(proc, "abpkg.loc:Local@base", "broken at import")
    assert_nothing_left(repo, tmp_path / "tmp")


def test_unmerged_paths_are_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "checkout", "-qb", "other")
    slow_down(repo, 1)
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "-")
    slow_down(repo, 2)
    git(repo, "commit", "-qam", "mine")
    subprocess.run(["git", "-C", str(repo), "merge", "-q", "other"], capture_output=True)  # a conflict
    proc = run_ab(repo, tmp_path / "tmp", "--against", "other", "--impl", IMPL, *QUICK)
    assert_one_line_error(proc, "unmerged")
    assert_nothing_left(repo, tmp_path / "tmp")


def test_against_with_update_baseline(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    proc = run_ab(repo, tmp_path / "tmp", "--against", "HEAD", "--update-baseline", "--impl", IMPL, *QUICK)
    assert_one_line_error(proc, "--update-baseline")


def test_only_third_party_references_compare_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    proc = run_ab(repo, tmp_path / "tmp", "--against", "HEAD", "--impl", "werkzeug", *QUICK)
    assert_one_line_error(proc, "third-party")
    assert_nothing_left(repo, tmp_path / "tmp")


# ---- the double import ----

def test_base_and_change_are_different_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = make_repo(tmp_path / "repo")
    change = tmp_path / "change"
    (change / "abpkg").mkdir(parents=True)
    (change / "abpkg" / "__init__.py").write_text("")
    (change / "abpkg" / "loc.py").write_text(LOCAL_SOURCE.replace("N = 0", "N = 7"))
    monkeypatch.syspath_prepend(str(change))
    monkeypatch.setenv(twin.ENV_BASE_TREE, str(base))
    mine = twin.resolve_subject(IMPL)
    path_before, modules_before = list(sys.path), dict(sys.modules)
    theirs = twin.resolve_subject(twin.base_name(IMPL))
    assert sys.path == path_before
    assert sys.modules["abpkg.loc"] is modules_before["abpkg.loc"]  # the change's module is back in place
    assert mine is not theirs
    assert mine.__getattribute__.__globals__["N"] == 7  # each keeps its own module's globals
    assert theirs.__getattribute__.__globals__["N"] == 0
    assert twin.resolve_subject(twin.base_name(IMPL)) is theirs  # imported once per process
    for name in ("fast", "contextvar"):  # built-ins: the base tree is a copy of this project's localimpls
        monkeypatch.setenv(twin.ENV_BASE_TREE, str(ROOT))
        assert twin.resolve_subject(twin.base_name(name)) is not twin.resolve_subject(name)
        stack, _ = twin.stack_types(twin.resolve_subject(twin.base_name(name)))
        from localimpls.stack import LocalStack
        assert stack is not LocalStack and stack.__name__ == "LocalStack"


def test_twin_check_names_missing_and_broken(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", source="raise ImportError('nope')\n")
    out = twin.check_twins(str(repo), [IMPL, "abpkg.gone:Local"])
    assert out["missing"] == ["abpkg.gone:Local"]
    assert list(out["errors"]) == [IMPL] and "nope" in out["errors"][IMPL]


# ---- the decision on paired ratios ----

def test_signed_rank_directions() -> None:
    slower = [1.3, 1.25, 1.4, 1.28, 1.33, 1.31]
    assert ab.judge("m", slower, [], [], 0.10, 0.05).verdict == "regression"
    assert ab.judge("m", [1 / r for r in slower], [], [], 0.10, 0.05).verdict == "improved"
    mixed = [1.3, 0.8, 1.4, 0.9, 1.35, 0.85]  # large median shift but not in every process: not significant
    assert ab.judge("m", mixed, [], [], 0.10, 0.05).verdict == "ok"
    small = [1.03, 1.04, 1.02, 1.05, 1.03, 1.04]  # significant but under the threshold
    result = ab.judge("m", small, [], [], 0.10, 0.05)
    assert result.verdict == "ok" and result.reason == "under threshold"
    assert ab.judge("m", slower[:4], [], [], 0.10, 0.05).verdict == "undecidable"  # 1/16 > 0.05
    assert math.isclose(ab.min_signed_rank_p(5), 1 / 32)
    assert math.isclose(ab.signed_rank_p([math.log(r) for r in slower[:5]], "greater"), 1 / 32)


# ---- end to end ----

def _speed(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["metric"]: r for r in doc["gate"]["speed"]}


def test_planted_slowdown_flagged_on_exactly_that_metric(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    slow_down(repo, 80)  # several times the cost of a read
    (repo / "abpkg" / "newloc.py").write_text(LOCAL_SOURCE)  # an impl only the change has (untracked)
    out = tmp_path / "gate.json"
    proc = run_ab(repo, tmp_path / "tmp", "--against", "HEAD", "--impl", f"{IMPL},abpkg.newloc:Local", *QUICK,
                  "--json", str(out))
    assert proc.returncode == EXIT_REGRESSION, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    speed = _speed(doc)
    flagged = [name for name, r in speed.items() if r["verdict"] == "regression"]
    assert flagged == [f"micro/{IMPL}/get"]
    assert speed[f"micro/{IMPL}/get"]["slowdown"] > 1.0
    assert len(speed[f"micro/{IMPL}/get"]["paired_ratios"]) == 5
    assert not any("newloc" in name for name in speed)  # one side only: reported, not judged
    assert "abpkg.newloc:Local (only in the change, not judged)" in proc.stdout
    assert doc["environment"]["ab"]["base"] == git(repo, "rev-parse", "HEAD").strip()
    assert "A/B: change" in proc.stdout and "base: a Local" in proc.stdout
    assert "+ 1 uncommitted path(s)" in proc.stdout  # the change side is the working tree, edits included
    assert doc["environment"]["ab"]["uncommitted"] == ["abpkg/loc.py"]
    verdicts = {r["name"]: r["verdict"] for r in doc["gate"]["correctness"]}
    assert verdicts[f"probe/{IMPL}/threads/isolation"] == "ok"
    assert_nothing_left(repo, tmp_path / "tmp")


def test_same_code_on_both_sides_flags_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    out = tmp_path / "gate.json"
    proc = run_ab(repo, tmp_path / "tmp", "--against", "HEAD", "--impl", IMPL, *QUICK, "--json", str(out))
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    speed = _speed(json.loads(out.read_text()))
    assert len(speed) == 7
    assert [n for n, r in speed.items() if r["verdict"] == "regression"] == []
    assert_nothing_left(repo, tmp_path / "tmp")


def test_a_correctness_change_between_the_sides_fails(tmp_path: Path) -> None:
    leaky = "class Local:\n    '''One namespace shared by every thread: leaks.'''\n"
    repo = make_repo(tmp_path / "repo", source=leaky)
    (repo / "abpkg" / "loc.py").write_text(LOCAL_SOURCE)  # the change isolates
    marker = tmp_path / "hook-ran"
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    out = tmp_path / "gate.json"
    proc = run_ab(repo, tmp_path / "tmp", "--against", "HEAD", "--impl", IMPL, "--no-db", "--no-micro", "--load",
                  "threads", "--probe", "isolation", "--quiet", "--json", str(out))
    assert proc.returncode == EXIT_REGRESSION, proc.stdout + proc.stderr
    verdicts = {r["name"]: r for r in json.loads(out.read_text())["gate"]["correctness"]}
    cell = verdicts[f"probe/{IMPL}/threads/isolation"]
    assert cell["verdict"] == "fail" and cell["baseline"]["violations"] > 0 and cell["now"]["violations"] == 0
    assert not marker.exists()  # the base checkout runs none of the repository's hooks
    assert_nothing_left(repo, tmp_path / "tmp")


def test_ctrl_c_leaves_no_worktree_and_no_process(tmp_path: Path) -> None:
    import signal
    import time

    repo = make_repo(tmp_path / "repo")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "bench", "regress", "--repo", str(repo), "--against", "HEAD",
                             "--impl", IMPL, *QUICK], cwd=ROOT, env={**os.environ, "TMPDIR": str(tmp)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while worktrees(repo) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert worktrees(repo) == 2, "the base worktree never appeared"
        time.sleep(1.0)  # into the measurement
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != EXIT_OK
    assert_nothing_left(repo, tmp)
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # no process of the group is left


STRATEGY_SOURCE = '''\
import contextlib
import threading

N = 0


class PerThread:
    """One connection per worker thread, made on first use; checkouts run N empty loop iterations first."""

    def __init__(self, connect_kwargs, concurrency):
        self.kwargs = dict(connect_kwargs)
        self.local = threading.local()
        self.conns = []
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def checkout(self):
        for _ in range(N):
            pass
        conn = getattr(self.local, "conn", None)
        if conn is None:
            import pymysql

            conn = self.local.conn = pymysql.connect(**self.kwargs)
            with self.lock:
                self.conns.append(conn)
        yield conn

    def close(self):
        for conn in self.conns:
            conn.close()


def factory(connect_kwargs, concurrency):
    return PerThread(connect_kwargs, concurrency)
'''


def test_database_pairs_flag_a_slowed_user_factory(tmp_path: Path, mysql_server: Any) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "abpkg" / "strat.py").write_text(STRATEGY_SOURCE)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a strategy")
    (repo / "abpkg" / "strat.py").write_text(STRATEGY_SOURCE.replace("N = 0", "N = 100000"))  # ms per checkout
    t = mysql_server.target
    url = f"mysql://{t.user}:{t.password}@{t.host}:{t.port}/{t.database}"
    out = tmp_path / "gate.json"
    proc = run_ab(repo, tmp_path / "tmp", "--against", "HEAD", "--impl", IMPL, "--no-micro", "--load", "threads",
                  "--probe", "isolation", "--strategy", "abpkg.strat:factory", "--db-load", "threads",
                  "--concurrency", "2", "--db-duration", "0.2", "--db-warmup", "0.05", "--mysql-url", url, "--quiet",
                  "--json", str(out))
    assert proc.returncode == EXIT_REGRESSION, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    speed = _speed(doc)
    assert sorted(speed) == ["db/abpkg.strat:factory/threads/c2", "db/locked/threads/c2"]
    slowed = speed["db/abpkg.strat:factory/threads/c2"]
    assert slowed["verdict"] == "regression" and len(slowed["paired_ratios"]) == 5
    assert all(r < 1 for r in slowed["paired_ratios"])  # the change gives fewer ops/s in every pair
    assert speed["db/locked/threads/c2"]["verdict"] != "regression"  # the same code on both sides
    sides = [r["ab_side"] for r in doc["records"] if r.get("kind") == "db"]
    assert sides.count("base") == sides.count("change") == 10
    verdicts = {r["name"]: r["verdict"] for r in doc["gate"]["correctness"]}
    assert verdicts["db/abpkg.strat:factory/threads/c2"] == "ok"
    if t.password:
        assert t.password not in proc.stdout + proc.stderr + out.read_text()
    assert_nothing_left(repo, tmp_path / "tmp")


def _db_rec(strategy: str, ops: float, repeat: int, outcome: str = "ok") -> Record:
    return from_json({"kind": "db", "strategy": strategy, "load": "threads", "concurrency": 2, "outcome": outcome,
                      "ops_per_s": ops, "repeat": repeat, "machine_load_1m": 0.0, "wrong_results": 0, "errors": {}})


def test_database_pairs_decision_and_output_shapes(tmp_path: Path) -> None:
    from bench.gate.ab.dbpairs import db_ab_speed
    from bench.gate.charts import draw_gate
    from bench.gate.decision import GateOutcome, Thresholds

    thresholds = Thresholds({"micro": 0.1, "db": 0.2}, 0.05)
    change = [[_db_rec("s", 500.0 + i, i), _db_rec("locked", 1000.0, i)] for i in range(6)]
    base = [[_db_rec("s", 1000.0 - i, i), _db_rec("locked", 1000.0 + i, i)] for i in range(6)]
    change[5][0] = change[5][0].replace(outcome="error")  # a pair with a failed cell gives no sample
    results = {r.name: r for r in db_ab_speed({"change": change, "base": base}, thresholds, [])}
    slowed = results["db/s/threads/c2"]
    assert slowed.verdict == "regression" and len(slowed.paired) == 5 and slowed.slowdown > 0.4
    assert results["db/locked/threads/c2"].verdict == "ok"
    faster = db_ab_speed({"change": base, "base": change}, thresholds, [])
    assert {r.name: r.verdict for r in faster}["db/s/threads/c2"] == "improved"
    empty = db_ab_speed({"change": [[_db_rec("s", 1.0, 0, "error")]], "base": [[_db_rec("s", 1.0, 0)]]},
                        thresholds, [])
    assert [r.verdict for r in empty] == ["undecidable"]
    outcome = GateOutcome(speed=[*results.values(), *empty])
    assert all(json.dumps(r.to_json()) for r in outcome.speed)  # serialisable with no pair at all
    assert draw_gate(outcome) is not None
