"""Is it safe here?  The verdict on each Local and each connection strategy under each deployment shape.

What is promised
    A *shape* is what a user deploys: a real server of the stack (``gunicorn-gevent``, ``uvicorn``, ...: whatever
    the stack records name) or an in-process load (``threads``, ``gevent``, ``gevent-nothread``, ``greenlet``,
    ``asyncio``) for code without a web server.  :func:`local_verdicts` and :func:`strategy_verdicts` give one
    :class:`Verdict` per name measured there.  Safe means the records show 0 errors, 0 wrong results, 0 silent wrong
    and 0 Local violations:

    - a Local under a load: every judged probe (isolation, child-write, stale-reuse, leak) with 0 violations, and no
      request of the request scenario reading another request's context on it;
    - a Local on a server: no reply whose Local held another request's token (``wrong_local``) in the stack cells
      that returned replies, *and* the judged probes of the server's model load clean (a stack cell of 1.5 s cannot
      show a dead thread's value handed to a new one; the probe can);
    - a strategy under a load: every db cell (every concurrency, every repeat) ended ``ok`` with no error, wrong
      result or silent wrong, and so did its request-scenario cells whose Local is safe there;
    - a strategy on a server: the same of its stack cells whose Local was clean (a leaking Local makes a query carry
      another request's token: the Local's fault, judged above).

    Each verdict says where it comes from: ``stack`` (the real server measured it), ``model`` (no stack cell: the
    in-process cells of the server's model load predict it -- :mod:`bench.present.model` checks that prediction on
    every run) or ``in-process`` (an in-process load measured itself).  An unsafe verdict says what failed, with
    exact counts (:func:`bench.present.spread.share`).  Pure: records in, verdicts out; repeats are added up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.cell.probes import JUDGED, PROBES
from bench.present.common import LOAD_ORDER, error_total, impls_of, ordered, silent_wrong, strategies_of
from bench.present.model import local_observed, ran, stack_errors
from bench.present.spread import share
from bench.records.kinds import DbRecord, ProbeRecord, Record, RequestRecord, StackRecord, known
from bench.webstack import PREDICTORS
from bench.webstack.servers import PER_WORKER_ONLY, SERVERS

STACK, MODEL, IN_PROCESS = "stack", "model", "in-process"


@dataclass(frozen=True)
class Shape:
    """What a user deploys: a real server (``server`` True) or an in-process load; ``load`` is the in-process load
    that stands for it (a server's model load, or the load itself)."""

    name: str
    load: str
    server: bool
    description: str = ""


@dataclass(frozen=True)
class Verdict:
    """One Local or strategy under one shape: safe or not, where that was measured, and what failed."""

    name: str
    safe: bool
    source: str  # STACK, MODEL or IN_PROCESS
    failed: str = ""  # "" when safe: "silent wrong: 3,625 of 3,625 replies"


def _stack(records: Iterable[Record]) -> list[StackRecord]:
    return [r for r in records if isinstance(r, StackRecord) and ran(r)]


def shapes(records: Sequence[Record]) -> list[Shape]:
    """The real servers the stack records name (in :data:`SERVERS` order), then the in-process loads measured."""
    stack = _stack(records)
    names = ordered((r.server for r in stack), SERVERS)
    out = []
    for name in names:
        info = SERVERS.get(name)
        load = next((str(known(r.model_load)) for r in stack if r.server == name and known(r.model_load)),
                    info.model_load if info else "")
        out.append(Shape(name, load, True, info.description if info else ""))
    loads = ordered((r.load for r in records if isinstance(r, ProbeRecord | DbRecord | RequestRecord)), LOAD_ORDER)
    return out + [Shape(load, load, False) for load in loads if load != "locust"]


# --- the Locals


def _probe_failures(records: Sequence[Record], impl: str, load: str) -> tuple[bool, str] | None:
    """(clean, what failed) of the judged probes of ``impl`` under ``load``; None when none was probed."""
    mine = [r for r in records if isinstance(r, ProbeRecord) and r.impl == impl and r.load == load
            and r.probe in JUDGED]
    if not mine:
        return None
    broken = sorted({r.probe for r in mine if r.outcome != "ok"})
    failed = []
    for probe in [p for p in PROBES if p in JUDGED]:
        at = [r for r in mine if r.probe == probe and r.outcome == "ok"]
        bad = sum(int(known(r.violations) or 0) for r in at)
        if bad:
            failed.append(f"{probe}: {share(bad, sum(int(known(r.checks) or 0) for r in at))}")
    failed += [f"{probe} could not run" for probe in broken]
    return not failed, "; ".join(failed)


def _request_leaks(records: Sequence[Record], impl: str, load: str) -> str:
    """What the request scenario saw of ``impl`` under ``load``: "" when no request read another's context."""
    mine = [r for r in records if isinstance(r, RequestRecord) and r.impl == impl and r.load == load
            and r.outcome != "skipped"]
    leaked = sum(int(known(r.local_violations) or 0) for r in mine)
    if not leaked:
        return ""
    return f"local violations: {share(leaked, sum(int(known(r.ops_total) or 0) for r in mine))} requests"


def _in_process_local(records: Sequence[Record], impl: str, load: str, source: str) -> Verdict | None:
    """The verdict the in-process cells give ``impl`` (or its predictors) under ``load``."""
    for name in PREDICTORS.get(impl, (impl,)):
        probed = _probe_failures(records, name, load)
        if probed is None:
            continue
        clean, failed = probed
        leaks = _request_leaks(records, name, load)
        failed = "; ".join(f for f in (failed, leaks) if f)
        via = "" if name == impl else f" ({name}'s probes)"
        return Verdict(impl, clean and not leaks, source, failed + via if failed else "")
    return None


def _stack_local(records: Sequence[Record], impl: str, shape: Shape) -> Verdict | None:
    cells = [r for r in _stack(records) if r.server == shape.name and r.impl == impl and local_observed(r)
             and known(r.wrong_local) is not None]
    model = _in_process_local(records, impl, shape.load, MODEL)
    if not cells:
        return model
    wrong = sum(int(r.wrong_local or 0) for r in cells)
    if wrong:
        replies = sum(int(r.requests or 0) - stack_errors(r) for r in cells)
        return Verdict(impl, False, STACK, f"wrong Local: {share(wrong, replies)} replies")
    if model is not None and not model.safe:  # the stack saw no leak; the probes of its load did
        return Verdict(impl, False, MODEL, model.failed + " (the stack saw none)")
    return Verdict(impl, True, STACK)


def local_verdicts(records: Sequence[Record], shape: Shape) -> list[Verdict]:
    """A verdict per Local measured under ``shape`` (probe impls, and a server's own stack impls)."""
    probed = impls_of(r for r in records if isinstance(r, ProbeRecord) and r.load == shape.load)
    if not shape.server:
        found = [_in_process_local(records, impl, shape.load, IN_PROCESS) for impl in probed]
        return [v for v in found if v is not None]
    on_stack = impls_of(r for r in _stack(records) if r.server == shape.name)
    found = [_stack_local(records, impl, shape) for impl in ordered([*on_stack, *probed], on_stack)]
    return [v for v in found if v is not None]


# --- the strategies


def _failures(silent: int, errors: int, wrong: int, whole: int, hung: int) -> str:
    """What failed, in the order a user must see it: silent wrong first."""
    parts = []
    if silent:
        parts.append(f"silent wrong: {share(silent, whole)}")
    if wrong > silent:
        parts.append(f"wrong results: {share(wrong, whole)}")
    if errors:
        parts.append(f"errors: {share(errors, whole)}" if errors <= whole else f"errors: {errors:,}")
    if hung:
        parts.append(f"hung in {hung} cell{'s' if hung != 1 else ''}")
    return "; ".join(parts)


def hub_failed(recs: Sequence[DbRecord | RequestRecord]) -> str:
    """How the cells that stalled their event loop past the bound stalled it ("" when none did)."""
    blocked = [r for r in recs if known(r.blocks_hub)]
    if not blocked:
        return ""
    hubs = [known(r.hub) or {} for r in blocked]
    longest = max(float(h.get("longest_stall_ms") or 0.0) for h in hubs)
    most = max(float(h.get("blocked_share") or 0.0) for h in hubs)
    names = list(dict.fromkeys(r.strategy for r in blocked))
    over = "" if set(names) == {r.strategy for r in recs} else f" over {', '.join(names)}"
    return (f"blocks the hub{over}: stalls up to {longest:,.0f} ms, up to {most:.0%} of the window blocked, in "
            f"{len(blocked)} of {len(recs)} cells")


def _workload_failed(recs: Sequence[DbRecord | RequestRecord]) -> str:
    """What failed in db/request cells ("" when every one ended clean): a stalled event loop included."""
    silent = sum(int(silent_wrong(r) or 0) for r in recs)
    wrong = sum(int(r.wrong_results or 0) for r in recs)
    leaks = sum(int(known(r.local_violations) or 0) for r in recs)
    whole = sum(int(known(r.ops_total) or 0) for r in recs)
    other = sum(1 for r in recs if r.outcome not in ("ok", "errors", "hung"))
    text = _failures(silent, sum(error_total(r) for r in recs), wrong, whole, sum(r.outcome == "hung" for r in recs))
    if leaks:
        text = "; ".join(t for t in (text, f"local violations: {share(leaks, whole)}") if t)
    text = "; ".join(t for t in (text, hub_failed(recs)) if t)
    return text or ("did not end ok" if other else "")


def _in_process_strategy(records: Sequence[Record], strategy: str, load: str, safe_locals: set[str],
                         source: str) -> Verdict | None:
    db = [r for r in records if isinstance(r, DbRecord) and r.strategy == strategy and r.load == load
          and r.outcome != "skipped"]
    req = [r for r in records if isinstance(r, RequestRecord) and r.strategy == strategy and r.load == load
           and r.outcome != "skipped" and r.impl in safe_locals]
    if not db and not req:
        return None
    failed = _workload_failed([*db, *req])
    return Verdict(strategy, not failed, source, failed)


def _stack_failed(cells: Sequence[StackRecord]) -> str:
    silent = sum(int(r.silent_wrong or 0) for r in cells)
    whole = sum(int(r.requests or 0) for r in cells)
    http: dict[str, int] = {}
    for r in cells:
        for counts in (r.http_errors, r.client_errors):
            for k, v in (known(counts) or {}).items():
                http[k] = http.get(k, 0) + int(v)
    parts = [f"silent wrong: {share(silent, whole)} replies"] if silent else []
    parts += [f"{'HTTP ' if k.isdigit() else ''}{k}: {share(v, whole)} requests" for k, v in sorted(http.items()) if v]
    hung = sum(r.outcome == "hung" for r in cells)
    parts += [f"hung in {hung} cell{'s' if hung != 1 else ''}"] if hung else []
    return "; ".join(parts)


def _stack_strategy(records: Sequence[Record], strategy: str, shape: Shape, safe_locals: set[str]) -> Verdict | None:
    cells = [r for r in _stack(records) if r.server == shape.name and r.strategy == strategy]
    if not cells:
        if strategy in PER_WORKER_ONLY:
            return None  # no app can serve it: not a choice on a server
        return _in_process_strategy(records, strategy, shape.load, safe_locals, MODEL)
    clean_local = [r for r in cells if not r.wrong_local]
    failed = _stack_failed(clean_local or cells)
    return Verdict(strategy, not failed, STACK, failed)


def strategy_verdicts(records: Sequence[Record], shape: Shape) -> list[Verdict]:
    """A verdict per strategy measured under ``shape`` (a server's own stack strategies, then the ones its model
    load measured in-process); request-scenario cells count when their Local is safe under that load."""
    safe = {v.name for v in local_verdicts(records, Shape(shape.load, shape.load, False)) if v.safe}
    measured = [r for r in records if isinstance(r, DbRecord | RequestRecord) and r.load == shape.load]
    if not shape.server:
        found = [_in_process_strategy(records, s, shape.load, safe, IN_PROCESS) for s in strategies_of(measured)]
        return [v for v in found if v is not None]
    on_stack = strategies_of(r for r in _stack(records) if r.server == shape.name)
    names = ordered([*on_stack, *strategies_of(measured)], on_stack)
    found = [_stack_strategy(records, s, shape, safe) for s in names]
    return [v for v in found if v is not None]


# --- the drivers (``--driver``): judged on their own cells, over the strategies not found unsafe otherwise


def driver_verdicts(records: Sequence[Record], shape: Shape) -> list[Verdict]:
    """A verdict per driver named with ``--driver`` and measured under ``shape``'s load (a server: its model load's
    cells predict it): safe when its cells -- of the strategies not judged unsafe on the default driver's cells, and
    request cells of a safe Local -- show no error, wrong reply or hang and never blocked the hub."""
    from bench.present.common import direct, on_driver

    plain = direct(records)
    safe_locals = {v.name for v in local_verdicts(plain, Shape(shape.load, shape.load, False)) if v.safe}
    unsafe = {v.name for v in strategy_verdicts(plain, Shape(shape.load, shape.load, False)) if not v.safe}
    mine = [r for r in records if isinstance(r, DbRecord | RequestRecord) and on_driver(r) and r.load == shape.load
            and r.outcome != "skipped" and r.strategy not in unsafe
            and (not isinstance(r, RequestRecord) or r.impl in safe_locals)]
    source = MODEL if shape.server else IN_PROCESS
    out = []
    for name in dict.fromkeys(str(known(r.driver)) for r in mine):
        failed = _workload_failed([r for r in mine if known(r.driver) == name])
        out.append(Verdict(name, not failed, source, failed))
    return out
