"""``tox -e bench-micro`` writes pytest-benchmark JSON that pytest-benchmark's own tools read and compare.

Each test runs ``pytest benchmarks/pytest_micro.py`` in a fresh process, as the tox
env does, on one benchmark (``tests.slow_locals:Tunable`` ``get``, which
``CTXBENCH_TEST_SLOWDOWN`` slows down by real work), with a short
``--benchmark-max-time`` so the file stays quick.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE = "benchmarks/pytest_micro.py::test_op[tests.slow_locals:Tunable-get]"


def bench_micro(storage: Path, *args: str, slowdown: float = 0.0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CTXBENCH_MICRO_IMPLS": "tests.slow_locals:Tunable", "CTXBENCH_TEST_SLOWDOWN": str(slowdown)}
    return subprocess.run([sys.executable, "-m", "pytest", NODE, "-p", "no:cacheprovider", "-q", "--benchmark-only",
                           f"--benchmark-storage=file://{storage}", "--benchmark-max-time=0.1", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A storage folder holding one saved run at full speed (what ``--benchmark-autosave`` writes)."""
    path = tmp_path_factory.mktemp("benchmarks")
    proc = bench_micro(path, "--benchmark-autosave")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return path


def test_saved_json_is_pytest_benchmark_format(storage: Path) -> None:
    (saved,) = storage.rglob("0001_*.json")
    doc = json.loads(saved.read_text())
    assert {"machine_info", "commit_info", "benchmarks", "datetime", "version"} <= set(doc)
    (bench,) = doc["benchmarks"]
    assert bench["fullname"] == NODE and bench["group"] == "micro get"
    assert {"min", "max", "mean", "median", "stddev", "rounds"} <= set(bench["stats"]) and bench["stats"]["rounds"] >= 1
    assert bench["extra_info"]["ns_per_op_median"] > 0


def test_compare_fail_catches_a_slowdown_and_passes_a_clean_rerun(storage: Path) -> None:
    """Absolute times, as pytest-benchmark compares them: this shared VM changes speed in steps of
    1.5-1.7x that last seconds, so only a 10x slowdown against a 200 % threshold is a fair test of the plumbing
    (the ratio-based gate, ``ctxbench regress``, is what catches small slowdowns)."""
    slow = bench_micro(storage, "--benchmark-compare=0001", "--benchmark-compare-fail=median:200%", slowdown=9.0)
    assert slow.returncode != 0 and "Performance has regressed" in slow.stdout + slow.stderr, slow.stdout + slow.stderr
    clean = bench_micro(storage, "--benchmark-compare=0001", "--benchmark-compare-fail=median:200%")
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_pytest_benchmark_compare_reads_the_saved_runs(storage: Path) -> None:
    tool = shutil.which("pytest-benchmark", path=str(Path(sys.executable).parent)) or shutil.which("pytest-benchmark")
    assert tool, "pytest-benchmark's command line is installed with the package"
    proc = subprocess.run([tool, "--storage", f"file://{storage}", "compare", "0001", "--columns=median"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Tunable-get" in proc.stdout, proc.stdout + proc.stderr
