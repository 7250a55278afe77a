"""``ctxbench db`` from the outside: bad input, secrets, and a small real run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from bench.records.environment import PROJECT_ROOT

SECRET = "Zq7-distinctive-Pa55word"


def _cli(*args: str, timeout: float = 180) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bench", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout)
    return proc, time.monotonic() - started


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ctxbench: error:")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"mysql://root:{SECRET}@127.0.0.1:1/test", "connection refused"),
        (f"mysql://root:{SECRET}@no-such-host.invalid:3306/test", "unknown host"),
        (f"postgres://root:{SECRET}@127.0.0.1/test", "scheme"),
        (f"mysql://root:{SECRET}@127.0.0.1:notaport/test", "port"),
    ],
)
def test_bad_server_urls_fail_fast_in_one_line_without_the_password(url: str, expected: str) -> None:
    proc, elapsed = _cli("db", "--quiet", "--mysql-url", url)
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert expected in line
    assert SECRET not in proc.stdout + proc.stderr
    assert elapsed < 10


@pytest.mark.db
def test_wrong_password_and_unknown_database(mysql_server: Any) -> None:
    t = mysql_server.target
    proc, elapsed = _cli("db", "--quiet", "--mysql-url", f"mysql://{t.user}:{SECRET}@{t.host}:{t.port}/{t.database}")
    assert proc.returncode == 2 and "access denied" in _one_error_line(proc) and elapsed < 10
    assert SECRET not in proc.stdout + proc.stderr
    url = f"mysql://{t.user}:{t.password}@{t.host}:{t.port}/ctxbench_no_such_db"
    proc, elapsed = _cli("db", "--quiet", "--mysql-url", url)
    assert proc.returncode == 2 and "unknown database" in _one_error_line(proc) and elapsed < 10


@pytest.mark.parametrize(
    "args",
    [["--concurrency", "0"], ["--concurrency", "-1"], ["--concurrency", "1000000"], ["--duration", "0"],
     ["--strategy", "nosuch"], ["--db-load", "greenlet"], ["--request-impl", "nosuch"],
     ["--db-load", "asyncio", "--strategy", "pooled"], ["--db-load", "threads", "--strategy", "aiomysql-pool"]],
)
def test_nonsense_selection_is_one_line_exit_2(args: list[str]) -> None:
    proc, _ = _cli("db", "--quiet", *args)
    assert proc.returncode == 2
    _one_error_line(proc)


@pytest.mark.db
def test_small_real_run_writes_complete_records(mysql_server: Any, tmp_path: Any) -> None:
    t = mysql_server.target
    out = tmp_path / "db.json"
    proc, _ = _cli(
        "db", "--quiet", "--mysql-url", f"mysql://{t.user}:{t.password}@{t.host}:{t.port}/{t.database}",
        "--strategy", "global,pooled-tuned", "--concurrency", "8", "--duration", "0.5", "--warmup", "0.2",
        "--request-impl", "fast", "--request-strategy", "pooled-tuned", "--db-load", "threads", "--json", str(out),
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["environment"]["server"]["version"]
    db = {r["strategy"]: r for r in doc["records"] if r["kind"] == "db"}
    for rec in db.values():
        for key in ("strategy", "load", "concurrency", "ops", "errors", "wrong_results", "ops_per_s", "latency_ms",
                    "server_ceiling_ops_per_s", "outcome"):
            assert key in rec
        assert set(rec["latency_ms"]) >= {"p50", "p90", "p99", "max"}
    assert db["pooled-tuned"]["outcome"] == "ok" and db["pooled-tuned"]["wrong_results"] == 0
    assert db["global"]["outcome"] == "errors"
    (req,) = [r for r in doc["records"] if r["kind"] == "request"]
    assert req["impl"] == "fast" and req["local_violations"] == 0 and req["wrong_results"] == 0
    if t.password:
        assert t.password not in out.read_text() + proc.stdout + proc.stderr
