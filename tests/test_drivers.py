"""The MySQL driver as a dimension (``--driver``), without a server: names, keyword translation, refusals, the plan,
the hub ticker's arithmetic, error labels, and how the report and the answer read driver cells.

A cell without ``--driver`` must be what it always was (id, spec, record fields); a driver that blocks the hub
must never be the answer's choice under gevent, however fast; a refusal is one line and exit status 2.
"""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bench.cell import drivers, strategies
from bench.cell.db.hub import BOUND_SHARE, BOUND_STALL_S, HubTicker
from bench.cell.db.workload import classify, error_code
from bench.cell.drivers import DRIVERS, DriverError, DriverInfo, missing, translate
from bench.plan.cells import Cell, Timing, plan_db
from bench.plan.selection import DbSelection
from bench.present import answer as answers
from bench.present.common import direct
from bench.present.drivers import driver_findings, driver_rows
from bench.present.tables import db_rows
from bench.records.environment import PROJECT_ROOT
from bench.records.kinds import DbRecord, Record
from bench.records.schema import from_json
from tests.test_answer import db, probe

PYMYSQL_KWARGS = {"host": "127.0.0.1", "port": 3306, "user": "u", "password": "p", "database": "d",
                  "connect_timeout": 5, "read_timeout": 1.0, "write_timeout": 2.0}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120)


# --- names and keywords


def test_a_name_is_built_in_or_a_module_path_and_nothing_else() -> None:
    for name in (*DRIVERS, "mypkg.drivers:dbapi"):
        drivers.check_name(name)
    for bad in ("foo", "a.b:", ":x", "a b:c"):
        with pytest.raises(DriverError):
            drivers.check_name(bad)
    assert drivers.missing("pymysql") is None
    why = drivers.missing("no_such_package_ctxbench.mod:dbapi")
    assert why is not None and "not installed" in why and "\n" not in why


@pytest.mark.parametrize(("name", "expected"), [
    ("pymysql", PYMYSQL_KWARGS),
    ("mysqlclient", {"host": "127.0.0.1", "port": 3306, "user": "u", "password": "p", "database": "d",
                     "connect_timeout": 5, "read_timeout": 1, "write_timeout": 2}),
    ("mariadb", {"host": "127.0.0.1", "port": 3306, "user": "u", "password": "p", "database": "d",
                 "connect_timeout": 5, "read_timeout": 1, "write_timeout": 2}),
    ("connector", {"host": "127.0.0.1", "port": 3306, "user": "u", "password": "p", "database": "d",
                   "connection_timeout": 5, "read_timeout": 1, "write_timeout": 2, "use_pure": False}),
    ("connector-pure", {"host": "127.0.0.1", "port": 3306, "user": "u", "password": "p", "database": "d",
                        "connection_timeout": 5, "read_timeout": 1, "write_timeout": 2, "use_pure": True}),
])
def test_pymysql_keywords_become_each_drivers_own(name: str, expected: dict[str, Any]) -> None:
    got = translate(DRIVERS[name], PYMYSQL_KWARGS)
    assert got == expected
    assert all(type(v) is int for k, v in got.items() if k.endswith("timeout")) or name == "pymysql"


@pytest.mark.parametrize(("name", "tls", "expected"), [
    ("mysqlclient", {"ssl_ca": "/ca.pem", "ssl_verify_cert": True, "ssl_verify_identity": True},
     {"ssl": {"ca": "/ca.pem"}, "ssl_mode": "VERIFY_IDENTITY"}),
    ("mysqlclient", {"ssl_ca": "/ca.pem", "ssl_cert": "/c.pem", "ssl_key": "/k.pem", "ssl_verify_cert": True,
                     "ssl_verify_identity": False},
     {"ssl": {"ca": "/ca.pem", "cert": "/c.pem", "key": "/k.pem"}, "ssl_mode": "VERIFY_CA"}),
    ("mysqlclient", {"ssl": {"verify_mode": False}}, {"ssl_mode": "REQUIRED"}),
    ("mysqlclient", {"ssl_disabled": True}, {"ssl_mode": "DISABLED"}),
    ("mariadb", {"ssl_ca": "/ca.pem", "ssl_verify_cert": True, "ssl_verify_identity": True},
     {"ssl": True, "ssl_ca": "/ca.pem", "ssl_verify_cert": True}),
    ("mariadb", {"ssl": {"verify_mode": False}}, {"ssl": True, "ssl_verify_cert": False}),
    ("mariadb", {"ssl_disabled": True}, {}),
    ("connector", {"ssl_ca": "/ca.pem", "ssl_verify_cert": True, "ssl_verify_identity": True},
     {"ssl_ca": "/ca.pem", "ssl_verify_cert": True, "ssl_verify_identity": True}),
    ("connector", {"ssl_disabled": True}, {"ssl_disabled": True}),
    ("pymysql", {"ssl_ca": "/ca.pem", "ssl_verify_cert": True}, {"ssl_ca": "/ca.pem", "ssl_verify_cert": True}),
])
def test_the_urls_tls_settings_keep_their_meaning_in_each_driver(name: str, tls: dict[str, Any],
                                                                 expected: dict[str, Any]) -> None:
    got = translate(DRIVERS[name], {"host": "h", **tls})
    got.pop("host")
    got.pop("use_pure", None)
    assert got == expected


def test_what_a_driver_cannot_express_is_refused_in_one_line() -> None:
    with pytest.raises(DriverError, match="cannot require TLS without checking") as exc:
        translate(DRIVERS["connector"], {"ssl": {"verify_mode": False}})
    assert "\n" not in str(exc.value)
    with pytest.raises(DriverError, match="whole seconds for read_timeout"):
        translate(DRIVERS["mysqlclient"], {"read_timeout": 0.5})
    lacking = DriverInfo("old", "old", "old", "a driver without a read timeout",
                         timeouts={"connect_timeout": "connect_timeout"})
    with pytest.raises(DriverError, match="has no read_timeout"):
        translate(lacking, {"read_timeout": 1})


def test_a_strategy_that_cannot_use_a_driver_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    strategies.check_driver("global-reconnect", "threads", "pymysql")
    strategies.check_driver("to-thread", "asyncio", "mysqlclient")
    strategies.check_driver("tests.broken_strategies:SharedPairPool", "threads", "mariadb")  # a user's: it may
    for name, load in (("global-reconnect", "threads"), ("aiomysql-pool", "asyncio"), ("locked", "asyncio")):
        with pytest.raises(strategies.StrategyError):
            strategies.check_driver(name, load, "mysqlclient")
    monkeypatch.setitem(DRIVERS, "old", DriverInfo("old", "old", "old", "no read timeout",
                                                   timeouts={"connect_timeout": "connect_timeout"}))
    with pytest.raises(strategies.StrategyError, match="sets read_timeout, write_timeout, which driver 'old'"):
        strategies.check_driver("pooled-timeout", "threads", "old")
    strategies.check_driver("pooled-tuned", "threads", "old")


@pytest.mark.parametrize("args", [
    ["db", "--driver", "foo"],
    ["db", "--driver", "mysqlclient", "--strategy", "global-reconnect"],
    ["db", "--driver", "mysqlclient", "--db-load", "asyncio", "--strategy", "aiomysql-pool"],
    ["stack", "--driver", "mariadb", "--server", "uvicorn"],
    ["run", "--driver", "a.b:"],
])
def test_bad_driver_input_is_one_line_and_exit_2(args: list[str]) -> None:
    proc = _cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("ctxbench: error:") and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


# --- the plan: nothing changes without --driver


def _selection(**changes: Any) -> DbSelection:
    fields: dict[str, Any] = {"strategies": ["pooled-tuned"], "loads": ["threads", "gevent"], "concurrency": [8],
                              "request_impls": ["fast"], "request_strategies": ["locked"], **changes}
    return DbSelection(**fields)


def test_without_a_driver_the_cells_ids_and_specs_are_as_they_were() -> None:
    cells = plan_db(_selection(), ceiling=False)
    assert [c.id for c in cells] == ["db--pooled-tuned--threads--c8", "db--pooled-tuned--gevent--c8",
                                     "request--fast--locked--threads--c16", "request--fast--locked--gevent--c16"]
    assert all("driver" not in c.spec.to_json() for c in cells)
    assert Cell("db", "locked", "threads", 8).spec(Timing(1.0, 0.5, 5.0)).driver_name is None


def test_a_driver_is_one_cell_each_innermost_and_round_trips() -> None:
    cells = plan_db(_selection(drivers=["pymysql", "mysqlclient"], request_impls=[]), ceiling=False)
    assert [c.id for c in cells] == ["db--pooled-tuned--threads--c8--drv-pymysql",
                                     "db--pooled-tuned--threads--c8--drv-mysqlclient",
                                     "db--pooled-tuned--gevent--c8--drv-pymysql",
                                     "db--pooled-tuned--gevent--c8--drv-mysqlclient"]
    assert cells[1].label == "db pooled-tuned threads c=8 over mysqlclient"
    assert cells[1].spec.to_json()["driver"] == "mysqlclient"
    assert Cell.from_spec(cells[1].spec).driver == "mysqlclient"  # type: ignore[arg-type]


def _run_plan(*flags: str) -> list[Any]:
    from bench.cli.args import async_part, db_selection, locals_plan, network_part
    from bench.cli.driverargs import driver_part
    from bench.cli.main import build_parser
    from bench.plan.runplan import plan_run

    args = build_parser().parse_args(["run", *flags])
    db_sel = db_selection(args, quick=args.quick, with_drivers=False)
    named = (args.db_load or args.strategy) and not args.driver
    part = None if args.no_drivers or named else driver_part(db_sel, args, quick=args.quick)
    return plan_run(locals_plan(args, quick=args.quick), db_sel, quick=args.quick,
                    parts=(async_part(db_sel, quick=args.quick), network_part(db_sel, args, quick=args.quick), part))


def test_the_run_has_a_driver_part_that_switches_off() -> None:
    installed = [name for name in ("mysqlclient",) if missing(name) is None]
    quick = [c for c in _run_plan("--quick") if c.id.endswith(tuple(f"--drv-{d}" for d in ("pymysql", *installed)))]
    if installed:
        assert [c.id for c in quick] == [f"db--own-connection--{load}--c8--drv-{d}" for load in ("threads", "gevent")
                                         for d in ("pymysql", "mysqlclient")]
    assert not [c for c in _run_plan("--quick", "--no-drivers") if "--drv-" in c.id]
    assert not [c for c in _run_plan("--quick", "--strategy", "locked") if "--drv-" in c.id]
    named = [c.id for c in _run_plan("--quick", "--strategy", "locked", "--driver", "mariadb") if "--drv-" in c.id]
    assert named == ["db--own-connection--threads--c8--drv-mariadb", "db--own-connection--gevent--c8--drv-mariadb"]


# --- the hub ticker's arithmetic


def _ticker(window: tuple[float, float] = (10.0, 11.0)) -> HubTicker:
    return HubTicker(cast(Any, SimpleNamespace(t_go=9.5, window=window)), interval=0.01, tolerance=0.01)


def test_a_fair_loop_is_not_blocked_and_a_stalled_one_is() -> None:
    fair = _ticker()
    t = 10.0
    while t < 11.0:  # every wake-up 4 ms late: turn-taking, under the tolerance
        fair.note(t, t + 0.004)
        t += 0.014
    fair.stop()
    fair.stopped_at = 11.0
    out = fair.fields()
    assert out["blocks_hub"] is False and out["hub"]["blocked_share"] == 0.0 and out["hub"]["longest_stall_ms"] == 4.0
    stuck = _ticker()
    stuck.note(10.2, 10.35)  # one stall of 150 ms
    stuck.stopped_at = 11.0
    out = stuck.fields()
    assert out["blocks_hub"] is True and out["hub"]["longest_stall_ms"] == pytest.approx(150.0)
    assert out["hub"]["stalls_over_bound"] == 1 and BOUND_STALL_S == 0.1


def test_many_short_stalls_block_by_share_and_a_pending_wake_up_counts() -> None:
    busy = _ticker()
    t = 10.0
    while t < 11.0:  # 40 ms late every time: under the stall bound, but blocked 30 of every 50 ms
        busy.note(t, t + 0.04)
        t += 0.05
    busy.stopped_at = 11.0
    out = busy.fields()
    assert out["hub"]["longest_stall_ms"] < BOUND_STALL_S * 1e3 and out["hub"]["blocked_share"] > BOUND_SHARE
    assert out["blocks_hub"] is True
    never = _ticker()  # killed before it ever ran in the window: the wake-up due at 10.0 is overdue at the end
    never.due = 10.0
    never.stopped_at = 11.2
    out = never.fields()
    assert out["hub"]["longest_stall_ms"] == pytest.approx(1000.0) and out["hub"]["blocked_share"] > 0.98


def test_the_machines_share_of_a_stall_is_taken_off_but_a_loop_that_never_turned_blocks() -> None:
    busy_machine = _ticker()
    t = 10.0
    while t < 11.0:  # 150 ms late every time, 90% of it waiting for a CPU: a loaded machine, not the loop
        busy_machine.note(t, t + 0.15, machine_share=0.9)
        t += 0.16
    busy_machine.stopped_at = 11.0
    out = busy_machine.fields()
    assert out["blocks_hub"] is False and out["hub"]["longest_stall_ms"] == pytest.approx(15.0)
    assert out["hub"]["raw_longest_stall_ms"] == pytest.approx(150.0) and out["hub"]["machine_wait_ms"] > 700
    hog = _ticker()  # one greenlet held the loop the whole window, on a machine so loaded it mostly waited
    hog.due, hog.slept_at, hog.stopped_at = 9.6, 9.59, 11.0
    hog._share = lambda now: 0.95  # type: ignore[method-assign]
    out = hog.fields()
    assert out["hub"]["ticks"] == 0 and out["hub"]["longest_stall_ms"] < 100 and out["blocks_hub"] is True


# --- errors: one label per MySQL error number, whichever driver raised it


def test_each_drivers_error_is_counted_under_the_servers_error_number() -> None:
    import pymysql

    assert classify(pymysql.err.OperationalError(2013, "Lost connection")) == "OperationalError"
    assert classify(pymysql.err.InterfaceError(0, "")) == "InterfaceError"
    if missing("mariadb") is None:
        import mariadb

        exc = mariadb.InterfaceError("Lost connection to server during query")
        exc.errno = 2013  # what mariadb sets (its args carry the message only)
        assert error_code(exc) == 2013 and classify(exc) == "OperationalError"
    if missing("connector-pure") is None:
        from mysql.connector import errors

        assert classify(errors.DatabaseError(msg="refused", errno=2003)) == "OperationalError"
        assert classify(errors.ProgrammingError(msg="syntax", errno=1064)) == "ProgrammingError"
    if missing("mysqlclient") is None:
        import MySQLdb

        assert classify(MySQLdb.OperationalError(1040, "Too many connections")) == "server:1040"


# --- the report and the answer


def _over(driver: str, load: str, rate: float, blocks: bool = False, **fields: Any) -> DbRecord:
    hub = {"longest_stall_ms": 1000.0 if blocks else 5.0, "blocked_share": 1.0 if blocks else 0.0,
           "ticks": 0 if blocks else 90}
    return db("own-connection", load, 8, rate, driver=driver, driver_version="1", blocks_hub=blocks,
              hub=hub if load != "threads" else None, connect_close_ms={"median": 0.5, "n": 5},
              ratio_to_ceiling=0.3, **fields)


def _planted_drivers() -> list[Record]:
    recs: list[Record] = [probe("fast", "threads"), probe("fast", "gevent"),
                          db("own-connection", "threads", 16, 9000.0), db("own-connection", "gevent", 16, 8000.0)]
    recs += [_over("pymysql", "threads", 10_000.0), _over("mysqlclient", "threads", 20_000.0),
             _over("pymysql", "gevent", 9_000.0), _over("mysqlclient", "gevent", 30_000.0, blocks=True)]
    return recs


def test_a_blocking_driver_is_never_the_answer_under_gevent_however_fast() -> None:
    ans = answers.answer(_planted_drivers())
    rows = {row.shape.name: row for row in ans.rows}
    threads, gevent = rows["threads"].choice, rows["gevent"].choice
    assert threads is not None and threads.driver == "mysqlclient" and threads.throughput.median == 20_000.0
    assert gevent is not None and gevent.driver == "pymysql" and gevent.throughput.median == 9_000.0
    assert {v.name: v.safe for v in rows["gevent"].drivers} == {"pymysql": True, "mysqlclient": False}
    _header, failed = answers.failure_table(ans)
    assert ["gevent (in-process)", "driver mysqlclient"] == failed[0][:2] and "blocks the hub" in failed[0][2]
    _header, table = answers.table(ans)
    assert "over mysqlclient" in table[0][3] and "over pymysql" in table[1][3]
    assert answers.to_json(ans)["rows"][1]["fastest_safe"]["driver"] == "pymysql"


def test_driver_cells_are_the_drivers_views_only() -> None:
    recs = _planted_drivers()
    plain = [r for r in recs if not getattr(r, "driver", None)]
    assert db_rows(recs) == db_rows(plain) and direct(recs) == plain
    header, rows = driver_rows(recs)
    by = {(row[0], row[2]): dict(zip(header, row, strict=True)) for row in rows}
    assert by[("mysqlclient", "gevent")]["verdict"] == "blocks the hub"
    assert by[("mysqlclient", "gevent")]["correct ops/s"] == "30,000 (n=1)"  # right replies keep their speed
    assert by[("mysqlclient", "gevent")]["longest hub stall ms"] == "whole window"
    assert by[("pymysql", "gevent")]["longest hub stall ms"] == "5 (<1% blocked)"
    assert by[("pymysql", "gevent")]["verdict"] == "ok" and by[("mysqlclient", "threads")]["verdict"] == "ok"
    said = " ".join(driver_findings(recs))
    assert "Under gevent, mysqlclient blocks the hub" in said and "pymysql did not" in said


def test_a_record_without_a_hub_or_driver_reads_back_unchanged() -> None:
    rec = db("pooled-tuned", "threads", 8, 100.0)
    assert "driver" not in rec and "blocks_hub" not in rec and "hub" not in rec
    back = from_json({**{k: rec[k] for k in rec}, "driver": "mariadb", "blocks_hub": True, "hub": {"ticks": 3}})
    assert back["driver"] == "mariadb" and back["blocks_hub"] is True
