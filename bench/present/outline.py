"""The report's outline, shared by the HTML page and REPORT.md: what comes in which order, as data.

:func:`outline` puts, after the run's facts: the answer (:mod:`bench.present.answer`), the glossary, then one section
per subject -- Locals, database, request scenario, real stack, model -- each with its findings
(:func:`bench.present.findings.sectioned`), the caveats seen there (:mod:`bench.present.footnotes`), and its charts,
each followed by the table it belongs to.  Every chart has a caption saying what it shows, how it was measured, the
window and the machine; a chart that was not drawn is replaced by the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.present import charts
from bench.present.answer import Answer, answer
from bench.present.common import LOAD_ORDER, direct, impls_of, of_kind, on_network
from bench.present.drivers import DRIVERS_TITLE, driver_rows
from bench.present.findings import SECTIONS, sectioned
from bench.present.footnotes import Note
from bench.present.interpreters import interpreters_in, primary
from bench.present.model import model_rows
from bench.present.network import NETWORK_TITLE, network_rows
from bench.present.resilience import resilience_rows
from bench.present.runfacts import machine, summary, windows
from bench.present.tables import (
    db_rows,
    micro_rows,
    parallel_rows,
    probe_rows,
    request_rows,
    scaling_rows,
    stack_process_rows,
    stack_rows,
)
from bench.records.kinds import Record

Rows = Callable[[Sequence[Record]], tuple[list[str], list[list[str]]]]

CHART_TITLES: dict[str, str] = {
    "isolation": "Isolation probes",
    "cost_per_op": "Cost per operation",
    "throughput": "Throughput",
    "latency": "Latency",
    "errors": "Silent wrong results, errors and wrong results",
    "request": "Request scenario",
    "stack": "The real stack",
    "network": "Throughput against the round trip",
}
#: Chart -> (what it shows, how it was measured).
CAPTIONS: dict[str, tuple[str, str]] = {
    "isolation": ("Each Local under each load, one panel per probe: violations out of checks in every cell (red: "
                  "at least one violation)", "real workers of the load (threads, greenlets, asyncio tasks) write "
                  "and read their own tokens across a barrier; fixed rounds, no time window"),
    "cost_per_op": ("Median nanoseconds per operation of each Local (log scale), with a plain attribute read (the "
                    "floor) and threading.local marked", "timed loops in fresh processes, median over processes, "
                    "no load running"),
    "throughput": ("Correct operations per second against concurrency, one line per strategy, one panel per load; "
                   "the server's own ceiling (mysqlslap) drawn", "each worker runs the db mix (48 SELECT token : 1 "
                   "primary-key lookup : 1 write transaction) through the strategy; only replies carrying the "
                   "worker's own token count"),
    "latency": ("p50 and p99 per operation against concurrency per strategy and load, and the latency CDF at one "
                "concurrency", "every timed operation in an HDR histogram"),
    "errors": ("Silent wrong replies, errors and wrong results per strategy x load x concurrency, counts written in",
               "every reply checked against the token of the operation that asked"),
    "request": ("The request scenario: each Local x strategy per load, local violations / wrong replies / ops/s",
                "a request context pushed on the Local, a SELECT of its token through the strategy, the context "
                "read again after the I/O"),
    "stack": ("The real stack: per server, each Local x strategy: silent wrong, wrong Local, errors, correct "
              "replies/s", "a Flask app (its Starlette twin under uvicorn) under the real server, driven over "
              "loopback HTTP by Locust; every reply checked against its request's token and row"),
    "network": ("Correct operations per second against the measured round trip to the database, one line per "
                "strategy (log-log); in grey, what the round trip alone allows if every operation took one round "
                "trip: operations in flight / RTT (dashed C/RTT for a pool or a connection per worker, dotted 1/RTT "
                "for one connection behind a lock); beside each point the share of its bound reached",
                "a user-space delay proxy between the clients and the server adds the round trip asked for (half "
                "each way; 0: direct, no proxy); before each cell 60 SELECT 1 pings through the same path measure "
                "the round trip it ran at, which is what the x axis shows, never the setting (docs/network.md)"),
}
#: Chart -> the record kind whose window its caption names.
CHART_WINDOW_KIND = {"isolation": "probe", "cost_per_op": "micro", "throughput": "db", "latency": "db",
                     "errors": "db", "request": "request", "stack": "stack", "network": "network"}
#: Section -> its charts and tables, in order (a chart is followed by the table it belongs to).
LAYOUT: dict[str, tuple[str | tuple[str, Rows], ...]] = {
    "locals": ("isolation", ("Isolation probes: violations / checks (inheritance is reported, not judged)",
                             lambda r: probe_rows(r, impls_of(of_kind(r, "probe")), LOAD_ORDER)),
               "cost_per_op", ("Cost per operation: median ns ± MAD (ratio to threading.local)",
                               lambda r: micro_rows(r, impls_of(of_kind(r, "micro")))),
               ("1 thread, then 2 at once on their own values: ns per access and ops/s per thread; scaling = ops/s "
                "of each of 2 / ops/s of 1 (the timing loop included)", parallel_rows)),
    "database": ("throughput", "latency", "errors",
                 ("Connection strategies: throughput (correct ops/s), latency, errors, wrong results", db_rows),
                 ("Scaling over processes: efficiency = ops/s(P) / (P x ops/s(P=1)); CPU seconds of the clients "
                  "and the server over the same span", scaling_rows)),
    "requests": ("request", ("Request scenario: request context on a Local x connection strategy", request_rows)),
    "stack": ("stack", ("The real stack: a Flask app under real WSGI servers (its Starlette twin under uvicorn) over "
                        "HTTP (silent wrong = another request's row answered 200)", stack_rows),
              ("The real stack, per server process (cells with several workers)", stack_process_rows)),
    "model": ((("Does the model predict the real stack? Each stack cell beside the in-process cells that claim "
                "to predict it"), model_rows),),
    "network": ("network", (NETWORK_TITLE, network_rows)),
    "resilience": ((("Resilience: each strategy under each network fault (detection = fault to first failed "
                     "operation; stuck = operations waiting past the bound, with the longest wait; recovery = heal to "
                     "first right reply)"), resilience_rows),),
    "drivers": ((DRIVERS_TITLE, driver_rows),),
}
#: Section -> the note keys shown in it.
SECTION_NOTES = {"database": ("tls", "lock", "pool"), "stack": ("nagle",)}


@dataclass(frozen=True)
class Figure:
    name: str
    title: str
    caption: str
    missing: str = ""  # why it is not shown ("" when it is)


@dataclass(frozen=True)
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    id: str
    title: str
    findings: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    blocks: list[Figure | Table] = field(default_factory=list)


@dataclass
class Document:
    title: str
    facts: list[tuple[str, str]]
    answer: Answer
    sections: list[Section]


def caption(name: str, records: Sequence[Record], environment: dict[str, Any]) -> str:
    """What a chart shows, how it was measured, its window and the machine."""
    what, how = CAPTIONS.get(name, (charts.CHARTS.get(name, name), "from the stored records"))
    kind = CHART_WINDOW_KIND.get(name, "")
    window = {"probe": "fixed rounds, no window", "micro": "fixed loops, no window"}.get(kind) or windows(
        [r for r in records if (on_network(r) if kind == "network" else r.kind == kind)])
    return f"{what}. Measured: {how}. Window: {window}. Machine: {machine(environment, short=True)}."


def _blocks(key: str, records: Sequence[Record], environment: dict[str, Any],
            missing: dict[str, str]) -> list[Figure | Table]:
    out: list[Figure | Table] = []
    for item in LAYOUT[key]:
        if isinstance(item, str):
            kind = charts.CHART_KIND.get(item)
            if kind == "network":  # shown only when the run has cells with a round trip: absent otherwise
                shown = any(on_network(r) for r in records)
            else:
                shown = any(r.kind == kind for r in direct(records)) or item in missing
            if shown:
                out.append(Figure(item, CHART_TITLES.get(item, item), caption(item, records, environment),
                                  missing.get(item, "")))
            continue
        title, rows_of = item
        header, rows = rows_of(records)
        if rows:
            out.append(Table(title, header, rows))
    return out


def outline(environment: dict[str, Any], records: Sequence[Record], missing: dict[str, str],
            title: str) -> Document:
    """The whole report as data; ``missing`` maps each chart not shown to the reason.

    Every section but the free-threading one reads the records of the run's first interpreter
    (:func:`bench.present.interpreters.primary`); that one compares them all.
    """
    from bench.present.ftfindings import section as free_threading

    main = primary(records, environment)
    ans = answer(main, environment)
    found = sectioned(main)
    sections = []
    for key, heading in SECTIONS:
        notes = [n for n in ans.notes if n.key in SECTION_NOTES.get(key, ())]
        section = Section(key, heading, found.get(key, []), notes, _blocks(key, main, environment, missing))
        if section.findings or section.blocks:
            sections.append(section)
    compared = free_threading(records, environment)
    if compared is not None:
        sections.append(compared)
    facts = summary(environment, records)
    names = interpreters_in(records, environment)
    if len(names) > 1:
        facts.append(("interpreters", f"{', '.join(names)}; every section but the free-threading one shows "
                                      f"{names[0]}"))
    return Document(title, facts, ans, sections)


def toc(doc: Document, tail: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """(anchor, title) of every section, in order, the fixed ones included."""
    head = [("what-to-use", "What to use"), ("glossary", "Glossary")]
    return [*head, *((s.id, s.title.split(":")[0]) for s in doc.sections), *tail]
