"""The free-threading section: the same cells on a GIL build and a free-threaded build, side by side.

Shown when a run measured on several interpreters (``--python``) or asked for several.  It says which interpreters
ran (and which were not available, and why), whether the GIL really stayed off in the free-threaded cells (each cell
reads ``sys._is_gil_enabled()`` after its imports), which Locals keep their verdicts on both builds and which do
not, how each Local's cost per access scales from one thread to two on two cores, and how the connection
strategies -- ``global`` above all -- fail on each build.  Only what the records hold: a build without records is
named as such, never filled in.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from bench.cell.probes import JUDGED, PROBES
from bench.present.common import LOAD_ORDER, impls_of, of_kind, ordered, silent_wrong, strategies_of
from bench.present.interpreters import interpreter_of, interpreters_in
from bench.present.palette import IMPL_COLOURS
from bench.present.spread import correct_per_s, spread
from bench.records.kinds import DbRecord, ParallelRecord, ProbeRecord, Record, known, pair_means

TITLE = "Free-threading: the GIL build and the free-threaded build side by side"
Rows = tuple[list[str], list[list[str]]]


def wanted(records: Sequence[Record], environment: dict[str, Any]) -> bool:
    """Whether the report has this section: records from two interpreters, or a run that asked for two."""
    asked = [i for i in environment.get("interpreters") or [] if isinstance(i, dict)]
    return len(interpreters_in(records, environment)) > 1 or len(asked) > 1


def _mine(records: Sequence[Record], name: str) -> list[Record]:
    return [r for r in records if interpreter_of(r) == name]


def _build(records: Sequence[Record]) -> str:
    threaded = {r.get("free_threaded") for r in records} - {None}
    return "free-threaded" if threaded == {True} else "GIL" if threaded == {False} else "unknown"


def _gil_text(records: Sequence[Record]) -> str:
    """Whether the GIL was on in the cells of one interpreter, as they read it."""
    said = [r for r in records if isinstance(r.get("gil"), bool)]
    if not said:
        return "not recorded"
    on = [r for r in said if r.get("gil")]
    if _build(records) != "free-threaded":
        return f"on in all {len(said)} records (a GIL build)"
    if not on:
        return f"off in all {len(said)} records"
    by = sorted({m for r in on for m in r.get("gil_enabled_by") or []})
    return f"back on in {len(on)} of {len(said)} records (turned on by {', '.join(by) or 'unknown'})"


def interpreter_rows(records: Sequence[Record], environment: dict[str, Any]) -> Rows:
    """One row per interpreter the run named or measured on: version, build, cells, the GIL, what it left out."""
    rows = []
    asked = {str(i.get("tag")): i for i in environment.get("interpreters") or [] if isinstance(i, dict)}
    for name in dict.fromkeys([*asked, *interpreters_in(records, environment)]):
        info, mine = asked.get(name, {}), _mine(records, name)
        if info.get("missing") or not mine:
            rows.append([name, str(info.get("version") or "-"), "-", "0",
                         f"not available: {info.get('missing') or 'no records'}", "-"])
            continue
        version = next((str(r.get("python")) for r in mine if r.get("python")), str(info.get("version") or "-"))
        rows.append([name, version, _build(mine), str(len(mine)), _gil_text(mine), str(info.get("left_out") or "-")])
    return ["interpreter", "version", "build", "records", "GIL in the cells", "left out"], rows


def _failing(recs: list[ProbeRecord]) -> str:
    """``ok`` or ``FAIL race 407/180000, leak 24/24`` (``error`` when a probe could not run); inheritance noted."""
    if not recs:
        return "-"
    if any(r.outcome != "ok" for r in recs):
        return "error"
    ranked = sorted(recs, key=lambda r: PROBES_ORDER.get(r.probe, len(PROBES_ORDER)))
    bad = [f"{r.probe} {known(r.violations)}/{known(r.checks)}" for r in ranked if r.probe in JUDGED and r.violations]
    inherit = [r for r in recs if r.probe == "inheritance"]
    note = f"; inherits {(inherit[0].details or {}).get('inherited')}/{known(inherit[0].checks)}" if inherit else ""
    return ("FAIL " + ", ".join(bad) if bad else "ok") + note


PROBES_ORDER = {name: i for i, name in enumerate(PROBES)}


def _failing_probes(text: str) -> list[str]:
    """The probes a :func:`_failing` text names (``error`` stands for itself): a verdict, without its counts."""
    head = text.split(";")[0]
    if not head.startswith("FAIL "):
        return [head]
    return [part.strip().split(" ")[0] for part in head[len("FAIL "):].split(",")]


def verdict_rows(records: Sequence[Record], names: Sequence[str]) -> Rows:
    """One row per Local x load measured on more than one interpreter: its failing probes on each, and whether the
    probes that fail are the same."""
    probes = [r for r in of_kind(records, "probe")]
    rows = []
    for impl in impls_of(probes):
        for load in ordered((r.load for r in probes if r.impl == impl), LOAD_ORDER):
            texts = [_failing([r for r in probes if r.impl == impl and r.load == load and interpreter_of(r) == n])
                     for n in names]
            failing = [frozenset(_failing_probes(t)) for t in texts if t != "-"]
            if len(failing) < 2:  # measured on one build only (a gevent load): the main sections show it
                continue
            rows.append([impl, load, *texts, "yes" if len(set(failing)) == 1 else "DIFFERS"])
    return ["impl", "load", *names, "same verdict"], rows


def _parallel(records: Sequence[Record]) -> list[ParallelRecord]:
    return [r for r in records if isinstance(r, ParallelRecord)]


def round_scalings(values_1: Sequence[float], values_2: Sequence[float]) -> list[float]:
    """The scaling of each round: the mean of its pair (``values_2`` holds the two threads of a round together) over
    the one thread of the same round.  Rounds without a full pair or a positive one-thread rate are left out."""
    return [two / one for one, two in zip(values_1, pair_means(values_2), strict=False) if one > 0]


def scaling_text(r: ParallelRecord) -> str:
    """``0.97 (0.91-1.00)``: the median and the range of the record's per-round scalings (the spread the machine gave
    it); the record's scaling alone where it holds fewer than two rounds.  The median of the rounds, not the ratio of
    the medians: a figure always inside its range."""
    per_round = round_scalings(known(r.values_1) or [], known(r.values_2) or [])
    if len(per_round) < 2:
        return f"{r.scaling:.2f}"
    return f"{statistics.median(per_round):.2f} ({min(per_round):.2f}-{max(per_round):.2f})"


def scaling_rows(records: Sequence[Record], names: Sequence[str]) -> Rows:
    """One row per Local x op: ns per access at 1 thread and the 2-thread scaling on each interpreter."""
    recs = _parallel(records)
    by = {(r.impl, r.op, interpreter_of(r)): r for r in recs}
    rows = []
    for impl in ordered((r.impl for r in recs), IMPL_COLOURS):
        for op in dict.fromkeys(r.op for r in recs):
            cells = []
            for n in names:
                r = by.get((impl, op, n))
                cells += ["-", "-", "-"] if r is None else [
                    f"{known(r.ns_1) or 0:.1f}", f"{known(r.ns_2) or 0:.1f}", scaling_text(r)]
            if any(c != "-" for c in cells):
                rows.append([impl, op, *cells])
    header = [h for n in names for h in (f"{n}: ns, 1 thread", f"{n}: ns, each of 2",
                                         f"{n}: scaling (range over rounds)")]
    return ["impl", "op", *header], rows


def _db_group(records: list[DbRecord]) -> dict[str, Any]:
    ops = sum(int(known(r.ops) or 0) for r in records)
    rates = [v for r in records if (v := correct_per_s(r)) is not None]
    errors: dict[str, int] = {}
    for r in records:
        for label, n in (r.errors or {}).items():
            errors[label] = errors.get(label, 0) + int(n)
    return {"ops": ops, "rate": spread(rates), "errors": sum(errors.values()),
            "classes": errors, "wrong": sum(int(r.wrong_results or 0) for r in records),
            "silent": sum(int(silent_wrong(r) or 0) for r in records), "n": len(records)}


def _db_text(group: dict[str, Any] | None) -> list[str]:
    if group is None:
        return ["-", "-", "-"]
    rate = group["rate"].text()
    top = ", ".join(f"{k} {v:,}" for k, v in sorted(group["classes"].items(), key=lambda kv: -kv[1])[:2])
    errors = f"{group['errors']:,}" + (f" ({top})" if top else "")
    return [rate, errors, f"{group['silent']:,} of {group['wrong']:,}"]


def db_rows(records: Sequence[Record], names: Sequence[str]) -> Rows:
    """One row per strategy x load x workers: correct ops/s, errors, silent wrong of wrong results, per interpreter."""
    recs = [r for r in of_kind(records, "db") if r.outcome != "skipped"]
    rows = []
    for strategy in strategies_of(recs):
        for load in ordered((r.load for r in recs if r.strategy == strategy), LOAD_ORDER):
            for c in sorted({r.concurrency for r in recs if r.strategy == strategy and r.load == load}):
                cells = []
                for n in names:
                    mine = [r for r in recs if (r.strategy, r.load, r.concurrency) == (strategy, load, c)
                            and interpreter_of(r) == n]
                    cells += _db_text(_db_group(mine) if mine else None)
                rows.append([strategy, load, str(c), *cells])
    header = [h for n in names for h in (f"{n}: correct ops/s, median (range, n)", f"{n}: errors",
                                         f"{n}: silent of wrong results")]
    return ["strategy", "load", "workers", *header], rows


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.2%}" if whole else "-"
