"""The report: one self-contained HTML page and a REPORT.md, built from stored records and drawn charts.

What is promised
    :func:`write_html` writes one page that needs nothing else to be read:
    every chart embedded (SVG, else PNG, as a ``data:`` URI), the verdict
    tables (probes and micro-benchmarks with the wording of
    :mod:`bench.present.tables`; the database matrix; the request scenario), key
    findings in plain sentences computed from the records -- never typed in
    -- the environment the records came from, and every problem met while
    reading them or drawing the charts.  No ``src`` or ``href`` points outside
    the page.  :func:`write_markdown` writes the same findings and tables for
    a repository page, with the charts as relative image links.

    No password is ever printed: every string that reaches either page goes
    through :func:`sanitise`, which replaces the password of any URL
    (``scheme://user:secret@host`` -> ``scheme://user:***@host``) and the
    value of any key that names a password.  The records should not carry
    one anyway; this is the second line of defence.

Why
    A report is a reading of the records: anyone holding the same JSON files
    gets the same report, and a finding that is not in the records cannot be
    in the report.  Self-containment lets the page be mailed, attached to a CI
    run or opened years later from an archive.
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.cell.probes import JUDGED, PROBES
from bench.present import charts
from bench.present.tables import markdown_table, md_cell, micro_rows, probe_rows
from bench.records.io import atomic_write_text

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*):(?P<secret>[^\s@/]*)@")
_SECRET_KEYS = re.compile(r"pass(word|wd)?$|^pwd$|secret", re.IGNORECASE)
CHART_TITLES: dict[str, str] = {
    "isolation": "Isolation probes",
    "cost_per_op": "Cost per operation",
    "throughput": "Throughput",
    "latency": "Latency",
    "errors": "Errors and wrong results",
    "request": "Request scenario",
}


# --- safety


def sanitise(obj: Any) -> Any:
    """``obj`` with every URL password and every password-named key's value replaced by ``***``."""
    if isinstance(obj, str):
        return _URL_PASSWORD.sub(lambda m: f"{m['head']}:***@" if m["secret"] else m[0], obj)
    if isinstance(obj, dict):
        return {k: ("***" if isinstance(k, str) and _SECRET_KEYS.search(k) and v not in (None, "") else sanitise(v)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitise(v) for v in obj]
    return obj


# --- words


def join_words(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _levels(values: Iterable[int]) -> str:
    return join_words([str(v) for v in sorted(set(values))])


def _fmt_rate(v: Any) -> str:
    return f"{v:,.0f}" if isinstance(v, (int, float)) else "-"


def _fmt_ms(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return "-"
    return f"{v:.3g}" if v < 100 else f"{v:,.0f}"


# --- findings


def locals_findings(records: list[dict[str, Any]]) -> list[str]:
    """Sentences about isolation (per load), inheritance and cost, from probe and micro records."""
    probes = charts.of_kind(records, "probe")
    micro = charts.of_kind(records, "micro")
    out: list[str] = []
    if probes:
        impls = charts.impls_of(probes)
        loads = charts.loads_of(probes)
        judged = [p for p in PROBES if p in JUDGED and any(r["probe"] == p for r in probes)]
        cells = {(r["impl"], r["load"], r["probe"]): r for r in probes}
        for load in loads:
            failing: dict[tuple[str, ...], list[str]] = {}
            broken: list[str] = []
            for impl in impls:
                recs = [cells.get((impl, load, p)) for p in judged]
                if any(r is not None and r.get("outcome") != "ok" for r in recs):
                    broken.append(impl)
                fails = tuple(p for p, r in zip(judged, recs, strict=True) if r is not None and r.get("outcome") == "ok" and r.get("violations"))
                if fails:
                    failing.setdefault(fails, []).append(impl)
            parts = [f"{join_words(names)} {'fails' if len(names) == 1 else 'fail'} {join_words(list(fails))}" for fails, names in failing.items()]
            measured = [i for i in impls if any((i, load, p) in cells for p in judged)]
            if parts:
                text = f"Under {load}, " + "; ".join(parts) + "."
                clean = [i for i in measured if i not in broken and not any(i in names for names in failing.values())]
                if clean:
                    text += f" {join_words(clean)} {'passes' if len(clean) == 1 else 'pass'} every judged probe."
                out.append(text)
            elif measured:
                out.append(f"Under {load}, every impl measured passes every judged probe ({join_words(judged)}).")
            if broken:
                out.append(f"Under {load}, {join_words(broken)} could not be probed (error).")
        always = [i for i in impls if all((cells.get((i, ld, p)) or {}).get("outcome") == "ok" and not cells[(i, ld, p)].get("violations")
                                          for ld in loads for p in judged)]
        if always and len(loads) > 1:
            out.append(f"{join_words(always)} {'passes' if len(always) == 1 else 'pass'} every judged probe under every load measured ({join_words(loads)}).")
        inherit: dict[str, list[str]] = {}
        for r in probes:
            if r["probe"] == "inheritance" and r.get("outcome") == "ok":
                inherited = (r.get("details") or {}).get("inherited")
                if inherited and inherited == r.get("checks"):
                    inherit.setdefault(r["load"], []).append(r["impl"])
        for load in charts.ordered(inherit, charts.LOAD_ORDER):
            names = charts.ordered(inherit[load], impls)
            out.append(f"A child starts with its parent's value under {load} with {join_words(names)} (reported, not judged).")
    if micro:
        cells_m = {(r["impl"], r["op"]): r for r in micro}
        ops = charts.ordered((r["op"] for r in micro), charts.OP_ORDER)
        ref = cells_m.get(("threading-local", "get"))
        floor = cells_m.get(("plain", "get"))
        if ref and floor:
            out.append(f"A threading.local read costs {ref['ns_median']:.1f} ns, a plain attribute read {floor['ns_median']:.1f} ns (the floor).")
        for impl in charts.impls_of(micro):
            if impl in ("plain", "threading-local"):
                continue
            ratios = [(op, cells_m[(impl, op)].get("ratio_to_threading_local")) for op in ops if (impl, op) in cells_m]
            ratios = [(op, r) for op, r in ratios if isinstance(r, (int, float))]
            if not ratios:
                continue
            read = dict(ratios).get("get")
            head = f"{impl} read is {read:.1f}x threading.local" if read is not None else f"{impl} costs"
            detail = ", ".join(f"{op} {r:.1f}x" for op, r in ratios)
            out.append(f"{head} ({detail}).")
        if probes:
            safe = set(always) if len(charts.loads_of(probes)) > 1 else set()
            gets = [(cells_m[(i, "get")]["ns_median"], i) for i in safe if (i, "get") in cells_m]
            if gets:
                ns, best = min(gets)
                ratio = cells_m[(best, "get")].get("ratio_to_threading_local")
                ratio_text = f", {ratio:.1f}x threading.local" if isinstance(ratio, (int, float)) else ""
                out.append(f"Of the impls that pass every judged probe under every load, the cheapest read is {best}'s ({ns:.1f} ns{ratio_text}).")
    return out


def _by_strategy_load(recs: list[dict[str, Any]], pick: Any) -> dict[str, dict[str, list[int]]]:
    found: dict[str, dict[str, list[int]]] = {}
    for r in recs:
        if pick(r):
            found.setdefault(r["strategy"], {}).setdefault(r["load"], []).append(r["concurrency"])
    return found


def _where(per_load: dict[str, list[int]], loads: list[str]) -> str:
    return join_words([f"under {load} at concurrency {_levels(per_load[load])}" for load in loads if load in per_load])


def db_findings(records: list[dict[str, Any]]) -> list[str]:
    """Sentences about wrong results, errors, hangs, clean strategies and throughput, from db records."""
    db = [r for r in charts.of_kind(records, "db") if r.get("outcome") != "skipped"]
    if not db:
        return []
    out: list[str] = []
    loads = charts.loads_of(db)
    strategies = charts.strategies_of(db)

    wrong = _by_strategy_load(db, lambda r: bool(r.get("wrong_results")))
    for strategy in charts.ordered(wrong, strategies):
        mine = [r for r in db if r["strategy"] == strategy and r.get("wrong_results")]
        total = sum(int(r["wrong_results"]) for r in mine)
        detail = {k: sum(int((r.get("wrong_detail") or {}).get(k) or 0) for r in mine) for k in ("foreign", "stale", "other")}
        words = {"foreign": "from another worker", "stale": "stale (its own earlier reply)", "other": "unattributable"}
        split = ", ".join(f"{n:,} {words[k]}" for k, n in detail.items() if n)
        out.append(f"{strategy} returned wrong results {_where(wrong[strategy], loads)} ({total:,} in all" + (f": {split}" if split else "") + ").")
    errs = _by_strategy_load(db, lambda r: charts.error_total(r) > 0)
    for strategy in charts.ordered(errs, strategies):
        classes: dict[str, int] = {}
        for r in db:
            if r["strategy"] == strategy:
                for k, v in (r.get("errors") or {}).items():
                    classes[k] = classes.get(k, 0) + int(v)
        top = sorted(classes.items(), key=lambda kv: -kv[1])[:3]
        out.append(f"{strategy} raised errors {_where(errs[strategy], loads)} (" + ", ".join(f"{k}: {v:,}" for k, v in top) + ").")
    hung = _by_strategy_load(db, lambda r: r.get("outcome") == "hung")
    for strategy in charts.ordered(hung, strategies):
        out.append(f"{strategy} hung {_where(hung[strategy], loads)}.")
    clean = [s for s in strategies if all(not charts._bad(r) for r in db if r["strategy"] == s)]
    if clean:
        out.append(f"{join_words(clean)} returned only each worker's own rows, with no error, in every cell measured.")
    idle: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in db:
        if r.get("outcome") == "ok" and r.get("ops_per_s") == 0:
            idle.setdefault((r["load"], r["concurrency"]), []).append(r)
    for (load, c), recs in sorted(idle.items(), key=lambda kv: (loads.index(kv[0][0]), kv[0][1])):
        names = charts.ordered((r["strategy"] for r in recs), strategies)
        text = (f"Under {load} at {c} workers, {join_words(names)} finished no operation inside the measured window "
                f"and recorded no error")
        slowest = max(((r.get("first_checkout_ms") or {}).get("max") or 0 for r in recs), default=0)
        budget = max((float(r.get("warmup_s") or 0) + float(r.get("duration_s") or 0) for r in recs), default=0)
        if slowest and budget and slowest / 1e3 > budget / 2:
            text += f"; first connections took up to {slowest / 1e3:.1f} s against a warm-up plus window of {budget:.1f} s"
        out.append(text + ".")
    for load in loads:
        rows = [r for r in db if r["load"] == load and not charts._bad(r) and isinstance(r.get("ops_per_s"), (int, float)) and r["ops_per_s"] > 0]
        if not rows:
            continue
        best = max(rows, key=lambda r: r["ops_per_s"])
        text = (f"Under {load} the highest throughput of a correct strategy is {best['strategy']}'s {_fmt_rate(best['ops_per_s'])} ops/s "
                f"at {best['concurrency']} workers")
        ceiling = best.get("server_ceiling_ops_per_s")
        if isinstance(ceiling, (int, float)) and ceiling > 0:
            text += f", {best['ops_per_s'] / ceiling:.0%} of the server's own ceiling there (mysqlslap: {_fmt_rate(ceiling)} queries/s)"
        out.append(text + ".")
    by_key = {(r["strategy"], r["load"], r["concurrency"]): r for r in db}
    for load in loads:
        ratios = []
        for (s, ld, c), r in sorted(by_key.items(), key=lambda kv: kv[0][2]):
            ref = by_key.get(("own-connection", ld, c))
            if s == "pooled-tuned" and ld == load and ref and not charts._bad(r) and not charts._bad(ref) and r.get("ops_per_s") and ref.get("ops_per_s"):
                ratios.append((c, r["ops_per_s"] / ref["ops_per_s"]))
        if ratios:
            detail = ", ".join(f"{ratio:.0%} at {c} worker{'s' if c != 1 else ''}" for c, ratio in ratios)
            out.append(f"Under {load}, pooled-tuned reaches {detail} of own-connection's throughput.")
    return out


def request_findings(records: list[dict[str, Any]]) -> list[str]:
    """Sentences about the request scenario: which Local leaked request context, under which load."""
    req = [r for r in charts.of_kind(records, "request") if r.get("outcome") != "skipped"]
    if not req:
        return []
    out: list[str] = []
    loads = charts.loads_of(req)
    for impl in charts.impls_of(req):
        mine = [r for r in req if r["impl"] == impl]
        leaked = [r for r in mine if r.get("local_violations")]
        if leaked:
            parts = []
            for load in loads:
                at = [r for r in leaked if r["load"] == load]
                if at:
                    total = sum(int(r["local_violations"]) for r in at)
                    of = len([r for r in mine if r["load"] == load])
                    parts.append(f"under {load} ({total:,} reads of another request's context, with {len(at)} of {of} strategies)")
            out.append(f"With the request context on {impl}, requests saw another request's context {join_words(parts)}.")
    clean = [i for i in charts.impls_of(req) if all(not r.get("local_violations") for r in req if r["impl"] == i)]
    if clean:
        out.append(f"With the request context on {join_words(clean)}, no request saw another's context under {join_words(loads)}.")
    return out


def findings(records: list[dict[str, Any]]) -> list[str]:
    """Every key finding, in report order: locals, database, request scenario."""
    return [*locals_findings(records), *db_findings(records), *request_findings(records)]


# --- tables


def _errors_text(rec: dict[str, Any]) -> str:
    errors = rec.get("errors") or {}
    total = charts.error_total(rec)
    if not total:
        return "0"
    top = sorted(errors.items(), key=lambda kv: -kv[1])
    return f"{total:,} (" + ", ".join(f"{k} {v:,}" for k, v in top[:3]) + (", ..." if len(top) > 3 else "") + ")"


def db_rows(records: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per strategy x load x concurrency."""
    db = charts.of_kind(records, "db")
    strategies = charts.strategies_of(db)
    loads = charts.loads_of(db)
    rank_s = {s: i for i, s in enumerate(strategies)}
    rank_l = {ld: i for i, ld in enumerate(loads)}
    rows = []
    for r in sorted(db, key=lambda r: (rank_s[r["strategy"]], rank_l[r["load"]], r["concurrency"])):
        lat = r.get("latency_ms") or {}
        ceiling = r.get("server_ceiling_ops_per_s")
        share = f"{r['ops_per_s'] / ceiling:.0%}" if isinstance(ceiling, (int, float)) and ceiling and isinstance(r.get("ops_per_s"), (int, float)) else "-"
        wrong = r.get("wrong_results")
        detail = r.get("wrong_detail") or {}
        wrong_text = "-" if wrong is None else f"{wrong:,}" + (f" ({detail.get('foreign', 0)} foreign)" if wrong and detail else "")
        rows.append([r["strategy"], r["load"], str(r["concurrency"]), _fmt_rate(r.get("ops_per_s")), _fmt_ms(lat.get("p50")), _fmt_ms(lat.get("p99")),
                     _errors_text(r), wrong_text, str(r.get("outcome")), share])
    return ["strategy", "load", "workers", "ops/s", "p50 ms", "p99 ms", "errors", "wrong results", "outcome", "of ceiling"], rows


def request_rows(records: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per impl x strategy x load of the request scenario."""
    req = charts.of_kind(records, "request")
    impls = charts.impls_of(req)
    strategies = charts.strategies_of(req)
    loads = charts.loads_of(req)
    rank = ({v: i for i, v in enumerate(impls)}, {v: i for i, v in enumerate(strategies)}, {v: i for i, v in enumerate(loads)})
    rows = []
    for r in sorted(req, key=lambda r: (rank[0][r["impl"]], rank[2][r["load"]], rank[1][r["strategy"]])):
        lv = r.get("local_violations")
        rows.append([r["impl"], r["strategy"], r["load"], str(r["concurrency"]), "-" if lv is None else f"{lv:,}",
                     "-" if r.get("wrong_results") is None else f"{r['wrong_results']:,}", _errors_text(r), _fmt_rate(r.get("ops_per_s")), str(r.get("outcome"))])
    return ["impl", "strategy", "load", "workers", "local violations", "wrong results", "errors", "ops/s", "outcome"], rows


def environment_rows(environment: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, value) pairs, nested keys dotted, the important ones first, all sanitised."""
    env = sanitise(environment)
    first = ("python", "packages", "cpu", "platform", "commit", "server")
    flat: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list):
            flat.append((prefix, ", ".join(str(v) for v in value) if all(not isinstance(v, (dict, list)) for v in value) else str(value)))
        elif value is None:
            flat.append((prefix, "not installed" if prefix.startswith("packages.") else "-"))
        else:
            flat.append((prefix, str(value)))

    for key in [k for k in first if k in env] + [k for k in env if k not in first]:
        walk(key, env[key])
    return flat


def sections(environment: dict[str, Any], records: list[dict[str, Any]]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table the records allow."""
    out = []
    header, rows = probe_rows(records, charts.impls_of(charts.of_kind(records, "probe")), charts.LOAD_ORDER)
    if rows:
        out.append(("Isolation probes: violations / checks (inheritance is reported, not judged)", header, rows))
    header, rows = micro_rows(records, charts.impls_of(charts.of_kind(records, "micro")))
    if rows:
        out.append(("Cost per operation: median ns ± MAD (ratio to threading.local)", header, rows))
    header, rows = db_rows(records)
    if rows:
        out.append(("Connection strategies: throughput, latency, errors, wrong results", header, rows))
    header, rows = request_rows(records)
    if rows:
        out.append(("Request scenario: request context on a Local x connection strategy", header, rows))
    return out


def chart_notes(records: list[dict[str, Any]], available: Iterable[str]) -> list[str]:
    """Why each chart that is not shown is missing."""
    reasons = charts.skip_reasons(records)
    have = set(available)
    notes = []
    for name in charts.CHARTS:
        if name in have:
            continue
        notes.append(f"{CHART_TITLES[name]} chart not shown: {reasons.get(name, 'its file was not found (charts not drawn?)')}.")
    return notes


# --- HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#1d1d1d;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
figure{margin:1.2em 0}figure img{width:100%;max-width:900px;height:auto;display:block}figcaption{font-size:.85em;color:#555}
table{border-collapse:collapse;font-size:.82em;margin:.8em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f4f4f4}td.wrap{min-width:12em}td:nth-child(-n+2){white-space:nowrap}
td.fail{background:#fbe0d3;color:#7a1f00;font-weight:600}td.ok{color:#1e4d3a}td.err{background:#e2e2e2;font-weight:600}
ul.findings li{margin:.3em 0}.problems li{color:#7a1f00}.muted{color:#666;font-size:.9em}code{font-size:.9em}
"""


def _cell_class(text: str, column: str) -> str:
    if text.startswith("FAIL") or text in ("error", "hung", "errors"):
        return "fail" if text != "hung" else "err"
    if text.startswith("ok"):
        return "ok"
    if column in ("local violations", "wrong results") and text not in ("0", "-"):
        return "fail"
    if column == "errors" and text not in ("0", "-"):
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


def _data_uri(path: Path) -> str:
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _title(environment: dict[str, Any], records: list[dict[str, Any]]) -> str:
    kinds = {r.get("kind") for r in records}
    halves = [w for w, ks in (("context-locals", {"probe", "micro"}), ("MySQL connection strategies", {"db", "request"})) if kinds & ks]
    return "ctxbench report" + (": " + " and ".join(halves) if halves else "")


def write_html(environment: dict[str, Any], records: list[dict[str, Any]], charts_dir: str | os.PathLike[str], out_path: str | os.PathLike[str],
               problems: Sequence[str] = ()) -> Path:
    """Write the self-contained HTML report; return its path."""
    out = Path(out_path)
    available = chart_files(Path(charts_dir))
    title = _title(environment, records)
    commit = sanitise(str(environment.get("commit") or "unknown commit"))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="muted">{len(records)} records; commit <code>{html.escape(commit)}</code>. Every number below is read from the stored records.</p>',
    ]
    found = findings(records)
    if found:
        parts.append("<h2>Key findings</h2><ul class=\"findings\">" + "".join(f"<li>{html.escape(sanitise(s))}</li>" for s in found) + "</ul>")
    parts.append("<h2>Charts</h2>")
    for name, path in available.items():
        alt = charts.CHARTS[name]
        parts.append(f'<figure id="chart-{name}"><img class="chart" alt="{html.escape(alt)}" src="{_data_uri(path)}"></figure>')
    notes = chart_notes(records, available)
    if notes:
        parts.append("<ul>" + "".join(f'<li class="muted">{html.escape(n)}</li>' for n in notes) + "</ul>")
    for table_title, header, rows in sections(environment, records):
        parts.append(f"<h2>{html.escape(table_title)}</h2>")
        parts.append(_html_table(header, sanitise(rows)))
    parts.append("<h2>Environment</h2>")
    env_rows = environment_rows(environment)
    if env_rows:
        parts.append(_html_table(["what", "value"], [[k, v] for k, v in env_rows]))
    else:
        parts.append('<p class="muted">No environment was recorded.</p>')
    if problems:
        parts.append("<h2>Problems reading the records</h2><ul class=\"problems\">"
                     + "".join(f"<li>{html.escape(sanitise(p))}</li>" for p in problems) + "</ul>")
    parts.append("</body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join(parts) + "\n")
    return out


# --- Markdown


def write_markdown(environment: dict[str, Any], records: list[dict[str, Any]], charts_rel_dir: str | os.PathLike[str], out_path: str | os.PathLike[str],
                   problems: Sequence[str] = ()) -> Path:
    """Write REPORT.md (charts as image links relative to ``out_path``'s directory); return its path."""
    out = Path(out_path)
    rel = Path(charts_rel_dir)
    charts_dir = rel if rel.is_absolute() else out.parent / rel
    available = {name: path for name, path in ((n, charts_dir / f"{n}.png") for n in charts.CHARTS) if path.is_file()}
    if not available:
        available = {name: path for name, path in chart_files(charts_dir).items()}
    title = _title(environment, records)
    commit = sanitise(str(environment.get("commit") or "unknown commit"))
    lines = [f"# {title}", "", f"{len(records)} records; commit `{commit}`. Every number below is read from the stored records.", ""]
    found = findings(records)
    if found:
        lines += ["## Key findings", "", *(f"- {sanitise(s)}" for s in found), ""]
    lines += ["## Charts", ""]
    for name, path in available.items():
        link = (rel / path.name).as_posix()
        lines += [f"### {CHART_TITLES[name]}", "", f"![{charts.CHARTS[name]}]({link})", ""]
    lines += [f"- {n}" for n in chart_notes(records, available)]
    if lines[-1] != "":
        lines.append("")
    for table_title, header, rows in sections(environment, records):
        lines += [f"## {table_title}", "", markdown_table(header, sanitise(rows)), ""]
    env_rows = environment_rows(environment)
    lines += ["## Environment", ""]
    lines += [markdown_table(["what", "value"], [[k, v] for k, v in env_rows]) if env_rows else "No environment was recorded.", ""]
    if problems:
        lines += ["## Problems reading the records", "", *(f"- {md_cell(sanitise(p))}" for p in problems), ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join(lines))
    return out


# --- everything at once


def render_report(sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
                  formats: Sequence[str] = charts.FORMATS) -> tuple[Path, Path, list[str]]:
    """Read records, draw charts into ``out_dir/charts``, write ``report.html`` and ``REPORT.md``; return them and the problems."""
    out = Path(out_dir)
    environment, records, problems = charts.load_records(sources)
    notes: list[str] = []
    charts.draw_all(records, out / "charts", formats=formats, notes=notes)
    problems = [*problems, *(n for n in notes if ": skipped: " not in n)]
    page = write_html(environment, records, out / "charts", out / "report.html", problems)
    md = write_markdown(environment, records, "charts", out / "REPORT.md", problems)
    return page, md, problems
