"""What a gate run measures and with which knobs: the plan, its default sizes and thresholds.

:class:`GatePlan` is a :class:`bench.plan.matrix.LocalsPlan` (so it goes to
:func:`bench.exec.locals.run_locals` as it is) plus the database half.  Every default the
command line shows lives here.  :func:`fraction` is the one parser of a threshold, used
for flags and for a baseline file's overrides alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.plan.selection import DbSelection, LocalsPlan

DEFAULT_BASELINE = Path("results") / "baseline.json"
#: Micro-benchmarks: fresh processes (one sample each) x values per process.
MICRO_PROCESSES = 5
MICRO_VALUES = 5
#: Database: repeats per cell (one sample each, every cell a fresh process), seconds measured and warmed up.
DB_REPEATS = 4
DB_DURATION = 0.5
DB_WARMUP = 0.25
DB_LOADS: tuple[str, ...] = ("threads", "gevent")
DB_CONCURRENCY: tuple[int, ...] = (4,)
#: The strategy every database ratio is taken against (always measured).
DB_REFERENCE = "locked"
#: Probe cells run at once.
JOBS = 2
KINDS: tuple[str, ...] = ("micro", "db")
DEFAULT_MAX_SLOWDOWN: dict[str, float] = {"micro": 0.10, "db": 0.20}
#: A/B mode (``--against``): both sides measured in the same rounds, so a micro metric's paired ratio holds still
#: to a few per cent (A/A median +0.0%, README) and a smaller effect counts; db pairs keep the baseline's 20%.
DEFAULT_AB_MAX_SLOWDOWN: dict[str, float] = {"micro": 0.03, "db": 0.20}
#: Largest sensible threshold per kind: a db slowdown is a fall in throughput, below 100 %.
MAX_SLOWDOWN_LIMIT: dict[str, float] = {"micro": 10.0, "db": 0.99}
#: Largest sensible significance level.
MAX_ALPHA = 0.5
DEFAULT_ALPHA = 0.05
#: Re-measurements a suspected regression (or re-runs a changed correctness verdict) must survive.
DEFAULT_CONFIRM = 1
#: Runs of every probe cell when a baseline is made: a cell whose verdict differs between them is flaky.
BASELINE_PROBE_RUNS = 3
#: A baseline takes this many times the samples of a gate run (micro processes, db repeats): every gate
#: run compares with its medians, so an error in them would come back every time (docs/gate.md).
BASELINE_MICRO_FACTOR = 3
BASELINE_DB_FACTOR = 2
#: A/B: the fewest pairs of database cells per strategy x load x concurrency; a one-sided signed-rank test of n
#: pairs cannot go below p = 2**-n, and 2**-5 is the first power under the default alpha.
AB_MIN_PAIRS = 5
#: Set to 1 and a missing database server is an error instead of a skip (as for the tests).
ENV_REQUIRE_DB = "CTXBENCH_REQUIRE_DB"


@dataclass(frozen=True, kw_only=True)
class GatePlan(LocalsPlan):
    """A validated selection and the sizes of the quick matrix: the locals plan plus the database half."""

    db: bool
    strategies: tuple[str, ...]
    db_loads: tuple[str, ...]
    concurrency: tuple[int, ...]
    db_repeats: int
    db_duration: float
    db_warmup: float
    mysql_url: str | None = None
    #: Also run the quick real-stack matrix and the in-process cells that predict it (``--stack``).
    stack: bool = False

    def settings(self) -> dict[str, Any]:
        """The sizes, as stored with a baseline."""
        return {"workers": self.workers, "micro_processes": self.micro_processes, "micro_values": self.micro_values,
                "db_repeats": self.db_repeats, "db_duration_s": self.db_duration, "db_warmup_s": self.db_warmup}

    def selection(self) -> dict[str, Any]:
        """What was selected, as stored with a baseline and in ``--json``."""
        return {"impls": list(self.impls), "loads": list(self.loads), "probes": list(self.probes), "micro": self.micro,
                "db": self.db, "strategies": list(self.strategies), "db_loads": list(self.db_loads),
                "concurrency": list(self.concurrency), "stack": self.stack}

    def db_selection(self, strategies: Sequence[str] | None = None, loads: Sequence[str] | None = None,
                     concurrency: Sequence[int] | None = None) -> DbSelection:
        """The database cells of this plan at its timing, or of the ``strategies``, ``loads`` and ``concurrency``
        given instead (no request scenario)."""
        return DbSelection(strategies=list(self.strategies if strategies is None else strategies),
                           loads=list(self.db_loads if loads is None else loads),
                           concurrency=list(self.concurrency if concurrency is None else concurrency),
                           duration=self.db_duration, warmup=self.db_warmup)

    def for_baseline(self) -> GatePlan:
        """The same selection with a baseline's larger sample counts."""
        return replace(self, micro_processes=self.micro_processes * BASELINE_MICRO_FACTOR,
                       db_repeats=self.db_repeats * BASELINE_DB_FACTOR)


def default_strategies(loads: tuple[str, ...] | list[str] = DB_LOADS) -> list[str]:
    """Every built-in strategy of the default database matrix expected to be correct under all of ``loads``
    (``global`` is left out: its ops/s come with errors; so are the strategies measured only when named, such as
    the network variants: ``--strategy`` names them)."""
    from bench.cell.strategies import STRATEGIES

    return [name for name, info in STRATEGIES.items()
            if info.expected_safe and info.in_default and set(loads) <= set(info.loads())]


def fraction(label: str, value: Any, high: float) -> float:
    """A number in (0, high]: ``0.1``, ``"0.1"`` or ``"10%"``; ValueError (one line, naming ``label``) otherwise."""
    text = str(value).strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(f"{label}: {value!r} is not a number") from None
    if not math.isfinite(number) or not 0 < number <= high:
        raise ValueError(f"{label}: {value!r} is out of range (0, {high:g}]")
    return number
