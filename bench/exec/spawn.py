"""The parent side of a cell: spawn ``python -m bench.cell``, wait, collect.

Each cell runs in a fresh process (gevent must patch before anything imports
threading or socket, and one cell's leftovers must not colour the next).  The
parent never measures; it plans, launches through :mod:`bench.child` (a session
of its own, the spec in a private file, a time limit after which the whole
process tree is killed, death with the parent) and reads back the records the
cell wrote atomically.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import child
from bench.child import kill_tree as kill_tree  # re-exported: the fault runner ends cell processes by pid
from bench.records.environment import PROJECT_ROOT
from bench.records.kinds import Record
from bench.records.schema import RecordInvalid, records_from_json


@dataclass
class CellResult:
    """What came back from one cell process."""

    spec: Any  # the task spec (bench.plan.specs) the cell ran
    records: list[Record] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    #: One line saying why the cell produced nothing (crash, timeout), else None.
    failure: str | None = None
    timed_out: bool = False
    duration_s: float = 0.0
    #: Everything the cell wrote (``records`` and ``facts`` above are two of its keys; a micro worker writes others).
    output: dict[str, Any] = field(default_factory=dict)


#: The environment variable telling one of several processes of a cell which one it is (0, 1, ...).
ENV_PROCESS_INDEX = "CTXBENCH_PROCESS_INDEX"


#: A directory a cell runs from and imports first (bench/, localimpls/, user packages): the base tree of an A/B run.
ENV_CELL_ROOT = "CTXBENCH_CELL_ROOT"


def python_of(spec: Any) -> str:
    """The interpreter a cell runs on: its spec's ``python`` (``--python``), else the one ctxbench runs on."""
    python = getattr(spec, "python", None)
    return python if isinstance(python, str) and python else sys.executable


def cell_root() -> Path:
    """The directory a cell process runs from: :data:`ENV_CELL_ROOT` when set, else this checkout."""
    return Path(os.environ.get(ENV_CELL_ROOT) or PROJECT_ROOT)


def _child_env(index: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(ENV_PROCESS_INDEX, None)
    if index is not None:
        env[ENV_PROCESS_INDEX] = str(index)
    # The cell imports bench/ and localimpls/ from this checkout even when the
    # package is not installed (tests, a source tree).
    first = [str(cell_root())] if env.get(ENV_CELL_ROOT) else []
    env["PYTHONPATH"] = os.pathsep.join(p for p in (*first, str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONHASHSEED", "0")
    return env


@dataclass
class Launched:
    """One cell process started by :func:`launch`: its process, where its output and its stderr go."""

    spec: Any
    child: child.Child
    out_path: Path
    err_path: Path
    started: float

    @property
    def pid(self) -> int:
        return self.child.pid


def launch(spec: Any, folder: Path, name: str, *, index: int | None = None,
           python: str | None = None) -> Launched:
    """Start ``python -m bench.cell`` on ``spec`` without waiting; its files are ``folder/name.*``.

    stderr goes to a file (several processes at once cannot all be read through pipes without one filling up).
    ``index`` is put in the child's environment (:data:`ENV_PROCESS_INDEX`) for one of several processes.
    """
    spec_path = child.write_spec(folder / f"{name}.spec.json", spec)  # it may hold a password: never on argv
    out_path, err_path = folder / f"{name}.out.json", folder / f"{name}.err"
    with open(err_path, "wb") as err:
        argv = [python or python_of(spec), "-m", "bench.cell", f"@{spec_path}", str(out_path)]
        started = child.start(argv, cwd=PROJECT_ROOT, env=_child_env(index), stderr=err)
    return Launched(spec, started, out_path, err_path, time.perf_counter())


def last_line(text: str) -> str:
    """The last non-blank line of ``text`` (a traceback's message), or ``no message``."""
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def collect(launched: Launched, *, timed_out: bool = False, timeout: float = 0.0) -> CellResult:
    """The result of a launched process that has ended (or was killed at ``timeout``: ``timed_out``)."""
    result = CellResult(spec=launched.spec, duration_s=time.perf_counter() - launched.started)
    if timed_out:
        result.timed_out = True
        result.failure = f"timed out after {timeout:.0f}s and was killed"
        return result
    _read_output(result, launched.out_path)
    code = launched.child.returncode
    if code != 0 and not result.records and result.failure is None:
        stderr = launched.err_path.read_text(errors="replace") if launched.err_path.exists() else ""
        result.failure = f"exited with status {code}: {last_line(stderr)}"
    return result


def _read_output(result: CellResult, out_path: Path) -> None:
    """Fill ``result`` from the output file the cell wrote, if it wrote one."""
    if not out_path.exists():
        return
    try:
        output = json.loads(out_path.read_text())
    except json.JSONDecodeError as exc:
        result.failure = f"wrote unreadable output ({exc.msg})"
        return
    result.output = output
    try:
        result.records = records_from_json(output.get("records", []))  # the parent's edge: typed from here on
    except RecordInvalid as exc:
        result.failure = f"wrote an invalid record ({exc})"
    result.facts = output.get("facts", {})


def run_cell(spec: Any, *, timeout: float, python: str | None = None) -> CellResult:
    """Run one cell in a fresh process (on ``python``, else :func:`python_of` the spec) and return its records (or
    why there are none)."""
    result = CellResult(spec=spec)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ctxbench-cell-") as tmp:
        out_path = Path(tmp) / "out.json"
        spec_path = child.write_spec(Path(tmp) / "spec.json", spec)  # it may hold a password: never on argv
        argv = [python or python_of(spec), "-m", "bench.cell", f"@{spec_path}", str(out_path)]
        done = child.run(argv, timeout=timeout, cwd=cell_root(), env=_child_env())
        result.duration_s = time.perf_counter() - started
        if done.timed_out:
            result.timed_out = True
            result.failure = f"timed out after {timeout:.0f}s and was killed"
            return result
        _read_output(result, out_path)
        if result.failure:
            return result
        if done.returncode != 0 and not result.records:
            result.failure = f"exited with status {done.returncode}: {last_line(done.stderr or '')}"
    return result


def run_cells(
    specs: Iterable[Any],
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
