"""``ctxbench charts`` and ``ctxbench report``: draw and write from stored records (no server, no rerun)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bench.cli.common import results_source
from bench.errors import EXIT_OK, UsageError
from bench.records.kinds import Record
from bench.records.read import load_records

log = logging.getLogger(__name__)

RESULTS_HELP = "a run directory or a results JSON file (default: the newest run under results/)"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("charts", help="redraw every chart of a run from its stored records (no server, no rerun)")
    p.add_argument("--results", type=Path, metavar="DIR", help=RESULTS_HELP)
    p.add_argument("--out", type=Path, metavar="DIR", help="where to draw (default: <run>/charts)")
    p.set_defaults(func=run_charts)
    p = sub.add_parser("report", help="charts plus report.html and REPORT.md for a run, from its stored records")
    p.add_argument("--results", type=Path, metavar="DIR", help=RESULTS_HELP)
    p.add_argument("--out", type=Path, metavar="DIR", help="where to write (default: the run directory)")
    p.add_argument("--markdown", type=Path, metavar="FILE",
                   help="write only the Markdown page, to FILE, linking the run's drawn charts (nothing is drawn): "
                        "docs/results.md is `ctxbench report --results results/reference --markdown docs/results.md`")
    p.set_defaults(func=run_report)


def _records(source: Path, *, warn: bool) -> list[Record]:
    """The readable records of ``source`` (``warn``: log each unreadable file); none is a UsageError."""
    _environment, records, problems = load_records(source)
    if not records:
        raise UsageError(f"{source}: no readable records" + (f" ({problems[0]})" if problems else ""))
    for line in problems if warn else ():
        log.warning("%s", line)
    return records


def run_charts(args: argparse.Namespace) -> int:
    from bench.present import charts  # matplotlib: loaded when the command runs, not at start-up

    source = results_source(args.results)
    out = args.out or (source / "charts" if source.is_dir() else source.parent / "charts")
    records = _records(source, warn=True)
    notes: list[str] = []
    paths = charts.draw_all(records, out, notes=notes)
    for line in notes:
        log.info("note: %s", line)
    print(f"{len(paths)} chart files in {out}")
    return EXIT_OK


def run_report(args: argparse.Namespace) -> int:
    from bench.present.report import render_report  # matplotlib: loaded when the command runs

    source = results_source(args.results)
    out = args.out or (source if source.is_dir() else source.parent)
    _records(source, warn=False)  # render_report names the unreadable files itself
    if args.markdown is not None:
        from bench.present.report import render_results_page

        print(f"page: {render_results_page(source, out, args.markdown)}")
        return EXIT_OK
    page, md, problems = render_report(source, out)
    for line in problems:
        log.warning("%s", line)
    print_answer_of(source, out)
    print(f"report: {page}")
    print(f"summary: {md}")
    print(f"answer: {out / 'answer.json'}")
    return EXIT_OK


def print_answer_of(source: Path, report_dir: Path) -> None:
    """The "what to use" table in the terminal; a failure to print it is logged, never fatal."""
    from bench.present.terminal import print_answer

    try:
        print_answer(source, report_dir=report_dir)
    except Exception as exc:  # the report is written: the table is a courtesy, not the result
        log.warning("could not print the answer: %s: %s", type(exc).__name__, exc)
