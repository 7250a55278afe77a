"""The free-threading section's sentences and its place in the report (:func:`section`).

Every sentence reads the records of :mod:`bench.present.freethreading`'s tables: which verdicts differ between the
builds, which Locals pass every judged probe under threads on all of them, how each scales to two threads, what the
ContextVar cache is worth, and how ``global`` fails on each build.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.cell.probes import JUDGED
from bench.present import freethreading as ft
from bench.present.common import error_total, of_kind, silent_wrong
from bench.present.interpreters import interpreter_of, interpreters_in
from bench.present.outline import Section, Table
from bench.present.spread import attempts, share
from bench.records.kinds import Record, known


def _interpreters(records: Sequence[Record], environment: dict[str, Any], names: Sequence[str]) -> list[str]:
    parts = []
    for name in names:
        mine = ft._mine(records, name)
        parts.append(f"{name} ({ft._build(mine)} build; the GIL {ft._gil_text(mine)})")
    missing = [f"{i.get('tag')} ({i.get('missing')})" for i in environment.get("interpreters") or []
               if isinstance(i, dict) and i.get("missing")]
    out = ["Measured on " + " and ".join(parts) + "; each cell reads sys._is_gil_enabled() after its imports."]
    if missing:
        out.append("Not available, so not measured: " + "; ".join(missing) + ".")
    return out


def _verdicts(records: Sequence[Record], names: Sequence[str]) -> list[str]:
    _, rows = ft.verdict_rows(records, names)
    differs = [f"{r[0]} under {r[1]}: " + "; ".join(f"{n} {t}" for n, t in zip(names, r[2:-1], strict=True))
               for r in rows if r[-1] == "DIFFERS"]
    out = ["Verdicts that differ between the builds: " + " | ".join(differs) + "." if differs
           else "Every Local has the same verdicts on every build."]
    probes = of_kind(records, "probe")
    clean = []
    for impl in dict.fromkeys(r.impl for r in probes):
        mine = [r for r in probes if r.impl == impl and r.load == "threads" and r.probe in JUDGED]
        if {interpreter_of(r) for r in mine} >= set(names) and all(r.outcome == "ok" and not r.violations
                                                                   for r in mine):
            clean.append(impl)
    if clean:
        out.append(f"Under threads, every judged probe (race included) passes on every build for: {', '.join(clean)}.")
    return out


def _scaling(records: Sequence[Record], names: Sequence[str]) -> list[str]:
    out = []
    for name in names:
        recs = [r for r in ft._parallel(records) if interpreter_of(r) == name and r.op == "get"]
        if recs:
            load = sorted({v for r in recs for v in known(r.machine_load_1m) or []})
            text = ", ".join(f"{r.impl} {ft.scaling_text(r)}" for r in recs)
            seen = f" (load average {load[0]:g}-{load[-1]:g} when its processes started)" if load else ""
            out.append(f"Two threads reading their own values at once on {recs[0].cores or '?'} cores, {name}: each "
                       f"kept this share of one thread's rate (its rounds' range in brackets): {text}{seen}.")
    cache = []
    for name in names:
        by = {r.impl: r for r in ft._parallel(records) if interpreter_of(r) == name and r.op == "get"}
        alone, crowded = by.get("ContextVar"), by.get("ContextVar, 64 set")
        if alone and crowded:
            cache.append(f"{name} {known(alone.ns_1):.1f} ns alone, {known(crowded.ns_1):.1f} ns among 64")
    if cache:
        out.append("ContextVar.get() at one thread: " + "; ".join(cache) + " (GIL builds keep a per-variable cache "
                   "that skips the lookup; free-threaded builds do not, CPython issue 121546).")
    return out


def _global(records: Sequence[Record], names: Sequence[str]) -> list[str]:
    db = [r for r in of_kind(records, "db") if r.strategy == "global" and r.load == "threads"
          and r.outcome != "skipped" and r.concurrency > 1]
    parts = []
    for name in names:
        mine = [r for r in db if interpreter_of(r) == name]
        if not mine:
            continue
        ops = sum(int(known(r.ops) or 0) for r in mine)
        errors = sum(error_total(r) for r in mine)
        # every operation tried (failed connects too); without the count, the replies and the errors
        total = max(sum(int(attempts(r) or 0) for r in mine) or ops + errors, errors)
        silent = sum(int(silent_wrong(r) or 0) for r in mine)
        wrong = sum(int(r.wrong_results or 0) for r in mine)
        classes: dict[str, int] = {}
        for r in mine:
            for label, n in (r.errors or {}).items():
                classes[label] = classes.get(label, 0) + int(n)
        top = ", ".join(f"{k} {v:,}" for k, v in sorted(classes.items(), key=lambda kv: -kv[1])[:3])
        parts.append(f"on {name} errors in {share(errors, total)} operations{' (' + top + ')' if top else ''}, "
                     f"{wrong:,} wrong results of which {silent:,} silent, {ops:,} correct replies, in {len(mine)} "
                     f"cell{'' if len(mine) == 1 else 's'}")
    if not parts:
        return []
    return ["global (one connection shared by every thread) under threads: " + "; ".join(parts) + "."]


def section(records: Sequence[Record], environment: dict[str, Any]) -> Section | None:
    """The free-threading section of a report, or None when the run was not on several interpreters."""
    if not ft.wanted(records, environment):
        return None
    names = interpreters_in(records, environment)
    findings = [*_interpreters(records, environment, names), *_verdicts(records, names),
                *_scaling(records, names), *_global(records, names)]
    tables = [("The interpreters", ft.interpreter_rows(records, environment)),
              ("Locals on each build: failing judged probes (inheritance reported)", ft.verdict_rows(records, names)),
              ("Cost per access at 1 thread and at 2 threads at once on 2 cores; scaling = ops/s of each of 2 / "
               "ops/s of 1 (1: no contention, 0.5: the threads took turns)", ft.scaling_rows(records, names)),
              ("Connection strategies on each build: correct ops/s, errors (summed over repeats), silent wrong of "
               "wrong results",
               ft.db_rows(records, names))]
    blocks: list[Any] = [Table(title, header, rows) for title, (header, rows) in tables if rows]
    return Section("freethreading", ft.TITLE, findings, [], blocks)
