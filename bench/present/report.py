"""The report: one self-contained HTML page, a REPORT.md and answer.json, built from stored records and drawn charts.

What is promised
    Both pages follow one outline (:mod:`bench.present.outline`): the run's date, machine, windows and repeats, a
    table of contents, then *what to use* first -- per deployment shape measured, the safe Locals and strategies and
    the fastest safe choice with its cost (:mod:`bench.present.answer`) -- a glossary, and the findings by section
    (Locals, database, request scenario, real stack, model), each with the notes that explain its surprising numbers
    and its charts, each chart captioned and followed by its table; then the environment and every problem met
    reading the records or drawing the charts.

    :func:`write_html` writes one page that needs nothing else to be read: every chart embedded (SVG, else PNG, as
    a ``data:`` URI); no ``src`` or ``href`` points outside the page.  :func:`write_markdown` writes the same for a
    repository page, with the charts as relative image links.  :func:`write_answer` writes ``answer.json``.
    :func:`render_report` reads the records, draws the charts and writes all three.

    No password is ever printed: every string that reaches a page goes through :func:`sanitise`.

Why
    A report is a reading of the records: anyone holding the same JSON files gets the same report, and a
    finding that is not in the records cannot be in the report.  Self-containment lets the page be mailed,
    attached to a CI run or opened years later from an archive.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.present import charts, page_html, page_md
from bench.present.answer import answer, to_json
from bench.present.common import LOAD_ORDER, impls_of, of_kind
from bench.present.drivers import DRIVERS_TITLE, driver_rows
from bench.present.findings import findings
from bench.present.interpreters import primary
from bench.present.model import model_rows
from bench.present.network import NETWORK_TITLE, network_rows
from bench.present.outline import CHART_TITLES, Document, outline
from bench.present.tables import (
    db_rows,
    markdown_table,
    micro_rows,
    probe_rows,
    request_rows,
    scaling_rows,
    stack_process_rows,
    stack_rows,
)
from bench.present.text import environment_rows, sanitise
from bench.records.io import atomic_write_text
from bench.records.kinds import Record
from bench.records.read import Sources, load_records

__all__ = [
    "CHART_TITLES", "chart_files", "chart_notes", "db_rows", "environment_rows", "findings", "render_report",
    "request_rows", "sanitise", "sections", "write_answer", "write_html", "write_markdown",
]

Table = tuple[str, list[str], list[list[str]]]
TAIL = (("environment", "Environment"),)


def sections(records: Sequence[Record]) -> list[Table]:
    """(title, header, rows) of every table the records allow."""
    tables = [
        ("The real stack: a Flask app under real WSGI servers (its Starlette twin under uvicorn) over HTTP "
         "(silent wrong = another request's row answered 200)", stack_rows(records)),
        ("The real stack, per server process (cells with several workers)", stack_process_rows(records)),
        ("Does the model predict the real stack? Each stack cell beside the in-process cells that claim to predict it",
         model_rows(records)),
        ("Isolation probes: violations / checks (inheritance is reported, not judged)",
         probe_rows(records, impls_of(of_kind(records, "probe")), LOAD_ORDER)),
        ("Cost per operation: median ns ± MAD (ratio to threading.local)",
         micro_rows(records, impls_of(of_kind(records, "micro")))),
        ("Connection strategies: throughput (correct ops/s), latency, errors, wrong results", db_rows(records)),
        ("Request scenario: request context on a Local x connection strategy", request_rows(records)),
        ("Scaling over processes: efficiency = ops/s(P) / (P x ops/s(P=1)); CPU seconds of the clients and the "
         "server over the same span", scaling_rows(records)),
        (NETWORK_TITLE, network_rows(records)),
        (DRIVERS_TITLE, driver_rows(records)),
    ]
    return [(title, header, rows) for title, (header, rows) in tables if rows]


def chart_notes(records: Sequence[Record], available: Iterable[str]) -> list[str]:
    """Why each chart that is not shown is missing."""
    reasons = charts.skip_reasons(records)
    have = set(available)
    return [f"{CHART_TITLES[name]} chart not shown: {reasons.get(name, 'its file was not found (charts not drawn?)')}."
            for name in charts.CHARTS if name not in have]


def _missing(records: Sequence[Record], available: Iterable[str]) -> dict[str, str]:
    reasons = charts.skip_reasons(records)
    have = set(available)
    return {name: reasons.get(name, "its file was not found (charts not drawn?)") for name in charts.CHARTS
            if name not in have}


def chart_files(charts_dir: Path) -> dict[str, Path]:
    """Chart name -> the file to embed (SVG preferred, else PNG), for the charts present in ``charts_dir``."""
    found = {}
    for name in charts.CHARTS:
        for ext in ("svg", "png"):
            path = Path(charts_dir) / f"{name}.{ext}"
            if path.is_file() and path.stat().st_size > 0:
                found[name] = path
                break
    return found


def _title(records: Sequence[Record]) -> str:
    kinds = {r.kind for r in records}
    pairs = (("context-locals", {"probe", "micro"}), ("MySQL connection strategies", {"db", "request"}),
             ("the real stack", {"stack"}), ("network faults", {"fault"}))
    halves = [words for words, of in pairs if kinds & of]
    return "ctxbench report" + (": " + ", ".join(halves[:-1]) + (" and " if len(halves) > 1 else "") + halves[-1]
                                if halves else "")


def _document(environment: dict[str, Any], records: Sequence[Record], available: Iterable[str]) -> Document:
    return outline(environment, records, _missing(primary(records, environment), available), _title(records))


def write_html(environment: dict[str, Any], records: Sequence[Record], charts_dir: str | os.PathLike[str],
               out_path: str | os.PathLike[str], problems: Sequence[str] = ()) -> Path:
    """Write the self-contained HTML report; return its path."""
    out = Path(out_path)
    files = chart_files(Path(charts_dir))
    doc = _document(environment, records, files)
    tail = (*TAIL, ("problems", "Problems")) if problems else TAIL
    parts = [*page_html.head(doc, tail), *page_html.answer_section(doc), *page_html.glossary()]
    for sec in doc.sections:
        parts += page_html.section(doc, sec, files)
    parts.append('<section id="environment"><h2>Environment</h2>')
    env_rows = environment_rows(environment)
    if env_rows:
        parts.append(page_html.html_table(["what", "value"], [[k, v] for k, v in env_rows]))
    else:
        parts.append('<p class="muted">No environment was recorded.</p>')
    parts.append("</section>")
    if problems:
        parts.append('<section id="problems"><h2>Problems reading the records</h2><ul class="problems">'
                     + "".join(f"<li>{html.escape(sanitise(p))}</li>" for p in problems) + "</ul></section>")
    parts.append("</body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join(parts) + "\n")
    return out


def _markdown_available(rel: Path, charts_dir: Path) -> dict[str, Path]:
    """PNG links where there are PNGs, else whatever :func:`chart_files` finds."""
    available = {name: path for name, path in ((n, charts_dir / f"{n}.png") for n in charts.CHARTS) if path.is_file()}
    return available or chart_files(charts_dir)


def write_markdown(environment: dict[str, Any], records: Sequence[Record], charts_rel_dir: str | os.PathLike[str],
                   out_path: str | os.PathLike[str], problems: Sequence[str] = ()) -> Path:
    """Write REPORT.md (charts as image links relative to ``out_path``'s directory); return its path."""
    out = Path(out_path)
    rel = Path(charts_rel_dir)
    available = _markdown_available(rel, rel if rel.is_absolute() else out.parent / rel)
    doc = _document(environment, records, available)
    tail = (*TAIL, ("problems", "Problems")) if problems else TAIL
    lines = [*page_md.head(doc, tail), *page_md.answer_section(doc), *page_md.glossary()]
    for sec in doc.sections:
        lines += page_md.section(doc, sec, available, rel)
    env_rows = environment_rows(environment)
    env_text = markdown_table(["what", "value"], [[k, v] for k, v in env_rows]) if env_rows else \
        "No environment was recorded."
    lines += ['<a id="environment"></a>', "", "## Environment", "", env_text, "", *page_md.problems_section(problems)]
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join(lines))
    return out


def write_answer(environment: dict[str, Any], records: Sequence[Record], out_path: str | os.PathLike[str]) -> Path:
    """Write ``answer.json`` (:func:`bench.present.answer.to_json`); return its path."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = sanitise(to_json(answer(primary(records, environment), environment), environment))
    atomic_write_text(out, json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    return out


def render_report(sources: Sources, out_dir: str | os.PathLike[str], *,
                  formats: Sequence[str] = charts.FORMATS) -> tuple[Path, Path, list[str]]:
    """Read records, draw charts into ``out_dir/charts``, write ``report.html``, ``REPORT.md`` and ``answer.json``.

    Returns both pages' paths and the problems met reading the records and drawing the charts.
    """
    out = Path(out_dir)
    environment, records, problems = load_records(sources)
    notes: list[str] = []
    charts.draw_all(primary(records, environment), out / "charts", formats=formats, notes=notes)
    problems = [*problems, *(n for n in notes if ": skipped: " not in n)]
    page = write_html(environment, records, out / "charts", out / "report.html", problems)
    md = write_markdown(environment, records, "charts", out / "REPORT.md", problems)
    write_answer(environment, records, out / "answer.json")
    return page, md, problems


def render_results_page(sources: Sources, run_dir: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> Path:
    """A run's report as one Markdown page elsewhere (``docs/results.md``): its charts linked where they are drawn.

    Nothing is drawn or measured: the records and the charts already in ``run_dir/charts`` (``ctxbench report``
    draws them) are what the page shows.
    """
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)  # the charts are found through it (``../results/...``)
    environment, records, problems = load_records(sources)
    charts_dir = Path(os.path.relpath(Path(run_dir) / "charts", out.parent.resolve()))
    return write_markdown(environment, records, charts_dir, out, problems)

