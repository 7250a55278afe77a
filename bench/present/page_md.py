"""The report as REPORT.md: the same outline as the HTML page (:mod:`bench.present.outline`), charts as relative
image links, every string sanitised."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.present import answer as answers
from bench.present import charts
from bench.present.footnotes import Note
from bench.present.glossary import KNOWN_AS, TERMS
from bench.present.outline import Document, Figure, Section, Table, toc
from bench.present.tables import markdown_table, md_cell
from bench.present.text import sanitise


def _anchor_link(anchor: str, title: str) -> str:
    return f"[{title}](#{anchor})"


def head(doc: Document, tail: Sequence[tuple[str, str]]) -> list[str]:
    lines = [f"# {doc.title}", ""]
    lines += [f"- **{k}**: {sanitise(v)}" for k, v in doc.facts]
    lines += ["", "Contents: " + " · ".join(_anchor_link(a, t) for a, t in toc(doc, tail)), ""]
    return lines


def _notes(ans: answers.Answer, notes: Sequence[Note]) -> list[str]:
    return [f"{ans.number(n)}. **{n.title}**: {sanitise(n.text)}" for n in notes]


def answer_section(doc: Document) -> list[str]:
    ans = doc.answer
    header, rows = answers.table(ans)
    agree, compared = ans.model
    lines = ['<a id="what-to-use"></a>', "", "## What to use", ""]
    if ans.empty:
        lines += [ans.empty, ""]
    else:
        lines += [markdown_table(header, sanitise(rows)), "",
                  f"{answers.PREDICTED} predicted by the in-process model of the server's load (no stack cell measured "
                  f"it; the model agreed with the real stack in {agree} of {compared} cells compared); unmarked names "
                  "on a server row were measured on the real stack. Safe: 0 errors, 0 wrong results, 0 silent wrong, "
                  "0 Local violations in every cell. Throughput: correct replies/s, median (range, n). [n]: note n "
                  "below.", ""]
    if ans.notes:
        lines += [*_notes(ans, ans.notes), ""]
    f_header, f_rows = answers.failure_table(ans)
    if f_rows:
        lines += ["### What is not safe, and what failed", "", markdown_table(f_header, sanitise(f_rows)), ""]
    lines += ["### The Locals by the names users know", "",
              markdown_table(["name", "what it is"], [[k, v] for k, v in KNOWN_AS.items()]), ""]
    return lines


def glossary() -> list[str]:
    return ['<a id="glossary"></a>', "", "## Glossary", "", *(f"- **{t}**: {d}" for t, d in TERMS), ""]


def _figure(fig: Figure, available: dict[str, Path], rel: Path) -> list[str]:
    if fig.name not in available:
        reason = fig.missing or "its file was not found (charts not drawn?)"
        return [f"*{fig.title} chart not shown: {reason}.*", ""]
    link = (rel / available[fig.name].name).as_posix()
    return [f"### {fig.title}", "", f"![{charts.CHARTS.get(fig.name, fig.name)}]({link})", "",
            f"*{sanitise(fig.caption)}*", ""]


def section(doc: Document, sec: Section, available: dict[str, Path], rel: Path) -> list[str]:
    lines = [f'<a id="{sec.id}"></a>', "", f"## {sec.title}", ""]
    if sec.findings:
        lines += [*(f"- {sanitise(s)}" for s in sec.findings), ""]
    if sec.notes:
        lines += ["Notes beside these numbers:", "", *_notes(doc.answer, sec.notes), ""]
    for block in sec.blocks:
        if isinstance(block, Table):
            lines += [f"### {block.title}", "", markdown_table(block.header, sanitise(block.rows)), ""]
        else:
            lines += _figure(block, available, rel)
    return lines


def problems_section(problems: Sequence[str]) -> list[str]:
    if not problems:
        return []
    return ['<a id="problems"></a>', "", "## Problems reading the records", "",
            *(f"- {md_cell(sanitise(p))}" for p in problems), ""]
