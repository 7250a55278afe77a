"""How small a slowdown ``ctxbench regress`` catches, and how often it cries wolf: the README's figures.

Usage::

    python -m tests.regress_sensitivity [--slowdowns 0,0.05,0.10,0.15,0.20] [--runs 5] [--clean-runs 15]
                                        [--markdown PATH] [-- extra ctxbench regress flags]

What it does
    Makes one baseline of a small selection (``fast`` and
    :class:`tests.slow_locals.Tunable` under threads, micro-benchmarks and the
    isolation probe, no database) with Tunable at full speed, then runs the
    gate against it ``--runs`` times for every slowdown in ``--slowdowns``
    (``--clean-runs`` times for 0), each run a fresh ``ctxbench regress``
    process whose Tunable reads are slowed by real, calibrated work
    (``CTXBENCH_TEST_SLOWDOWN``).  It counts, per slowdown, the runs that
    flagged ``micro/tests.slow_locals:Tunable/get`` (the slowed metric) and
    the runs that flagged anything else (a false alarm), and prints the table
    the README quotes.  Extra flags after ``--`` go to every gate run (for
    example ``--max-slowdown micro=0.05``).

Why a script and not a test
    The answer is a rate over dozens of gate runs (30-40 s each): twenty
    minutes of a quiet machine, which a test suite run should not spend.  The test
    suite proves the two end points (30 % caught on exactly that metric; five
    clean reruns quiet); this measures the curve in between.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TUNABLE = "tests.slow_locals:Tunable"
SELECTION = ["--impl", f"fast,{TUNABLE}", "--no-db", "--load", "threads", "--probe", "isolation", "--quiet"]
SLOW_METRIC = f"micro/{TUNABLE}/get"


def gate(args: list[str], slowdown: float, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """One ``ctxbench regress`` in a fresh process with Tunable slowed down by ``slowdown``."""
    env = {**os.environ, "CTXBENCH_TEST_SLOWDOWN": str(slowdown)}
    return subprocess.run([sys.executable, "-m", "bench", "regress", *SELECTION, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def fractions(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected fractions such as 0,0.05,0.1") from None
    if not values or any(not 0 <= v <= 10 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: expected fractions from 0 to 10")
    return values


def runs(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value} is out of range 1..100")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.regress_sensitivity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--slowdowns", type=fractions, default=[0, 0.05, 0.10, 0.15, 0.20], metavar="F,F,...")
    parser.add_argument("--runs", type=runs, default=5, metavar="N", help="gate runs per slowdown (default: 5)")
    parser.add_argument("--clean-runs", type=runs, default=15, metavar="N",
                        help="gate runs with no slowdown (default: 15)")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="also write the table here")
    parser.add_argument("extra", nargs="*", help="flags for every gate run (after --)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="ctxbench-sensitivity-"))
    baseline = work / "baseline.json"
    started = time.monotonic()
    proc = gate(["--update-baseline", "--baseline", str(baseline), *args.extra], 0.0)
    if proc.returncode != 0:
        print(f"baseline failed (exit {proc.returncode}):\n{proc.stderr}", file=sys.stderr)
        return 2
    print(f"baseline in {time.monotonic() - started:.0f} s: {baseline}", file=sys.stderr)

    rows = []
    for slowdown in args.slowdowns:
        def run(report: Path, slowdown: float = slowdown) -> subprocess.CompletedProcess[str]:
            return gate(["--baseline", str(baseline), "--json", str(report), *args.extra], slowdown)

        n = args.clean_runs if slowdown == 0 else args.runs
        rows.append(series(run, work, slowdown, n, SLOW_METRIC))

    text = table(rows, ("built-in slowdown", "gate runs", "slowed metric flagged", "runs with a false alarm", "errors",
                        "slowdown the gate measured (median)"))
    return finish(text, rows, started, args.extra, args.markdown)


def series(run: Callable[[Path], subprocess.CompletedProcess[str]], work: Path, slowdown: float, n: int,
           metric: str) -> dict[str, Any]:
    """``n`` gate runs, each ``run(report)`` writing its JSON to ``report``, with ``metric`` slowed by ``slowdown``
    (0: none); the row of the table: runs flagging ``metric``, runs flagging any other, errors, measured median."""
    flagged = others = errors = 0
    measured: list[float] = []
    for i in range(n):
        report = work / f"gate-{slowdown:g}-{i}.json"
        proc = run(report)
        if proc.returncode == 2 or not report.exists():
            errors += 1
            print(f"slowdown {slowdown:g} run {i + 1}: error: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            continue
        verdicts = json.loads(report.read_text())["gate"]["speed"]
        regressions = [r["metric"] for r in verdicts if r["verdict"] == "regression"]
        slow = next((r for r in verdicts if r["metric"] == metric), None)
        if slow is not None:
            measured.append(slow["slowdown"])
        flagged += metric in regressions and slowdown > 0
        others += bool(set(regressions) - ({metric} if slowdown > 0 else set()))
        print(f"slowdown {slowdown:g} run {i + 1}/{n}: exit {proc.returncode}, flagged {regressions or 'nothing'}",
              file=sys.stderr)
    measured.sort()
    return {"slowdown": slowdown, "runs": n, "flagged": flagged, "false_alarms": others, "errors": errors,
            "measured_median": measured[len(measured) // 2] if measured else None}


def table(rows: list[dict[str, Any]], header: tuple[str, ...], clean: str = "n/a") -> str:
    """A sweep's markdown table, a row per slowdown; ``clean`` stands in the flagged column of the 0% row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        got = clean if row["slowdown"] == 0 else f"{row['flagged']}/{row['runs']}"
        med = "n/a" if row["measured_median"] is None else f"{row['measured_median']:+.1%}"
        lines.append(f"| {row['slowdown']:.0%} | {row['runs']} | {got} | {row['false_alarms']}/{row['runs']} "
                     f"| {row['errors']} | {med} |")
    return "\n".join(lines)


def finish(text: str, rows: list[dict[str, Any]], started: float, extra: list[str], markdown: Path | None) -> int:
    """Print a sweep's table and its time, and write the table to ``markdown`` if given."""
    print(text)
    print(f"\n{sum(r['runs'] for r in rows)} gate runs in {time.monotonic() - started:.0f} s; "
          f"extra flags: {extra or 'none'}")
    if markdown:
        markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
