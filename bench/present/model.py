"""Does the model predict the real stack?  Each stack cell beside the in-process cells that claim to predict it.

What is promised
    :func:`pair_all` pairs every stack record that ran with two in-process records and compares three things:

    - the Local verdict: the stack leaks when a reply carried another request's token from the Local
      (``wrong_local`` > 0); the model is the isolation probe of the same impl under the server's model load
      (``flask.g`` -- ``flask-g`` -- is predicted by werkzeug's Local when that was probed, else by ``contextvar``:
      Flask keeps ``g`` in a ContextVar-backed context);
    - the strategy verdict (``safe``, ``unsafe`` or ``hung``): the stack is unsafe when any reply was another
      request's row or an error (HTTP or client); the model is the request-scenario record of the same impl and
      strategy under the model load at the concurrency nearest the stack's (by ratio) -- the in-process twin of
      the app's handler: a request context on the Local, ``SELECT %s`` with its token -- or, where the run has no
      such record, the db record of the strategy (whose mix also writes, which makes a shared connection fail
      loudly sooner); unsafe when it has wrong results or errors;
    - the failure mode, when both are unsafe: ``silent wrong`` when replies of another worker returned without an
      error outnumber the errors, else ``errors`` (the record's ``silent_wrong``; records written before that
      field fall back to ``wrong_results``).

    A comparison whose in-process record is absent is ``None`` (unpredicted), never a guess; so is the Local
    verdict of a stack cell none of whose replies came back (every request an error: no Local to read).  A cell
    agrees when every comparison made agrees; :func:`disagreements` lists the cells that do not.  Pure: records in,
    rows out.

Why
    A model is worth what it predicts.  The in-process loads stand for real servers; this is where that claim
    is checked on every run, and a disagreement is a finding (and, for the gate, a changed verdict).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.present.common import Workload, direct, error_total, of_kind, one_per_cell
from bench.records.kinds import DbRecord, ProbeRecord, Record, RequestRecord, StackRecord, known
from bench.webstack import PREDICTORS

#: The probe whose verdict predicts a stack cell's Local verdict.
LOCAL_PROBE = "isolation"
SILENT, ERRORS = "silent wrong", "errors"


@dataclass(frozen=True)
class Comparison:
    """One verdict of the stack beside the model's, with the model cell it came from."""

    aspect: str  # "local", "strategy" or "failure mode"
    stack: str
    model: str
    model_cell: str

    @property
    def agrees(self) -> bool:
        return self.stack == self.model


@dataclass(frozen=True)
class Pairing:
    """One stack cell and its comparisons (each None when the model has no cell for it)."""

    stack: StackRecord
    local: Comparison | None
    strategy: Comparison | None
    mode: Comparison | None

    @property
    def comparisons(self) -> list[Comparison]:
        return [c for c in (self.local, self.strategy, self.mode) if c is not None]

    @property
    def verdict(self) -> str:
        """``agree``, ``disagree`` or ``unpredicted`` (no in-process cell to compare with)."""
        made = self.comparisons
        if not made:
            return "unpredicted"
        return "agree" if all(c.agrees for c in made) else "disagree"

    def key(self) -> str:
        """A stable name: ``model/SERVER/IMPL/STRATEGY/cN`` (and ``/wN`` beyond one server worker)."""
        s = self.stack
        workers = f"/w{s.workers}" if s.workers != 1 else ""
        return f"model/{s.server}/{s.impl}/{s.strategy}/c{s.concurrency}{workers}"


def stack_errors(rec: StackRecord) -> int:
    """HTTP errors and client errors of a stack record, every class."""
    total = 0
    for counts in (rec.http_errors, rec.client_errors):
        total += int(sum(v for v in (counts or {}).values() if isinstance(v, (int, float))))
    return total


def ran(rec: StackRecord) -> bool:
    """Whether a stack cell produced counts to judge (it was not skipped and did not fail before serving)."""
    outcome = rec.outcome
    return outcome == "hung" or (outcome in ("ok", "errors") and bool(rec.requests))


def _mode(silent: int, errors: int) -> str:
    return SILENT if silent > errors else ERRORS


def stack_strategy(rec: StackRecord) -> tuple[str, str | None]:
    """(``safe`` / ``unsafe`` / ``hung``, failure mode or None) of a stack cell."""
    if rec.outcome == "hung":
        return "hung", None
    silent, errors = int(rec.silent_wrong or 0), stack_errors(rec)
    if silent or errors:
        return "unsafe", _mode(silent, errors)
    return "safe", None


def model_strategy(rec: Workload) -> tuple[str, str | None]:
    """(``safe`` / ``unsafe`` / ``hung``, failure mode or None) of an in-process db or request record."""
    if rec.outcome == "hung":
        return "hung", None
    silent = known(rec.silent_wrong)
    if silent is None:
        silent = known(rec.wrong_results)
    silent, wrong, errors = int(silent or 0), int(rec.wrong_results or 0), error_total(rec)
    if wrong or silent or errors:
        return "unsafe", _mode(silent, errors)
    return "safe", None


def probe_for(probes: Sequence[ProbeRecord], impl: str, load: str) -> ProbeRecord | None:
    """The isolation probe that predicts ``impl`` under ``load`` (through :data:`PREDICTORS` for app-only impls)."""
    for name in PREDICTORS.get(impl, (impl,)):
        for rec in probes:
            if rec.impl == name and rec.load == load and rec.probe == LOCAL_PROBE and rec.outcome == "ok":
                return rec
    return None


def db_for(db: Sequence[Workload], strategy: str, load: str, concurrency: int) -> Workload | None:
    """The db record of ``strategy`` under ``load`` at the concurrency nearest ``concurrency``.

    Nearest by ratio (the matrix's levels grow by factors: 1, 4, 16, 64), the higher level on a tie.
    """
    mine = [r for r in db if r.strategy == strategy and r.load == load and r.outcome != "skipped"]
    if not mine:
        return None
    return min(mine, key=lambda r: (abs(math.log(r.concurrency / concurrency)), -r.concurrency))


def local_observed(rec: StackRecord) -> bool:
    """Whether any reply of a stack cell carried its Local back (HTTP 200): when every request failed, the stack
    cannot show a leak, and its Local verdict is not compared."""
    return int(rec.requests or 0) > stack_errors(rec)


def _local(rec: StackRecord, probes: Sequence[ProbeRecord]) -> Comparison | None:
    probe = probe_for(probes, rec.impl, rec.model_load or "")
    if probe is None or rec.outcome == "hung" or known(rec.wrong_local) is None or not local_observed(rec):
        return None
    stack = "leaks" if rec.wrong_local else "isolates"
    model = "leaks" if probe.violations else "isolates"
    return Comparison("local", stack, model, f"probe {probe.impl} x {probe.load}: "
                                               f"{known(probe.violations)}/{known(probe.checks)}")


def request_for(requests: Sequence[RequestRecord], impl: str, strategy: str, load: str,
                concurrency: int) -> Workload | None:
    """The request-scenario record of ``impl`` (or its predictor) x ``strategy`` under ``load``, nearest concurrency."""
    for name in PREDICTORS.get(impl, (impl,)):
        mine = [r for r in requests if r.impl == name]
        found = db_for(mine, strategy, load, concurrency)
        if found is not None:
            return found
    return None


def _strategy(rec: StackRecord, db: Sequence[DbRecord],
              requests: Sequence[RequestRecord] = ()) -> tuple[Comparison | None, Comparison | None]:
    load = rec.model_load or ""
    model_rec = request_for(requests, rec.impl, rec.strategy, load, rec.concurrency)
    if model_rec is None:
        model_rec = db_for(db, rec.strategy, load, rec.concurrency)
    if model_rec is None:
        return None, None
    (stack, stack_mode), (model, model_mode) = stack_strategy(rec), model_strategy(model_rec)
    impl = f"{model_rec.impl} x " if isinstance(model_rec, RequestRecord) else ""
    where = f"{model_rec.kind} {impl}{model_rec.strategy} x {model_rec.load} c={model_rec.concurrency}"
    strategy = Comparison("strategy", stack, model, where)
    if stack_mode is None or model_mode is None:
        return strategy, None
    return strategy, Comparison("failure mode", stack_mode, model_mode, where)


def pair(rec: StackRecord, probes: Sequence[ProbeRecord], db: Sequence[DbRecord],
         requests: Sequence[RequestRecord] = ()) -> Pairing:
    """One stack record beside its in-process cells (probe, request-scenario and db records)."""
    strategy, mode = _strategy(rec, db, requests)
    return Pairing(rec, _local(rec, probes), strategy, mode)


def pair_all(records: Iterable[Record]) -> list[Pairing]:
    """Every stack cell that ran, paired; in record order."""
    records = one_per_cell(direct(records))  # the direct one-process cell predicts (a stack's workers: its own)
    probes, db, requests = of_kind(records, "probe"), of_kind(records, "db"), of_kind(records, "request")
    return [pair(r, probes, db, requests) for r in of_kind(records, "stack") if ran(r)]


def disagreements(pairings: Iterable[Pairing]) -> list[Pairing]:
    """The cells where the model's verdict or failure mode differs from the real stack's."""
    return [p for p in pairings if p.verdict == "disagree"]


MODEL_HEADER: tuple[str, ...] = (
    "server", "model load", "impl", "strategy", "clients", "Local: stack / model", "strategy: stack / model",
    "failure mode: stack / model", "model cells", "verdict",
)


def _side(c: Comparison | None) -> str:
    if c is None:
        return "- / no cell"
    return f"{c.stack} / {c.model}" + ("" if c.agrees else " (DISAGREE)")


def by_cell(pairings: Iterable[Pairing]) -> list[list[Pairing]]:
    """The pairings of each stack cell's repeats together, in order of each cell's first repeat."""
    groups: dict[tuple[object, ...], list[Pairing]] = {}
    for p in pairings:
        s = p.stack
        groups.setdefault((s.server, s.workers, s.impl, s.strategy, s.concurrency, known(s.load)), []).append(p)
    return list(groups.values())


def _cell_verdict(group: Sequence[Pairing]) -> str:
    """A cell's verdict over its repeats: disagree if any repeat did; ``(k of n)`` when repeated."""
    verdicts = [p.verdict for p in group]
    worst = "disagree" if "disagree" in verdicts else verdicts[0]
    return worst if len(group) == 1 else f"{worst} ({verdicts.count(worst)} of {len(group)} repeats)"


def model_rows(records: Iterable[Record]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per stack cell that ran (its repeats together), its verdicts beside the model's."""
    rows = []
    for group in by_cell(pair_all(records)):
        p = next((q for q in group if q.verdict == "disagree"), group[0])
        s = p.stack
        cells = "; ".join(c.model_cell for c in (p.local, p.strategy) if c is not None) or "-"
        local = _side(p.local) if p.local is not None or local_observed(s) else "not observed (no reply) / -"
        rows.append([s.server, str(known(s.model_load)), s.impl, s.strategy, str(s.concurrency),
                     local, _side(p.strategy), "-" if p.mode is None else _side(p.mode), cells, _cell_verdict(group)])
    return list(MODEL_HEADER), rows


def model_findings(records: Iterable[Record]) -> list[str]:
    """One line counting the cells the model predicted and the ones it got wrong (and which), when stack cells ran."""
    groups = by_cell(pair_all(records))
    if not groups:
        return []
    # A cell agrees when every repeat did; it disagrees when any did (the first such repeat speaks for it).
    pairings = [next((q for q in g if q.verdict == "disagree"), g[0]) for g in groups]
    compared = [p for p in pairings if p.verdict != "unpredicted"]
    wrong = disagreements(pairings)
    measured = sum(len(g) for g in groups)
    repeats = f" ({measured} measurements)" if measured > len(groups) else ""
    text = (f"The in-process model was checked against {len(pairings)} real-stack cell(s){repeats}: "
            f"{len(compared) - len(wrong)} agree, {len(wrong)} disagree")
    unpredicted = len(pairings) - len(compared)
    if unpredicted:
        text += f", {unpredicted} without an in-process cell to compare"
    if wrong:
        named = []
        for p in wrong[:4]:
            what = ", ".join(f"{c.aspect} {c.stack} vs model {c.model}" for c in p.comparisons if not c.agrees)
            named.append(f"{p.stack.server} {p.stack.impl} x {p.stack.strategy} ({what})")
        text += ": " + "; ".join(named) + ("; ..." if len(wrong) > 4 else "")
    return [text + "."]
