"""The parent side of a cell: spawn ``python -m bench.cell``, wait, collect.

Each cell runs in a fresh process (gevent must patch before anything imports
threading or socket, and one cell's leftovers must not colour the next).  The
parent never measures; it plans, launches, enforces a time limit (killing the
whole process tree with psutil, which knows a process's children portably) and
reads back the records the cell wrote atomically.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.records.environment import PROJECT_ROOT


@dataclass
class CellResult:
    """What came back from one cell process."""

    spec: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    #: One line saying why the cell produced nothing (crash, timeout), else None.
    failure: str | None = None
    timed_out: bool = False
    duration_s: float = 0.0
    #: Everything the cell wrote (``records`` and ``facts`` above are two of its keys; a micro worker writes others).
    output: dict[str, Any] = field(default_factory=dict)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The cell imports bench/ and localimpls/ from this checkout even when the
    # package is not installed (tests, a source tree).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def kill_tree(pid: int) -> None:
    """Kill a process and every process it started."""
    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=5)


def run_cell(spec: dict[str, Any], *, timeout: float, python: str = sys.executable) -> CellResult:
    """Run one cell in a fresh process and return its records (or why there are none)."""
    result = CellResult(spec=spec)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ctxbench-cell-") as tmp:
        out_path = Path(tmp) / "out.json"
        # The spec (which may hold a server password) travels in a private
        # file, never on the command line where ps and /proc would show it.
        spec_path = Path(tmp) / "spec.json"
        spec_path.touch(mode=0o600)
        spec_path.write_text(json.dumps(spec))
        proc = subprocess.Popen(
            [python, "-m", "bench.cell", f"@{spec_path}", str(out_path)],
            cwd=PROJECT_ROOT,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.communicate()
            result.timed_out = True
            result.failure = f"timed out after {timeout:.0f}s and was killed"
            result.duration_s = time.perf_counter() - started
            return result
        except BaseException:
            kill_tree(proc.pid)
            raise
        result.duration_s = time.perf_counter() - started
        if out_path.exists():
            try:
                output = json.loads(out_path.read_text())
            except json.JSONDecodeError as exc:
                result.failure = f"wrote unreadable output ({exc.msg})"
                return result
            result.output = output
            result.records = output.get("records", [])
            result.facts = output.get("facts", {})
        if proc.returncode != 0 and not result.records:
            last = [line for line in (stderr or "").strip().splitlines() if line.strip()]
            result.failure = f"exited with status {proc.returncode}: {last[-1] if last else 'no message'}"
    return result


def run_cells(
    specs: Iterable[dict[str, Any]],
    *,
    timeout: float,
    jobs: int = 1,
    on_done: Callable[[CellResult], None] | None = None,
) -> list[CellResult]:
    """Run cells, ``jobs`` at a time, calling ``on_done`` as each finishes (in completion order)."""
    specs = list(specs)
    results: list[CellResult] = []
    if jobs <= 1:
        for spec in specs:
            res = run_cell(spec, timeout=timeout)
            results.append(res)
            if on_done:
                on_done(res)
        return results
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_cell, spec, timeout=timeout) for spec in specs]
        for fut in as_completed(futures):
            res = fut.result()
            results.append(res)
            if on_done:
                on_done(res)
    return results
