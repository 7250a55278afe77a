"""``ctxbench locust`` against a real server on loopback: the merged record, Locust's own counts, a reply-swapping
strategy, a worker killed mid-run, bad input.  Short runs; only counts are compared, never times."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

pytest.importorskip("locust")

from bench.locustload.launch import LOCUST_FILES, full_url
from bench.locustload.tally import SILENT_WRONG_NAME
from bench.records import latency
from bench.records.environment import PROJECT_ROOT
from bench.webstack.launch import free_port
from tests import accounts

pytestmark = [pytest.mark.db, pytest.mark.slow]


@pytest.fixture(scope="module")
def url(request: pytest.FixtureRequest) -> str:
    return full_url(request.getfixturevalue("mysql_server").target)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CTXBENCH_MYSQL_URL"}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    return env


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout, env=_env())


def _descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE}


@pytest.fixture()
def no_strays() -> Iterator[None]:
    before = _descendants()
    yield
    deadline = time.monotonic() + 10
    while _descendants() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _descendants() - before == set()


def _run_dir(out: Path) -> Path:
    dirs = [p for p in out.iterdir() if (p / "run.json").exists()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def _record(run_dir: Path) -> dict[str, Any]:
    cells = sorted((run_dir / "cells").glob("*.json"))
    assert len(cells) == 1
    return json.loads(cells[0].read_text())["records"][0]  # type: ignore[no-any-return]


def _locust_stats(run_dir: Path) -> list[dict[str, Any]]:
    return json.loads((run_dir / LOCUST_FILES / "stats.json").read_text())  # type: ignore[no-any-return]


def _local(url: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _cli("locust", "--processes", "2", "--users", "6", "--duration", "2", "--warmup", "0.5",
                "--mysql-url", url, "--out", str(out), *extra)


def test_two_workers_merge_into_one_record_that_locust_agrees_with(url: str, tmp_path: Path, no_strays: None) -> None:
    proc = _local(url, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run_dir = _run_dir(tmp_path)
    rec = _record(run_dir)
    workers = rec["locust_workers"]
    assert rec["kind"] == "db" and rec["load"] == "locust" and rec["processes"] == 2 and not rec["partial"]
    assert rec["concurrency"] == 3 and rec["total_concurrency"] == rec["users"] == 6
    assert len({w["pid"] for w in workers}) == 2 and sum(w["users"] for w in workers) == rec["users"] == 6
    for key in ("requests", "ok"):
        assert rec[key] == sum(w[key] for w in workers) > 0
    errors = sum(sum(w["errors"].values()) for w in workers)
    wrong = sum(sum(w["wrong"].values()) for w in workers)
    assert rec["error_count"] == errors and rec["wrong_results"] == wrong
    assert rec["requests"] == rec["ok"] + errors + wrong
    assert rec[latency.FIELD]["count"] == rec["ok"] == rec["ops"]
    # Locust's own statistics of the measured request type count exactly the operations of the window.
    measured = [e for e in _locust_stats(run_dir) if e["method"] == "mysql"]
    assert sum(e["num_requests"] for e in measured) == rec["requests"]
    assert sum(e["num_failures"] for e in measured) == errors + wrong
    report = _cli("report", "--results", str(run_dir))
    assert report.returncode == 0, report.stderr
    assert "locust" in (run_dir / "REPORT.md").read_text()


def test_swapped_replies_are_locust_failures_of_their_own_name(url: str, tmp_path: Path, no_strays: None) -> None:
    proc = _local(url, tmp_path, "--strategy", "tests.broken_strategies:SwapsReplies")
    assert proc.returncode == 0, proc.stderr[-2000:]
    run_dir = _run_dir(tmp_path)
    rec = _record(run_dir)
    assert rec["silent_wrong"] > 0 and rec["outcome"] == "errors"
    swapped = [e for e in _locust_stats(run_dir) if e["method"] == "mysql" and e["name"] == SILENT_WRONG_NAME]
    assert len(swapped) == 1
    assert swapped[0]["num_failures"] == swapped[0]["num_requests"] == rec["silent_wrong"]
    assert SILENT_WRONG_NAME in (run_dir / LOCUST_FILES / "locust_failures.csv").read_text()


def _wait_for(path: Path, text: str, bound: float) -> None:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {path} within {bound}s: {path.read_text(errors='replace')[-1500:]}")


def test_a_worker_killed_mid_run_gives_a_partial_record(url: str, tmp_path: Path, no_strays: None) -> None:
    port = str(free_port())
    log_path = tmp_path / "master.log"
    with open(log_path, "wb") as log_file:
        master = subprocess.Popen([sys.executable, "-m", "bench", "locust", "master", "--expect-workers", "2",
                                   "--users", "4", "--duration", "5", "--warmup", "0.5", "--report-grace", "3",
                                   "--port", port, "--mysql-url", url, "--out", str(tmp_path / "out")],
                                  cwd=PROJECT_ROOT, env=_env(), stdout=log_file, stderr=subprocess.STDOUT)
        workers = [subprocess.Popen([sys.executable, "-m", "bench", "locust", "worker", "--master-host", "127.0.0.1",
                                     "--master-port", port, "--mysql-url", url], cwd=PROJECT_ROOT, env=_env(),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
        try:
            _wait_for(log_path, "All users spawned", 90)
            time.sleep(1.0)
            victim = psutil.Process(workers[1].pid).children()[0]  # the Locust worker process itself
            victim.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            assert master.wait(timeout=90) == 1  # a partial record: exit status 1
            assert time.monotonic() - killed_at < 60
            for proc in workers:
                proc.wait(timeout=30)
        finally:
            for proc in (master, *workers):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    rec = _record(_run_dir(tmp_path / "out"))
    assert rec["partial"] is True and rec["reported_processes"] == 1 and rec["locust_processes"] == 2
    assert len(rec["missing_workers"]) == 1
    assert rec["missing_workers"][0] not in {w["id"] for w in rec["locust_workers"]}
    assert rec["ok"] > 0
    assert "partial" in log_path.read_text()


def test_bad_input_is_one_line_and_exit_2(url: str, tmp_path: Path) -> None:
    for args in (["--strategy", "no-such-strategy"], ["--users", "0"], ["--users", "1"],
                 ["--duration", "-1"]):
        proc = _cli("locust", "--processes", "2", "--mysql-url", url, "--out", str(tmp_path), *args)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("ctxbench: error:"), (args, lines)
    proc = _cli("locust", "master", "--expect-workers", "1", "--scenario", "stack", "--out", str(tmp_path))
    assert proc.returncode == 2 and "--host" in proc.stderr
    assert not list(tmp_path.iterdir())  # nothing started, nothing written


def test_a_worker_without_a_master_gives_up_within_its_bound(url: str) -> None:
    started = time.monotonic()
    proc = _cli("locust", "worker", "--master-host", "127.0.0.1", "--master-port", str(free_port()),
                "--connect-timeout", "1", "--mysql-url", url, timeout=60)
    assert proc.returncode == 1 and "no Locust master answered" in proc.stderr
    assert time.monotonic() - started < 30


def test_no_password_in_output_records_or_locust_files(mysql_server: Any, tmp_path: Path, no_strays: None) -> None:
    with accounts.secret_account(mysql_server.target) as target:
        url = full_url(target)
        proc = _local(url, tmp_path / "ok")
        assert proc.returncode == 0, proc.stderr[-2000:]
        rec = _record(_run_dir(tmp_path / "ok"))
        assert rec["server_url"].startswith(f"mysql://{accounts.SECRET_USER}:***@")  # the account was used
        texts = [proc.stdout, proc.stderr]
        texts += [p.read_text(errors="replace") for p in (tmp_path / "ok").rglob("*") if p.is_file()]
        assert all(form not in text for text in texts for form in accounts.SECRET_FORMS)
        wrong = full_url(dataclasses.replace(target, password="not-the-password-x9"))
        bad = _cli("locust", "--processes", "2", "--mysql-url", wrong, "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "not-the-password-x9" not in bad.stdout + bad.stderr
    assert "denied" in bad.stderr.lower()


def test_stack_scenario_counts_another_requests_row_as_its_own_failure(url: str, tmp_path: Path,
                                                                        no_strays: None) -> None:
    # gevent-pywsgi with one shared connection: replies carry another request's row (README, The real stack).
    proc = _cli("locust", "--processes", "2", "--users", "6", "--duration", "1.5", "--warmup", "0.5",
                "--scenario", "stack", "--strategy", "global", "--app-server", "gevent-pywsgi", "--mysql-url", url,
                "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    run_dir = _run_dir(tmp_path)
    rec = _record(run_dir)
    assert rec["kind"] == "stack" and rec["load"] == "locust" and rec["server"] == "gevent-pywsgi"
    measured = [e for e in _locust_stats(run_dir) if e["method"] == "GET"]
    assert sum(e["num_requests"] for e in measured) == rec["requests"] > 0
    swapped = sum(e["num_failures"] for e in measured if e["name"] == SILENT_WRONG_NAME)
    assert swapped == rec["silent_wrong"] > 0


def test_a_master_without_a_server_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {**_env(), "CTXBENCH_MYSQL_SKIP_LOCAL": "1"}
    proc = subprocess.run([sys.executable, "-m", "bench", "locust", "master", "--expect-workers", "1", "--out",
                           str(tmp_path)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ctxbench: error: no MySQL-protocol server"), proc.stderr
    assert not list(tmp_path.iterdir())


def test_a_strategy_that_cannot_be_built_is_named_in_the_record(url: str, tmp_path: Path, no_strays: None) -> None:
    proc = _local(url, tmp_path, "--strategy", "tests.broken_strategies:not_a_strategy")
    assert proc.returncode == 1, proc.stderr[-2000:]
    rec = _record(_run_dir(tmp_path))
    assert rec["outcome"] == "error" and rec["requests"] == 0
    assert "lacks checkout()/close()" in rec["reason"]
    assert len(rec["worker_problems"]) == 2


def test_sigterm_mid_run_keeps_what_was_measured(url: str, tmp_path: Path, no_strays: None) -> None:
    log_path = tmp_path / "out.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "bench", "locust", "--processes", "2", "--users", "4",
                                 "--duration", "20", "--warmup", "0.5", "--mysql-url", url, "--out",
                                 str(tmp_path / "out")], cwd=PROJECT_ROOT, env=_env(), stdout=log_file,
                                stderr=subprocess.STDOUT)
        try:
            _wait_for(log_path, "All users spawned", 90)
            time.sleep(2.0)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 130
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    rec = _record(_run_dir(tmp_path / "out"))
    assert rec["truncated"] is True and 0 < rec["measured_s"] < 20
    assert rec["reported_processes"] == 2 and not rec["partial"] and rec["ok"] > 0
