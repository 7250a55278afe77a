"""The report as one self-contained HTML page: the outline (:mod:`bench.present.outline`) rendered, charts embedded.

The first screen (1400 x 900) holds the run's facts, a table of contents and the answer table; the page never
scrolls sideways at 1280 px (wide tables scroll inside themselves).  Every string from the records is escaped and
passed through :func:`bench.present.text.sanitise`; every chart is a ``data:`` URI.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path

from bench.present import answer as answers
from bench.present import charts
from bench.present.footnotes import Note
from bench.present.glossary import KNOWN_AS, TERMS
from bench.present.outline import Document, Figure, Section, Table, toc
from bench.present.text import sanitise

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1320px;margin:.8em auto;padding:0 1em;\
color:#1d1d1d;line-height:1.4;overflow-wrap:break-word}
h1{font-size:1.3em;margin:.1em 0}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{font-size:1.02em;margin-top:1.4em}
p.facts{font-size:.8em;color:#444;margin:.2em 0}p.facts b{color:#1d1d1d}
nav{font-size:.8em;margin:.3em 0 .4em}nav a{margin-right:.9em}
figure{margin:1.2em 0}figure img{width:100%;max-width:900px;height:auto;display:block}\
figcaption{font-size:.85em;color:#555;max-width:900px}
table{border-collapse:collapse;font-size:.82em;margin:.8em 0;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f4f4f4}\
td.wrap{min-width:12em}td:nth-child(-n+2){white-space:nowrap}
table.answer{font-size:.74em;display:table;width:100%;margin:.3em 0}table.answer td,table.answer th{padding:.2em .35em}\
table.answer td:nth-child(-n+2){white-space:normal}table.answer td:first-child{font-weight:600;white-space:nowrap}
td.fail{background:#fbe0d3;color:#7a1f00;font-weight:600}td.ok{color:#1e4d3a}td.err{background:#e2e2e2;font-weight:600}
ul.findings li{margin:.3em 0}.problems li{color:#7a1f00}.muted{color:#666;font-size:.9em}code{font-size:.9em}
p.legend{font-size:.74em;color:#555;margin:.1em 0}ol.notes{font-size:.85em}ol.notes li{margin:.35em 0}
dl.glossary dt{font-weight:600;margin-top:.5em}dl.glossary dd{margin-left:1.5em}
"""


def cell_class(text: str, column: str) -> str:
    if text.startswith("FAIL") or text in ("error", "hung", "errors"):
        return "fail" if text != "hung" else "err"
    if text.startswith("ok"):
        return "ok"
    if (column == "verdict" and text == "disagree") or (column == "same verdict" and text == "DIFFERS"):
        return "fail"
    # the resilience table: a strategy that waited, never came back, answered wrong or left a connection behind
    if column == "verdict" and (text.startswith(("wrong", "stalls", "fails slowly")) or "no recovery" in text):
        return "fail"
    if (column == "recovery" and text == "NO") or (column in ("wrong", "leaked") and text not in ("0", "-")):
        return "fail"
    if column in ("local violations", "wrong results", "silent wrong", "wrong Local") and text not in ("0", "-"):
        return "fail"
    if column in ("errors", "HTTP errors", "client errors") and text not in ("0", "-"):
        return "fail"
    return ""


def _marks(escaped: str) -> str:
    """``[3]`` in escaped text -> a superscript link to note 3."""
    return re.sub(r"\[(\d+)\]", r'<sup><a href="#note-\1">\1</a></sup>', escaped)


def html_table(header: list[str], rows: list[list[str]], cls: str = "", *, judge: bool = True) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for column, cell in zip(header, sanitise(row), strict=False):
            classes = [c for c in ((cell_class(cell, column) if judge else ""),
                                   "wrap" if column in ("errors", "value") else "") if c]
            attr = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{_marks(html.escape(cell))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def data_uri(path: Path) -> str:
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _notes(ans: answers.Answer, notes: Sequence[Note]) -> str:
    items = "".join(f'<li value="{ans.number(n)}"><b>{html.escape(n.title)}</b>: {html.escape(sanitise(n.text))}</li>'
                    for n in notes)
    return f'<ol class="notes">{items}</ol>' if items else ""


def head(doc: Document, tail: Sequence[tuple[str, str]]) -> list[str]:
    facts = "".join(f"<p class=\"facts\"><b>{html.escape(k)}</b> {html.escape(sanitise(v))}</p>" for k, v in doc.facts)
    links = " ".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t in toc(doc, tail))
    return ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(doc.title)}</title><style>{CSS}</style></head><body>",
            f"<h1>{html.escape(doc.title)}</h1>", facts, f"<nav>Contents: {links}</nav>"]


def answer_section(doc: Document) -> list[str]:
    ans = doc.answer
    header, rows = answers.table(ans)
    agree, compared = ans.model
    legend = (f"{answers.PREDICTED} predicted by the in-process model of the server's load (no stack cell measured "
              f"it; the model agreed with the real stack in {agree} of {compared} cells compared); unmarked names on "
              "a server row were measured on the real stack. Safe: 0 errors, 0 wrong results, 0 silent wrong, 0 "
              "Local violations in every cell. Throughput: correct replies/s, median (range, n). [n]: note n below.")
    parts = ['<section id="what-to-use"><h2 style="margin-top:.6em">What to use</h2>']
    if ans.empty:
        parts.append(f"<p>{html.escape(ans.empty)}</p>")
    else:
        parts += [html_table(header, rows, "answer", judge=False),
                  f'<p class="legend">{_marks(html.escape(legend))}</p>']
    parts.append(_notes(ans, ans.notes))
    f_header, f_rows = answers.failure_table(ans)
    if f_rows:
        parts += ['<h3 id="not-safe">What is not safe, and what failed</h3>', html_table(f_header, f_rows)]
    names = [[name, text] for name, text in KNOWN_AS.items()]
    parts += ["<h3>The Locals by the names users know</h3>", html_table(["name", "what it is"], names, judge=False)]
    return [*parts, "</section>"]


def glossary() -> list[str]:
    items = "".join(f"<dt>{html.escape(t)}</dt><dd>{html.escape(d)}</dd>" for t, d in TERMS)
    return [f'<section id="glossary"><h2>Glossary</h2><dl class="glossary">{items}</dl></section>']


def _figure(fig: Figure, files: dict[str, Path]) -> str:
    if fig.name not in files:
        reason = fig.missing or "its file was not found (charts not drawn?)"
        return f'<p class="muted">{html.escape(fig.title)} chart not shown: {html.escape(reason)}.</p>'
    alt = html.escape(charts.CHARTS.get(fig.name, fig.name))
    img = f'<img class="chart" alt="{alt}" src="{data_uri(files[fig.name])}">'
    return (f'<figure id="chart-{fig.name}"><h3>{html.escape(fig.title)}</h3>{img}'
            f"<figcaption>{html.escape(sanitise(fig.caption))}</figcaption></figure>")


def section(doc: Document, sec: Section, files: dict[str, Path]) -> list[str]:
    parts = [f'<section id="{sec.id}"><h2>{html.escape(sec.title)}</h2>']
    if sec.findings:
        items = "".join(f"<li>{html.escape(sanitise(s))}</li>" for s in sec.findings)
        parts.append(f'<ul class="findings">{items}</ul>')
    if sec.notes:
        parts += ['<p class="muted">Notes beside these numbers:</p>', _notes(doc.answer, sec.notes)]
    for block in sec.blocks:
        if isinstance(block, Table):
            parts += [f"<h3>{html.escape(block.title)}</h3>", html_table(block.header, block.rows)]
        else:
            parts.append(_figure(block, files))
    return [*parts, "</section>"]
