"""Records in, gate metrics out: speed ratios (one sample per process or repeat) and correctness entries.

Metric names: ``micro/IMPL/OP`` (ns per op over ``threading.local``'s in the same worker
process, one sample per process) and ``db/STRATEGY/LOAD/cN`` (ops/s over ``locked``'s at
the same load and concurrency, one sample per repeat).  Correctness keys:
``probe/IMPL/LOAD/PROBE`` (violations and checks of a judged probe) and the database
metric names (wrong results and errors summed over the repeats), and ``model/SERVER/IMPL/STRATEGY/cN``
(which aspects of a real-stack cell the in-process model did not predict).  Functions here are
pure; a metric that cannot be formed adds a line saying why to the ``notes`` list given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.cell.micro import SUBJECT_PLAIN, SUBJECT_REFERENCE
from bench.gate import stats
from bench.gate.disturbed import disturbed_cells
from bench.gate.plan import DB_REFERENCE, KINDS
from bench.records.kinds import DbRecord, MicroRecord, ProbeRecord, Record, known


def micro_name(impl: str, op: str) -> str:
    return f"micro/{impl}/{op}"


def db_name(strategy: str, load: str, concurrency: int) -> str:
    return f"db/{strategy}/{load}/c{concurrency}"


def probe_key(impl: str, load: str, probe: str) -> str:
    return f"probe/{impl}/{load}/{probe}"


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


def per_process_ratios(rec: MicroRecord, ref: MicroRecord) -> tuple[list[float], str | None]:
    """One sample per process: the median over its rounds of ``rec``'s value over ``ref``'s.

    Returns (samples, why some are missing, or None).

    Micro records hold every value, concatenated per process in order, so ``values[k*V + j]``
    is round ``j`` of process ``k``; the worker times round ``j`` of every subject together
    (:mod:`bench.cell.micro`), so a round's ratio compares two timings made milliseconds
    apart.  A round whose values are not both positive (an op at the harness floor) gives no
    ratio; a process left with none gives no sample.
    """
    size, count = rec.values_per_process, rec.processes
    values, ref_values = rec.values or [], ref.values or []
    if not isinstance(size, int) or not isinstance(count, int) or size < 1 or count < 1:
        return [], "record lacks processes/values_per_process"
    if (count != ref.processes or size != ref.values_per_process
            or len(values) != count * size or len(ref_values) != count * size):
        return [], f"its values and {ref.impl}'s do not line up process by process"
    samples, dropped = [], 0
    for k in range(count):
        mine, theirs = values[k * size:(k + 1) * size], ref_values[k * size:(k + 1) * size]
        rounds = [a / b for a, b in zip(mine, theirs, strict=True) if a > 0 and b > 0]
        if rounds:
            samples.append(stats.median(rounds))
        else:
            dropped += 1
    return samples, (f"{dropped} of {count} processes at the harness floor (values <= 0 ns)" if dropped else None)


def micro_metrics(records: Iterable[Record], notes: list[str]) -> dict[str, Metric]:
    """One metric per (impl, op) of the micro records, threading.local and the floor excluded."""
    micro = {(r.impl, r.op): r for r in records if isinstance(r, MicroRecord)}
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


def _ops_per_s(rec: DbRecord | None) -> float | None:
    """A cell's ops/s if it is usable for a ratio (outcome ok, a positive number), else None."""
    value = rec.ops_per_s if rec is not None else None
    if rec is not None and rec.outcome == "ok" and isinstance(value, int | float) and value > 0:
        return float(value)
    return None


def db_metrics(rounds: Sequence[Sequence[Record]], notes: list[str]) -> dict[str, Metric]:
    """One metric per (strategy, load, concurrency): ops/s over ``locked``'s, one sample per repeat.

    A repeat in which either cell was disturbed (:func:`bench.gate.disturbed.disturbed_cells`)
    gives no sample; a metric may be left with fewer than two (then it cannot be judged).
    """
    samples: dict[tuple[str, str, int], list[float]] = {}
    left_out: dict[tuple[str, str, int], int] = {}
    disturbed = disturbed_cells(rounds)
    for index, records in enumerate(rounds):
        cells = {(r.strategy, r.load, r.concurrency): r for r in records if isinstance(r, DbRecord)}
        for (strategy, load, c), rec in cells.items():
            if strategy == DB_REFERENCE:
                continue
            key = (strategy, load, c)
            series = samples.setdefault(key, [])
            mine, ref = _ops_per_s(rec), _ops_per_s(cells.get((DB_REFERENCE, load, c)))
            if (index, *key) in disturbed or (index, DB_REFERENCE, load, c) in disturbed:
                left_out[key] = left_out.get(key, 0) + 1
            elif mine is not None and ref is not None:
                series.append(mine / ref)
    out: dict[str, Metric] = {}
    for (strategy, load, c), series in samples.items():
        name, shared, total = db_name(strategy, load, c), left_out.get((strategy, load, c), 0), len(rounds)
        if shared:
            notes.append(f"{name}: {shared} of {total} repeats left out: "
                         "the server or the machine was busy with other work at the time")
        if len(series) + shared < total:
            notes.append(f"{name}: {total - len(series) - shared} of {total} repeats gave no ratio "
                         "(a cell not ok, or 0 ops/s)")
        note = f"{shared} of {total} repeats left out (server or machine busy with other work)" if shared else ""
        out[name] = Metric(name, "db", strategy, DB_REFERENCE, series, load=load, concurrency=c, note=note)
    return out


def probe_entries(records: Iterable[Record]) -> dict[str, dict[str, Any]]:
    """Correctness entries of the judged probes: violations and checks per impl x load x probe."""
    from bench.cell.probes import JUDGED

    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        if not isinstance(rec, ProbeRecord) or rec.probe not in JUDGED or rec.outcome != "ok":
            continue
        if not isinstance(rec.violations, int):
            continue
        out[probe_key(rec.impl, rec.load, rec.probe)] = {
            "kind": "probe", "impl": rec.impl, "load": rec.load, "probe": rec.probe,
            "violations": rec.violations, "checks": known(rec.checks),
        }
    return out


def db_entries(rounds: Sequence[Sequence[Record]]) -> dict[str, dict[str, Any]]:
    """Correctness entries of the database cells: wrong results and errors summed over the repeats."""
    out: dict[str, dict[str, Any]] = {}
    for records in rounds:
        for rec in records:
            if not isinstance(rec, DbRecord) or rec.outcome == "skipped":
                continue
            name = db_name(rec.strategy, rec.load, rec.concurrency)
            entry = out.setdefault(name, {"kind": "db", "strategy": rec.strategy, "load": rec.load,
                                          "concurrency": rec.concurrency, "wrong_results": 0, "errors": 0,
                                          "error_classes": {}, "repeats": 0})
            entry["repeats"] += 1
            entry["wrong_results"] += int(rec.wrong_results or 0)
            for label, n in (rec.errors or {}).items():
                entry["errors"] += int(n)
                entry["error_classes"][label] = entry["error_classes"].get(label, 0) + int(n)
    return out


def model_entries(records: Sequence[Record]) -> dict[str, dict[str, Any]]:
    """Correctness entries of the model check: per real-stack cell with an in-process prediction, the aspects
    (local, strategy, failure mode) on which the model disagrees with the stack, and both sides of each."""
    from bench.present.model import pair_all

    out: dict[str, dict[str, Any]] = {}
    for p in pair_all(records):
        if p.verdict == "unpredicted":
            continue
        s = p.stack
        out[p.key()] = {
            "kind": "model", "server": s.server, "impl": s.impl, "strategy": s.strategy,
            "concurrency": s.concurrency, "disagreements": sum(1 for c in p.comparisons if not c.agrees),
            "disagree_on": [c.aspect for c in p.comparisons if not c.agrees],
            "aspects": {c.aspect: f"stack {c.stack} / model {c.model}" for c in p.comparisons},
        }
    return out
