"""How small a slowdown ``ctxbench regress --against`` (the A/B mode) catches, and how often it cries wolf.

Usage::

    python -m tests.regress_sensitivity_ab [--slowdowns 0.05,0.10,0.15,0.20] [--runs 5] [--clean-runs 15]
                                           [--markdown PATH] [-- extra ctxbench regress flags]

What it does
    Builds a git repository in a temporary directory holding package ``slowpkg`` -- a copy of
    :mod:`tests.slow_locals` whose slowdown is a module constant, ``SLOWDOWN``, instead of an
    environment variable (one process imports both sides, so an environment variable would
    slow both) -- committed with ``SLOWDOWN = 0``: the base.  For every slowdown ``s`` in
    ``--slowdowns`` it writes ``SLOWDOWN = s`` into the working tree (the change side, so
    only the change's ``Tunable`` reads do the calibrated extra bytecode) and runs
    ``ctxbench regress --against HEAD`` ``--runs`` times, each a fresh process; then
    ``--clean-runs`` A/A runs with the working tree equal to the base.  It counts the runs
    that flagged ``micro/slowpkg.slow_locals:Tunable/get`` (the slowed metric), the runs that
    flagged any other metric (a false alarm), and prints the table.  Extra flags after
    ``--`` go to every run (e.g. ``--micro-processes 8`` or ``--max-slowdown micro=0.05``).

Why a script and not a test
    The answer is a rate over dozens of gate runs; the test suite proves the end points
    (tests/test_regress_ab.py: a 3x slowdown caught on exactly that metric, an A/A run quiet).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.regress_sensitivity import finish, fractions, runs, series, table

ROOT = Path(__file__).resolve().parent.parent
TUNABLE = "slowpkg.slow_locals:Tunable"
SELECTION = ["--impl", TUNABLE, "--no-db", "--load", "threads", "--probe", "isolation", "--quiet"]
SLOW_METRIC = f"micro/{TUNABLE}/get"


def tunable_source(slowdown: float) -> str:
    """tests/slow_locals.py with its slowdown fixed to ``slowdown`` in the code."""
    text = (ROOT / "tests" / "slow_locals.py").read_text()
    env_read = 'return _env_number(ENV_SLOWDOWN, "0.15", 10)'
    anchor = 'ENV_ATTR = "CTXBENCH_TEST_SLOW_ATTR"\n'
    if env_read not in text or anchor not in text:
        raise SystemExit("tests/slow_locals.py changed shape: update tests/regress_sensitivity_ab.py")
    text = text.replace(env_read, "return SLOWDOWN").replace(anchor, anchor + f"SLOWDOWN = {slowdown!r}\n")
    return text


def make_repo(work: Path) -> Path:
    """A git repository with ``slowpkg`` committed at full speed."""
    repo = work / "repo"
    (repo / "slowpkg").mkdir(parents=True)
    (repo / "slowpkg" / "__init__.py").write_text("")
    (repo / "slowpkg" / "slow_locals.py").write_text(tunable_source(0.0))
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "Tunable at full speed"]):
        subprocess.run(["git", "-C", str(repo), "-c", "user.email=s@example.com", "-c", "user.name=s", *args],
                       check=True, capture_output=True)
    return repo


def gate(repo: Path, report: Path, extra: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """One ``ctxbench regress --against HEAD`` of ``repo``'s working tree, in a fresh process."""
    env = {k: v for k, v in os.environ.items() if k != "CTXBENCH_TEST_SLOWDOWN"}
    return subprocess.run([sys.executable, "-m", "bench", "regress", "--repo", str(repo), "--against", "HEAD",
                           *SELECTION, "--json", str(report), *extra], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def ab_series(repo: Path, work: Path, slowdown: float, n: int, extra: list[str]) -> dict[str, Any]:
    """``n`` gate runs with the change slowed by ``slowdown`` (0: A/A); the row of the table."""
    (repo / "slowpkg" / "slow_locals.py").write_text(tunable_source(slowdown))
    return series(lambda report: gate(repo, report, extra), work, slowdown, n, SLOW_METRIC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.regress_sensitivity_ab",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--slowdowns", type=fractions, default=[0.05, 0.10, 0.15, 0.20], metavar="F,F,...")
    parser.add_argument("--runs", type=runs, default=5, metavar="N", help="A/B runs per slowdown (default: 5)")
    parser.add_argument("--clean-runs", type=runs, default=15, metavar="N", help="A/A runs (default: 15)")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="also write the table here")
    parser.add_argument("extra", nargs="*", help="flags for every gate run (after --)")
    args = parser.parse_args(argv)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ctxbench-sensitivity-ab-") as name:
        work = Path(name)
        repo = make_repo(work)
        rows = [ab_series(repo, work, s, args.runs, args.extra) for s in args.slowdowns if s > 0]
        rows.append(ab_series(repo, work, 0.0, args.clean_runs, args.extra))
    text = table(rows, ("slowdown in the change", "A/B runs", "slowed metric flagged",
                        "runs with another metric flagged", "errors", "change/base the gate measured (median)"),
                 clean="n/a (A/A)")
    return finish(text, rows, started, args.extra, args.markdown)


if __name__ == "__main__":
    sys.exit(main())
