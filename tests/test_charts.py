"""Charts are drawn from stored records only, every expected file is a valid PNG/SVG, and bad input is named, not fatal.

The locals records are real: a small ``ctxbench locals`` run (no micro) and a
tiny micro-benchmark, made once per test session.  The database records below
are built by hand (``db_records``): they exercise the database charts without a
server; one ``db``-marked test also charts records from a real, tiny database run.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from bench.present import charts, palette
from bench.records.io import SCHEMA_VERSION, atomic_write_json, results_document
from bench.records.kinds import Record
from bench.records.read import load_records
from bench.records.schema import records_from_json, records_to_json, to_json

ROOT = Path(__file__).resolve().parent.parent
DB_CHARTS = ("throughput", "latency", "errors", "request")
LOCALS_CHARTS = ("isolation", "cost_per_op")
STACK_CHARTS = ("stack",)
NETWORK_CHARTS = ("network",)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- records shared with tests/test_report.py (made once per process)


@functools.cache
def real_results_dir() -> Path:
    """A directory with ``locals.json`` (probe records) and ``micro.json`` (micro records), both from real runs."""
    from bench.exec.micro import run_micro
    from bench.records.environment import fingerprint

    out = Path(tempfile.mkdtemp(prefix="ctxbench-test-charts-"))
    atexit.register(shutil.rmtree, out, True)
    cmd = [sys.executable, "-m", "bench", "locals", "--impl", "threading-local,greenlet-keyed,fast",
           "--load", "threads,greenlet,asyncio", "--workers", "4", "--no-micro", "--quiet",
           "--json", str(out / "locals.json")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert (out / "locals.json").exists(), f"ctxbench locals wrote nothing: {done.stderr[-2000:]}"
    records, errors = run_micro(["fast"], ops=["get", "set", "push"], processes=1, values=2, warmups=0, min_time=0.002)
    assert records and not errors, errors
    atomic_write_json(out / "micro.json", results_document(fingerprint(), records))
    return out


def real_locals_records() -> tuple[dict[str, Any], list[Record]]:
    environment, records, problems = load_records(real_results_dir())
    assert not problems, problems
    return environment, records


def _db(strategy: str, load: str, concurrency: int, ops_per_s: float, *, errors: dict[str, int] | None = None,
        wrong: int = 0, outcome: str | None = None, kind: str = "db", impl: str | None = None,
        local_violations: int = 0) -> dict[str, Any]:
    """One hand-built db/request record with the fields bench.cell.db promises (values are made up, for drawing
    only)."""
    errors = errors or {}
    p50 = 0.1 * concurrency ** 0.8 + 0.05
    rec: dict[str, Any] = {
        "kind": kind, "strategy": strategy, "load": load, "concurrency": concurrency, "ops": int(ops_per_s),
        "ops_per_s": ops_per_s,
        "latency_ms": ({"p50": p50, "p90": p50 * 2, "p99": p50 * 5, "max": p50 * 20} if ops_per_s
                       else {"p50": None, "p90": None, "p99": None, "max": None}),
        "errors": errors, "wrong_results": wrong, "wrong_detail": {"foreign": wrong, "stale": 0, "other": 0},
        "server_ceiling_ops_per_s": 12000.0 * concurrency ** 0.5,
        "outcome": outcome or ("errors" if errors or wrong or local_violations else "ok"),
        "mix": {"select_token": 48, "pk_lookup": 1, "write_txn": 1}, "warmup_s": 0.3, "duration_s": 1.0,
        "server_url": "mysql://root@127.0.0.1:3306/test",
    }
    if kind == "request":
        rec["impl"] = impl
        rec["local_violations"] = local_violations
    return rec


def db_records() -> list[Record]:
    """A small database matrix and request scenario, by hand: global breaks at 4, locked hangs once, the rest are
    clean."""
    recs = []
    for load in ("threads", "gevent"):
        for c in (1, 4, 16):
            recs.append(_db("global", load, c, 7000.0 if c == 1 else 0.0,
                            errors={} if c == 1 else {"RuntimeError:reentrant": 900 * c}, wrong=0 if c == 1 else 3 * c))
            recs.append(_db("pooled-tuned", load, c, 5000.0 + 1000 * c))
            recs.append(_db("own-connection", load, c, 6000.0 + 1200 * c))
            recs.append(_db("locked", load, c, 0.0, outcome="hung") if (load, c) == ("gevent", 16)
                        else _db("locked", load, c, 6500.0))
    recs.append(_db("tests.mine:factory", "threads", 4, 3000.0))  # a user strategy: a fallback colour
    for load in ("threads", "gevent"):
        for impl in ("threading-local", "fast"):
            for strategy in ("global", "pooled-tuned"):
                leak = 5 if (impl, load) == ("threading-local", "gevent") else 0
                recs.append(_db(strategy, load, 16, 8000.0, kind="request", impl=impl, local_violations=leak,
                                errors={"RuntimeError:reentrant": 40} if strategy == "global" else None))
    return records_from_json(recs)


def _net(strategy: str, rtt_set: float, rtt: float, ops_per_s: float, in_flight: int, *, repeat: int = 0,
         outcome: str = "ok", silent: int = 0) -> dict[str, Any]:
    """A db record of a cell run with a round trip (``--rtt``), as the pipeline writes one (values made up)."""
    rec = _db(strategy, "threads", 8, ops_per_s, wrong=silent, outcome=outcome)
    rec.update({"silent_wrong": silent, "repeat": repeat, "rtt_set_ms": rtt_set, "rtt_ms": rtt,
                "rtt_p10_ms": round(rtt * 0.97, 4), "rtt_p90_ms": round(rtt * 1.05, 4), "rtt_pings": 60,
                "rtt_direct_ms": 0.05, "proxy_cost_ms": None if rtt_set == 0 else 0.1,
                "rtt_bound_ops_per_s": round(in_flight * 1000.0 / rtt, 1)})
    return rec


def network_records() -> list[Record]:
    """Cells run with ``--rtt 0,1,2`` at 8 workers, by hand: the lock at one round trip at a time, the pool and a
    connection per worker near C/RTT, a connection per operation far below it, one pool cell measured three times,
    and the shared connection failing (silent wrong) over the network."""
    recs = []
    for rtt_set, rtt in ((0.0, 0.05), (1.0, 1.15), (2.0, 2.2)):
        recs.append(_net("locked", rtt_set, rtt, min(9000.0, 0.9 * 1000 / rtt), 1))
        recs += [_net("pooled-tuned", rtt_set, rtt, min(12000.0, (0.85 + 0.02 * r) * 8000 / rtt), 8, repeat=r)
                 for r in range(3 if rtt_set == 1.0 else 1)]
        recs.append(_net("own-connection", rtt_set, rtt, min(15000.0, 0.9 * 8000 / rtt), 8))
        recs.append(_net("per-request", rtt_set, rtt, min(800.0, 0.25 * 8000 / rtt), 8))
    recs.append(_net("global", 1.0, 1.15, 900.0, 8, outcome="errors", silent=12))
    return records_from_json(recs)


def stack_records() -> list[Record]:
    """A small real-stack matrix, by hand: the shared connection fails silently under gevent, loudly under threads;
    threading.local leaks under the server that does not patch threads; one cell hung."""
    from tests.test_stack_model import stack_rec

    recs: list[Record] = []
    for server, load in (("gunicorn-gthread", "threads"), ("gevent-pywsgi", "gevent"),
                         ("gevent-pywsgi-nothread", "gevent-nothread")):
        for impl in ("threading-local", "fast"):
            local = 600 if (impl, load) == ("threading-local", "gevent-nothread") else 0
            silent, http = (900, {"500": 20}) if load != "threads" else (80, {"500": 400})
            recs.append(stack_rec(server, load, impl, "global", silent=silent, http=http, local=local))
            hung = load == "gevent-nothread" and impl == "fast"
            recs.append(stack_rec(server, load, impl, "pooled-tuned", local=local, outcome="hung" if hung else "ok",
                                  requests=0 if hung else 1000))
    return recs


# --- checks of what a file is


def assert_png(path: Path) -> None:
    from PIL import Image

    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path} is not a PNG"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        assert width >= 900 and height >= 300, f"{path}: {width}x{height} is too small to read at README width"
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colours is None or len(colours) > 20, f"{path} looks blank"


def assert_svg(path: Path) -> None:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg"), f"{path}: root element is {root.tag}"
    assert root.get("width") and root.get("height") and root.get("viewBox"), f"{path}: no size"
    assert len(list(root.iter())) > 50, f"{path} has almost nothing in it"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection (a server, a rerun) fails the test."""
    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"charts tried to connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


# --- tests


def test_every_chart_from_records_only(tmp_path: Path, no_network: None) -> None:
    _, records = real_locals_records()
    notes: list[str] = []
    written = charts.draw_all(records + db_records() + stack_records() + network_records(), tmp_path, notes=notes)
    expected = {tmp_path / f"{name}.{fmt}" for name in charts.CHARTS for fmt in ("png", "svg")}
    assert set(written) == expected
    assert notes == []
    for path in sorted(expected):
        (assert_png if path.suffix == ".png" else assert_svg)(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in expected), "temporary files left behind"


def test_same_records_same_svg(tmp_path: Path) -> None:
    _, records = real_locals_records()
    first = charts.draw_all(records, tmp_path / "a", formats=("svg",))
    second = charts.draw_all(records, tmp_path / "b", formats=("svg",))
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), f"{a.name} differs between two drawings of the same records"


def test_run_directory_with_broken_cell_files(tmp_path: Path) -> None:
    """A truncated, malformed, foreign-schema or half-valid cell file is named in problems; everything else is
    charted."""
    environment, records = real_locals_records()
    run = tmp_path / "run"
    (run / "cells").mkdir(parents=True)
    atomic_write_json(run / "environment.json", environment)
    probes = records_to_json(r for r in records if r.kind == "probe")
    micro = records_to_json(r for r in records if r.kind == "micro")
    half = len(probes) // 2
    atomic_write_json(run / "cells" / "01-probes.json",
                      {"schema": SCHEMA_VERSION, "cell": "probes a", "records": probes[:half]})
    atomic_write_json(run / "cells" / "02-micro.json", {"schema": SCHEMA_VERSION, "cell": "micro", "records": micro})
    text = json.dumps({"schema": SCHEMA_VERSION, "cell": "probes b", "records": probes[half:]})
    # cut off between two records
    (run / "cells" / "03-truncated.json").write_text(text[: text.index("},", len(text) // 2) + 1])
    (run / "cells" / "04-malformed.json").write_text('{"schema": 1, "cell": "x", "records": [}')
    (run / "cells" / "05-empty.json").write_text("")
    atomic_write_json(run / "cells" / "06-old.json", {"schema": 0, "cell": "old", "records": probes})
    bad_record = {"kind": "probe", "impl": "fast", "load": "threads"}  # no probe, no outcome
    atomic_write_json(run / "cells" / "07-partial.json",
                      {"schema": SCHEMA_VERSION, "cell": "db",
                       "records": [to_json(db_records()[0]), bad_record, "junk"]})

    planned = ["01-probes", "02-micro", "03-truncated", "04-malformed", "05-empty", "06-old", "07-partial", "08-killed"]
    atomic_write_json(run / "run.json", {"schema": SCHEMA_VERSION, "cells": planned})

    env, loaded, problems = load_records(run)
    assert env.get("python") == environment.get("python")
    text_of = "\n".join(problems)
    assert "03-truncated.json: truncated JSON" in text_of
    assert "04-malformed.json: malformed JSON" in text_of
    assert "05-empty.json: empty" in text_of
    assert "06-old.json: schema version 0" in text_of
    assert "07-partial.json: record 1: probe record without 'probe', 'outcome'; skipped" in text_of
    assert "07-partial.json: record 2: not an object (str); skipped" in text_of
    assert "cells/08-killed.json: missing (planned in run.json, the cell did not finish)" in text_of
    assert len(problems) == 7, problems
    assert len(loaded) == half + len(micro) + 1  # the good cells, and the one good record of the partial file

    notes: list[str] = []
    written = charts.draw_all(loaded, tmp_path / "charts", notes=notes)
    names = {p.stem for p in written}
    assert {"isolation", "cost_per_op", "throughput", "latency", "errors"} <= names
    assert any(n.startswith("request: skipped") for n in notes)
    for path in written:
        (assert_png if path.suffix == ".png" else assert_svg)(path)


def test_missing_run_directory_pieces_are_named(tmp_path: Path) -> None:
    (tmp_path / "cells").mkdir()
    env, records, problems = load_records([tmp_path, tmp_path / "nope.json"])
    assert env == {} and records == []
    assert any("environment.json: missing" in p for p in problems)
    assert any("nope.json: missing" in p for p in problems)


def test_missing_db_records_skip_db_charts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _, records = real_locals_records()
    stale = tmp_path / "throughput.png"
    stale.write_bytes(b"left over from an earlier run")
    notes: list[str] = []
    with caplog.at_level("INFO", logger="bench.present.charts"):
        written = charts.draw_all(records, tmp_path, notes=notes)
    assert {p.stem for p in written} == set(LOCALS_CHARTS)
    for name in DB_CHARTS:
        assert any(n.startswith(f"{name}: skipped: no ") for n in notes), notes
        assert not (tmp_path / f"{name}.png").exists()
    assert "throughput: skipped" in caplog.text
    assert set(charts.skip_reasons(records)) == set(DB_CHARTS) | set(STACK_CHARTS) | set(NETWORK_CHARTS)


def test_no_server_means_db_charts_skipped(tmp_path: Path) -> None:
    """Records of a database run without a server (every cell 'skipped') skip the DB charts with the reason."""
    from bench.exec.db import run_db
    from bench.plan.selection import DbSelection

    skipped, errors = run_db(None, DbSelection(strategies=["global", "pooled-tuned"], loads=["threads"],
                                               concurrency=[1, 4], request_impls=["fast"]))
    assert not errors
    notes: list[str] = []
    assert charts.draw_all(skipped, tmp_path, notes=notes) == []
    assert any("throughput: skipped: every db cell was skipped (no MySQL-protocol server)" in n for n in notes), notes
    assert any("request: skipped: every request cell was skipped" in n for n in notes), notes


def test_only_micro_or_only_probes(tmp_path: Path) -> None:
    _, records = real_locals_records()
    micro = [r for r in records if r.kind == "micro"]
    assert [p.name for p in charts.draw_all(micro, tmp_path / "m", formats=("png",))] == ["cost_per_op.png"]
    probes = [r for r in records if r.kind == "probe"]
    assert [p.name for p in charts.draw_all(probes, tmp_path / "p", formats=("png",))] == ["isolation.png"]


def test_bad_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported chart format 'gif'"):
        charts.draw_all([], tmp_path, formats=("gif",))


def test_palette_is_fixed_and_stable() -> None:
    impls = list(palette.IMPL_COLOURS)
    strategies = list(palette.STRATEGY_COLOURS)
    assert impls == ["plain", "threading-local", "dict-by-ident", "greenlet-keyed", "contextvar", "fast", "werkzeug",
                     "gevent-local"]
    assert strategies == ["global", "global-reconnect", "locked", "pooled", "pooled-tuned", "persistent", "per-request",
                          "sqlalchemy-queuepool", "own-connection", "aiomysql-pool", "asyncmy-pool", "sqlalchemy-async",
                          "to-thread", "pooled-timeout", "per-request-timeout", "own-connection-timeout",
                          "sqlalchemy-pre-ping", "sqlalchemy-recycle", "aiomysql-pool-recycle",
                          "sqlalchemy-async-pre-ping"]
    assert len({palette.impl_colour(n) for n in impls}) == len(impls)
    assert len({palette.strategy_style(n) for n in strategies}) == len(strategies)
    user = "mypkg.locals:MyLocal"
    assert palette.impl_colour(user) == palette.impl_colour(user) in palette.FALLBACK
    # The same name gets the same colour in a fresh interpreter (no salted hash()).
    code = f"from bench.present import palette; print(palette.impl_colour({user!r}), palette.load_style('mine').marker)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123"}).stdout.split()
    assert out == [palette.impl_colour(user), palette.load_style("mine").marker]
    assert palette.load_style("threads") != palette.load_style("gevent")


@pytest.mark.db
def test_charts_from_a_real_database_run(tmp_path: Path) -> None:
    """A tiny real run against the local server, then charts drawn from its stored file alone."""
    import pymysql

    from bench.exec.db import run_db
    from bench.plan.selection import DbSelection
    from bench.server import ServerTarget

    target = ServerTarget("127.0.0.1", 3306, "root", "", "test", "local-default")
    try:
        pymysql.connect(**target.connect_kwargs(), connect_timeout=2).close()
    except pymysql.err.MySQLError as exc:
        pytest.skip(f"no MySQL server on 127.0.0.1:3306: {exc}")
    records, errors = run_db(target, DbSelection(strategies=["global", "pooled-tuned"], loads=["threads"],
                                                 concurrency=[1, 4], duration=0.3, warmup=0.1, request_impls=["fast"],
                                                 request_strategies=["pooled-tuned"], request_concurrency=4),
                             ceiling=False)
    assert not errors, errors
    atomic_write_json(tmp_path / "db.json", results_document({}, records))
    _, loaded, problems = load_records(tmp_path / "db.json")
    assert not problems
    written = charts.draw_all(loaded, tmp_path / "charts", formats=("png",))
    assert {p.stem for p in written} == set(DB_CHARTS)
    for path in written:
        assert_png(path)


def test_records_are_written_with_the_usual_file_mode(tmp_path: Path) -> None:
    """Atomic writes go through a temporary file (0600 by default); the result gets what open() would give."""
    mask = os.umask(0o022)
    try:
        path = tmp_path / "r.json"
        atomic_write_json(path, {"a": 1})
        assert path.stat().st_mode & 0o777 == 0o644
        assert json.loads(path.read_text()) == {"a": 1} and not list(tmp_path.glob(".r.json.*"))
    finally:
        os.umask(mask)
