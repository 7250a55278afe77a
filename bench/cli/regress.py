"""``ctxbench regress``: the flags of the CI gate, their validation, and the command's steps.

What the gate does and promises is in :mod:`bench.gate` (``plan``, ``measure``,
``decision``, ``confirm``, ``output``) and in the README's section on the gate.  This
module only turns flags into a :class:`~bench.gate.plan.GatePlan`, thresholds and a
baseline, fails with a one-line UsageError (exit 2) before anything is measured when one
of them is wrong, finds the database server, and hands over to :mod:`bench.gate.compare`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bench.cli.args import add_locals_selection, check_writable, count, counts, flatten, seconds
from bench.errors import UsageError
from bench.gate.plan import (
    DB_CONCURRENCY,
    DB_DURATION,
    DB_LOADS,
    DB_REFERENCE,
    DB_REPEATS,
    DB_WARMUP,
    DEFAULT_AB_MAX_SLOWDOWN,
    DEFAULT_ALPHA,
    DEFAULT_BASELINE,
    DEFAULT_CONFIRM,
    DEFAULT_MAX_SLOWDOWN,
    JOBS,
    KINDS,
    MAX_ALPHA,
    MAX_SLOWDOWN_LIMIT,
    MICRO_PROCESSES,
    MICRO_VALUES,
    GatePlan,
    default_strategies,
    fraction,
)
from bench.plan.matrix import LOCAL_WORKERS
from bench.plan.selection import select_impls, select_loads, select_probes, split_names, validate_db

if TYPE_CHECKING:
    from bench.gate.baseline import Baseline, Overrides
    from bench.gate.decision import Thresholds
    from bench.gate.measure import DbServer


def _fraction(label: str, value: str, high: float) -> float:
    try:
        return fraction(label, value, high)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_max_slowdown(text: str) -> dict[str, float]:
    """``micro=0.10,db=20%`` -> ``{"micro": 0.1, "db": 0.2}``; kinds not named keep their default."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kind, sep, value = part.partition("=")
        kind = kind.strip()
        if not sep or kind not in KINDS:
            raise argparse.ArgumentTypeError(f"{part!r}: expected KIND=FRACTION with KIND one of {', '.join(KINDS)} "
                                             "(e.g. micro=0.10,db=0.20)")
        out[kind] = _fraction(f"max slowdown for {kind}", value.strip(), MAX_SLOWDOWN_LIMIT[kind])
    if not out:
        raise argparse.ArgumentTypeError("expected KIND=FRACTION, e.g. micro=0.10,db=0.20")
    return out


def parse_alpha(text: str) -> float:
    return _fraction("alpha", text, MAX_ALPHA)


def _add_selection(p: argparse.ArgumentParser) -> None:
    sel = p.add_argument_group("selection (as for ctxbench locals / db)")
    add_locals_selection(sel)
    sel.add_argument("--strategy", action="append", metavar="NAME",
                     help="connection strategy or package.module:factory "
                          "(default: every one expected safe; locked is always measured)")
    sel.add_argument("--db-load", action="append", metavar="NAME",
                     help=f"loads for the database cells (default: {','.join(DB_LOADS)})")
    sel.add_argument("--concurrency", type=counts(1, 10000), action="append", metavar="N[,N...]",
                     help=f"database concurrency levels (default: {','.join(map(str, DB_CONCURRENCY))})")
    sel.add_argument("--mysql-url", metavar="URL",
                     help="mysql://user:password@host:port/database "
                          "(default: $CTXBENCH_MYSQL_URL, then 127.0.0.1:3306, then a private server)")
    sel.add_argument("--no-db", action="store_true", help="skip the database half")
    sel.add_argument("--no-micro", action="store_true", help="skip the micro-benchmarks (correctness only, plus db)")
    sel.add_argument("--stack", action="store_true",
                     help="also run the quick real-stack matrix and the in-process cells that predict it: a new "
                          "disagreement between the model and the stack fails the gate (needs ctxbench[stack])")


def _add_decision(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("baseline and decision")
    g.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE, metavar="PATH",
                   help=f"baseline file (default: {DEFAULT_BASELINE})")
    g.add_argument("--against", metavar="REF",
                   help="A/B mode: compare with commit, branch or tag REF instead of a baseline file; REF is checked "
                        "out in a temporary git worktree and every micro worker times both versions in the same "
                        "rounds (the change side is the working tree as it is)")
    g.add_argument("--repo", type=Path, default=Path("."), metavar="PATH",
                   help="with --against: the git repository holding the code under test (default: .)")
    g.add_argument("--update-baseline", action="store_true",
                   help="write the baseline from this run instead of comparing (keeps its overrides)")
    g.add_argument("--max-slowdown", type=parse_max_slowdown, default={}, metavar="KIND=F,...",
                   help="smallest slowdown that counts, per kind (default: micro=0.10,db=0.20; with --against: "
                        "micro=0.03,db=0.20; '10%%' works too)")
    g.add_argument("--alpha", type=parse_alpha, default=DEFAULT_ALPHA, metavar="P",
                   help=f"one-sided Mann-Whitney significance level (default: {DEFAULT_ALPHA})")
    g.add_argument("--confirm", type=count(0, 5), default=DEFAULT_CONFIRM, metavar="N",
                   help=f"fresh re-measurements a suspected regression must survive "
                        f"(default: {DEFAULT_CONFIRM}; 0: none)")


def _add_sizes_and_output(p: argparse.ArgumentParser) -> None:
    s = p.add_argument_group("sizes")
    s.add_argument("--micro-processes", type=count(2, 50), default=MICRO_PROCESSES, metavar="N",
                   help=f"fresh processes, one sample each (default: {MICRO_PROCESSES})")
    s.add_argument("--micro-values", type=count(1, 50), default=MICRO_VALUES, metavar="N",
                   help=f"values per process (default: {MICRO_VALUES})")
    s.add_argument("--db-repeats", type=count(2, 50), default=DB_REPEATS, metavar="N",
                   help=f"repeats of each database cell, one sample each (default: {DB_REPEATS})")
    s.add_argument("--db-duration", type=seconds(0.05, 60, allow_low=True), default=DB_DURATION, metavar="S",
                   help=f"measured seconds per database cell (default: {DB_DURATION})")
    s.add_argument("--db-warmup", type=seconds(0, 60, allow_low=True), default=DB_WARMUP, metavar="S",
                   help=f"warm-up seconds per database cell (default: {DB_WARMUP})")
    s.add_argument("--jobs", type=count(1, 64), default=JOBS, metavar="N",
                   help=f"probe cells run at once (default: {JOBS}; probes time nothing)")
    o = p.add_argument_group("output")
    o.add_argument("--markdown", type=Path, metavar="PATH", help="write a Markdown summary for a CI job page")
    o.add_argument("--json", type=Path, metavar="PATH", help="write this run's records and every verdict")
    o.add_argument("--charts", type=Path, metavar="DIR", help="draw this run's charts and regress.png/.svg here")
    o.add_argument("--quiet", action="store_true", help="no progress display")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
               parser_class: type[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add ``regress`` to the CLI's subparsers (``parser_class`` is the CLI's one-line-error parser)."""
    p = subparsers.add_parser(
        "regress", help="CI gate: rerun a quick matrix and fail on a real regression against a baseline",
        description="Compare correctness verdicts exactly and speed ratios statistically with a baseline file.")
    if not isinstance(p, parser_class):  # subparsers made with another class: still one-line errors
        p.error = parser_class.error.__get__(p)  # type: ignore[method-assign]
    _add_selection(p)
    _add_decision(p)
    _add_sizes_and_output(p)
    p.set_defaults(func=main)
    return p


def _raise_errors(errors: list[str]) -> None:
    if errors:
        more = f" (and {len(errors) - 1} more: {'; '.join(errors[1:])})" if len(errors) > 1 else ""
        raise UsageError(errors[0] + more)


def plan_from_args(args: argparse.Namespace) -> GatePlan:
    """Validate the selection flags; a one-line UsageError names every unknown name."""
    impls, errors = select_impls(split_names(args.impl))
    loads, load_errors = select_loads(split_names(args.load))
    errors += load_errors
    try:
        probes = select_probes(split_names(args.probe))
    except UsageError as exc:
        errors.append(str(exc))
        probes = []
    db_loads = split_names(args.db_load) or list(DB_LOADS)
    strategies = split_names(args.strategy) or default_strategies(db_loads)
    if DB_REFERENCE not in strategies:
        strategies.insert(0, DB_REFERENCE)
    concurrency = flatten(args.concurrency) or list(DB_CONCURRENCY)
    if not args.no_db:
        try:
            validate_db(strategies=strategies, loads=db_loads, concurrency=concurrency, duration=args.db_duration,
                     warmup=args.db_warmup)
        except UsageError as exc:
            errors.append(str(exc))
    _raise_errors(errors)
    if not impls or not loads:
        raise UsageError("nothing to run: no valid impl or load selected")
    return GatePlan(
        impls=tuple(impls), loads=tuple(loads), probes=tuple(probes), workers=args.workers or LOCAL_WORKERS,
        micro=not args.no_micro, micro_processes=args.micro_processes, micro_values=args.micro_values,
        db=not args.no_db, strategies=tuple(strategies), db_loads=tuple(db_loads), concurrency=tuple(concurrency),
        db_repeats=args.db_repeats, db_duration=args.db_duration, db_warmup=args.db_warmup, mysql_url=args.mysql_url,
        stack=bool(args.stack) and not args.no_db,
    )


def _baseline_or_overrides(args: argparse.Namespace) -> tuple[Baseline | None, Overrides]:
    """The baseline to compare with, or (with --update-baseline) the overrides of the one to replace."""
    from bench.gate.baseline import previous_overrides, read_baseline
    from bench.records.io import RecordError

    if args.update_baseline:
        check_writable(args.baseline, directory=False)
        return None, previous_overrides(args.baseline)
    try:
        return read_baseline(args.baseline), {}
    except RecordError as exc:
        missing = not args.baseline.exists()
        raise UsageError(f"baseline {exc}" + (" (make one with --update-baseline)" if missing else "")) from None


def main(args: argparse.Namespace) -> int:
    """``ctxbench regress``: exit 0 clean, 1 regression, 2 error.  Bad input raises a one-line UsageError."""
    # Imported when the command runs, not at start-up: --help and bad input answer at once without scipy.
    from bench.gate.decision import Thresholds

    plan = plan_from_args(args)
    if args.against is not None:
        return _run_ab(args, plan)
    if args.update_baseline:
        plan = plan.for_baseline()
    baseline, overrides = _baseline_or_overrides(args)
    thresholds = Thresholds({**DEFAULT_MAX_SLOWDOWN, **args.max_slowdown}, args.alpha,
                            baseline.overrides if baseline else {})
    _check_outputs(args)
    with contextlib.ExitStack() as stack:
        return _run(args, plan, thresholds, baseline, overrides, _server(stack, plan))


def _check_outputs(args: argparse.Namespace) -> None:
    """Every output path writable, before anything is measured (UsageError naming the first that is not)."""
    for path, is_dir in ((args.markdown, False), (args.json, False), (args.charts, True)):
        if path is not None:
            check_writable(path, directory=is_dir)


def _server(stack: contextlib.ExitStack, plan: GatePlan) -> DbServer:
    """The server for the database half (kept open by ``stack``) or why it is skipped; neither without that half.

    Found before anything is measured: a --mysql-url that does not work ends the command now.
    """
    from bench.gate.measure import DbServer, find_target

    if not plan.db:
        return DbServer()
    handle, target, skipped = find_target(plan.mysql_url)
    if handle is not None:
        stack.enter_context(handle)
    return DbServer(target, skipped)


def _run_ab(args: argparse.Namespace, plan: GatePlan) -> int:
    """``--against REF``: the A/B run (:mod:`bench.gate.ab.runner`); no baseline file is read or written."""
    from bench.gate.ab.runner import run_ab
    from bench.gate.compare import Judging, Outputs
    from bench.gate.decision import Thresholds
    from bench.gate.worktree import find_sides

    if args.update_baseline:
        raise UsageError("--against and --update-baseline do not go together: an A/B run writes no baseline")
    if args.no_micro and not plan.probes:
        raise UsageError("--against with --no-micro and no probe compares nothing")
    _check_outputs(args)
    judging = Judging(Thresholds({**DEFAULT_AB_MAX_SLOWDOWN, **args.max_slowdown}, args.alpha, {}), args.confirm)
    outputs = Outputs(baseline=args.baseline, markdown=args.markdown, json=args.json, charts=args.charts)
    with contextlib.ExitStack() as stack:
        server = _server(stack, plan)
        return run_ab(find_sides(args.repo, args.against), plan, judging, outputs, server=server, quiet=args.quiet,
                      jobs=args.jobs)


def _run(args: argparse.Namespace, plan: GatePlan, thresholds: Thresholds, baseline: Baseline | None,
         overrides: Overrides, server: DbServer) -> int:
    """Measure, then write the baseline or compare and report; the exit status."""
    from bench.gate import compare as gate_run
    from bench.gate.measure import measure

    measurement = measure(plan, server.target, db_skipped=server.skipped, quiet=args.quiet, jobs=args.jobs)
    if plan.db and not measurement.db_ran:
        print(f"ctxbench regress: DB metrics skipped: {measurement.db_skipped}", file=sys.stderr)
    outputs = gate_run.Outputs(baseline=args.baseline, markdown=args.markdown, json=args.json, charts=args.charts)
    if baseline is None:
        return gate_run.update_baseline(plan, measurement, overrides, thresholds, outputs)
    return gate_run.check(plan, measurement, baseline, gate_run.Judging(thresholds, args.confirm), server.target,
                          outputs=outputs)
