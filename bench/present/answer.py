"""What to use: per deployment shape, the safe Locals, the safe strategies and the fastest safe choice with its cost.

What is promised
    :func:`answer` reads the records into one :class:`Row` per shape (:func:`bench.present.verdicts.shapes`: the real
    servers measured, then the in-process loads).  A row lists the safe Locals and strategies
    (:mod:`bench.present.verdicts`: never one with an error, a wrong result, a silent wrong reply or a Local
    violation), and its fastest safe choice: the clean cell of a safe Local and a safe strategy with the most correct
    replies per second (:func:`bench.present.spread.correct_per_s`, median over repeats, with its range and n) -- a
    stack cell on a server row, a db cell (with the cheapest safe Local read) on an in-process row.  Beside it: p50 /
    p99, the connections held (the server's ``Threads_connected`` peak over its baseline, ``added_at_peak``, where
    the record has it, else the distinct connections the clients used; :attr:`Choice.connections_source` says
    which) and the client CPU per operation.  A stack cell records neither connections nor CPU: a server row takes
    them from the in-process db cell of the same strategy under its model load, and says so.  The caveats
    (:mod:`bench.present.footnotes`) a row shows are those seen under its shape.

    :func:`to_json` is ``answer.json``'s document (schema 1); :func:`table` and :func:`failure_table` are the rows
    both pages and the terminal print.  Pure: records in, rows out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.present.common import direct, error_total, on_driver, on_network, silent_wrong
from bench.present.footnotes import Note, notes
from bench.present.model import by_cell, db_for, disagreements, pair_all, request_for, stack_errors
from bench.present.spread import Cell, Spread, cells, correct_per_s
from bench.present.verdicts import (
    IN_PROCESS,
    MODEL,
    STACK,
    Shape,
    Verdict,
    driver_verdicts,
    local_verdicts,
    shapes,
    strategy_verdicts,
)
from bench.records.kinds import DbRecord, MicroRecord, Record, RequestRecord, StackRecord, known

SCHEMA = 1
#: The mark of a verdict the in-process model predicted (no stack cell measured it).
PREDICTED = "†"
NONE = Spread(None, None, None, 0)
PEAK, USED = "server peak (Threads_connected over its baseline)", "distinct connections the clients used"


@dataclass(frozen=True)
class Choice:
    """The fastest safe Local x strategy of a shape, with what it costs."""

    local: str
    strategy: str
    concurrency: int
    source: str  # STACK (a stack cell) or IN_PROCESS (a db or request cell)
    throughput: Spread  # correct replies per second
    p50: Spread
    p99: Spread
    connections: Spread = NONE
    connections_source: str = ""
    cpu_us: Spread = NONE
    cost_from: str = ""  # the in-process cell connections and CPU come from, when not this one
    workers: int = 1
    local_ns: float | None = None
    driver: str | None = None  # the driver named with --driver (None: PyMySQL, the default)


@dataclass(frozen=True)
class Row:
    shape: Shape
    locals: list[Verdict]
    strategies: list[Verdict]
    choice: Choice | None
    notes: list[Note] = field(default_factory=list)
    #: The drivers named with ``--driver`` measured here (none without such cells).
    drivers: list[Verdict] = field(default_factory=list)

    def safe_locals(self) -> list[Verdict]:
        return [v for v in self.locals if v.safe]

    def safe_strategies(self) -> list[Verdict]:
        return [v for v in self.strategies if v.safe]


@dataclass(frozen=True)
class Answer:
    rows: list[Row]
    notes: list[Note]  # every note a row shows, in the order they are numbered
    model: tuple[int, int]  # (agree, compared) of the model check
    #: Why there is no row, said where the table would be; "" when there are rows.
    empty: str = ""

    def number(self, note: Note) -> int:
        return self.notes.index(note) + 1


def _lat(name: str) -> Callable[[Any], Any]:
    return lambda r: (known(r.latency_ms) or {}).get(name)


def _peak(r: Any) -> Any:
    return ((known(r.server) or {}).get("threads_connected") or {}).get("added_at_peak")


def _costs(cell: Cell | None) -> dict[str, Any]:
    if cell is None:
        return {}
    peak = cell.of(_peak)
    used = peak if peak.n else cell.of(lambda r: known(r.connections_used))
    return {"connections": used, "connections_source": (PEAK if peak.n else USED) if used.n else "",
            "cpu_us": cell.of(lambda r: known(r.client_cpu_us_per_op))}


def _clean(rec: Any) -> bool:
    if isinstance(rec, StackRecord):
        return rec.outcome == "ok" and not rec.silent_wrong and not rec.wrong_local and not stack_errors(rec)
    return (rec.outcome == "ok" and not error_total(rec) and not rec.wrong_results and not silent_wrong(rec)
            and not known(rec.local_violations) and not known(rec.blocks_hub))


def _best(candidates: Sequence[Cell]) -> Cell | None:
    ok = [c for c in candidates if all(_clean(r) for r in c.records) and (c.of(correct_per_s).median or 0) > 0]
    return max(ok, key=lambda c: c.of(correct_per_s).median or 0, default=None)


def _db_cell(all_cells: Sequence[Cell], impl: str, strategy: str, load: str, concurrency: int) -> Cell | None:
    """The in-process cell of ``strategy`` under ``load`` nearest ``concurrency``: a db cell, else a request cell of
    ``impl`` (or its predictor)."""
    db = [c for c in all_cells if isinstance(c.first, DbRecord)]
    rec: Any = db_for([c.first for c in db], strategy, load, concurrency)  # type: ignore[misc]
    if rec is None:
        db = [c for c in all_cells if isinstance(c.first, RequestRecord)]
        rec = request_for([c.first for c in db], impl, strategy, load, concurrency)  # type: ignore[misc]
    return next((c for c in db if c.first is rec), None)


def _stack_choice(all_cells: Sequence[Cell], shape: Shape, safe_l: set[str], safe_s: set[str]) -> Choice | None:
    mine = [c for c in all_cells if isinstance(c.first, StackRecord) and c.first.server == shape.name
            and c.first.impl in safe_l and c.first.strategy in safe_s]
    best = _best(mine)
    if best is None:
        return None
    rec = best.first
    twin = _db_cell(all_cells, rec.impl, rec.strategy, shape.load, rec.concurrency)
    where = f"in-process {twin.first.kind} cell {rec.strategy} x {shape.load}, {twin.first.concurrency} workers" \
        if twin else ""
    return Choice(rec.impl, rec.strategy, rec.concurrency, STACK, best.of(correct_per_s), best.of(_lat("p50")),  # type: ignore[union-attr]
                  best.of(_lat("p99")), cost_from=where, workers=rec.workers, **_costs(twin))  # type: ignore[union-attr]


def _cheapest(records: Sequence[Record], safe_l: Sequence[str]) -> tuple[str, float | None]:
    reads = [(float(r.ns_median), r.impl) for r in records
             if isinstance(r, MicroRecord) and r.op == "get" and r.impl in safe_l]
    if not reads:
        return (safe_l[0] if safe_l else "-"), None
    ns, impl = min(reads)
    return impl, ns


def _driver_candidates(driver_cells: Sequence[Cell], shape: Shape, judged: set[str], safe_s: set[str],
                       safe_d: set[str]) -> list[Cell]:
    """The db cells over a safe named driver under ``shape``'s load whose strategy is safe (or judged nowhere)."""
    return [c for c in driver_cells if isinstance(c.first, DbRecord) and c.first.load == shape.load
            and known(c.first.driver) in safe_d and (c.first.strategy in safe_s or c.first.strategy not in judged)]


def _in_process_choice(records: Sequence[Record], all_cells: Sequence[Cell], shape: Shape, safe_l: list[str],
                       safe_s: set[str], drivers: Sequence[Cell] = ()) -> Choice | None:
    db = [c for c in all_cells if isinstance(c.first, DbRecord) and c.first.load == shape.load
          and c.first.strategy in safe_s]
    best = _best([*db, *drivers])
    local, ns = _cheapest(records, safe_l)
    if best is None:
        req = [c for c in all_cells if isinstance(c.first, RequestRecord) and c.first.load == shape.load
               and c.first.strategy in safe_s and c.first.impl in safe_l]
        best = _best(req)
        if best is None:
            return None
        local, ns = best.first.impl, None  # type: ignore[union-attr]
    rec = best.first
    return Choice(local, rec.strategy, rec.concurrency, IN_PROCESS, best.of(correct_per_s), best.of(_lat("p50")),
                  best.of(_lat("p99")), workers=known(rec.processes) or 1, local_ns=ns, driver=known(rec.driver),
                  **_costs(best))


def _row_notes(shape: Shape, strategies: Sequence[Verdict], found: Sequence[Note]) -> list[Note]:
    names = {v.name for v in strategies}
    return [n for n in found if shape.name in n.servers
            or (not n.servers and n.subject in names and shape.load in n.loads)]


def answer(records: Sequence[Record], environment: dict[str, Any] | None = None) -> Answer:
    """The answer of ``records``: a row per shape, the notes they show, the model check's tally.  Cells run with a
    round trip (``--rtt``) are left out: the answer reads direct cells (the network section reads the others)."""
    all_records = records
    named = [r for r in records if on_driver(r) and not on_network(r)]
    driver_cells = cells(named)
    records = direct(records)
    all_cells = cells(records)
    found = notes(records, environment)
    rows = []
    for shape in shapes([*records, *named]):
        local_v = local_verdicts(records, shape)
        strat_v = strategy_verdicts(records, shape)
        driver_v = driver_verdicts([*records, *named], shape)
        safe_l = [v.name for v in local_v if v.safe]
        safe_s = {v.name for v in strat_v if v.safe}
        choice = _stack_choice(all_cells, shape, set(safe_l), safe_s) if shape.server else None
        if choice is None:
            candidates = _driver_candidates(driver_cells, shape, {v.name for v in strat_v}, safe_s,
                                            {v.name for v in driver_v if v.safe})
            choice = _in_process_choice(records, all_cells, shape, safe_l, safe_s, candidates)
        rows.append(Row(shape, local_v, strat_v, choice, _row_notes(shape, strat_v, found), driver_v))
    used = [n for n in found if any(n in row.notes for row in rows)]
    # One verdict per stack cell over its repeats: it disagrees when any repeat did.
    pairings = [next((q for q in g if q.verdict == "disagree"), g[0]) for g in by_cell(pair_all(records))]
    compared = [p for p in pairings if p.verdict != "unpredicted"]
    return Answer(rows, used, (len(compared) - len(disagreements(pairings)), len(compared)),
                  "" if rows else _why_empty(all_records))


def _why_empty(records: Sequence[Record]) -> str:
    """One sentence on why a run answers no deployment shape: which of its cells the answer does not read."""
    if any(on_network(r) for r in records):
        return ("No row: every database cell of this run ran with a round trip (--rtt, 0 included), and the answer "
                "reads cells run straight to the server; their figures are in the Network section.")
    if any(on_driver(r) for r in records):
        return ("No row: the answer needs isolation probes or PyMySQL database cells beside the driver cells; the "
                "driver figures are in the Drivers section.")
    return ("No row: this run has no isolation probe, database or stack cell (micro-benchmarks alone answer no "
            "deployment shape).")


# --- answer.json


def _spread_json(s: Spread) -> dict[str, Any] | None:
    return None if s.median is None else {"median": s.median, "low": s.low, "high": s.high, "n": s.n}


def _verdict_json(v: Verdict) -> dict[str, Any]:
    from bench.present.glossary import known_as

    out: dict[str, Any] = {"name": v.name, "safe": v.safe, "source": v.source}
    if known_as(v.name):
        out["known_as"] = known_as(v.name)
    if v.failed:
        out["failed"] = v.failed
    return out


def _choice_json(c: Choice | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"local": c.local, "strategy": c.strategy, "concurrency": c.concurrency, "server_workers": c.workers,
            "measured_by": c.source, "correct_replies_per_s": _spread_json(c.throughput),
            "p50_ms": _spread_json(c.p50), "p99_ms": _spread_json(c.p99),
            "connections": _spread_json(c.connections), "connections_source": c.connections_source or None,
            "client_cpu_us_per_op": _spread_json(c.cpu_us), "costs_from": c.cost_from or None,
            "local_read_ns": c.local_ns, **({"driver": c.driver} if c.driver is not None else {})}


def to_json(ans: Answer, environment: dict[str, Any] | None = None) -> dict[str, Any]:
    """``answer.json``: the rows, the notes and the model check, for scripts (schema 1)."""
    env = environment or {}
    rows = [{"shape": row.shape.name, "kind": "server" if row.shape.server else "in-process",
             "model_load": row.shape.load, "description": row.shape.description or None,
             "safe_locals": [_verdict_json(v) for v in row.safe_locals()],
             "safe_strategies": [_verdict_json(v) for v in row.safe_strategies()],
             "unsafe_locals": [_verdict_json(v) for v in row.locals if not v.safe],
             "unsafe_strategies": [_verdict_json(v) for v in row.strategies if not v.safe],
             "fastest_safe": _choice_json(row.choice),
             "notes": [ans.number(n) for n in row.notes],
             **({"drivers": [_verdict_json(v) for v in row.drivers]} if row.drivers else {})} for row in ans.rows]
    return {"schema": SCHEMA, "run_id": env.get("run_id"), "commit": env.get("commit"),
            "sources": {STACK: "measured on the real stack", MODEL: "predicted by the in-process model (no stack cell)",
                        IN_PROCESS: "measured in-process under that load"},
            "rows": rows,
            "notes": [{"number": i + 1, "key": n.key, "title": n.title, "about": n.subject, "text": n.text}
                      for i, n in enumerate(ans.notes)],
            "model_check": {"agree": ans.model[0], "compared": ans.model[1]},
            **({"no_rows": ans.empty} if ans.empty else {})}


# --- the table both pages and the terminal show

HEADER = ["where", "safe Locals", "safe strategies", "fastest safe choice", "correct replies/s", "p50 / p99 ms",
          "connections", "client CPU µs/op"]


def _names(ans: Answer, row: Row, verdicts: Sequence[Verdict], mark: Callable[[int], str]) -> str:
    first = [v for v in verdicts if v.source != MODEL] + [v for v in verdicts if v.source == MODEL]
    out = []
    for v in first:
        refs = "".join(mark(ans.number(n)) for n in row.notes if not n.servers and n.subject == v.name)
        out.append(v.name + (PREDICTED if v.source == MODEL and row.shape.server else "") + refs)
    return ", ".join(out) or ("none" if verdicts else "not measured")


def _ms(s: Spread) -> str:
    return s.text(lambda v: f"{v:.3g}" if v < 100 else f"{v:,.0f}").replace(f" (n={s.n})", "")


def _choice_cells(ans: Answer, row: Row, mark: Callable[[int], str]) -> list[str]:
    c = row.choice
    if c is None:
        return ["no safe cell measured" if row.strategies else "no database cell", "-", "-", "-", "-"]
    unit = "clients" if c.source == STACK else "workers"
    over = f" over {c.driver}" if c.driver is not None else ""
    what = f"{c.local} + {c.strategy}{over}, {c.concurrency} {unit}" + (
        f" x {c.workers} processes" if c.workers > 1 else "")
    if c.local_ns is not None:
        what += f" ({c.local} read {c.local_ns:.1f} ns)"
    what += "".join(mark(ans.number(n)) for n in row.notes if n.servers)
    model = PREDICTED if c.cost_from else ""
    conns = "-" if c.connections.median is None else f"{c.connections.median:,.0f}{model}"
    conns += " at peak" if c.connections_source == PEAK else ""
    cpu = "-" if c.cpu_us.median is None else f"{c.cpu_us.median:,.0f}{model}"
    return [what, c.throughput.text(), f"{_ms(c.p50)} / {_ms(c.p99)}", conns, cpu]


def table(ans: Answer, mark: Callable[[int], str] = lambda n: f"[{n}]") -> tuple[list[str], list[list[str]]]:
    """Header and rows of the answer; ``mark(n)`` writes a reference to note ``n``."""
    rows = []
    for row in ans.rows:
        where = row.shape.name if row.shape.server else f"{row.shape.name} (in-process)"
        rows.append([where, _names(ans, row, row.safe_locals(), mark), _names(ans, row, row.safe_strategies(), mark),
                     *_choice_cells(ans, row, mark)])
    return HEADER, rows


def failure_table(ans: Answer) -> tuple[list[str], list[list[str]]]:
    """What is not safe where, and what failed (exact counts), and who measured it."""
    rows = []
    for row in ans.rows:
        where = row.shape.name if row.shape.server else f"{row.shape.name} (in-process)"
        for kind, verdicts in (("Local", row.locals), ("strategy", row.strategies), ("driver", row.drivers)):
            rows += [[where, f"{kind} {v.name}", v.failed, v.source] for v in verdicts if not v.safe]
    return ["where", "not safe", "what failed", "measured"], rows
