"""Every number with its spread: repeated cells grouped, a value's median, range and count, exact shares.

Pure functions over typed records.  A cell measured several times (fresh processes each time: the ``repeat``
field says which) is one :class:`Cell` here, keyed by its coordinates; a figure of it is a :class:`Spread`
(median, lowest, highest, n) -- one window is n=1 and says so.  Throughput is correct replies per second:
for db and request cells ``ops_per_s`` already counts only right replies; for a real-stack cell it counts
every reply, so :func:`correct_per_s` takes the replies answered 200 with the request's own row.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.present.common import silent_wrong
from bench.records.kinds import UNSET, DbRecord, Record, RequestRecord, StackRecord, known

Measured = DbRecord | RequestRecord | StackRecord


@dataclass(frozen=True)
class Spread:
    """A value measured ``n`` times: its median and range (all None when never measured)."""

    median: float | None
    low: float | None
    high: float | None
    n: int

    def text(self, fmt: Callable[[float], str] = lambda v: f"{v:,.0f}") -> str:
        """``"1,234 (1,100-1,300, n=3)"``; ``"1,234 (n=1)"``; ``"-"`` when never measured."""
        if self.median is None:
            return "-"
        if self.n == 1 or self.low == self.high:
            return f"{fmt(self.median)} (n={self.n})"
        return f"{fmt(self.median)} ({fmt(self.low)}-{fmt(self.high)}, n={self.n})"  # type: ignore[arg-type]


def spread(values: Iterable[float | None]) -> Spread:
    """The spread of the known values among ``values`` (None and UNSET are left out)."""
    known_values = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not known_values:
        return Spread(None, None, None, 0)
    return Spread(statistics.median(known_values), min(known_values), max(known_values), len(known_values))


def coordinates(rec: Measured) -> tuple[Any, ...]:
    """What makes two records the same cell measured again (everything but the repeat); the round trip asked for
    (``rtt_set_ms``) and the driver named (``driver``) are among them (None for a cell without one)."""
    rtt, driver = known(rec.rtt_set_ms), known(rec.driver)
    if isinstance(rec, StackRecord):
        return ("stack", rec.server, rec.workers, rec.impl, rec.strategy, rec.concurrency, known(rec.load), rtt,
                driver)
    impl = rec.impl if isinstance(rec, RequestRecord) else None
    return (rec.kind, impl, rec.strategy, rec.load, rec.concurrency, known(rec.processes) or 1, rtt, driver)


@dataclass(frozen=True)
class Cell:
    """One cell's repeats, in the order they were measured."""

    records: tuple[Measured, ...]

    @property
    def first(self) -> Measured:
        return self.records[0]

    @property
    def n(self) -> int:
        return len(self.records)

    def of(self, value: Callable[[Measured], Any]) -> Spread:
        """The spread of ``value`` over the repeats (those where it is known)."""
        return spread(value(rec) for rec in self.records)

    def total(self, value: Callable[[Measured], Any]) -> int:
        """``value`` (a count) added up over the repeats; unknown counts as 0."""
        return sum(int(known(value(rec)) or 0) for rec in self.records)


def cells(records: Iterable[Record]) -> list[Cell]:
    """The db, request and stack records grouped by cell, in order of each cell's first record."""
    groups: dict[tuple[Any, ...], list[Measured]] = {}
    for rec in records:
        if isinstance(rec, DbRecord | RequestRecord | StackRecord):
            groups.setdefault(coordinates(rec), []).append(rec)
    return [Cell(tuple(sorted(recs, key=lambda r: known(r.repeat) or 0))) for recs in groups.values()]


def correct_per_s(rec: Measured) -> float | None:
    """Correct replies per second: a db/request cell's ``ops_per_s``; a stack cell's right replies over its window."""
    if isinstance(rec, StackRecord):
        ok, window = known(rec.ok), known(rec.measured_s) or known(rec.duration_s)
        return round(ok / window, 1) if ok is not None and window else None
    return known(rec.ops_per_s)


def share(part: int, whole: int) -> str:
    """An exact share: ``"0 of 538"``, ``"537 of 538 (99.8%)"``, ``"3 of 6,000 (0.05%)"``: never 0 or 100%."""
    if whole <= 0:
        return "none measured"
    if part in (0, whole):
        return f"{part:,} of {whole:,}"
    pct = 100.0 * part / whole
    if pct < 1:
        text = f"{pct:.2g}"  # two significant digits: 0.05, 0.0017
    else:
        digits = 1
        while pct < 100.0 <= round(pct, digits):  # 99.95 is not 100
            digits += 1
        text = f"{pct:.{digits}f}"
    return f"{part:,} of {whole:,} ({text}%)"


def _top(counts: dict[str, int]) -> str:
    top = sorted(counts.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v:,}" for k, v in top[:3]) + (", ..." if len(top) > 3 else "")


def _added(dicts: Iterable[Any]) -> dict[str, int] | None:
    """Count dicts (error class -> count) added up; None when none was recorded."""
    known_dicts = [d for d in (known(d) for d in dicts) if isinstance(d, dict)]
    if not known_dicts:
        return None
    out: dict[str, int] = {}
    for d in known_dicts:
        for k, v in d.items():
            if isinstance(v, (int, float)) and v:
                out[k] = out.get(k, 0) + int(v)
    return out


def _share_of(total: int, pairs: Iterable[tuple[int, Any]]) -> str:
    """``total`` as an exact share of the wholes of ``pairs`` (part, whole); the count alone when a repeat with a
    part has no whole recorded (a repeat with nothing counted and no whole adds nothing)."""
    pairs = [(p, w) for p, w in pairs if p or isinstance(w, int)]
    if any(not isinstance(w, int) for _, w in pairs) or not pairs:
        return f"{total:,}"
    return share(total, sum(w for _, w in pairs))


def tally(cell: Cell, part: Callable[[Any], Any], whole: Callable[[Any], Any]) -> str:
    """A count over the cell's repeats as an exact share of ``whole`` (``3 of 6,000 (0.05%)``); the count alone when
    a whole was not recorded; ``-`` when the count never was."""
    pairs = [(known(part(r)), known(whole(r))) for r in cell.records]
    counted = [(p, w) for p, w in pairs if isinstance(p, int) and not isinstance(p, bool)]
    if not counted:
        return "-"
    return _share_of(sum(p for p, _ in counted), counted)


def with_classes(cell: Cell, counts: Callable[[Any], Any], whole: Callable[[Any], Any]) -> str:
    """Errors over the repeats as an exact share of ``whole``, then their top classes: ``3 of 900 (0.33%): 500 3``;
    ``-`` when no repeat recorded them."""
    per_rec = [(_added([counts(r)]), known(whole(r))) for r in cell.records]
    recorded = [(sum(c.values()), w) for c, w in per_rec if c is not None]
    if not recorded:
        return "-"
    added = _added(counts(r) for r in cell.records) or {}
    total = sum(added.values())
    text = _share_of(total, recorded)
    return f"{text}: {_top(added)}" if total else text


def attempts(rec: Measured) -> int | None:
    """Operations a db/request cell tried (over warm-up and window: what its counts are counted over), or a stack
    cell's requests in the window.  A db cell's errors of the connect phase happen before its loop counts
    operations, so when its errors outnumber the loop's operations, the errors are the operations tried."""
    if isinstance(rec, StackRecord):
        return known(rec.requests)
    total = known(rec.ops_total)
    errors = known(rec.error_count)
    if isinstance(total, int) and isinstance(errors, int):
        return max(total, errors)
    return total


def repeats_of(records: Sequence[Record]) -> int:
    """The most repeats any measured cell of ``records`` has (1 when none was repeated)."""
    return max((cell.n for cell in cells(records)), default=1)


# --- what happened in a cell, in words

#: Outcome names, in the order they are listed when several happened.
FAILURES = ("skipped", "hung", "failed to run", "wrong Local", "silent wrong", "wrong results", "errors",
            "blocks the hub")
#: The one failure whose replies still count: every reply right, but the event loop stalled past the bound
#: (:mod:`bench.cell.db.hub`).
BLOCKS_HUB = "blocks the hub"


def _errors_of(rec: Measured) -> int:
    """Errors of one record: a db/request cell's error classes; a stack cell's HTTP errors and requests unanswered."""
    if isinstance(rec, StackRecord):
        groups = [known(rec.http_errors) or {}, known(rec.client_errors) or {}]
    else:
        groups = [known(rec.errors) or {}]
    return int(sum(v for group in groups for v in group.values() if isinstance(v, int | float)))


def failures(rec: Measured) -> list[str]:
    """What went wrong in one measurement, by :data:`FAILURES` name ([] when it came back clean).

    ``silent wrong``: replies that answered another operation (or request) with no error; ``wrong Local``: a
    request that read another request's context; ``wrong results``: wrong replies that cannot be attributed;
    ``errors``: errors raised, HTTP errors, requests with no reply -- or a failing outcome no count explains;
    ``failed to run``: a stack cell whose server or load never ran; ``hung``; ``skipped``; ``blocks the hub``: its
    event loop (gevent's hub, asyncio's loop) stalled past the bound while it ran.
    """
    if rec.outcome == "skipped":
        return [rec.outcome]
    if rec.outcome == "hung":
        return ["hung", *([BLOCKS_HUB] if blocks_hub(rec) else [])]
    if isinstance(rec, StackRecord):
        local, silent, other = known(rec.wrong_local) or 0, known(rec.silent_wrong) or 0, 0
    else:
        silent = silent_wrong(rec) or 0
        local = (known(rec.local_violations) or 0) if isinstance(rec, RequestRecord) else 0
        other = max(0, (known(rec.wrong_results) or 0) - silent)
    found = [name for name, n in (("wrong Local", local), ("silent wrong", silent), ("wrong results", other)) if n]
    if _errors_of(rec):
        found.append("errors")
    if isinstance(rec, StackRecord) and rec.outcome == "error":
        found.insert(0, "failed to run")
    if rec.outcome != "ok" and not found:
        found.append("errors")
    if blocks_hub(rec):
        found.append(BLOCKS_HUB)
    return found


def blocks_hub(rec: Measured) -> bool:
    """Whether a db/request cell's event loop stalled past the bound (a stack cell is never judged so)."""
    return bool(known(getattr(rec, "blocks_hub", UNSET)))


def outcome_name(cell: Cell) -> str:
    """What happened over a cell's repeats: ``ok``, ``silent wrong``, ``wrong Local, errors``, ``errors in 1 of 3``,
    ``hung``, ``skipped`` -- each name that happened, with how often when not in every measured repeat."""
    measured = [rec for rec in cell.records if rec.outcome != "skipped"]
    if not measured:
        return "skipped"
    seen = [failures(rec) for rec in measured]
    parts = []
    for name in FAILURES:
        k = sum(name in names for names in seen)
        if k:
            parts.append(name if k == len(measured) else f"{name} in {k} of {len(measured)}")
    return ", ".join(parts) or "ok"
