"""``ctxbench run``: one directory per run, a file per finished cell, resume, charts from records only."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.records.environment import PROJECT_ROOT

LOCALS_ONLY = ["--no-db", "--no-micro", "--quiet", "--load", "threads,asyncio"]


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _only_run(root: Path) -> Path:
    (run,) = [p for p in root.iterdir() if p.is_dir()]
    return run


def test_run_writes_a_cell_file_per_cell_and_a_report(tmp_path: Path) -> None:
    proc = _cli("run", "--out", str(tmp_path), "--impl", "fast,threading-local", *LOCALS_ONLY)
    assert proc.returncode == 0, proc.stderr
    run = _only_run(tmp_path)
    plan = json.loads((run / "run.json").read_text())
    ids = [c["id"] for c in plan["cells"]]
    assert sorted(p.stem for p in (run / "cells").glob("*.json")) == sorted(ids)
    env = json.loads((run / "environment.json").read_text())
    assert env["schema"] == 1 and env["load_average_start"] is not None and "load_average_end" in env and env["commit"]
    assert (run / "report.html").exists() and (run / "REPORT.md").exists()
    assert (run / "charts" / "isolation.png").exists()
    # The run ends with the answer: the table in the terminal, answer.json beside the report.
    answer = json.loads((run / "answer.json").read_text())
    assert [row["shape"] for row in answer["rows"]] == ["threads", "asyncio"]
    assert "What to use" in proc.stdout and "threads (in-process)" in proc.stdout
    assert proc.stdout.rstrip().endswith(f"answer: {run / 'answer.json'}")


def test_interrupted_run_keeps_finished_cells_and_resume_runs_only_the_missing(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "bench", "run", "--out", str(tmp_path), "--jobs", "1", *LOCALS_ONLY,
            "--impl", "threading-local,dict-by-ident,greenlet-keyed,contextvar,fast", "--load", "gevent,greenlet"]
    proc = subprocess.Popen(args, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    cells_dir = None
    while time.monotonic() < deadline:
        runs = [p for p in tmp_path.iterdir() if p.is_dir()] if tmp_path.exists() else []
        if runs and len(list((runs[0] / "cells").glob("*.json"))) >= 2:
            cells_dir = runs[0] / "cells"
            break
        time.sleep(0.05)
    assert cells_dir is not None, "no cell finished in time"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    kept = {p.stem: p.read_text() for p in cells_dir.glob("*.json")}
    total = len(json.loads((cells_dir.parent / "run.json").read_text())["cells"])
    assert 2 <= len(kept) < total
    for text in kept.values():
        json.loads(text)  # every kept file is whole

    resumed = _cli("run", "--out", str(tmp_path), "--resume", cells_dir.parent.name, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(kept)} of {total} cells already finished, {total - len(kept)} to run" in resumed.stderr
    assert len(list(cells_dir.glob("*.json"))) == total
    for name, text in kept.items():  # finished cells were not rerun
        assert (cells_dir / f"{name}.json").read_text() == text


def test_charts_regenerate_from_records_only_and_skip_a_broken_file(tmp_path: Path) -> None:
    assert _cli("run", "--out", str(tmp_path), "--impl", "fast,dict-by-ident", *LOCALS_ONLY).returncode == 0
    run = _only_run(tmp_path)
    for png in (run / "charts").glob("*"):
        png.unlink()
    broken = next((run / "cells").glob("probes--dict-by-ident*.json"))
    broken.write_text(broken.read_text()[:40])  # truncated
    env = {"CTXBENCH_MYSQL_URL": "mysql://root:x@127.0.0.1:1/test"}  # no server is needed, or asked
    proc = subprocess.run([sys.executable, "-m", "bench", "charts", "--results", str(run)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120, env={**__import__("os").environ, **env})
    assert proc.returncode == 0, proc.stderr
    assert broken.name in proc.stderr and "truncated" in proc.stderr
    assert (run / "charts" / "isolation.png").exists() and (run / "charts" / "isolation.svg").exists()


def test_resume_of_an_unknown_run_is_one_line(tmp_path: Path) -> None:
    proc = _cli("run", "--out", str(tmp_path), "--resume", "nope")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("ctxbench: error: no run 'nope'")


