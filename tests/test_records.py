"""The record schemas: the fields each kind must carry, the reasons a record is refused, the format history."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench.records.io import SCHEMA_VERSION, atomic_write_json, results_document
from bench.records.read import load_records
from bench.records.schema import RUN_KINDS, SCHEMAS, check_record, from_json, required_fields

#: What charts demanded of each kind before the schemas moved to bench.records.schema.
CHARTED_BEFORE: dict[str, tuple[str, ...]] = {
    "probe": ("impl", "load", "probe", "outcome"),
    "micro": ("impl", "op", "ns_median"),
    "db": ("strategy", "load", "concurrency", "outcome"),
    "request": ("impl", "strategy", "load", "concurrency", "outcome"),
    "ceiling": ("concurrency", "outcome"),
    # added with the real stack (issue 11)
    "stack": ("server", "workers", "impl", "strategy", "concurrency", "outcome"),
    # read with the report's Resilience section (the network faults)
    "fault": ("scenario", "strategy", "load", "concurrency"),
    # added with the 1-thread / 2-thread cell (issue 22)
    "parallel": ("impl", "op", "ops_per_s_1", "ops_per_s_2", "scaling"),
}


def _valid(kind: str) -> dict[str, Any]:
    values: dict[str, Any] = {"concurrency": 4, "workers": 1, "ns_median": 12.5, "outcome": "ok",
                              "ops_per_s_1": 2e7, "ops_per_s_2": 1.9e7, "scaling": 0.95}
    return {"kind": kind, **{name: values.get(name, "x") for name in required_fields(kind)}, "checks": 10,
            "violations": 0}


def test_required_fields_are_what_charts_demanded() -> None:
    assert {kind: required_fields(kind) for kind in RUN_KINDS} == CHARTED_BEFORE


def test_every_kind_the_code_writes_has_a_schema() -> None:
    assert set(SCHEMAS) == {"probe", "micro", "parallel", "db", "request", "ceiling", "db-overhead", "fault", "stack"}
    assert RUN_KINDS <= set(SCHEMAS)
    for kind, schema in SCHEMAS.items():
        assert schema.__struct_config__.tag == kind
        assert check_record(_valid(kind), set(SCHEMAS)) is None, kind


def test_the_format_history_ends_at_the_current_version() -> None:
    history = (Path(__file__).parent.parent / "docs" / "schema.md").read_text()
    versions = re.findall(r"^## (\d+)(?:\.\d+)? ", history, flags=re.MULTILINE)
    assert versions and int(versions[0]) == SCHEMA_VERSION  # newest first


@pytest.mark.parametrize(("rec", "reason"), [
    ([1, 2], "not an object (list)"),
    ({"kind": "bogus"}, "unknown kind 'bogus'"),
    ({"kind": "probe", "impl": "fast", "load": "threads"}, "probe record without 'probe', 'outcome'"),
    ({"kind": "db", "strategy": "s", "load": "threads", "concurrency": None, "outcome": "ok"},
     "db record without 'concurrency'"),
    ({"kind": "db", "strategy": "s", "load": "threads", "concurrency": True, "outcome": "ok"},
     "db record with concurrency True"),
    ({"kind": "request", "impl": "i", "strategy": "s", "load": "threads", "concurrency": "4", "outcome": "ok"},
     "request record with concurrency '4'"),
    ({"kind": "micro", "impl": "fast", "op": "get", "ns_median": "12"}, "micro record with ns_median '12'"),
    ({"kind": "probe", "impl": "fast", "load": "threads", "probe": "p", "outcome": "ok"},
     "probe record with checks None"),
])
def test_a_record_is_refused_with_its_reason(rec: Any, reason: str) -> None:
    assert check_record(rec) == reason


def test_a_probe_that_could_not_run_needs_no_counts() -> None:
    assert check_record({"kind": "probe", "impl": "fast", "load": "threads", "probe": "p", "outcome": "error"}) is None


def test_a_reported_probe_carries_its_count_in_details() -> None:
    probe = {"kind": "probe", "impl": "fast", "load": "threads", "probe": "inheritance", "outcome": "ok", "checks": 4}
    assert check_record({**probe, "violations": None, "details": {"inherited": 4}}) is None
    assert check_record({**probe, "violations": None, "details": {}}) == "probe record with violations None"
    assert check_record({**probe, "violations": False}) == "probe record with violations False"


def test_kinds_outside_a_run_are_refused_unless_asked_for() -> None:
    overhead = {"kind": "db-overhead", "load": "threads"}
    assert check_record(overhead) == "unknown kind 'db-overhead'"
    assert check_record(overhead, set(SCHEMAS)) is None
    # fault records are read with a run (the report's Resilience section), and checked like the others
    fault = {"kind": "fault", "scenario": "kill", "strategy": "pooled", "load": "threads", "concurrency": 4}
    assert check_record(fault) is None
    assert check_record({**fault, "concurrency": None}) == "fault record without 'concurrency'"
    assert check_record({**fault, "concurrency": "4"}) == "fault record with concurrency '4'"


def test_load_records_keeps_the_valid_and_names_the_rest(tmp_path: Path) -> None:
    good = _valid("micro")
    atomic_write_json(tmp_path / "run.json", {"cells": ["a", {"id": "b"}]})
    atomic_write_json(tmp_path / "environment.json", {"commit": "c1"})
    atomic_write_json(tmp_path / "cells" / "a.json",
                      {"schema": SCHEMA_VERSION, "cell": "a", "records": [good, {"kind": "x"}]})
    atomic_write_json(tmp_path / "extra.json", results_document({"commit": "c2", "cpu": "z"}, [from_json(good)]))
    (tmp_path / "broken.json").write_text(json.dumps(results_document({}, []))[:-3])
    env, records, problems = load_records(tmp_path)
    assert env == {"commit": "c1", "cpu": "z"}
    assert records == [from_json(good), from_json(good)]
    cells = tmp_path / "cells"
    assert problems[:2] == [
        f"{cells / 'a.json'}: record 1: unknown kind 'x'; skipped",
        f"{cells / 'b.json'}: missing (planned in run.json, the cell did not finish)",
    ]
    assert len(problems) == 3
    assert problems[2].startswith(f"{tmp_path / 'broken.json'}: truncated JSON (") and problems[2].endswith("; skipped")


def test_every_reference_record_reads_into_its_type_and_writes_back_equal() -> None:
    from bench.records.schema import from_json, to_json

    reference = Path(__file__).parent.parent / "results" / "reference"
    files = sorted((reference / "cells").glob("*.json"))
    assert len(files) > 100
    seen = set()
    for path in files:
        for raw in json.loads(path.read_text())["records"]:
            rec = from_json(raw)
            seen.add(type(rec).__name__)
            assert to_json(rec) == raw, path.name
    assert {"ProbeRecord", "MicroRecord", "DbRecord", "RequestRecord", "CeilingRecord", "StackRecord"} <= seen


def test_absent_and_null_stay_apart() -> None:
    from bench.records.kinds import UNSET, known
    from bench.records.schema import from_json, to_json

    raw = {"kind": "db", "strategy": "s", "load": "threads", "concurrency": 4, "outcome": "ok", "ops": None}
    rec = from_json(raw)
    assert rec.ops is None and rec.silent_wrong is UNSET and known(rec.silent_wrong) is None
    assert to_json(rec) == raw
    assert check_record({**raw, "ops": "many"}) == "db record: Expected `int | null`, got `str` - at `$.ops`"
