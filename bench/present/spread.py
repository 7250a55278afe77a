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

from bench.records.kinds import DbRecord, Record, RequestRecord, StackRecord, known

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
    """What makes two records the same cell measured again (everything but the repeat)."""
    if isinstance(rec, StackRecord):
        return ("stack", rec.server, rec.workers, rec.impl, rec.strategy, rec.concurrency, known(rec.load))
    impl = rec.impl if isinstance(rec, RequestRecord) else None
    return (rec.kind, impl, rec.strategy, rec.load, rec.concurrency, known(rec.processes) or 1)


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
    return [Cell(tuple(sorted(recs, key=lambda r: known(getattr(r, "repeat", None)) or 0)))
            for recs in groups.values()]


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
        while round(pct, digits) >= 100.0:  # 99.95 is not 100
            digits += 1
        text = f"{pct:.{digits}f}"
    return f"{part:,} of {whole:,} ({text}%)"


def repeats_of(records: Sequence[Record]) -> int:
    """The most repeats any measured cell of ``records`` has (1 when none was repeated)."""
    return max((cell.n for cell in cells(records)), default=1)
