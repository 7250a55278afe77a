"""Faults, bad input and secrets -- the fast half (the slow half is tests/faults/, ``tox -e faults``).

Here: how a fault cell's timeline is judged (recovery, time to first error, memory
growth), the bad inputs no other test file covers (each one line, exit 2, no
traceback unless ``--debug``, nothing measured lost), a pool that blocks forever
inside ``ctxbench run``, Ctrl-C while the charts are drawn, and a full
``ctxbench run`` whose every output is searched for a distinctive password.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import bench.server as mysql
from bench import faults
from bench.errors import UsageError
from bench.records.environment import PROJECT_ROOT
from bench.records.io import SCHEMA_VERSION, atomic_write_json
from bench.records.schema import records_from_json, records_to_json
from bench.server.install import server_command
from tests import accounts, fault_helpers

#: Distinctive, with characters a URL must percent-encode, so that its encoded form is searched for too.
SECRET = accounts.SECRET


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ctxbench: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


# --- judging a fault cell's timeline ------------------------------------------------------------------


def _timeline(ok: dict[float, int], errors: dict[float, int], window: tuple[float, float]) -> dict[str, Any]:
    """A timeline as dbwork.timeline writes it, from {seconds: count} (10 ms buckets)."""
    b = 0.01
    err_times = [t for t, n in errors.items() if n]
    return {"bucket_s": b, "window": list(window), "ok": sorted((round(t / b), n) for t, n in ok.items()),
            "errors": sorted((round(t / b), n) for t, n in errors.items()),
            "first_error_at": min(err_times) if err_times else None,
            "last_error_at": max(err_times) if err_times else None}


def test_recovery_of_a_strategy_that_comes_back() -> None:
    ok = {100.0 + i / 10: 50 for i in range(10)}  # 500/s for the second before the fault at 101.0
    ok |= {102.5 + i / 10: 45 for i in range(25)}  # back from 102.5 to the end at 105.0
    errors = {101.002: 8, 101.5: 3, 102.4: 2}  # the server is back at 102.3: one more error after it
    got = faults.recovery(_timeline(ok, errors, (100.0, 105.0)), fault_at=101.0, back_at=102.3)
    assert got["time_to_first_error_s"] == pytest.approx(0.002, abs=1e-6)
    assert got["errors_before_fault"] == 0
    assert got["errors_during_outage"] == 11 and got["errors_after_restart"] == 2
    assert got["recovered"] is True
    assert got["recovery_s"] == pytest.approx(0.2, abs=0.011)  # the first right reply after the last error
    assert got["ops_per_s_before"] == pytest.approx(500.0)
    assert got["throughput_after_ratio"] == pytest.approx(0.9, abs=0.01)


def test_recovery_of_a_strategy_that_never_comes_back() -> None:
    ok = {100.0 + i / 10: 50 for i in range(10)}
    errors = {101.0 + i / 100: 30 for i in range(400)}  # errors to the end of the window
    got = faults.recovery(_timeline(ok, errors, (100.0, 105.0)), fault_at=101.0, back_at=102.0)
    assert got["recovered"] is False and got["recovery_s"] is None
    assert got["first_ok_after_restart_s"] is None and got["ops_per_s_after"] == 0.0
    never = faults.recovery(_timeline(ok, errors, (100.0, 105.0)), fault_at=101.0, back_at=None)
    assert never["recovered"] is False and never["errors_after_restart"] is None


def test_errors_before_the_fault_are_not_its_doing() -> None:
    ok = {100.0 + i / 10: 50 for i in range(50)}
    got = faults.recovery(_timeline(ok, {100.5: 1, 101.2: 4}, (100.0, 105.0)), fault_at=101.0, back_at=101.5)
    assert got["errors_before_fault"] == 1
    assert got["time_to_first_error_s"] == pytest.approx(0.2, abs=0.011)


def test_rss_summary_holds_growth_to_the_bound() -> None:
    mib = 1024 * 1024
    # 6 s of ramp-up, then flat +-1 MiB
    ramp = [(100.0 + i / 2, (200 + min(i, 12) * 10) * mib + (i % 3) * mib) for i in range(130)]
    got = faults.rss_summary(ramp, (102.0, 162.0), peak_bound=400.0)
    assert got["within_bound"] is True and abs(got["growth_mib"]) <= 2 and got["settle_s"] == 6.0
    leaking = [(t, rss + int((t - 100.0) * mib)) for t, rss in ramp]  # 1 MiB per second
    bad = faults.rss_summary(leaking, (102.0, 162.0))
    assert bad["within_bound"] is False and bad["growth_mib"] > faults.SOAK_RSS_GROWTH_MIB
    # flat, but over the peak bound
    assert faults.rss_summary(ramp, (102.0, 162.0), peak_bound=300.0)["within_bound"] is False
    # Connections still opening 8 s into the window (+8 MiB/s), then flat: counted from the end of the ramp.
    slow = [(100.0 + i / 2, (200 + min(i, 36) * 4) * mib) for i in range(130)]
    got = faults.rss_summary(slow, (102.0, 162.0))
    assert got["within_bound"] is True and got["growth_mib"] == 0 and got["settle_s"] == 16.0 and "note" not in got
    # A leak of 0.5 MiB/s settles by the ramp rule (under 1 MiB/s) and is still caught by the growth bound.
    slow_leak = [(t, rss + int(max(0.0, t - 100.0) * mib / 2)) for t, rss in ramp]
    assert faults.rss_summary(slow_leak, (102.0, 162.0))["within_bound"] is False
    # A ramp that never ends (8 MiB/s throughout) is a failure with a note, not a late settle point.
    endless = [(100.0 + i / 2, (200 + i * 4) * mib) for i in range(130)]
    never = faults.rss_summary(endless, (102.0, 162.0))
    assert never["within_bound"] is False and "still growing" in never["note"]


def test_peak_bound_counts_the_preallocated_stamps() -> None:
    # 62 s x 160,000 stamps of 3 doubles per second: 227 MiB, the same for any concurrency.
    assert faults.peak_bound_mib(60.0, 2.0, 64) == pytest.approx(227.1 + 64 + faults.SOAK_BASE_MIB, abs=0.5)


def test_findings_name_every_broken_promise() -> None:
    base = {"kind": "fault", "strategy": "pooled", "load": "threads", "concurrency": 40, "problem": None,
            "error_count": 0, "wrong_results": 0}
    lines = faults.findings(records_from_json([
        {**base, "scenario": "max-connections", "leaked_connections": 2, "crashed": False, "open_after_close": 0},
        {**base, "scenario": "max-connections", "leaked_connections": 0, "crashed": True, "open_after_close": 3},
        {**base, "scenario": "soak", "leaked_connections": 0, "within_bound": False,
         "rss_mib": {"growth_mib": 80.0, "bound_growth_mib": 16.0, "peak_mib": 500.0, "bound_peak_mib": 600.0}},
        {**base, "scenario": "hang", "leaked_connections": 0, "outcome": "errors", "cell_processes_left": [123]},
    ]))  # type: ignore[arg-type]
    text = "\n".join(lines)
    assert "still held 2 connection(s)" in text and "crashed" in text and "left 3 connection(s) open" in text
    assert "grew 80.0 MiB" in text and "cell processes left [123]" in text


# --- a server ctxbench did not start is never killed -------------------------------------------------


def test_only_a_private_server_can_be_killed_or_restarted() -> None:
    handle = mysql.ServerHandle(mysql.ServerTarget("127.0.0.1", 3306, "root", "", "test", "local-default"),
                                "local default")
    for action in (handle.kill, handle.terminate, handle.restart):
        with pytest.raises(UsageError, match="did not start"):
            action()
    assert handle.running is False


def test_private_server_and_compose_listen_on_loopback_only() -> None:
    command = server_command("/usr/sbin/mariadbd", "mariadb", "10.11", Path("/tmp/x"), 4000)
    assert "--bind-address=127.0.0.1" in command
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    ports = [port for service in compose["services"].values() for port in service.get("ports", [])]
    assert ports and all(str(port).startswith("127.0.0.1:") for port in ports), ports


# --- bad input that no other test file covers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["faults", "--scenario", "nope"], "unknown fault scenario 'nope'"),
        (["faults", "--duration", "2"], "--duration must be at least"),
        (["faults", "--strategy", "nosuch"], "unknown strategy 'nosuch'"),
        (["faults", "--max-connections", "1"], "--max-connections"),
        (["faults", "--partition", "0"], "--partition"),
        (["faults", "--scenario", "partition", "--link-down", "nosuch"], "unknown strategy 'nosuch'"),
        (["run", "--hang-after", "0"], "--hang-after"),
        (["db", "--hang-after", "-1"], "--hang-after"),
        (["run", "--concurrency", "1000000", "--no-locals"], "--concurrency"),
    ],
)
def test_nonsense_is_one_line(args: list[str], words: str) -> None:
    assert words in _one_error_line(_cli(*args))


def test_run_into_an_unwritable_directory_fails_before_measuring(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = _one_error_line(_cli("run", "--out", str(blocker / "sub"), "--no-db", "--no-micro", "--impl", "fast",
                                "--load", "threads"))
    assert "cannot write results" in line and "file/sub" in line
    assert blocker.read_text() == "x"


def test_debug_shows_the_traceback_and_keeps_the_exit_status() -> None:
    plain = _cli("db", "--quiet", "--strategy", "nosuch")
    assert "unknown strategy" in _one_error_line(plain)
    debug = _cli("--debug", "db", "--quiet", "--strategy", "nosuch")
    assert debug.returncode == 2
    assert "Traceback (most recent call last)" in debug.stderr and "UsageError" in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1].startswith("ctxbench: error: unknown strategy")


def test_a_bad_server_url_stops_run_before_anything_is_measured(tmp_path: Path) -> None:
    proc = _cli("run", "--out", str(tmp_path), "--no-micro", "--impl", "fast", "--load", "threads",
                "--mysql-url", f"mysql://root:{urllib.parse.quote(SECRET, safe='')}@127.0.0.1:1/test")
    assert "connection refused" in _one_error_line(proc)
    assert list(tmp_path.iterdir()) == []  # no run directory: nothing was started
    assert (SECRET not in proc.stdout + proc.stderr
            and urllib.parse.quote(SECRET, safe="") not in proc.stdout + proc.stderr)
    env = {**os.environ, "CTXBENCH_MYSQL_URL": "postgres://x@127.0.0.1/test"}
    assert "CTXBENCH_MYSQL_URL: unsupported scheme" in _one_error_line(
        _cli("run", "--out", str(tmp_path), "--no-locals", env=env))


def _hand_made_run(root: Path) -> Path:
    """A run directory of hand-built database records, in two cells (no measuring needed)."""
    from tests.test_charts import db_records

    run = root / "run"
    records = records_to_json(db_records())
    atomic_write_json(run / "environment.json", {"schema": SCHEMA_VERSION, "python": {"version": "3.11"}})
    atomic_write_json(run / "cells" / "a.json",
                      {"schema": SCHEMA_VERSION, "cell": "a", "records": records[: len(records) // 2]})
    atomic_write_json(run / "cells" / "b.json",
                      {"schema": SCHEMA_VERSION, "cell": "b", "records": records[len(records) // 2 :]})
    return run


def test_report_names_a_corrupt_record_and_draws_the_rest(tmp_path: Path) -> None:
    run = _hand_made_run(tmp_path)
    cell = run / "cells" / "b.json"
    cell.write_text(cell.read_text()[:200])  # truncated
    good = (run / "cells" / "a.json").read_text()
    proc = _cli("report", "--results", str(run))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"ctxbench: warning: .*b\.json: truncated JSON", proc.stderr), proc.stderr
    assert (run / "report.html").exists() and (run / "REPORT.md").exists()
    assert (run / "cells" / "a.json").read_text() == good  # nothing measured is touched


def test_report_of_nothing_readable_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "results.json"
    broken.write_text('{"schema": 1, "environment": {}, "records": [{"kind": "db", ')
    line = _one_error_line(_cli("report", "--results", str(broken)))
    assert "no readable records" in line and "truncated" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_resume_of_a_run_whose_plan_is_corrupt_is_one_line(tmp_path: Path) -> None:
    run = tmp_path / "r1"
    (run / "cells").mkdir(parents=True)
    (run / "run.json").write_text('{"schema": 1, "cells": [')
    line = _one_error_line(_cli("run", "--out", str(tmp_path), "--resume", "r1"))
    assert "run.json" in line and "truncated" in line


# --- a pool that blocks forever, inside ``ctxbench run`` ----------------------------------------------


def _url(target: Any, user: str | None = None, password: str | None = None) -> str:
    quote = urllib.parse.quote
    return (f"mysql://{quote(user or target.user, safe='')}:"
            f"{quote(target.password if password is None else password, safe='')}"
            f"@{target.host}:{target.port}/{target.database}")


@pytest.mark.db
def test_a_pool_that_blocks_forever_is_ended_as_hung_and_the_run_goes_on(mysql_server: Any, tmp_path: Path) -> None:
    env = {**os.environ, "CTXBENCH_MYSQL_URL": _url(mysql_server.target)}
    watched = fault_helpers.start(
        ["run", "--out", str(tmp_path), "--no-locals",
         "--strategy", "tests.fault_strategies:blocks_forever,pooled-tuned",
         "--db-load", "threads,gevent", "--concurrency", "2", "--duration", "0.3", "--warmup", "0.1",
         "--hang-after", "1", "--request-impl", "none", "--no-stack", "--quiet"], env=env)
    assert watched.finish(timeout=240) == 0, watched.stderr
    cells = fault_helpers.read_cells(fault_helpers.only_run(tmp_path))
    for load in ("threads", "gevent"):
        (hung,) = cells[f"db--tests.fault_strategies_blocks_forever--{load}--c2"]["records"]
        assert hung["outcome"] == "hung" and hung["hang_after_s"] == 1.0 and hung["unfinished_workers"] == 2, hung
        assert hung["cell_wall_s"] < 15  # the cell's own watchdog, not the parent's limit (which is 31.4 s)
        (after,) = cells[f"db--pooled-tuned--{load}--c2"]["records"]
        assert after["outcome"] == "ok" and after["ops"] > 0  # the run went on
    assert [s for s in watched.seen.values() if s.is_cell], "no cell process was seen"
    assert watched.left_alive() == []


# --- Ctrl-C while the charts are drawn ----------------------------------------------------------------


def test_interrupt_while_drawing_charts_keeps_every_cell_and_resume_draws_them(tmp_path: Path) -> None:
    """Deterministic enough: the signal goes the moment ``run`` says it starts drawing, and drawing takes seconds."""
    watched = fault_helpers.start(["run", "--out", str(tmp_path), "--no-db", "--no-micro", "--impl", "fast,contextvar",
                                   "--load", "threads", "--quiet"])
    assert watched.wait_for_line("drawing charts and writing the report"), watched.stderr
    watched.signal(signal.SIGINT, group=True)
    assert watched.finish(timeout=60) == 130, watched.stderr
    assert "Traceback" not in watched.stderr and "--resume" in watched.stderr
    run = fault_helpers.only_run(tmp_path)
    kept = {name: json.dumps(doc) for name, doc in fault_helpers.read_cells(run).items()}  # every cell file whole
    assert len(kept) == 2
    resumed = _cli("run", "--out", str(tmp_path), "--resume", run.name, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert "2 of 2 cells already finished, 0 to run" in resumed.stderr
    assert (run / "report.html").exists() and (run / "charts" / "isolation.svg").exists()
    assert {name: json.dumps(doc) for name, doc in fault_helpers.read_cells(run).items()} == kept


# --- a password never leaves ---------------------------------------------------------------------------


@pytest.fixture
def secret_account(mysql_server: Any) -> Iterator[Any]:
    """The session's server as an account with a distinctive password (:mod:`tests.accounts`)."""
    with accounts.secret_account(mysql_server.target) as target:
        yield target


@pytest.mark.db
def test_a_password_never_appears_in_any_output(secret_account: Any, tmp_path: Path) -> None:
    env = {**os.environ, "CTXBENCH_MYSQL_URL": _url(secret_account), "COLUMNS": "200"}
    forms = accounts.SECRET_FORMS
    watched = fault_helpers.start(["run", "--quick", "--out", str(tmp_path / "results"), "--no-micro", "--impl", "fast",
                                   "--load", "threads", "--strategy", "pooled-tuned,global", "--db-load", "threads"],
                                  env=env)
    command_lines: list[str] = []
    while watched.proc.poll() is None:  # nor on a command line, where ps would show it
        command_lines += [s.cmdline for s in watched.poll_children()]
        time.sleep(0.05)
    assert watched.finish() == 0, watched.stderr
    run = fault_helpers.only_run(tmp_path / "results")
    cells = fault_helpers.read_cells(run)
    db = [r for doc in cells.values() for r in doc["records"] if r["kind"] in ("db", "request")]
    assert db and all(r["server_url"].startswith("mysql://ctxbench_secret:***@") for r in db)  # the account was used
    assert all(r["outcome"] in ("ok", "errors") for r in db)
    files = [p for p in run.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".json", ".svg", ".png", ".html", ".md"}
    outputs = {"stdout": watched.stdout.encode(), "stderr": watched.stderr.encode(),
               "command lines": "\n".join(command_lines).encode()}
    outputs |= {str(p): p.read_bytes() for p in files}
    for where, data in outputs.items():
        for form in forms:
            assert form.encode() not in data, f"the password ({form!r}) is in {where}"
