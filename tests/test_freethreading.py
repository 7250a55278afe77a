"""Free-threading: cells on another interpreter (``--python``), what every record says of it, the race probe, the
1-thread / 2-thread scaling, and the report's section comparing the builds.

The tests that need the free-threaded build use the one ``scripts/build-python.sh 3.14 --free-threaded`` makes (or
``CTXBENCH_PYTHON_FT``); where there is none (CI) they are skipped, saying so.  That interpreter needs ctxbench's
dependencies (``python3.14t -m venv``, ``pip install -e '.[test,peers,asyncio]'``): a venv's python named by
``CTXBENCH_PYTHON_FT``, else the build itself (with the dependencies installed into it).  Under a free-threaded
interpreter the GIL build is ``CTXBENCH_PYTHON_GIL``, else ``scripts/build-python.sh 3.14``'s.
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from bench.exec.interpreters import ask, discover
from bench.exec.parallel import _Collected, _records, scaling
from bench.exec.spawn import run_cell
from bench.plan.cells import plan_db, plan_locals
from bench.plan.interpreters import GEVENT_LEFT_OUT, Interpreter
from bench.plan.selection import DbSelection, LocalsPlan
from bench.plan.specs import ParallelSpec, ParallelTask, ProbesSpec
from bench.records.environment import PROJECT_ROOT
from bench.records.kinds import DbRecord, ParallelRecord, ProbeRecord

HERE_FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def _free_threaded_python() -> str | None:
    """A free-threaded interpreter with ctxbench's dependencies, or None."""
    candidates = [os.environ.get("CTXBENCH_PYTHON_FT", ""),
                  str(Path.home() / ".local/share/ctxbench/python/3.14t/bin/python3.14t")]
    for path in filter(None, candidates):
        if Path(path).exists():
            found = ask(path)
            if found.available and found.free_threaded:
                return found.path
    return None


def _gil_python() -> str | None:
    """A GIL build with ctxbench's dependencies: this interpreter unless it is free-threaded, else the 3.14 one."""
    if not HERE_FREE_THREADED:
        return sys.executable
    for path in (os.environ.get("CTXBENCH_PYTHON_GIL", ""),
                 str(Path.home() / ".local/share/ctxbench/python/3.14/bin/python3.14")):
        if path and Path(path).exists() and (found := ask(path)).available and not found.free_threaded:
            return found.path
    return None


FT = _free_threaded_python()
GIL_PYTHON = _gil_python()
needs_ft = pytest.mark.skipif(FT is None, reason="no free-threaded CPython with ctxbench's dependencies here "
                                                 "(scripts/build-python.sh 3.14 --free-threaded, then a venv)")
BROKEN = "tests.broken_locals:"


def _probe(impl: str, probe: str, python: str | None = None, load: str = "threads") -> ProbeRecord:
    result = run_cell(ProbesSpec(impl=impl, load=load, workers=8, probes=[probe]), timeout=120, python=python)
    assert result.failure is None, result.failure
    (rec,) = result.records
    assert isinstance(rec, ProbeRecord) and rec.outcome == "ok", rec.error
    return rec


# --- the interpreters --------------------------------------------------------------------------------------


def test_asking_this_interpreter() -> None:
    me = ask(sys.executable)
    assert me.available and me.version == ".".join(map(str, sys.version_info[:3]))
    assert me.tag == f"{sys.version_info[0]}.{sys.version_info[1]}" + ("t" if HERE_FREE_THREADED else "")


def test_an_interpreter_that_is_not_there_is_said_so_in_one_line(tmp_path: Path) -> None:
    missing = ask(str(tmp_path / "python9.9"))
    assert not missing.available and "not found" in str(missing.missing)
    with pytest.raises(Exception, match="no interpreter of --python can run cells"):
        discover([str(tmp_path / "python9.9")])
    kept = discover([sys.executable, str(tmp_path / "python9.9")])
    assert [i.available for i in kept] == [True, False]


def test_cli_refuses_a_python_that_is_not_there(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "bench", "locals", "--no-micro", "--quiet", "--impl", "fast",
                           "--load", "threads", "--python", str(tmp_path / "nope")], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ctxbench: error:")]
    assert len(errors) == 1 and "no interpreter of --python can run cells" in errors[0]
    assert "Traceback" not in proc.stderr


GIL = Interpreter("/x/python3.14", "3.14.7", False)
NOGIL = Interpreter("/x/python3.14t", "3.14.7", True)


def test_plan_names_interpreters_only_when_there_are_several() -> None:
    plan = LocalsPlan(impls=("fast", "gevent-local"), loads=("threads", "gevent"), probes=("isolation",), workers=4,
                      micro=True, parallel=True)
    one = plan_locals(plan, interpreters=[NOGIL])
    assert [c.id for c in one] == ["probes--fast--threads", "micro", "parallel"]
    assert all(c.spec.python == "/x/python3.14t" and c.spec.interpreter == "3.14t" for c in one)
    both = plan_locals(plan, interpreters=[GIL, NOGIL])
    ids = [c.id for c in both]
    assert "probes--gevent-local--gevent--py3.14" in ids and "micro--py3.14t" in ids and "parallel--py3.14" in ids
    # gevent does not support free-threading: neither its loads nor gevent-local on 3.14t
    assert not [i for i in ids if i.endswith("py3.14t") and "gevent" in i]
    assert any(c.label.endswith("[3.14t]") for c in both)
    assert plan_locals(plan)[0].id == "probes--fast--threads" and plan_locals(plan)[0].spec.python is not None


def test_db_plan_on_two_interpreters() -> None:
    db = DbSelection(strategies=["global", "locked"], loads=["threads", "gevent"], concurrency=[4])
    ids = [c.id for c in plan_db(db, interpreters=[GIL, NOGIL])]
    assert "db--global--threads--c4--py3.14t" in ids and "db--global--gevent--c4--py3.14" in ids
    assert "db--global--gevent--c4--py3.14t" not in ids
    assert ids.count("ceiling--c4") == 1
    assert NOGIL.left_out() == GEVENT_LEFT_OUT and GIL.left_out() is None


# --- what a cell says of its interpreter ------------------------------------------------------------------


def test_a_cell_says_which_interpreter_it_ran_on() -> None:
    rec = _probe("fast", "isolation")
    assert rec.python == ".".join(map(str, sys.version_info[:3]))
    assert rec.free_threaded is HERE_FREE_THREADED and rec.gil is (not HERE_FREE_THREADED)


@needs_ft
def test_a_threads_cell_on_the_free_threaded_build_runs_without_the_gil() -> None:
    rec = _probe("fast", "isolation", FT)
    assert (rec.interpreter, rec.free_threaded, rec.gil) == ("3.14t", True, False)
    assert not rec.gil_enabled_by


@needs_ft
def test_a_cell_whose_gil_came_back_says_so() -> None:
    """gevent re-enables the GIL when imported into a free-threaded build: the record must say so, and by what."""
    result = run_cell(ProbesSpec(impl="fast", load="gevent", workers=4, probes=["isolation"]), timeout=120,
                      python=FT)
    (rec,) = result.records
    assert rec.free_threaded is True and rec.gil is True
    assert any(name.startswith("gevent") for name in rec.gil_enabled_by or [])


@needs_ft
@pytest.mark.db
def test_a_threads_db_cell_on_the_free_threaded_build_keeps_the_gil_off(mysql_server: Any) -> None:
    """The latency histograms' C helper (pyhdrh) would turn the GIL on; the cell's stand-in keeps it off."""
    from bench.exec.dbcell import cell_task
    from bench.plan.cells import Cell, Timing

    cell = Cell("db", "global", "threads", 4, python=FT, interpreter="3.14t")
    task = cell_task(mysql_server.target, cell, Timing(0.3, 0.1, 5.0))
    assert task.python == FT  # the cell's interpreter travels with its task (no python= below)
    result = run_cell(task, timeout=120)
    (rec,) = result.records
    assert isinstance(rec, DbRecord) and rec.outcome in ("ok", "errors") and rec.ops_total
    assert (rec.free_threaded, rec.gil) == (True, False), rec.gil_enabled_by


def test_the_pure_python_histogram_encoder_writes_what_the_c_helper_writes() -> None:
    pyhdrh = pytest.importorskip("pyhdrh")
    from bench.records import hdrcodec

    rng = random.Random(7)
    for _ in range(200):
        size = rng.randint(1, 60)
        counts = [rng.choice([0, 0, 0, 1, rng.randint(1, 300), rng.randint(1, 2**40)]) for _ in range(size)]
        src = (ctypes.c_int64 * len(counts))(*counts)
        out = [(ctypes.c_byte * 1000)() for _ in range(2)]
        sizes = [encode(ctypes.addressof(src), len(counts), 8, ctypes.addressof(buf), 1000)
                 for encode, buf in zip((pyhdrh.encode, hdrcodec.encode), out, strict=True)]
        assert sizes[0] == sizes[1] and bytes(out[0])[:sizes[0]] == bytes(out[1])[:sizes[1]], counts


# --- the race probe ---------------------------------------------------------------------------------------


@needs_ft
@pytest.mark.parametrize("broken", ["SwapDictLocal", "CachedIdentLocal"])
def test_the_race_probe_catches_a_local_that_needs_the_gil(broken: str) -> None:
    """Each is caught without the GIL, on three runs of three (not by luck)."""
    for _ in range(3):
        rec = _probe(BROKEN + broken, "race", FT)
        assert rec.violations and rec.violations > 0 and rec.gil is False, rec.details


@pytest.mark.skipif(HERE_FREE_THREADED, reason="needs a GIL build")
@pytest.mark.parametrize("broken", ["SwapDictLocal", "CachedIdentLocal"])
def test_with_the_gil_the_same_locals_pass(broken: str) -> None:
    """Their racy steps hold no call, so the GIL never switches threads inside them (and isolation passes: the probe
    that catches them is race, not a probe that fails everything)."""
    assert _probe(BROKEN + broken, "race").violations == 0
    assert _probe(BROKEN + broken, "isolation").violations == 0


SHIPPED = ("threading-local", "dict-by-ident", "greenlet-keyed", "contextvar", "fast", "werkzeug")


@pytest.mark.parametrize("impl", SHIPPED)
def test_shipped_locals_pass_the_race_probe_here(impl: str) -> None:
    assert _probe(impl, "race").violations == 0


@needs_ft
@pytest.mark.parametrize("impl", SHIPPED)
def test_shipped_locals_pass_the_race_probe_without_the_gil(impl: str) -> None:
    rec = _probe(impl, "race", FT)
    assert rec.violations == 0 and rec.gil is False, rec.details


FIRST_DELETIONS = """
import sys, threading
from localimpls.fast import Local
ABSENT = object()
locals_ = [Local() for _ in range(20000)]
bad, barrier = [], threading.Barrier(2)
def work(k):
    for i, local in enumerate(locals_):
        if i % 50 == 0:
            barrier.wait()
        local.x = (k, i)
        del local.x
        if getattr(local, "x", ABSENT) is not ABSENT:
            bad.append(i)
threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
[t.start() for t in threads]; [t.join() for t in threads]
print(len(bad), sys._is_gil_enabled())
"""


@needs_ft
def test_fast_never_hands_out_its_tombstone_without_the_gil() -> None:
    """Two threads deleting a name for the first time at once: before the fix one of them could read the deletion
    marker back as a value (about 1 in 2,000 first deletions on 2 cores)."""
    proc = subprocess.run([str(FT), "-c", FIRST_DELETIONS], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert proc.stdout.split() == ["0", "False"], proc.stderr


# --- 1 thread, then 2 -------------------------------------------------------------------------------------


def test_scaling_is_each_of_two_over_one() -> None:
    assert scaling(100.0, 50.0) == 0.5 and scaling(80.0, 80.0) == 1.0
    with pytest.raises(ValueError, match="two positive rates"):
        scaling(0.0, 5.0)


def test_parallel_records_take_medians_over_rounds_and_threads() -> None:
    collected = _Collected()
    facts = {"interpreter": {"interpreter": "3.14t", "python": "3.14.7", "free_threaded": True, "gil": False}}
    for one, two in (([100.0, 120.0], [60.0, 40.0, 55.0, 70.0]), ([110.0], [55.0, 45.0])):
        collected.merge({"values": {"fast": {"get": {"1": one, "2": two}}}, "errors": {}, "cores": 2,
                         "load_1m": 0.3, "facts": facts})
    spec = ParallelSpec(impls=["fast"], ops=["get"], processes=2, rounds=1, window=0.1)
    (rec,) = _records(collected, spec)
    assert (rec.ops_per_s_1, rec.ops_per_s_2, rec.scaling) == (110, 55, 0.5)
    assert rec.ns_1 == round(1e9 / 110, 2) and rec.processes == 2 and rec.gil is False
    # least disturbed: the best pair's mean (60, 40 / 55, 70 / 55, 45 -> 62.5) over the best single thread (120)
    assert rec.scaling_best == round(62.5 / 120, 3)


def test_the_scaling_is_shown_with_the_range_of_its_rounds() -> None:
    from bench.present.freethreading import round_scalings, scaling_text

    # rounds: 100 with a pair of (50, 60) -> 0.55; 120 with (60, 60) -> 0.50; a lone thread without its pair: left out
    assert round_scalings([100.0, 120.0, 90.0], [50.0, 60.0, 60.0, 60.0, 45.0]) == [0.55, 0.5]
    # the median of the rounds (0.55, 0.50, 0.40 -> 0.50), inside its range even where the ratio of the medians
    # (55 / 100 = 0.55 here) is not
    rec = ParallelRecord(impl="fast", op="get", ops_per_s_1=100, ops_per_s_2=55, scaling=0.55,
                         values_1=[100.0, 120.0, 80.0], values_2=[50.0, 60.0, 60.0, 60.0, 30.0, 34.0])
    assert scaling_text(rec) == "0.50 (0.40-0.55)"
    assert scaling_text(ParallelRecord(impl="fast", op="get", ops_per_s_1=110, ops_per_s_2=57, scaling=0.518)) == "0.52"


@pytest.mark.parametrize("python", [None, pytest.param(FT, marks=needs_ft)], ids=["here", "free-threaded"])
def test_a_parallel_cell_measures_every_subject_at_one_and_two_threads(python: str | None) -> None:
    task = ParallelTask(impls=["fast", "dict-by-ident"], ops=["get"], rounds=1, window=0.02)
    result = run_cell(task, timeout=120, python=python)
    values = result.output["values"]
    assert set(values) == {"plain", "threading-local", "fast", "dict-by-ident", "ContextVar", "ContextVar, 64 set"}
    assert all(len(v["get"]["1"]) == 1 and len(v["get"]["2"]) == 2 for v in values.values())
    assert result.output["errors"] == {}
    if python is not None:
        assert result.output["facts"]["interpreter"]["gil"] is False


# --- the report -------------------------------------------------------------------------------------------


def _records_of(name: str, threaded: bool, race: int, global_wrong: int) -> list[Any]:
    on = {"interpreter": name, "python": "3.14.7", "free_threaded": threaded, "gil": not threaded}
    probes = [ProbeRecord(impl=impl, load="threads", probe=probe, outcome="ok", checks=100, **on,
                          violations=race if (impl, probe) == (BROKEN + "CachedIdentLocal", "race") else 0)
              for impl in ("fast", BROKEN + "CachedIdentLocal") for probe in ("isolation", "race")]
    shares = (("plain", 0.98), ("fast", 0.9 if threaded else 0.5))
    parallel = [ParallelRecord(impl=impl, op="get", ops_per_s_1=2e7, ops_per_s_2=s * 2e7, scaling=s, ns_1=50.0,
                               ns_2=50.0 / s, cores=2, **on) for impl, s in shares]
    db = [DbRecord(strategy="global", load="threads", concurrency=16, outcome="errors", ops=1000, ops_per_s=900.0,
                   errors={"InterfaceError": 7}, wrong_results=global_wrong, silent_wrong=global_wrong, **on)]
    return [*probes, *parallel, *db]


def test_the_report_compares_the_builds(tmp_path: Path) -> None:
    from bench.present.report import write_html, write_markdown

    environment = {"interpreters": [{"tag": "3.14", "version": "3.14.7", "free_threaded": False},
                                    {"tag": "3.14t", "version": "3.14.7", "free_threaded": True,
                                     "left_out": GEVENT_LEFT_OUT}]}
    records = [*_records_of("3.14", False, 0, 3), *_records_of("3.14t", True, 12, 40)]
    md = write_markdown(environment, records, "charts", tmp_path / "REPORT.md").read_text()
    section = md.split("## Free-threading", 1)[1]
    assert "3.14t FAIL race 12/100" in section and "DIFFERS" in section
    assert "off in all" in section and "gevent does not support free-threading" in section
    assert "under threads: on 3.14 errors in 7 of 1,007 (0.7%) operations" in section
    assert "40 wrong results of which 40 silent" in section
    assert "fast 0.90" in section  # 3.14t's scaling
    # the main sections read the first interpreter only: no 3.14t probe there
    assert "interpreters**: 3.14, 3.14t" in md
    html = write_html(environment, records, tmp_path / "charts", tmp_path / "report.html").read_text()
    assert 'id="freethreading"' in html and "DIFFERS" in html


def test_no_section_for_one_interpreter_and_a_missing_build_is_named(tmp_path: Path) -> None:
    from bench.present.report import write_markdown

    alone = write_markdown({}, _records_of("3.14", False, 0, 0), "charts", tmp_path / "a.md").read_text()
    assert "## Free-threading" not in alone
    environment = {"interpreters": [{"tag": "3.14", "version": "3.14.7"},
                                    {"tag": "/opt/python3.14t", "missing": "/opt/python3.14t: not found or not "
                                                                            "executable"}]}
    md = write_markdown(environment, _records_of("3.14", False, 0, 0), "charts", tmp_path / "b.md").read_text()
    assert "Not available, so not measured: /opt/python3.14t" in md and "not available:" in md


@needs_ft
@pytest.mark.skipif(GIL_PYTHON is None, reason="no GIL build with ctxbench's dependencies beside the free-threaded one")
def test_cli_runs_locals_on_two_interpreters_into_one_document(tmp_path: Path) -> None:
    out = tmp_path / "locals.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "locals", "--no-micro", "--quiet", "--impl",
                           "fast," + BROKEN + "CachedIdentLocal", "--load", "threads,gevent", "--probe", "race",
                           "--python", f"{GIL_PYTHON},{FT}", "--json", str(out)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert len(doc["environment"]["interpreters"]) == 2
    by = {(r["impl"], r["load"], r["interpreter"]): r for r in doc["records"]}
    ft_tag = doc["environment"]["interpreters"][1]["tag"]
    assert by["fast", "threads", ft_tag]["gil"] is False
    assert ("fast", "gevent", ft_tag) not in by  # gevent left out on the free-threaded build
    assert by[BROKEN + "CachedIdentLocal", "threads", ft_tag]["violations"] > 0
    assert "[" + ft_tag + "]" in proc.stdout
