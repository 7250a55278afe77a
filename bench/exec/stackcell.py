"""One stack cell: a real server runs the real app, proves its load, takes HTTP load over loopback, and is stopped.

Contract: :func:`run_stack_cell` returns ``(record, error line or None)`` and never raises on bad input or a failing
server.  The record (``kind: "stack"``) says which server, workers, impl, strategy and concurrency, the in-process
load that claims to predict it (``model_load``), and what the HTTP clients saw: ``requests``, ``ok``,
``wrong_local``, ``silent_wrong``, ``http_errors`` (with ``app_errors``: the error classes HTTP 500s named),
``client_errors``, ``ops_per_s``, ``latency_hist`` (an HDR histogram of the window's requests) and ``latency_ms``
read from it (the same counts before the window in ``warmup``), ``processes`` (= ``workers``) and ``per_process``
(each server process's share of the counts, rate and latencies, by pid, adding up to the totals), and the server's
proof of its load (``load_facts``).  ``outcome``: ``ok`` when every request came back right; ``errors``
when any came back wrong or failed; ``hung`` when the load did not end within its bound or the server stopped
answering (a blocked hub); ``skipped`` with no MySQL-protocol server or without the ``stack`` extra; ``error`` when
the spec is bad or the server did not start or prove its load (then the error line says why, in one line).
Every process a cell starts is stopped by pid before it returns; the password is written only to a private file.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

import localimpls
from bench import child
from bench.cell.strategies import StrategyError, check_name
from bench.plan.specs import StackSpec
from bench.records import latency
from bench.records.environment import PROJECT_ROOT
from bench.records.kinds import UNSET, StackRecord, known
from bench.records.schema import RecordInvalid, from_json
from bench.server.target import scrub
from bench.webstack import STACK_IMPLS_EXTRA, missing_extra
from bench.webstack.launch import StackStartError, free_port, get_json, prove, start, stop
from bench.webstack.servers import ServerInfo, get_server, unfit

log = logging.getLogger(__name__)

#: Seconds the drive process may take beyond warmup + duration + one request timeout (its start, Locust's import).
DRIVE_SLACK = 20.0
#: Seconds a request may wait for its reply unless the spec says otherwise.
REQUEST_TIMEOUT = 5.0
#: Seconds the server has to answer ``/_load`` after the load; no answer means it is stuck (``hung``).
ALIVE_TIMEOUT = 3.0


def _record(spec: Mapping[str, Any], info: ServerInfo | None, outcome: str, reason: str | None) -> StackRecord:
    """A stack cell's record before its load ran: coordinates, no counts (the one place such a record is made)."""

    def coordinate(name: str, default: Any = None) -> Any:
        value = spec.get(name, default)
        return value if value is not None else default

    return StackRecord(
        server=str(coordinate("server", "?")), workers=coordinate("workers", 1), impl=str(coordinate("impl", "?")),
        strategy=str(coordinate("strategy", "?")), concurrency=coordinate("concurrency", 0),
        model_load=info.model_load if info else None, duration_s=spec.get("duration"), warmup_s=spec.get("warmup"),
        outcome=outcome, requests=None, ok=None, wrong_local=None, silent_wrong=None, http_errors={}, app_errors={},
        client_errors={}, ops_per_s=None,
        latency_ms=dict.fromkeys((*(key for key, _ in latency.PERCENTILES), "max", "mean")), latency_hist=None,
        processes=spec.get("workers", 1), per_process=[], load_facts={}, server_pid=None, server_pids=[],
        reason=UNSET if reason is None else reason, **_driver(spec.get("driver")))


def _driver(name: Any) -> dict[str, Any]:
    """A named driver's record fields (none without one)."""
    if not name:
        return {}
    from bench.cell.drivers import version_of

    return {"driver": str(name), "driver_version": version_of(str(name))}


def check_spec(spec: Mapping[str, Any]) -> tuple[ServerInfo, StackSpec]:
    """The server and the typed spec, defaults filled in; ValueError with one line naming what is wrong."""
    info = get_server(str(spec.get("server")))
    full = {"workers": 1, "warmup": 0.5, "request_timeout": REQUEST_TIMEOUT, **spec}
    for key in ("workers", "concurrency"):
        if not isinstance(full.get(key), int) or isinstance(full[key], bool) or full[key] < 1:
            raise ValueError(f"{key} must be a whole number >= 1, not {full.get(key)!r}")
    for key in ("duration", "warmup", "request_timeout"):
        if not isinstance(full.get(key), int | float) or full[key] < 0 or (key != "warmup" and full[key] == 0):
            raise ValueError(f"{key} must be a number of seconds > 0, not {full.get(key)!r}")
    if full["workers"] > 1 and not info.multi_process:
        raise ValueError(f"server {info.name} runs one process: workers must be 1, not {full['workers']}")
    impl = str(full.get("impl"))
    if impl not in STACK_IMPLS_EXTRA:
        try:
            localimpls.target_of(impl)
        except localimpls.ImplError as exc:
            raise ValueError(str(exc)) from None
    try:
        check_name(str(full.get("strategy")))
    except StrategyError as exc:
        raise ValueError(str(exc)) from None
    why = unfit(info, impl, str(full.get("strategy")))
    if why is not None:
        raise ValueError(why)
    try:
        return info, msgspec.convert(full, type=StackSpec)
    except msgspec.ValidationError as exc:
        raise ValueError(f"stack cell spec: {exc}") from None


def label(spec: Mapping[str, Any]) -> str:
    """How the cell is named in an error line."""
    return (f"stack {spec.get('server')} x{spec.get('workers', 1)} {spec.get('impl')} {spec.get('strategy')} "
            f"c={spec.get('concurrency')}")


def _drive(url: str, spec: StackSpec, workdir: Path) -> tuple[StackRecord | None, str | None]:
    """Run the HTTP load in its own process: its record, or None and why (``"hung: ..."`` when it was killed)."""
    timeout = float(known(spec.request_timeout) or REQUEST_TIMEOUT)
    drive = {"url": url, **spec.replace(io_sleep=UNSET, port=UNSET, rtt_ms=UNSET, request_timeout=timeout).to_json()}
    spec_path = child.write_spec(workdir / "drive.json", drive)
    out_path = workdir / "drive-out.json"
    limit = float(spec.warmup) + float(spec.duration) + timeout + DRIVE_SLACK
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", ""))
                                                       if p)}
    done = child.run([sys.executable, "-m", "bench.webstack.drive", str(spec_path), str(out_path)], timeout=limit,
                     cwd=PROJECT_ROOT, env=env)
    if done.timed_out:
        return None, f"hung: the HTTP load did not end within {limit:.0f}s and was killed"
    if done.returncode != 0 or not out_path.exists():
        lines = [line for line in (done.stderr or "").splitlines() if line.strip()]
        return None, f"the HTTP load exited with status {done.returncode}: {lines[-1] if lines else 'no message'}"
    try:  # the driver's edge: its record typed from here on
        return from_json(json.loads(out_path.read_text()), {"stack"}), None  # type: ignore[return-value]
    except (ValueError, RecordInvalid) as exc:
        return None, f"the HTTP load wrote no valid record: {exc}"


def _still_answers(port: int) -> bool:
    try:
        status, _ = get_json(port, "/_load", timeout=ALIVE_TIMEOUT)
    except OSError:
        return False
    return status == 200


#: What the driver measured, copied onto the cell's record (the parent adds what only it knows).
MEASURED = ("outcome", "reason", "requests", "ok", "wrong_local", "silent_wrong", "http_errors", "app_errors",
            "client_errors", "ops_per_s", "latency_ms", latency.FIELD, "per_process", "request_timeout_s", "warmup")


def _fill(rec: StackRecord, driven: StackRecord) -> StackRecord:
    """``rec`` with what the driver measured."""
    measured = {f: getattr(driven, f) for f in MEASURED if getattr(driven, f) is not UNSET}
    return rec.replace(**measured)  # type: ignore[no-any-return]


def _measure(target: Any, info: ServerInfo, spec: StackSpec, rec: StackRecord,
             workdir: Path) -> tuple[StackRecord, str | None]:
    """Start, prove, load, stop; the filled record and the error line or None."""
    app = {"impl": spec.impl, "strategy": spec.strategy, "connect": target.connect_kwargs(),
           "concurrency": spec.concurrency, "io_sleep": float(known(spec.io_sleep) or 0.0),
           **({"driver": spec.driver_name} if spec.driver_name else {})}
    app_path = child.write_spec(workdir / "app.json", app)
    port = int(known(spec.port) or free_port())
    try:
        running = start(info, port=port, workers=spec.workers, concurrency=spec.concurrency, app_spec=app_path,
                        workdir=workdir, password=target.password)
    except StackStartError as exc:
        rec.server_pids = sorted(exc.pids)  # the caller's record: it says which processes were started
        raise
    rec.server_pid = running.pid
    why: str | None = None
    try:
        rec.load_facts = prove(running, concurrency=spec.concurrency, workers=spec.workers)
        driven, why = _drive(f"http://127.0.0.1:{port}", spec, workdir)
        if driven is not None:
            rec = _fill(rec, driven)
            if not _still_answers(port):
                why = f"hung: the server stopped answering /_load within {ALIVE_TIMEOUT:.0f}s after the load"
    finally:
        stop(running)
        rec.server_pids = sorted(running.pids)
    if why is None:
        return rec, None
    rec.outcome = "hung" if why.startswith("hung") else "error"
    rec.reason = why.removeprefix("hung: ")
    return rec, rec.reason


def _driver_missing(name: str | None) -> str | None:
    from bench.cell.drivers import missing

    return missing(name) if name else None


def run_stack_cell(target: Any, spec: StackSpec | Mapping[str, Any]) -> tuple[StackRecord, str | None]:
    """Run one stack cell; its record and an error line (or None).  Never raises on bad input or a bad server.

    ``spec`` is the planned cell's, or a mapping of its fields (checked here, one line naming a bad value).
    """
    if isinstance(spec, StackSpec):
        spec = spec.to_json()
    try:
        info, full = check_spec(spec)
    except ValueError as exc:
        return _record(spec, None, "error", str(exc)), f"{label(spec)}: {exc}"
    coordinates = full.to_json()  # with the defaults filled in
    if target is None:
        return _record(coordinates, info, "skipped", "no MySQL-protocol server"), None
    missing = missing_extra(info.interface) or _driver_missing(full.driver_name)
    if missing:
        return _record(coordinates, info, "skipped", missing), None
    rec = _record(coordinates, info, "ok", None)
    started = time.perf_counter()
    error: str | None
    with tempfile.TemporaryDirectory(prefix="ctxbench-stack-") as tmp:
        try:
            rec, error = _measure(target, info, full, rec, Path(tmp))
        except StackStartError as exc:
            rec.outcome, rec.reason = "error", str(exc)
            error = str(exc)
    rec.cell_wall_s = round(time.perf_counter() - started, 3)
    if error is not None:
        error = scrub(f"{label(coordinates)}: {error}", target.password)
        rec.reason = scrub(known(rec.reason), target.password)
    if rec.outcome != "ok":
        log.debug("%s: %s", label(coordinates), known(rec.reason))
    return rec, error
