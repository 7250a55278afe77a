"""Ctrl-C and SIGTERM during a database cell of ``ctxbench run``, and the server dying under it.

``ctxbench run`` is made to start its own server (no URL, 127.0.0.1:3306
skipped).  Afterwards no process it started may remain -- the server, its
installer, ``mysqlslap``, the cell -- the server's folder is gone, every cell file
is whole JSON, and ``--resume`` finishes the run without rerunning what was kept.
"""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests import fault_helpers

DB_ONLY = ["--no-locals", "--strategy", "pooled-tuned,locked,per-request", "--db-load", "threads", "--concurrency", "4",
           "--warmup", "0.2", "--request-impl", "none", "--repeats", "1", "--quiet"]


def _server_folders(watched: fault_helpers.Watched) -> list[Path]:
    folders = []
    for seen in watched.seen.values():
        match = re.search(r"--datadir=(\S+)/data\b", seen.cmdline)
        if seen.is_server and match:
            folders.append(Path(match.group(1)))
    return folders


def _resume(root: Path, run: Path, kept: dict[str, str], total: int) -> fault_helpers.Watched:
    resumed = fault_helpers.start(["run", "--out", str(root), "--resume", run.name, "--quiet"],
                                  env=fault_helpers.private_server_env())
    assert resumed.finish(timeout=300) == 0, resumed.stderr
    assert f"{len(kept)} of {total} cells already finished, {total - len(kept)} to run" in resumed.stderr
    cells = fault_helpers.read_cells(run)
    assert len(cells) == total
    for name, text in kept.items():  # finished cells were not rerun
        assert json.dumps(cells[name]) == text
    assert (run / "report.html").exists()
    assert resumed.left_alive() == []
    return resumed


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("signum", "group"), [(signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["ctrl-c", "sigterm"])
def test_interrupt_during_a_db_cell(tmp_path: Path, signum: int, group: bool) -> None:
    watched = fault_helpers.start(["run", "--out", str(tmp_path), "--duration", "3", *DB_ONLY],
                                  env=fault_helpers.private_server_env())
    assert watched.wait_for(lambda now: any(s.is_cell for s in now) and any(s.is_server for s in now)), watched.stderr
    time.sleep(0.5)  # inside the cell's measured window
    # Ctrl-C reaches the whole process group; SIGTERM (kill, a supervisor) only the parent
    watched.signal(signum, group=group)
    assert watched.finish(timeout=120) == 130, watched.stderr
    assert "Traceback" not in watched.stderr and "--resume" in watched.stderr
    assert [s for s in watched.seen.values() if s.is_cell] and _server_folders(watched)
    assert watched.left_alive() == [], watched.left_alive()
    assert all(not folder.exists() for folder in _server_folders(watched))
    run = fault_helpers.only_run(tmp_path)
    total = len(json.loads((run / "run.json").read_text())["cells"])
    kept = {name: json.dumps(doc) for name, doc in fault_helpers.read_cells(run).items()}  # each file whole
    assert 1 <= len(kept) < total  # the ceiling at least; the interrupted cell not
    _resume(tmp_path, run, kept, total)


@pytest.mark.timeout(600)
def test_the_server_killed_during_a_run(tmp_path: Path) -> None:
    """kill -9 the private server in the first database cell: that cell counts the errors, later cells are skipped,
    resume redoes them."""
    watched = fault_helpers.start(["run", "--out", str(tmp_path), "--duration", "4", *DB_ONLY],
                                  env=fault_helpers.private_server_env())
    assert watched.wait_for(lambda now: any(s.is_cell for s in now) and any(s.is_server for s in now)), watched.stderr
    # Into the measured window: the cell process imports, connects and warms up (0.5 s) first, which took
    # more than a second on a slow day; the window then lasts 4 s.
    time.sleep(2.5)
    (server,) = [s for s in watched.seen.values() if s.is_server]
    psutil.Process(server.pid).kill()
    assert watched.finish(timeout=180) == 2, watched.stderr  # errors were reported
    assert "Traceback" not in watched.stderr
    assert watched.left_alive() == []
    run = fault_helpers.only_run(tmp_path)
    cells = fault_helpers.read_cells(run)
    total = len(json.loads((run / "run.json").read_text())["cells"])
    assert len(cells) == total  # the run carried on to the end
    (hit,) = cells["db--pooled-tuned--threads--c4"]["records"]
    assert hit["outcome"] == "errors" and sum(hit["errors"].values()) > 0 and hit["ops"] > 0, hit
    assert set(hit["teardown_problems"]) >= {"counters_after_run"}  # noted, not a crash
    for name in ("db--locked--threads--c4", "db--per-request--threads--c4"):
        (later,) = cells[name]["records"]
        assert later["outcome"] == "skipped" and later["reason"].startswith("setup failed"), later
    assert (run / "report.html").exists()
    kept = {name: json.dumps(doc) for name, doc in cells.items() if doc["records"][0]["outcome"] != "skipped"}
    _resume(tmp_path, run, kept, total)
    for name in ("db--locked--threads--c4", "db--per-request--threads--c4"):
        (redone,) = fault_helpers.read_cells(run)[name]["records"]
        assert redone["outcome"] == "ok", redone


@pytest.mark.timeout(300)
def test_interrupt_during_a_fault_cell(tmp_path: Path) -> None:
    """Ctrl-C in ``ctxbench faults``: the cell (run from a thread) and the private server go too; finished records
    stay."""
    out = tmp_path / "faults.json"
    watched = fault_helpers.start(["faults", "--scenario", "max-connections,kill", "--strategy", "pooled-tuned",
                                   "--json", str(out)])
    # the max-connections record is written by now
    assert watched.wait_for_line("kill: db pooled-tuned"), watched.stderr
    assert watched.wait_for(lambda now: any(s.is_cell for s in now)), watched.stderr
    time.sleep(0.5)
    watched.signal(signal.SIGINT, group=True)
    assert watched.finish(timeout=120) == 130, watched.stderr
    assert "Traceback" not in watched.stderr
    assert watched.left_alive() == [], watched.left_alive()
    assert all(not folder.exists() for folder in _server_folders(watched))
    records = json.loads(out.read_text())["records"]
    assert [(r["scenario"], r["strategy"]) for r in records] == [("max-connections", "pooled-tuned")]
