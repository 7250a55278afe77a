"""``ctxbench regress --stack``: a new disagreement between the in-process model and the real stack fails the gate.

The comparison is pure over correctness entries, which are formed from hand-built records here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.gate.baseline import read_baseline
from bench.gate.decision import compare_correctness, in_selection, leaks
from bench.gate.measure import Measurement
from bench.gate.metrics import model_entries
from bench.records.io import SCHEMA_VERSION, RecordError
from bench.records.kinds import Record
from bench.records.schema import from_json
from tests.test_stack_model import db_rec, probe_rec, stack_rec

KEY = "model/gevent-pywsgi/fast/global/c16"


def _typed(rec: Record | dict[str, Any]) -> Record:
    """A record built by tests.test_stack_model's helpers, typed (read from its JSON form if it is one)."""
    return rec if isinstance(rec, Record) else from_json(rec)


def _records(model_errors: int, local_violations: int = 0) -> list[Record]:
    return [_typed(stack_rec("gevent-pywsgi", "gevent", "fast", "global", silent=900, http={"500": 20})),
            _typed(probe_rec("fast", "gevent", local_violations)),
            _typed(db_rec("global", "gevent", 16, wrong=500, silent=500, errors=model_errors))]


def test_model_entries_name_the_aspects_in_disagreement() -> None:
    agree = model_entries(_records(model_errors=30))
    assert list(agree) == [KEY]
    assert agree[KEY]["disagreements"] == 0 and agree[KEY]["disagree_on"] == []
    assert agree[KEY]["aspects"]["failure mode"] == "stack silent wrong / model silent wrong"
    loud = model_entries(_records(model_errors=90_000))[KEY]
    assert loud["disagree_on"] == ["failure mode"] and leaks(loud)
    assert model_entries([_typed(stack_rec("waitress", "threads", "fast", "global"))]) == {}  # nothing predicts it


def test_a_new_disagreement_fails_and_an_old_one_does_not() -> None:
    agree = model_entries(_records(model_errors=30))[KEY]
    mode = model_entries(_records(model_errors=90_000))[KEY]
    mode_and_local = model_entries(_records(model_errors=90_000, local_violations=3))[KEY]
    result = compare_correctness(KEY, agree, mode)
    assert result.verdict == "fail" and "no longer predicts the real stack on failure mode" in result.text
    assert compare_correctness(KEY, mode, mode).verdict == "ok"  # the same disagreement as the baseline's
    assert compare_correctness(KEY, mode, agree).verdict == "ok"  # agrees now
    again = compare_correctness(KEY, mode, mode_and_local)  # one more aspect now
    assert again.verdict == "fail" and "on local" in again.text


def test_model_entries_are_judged_only_when_the_stack_ran() -> None:
    from bench.cli.main import build_parser
    from bench.cli.regress import plan_from_args

    entry = model_entries(_records(model_errors=30))[KEY]
    with_stack = plan_from_args(build_parser().parse_args(["regress", "--stack"]))
    without = plan_from_args(build_parser().parse_args(["regress"]))
    assert with_stack.stack and not without.stack and with_stack.selection()["stack"] is True
    assert not plan_from_args(build_parser().parse_args(["regress", "--stack", "--no-db"])).stack
    ran = Measurement(environment={}, db_ran=True)
    assert in_selection(entry, with_stack, ran) and not in_selection(entry, without, ran)
    assert not in_selection(entry, with_stack, Measurement(environment={}))


def _baseline(tmp_path: Path, correctness: dict[str, Any]) -> Path:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"format": "ctxbench-baseline", "schema": SCHEMA_VERSION, "correctness": correctness,
                                "speed": {}}))
    return path


def test_a_baseline_holds_model_entries(tmp_path: Path) -> None:
    entries = model_entries(_records(model_errors=30))
    assert read_baseline(_baseline(tmp_path, entries)).correctness == entries
    broken = {KEY: {**entries[KEY], "disagreements": "none"}}
    with pytest.raises(RecordError, match="malformed correctness entry"):
        read_baseline(_baseline(tmp_path, broken))
