"""``ctxbench regress``: a CI gate that fails on a real regression and stays quiet otherwise.

What is promised
    The command runs a quick matrix for the user's selection (the same
    ``--impl``/``--load``/``--probe`` flags as ``ctxbench locals``, and
    ``--strategy``/``--db-load``/``--concurrency``/``--mysql-url``/``--no-db``
    for the database half) and either writes it as the baseline
    (``--update-baseline``) or compares it with the baseline file:

    * **Correctness, exact.**  For every judged probe of every impl x load
      cell: a cell the baseline says isolates (0 violations) that now shows a
      violation fails the gate; a cell the baseline says leaks that now shows
      none fails it too -- the probe has lost its power, and a gate whose
      probes stop seeing leaks would pass anything.  For every database cell,
      a strategy that gave no wrong result and no error in the baseline and
      now gives one fails the gate (the reverse is reported, not judged: an
      unsafe strategy shows its race only when the timing lets it; for the
      same reason ``global``, declared unsafe, is never judged).  A changed
      verdict is run again (``--confirm`` times) before it fails the gate
      (except a database wrong result: the oracle has no false positives): the
      probes move in lock-step, so a real change shows every time, and one
      that comes and goes is reported as *flaky*, not judged -- as is a probe
      cell whose verdict already differed between the baseline's own runs
      (every probe cell runs :data:`BASELINE_PROBE_RUNS` times for a baseline).
    * **Speed, as ratios measured within one run.**  ``micro/IMPL/OP``: the
      impl's ns per op over ``threading.local``'s in the same worker process,
      one sample per process (the median of its rounds' ratios: the harness
      times every subject in each round, see :func:`per_process_ratios`).
      ``db/STRATEGY/LOAD/cN``: the strategy's ops/s
      over ``locked``'s at the same load and concurrency, one sample per
      repeat (each cell a fresh process).  A metric *regresses* when its
      median slows down by more than ``--max-slowdown`` for its kind (micro:
      the ratio rises by more than that fraction; db: it falls by more than
      that fraction) AND a one-sided Mann-Whitney U test (:mod:`bench.gate.stats`)
      says ``now`` is slower than the baseline samples at ``--alpha``; and
      then again in ``--confirm`` fresh re-measurements of just that metric.
      The mirror image is reported as *improved*, never as a failure.  A
      database repeat during which the server also served another client
      (its own counters show statements the cell did not send), or the
      machine was saturated by other work (load average), gives no sample
      (:func:`disturbed_cells`): a neighbour moves a pool of four connections
      and ``locked``'s one very differently; too few samples left and the
      metric is reported as undecidable rather than judged.

    Output: a table of every compared metric (baseline median ± MAD, now, the
    change, the threshold, the p-value, the verdict), the correctness verdicts,
    ``--markdown PATH`` for a CI job page, ``--json PATH`` (this run's records
    and every verdict) and ``--charts DIR``.  Exit status: 1 on a regression
    or a correctness failure, 0 when clean, 2 on an error (bad, missing or
    other-schema baseline, unknown names, an impl or cell that fails, nothing
    comparable) -- an error wins over a regression, since an incomplete run
    cannot vouch for anything.

Why it is built like this
    A shared 2-core machine moves absolute timings by tens of per cent from one
    minute to the next, so absolute times are never compared: a ratio to a
    reference measured in the same process (micro) or next to it in the same
    repeat (db) cancels what the machine does to both -- as long as the
    machine is not saturated by others: a strategy whose point is
    parallelism loses it on a saturated box and ``locked`` does not, hence
    the busy-machine and busy-server guards.  A p-value alone would
    cry wolf: between two runs the machine changes in ways no sample within a
    run sees, so with enough samples a tiny real drift looks "significant" --
    hence the minimum effect size.  An effect size alone would cry wolf on a
    single disturbed run -- hence the rank test, which needs the slowdown in
    (nearly) every sample, not in the median alone.  And with dozens of
    metrics, even 1-in-100 per metric would alarm often -- hence the
    confirmation: a suspect is measured again from scratch, and only a
    slowdown seen twice fails the gate (a real one is seen every time; a
    fluke rarely twice).  Each knob is a flag, and per-metric overrides of
    ``max_slowdown``/``alpha`` live in the baseline file (``"overrides"``,
    keys are metric names or fnmatch patterns), kept across
    ``--update-baseline``.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.gate import stats
from bench.cli.args import add_locals_selection, check_writable, count, counts, flatten, seconds
from bench.errors import EXIT_ERROR, EXIT_OK, EXIT_REGRESSION, UsageError
from bench.cell.micro import SUBJECT_PLAIN, SUBJECT_REFERENCE, rotated
from bench.records.io import SCHEMA_VERSION, RecordError, atomic_write_json, atomic_write_text, read_json
from bench.present.tables import markdown_table, md_cell, print_table

#: What a baseline file says it is, so a results file given by mistake is named as such.
BASELINE_FORMAT = "ctxbench-baseline"
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
#: A database cell whose server executed more than this share of its statements (and at least
#: FOREIGN_MIN statements) for someone else was disturbed: its repeat gives no ratio.
FOREIGN_LIMIT = 0.02
FOREIGN_MIN = 50
#: A database cell after which the 1-minute load average exceeded this many runnable tasks per CPU
#: (plus the cell's own threads) shared the machine: its repeat gives no ratio.
BUSY_PER_CPU = 2.0
KINDS: tuple[str, ...] = ("micro", "db")
DEFAULT_MAX_SLOWDOWN: dict[str, float] = {"micro": 0.10, "db": 0.20}
#: Largest sensible threshold per kind: a db slowdown is a fall in throughput, below 100 %.
MAX_SLOWDOWN_LIMIT: dict[str, float] = {"micro": 10.0, "db": 0.99}
DEFAULT_ALPHA = 0.05
#: Re-measurements a suspected regression (or re-runs a changed correctness verdict) must survive.
DEFAULT_CONFIRM = 1
#: Runs of every probe cell when a baseline is made: a cell whose verdict differs between them is flaky.
BASELINE_PROBE_RUNS = 3
#: A baseline takes this many times the samples of a gate run (micro processes, db repeats).  Every gate
#: run and every confirmation is compared with the same baseline medians, so an error in them would
#: come back every time: measured with 5 processes, some metrics sat 5-20 % off in the same direction
#: for ten clean reruns in a row, and the confirmation could not clear them.
BASELINE_MICRO_FACTOR = 3
BASELINE_DB_FACTOR = 2
#: Set to 1 and a missing database server is an error instead of a skip (as for the tests).
ENV_REQUIRE_DB = "CTXBENCH_REQUIRE_DB"

Say = Callable[[str], None]


# ---------------------------------------------------------------------------
# Names and validated inputs
# ---------------------------------------------------------------------------


def micro_name(impl: str, op: str) -> str:
    return f"micro/{impl}/{op}"


def db_name(strategy: str, load: str, concurrency: int) -> str:
    return f"db/{strategy}/{load}/c{concurrency}"


def probe_key(impl: str, load: str, probe: str) -> str:
    return f"probe/{impl}/{load}/{probe}"


def parse_max_slowdown(text: str) -> dict[str, float]:
    """``micro=0.10,db=20%`` -> ``{"micro": 0.1, "db": 0.2}``; kinds not named keep their default."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kind, sep, value = part.partition("=")
        kind = kind.strip()
        if not sep or kind not in KINDS:
            raise argparse.ArgumentTypeError(f"{part!r}: expected KIND=FRACTION with KIND one of {', '.join(KINDS)} (e.g. micro=0.10,db=0.20)")
        out[kind] = check_fraction(f"max slowdown for {kind}", value.strip(), MAX_SLOWDOWN_LIMIT[kind])
    if not out:
        raise argparse.ArgumentTypeError("expected KIND=FRACTION, e.g. micro=0.10,db=0.20")
    return out


def check_fraction(label: str, value: Any, high: float) -> float:
    """A number in (0, high]: ``0.1``, ``"0.1"`` or ``"10%"``; ArgumentTypeError otherwise."""
    text = str(value).strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{label}: {value!r} is not a number") from None
    if isinstance(value, bool) or not math.isfinite(number) or not 0 < number <= high:
        raise argparse.ArgumentTypeError(f"{label}: {value!r} is out of range (0, {high:g}]")
    return number


def parse_alpha(text: str) -> float:
    return check_fraction("alpha", text, 0.5)


@dataclass(frozen=True)
class GatePlan:
    """A validated selection and the sizes of the quick matrix."""

    impls: tuple[str, ...]
    loads: tuple[str, ...]
    probes: tuple[str, ...]
    workers: int
    micro: bool
    micro_processes: int
    micro_values: int
    db: bool
    strategies: tuple[str, ...]
    db_loads: tuple[str, ...]
    concurrency: tuple[int, ...]
    db_repeats: int
    db_duration: float
    db_warmup: float
    mysql_url: str | None = None

    def settings(self) -> dict[str, Any]:
        """The sizes, as stored with a baseline."""
        return {"workers": self.workers, "micro_processes": self.micro_processes, "micro_values": self.micro_values,
                "db_repeats": self.db_repeats, "db_duration_s": self.db_duration, "db_warmup_s": self.db_warmup}

    def selection(self) -> dict[str, Any]:
        return {"impls": list(self.impls), "loads": list(self.loads), "probes": list(self.probes), "micro": self.micro,
                "db": self.db, "strategies": list(self.strategies), "db_loads": list(self.db_loads), "concurrency": list(self.concurrency)}


def default_strategies() -> list[str]:
    """Every built-in strategy expected to be correct (``global`` is left out: its ops/s come with errors)."""
    from bench.cell.strategies import STRATEGIES

    return [name for name, info in STRATEGIES.items() if info.expected_safe]


def plan_from_args(args: argparse.Namespace) -> GatePlan:
    """Validate the selection flags; a one-line UsageError names every unknown name."""
    from bench.plan import matrix

    impls, errors = matrix.select_impls(matrix.split_names(args.impl))
    loads, load_errors = matrix.select_loads(matrix.split_names(args.load))
    errors += load_errors
    try:
        probes = matrix.select_probes(matrix.split_names(args.probe))
    except UsageError as exc:
        errors.append(str(exc))
        probes = []
    strategies = matrix.split_names(args.strategy) or default_strategies()
    if DB_REFERENCE not in strategies:
        strategies.insert(0, DB_REFERENCE)
    db_loads = matrix.split_names(args.db_load) or list(DB_LOADS)
    concurrency = flatten(args.concurrency) or list(DB_CONCURRENCY)
    if not args.no_db:
        from bench.exec.db import validate

        try:
            validate(strategies=strategies, loads=db_loads, concurrency=concurrency, duration=args.db_duration, warmup=args.db_warmup)
        except UsageError as exc:
            errors.append(str(exc))
    if errors:
        more = f" (and {len(errors) - 1} more: {'; '.join(errors[1:])})" if len(errors) > 1 else ""
        raise UsageError(errors[0] + more)
    if not impls or not loads:
        raise UsageError("nothing to run: no valid impl or load selected")
    return GatePlan(
        impls=tuple(impls), loads=tuple(loads), probes=tuple(probes), workers=args.workers or matrix.LOCAL_WORKERS,
        micro=not args.no_micro, micro_processes=args.micro_processes, micro_values=args.micro_values,
        db=not args.no_db, strategies=tuple(strategies), db_loads=tuple(db_loads), concurrency=tuple(concurrency),
        db_repeats=args.db_repeats, db_duration=args.db_duration, db_warmup=args.db_warmup, mysql_url=args.mysql_url,
    )


# ---------------------------------------------------------------------------
# Samples: turning records into ratio samples and correctness entries
# ---------------------------------------------------------------------------


@dataclass
class Metric:
    """One speed metric: a ratio to a reference, one sample per process (micro) or repeat (db)."""

    name: str
    kind: str
    subject: str
    reference: str
    samples: list[float]
    op: str | None = None
    load: str | None = None
    concurrency: int | None = None
    #: Why there are fewer samples than processes or repeats ("" when none is missing).
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "subject": self.subject, "reference": self.reference}
        if self.kind == "micro":
            out["op"] = self.op
        else:
            out.update(load=self.load, concurrency=self.concurrency)
        out["samples"] = [round(s, 6) for s in self.samples]
        return out

    @classmethod
    def from_json(cls, name: str, obj: Any) -> Metric:
        """Parse a baseline entry; ValueError with the reason."""
        if not isinstance(obj, dict):
            raise ValueError(f"speed entry {name!r} is not an object")
        kind = obj.get("kind")
        if kind not in KINDS:
            raise ValueError(f"speed entry {name!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
        samples = stats.check_samples(obj.get("samples") or [], name=f"speed entry {name!r} samples", minimum=2)
        if any(s <= 0 for s in samples):
            raise ValueError(f"speed entry {name!r}: samples must be positive ratios")
        subject, reference = obj.get("subject"), obj.get("reference")
        if not isinstance(subject, str) or not isinstance(reference, str):
            raise ValueError(f"speed entry {name!r}: subject and reference must be names")
        metric = cls(name=name, kind=kind, subject=subject, reference=reference, samples=samples)
        if kind == "micro":
            metric.op = str(obj.get("op"))
        else:
            metric.load, concurrency = str(obj.get("load")), obj.get("concurrency")
            if isinstance(concurrency, bool) or not isinstance(concurrency, int):
                raise ValueError(f"speed entry {name!r}: concurrency must be a whole number")
            metric.concurrency = concurrency
        return metric


def per_process_ratios(rec: Mapping[str, Any], ref: Mapping[str, Any]) -> tuple[list[float], str | None]:
    """One sample per process: the median, over its rounds, of ``rec``'s value over ``ref``'s; (samples, why some are missing or None).

    Micro records hold every value, concatenated per process in order, so
    ``values[k*V + j]`` is round ``j`` of process ``k`` -- and the worker takes
    round ``j`` of every subject together (:mod:`bench.cell.micro`), so the ratio
    of a round compares two timings made a few milliseconds apart, whatever
    the machine's speed did between rounds.  A round whose values are not
    both positive (an op so cheap it sits at the harness floor) gives no
    ratio; a process left with none gives no sample.
    """
    size, count = rec.get("values_per_process"), rec.get("processes")
    values, ref_values = rec.get("values") or [], ref.get("values") or []
    if not isinstance(size, int) or not isinstance(count, int) or size < 1 or count < 1:
        return [], "record lacks processes/values_per_process"
    if count != ref.get("processes") or size != ref.get("values_per_process") or len(values) != count * size or len(ref_values) != count * size:
        return [], f"its values and {ref.get('impl')}'s do not line up process by process"
    samples, dropped = [], 0
    for k in range(count):
        rounds = [mine / theirs for mine, theirs in zip(values[k * size:(k + 1) * size], ref_values[k * size:(k + 1) * size], strict=True)
                  if mine > 0 and theirs > 0]
        if rounds:
            samples.append(stats.median(rounds))
        else:
            dropped += 1
    return samples, (f"{dropped} of {count} processes at the harness floor (values <= 0 ns)" if dropped else None)


def micro_metrics(records: Iterable[Mapping[str, Any]], notes: list[str]) -> dict[str, Metric]:
    """One metric per (impl, op) of the micro records, threading.local and the floor excluded."""
    micro = {(r["impl"], r["op"]): r for r in records if r.get("kind") == "micro"}
    out: dict[str, Metric] = {}
    for (impl, op), rec in micro.items():
        if impl in (SUBJECT_PLAIN, SUBJECT_REFERENCE):
            continue
        name = micro_name(impl, op)
        ref = micro.get((SUBJECT_REFERENCE, op))
        if ref is None:
            notes.append(f"{name}: not compared: {SUBJECT_REFERENCE} was not measured for {op}")
            continue
        samples, why = per_process_ratios(rec, ref)
        if why:
            notes.append(f"{name}: {why}")
        if len(samples) >= 2:
            out[name] = Metric(name, "micro", impl, SUBJECT_REFERENCE, samples, op=op)
    return out


def _usable(rec: Mapping[str, Any] | None) -> bool:
    value = rec.get("ops_per_s") if rec else None
    return bool(rec) and rec.get("outcome") == "ok" and isinstance(value, int | float) and value > 0  # type: ignore[union-attr]


def _own_surplus(rec: Mapping[str, Any]) -> float | None:
    """Statements the server executed beyond the client's, per client statement (None when the record lacks the counts)."""
    surplus, client = rec.get("statement_surplus"), rec.get("client_statements")
    if not isinstance(surplus, int | float) or not isinstance(client, int | float) or client <= 0:
        return None
    return float(surplus) / float(client)


def disturbed_cells(rounds: Sequence[Sequence[Mapping[str, Any]]]) -> set[tuple[int, str, str, int]]:
    """(repeat, strategy, load, concurrency) of the cells that shared the server or the machine with other work.

    The machine: the 1-minute load average read after the cell was above
    :func:`busy_limit` -- on a saturated box a strategy whose point is
    parallelism (a pool of four connections) loses it and ``locked`` does
    not, so the ratio moves with the neighbour, not with the code (seen: own
    -connection / locked at 2.6 on a quiet 2-core box, 1.0 at load 18).

    The server:
    The server's counters are server-wide, so a cell's ``statement_surplus``
    (statements executed minus statements the cell sent) holds the strategy's
    own additions (a ROLLBACK per return, a ping per checkout: the same share
    of its statements every time) plus anyone else's traffic.  The smallest
    share over a cell's repeats is taken as the strategy's own; a repeat with
    more than :data:`FOREIGN_LIMIT` of its statements (and at least
    :data:`FOREIGN_MIN` statements) beyond that was shared with another client
    -- another benchmark on the same server moves a strategy with four
    connections and ``locked`` with one very differently, so such a ratio says
    nothing about the code.
    """
    shares: dict[tuple[str, str, int], list[tuple[int, float, float, float]]] = {}
    for index, records in enumerate(rounds):
        for rec in records:
            share = _own_surplus(rec) if rec.get("kind") == "db" else None
            if share is not None:
                key = (rec["strategy"], rec["load"], rec["concurrency"])
                shares.setdefault(key, []).append((index, share, float(rec["statement_surplus"]), float(rec["client_statements"])))
    out: set[tuple[int, str, str, int]] = set()
    for index, records in enumerate(rounds):
        for rec in records:
            load_1m = rec.get("machine_load_1m") if rec.get("kind") == "db" else None
            if isinstance(load_1m, int | float) and load_1m > busy_limit(rec):
                out.add((index, rec["strategy"], rec["load"], rec["concurrency"]))
    for (strategy, load, c), rows in shares.items():
        own = min(share for _, share, _, _ in rows)
        for index, _share, surplus, client in rows:
            foreign = surplus - own * client
            if foreign > max(FOREIGN_MIN, FOREIGN_LIMIT * client):
                out.add((index, strategy, load, c))
    return out


def db_metrics(rounds: Sequence[Sequence[Mapping[str, Any]]], notes: list[str]) -> dict[str, Metric]:
    """One metric per (strategy, load, concurrency): ops/s over ``locked``'s, one sample per repeat.

    A repeat in which either cell was disturbed (:func:`disturbed_cells`) gives no sample.
    """
    samples: dict[tuple[str, str, int], list[float]] = {}
    shared: dict[tuple[str, str, int], int] = {}
    disturbed = disturbed_cells(rounds)
    for index, records in enumerate(rounds):
        cells = {(r["strategy"], r["load"], r["concurrency"]): r for r in records if r.get("kind") == "db"}
        for (strategy, load, c), rec in cells.items():
            if strategy == DB_REFERENCE:
                continue
            ref = cells.get((DB_REFERENCE, load, c))
            series = samples.setdefault((strategy, load, c), [])
            if (index, strategy, load, c) in disturbed or (index, DB_REFERENCE, load, c) in disturbed:
                shared[strategy, load, c] = shared.get((strategy, load, c), 0) + 1
            elif _usable(rec) and _usable(ref):
                series.append(float(rec["ops_per_s"]) / float(ref["ops_per_s"]))  # type: ignore[index]
    out: dict[str, Metric] = {}
    for (strategy, load, c), series in samples.items():
        name = db_name(strategy, load, c)
        left_out = shared.get((strategy, load, c), 0)
        if left_out:
            notes.append(f"{name}: {left_out} of {len(rounds)} repeats left out: the server or the machine was busy with other work at the time")
        if len(series) + left_out < len(rounds):
            notes.append(f"{name}: {len(rounds) - len(series) - left_out} of {len(rounds)} repeats gave no ratio (a cell not ok, or 0 ops/s)")
        note = f"{left_out} of {len(rounds)} repeats left out (server or machine busy with other work)" if left_out else ""
        out[name] = Metric(name, "db", strategy, DB_REFERENCE, series, load=load, concurrency=c, note=note)
    return out


def probe_entries(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Correctness entries of the judged probes: violations and checks per impl x load x probe."""
    from bench.cell.probes import JUDGED

    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec.get("kind") != "probe" or rec.get("probe") not in JUDGED or rec.get("outcome") != "ok":
            continue
        if not isinstance(rec.get("violations"), int):
            continue
        out[probe_key(rec["impl"], rec["load"], rec["probe"])] = {
            "kind": "probe", "impl": rec["impl"], "load": rec["load"], "probe": rec["probe"],
            "violations": rec["violations"], "checks": rec.get("checks"),
        }
    return out


def db_entries(rounds: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Correctness entries of the database cells: wrong results and errors summed over the repeats."""
    out: dict[str, dict[str, Any]] = {}
    for records in rounds:
        for rec in records:
            if rec.get("kind") != "db" or rec.get("outcome") == "skipped":
                continue
            name = db_name(rec["strategy"], rec["load"], rec["concurrency"])
            entry = out.setdefault(name, {"kind": "db", "strategy": rec["strategy"], "load": rec["load"], "concurrency": rec["concurrency"],
                                          "wrong_results": 0, "errors": 0, "error_classes": {}, "repeats": 0})
            entry["repeats"] += 1
            entry["wrong_results"] += int(rec.get("wrong_results") or 0)
            for label, n in (rec.get("errors") or {}).items():
                entry["errors"] += int(n)
                entry["error_classes"][label] = entry["error_classes"].get(label, 0) + int(n)
    return out


# ---------------------------------------------------------------------------
# Running the quick matrix
# ---------------------------------------------------------------------------


@dataclass
class Measurement:
    """What one run of the quick matrix produced."""

    environment: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    speed: dict[str, Metric] = field(default_factory=dict)
    correctness: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Why the database half did not run (None: it ran, or it was not asked for).
    db_skipped: str | None = None
    db_ran: bool = False
    seconds: float = 0.0


def run_db_rounds(target: Any, strategies: Sequence[str], loads: Sequence[str], concurrency: Sequence[int], *, repeats: int,
                  duration: float, warmup: float, say: Say) -> tuple[list[list[dict[str, Any]]], list[str]]:
    """``repeats`` rounds of every cell, each cell a fresh process; records per round, and error lines.

    Within a round the cells of one load and concurrency run back to back,
    the reference among them, in an order rotated from round to round: a
    ratio's two halves are measured seconds apart, and no strategy always
    runs first or last.
    """
    from bench.exec.db import run_db

    rounds: list[list[dict[str, Any]]] = []
    errors: list[str] = []
    groups = [(load, c) for load in loads for c in concurrency]
    for r in range(repeats):
        records: list[dict[str, Any]] = []
        for g, (load, c) in enumerate(groups):
            order = rotated(list(strategies), r + g, max(repeats, 1))
            say(f"db: repeat {r + 1}/{repeats}, {load} c={c}: {', '.join(order)}")
            for strategy in order:  # one cell at a time, so the machine's load can be read after each
                recs, errs = run_db(target, strategies=(strategy,), loads=(load,), concurrency=(c,), duration=duration, warmup=warmup, ceiling=False)
                load_1m = machine_load()
                for rec in recs:
                    rec["repeat"] = r
                    rec["machine_load_1m"] = load_1m
                records += recs
                errors += [e for e in errs if e not in errors]
        rounds.append(records)
    return rounds, errors


def machine_load() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def busy_limit(rec: Mapping[str, Any]) -> float:
    """The load above which a database cell shared the machine with other work.

    :data:`BUSY_PER_CPU` runnable tasks per CPU, plus what the cell itself
    keeps runnable: its client threads (one per worker under ``threads``, one
    under gevent) and, on a local server, up to one server thread per
    connection.
    """
    concurrency = int(rec.get("concurrency") or 1)
    client = concurrency if rec.get("load") == "threads" else 1
    return BUSY_PER_CPU * (os.cpu_count() or 1) + client + concurrency


def find_target(url: str | None, say: Say) -> tuple[Any, Any, str | None]:
    """(server handle, target, None) or (None, None, why the database half is skipped).

    A URL the user gave that does not work is a UsageError (from
    :func:`bench.server.mysql.find_server`); no server at all is a skip, unless
    ``CTXBENCH_REQUIRE_DB=1``.
    """
    from bench.server.mysql import ServerUnavailable, find_server

    try:
        handle = find_server(url, progress=say)
    except ServerUnavailable as exc:
        if os.environ.get(ENV_REQUIRE_DB) == "1":
            raise UsageError(f"{ENV_REQUIRE_DB}=1, but {exc.reason}") from None
        return None, None, exc.reason
    return handle, handle.target, None


def measure(plan: GatePlan, target: Any, *, db_skipped: str | None = None, quiet: bool = False, jobs: int = 2, say: Say | None = None) -> Measurement:
    """Run the probes, the micro-benchmarks and, with a server ``target``, the database rounds of ``plan``.

    ``target`` None with ``plan.db``: the database half is skipped for the reason ``db_skipped``.
    """
    from bench.records.environment import fingerprint, load_average
    from bench.exec.locals import run_locals
    from bench.plan.matrix import LocalsPlan

    tell = say or (lambda _line: None)
    started = time.monotonic()
    out = Measurement(environment=fingerprint())
    locals_plan = LocalsPlan(impls=plan.impls, loads=plan.loads, probes=plan.probes, workers=plan.workers, micro=plan.micro,
                             micro_processes=plan.micro_processes, micro_values=plan.micro_values)
    outcome = run_locals(locals_plan, jobs=jobs, quiet=quiet)
    out.records += outcome.records
    out.errors += outcome.errors
    out.correctness.update(probe_entries(outcome.records))
    out.speed.update(micro_metrics(outcome.records, out.notes))
    if plan.db and target is None:
        out.db_skipped = db_skipped or "no MySQL-protocol server"
    elif plan.db:
        out.environment["db_server"] = target.redacted_url()
        rounds, errors = run_db_rounds(target, plan.strategies, plan.db_loads, plan.concurrency, repeats=plan.db_repeats,
                                       duration=plan.db_duration, warmup=plan.db_warmup, say=tell)
        out.db_ran = True
        out.errors += errors
        for records in rounds:
            out.records += records
        out.correctness.update(db_entries(rounds))
        out.speed.update(db_metrics(rounds, out.notes))
    out.environment["load_average_end"] = load_average()
    out.seconds = time.monotonic() - started
    return out


def remeasure(plan: GatePlan, target: Any, names: Sequence[str], baseline: Baseline, *, say: Say) -> tuple[dict[str, Metric], list[str]]:
    """Fresh samples of just the metrics ``names``: their impls (with threading.local) or strategies (with locked)."""
    from bench.exec.micro import run_micro

    notes: list[str] = []
    errors: list[str] = []
    fresh: dict[str, Metric] = {}
    wanted = [baseline.speed[n] for n in names]
    micro = [m for m in wanted if m.kind == "micro"]
    if micro:
        impls = list(dict.fromkeys(m.subject for m in micro))
        ops = list(dict.fromkeys(str(m.op) for m in micro))
        say(f"confirming {len(micro)} micro metric(s): {', '.join(impls)} x {', '.join(ops)}")
        records, errs = run_micro(impls, ops=ops, processes=plan.micro_processes, values=plan.micro_values, progress=say)
        errors += errs
        fresh.update(micro_metrics(records, notes))
    db = [m for m in wanted if m.kind == "db"]
    if db and target is None:
        errors.append("cannot confirm database metrics: no server")
    elif db:
        for load, c in dict.fromkeys((str(m.load), int(m.concurrency or 0)) for m in db):
            strategies = [DB_REFERENCE, *dict.fromkeys(m.subject for m in db if m.load == load and m.concurrency == c)]
            say(f"confirming database metric(s) at {load} c={c}: {', '.join(strategies[1:])}")
            rounds, errs = run_db_rounds(target, strategies, [load], [c], repeats=plan.db_repeats, duration=plan.db_duration,
                                         warmup=plan.db_warmup, say=say)
            errors += errs
            fresh.update(db_metrics(rounds, notes))
    return {n: fresh[n] for n in names if n in fresh}, errors


# ---------------------------------------------------------------------------
# The baseline file
# ---------------------------------------------------------------------------


@dataclass
class Baseline:
    """A parsed baseline file."""

    path: Path
    created: str | None
    environment: dict[str, Any]
    settings: dict[str, Any]
    selection: dict[str, Any]
    correctness: dict[str, dict[str, Any]]
    speed: dict[str, Metric]
    overrides: dict[str, dict[str, float]]
    db_skipped: str | None = None


def _check_overrides(path: Path, raw: Any) -> dict[str, dict[str, float]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RecordError(f"{path}: 'overrides' must be an object of metric name -> {{max_slowdown, alpha}}")
    out: dict[str, dict[str, float]] = {}
    for pattern, entry in raw.items():
        if not isinstance(entry, dict) or not entry or set(entry) - {"max_slowdown", "alpha"}:
            raise RecordError(f"{path}: override {pattern!r} must be an object with max_slowdown and/or alpha")
        kind = str(pattern).partition("/")[0]
        limit = MAX_SLOWDOWN_LIMIT.get(kind, max(MAX_SLOWDOWN_LIMIT.values()))
        try:
            out[str(pattern)] = {
                **({"max_slowdown": check_fraction(f"override {pattern!r} max_slowdown", entry["max_slowdown"], limit)} if "max_slowdown" in entry else {}),
                **({"alpha": check_fraction(f"override {pattern!r} alpha", entry["alpha"], 0.5)} if "alpha" in entry else {}),
            }
        except argparse.ArgumentTypeError as exc:
            raise RecordError(f"{path}: {exc}") from None
    return out


def read_baseline(path: Path) -> Baseline:
    """Parse and check a baseline file; RecordError (one line, naming the file) for anything wrong with it."""
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise RecordError(f"{path}: not a ctxbench baseline (not a JSON object)")
    if doc.get("format") != BASELINE_FORMAT:
        hint = " (it looks like a results file; make a baseline with --update-baseline)" if "records" in doc else ""
        raise RecordError(f"{path}: not a ctxbench baseline{hint}")
    if doc.get("schema") != SCHEMA_VERSION:
        raise RecordError(f"{path}: baseline schema version {doc.get('schema')!r}, this ctxbench reads {SCHEMA_VERSION}; "
                          f"make a new one with --update-baseline")
    correctness, speed = doc.get("correctness"), doc.get("speed")
    if not isinstance(correctness, dict) or not isinstance(speed, dict):
        raise RecordError(f"{path}: malformed baseline ('correctness' and 'speed' must be objects)")
    for name, entry in correctness.items():
        ok = isinstance(entry, dict) and entry.get("kind") in ("probe", "db")
        count = (entry.get("violations") if entry.get("kind") == "probe" else entry.get("wrong_results")) if ok else None
        if not ok or isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise RecordError(f"{path}: malformed correctness entry {name!r}")
    try:
        metrics = {str(name): Metric.from_json(str(name), entry) for name, entry in speed.items()}
    except ValueError as exc:
        raise RecordError(f"{path}: {exc}") from None
    return Baseline(path=path, created=doc.get("created"), environment=doc.get("environment") or {}, settings=doc.get("settings") or {},
                    selection=doc.get("selection") or {}, correctness=correctness, speed=metrics,
                    overrides=_check_overrides(path, doc.get("overrides")), db_skipped=doc.get("db_skipped"))


def baseline_document(measurement: Measurement, plan: GatePlan, overrides: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """The JSON a baseline file holds."""
    return {
        "format": BASELINE_FORMAT,
        "schema": SCHEMA_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": measurement.environment,
        "settings": plan.settings(),
        "selection": plan.selection(),
        "db_skipped": measurement.db_skipped,
        "overrides": dict(overrides),
        "correctness": measurement.correctness,
        "speed": {name: metric.to_json() for name, metric in sorted(measurement.speed.items()) if len(metric.samples) >= 2},
    }


def baseline_warnings(measurement: Measurement, thresholds: Thresholds) -> list[str]:
    """What makes a new baseline a poor yardstick: a busy machine, metrics whose own spread rivals their threshold."""
    out = []
    cpus = os.cpu_count() or 1
    loads = [x for x in (measurement.environment.get("load_average_start") or [])[:1] + (measurement.environment.get("load_average_end") or [])[:1]
             if isinstance(x, int | float)]
    if loads and max(loads) > BUSY_PER_CPU * cpus:
        out.append(f"the machine was busy while this baseline was measured (load average up to {max(loads):g} on {cpus} CPUs); "
                   "a baseline from a quiet machine makes a sharper gate")
    noisy = []
    for name, metric in sorted(measurement.speed.items()):
        if len(metric.samples) >= 2:
            centre = stats.median(metric.samples)
            if centre > 0 and stats.mad(metric.samples) / centre > thresholds.for_metric(name, metric.kind)[0] / 2:
                noisy.append(name)
    if noisy:
        out.append(f"{len(noisy)} metric(s) spread by more than half their threshold (MAD/median): {', '.join(noisy[:6])}"
                   + (" ..." if len(noisy) > 6 else "") + "; more samples (--micro-processes, --db-repeats) or an override would steady them")
    return out


def previous_overrides(path: Path, say: Say) -> dict[str, dict[str, float]]:
    """The overrides of the baseline about to be replaced (kept across --update-baseline), if it is readable."""
    if not path.exists():
        return {}
    try:
        return read_baseline(path).overrides
    except RecordError as exc:
        say(f"note: the old baseline is not readable ({exc}); no overrides carried over")
        return {}


# ---------------------------------------------------------------------------
# Comparing
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """Minimum slowdown per kind and alpha, with per-metric overrides (exact names first, then patterns in file order)."""

    max_slowdown: Mapping[str, float]
    alpha: float
    overrides: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def for_metric(self, name: str, kind: str) -> tuple[float, float]:
        entry = self.overrides.get(name)
        if entry is None:
            entry = next((v for k, v in self.overrides.items() if fnmatch.fnmatchcase(name, k)), {})
        return float(entry.get("max_slowdown", self.max_slowdown[kind])), float(entry.get("alpha", self.alpha))


def slowdown_of(kind: str, base_median: float, now_median: float) -> float:
    """How much slower, as a fraction (negative: faster).  micro: the ns ratio rose by it; db: the ops/s ratio fell by it."""
    change = stats.relative_change(base_median, now_median)
    return change if kind == "micro" else -change


@dataclass
class SpeedResult:
    """The comparison of one metric."""

    name: str
    kind: str
    base: list[float]
    now: list[float]
    max_slowdown: float
    alpha: float
    slowdown: float
    p_slower: float
    p_faster: float
    verdict: str  # regression | improved | ok | undecidable
    reason: str = ""
    confirmations: list[SpeedResult] = field(default_factory=list)

    @property
    def p_value(self) -> float:
        """The p-value of the test in the direction the median moved."""
        return self.p_slower if self.slowdown >= 0 else self.p_faster

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.name, "kind": self.kind, "verdict": self.verdict, "reason": self.reason,
                "baseline_median": stats.median(self.base), "baseline_mad": stats.mad(self.base), "baseline_samples": self.base,
                "now_median": stats.median(self.now) if self.now else None, "now_mad": stats.mad(self.now) if self.now else None,
                "now_samples": [round(s, 6) for s in self.now],
                "slowdown": round(self.slowdown, 5), "p_slower": self.p_slower, "p_faster": self.p_faster,
                "max_slowdown": self.max_slowdown, "alpha": self.alpha, "confirmations": [c.to_json() for c in self.confirmations]}


def compare_speed(base: Metric, now: Metric, max_slowdown: float, alpha: float) -> SpeedResult:
    """Regression, improvement or neither, for one metric (see the module docstring)."""
    if len(now.samples) < 2:
        slowdown = slowdown_of(base.kind, stats.median(base.samples), stats.median(now.samples)) if now.samples else 0.0
        return SpeedResult(base.name, base.kind, list(base.samples), list(now.samples), max_slowdown, alpha, slowdown, 1.0, 1.0, "undecidable",
                           f"{len(now.samples)} usable sample(s) now" + (f": {now.note}" if now.note else ""))
    slower, faster = ("greater", "less") if base.kind == "micro" else ("less", "greater")
    slowdown = slowdown_of(base.kind, stats.median(base.samples), stats.median(now.samples))
    p_slower = stats.shift_test(base.samples, now.samples, slower).p_value  # type: ignore[arg-type]
    p_faster = stats.shift_test(base.samples, now.samples, faster).p_value  # type: ignore[arg-type]
    result = SpeedResult(base.name, base.kind, list(base.samples), list(now.samples), max_slowdown, alpha, slowdown, p_slower, p_faster, "ok")
    floor = stats.min_p_value(len(base.samples), len(now.samples))
    if floor > alpha:
        result.verdict = "undecidable"
        result.reason = f"{len(base.samples)} vs {len(now.samples)} samples cannot reach p <= {alpha:g} (best possible {floor:.3g})"
    elif slowdown > max_slowdown and p_slower <= alpha:
        result.verdict = "regression"
    elif -slowdown > max_slowdown and p_faster <= alpha:
        result.verdict = "improved"
    elif abs(slowdown) > max_slowdown:
        result.reason = "not significant"
    elif min(p_slower, p_faster) <= alpha:
        result.reason = "under threshold"
    return result


@dataclass
class CorrectnessResult:
    name: str
    kind: str
    verdict: str  # ok | fail | flaky | new | missing
    text: str
    base: dict[str, Any] | None
    now: dict[str, Any] | None
    #: The cell's entries in the re-runs that confirmed (or cleared) a change.
    reruns: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "verdict": self.verdict, "text": self.text, "baseline": self.base, "now": self.now,
                "reruns": self.reruns}


def _probe_text(entry: Mapping[str, Any]) -> str:
    return f"{entry['violations']}/{entry.get('checks')}"


def _db_bad(entry: Mapping[str, Any]) -> int:
    return int(entry.get("wrong_results") or 0) + int(entry.get("errors") or 0)


def _db_text(entry: Mapping[str, Any]) -> str:
    classes = ", ".join(f"{k} {v}" for k, v in (entry.get("error_classes") or {}).items())
    return f"{entry.get('wrong_results', 0)} wrong, {entry.get('errors', 0)} errors" + (f" ({classes})" if classes else "")


def expected_safe(strategy: str) -> bool:
    """False only for a built-in strategy declared unsafe (``global``); a user's factory is expected to be correct."""
    from bench.cell.strategies import STRATEGIES

    info = STRATEGIES.get(strategy)
    return info.expected_safe if info else True


def compare_correctness(name: str, base: Mapping[str, Any], now: Mapping[str, Any]) -> CorrectnessResult:
    """Exact: a change between 'isolates' and 'leaks' either way fails (probes); clean -> not clean fails (db).

    A database strategy declared unsafe (``global``) is reported, never judged:
    whether its race shows in a short window is luck, in the baseline and now.
    A probe cell whose verdict changed between the baseline's own runs is
    ``flaky``: reported, never judged.
    """
    if base["kind"] == "probe":
        was, is_ = base["violations"], now["violations"]
        if base.get("stable") is False:
            return CorrectnessResult(name, "probe", "flaky", f"flaky in the baseline (violations per run: {base.get('runs')}), now {_probe_text(now)}: not judged",
                                     dict(base), dict(now))
        if was == 0 and is_ > 0:
            return CorrectnessResult(name, "probe", "fail", f"now leaks: {_probe_text(now)} (baseline isolated: {_probe_text(base)})", dict(base), dict(now))
        if was > 0 and is_ == 0:
            return CorrectnessResult(name, "probe", "fail", f"the probe lost its power: 0 violations now, baseline {_probe_text(base)}", dict(base), dict(now))
        word = "leaks, as in the baseline" if is_ else "isolates"
        return CorrectnessResult(name, "probe", "ok", f"{word}: {_probe_text(now)} (baseline {_probe_text(base)})", dict(base), dict(now))
    was, is_ = _db_bad(base), _db_bad(now)
    if is_ > 0 and not expected_safe(str(base.get("strategy"))):
        return CorrectnessResult(name, "db", "ok", f"{_db_text(now)}: a strategy known to be unsafe (not judged; baseline {_db_text(base)})",
                                 dict(base), dict(now))
    if was == 0 and is_ > 0:
        return CorrectnessResult(name, "db", "fail", f"now {_db_text(now)} (baseline clean)", dict(base), dict(now))
    if was > 0 and is_ == 0:
        return CorrectnessResult(name, "db", "ok", f"clean now, baseline {_db_text(base)} (a race shows when the timing allows: not judged)",
                                 dict(base), dict(now))
    return CorrectnessResult(name, "db", "ok", f"{_db_text(now)} (baseline {_db_text(base)})", dict(base), dict(now))


def in_selection(entry: Mapping[str, Any], plan: GatePlan, measurement: Measurement) -> bool:
    """Whether a baseline entry is one this run was asked to measure again."""
    kind = entry.get("kind")
    if kind == "probe":
        return entry.get("impl") in plan.impls and entry.get("load") in plan.loads and entry.get("probe") in plan.probes
    if kind == "micro":
        return plan.micro and entry.get("subject") in plan.impls
    if kind == "db":
        subject = entry.get("strategy", entry.get("subject"))
        return (measurement.db_ran and subject in plan.strategies and entry.get("load") in plan.db_loads
                and entry.get("concurrency") in plan.concurrency)
    return False


@dataclass
class GateOutcome:
    """Every verdict of one comparison."""

    speed: list[SpeedResult] = field(default_factory=list)
    correctness: list[CorrectnessResult] = field(default_factory=list)
    new_speed: list[str] = field(default_factory=list)
    missing_speed: list[str] = field(default_factory=list)
    outside_selection: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[SpeedResult]:
        return [r for r in self.speed if r.verdict == "regression"]

    @property
    def failures(self) -> list[CorrectnessResult]:
        return [r for r in self.correctness if r.verdict == "fail"]

    @property
    def flaky(self) -> list[CorrectnessResult]:
        return [r for r in self.correctness if r.verdict == "flaky"]

    @property
    def improvements(self) -> list[SpeedResult]:
        return [r for r in self.speed if r.verdict == "improved"]

    def compared(self) -> int:
        return sum(1 for r in self.speed if r.verdict != "undecidable") + sum(1 for r in self.correctness if r.verdict in ("ok", "fail"))


def compare(baseline: Baseline, measurement: Measurement, plan: GatePlan, thresholds: Thresholds) -> GateOutcome:
    """Compare one measurement with the baseline, within the plan's selection."""
    outcome = GateOutcome()
    for name, base in sorted(baseline.correctness.items()):
        now = measurement.correctness.get(name)
        if not in_selection(base, plan, measurement):
            outcome.outside_selection += 1
        elif now is None:
            outcome.correctness.append(CorrectnessResult(name, base["kind"], "missing", "in the baseline, not measured now", dict(base), None))
        else:
            outcome.correctness.append(compare_correctness(name, base, now))
    for name in sorted(set(measurement.correctness) - set(baseline.correctness)):
        now = measurement.correctness[name]
        outcome.correctness.append(CorrectnessResult(name, now["kind"], "new", "not in the baseline", None, dict(now)))
    for name, metric in sorted(baseline.speed.items()):
        now_metric = measurement.speed.get(name)
        if not in_selection(metric.to_json(), plan, measurement):
            outcome.outside_selection += 1
        elif now_metric is None:
            outcome.missing_speed.append(name)
        else:
            max_slowdown, alpha = thresholds.for_metric(name, metric.kind)
            outcome.speed.append(compare_speed(metric, now_metric, max_slowdown, alpha))
    outcome.new_speed = sorted(set(measurement.speed) - set(baseline.speed))
    outcome.notes += environment_notes(baseline.environment, measurement.environment)
    return outcome


def confirm(outcome: GateOutcome, baseline: Baseline, plan: GatePlan, target: Any, rounds: int, *, say: Say) -> list[str]:
    """Measure every suspected regression again, ``rounds`` times; one that is not seen again every time is cleared.

    Returns error lines (a confirmation that could not run leaves the
    regression standing, and is an error of the run).
    """
    errors: list[str] = []
    for round_index in range(rounds):
        suspects = [r for r in outcome.speed if r.verdict == "regression"]
        if not suspects:
            break
        say(f"{len(suspects)} suspected regression(s); confirming ({round_index + 1}/{rounds}) with a fresh measurement")
        fresh, errs = remeasure(plan, target, [r.name for r in suspects], baseline, say=say)
        errors += errs
        for result in suspects:
            again = fresh.get(result.name)
            if again is None:
                continue
            check = compare_speed(baseline.speed[result.name], again, result.max_slowdown, result.alpha)
            result.confirmations.append(check)
            if check.verdict == "regression":
                result.reason = "confirmed: " + ", ".join(f"{c.slowdown:+.1%} p={c.p_slower:.2g}" for c in result.confirmations)
            else:
                result.verdict = "ok"
                result.reason = (f"not confirmed: first {result.slowdown:+.1%} p={result.p_slower:.2g}, "
                                 f"again {check.slowdown:+.1%} p={check.p_slower:.2g}")
    return errors


def _leaks(entry: Mapping[str, Any]) -> bool:
    return bool(entry["violations"]) if entry["kind"] == "probe" else _db_bad(entry) > 0


Rerun = Callable[[Sequence[str]], tuple[dict[str, dict[str, Any]], list[str]]]


def confirm_correctness(outcome: GateOutcome, rerun: Rerun, rounds: int, *, say: Say) -> list[str]:
    """Run every cell whose verdict changed again, ``rounds`` times; a change not seen every time is ``flaky``, not a failure.

    The probes move their workers in lock-step, so a real change of a Local's
    behaviour shows on every run; a change that comes and goes is the probe
    meeting the machine's timing (seen: ``gevent-local`` x ``threads``
    ``leak`` finding 1 of 24 payloads still alive in one run of six,
    greenlet freeing a dead thread's state lazily).  A wrong result of a
    database cell is never re-run: the oracle has no false positives, and a
    race that shows once is a bug.  Returns error lines.
    """
    errors: list[str] = []
    suspects = [r for r in outcome.correctness if r.verdict == "fail" and not (r.kind == "db" and (r.now or {}).get("wrong_results"))]
    for round_index in range(rounds):
        suspects = [r for r in suspects if r.verdict == "fail"]
        if not suspects:
            break
        say(f"{len(suspects)} changed correctness verdict(s); running those cells again ({round_index + 1}/{rounds})")
        fresh, errs = rerun([r.name for r in suspects])
        errors += errs
        for result in suspects:
            again = fresh.get(result.name)
            if again is None:
                continue
            result.reruns.append(again)
            assert result.now is not None
            if _leaks(again) != _leaks(result.now):
                result.verdict = "flaky"
                text = _probe_text(again) if again["kind"] == "probe" else _db_text(again)
                result.text += f"; not seen again on a re-run ({text}): flaky, not judged"
    for result in suspects:
        if result.verdict == "fail" and result.reruns:
            result.text += f" (seen again on {len(result.reruns)} re-run(s))"
    return errors


def probe_rerun(plan: GatePlan) -> Rerun:
    """A :data:`Rerun` that runs the probe cells of the given keys again, in fresh processes."""
    def rerun(names: Sequence[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        from bench.exec.locals import run_locals
        from bench.plan.matrix import LocalsPlan

        parts = [name.split("/") for name in names if name.startswith("probe/")]
        if not parts:
            return {}, []
        impls = tuple(dict.fromkeys("/".join(p[1:-2]) for p in parts))
        loads = tuple(dict.fromkeys(p[-2] for p in parts))
        probes = tuple(dict.fromkeys(p[-1] for p in parts))
        outcome = run_locals(LocalsPlan(impls=impls, loads=loads, probes=probes, workers=plan.workers, micro=False), quiet=True)
        return probe_entries(outcome.records), outcome.errors

    return rerun


def combined_rerun(plan: GatePlan, target: Any) -> Rerun:
    """Probe cells through :func:`probe_rerun`; database cells (errors only) as ``plan.db_repeats`` more repeats."""
    probes = probe_rerun(plan)

    def rerun(names: Sequence[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        fresh, errors = probes(names)
        cells = [n.split("/") for n in names if n.startswith("db/")]
        if cells and target is not None:
            for strategy, load, c in dict.fromkeys(("/".join(p[1:-2]), p[-2], int(p[-1][1:])) for p in cells):
                rounds, errs = run_db_rounds(target, [strategy], [load], [c], repeats=plan.db_repeats, duration=plan.db_duration,
                                             warmup=plan.db_warmup, say=lambda _line: None)
                errors += errs
                fresh.update(db_entries(rounds))
        return fresh, errors

    return rerun


def mark_stability(correctness: dict[str, dict[str, Any]], runs: Sequence[Mapping[str, Mapping[str, Any]]]) -> None:
    """Record each probe cell's violations in every run; a cell whose verdict (leaks or not) differed is ``stable: false``."""
    for name, entry in correctness.items():
        if entry["kind"] != "probe":
            continue
        counts = [entry["violations"], *(run[name]["violations"] for run in runs if name in run)]
        entry["runs"] = counts
        entry["stable"] = len({bool(c) for c in counts}) == 1


def environment_notes(base: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Differences between the baseline's machine and software and this run's (ratios travel imperfectly)."""
    notes = []
    pairs = [
        ("CPU", (base.get("cpu") or {}).get("model"), (now.get("cpu") or {}).get("model")),
        ("CPU count", (base.get("cpu") or {}).get("count"), (now.get("cpu") or {}).get("count")),
        ("Python", (base.get("python") or {}).get("version"), (now.get("python") or {}).get("version")),
    ]
    for package in ("greenlet", "gevent", "werkzeug", "pymysql", "dbutils", "sqlalchemy"):
        pairs.append((package, (base.get("packages") or {}).get(package), (now.get("packages") or {}).get(package)))
    for label, was, is_ in pairs:
        if was != is_:
            notes.append(f"{label} differs from the baseline's: {was} -> {is_} (ratios are compared anyway; they can move with it)")
    return notes


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _ratio_text(values: Sequence[float]) -> str:
    if not values:
        return "- (n=0)"
    centre = stats.median(values)
    return f"{centre:.3f} ±{stats.mad(values):.3f} (n={len(values)})"


def verdict_text(result: SpeedResult) -> str:
    word = {"regression": "REGRESSION", "improved": "improved", "ok": "ok", "undecidable": "undecidable"}[result.verdict]
    return f"{word}: {result.reason}" if result.reason else word


def speed_rows(outcome: GateOutcome) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the speed table: regressions first, then by name."""
    header = ["metric", "baseline (median ± MAD)", "now", "change", "threshold", "p", "verdict"]
    order = {"regression": 0, "improved": 1, "undecidable": 2, "ok": 3}
    rows = []
    for r in sorted(outcome.speed, key=lambda r: (order[r.verdict], r.name)):
        change = f"{r.slowdown:+.1%} " + ("slower" if r.slowdown >= 0 else "faster")
        rows.append([r.name, _ratio_text(r.base), _ratio_text(r.now), change, f"{r.max_slowdown:.0%} @ {r.alpha:g}", f"{r.p_value:.2g}", verdict_text(r)])
    return header, rows


def correctness_rows(outcome: GateOutcome, *, only_changes: bool = False) -> tuple[list[str], list[list[str]]]:
    header = ["cell", "verdict", "detail"]
    order = {"fail": 0, "flaky": 1, "missing": 2, "new": 3, "ok": 4}
    rows = [[r.name, r.verdict.upper() if r.verdict == "fail" else r.verdict, r.text]
            for r in sorted(outcome.correctness, key=lambda r: (order[r.verdict], r.name))
            if not only_changes or r.verdict != "ok"]
    return header, rows


def headline(outcome: GateOutcome | None, errors: Sequence[str]) -> str:
    if errors:
        return f"ERROR: {len(errors)} error(s); the run is incomplete"
    if outcome is None:
        return "baseline written"
    bad = len(outcome.regressions) + len(outcome.failures)
    undecided = sum(1 for r in outcome.speed if r.verdict == "undecidable")
    flaky = f"; {undecided} speed metric(s) undecidable, not judged" if undecided else ""
    flaky += f"; {len(outcome.flaky)} flaky correctness cell(s) reported, not judged" if outcome.flaky else ""
    if bad:
        return f"FAIL: {len(outcome.regressions)} speed regression(s), {len(outcome.failures)} correctness failure(s){flaky}"
    return f"PASS: no regression in {len(outcome.speed)} speed metric(s) and {len(outcome.correctness)} correctness verdict(s){flaky}"


def summary_lines(outcome: GateOutcome, baseline: Baseline, measurement: Measurement, plan: GatePlan) -> list[str]:
    """Plain sentences under the tables: what was compared, skipped, improved, and what differs."""
    micro = sum(1 for r in outcome.speed if r.kind == "micro")
    lines = [f"compared {len(outcome.speed)} speed metric(s) ({micro} micro, {len(outcome.speed) - micro} db) and "
             f"{sum(1 for r in outcome.correctness if r.verdict in ('ok', 'fail'))} correctness verdict(s) "
             f"against {baseline.path} (made {baseline.created or '?'}, commit {baseline.environment.get('commit') or '?'})"]
    if outcome.improvements:
        lines.append("improved: " + ", ".join(f"{r.name} ({r.slowdown:+.1%})" for r in outcome.improvements))
    if plan.db and not measurement.db_ran:
        lines.append(f"DB metrics skipped: {measurement.db_skipped or 'no server'}")
    elif not plan.db:
        lines.append("DB metrics not run (--no-db)")
    if outcome.missing_speed:
        lines.append(f"in the baseline but not measured now: {', '.join(outcome.missing_speed)}")
    if outcome.new_speed:
        lines.append(f"new, not in the baseline (not compared): {', '.join(outcome.new_speed)}")
    if outcome.outside_selection:
        lines.append(f"{outcome.outside_selection} baseline entr(y/ies) outside this selection, not compared")
    undecidable = [r for r in outcome.speed if r.verdict == "undecidable"]
    if undecidable:
        lines.append(f"{len(undecidable)} metric(s) undecidable, not judged (e.g. {undecidable[0].name}: {undecidable[0].reason})")
    lines += outcome.notes + measurement.notes
    lines.append(f"gate run took {measurement.seconds:.0f} s")
    return lines


def _styled(cell: str) -> str:
    from rich.markup import escape

    text = escape(cell)
    if cell.startswith(("REGRESSION", "FAIL")):
        return f"[bold red]{text}[/bold red]"
    if cell.startswith("improved"):
        return f"[green]{text}[/green]"
    return text


def markdown_summary(outcome: GateOutcome | None, baseline: Baseline | None, measurement: Measurement, plan: GatePlan,
                     errors: Sequence[str], thresholds: Thresholds, confirm: int = DEFAULT_CONFIRM) -> str:
    """The CI job page: the verdict first, then what failed, then every metric."""
    parts = [f"## ctxbench regress: {headline(outcome, errors)}", ""]
    if errors:
        parts += ["### Errors", "", *[f"- `{md_cell(e)}`" for e in errors], ""]
    if outcome is not None and baseline is not None:
        if outcome.regressions or outcome.failures:
            parts += ["### What failed", ""]
            parts += [f"- **{r.name}**: {r.slowdown:+.1%} slower (threshold {r.max_slowdown:.0%}), p={r.p_slower:.2g}"
                      + (f", confirmed {len(r.confirmations)}x" if r.confirmations else "") for r in outcome.regressions]
            parts += [f"- **{r.name}**: {r.text}" for r in outcome.failures]
            parts.append("")
        if outcome.flaky:
            parts += ["### Flaky correctness cells (reported, not judged)", "", *[f"- {r.name}: {md_cell(r.text)}" for r in outcome.flaky], ""]
        parts += ["### Run", "", *[f"- {md_cell(line)}" for line in summary_lines(outcome, baseline, measurement, plan)]]
        parts += ["", "### Speed: ratios to the reference measured in the same run", "",
                  "micro: ns per op / threading.local's, one sample per process; db: ops/s / locked's, one sample per repeat. "
                  f"Regression = slower by more than the threshold AND one-sided Mann-Whitney p <= alpha ({thresholds_text(thresholds)}), "
                  + (f"seen again in {confirm} fresh re-measurement(s)." if confirm else "without re-measurement (--confirm 0)."), ""]
        header, rows = speed_rows(outcome)
        parts += [markdown_table(header, rows) if rows else "_no speed metric compared_", ""]
        header, rows = correctness_rows(outcome, only_changes=True)
        ok = sum(1 for r in outcome.correctness if r.verdict == "ok")
        parts += ["### Correctness", "", f"{ok} verdict(s) as in the baseline.", ""]
        if rows:
            parts += [markdown_table(header, rows), ""]
    else:
        parts += [f"- {len(measurement.speed)} speed metric(s), {len(measurement.correctness)} correctness verdict(s) measured in {measurement.seconds:.0f} s"]
        if measurement.db_skipped:
            parts.append(f"- DB metrics skipped: {md_cell(measurement.db_skipped)}")
    env = measurement.environment
    parts += ["", "<details><summary>Run settings and environment</summary>", "",
              f"- settings: `{plan.settings()}`", f"- CPU: {(env.get('cpu') or {}).get('model')} x{(env.get('cpu') or {}).get('count')}",
              f"- Python {(env.get('python') or {}).get('version')}, commit {env.get('commit')}",
              f"- load average: {env.get('load_average_start')} -> {env.get('load_average_end')}", "", "</details>", ""]
    return "\n".join(parts)


def thresholds_text(thresholds: Thresholds) -> str:
    kinds = ", ".join(f"{k} {v:.0%}" for k, v in thresholds.max_slowdown.items())
    extra = f", {len(thresholds.overrides)} per-metric override(s)" if thresholds.overrides else ""
    return f"thresholds {kinds}, alpha {thresholds.alpha:g}{extra}"


def chart_records(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Records for the standard charts: of the repeats of a db cell, the one with the median ops/s."""
    cells: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    out: list[dict[str, Any]] = []
    for rec in records:
        if rec.get("kind") == "db":
            cells.setdefault((rec["strategy"], rec["load"], rec["concurrency"]), []).append(dict(rec))
        else:
            out.append(dict(rec))
    for repeats in cells.values():
        repeats.sort(key=lambda r: float(r.get("ops_per_s") or 0.0))
        out.append(repeats[len(repeats) // 2])
    return out


def draw_gate(outcome: GateOutcome) -> Any:
    """One row per compared metric: every sample as a slowdown against the baseline median, threshold marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from bench.present import palette

    results = sorted(outcome.speed, key=lambda r: r.name)
    if not results:
        return None
    fig = Figure(figsize=(9.0, 1.2 + 0.28 * len(results)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colours = {"regression": palette.OKABE_ITO["vermillion"], "improved": palette.OKABE_ITO["green"], "ok": palette.OKABE_ITO["blue"],
               "undecidable": palette.OKABE_ITO["purple"]}
    for y, r in enumerate(results):
        centre = stats.median(r.base)
        ax.scatter([100 * slowdown_of(r.kind, centre, s) for s in r.base], [y - 0.15] * len(r.base), s=12, facecolors="none",
                   edgecolors="#7A7A7A", zorder=2)
        ax.scatter([100 * slowdown_of(r.kind, centre, s) for s in r.now], [y + 0.15] * len(r.now), s=14, color=colours[r.verdict], zorder=3)
        ax.plot([100 * r.max_slowdown] * 2, [y - 0.4, y + 0.4], color=palette.OKABE_ITO["vermillion"], linewidth=1, linestyle="--", zorder=1)
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_yticks(range(len(results)), [r.name for r in results])
    ax.invert_yaxis()
    ax.set_xlabel("slower than the baseline median, % (negative: faster)")
    seen = {r.verdict for r in results}
    handles = [Line2D([], [], marker="o", linestyle="none", markerfacecolor="none", markeredgecolor="#7A7A7A", label="baseline samples"),
               *[Line2D([], [], marker="o", linestyle="none", color=c, label=f"now: {v}") for v, c in colours.items() if v in seen],
               Line2D([], [], color=palette.OKABE_ITO["vermillion"], linestyle="--", label="threshold")]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
    fig.suptitle("ctxbench regress: each sample's slowdown against the baseline median")
    return fig


def write_charts(out_dir: Path, records: Sequence[Mapping[str, Any]], outcome: GateOutcome | None) -> list[Path]:
    """The standard charts of this run's records, and ``regress.png``/``.svg`` of the comparison."""
    from bench.present import charts

    written = charts.draw_all(chart_records(records), out_dir)
    fig = draw_gate(outcome) if outcome is not None else None
    if fig is not None:
        for fmt in charts.FORMATS:
            path = out_dir / f"regress.{fmt}"
            fig.savefig(path, format=fmt, dpi=charts.PNG_DPI, metadata={"Date": None} if fmt == "svg" else {}, facecolor="white")
            written.append(path)
    return written


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------


def add_parser(subparsers: Any, parser_class: type[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add ``regress`` to the CLI's subparsers (``parser_class`` is the CLI's one-line-error parser)."""
    p = subparsers.add_parser("regress", help="CI gate: rerun a quick matrix and fail on a real regression against a baseline",
                              description="Compare correctness verdicts exactly and speed ratios statistically with a baseline file.")
    if not isinstance(p, parser_class):  # subparsers made with another class: still one-line errors
        p.error = parser_class.error.__get__(p)  # type: ignore[method-assign]
    sel = p.add_argument_group("selection (as for ctxbench locals / db)")
    add_locals_selection(sel)
    sel.add_argument("--strategy", action="append", metavar="NAME",
                     help="connection strategy or package.module:factory (default: every one expected safe; locked is always measured)")
    sel.add_argument("--db-load", action="append", metavar="NAME", help=f"loads for the database cells (default: {','.join(DB_LOADS)})")
    sel.add_argument("--concurrency", type=counts(1, 10000), action="append", metavar="N[,N...]",
                     help=f"database concurrency levels (default: {','.join(map(str, DB_CONCURRENCY))})")
    sel.add_argument("--mysql-url", metavar="URL", help="mysql://user:password@host:port/database (default: $CTXBENCH_MYSQL_URL, then 127.0.0.1:3306, then a private server)")
    sel.add_argument("--no-db", action="store_true", help="skip the database half")
    sel.add_argument("--no-micro", action="store_true", help="skip the micro-benchmarks (correctness only, plus db)")
    g = p.add_argument_group("baseline and decision")
    g.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE, metavar="PATH", help=f"baseline file (default: {DEFAULT_BASELINE})")
    g.add_argument("--update-baseline", action="store_true", help="write the baseline from this run instead of comparing (keeps its overrides)")
    g.add_argument("--max-slowdown", type=parse_max_slowdown, default={}, metavar="KIND=F,...",
                   help="smallest slowdown that counts, per kind (default: micro=0.10,db=0.20; '10%%' works too)")
    g.add_argument("--alpha", type=parse_alpha, default=DEFAULT_ALPHA, metavar="P", help=f"one-sided Mann-Whitney significance level (default: {DEFAULT_ALPHA})")
    g.add_argument("--confirm", type=count(0, 5), default=DEFAULT_CONFIRM, metavar="N",
                   help=f"fresh re-measurements a suspected regression must survive (default: {DEFAULT_CONFIRM}; 0: none)")
    s = p.add_argument_group("sizes")
    s.add_argument("--micro-processes", type=count(2, 50), default=MICRO_PROCESSES, metavar="N", help=f"fresh processes, one sample each (default: {MICRO_PROCESSES})")
    s.add_argument("--micro-values", type=count(1, 50), default=MICRO_VALUES, metavar="N", help=f"values per process (default: {MICRO_VALUES})")
    s.add_argument("--db-repeats", type=count(2, 50), default=DB_REPEATS, metavar="N", help=f"repeats of each database cell, one sample each (default: {DB_REPEATS})")
    s.add_argument("--db-duration", type=seconds(0.05, 60, allow_low=True), default=DB_DURATION, metavar="S", help=f"measured seconds per database cell (default: {DB_DURATION})")
    s.add_argument("--db-warmup", type=seconds(0, 60, allow_low=True), default=DB_WARMUP, metavar="S", help=f"warm-up seconds per database cell (default: {DB_WARMUP})")
    s.add_argument("--jobs", type=count(1, 64), default=2, metavar="N", help="probe cells run at once (default: 2; probes time nothing)")
    o = p.add_argument_group("output")
    o.add_argument("--markdown", type=Path, metavar="PATH", help="write a Markdown summary for a CI job page")
    o.add_argument("--json", type=Path, metavar="PATH", help="write this run's records and every verdict")
    o.add_argument("--charts", type=Path, metavar="DIR", help="draw this run's charts and regress.png/.svg here")
    o.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=main)
    return p


def main(args: argparse.Namespace) -> int:
    """``ctxbench regress``: exit 0 clean, 1 regression, 2 error.  Bad input raises a one-line UsageError."""
    plan = plan_from_args(args)
    if args.update_baseline:
        plan = replace(plan, micro_processes=plan.micro_processes * BASELINE_MICRO_FACTOR, db_repeats=plan.db_repeats * BASELINE_DB_FACTOR)
    thresholds = Thresholds(max_slowdown={**DEFAULT_MAX_SLOWDOWN, **args.max_slowdown}, alpha=args.alpha)
    say: Say = (lambda _line: None) if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    baseline: Baseline | None = None
    overrides: dict[str, dict[str, float]] = {}
    if args.update_baseline:
        check_writable(args.baseline, directory=False)
        overrides = previous_overrides(args.baseline, say)
    else:
        try:
            baseline = read_baseline(args.baseline)
        except RecordError as exc:
            missing = not args.baseline.exists()
            raise UsageError(f"baseline {exc}" + (" (make one with --update-baseline)" if missing else "")) from None
        thresholds = Thresholds(thresholds.max_slowdown, thresholds.alpha, baseline.overrides)
    for path, is_dir in ((args.markdown, False), (args.json, False), (args.charts, True)):
        if path is not None:
            check_writable(path, directory=is_dir)

    with contextlib.ExitStack() as stack:
        target, skipped = None, None
        if plan.db:  # before measuring anything: a --mysql-url that does not work ends the command now
            handle, target, skipped = find_target(plan.mysql_url, say)
            if handle is not None:
                stack.enter_context(handle)
        return _run(args, plan, thresholds, baseline, overrides, target, skipped, say)


def _run(args: argparse.Namespace, plan: GatePlan, thresholds: Thresholds, baseline: Baseline | None, overrides: dict[str, dict[str, float]],
         target: Any, skipped: str | None, say: Say) -> int:
    """Measure, then write the baseline or compare and report; the exit status."""
    measurement = measure(plan, target, db_skipped=skipped, quiet=args.quiet, jobs=args.jobs, say=say)
    errors = list(measurement.errors)
    if plan.db and not measurement.db_ran:
        print(f"ctxbench regress: DB metrics skipped: {measurement.db_skipped}", file=sys.stderr)

    outcome: GateOutcome | None = None
    if args.update_baseline:
        if errors:
            for line in errors:
                print(f"ctxbench: error: {line}", file=sys.stderr)
            print(f"ctxbench: error: baseline not written to {args.baseline}: the run had {len(errors)} error(s)", file=sys.stderr)
            return EXIT_ERROR
        if not measurement.speed and not measurement.correctness:
            raise UsageError("nothing measured: the baseline would be empty")
        if plan.probes and BASELINE_PROBE_RUNS > 1:
            say(f"running the probe cells {BASELINE_PROBE_RUNS - 1} more time(s) to find unstable verdicts")
            rerun = probe_rerun(plan)
            keys = [k for k, v in measurement.correctness.items() if v["kind"] == "probe"]
            runs = []
            for _ in range(BASELINE_PROBE_RUNS - 1):
                fresh, errs = rerun(keys)
                if errs:
                    raise UsageError(f"baseline not written: a probe re-run failed: {errs[0]}")
                runs.append(fresh)
            mark_stability(measurement.correctness, runs)
            unstable = [k for k, v in measurement.correctness.items() if v.get("stable") is False]
            if unstable:
                print(f"note: {len(unstable)} probe cell(s) changed verdict between runs and will be reported, not judged: {', '.join(unstable)}",
                      file=sys.stderr)
        for line in baseline_warnings(measurement, Thresholds({**DEFAULT_MAX_SLOWDOWN, **args.max_slowdown}, args.alpha, overrides)):
            print(f"note: {line}", file=sys.stderr)
        atomic_write_json(args.baseline, baseline_document(measurement, plan, overrides))
        kept = sum(1 for m in measurement.speed.values() if len(m.samples) >= 2)
        short = len(measurement.speed) - kept
        print(f"baseline written to {args.baseline}: {len(measurement.correctness)} correctness verdict(s), {kept} speed metric(s) in "
              f"{measurement.seconds:.0f} s" + (f"; {short} metric(s) left out with fewer than 2 usable samples (see the notes)" if short else ""))
        for line in measurement.notes:
            print(f"note: {line}", file=sys.stderr)
    else:
        assert baseline is not None
        outcome = compare(baseline, measurement, plan, thresholds)
        if args.confirm and outcome.regressions:
            errors += confirm(outcome, baseline, plan, target, args.confirm, say=say)
        if args.confirm and outcome.failures:
            errors += confirm_correctness(outcome, combined_rerun(plan, target), args.confirm, say=say)
        if outcome.compared() == 0 and not errors:
            undecided = [r for r in outcome.speed if r.verdict == "undecidable"]
            errors.append(f"nothing comparable: {len(undecided)} metric(s) undecidable (e.g. {undecided[0].name}: {undecided[0].reason})" if undecided
                          else f"nothing comparable: this run and {baseline.path} share no metric or verdict "
                               f"(baseline selection: {baseline.selection.get('impls')}; check --impl/--load/--strategy)")
        report(outcome, baseline, measurement, plan)
    for line in errors:
        print(f"ctxbench: error: {line}", file=sys.stderr)
    write_outputs(args, outcome, baseline, measurement, plan, errors, thresholds)
    if outcome is not None or errors:
        print(headline(outcome, errors))
    if errors:
        return EXIT_ERROR
    if outcome is not None and (outcome.regressions or outcome.failures):
        return EXIT_REGRESSION
    return EXIT_OK


def report(outcome: GateOutcome, baseline: Baseline, measurement: Measurement, plan: GatePlan) -> None:
    """The terminal output: the speed table, the correctness changes, the summary sentences."""
    header, rows = speed_rows(outcome)
    if rows:
        print_table("Speed: ratio to the reference in the same run (micro: x threading.local ns/op; db: x locked ops/s)", header, rows, style=_styled)
    header, rows = correctness_rows(outcome, only_changes=True)
    ok = sum(1 for r in outcome.correctness if r.verdict == "ok")
    if rows:
        print_table(f"Correctness: changes ({ok} verdict(s) as in the baseline)", header, rows, style=_styled)
    else:
        print(f"Correctness: all {ok} verdict(s) as in the baseline")
    for line in summary_lines(outcome, baseline, measurement, plan):
        print(f"  {line}")


def write_outputs(args: argparse.Namespace, outcome: GateOutcome | None, baseline: Baseline | None, measurement: Measurement, plan: GatePlan,
                  errors: Sequence[str], thresholds: Thresholds) -> None:
    """``--markdown``, ``--json`` and ``--charts``, each written whatever the verdict."""
    if args.markdown:
        atomic_write_text(args.markdown, markdown_summary(outcome, baseline, measurement, plan, errors, thresholds, args.confirm))
    if args.json:
        from bench.records.io import results_document

        doc = results_document(measurement.environment, measurement.records)
        doc["gate"] = {
            "headline": headline(outcome, errors), "baseline": str(args.baseline), "errors": list(errors), "notes": measurement.notes,
            "db_skipped": measurement.db_skipped, "settings": plan.settings(), "selection": plan.selection(), "seconds": round(measurement.seconds, 1),
            "speed": [r.to_json() for r in outcome.speed] if outcome else [],
            "correctness": [r.to_json() for r in outcome.correctness] if outcome else [],
        }
        atomic_write_json(args.json, doc)
    if args.charts:
        write_charts(args.charts, measurement.records, outcome)
