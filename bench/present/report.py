"""The report: one self-contained HTML page and a REPORT.md, built from stored records and drawn charts.

What is promised
    :func:`write_html` writes one page that needs nothing else to be read: every chart embedded (SVG,
    else PNG, as a ``data:`` URI), the verdict tables (:mod:`bench.present.tables`: probes, micro-benchmarks,
    the database matrix, the request scenario), key findings in plain sentences computed from the records
    (:mod:`bench.present.findings`), the environment the records came from, and every problem met while
    reading them or drawing the charts.  No ``src`` or ``href`` points outside the page.
    :func:`write_markdown` writes the same findings and tables for a repository page, with the charts as
    relative image links.  :func:`render_report` reads the records, draws the charts and writes both.

    No password is ever printed: every string that reaches either page goes through :func:`sanitise`,
    which replaces the password of any URL (``scheme://user:secret@host`` -> ``scheme://user:***@host``)
    and the value of any key that names a password.  The records should not carry one anyway; this is the
    second line of defence.

Why
    A report is a reading of the records: anyone holding the same JSON files gets the same report, and a
    finding that is not in the records cannot be in the report.  Self-containment lets the page be mailed,
    attached to a CI run or opened years later from an archive.
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.present import charts
from bench.present.common import LOAD_ORDER, impls_of, of_kind
from bench.present.findings import findings
from bench.present.model import model_rows
from bench.present.tables import (
    db_rows,
    markdown_table,
    md_cell,
    micro_rows,
    probe_rows,
    request_rows,
    scaling_rows,
    stack_process_rows,
    stack_rows,
)
from bench.records.io import atomic_write_text
from bench.records.kinds import Record
from bench.records.read import Sources, load_records

__all__ = [
    "CHART_TITLES", "chart_files", "chart_notes", "db_rows", "environment_rows", "findings", "render_report",
    "request_rows", "sanitise", "sections", "write_html", "write_markdown",
]

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*):(?P<secret>[^\s@/]*)@")
_SECRET_KEYS = re.compile(r"pass(word|wd)?$|^pwd$|secret", re.IGNORECASE)
CHART_TITLES: dict[str, str] = {
    "isolation": "Isolation probes",
    "cost_per_op": "Cost per operation",
    "throughput": "Throughput",
    "latency": "Latency",
    "errors": "Silent wrong results, errors and wrong results",
    "request": "Request scenario",
    "stack": "The real stack",
}
Table = tuple[str, list[str], list[list[str]]]


# --- what both pages show


def sanitise(obj: Any) -> Any:
    """``obj`` with every URL password and every password-named key's value replaced by ``***``.

    A regular expression, not SQLAlchemy's ``make_url``: URLs are found inside any text (an error line, a
    finding), not parsed from a string that is known to be one.
    """
    if isinstance(obj, str):
        return _URL_PASSWORD.sub(lambda m: f"{m['head']}:***@" if m["secret"] else m[0], obj)
    if isinstance(obj, dict):
        return {k: ("***" if isinstance(k, str) and _SECRET_KEYS.search(k) and v not in (None, "") else sanitise(v))
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitise(v) for v in obj]
    return obj


def _flatten(prefix: str, value: Any, flat: list[tuple[str, str]]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, flat)
    elif isinstance(value, list):
        plain = all(not isinstance(v, (dict, list)) for v in value)
        flat.append((prefix, ", ".join(str(v) for v in value) if plain else str(value)))
    elif value is None:
        flat.append((prefix, "not installed" if prefix.startswith("packages.") else "-"))
    else:
        flat.append((prefix, str(value)))


def environment_rows(environment: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, value) pairs, nested keys dotted, the important ones first, all sanitised."""
    env = sanitise(environment)
    first = ("python", "packages", "cpu", "platform", "commit", "server")
    flat: list[tuple[str, str]] = []
    for key in [k for k in first if k in env] + [k for k in env if k not in first]:
        _flatten(key, env[key], flat)
    return flat


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
        ("Connection strategies: throughput, latency, errors, wrong results", db_rows(records)),
        ("Request scenario: request context on a Local x connection strategy", request_rows(records)),
        ("Scaling over processes: efficiency = ops/s(P) / (P x ops/s(P=1)); CPU seconds of the clients and the "
         "server over the same span", scaling_rows(records)),
    ]
    return [(title, header, rows) for title, (header, rows) in tables if rows]


def chart_notes(records: Sequence[Record], available: Iterable[str]) -> list[str]:
    """Why each chart that is not shown is missing."""
    reasons = charts.skip_reasons(records)
    have = set(available)
    return [f"{CHART_TITLES[name]} chart not shown: {reasons.get(name, 'its file was not found (charts not drawn?)')}."
            for name in charts.CHARTS if name not in have]


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
             ("the real stack", {"stack"}))
    halves = [words for words, of in pairs if kinds & of]
    return "ctxbench report" + (": " + " and ".join(halves) if halves else "")


# --- HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;\
color:#1d1d1d;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd;\
padding-bottom:.2em}
figure{margin:1.2em 0}figure img{width:100%;max-width:900px;height:auto;display:block}\
figcaption{font-size:.85em;color:#555}
table{border-collapse:collapse;font-size:.82em;margin:.8em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f4f4f4}\
td.wrap{min-width:12em}td:nth-child(-n+2){white-space:nowrap}
td.fail{background:#fbe0d3;color:#7a1f00;font-weight:600}td.ok{color:#1e4d3a}td.err{background:#e2e2e2;font-weight:600}
ul.findings li{margin:.3em 0}.problems li{color:#7a1f00}.muted{color:#666;font-size:.9em}code{font-size:.9em}
"""


def _cell_class(text: str, column: str) -> str:
    if text.startswith("FAIL") or text in ("error", "hung", "errors"):
        return "fail" if text != "hung" else "err"
    if text.startswith("ok"):
        return "ok"
    if column == "verdict" and text == "disagree":
        return "fail"
    if column in ("local violations", "wrong results", "silent wrong", "wrong Local") and text not in ("0", "-"):
        return "fail"
    if column in ("errors", "HTTP errors", "client errors") and text not in ("0", "-"):
        return "fail"
    return ""


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for column, cell in zip(header, row, strict=False):
            cls = " ".join(c for c in (_cell_class(cell, column), "wrap" if column in ("errors", "value") else "") if c)
            cells.append(f'<td class="{cls}">{html.escape(cell)}</td>' if cls else f"<td>{html.escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _data_uri(path: Path) -> str:
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _html_head(environment: dict[str, Any], records: Sequence[Record]) -> list[str]:
    title = _title(records)
    commit = sanitise(str(environment.get("commit") or "unknown commit"))
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="muted">{len(records)} records; commit <code>{html.escape(commit)}</code>. '
        "Every number below is read from the stored records.</p>",
    ]


def _html_charts(records: Sequence[Record], available: dict[str, Path]) -> list[str]:
    parts = ["<h2>Charts</h2>"]
    for name, path in available.items():
        alt = charts.CHARTS[name]
        img = f'<img class="chart" alt="{html.escape(alt)}" src="{_data_uri(path)}">'
        parts.append(f'<figure id="chart-{name}">{img}</figure>')
    notes = chart_notes(records, available)
    if notes:
        parts.append("<ul>" + "".join(f'<li class="muted">{html.escape(n)}</li>' for n in notes) + "</ul>")
    return parts


def write_html(environment: dict[str, Any], records: Sequence[Record], charts_dir: str | os.PathLike[str],
               out_path: str | os.PathLike[str], problems: Sequence[str] = ()) -> Path:
    """Write the self-contained HTML report; return its path."""
    out = Path(out_path)
    parts = _html_head(environment, records)
    found = findings(records)
    if found:
        items = "".join(f"<li>{html.escape(sanitise(s))}</li>" for s in found)
        parts.append(f'<h2>Key findings</h2><ul class="findings">{items}</ul>')
    parts += _html_charts(records, chart_files(Path(charts_dir)))
    for table_title, header, rows in sections(records):
        parts.append(f"<h2>{html.escape(table_title)}</h2>")
        parts.append(_html_table(header, sanitise(rows)))
    parts.append("<h2>Environment</h2>")
    env_rows = environment_rows(environment)
    if env_rows:
        parts.append(_html_table(["what", "value"], [[k, v] for k, v in env_rows]))
    else:
        parts.append('<p class="muted">No environment was recorded.</p>')
    if problems:
        parts.append('<h2>Problems reading the records</h2><ul class="problems">'
                     + "".join(f"<li>{html.escape(sanitise(p))}</li>" for p in problems) + "</ul>")
    parts.append("</body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join(parts) + "\n")
    return out


# --- Markdown


def _markdown_charts(records: Sequence[Record], rel: Path, charts_dir: Path) -> list[str]:
    """The charts section: PNG links where there are PNGs, else whatever :func:`chart_files` finds."""
    available = {name: path for name, path in ((n, charts_dir / f"{n}.png") for n in charts.CHARTS) if path.is_file()}
    if not available:
        available = chart_files(charts_dir)
    lines = ["## Charts", ""]
    for name, path in available.items():
        link = (rel / path.name).as_posix()
        lines += [f"### {CHART_TITLES[name]}", "", f"![{charts.CHARTS[name]}]({link})", ""]
    lines += [f"- {n}" for n in chart_notes(records, available)]
    if lines[-1] != "":
        lines.append("")
    return lines


def write_markdown(environment: dict[str, Any], records: Sequence[Record], charts_rel_dir: str | os.PathLike[str],
                   out_path: str | os.PathLike[str], problems: Sequence[str] = ()) -> Path:
    """Write REPORT.md (charts as image links relative to ``out_path``'s directory); return its path."""
    out = Path(out_path)
    rel = Path(charts_rel_dir)
    commit = sanitise(str(environment.get("commit") or "unknown commit"))
    lines = [f"# {_title(records)}", "",
             f"{len(records)} records; commit `{commit}`. Every number below is read from the stored records.", ""]
    found = findings(records)
    if found:
        lines += ["## Key findings", "", *(f"- {sanitise(s)}" for s in found), ""]
    lines += _markdown_charts(records, rel, rel if rel.is_absolute() else out.parent / rel)
    for table_title, header, rows in sections(records):
        lines += [f"## {table_title}", "", markdown_table(header, sanitise(rows)), ""]
    env_rows = environment_rows(environment)
    lines += ["## Environment", ""]
    env_text = "No environment was recorded."
    if env_rows:
        env_text = markdown_table(["what", "value"], [[k, v] for k, v in env_rows])
    lines += [env_text, ""]
    if problems:
        lines += ["## Problems reading the records", "", *(f"- {md_cell(sanitise(p))}" for p in problems), ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join(lines))
    return out


# --- everything at once


def render_report(sources: Sources, out_dir: str | os.PathLike[str], *,
                  formats: Sequence[str] = charts.FORMATS) -> tuple[Path, Path, list[str]]:
    """Read records, draw charts into ``out_dir/charts``, write ``report.html`` and ``REPORT.md``.

    Returns both paths and the problems met reading the records and drawing the charts.
    """
    out = Path(out_dir)
    environment, records, problems = load_records(sources)
    notes: list[str] = []
    charts.draw_all(records, out / "charts", formats=formats, notes=notes)
    problems = [*problems, *(n for n in notes if ": skipped: " not in n)]
    page = write_html(environment, records, out / "charts", out / "report.html", problems)
    md = write_markdown(environment, records, "charts", out / "REPORT.md", problems)
    return page, md, problems
