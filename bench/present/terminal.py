"""The answer in a terminal: the "what to use" table as ``ctxbench run`` and ``ctxbench report`` end with it.

:func:`print_answer` reads a run's records (the same reading as the pages and ``answer.json``) and prints the table of
:func:`bench.present.answer.table` with rich, then the notes it refers to and where the full report is.  Printed to
stdout; a pipe gets at least 160 columns, so the table is not squeezed to 80.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

from bench.present import answer as answers
from bench.records.read import Sources, load_records

MIN_WIDTH = 160
#: Column -> its share of the width left by the others (which keep their natural width, unwrapped).
RATIOS = {1: 3, 2: 4, 3: 3}
#: Shorter headers for the narrow columns.
SHORT = {"correct replies/s": "correct/s", "p50 / p99 ms": "p50/p99 ms", "connections": "conns",
         "client CPU µs/op": "CPU µs/op"}


def print_answer(sources: Sources, *, out: IO[str] | None = None, report_dir: Path | None = None) -> bool:
    """Print the answer of ``sources``; False (nothing printed) when it has no record to answer from."""
    from rich.console import Console
    from rich.table import Table

    environment, records, _problems = load_records(sources)
    if not records:
        return False
    from bench.present.interpreters import primary

    ans = answers.answer(primary(records, environment), environment)
    header, rows = answers.table(ans)
    stream = out or sys.stdout
    console = Console(file=stream, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(file=stream, highlight=False, width=max(console.width, MIN_WIDTH), soft_wrap=False)
    if ans.empty:
        console.print(f"What to use: {ans.empty}", markup=False)
        if report_dir is not None:
            console.print(f"Details and charts: {report_dir / 'report.html'}", markup=False)
        return True
    table = Table(title="What to use", title_justify="left", show_lines=True, expand=True)
    for i, name in enumerate(SHORT.get(h, h) for h in header):
        ratio = RATIOS.get(i)
        table.add_column(name, overflow="fold", ratio=ratio, no_wrap=ratio is None)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    agree, compared = ans.model
    console.print(f"{answers.PREDICTED} predicted by the in-process model (it agreed with the real stack in {agree} of "
                  f"{compared} cells compared); safe = 0 errors, 0 wrong results, 0 silent wrong, 0 Local violations; "
                  "throughput = correct replies/s, median (range, n).", markup=False)
    for i, note in enumerate(ans.notes, 1):
        console.print(f"[{i}] {note.title}: {note.text}", markup=False)
    if report_dir is not None:
        console.print(f"Details, glossary and charts: {report_dir / 'report.html'}", markup=False)
    return True
