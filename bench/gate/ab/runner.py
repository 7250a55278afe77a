"""An A/B gate run: the base commit and the change measured together, compared, confirmed, reported.

Contract
    :func:`run_ab` checks out the base of the sides it is given (:func:`bench.gate.worktree.find_sides`;
    :func:`bench.gate.worktree.base_tree`), asks a fresh process which impls the base has and whether
    they import (:func:`preflight`: one that is missing there is measured on the change side only and
    reported, not judged; one that fails to import is a one-line UsageError), then runs the probes and the
    micro-benchmarks with every impl ``NAME`` beside ``NAME@base`` (:mod:`bench.cell.base_subject`) -- each micro
    worker process times both in the same interleaved rounds.  Speed is judged by
    :func:`bench.gate.ab.ab_speed`, correctness by :func:`bench.gate.ab.ab_correctness`; a
    suspect is measured again (both sides, fresh processes) ``confirm`` times and fails the
    gate only if seen every time.  With a server, the database strategies are compared in
    pairs of cells (:mod:`bench.gate.ab.dbpairs`).  Returns the exit status: 0 clean, 1 a regression or
    correctness change, 2 an error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.cell.base_subject import ENV_BASE_TREE, base_name
from bench.errors import EXIT_ERROR, EXIT_OK, EXIT_REGRESSION, UsageError
from bench.gate.ab.dbpairs import db_ab_correctness, db_ab_speed, run_db_pairs
from bench.gate.ab.speed import ABResult, ab_correctness, ab_speed, one_sided
from bench.gate.baseline import Baseline
from bench.gate.compare import Judging, Outputs, write_outputs
from bench.gate.confirm import confirm_correctness
from bench.gate.decision import GateOutcome, Thresholds
from bench.gate.measure import DbServer, measure, probe_rerun
from bench.gate.output import headline, report
from bench.gate.plan import AB_MIN_PAIRS, GatePlan
from bench.gate.worktree import Sides, base_tree
from bench.records.kinds import MicroRecord, ProbeRecord

log = logging.getLogger(__name__)

#: Seconds the base-import check may take.
PREFLIGHT_TIMEOUT = 120.0


def preflight(tree: Path, repo: Path, impls: Sequence[str]) -> dict[str, Any]:
    """``{"missing": [...], "errors": {name: line}, "base_only": [...]}`` from a fresh process importing the base."""
    with change_environment(tree, repo):
        done = subprocess.run([sys.executable, "-m", "bench.cell.base_subject", str(tree), *impls], capture_output=True,
                              text=True, timeout=PREFLIGHT_TIMEOUT, cwd=repo, env=dict(os.environ),
                              stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"checking the base's impls failed: {last}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@contextlib.contextmanager
def change_environment(tree: Path, repo: Path) -> Iterator[None]:
    """Child processes see the base tree (:data:`ENV_BASE_TREE`) and import the change's user packages from ``repo``."""
    saved = {k: os.environ.get(k) for k in (ENV_BASE_TREE, "PYTHONPATH")}
    os.environ[ENV_BASE_TREE] = str(tree)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo), saved["PYTHONPATH"] or "") if p)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _fresh(suspects: Sequence[ABResult], plan: GatePlan, thresholds: Thresholds, target: Any,
           tree: Path) -> tuple[dict[str, ABResult], list[str]]:
    """Both sides of the suspects measured again in fresh processes, judged as before: {name: result}, errors."""
    from bench.exec.micro import run_micro

    fresh: dict[str, ABResult] = {}
    errors: list[str] = []
    micro = [r for r in suspects if r.kind == "micro"]
    if micro:
        impls = list(dict.fromkeys(r.name.split("/", 1)[1].rsplit("/", 1)[0] for r in micro))
        ops = list(dict.fromkeys(r.name.rsplit("/", 1)[1] for r in micro))
        records, errs = run_micro([*impls, *map(base_name, impls)], ops=ops, processes=plan.micro_processes,
                                  values=plan.micro_values)
        errors += errs
        fresh.update({r.name: r for r in ab_speed(records, thresholds, [])})
    for result in (r for r in suspects if r.kind == "db"):
        parts = result.name.split("/")  # db/STRATEGY/LOAD/cN
        strategy, load, c = "/".join(parts[1:-2]), parts[-2], int(parts[-1][1:])
        rounds, errs = run_db_pairs(target, tree, plan.db_selection([strategy], [load], [c]), pairs=ab_pairs(plan))
        errors += errs
        fresh.update({r.name: r for r in db_ab_speed(rounds, thresholds, [])})
    return fresh, errors


def _confirm_speed(outcome: GateOutcome, plan: GatePlan, thresholds: Thresholds, target: Any, tree: Path,
                   rounds: int) -> list[str]:
    """Measure each suspect on both sides again; a regression not seen every time is ``ok``."""
    errors: list[str] = []
    for round_no in range(1, rounds + 1):
        suspects = [r for r in outcome.regressions if isinstance(r, ABResult)]
        if not suspects:
            break
        log.info("confirming %d suspected regression(s) (%d/%d)", len(suspects), round_no, rounds)
        fresh, errs = _fresh(suspects, plan, thresholds, target, tree)
        errors += errs
        for result in suspects:
            check = fresh.get(result.name)
            if check is not None:
                result.confirmations.append(check)
            if check is None or check.verdict == "undecidable":
                result.verdict, result.reason = "unconfirmed", f"no fresh paired sample in confirmation {round_no}"
            elif check.verdict == "regression":
                result.reason = "confirmed: " + ", ".join(f"{c.slowdown:+.1%} p={c.p_slower:.2g}"
                                                          for c in result.confirmations)
            else:
                result.verdict = "ok"
                result.reason = f"not confirmed: again {check.slowdown:+.1%} p={check.p_slower:.2g}"
    return errors


def ab_pairs(plan: GatePlan) -> int:
    """Pairs of database cells per strategy x load x concurrency: ``--db-repeats``, at least :data:`AB_MIN_PAIRS`."""
    return max(plan.db_repeats, AB_MIN_PAIRS)


def _outcome(measurement: Any, plan: GatePlan, thresholds: Thresholds, preflight_out: dict[str, Any]) -> GateOutcome:
    outcome = GateOutcome()
    outcome.speed = list(ab_speed(measurement.records, thresholds, measurement.notes))
    outcome.correctness = ab_correctness(measurement.correctness)
    impls_seen = {r.impl for r in measurement.records if isinstance(r, MicroRecord | ProbeRecord)}
    change_only, base_only = one_sided(impls_seen, list(plan.impls))
    base_only = sorted(set(base_only) | set(preflight_out.get("base_only", [])))
    outcome.new_speed = [f"{n} (only in the change, not judged)" for n in change_only]
    outcome.missing_speed = [f"{n} (only in the base, not judged)" for n in base_only]
    return outcome


def _pseudo_baseline(sides: Sides, measurement: Any, plan: GatePlan) -> Baseline:
    """The base side in the shape the report prints: named by its commit, measured in this run."""
    return Baseline(path=Path(f"base {sides.base.label()}"), created="in this run",
                    environment={**measurement.environment, "commit": sides.base.sha[:12]},
                    settings=plan.settings(), selection=plan.selection(), correctness={}, speed={}, overrides={})


def _measure_db(measurement: Any, outcome: GateOutcome, plan: GatePlan, thresholds: Thresholds, target: Any,
                tree: Path) -> None:
    """The database pairs, into ``measurement`` (records, errors) and ``outcome`` (speed, correctness)."""
    started = time.monotonic()
    rounds, errors = run_db_pairs(target, tree, plan.db_selection(), pairs=ab_pairs(plan))
    measurement.db_ran = True
    measurement.environment["db_server"] = target.redacted_url()
    measurement.errors += errors
    for side in rounds.values():
        for records in side:
            measurement.records += records
    outcome.speed += db_ab_speed(rounds, thresholds, measurement.notes)
    outcome.correctness += db_ab_correctness(rounds)
    measurement.seconds += time.monotonic() - started


def run_ab(sides: Sides, plan: GatePlan, judging: Judging, outputs: Outputs, *, server: DbServer, quiet: bool,
           jobs: int) -> int:
    """The A/B gate of ``sides`` (:func:`bench.gate.worktree.find_sides`; see the module docstring); the exit status.

    ``server``: the database server for the strategies' pairs (no target: the database half is skipped, for its
    reason).  Bad input raises a one-line UsageError.
    """
    import localimpls

    thresholds, target, confirm = judging.thresholds, server.target, judging.confirm
    third_party = [n for n in plan.impls if n in localimpls.REFERENCES]
    stack_asked = plan.stack
    plan = replace(plan, stack=False, impls=tuple(n for n in plan.impls if n not in third_party))
    if not plan.impls:
        raise UsageError(f"--against: nothing to compare: {', '.join(third_party)} are third-party references, "
                         "the same code on both sides")
    with base_tree(sides) as tree:
        checked = preflight(tree, sides.repo, plan.impls)
        if checked["errors"]:
            raise UsageError(next(iter(checked["errors"].values())))
        both = [n for n in plan.impls if n not in checked["missing"]]
        ab_plan = replace(plan, impls=(*plan.impls, *map(base_name, both)))
        with change_environment(tree, sides.repo):
            measurement = measure(replace(ab_plan, db=False), None, quiet=quiet, jobs=jobs)
            if stack_asked:
                measurement.notes.append("--stack is not part of an A/B run (--against): the real-stack check "
                                         "runs in the baseline mode only")
            if third_party:
                measurement.notes.append(f"not measured: {', '.join(third_party)} (third-party references, the "
                                         "same code on both sides)")
            outcome = _outcome(measurement, plan, thresholds, checked)
            if plan.db and target is not None:
                _measure_db(measurement, outcome, plan, thresholds, target, tree)
            elif plan.db:
                measurement.db_skipped = server.skipped or "no MySQL-protocol server"
            errors = list(measurement.errors)
            if confirm and outcome.regressions:
                errors += _confirm_speed(outcome, ab_plan, thresholds, target, tree, confirm)
            if confirm and outcome.failures:
                errors += confirm_correctness(outcome, probe_rerun(ab_plan), confirm)
    return _finish(sides, plan, measurement, outcome, errors, judging, outputs)


def _finish(sides: Sides, plan: GatePlan, measurement: Any, outcome: GateOutcome, errors: list[str],
            judging: Judging, outputs: Outputs) -> int:
    """Report both sides' comparison and write the outputs asked for; the exit status."""
    print(f"A/B: change {sides.change_label()} against base {sides.base.label()} (--against {sides.ref}), "
          "both timed in the same rounds of the same processes")
    measurement.environment["ab"] = {"repo": str(sides.repo), "against": sides.ref, "base": sides.base.sha,
                                     "base_subject": sides.base.subject, "change": sides.change.sha,
                                     "change_subject": sides.change.subject, "uncommitted": sides.dirty}
    if outcome.compared() == 0 and not errors:
        errors.append("nothing comparable: no impl was measured on both sides")
    baseline = _pseudo_baseline(sides, measurement, plan)
    report(outcome, baseline, measurement, plan)
    for line in errors:
        print(f"ctxbench: error: {line}", file=sys.stderr)
    write_outputs(replace(outputs, baseline=baseline.path), outcome, baseline, measurement, plan, errors, judging)
    print(headline(outcome, errors))
    if errors:
        return EXIT_ERROR
    return EXIT_REGRESSION if outcome.failed else EXIT_OK
