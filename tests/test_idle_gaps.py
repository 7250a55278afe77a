"""Idle gaps in a ``db`` cell (``DbTask.idle_gaps``): what the idle-timeout fault scenario runs its load with.

What is asserted: gaps are checked when the task is read (one-line ValueError) and pass through ``cell_task``;
during a gap no worker runs an operation or holds a checkout, and every worker goes on after it (a stub
connection, no server); a real cell with a 1.5 s gap in a 3 s window, under threads, gevent and asyncio, shows no
right reply inside the gap and some on both sides in its timeline, counts its ops/s over the 1.5 active seconds,
says so (``idle_gaps``, ``active_s``), and is not taken for hung by a 1 s watchdog; with the session's
``wait_timeout`` below the gap, the connections held through it are dead afterwards: the strategies that check a
connection before use go on without an error, the others meet 2006.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from bench.cell.db.loop import run_worker
from bench.cell.db.state import TIMELINE_BUCKET, Run, RunSettings
from bench.cell.db.summary import correctness, summarise_timing
from bench.exec.dbcell import cell_task
from bench.exec.spawn import run_cell
from bench.plan.cells import Cell, Timing
from bench.plan.specs import DbTask, task_from_json
from bench.server import ServerTarget

GAP = [1.0, 1.5]
WINDOW = 3.0
#: An operation that began just before a gap may end just inside it.
EDGE_S = 0.05
_TASK = {"task": "db", "host": "127.0.0.1", "port": 3306, "user": "root", "database": "test", "strategy": "pooled",
         "load": "threads", "concurrency": 2, "duration": 3.0}


# --- the task


@pytest.mark.parametrize(("gaps", "words"), [
    ([[-0.5, 1.0]], "start >= 0 and length > 0"),
    ([[1.0, 0.0]], "start >= 0 and length > 0"),
    ([[1.0, 1.0], [1.5, 0.5]], "must be sorted and must not overlap"),
    ([[2.0, 0.5], [0.0, 0.5]], "must be sorted and must not overlap"),
    ([[2.0, 1.5]], "after the 3 s window"),
    ([[1.0]], "each gap is [start_s, length_s]"),
])
def test_bad_gaps_are_refused_in_one_line(gaps: list[list[float]], words: str) -> None:
    with pytest.raises(ValueError) as info:
        task_from_json({**_TASK, "idle_gaps": gaps})
    assert words in str(info.value) and "\n" not in str(info.value)


def test_gaps_need_a_window() -> None:
    with pytest.raises(ValueError, match="give duration, not ops"):
        task_from_json({**_TASK, "duration": None, "ops": 1000, "idle_gaps": [[0.0, 1.0]]})


def test_gaps_pass_through_cell_task_and_are_absent_otherwise() -> None:
    target = ServerTarget("127.0.0.1", 3306, "root", "", "test", "local-default")
    timing = Timing(duration=5.0, warmup=0.2, hang_after=5.0)
    task = cell_task(target, Cell("db", "pooled", "threads", 4), timing, idle_gaps=[[1.0, 3.0]])
    assert isinstance(task, DbTask) and task.idle_gaps == [[1.0, 3.0]]
    assert task_from_json(task.to_json()).idle_gaps == [[1.0, 3.0]]  # what the cell process reads
    assert task_from_json({**_TASK, "idle_gaps": [[0.0, 1.0], [1.0, 2.0]]}).idle_gaps  # touching gaps are fine
    assert "idle_gaps" not in cell_task(target, Cell("db", "pooled", "threads", 4), timing).to_json()
    with pytest.raises(ValueError, match="after the 5 s window"):
        cell_task(target, Cell("db", "pooled", "threads", 4), timing, idle_gaps=[[3.0, 3.0]])


# --- the workers, over a stub connection


class _Cursor:
    """Answers ``SELECT %s`` with its argument after half a millisecond (as a round trip would)."""

    def __init__(self) -> None:
        self.row: Any = None

    def execute(self, sql: str, args: Any = None) -> None:
        time.sleep(0.0005)
        self.row = (args[0],) if args else (1,)

    def fetchone(self) -> Any:
        return self.row

    def close(self) -> None:
        return None


class _Connection:
    def cursor(self) -> _Cursor:
        return _Cursor()

    def thread_id(self) -> int:
        return 1


class _Checkout:
    def __init__(self, spans: list[tuple[float, float]]) -> None:
        self.spans = spans
        self.entered = 0.0

    def __enter__(self) -> _Connection:
        self.entered = time.perf_counter()
        return _Connection()

    def __exit__(self, *exc: object) -> None:
        self.spans.append((self.entered, time.perf_counter()))


class _SpanStrategy:
    """Remembers when each checkout was held."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []

    def checkout(self) -> _Checkout:
        return _Checkout(self.spans)

    def close(self) -> None:
        return None


def test_no_operation_and_no_checkout_during_a_gap() -> None:
    strategy = _SpanStrategy()
    run = Run(strategy, RunSettings(concurrency=2, warmup=0.1, duration=0.8, ops=None, cycle=("select_token",),
                                    nonce="stub", idle_gaps=((0.2, 0.3),)))
    workers = [threading.Thread(target=run_worker, args=(run, i)) for i in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    (gap_start, gap_end), = run.gaps
    assert gap_start == pytest.approx(run.window[0] + 0.2) and gap_end == pytest.approx(run.window[0] + 0.5)
    timed = [s for s in strategy.spans if s[0] >= run.window[0]]
    assert [s for s in timed if s[1] > gap_start + EDGE_S and s[0] < gap_end] == []
    assert any(end <= gap_start for _, end in timed) and any(start >= gap_end for start, _ in timed)
    correct = correctness(run)
    assert correct["error_count"] == 0 and correct["wrong_results"] == 0 and all(run.finished)
    # Each worker went on from where it stopped: its op numbers count every operation, each one's stamps kept.
    assert sum(st.n for st in run.states) == len(strategy.spans) - 2  # less the connect phase's checkouts
    assert sum(st.stored for st in run.states) == 3 * sum(st.n for st in run.states)
    timing = summarise_timing(run)
    assert timing["active_s"] == pytest.approx(0.5) and timing["measured_s"] == pytest.approx(0.8)
    assert timing["ops_per_s"] == pytest.approx(timing["ops"] / 0.5, abs=0.1)


def test_without_gaps_the_timing_says_nothing_of_them() -> None:
    run = Run(_SpanStrategy(), RunSettings(concurrency=1, warmup=0.0, duration=0.1, ops=None, cycle=("select_token",),
                                           nonce="stub"))
    run_worker(run, 0)
    timing = summarise_timing(run)
    assert "active_s" not in timing and run.gaps == ()
    assert timing["ops_per_s"] == pytest.approx(timing["ops"] / 0.1, abs=0.1)


# --- real cells


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest) -> ServerTarget:
    return request.getfixturevalue("mysql_server").target  # type: ignore[no-any-return]


@pytest.mark.db
@pytest.mark.parametrize(("strategy", "load"), [("pooled-tuned", "threads"), ("pooled-tuned", "gevent"),
                                                ("aiomysql-pool", "asyncio")])
def test_a_cell_idles_through_its_gap(target: ServerTarget, strategy: str, load: str) -> None:
    timing = Timing(duration=WINDOW, warmup=0.2, hang_after=1.0)  # the gap is longer than the watchdog's wait
    task = cell_task(target, Cell("db", strategy, load, 4), timing, timeline=True, idle_gaps=[GAP])
    result = run_cell(task, timeout=60)
    assert result.failure is None and result.records, result.failure
    rec = result.records[0]
    assert rec["outcome"] == "ok", (rec.get("reason"), rec.get("hung_phase"))
    assert rec["hang_after_s"] == 1.0 and rec["errors"] == {} and rec["wrong_results"] == 0
    assert rec["idle_gaps"] == [GAP] and rec["measured_s"] == WINDOW and rec["active_s"] == WINDOW - GAP[1]
    assert rec["ops_per_s"] == round(rec["ops"] / (WINDOW - GAP[1]), 1)
    line = rec["timeline"]
    start = line["window"][0]
    # Each bucket by its place in the window: [at, at + bucket).
    buckets = [(key * TIMELINE_BUCKET - start, count) for key, count in line["ok"]]
    gap_start, gap_end = GAP[0], GAP[0] + GAP[1]
    assert [(round(at, 3), n) for at, n in buckets if at >= gap_start + EDGE_S and at + TIMELINE_BUCKET <= gap_end] \
        == []
    assert sum(n for at, n in buckets if 0 <= at and at + TIMELINE_BUCKET <= gap_start) > 0
    assert sum(n for at, n in buckets if gap_end <= at < WINDOW) > 0


@pytest.fixture(scope="module")
def idle_killed(target: ServerTarget) -> dict[str, Any]:
    """Cells whose sessions the server ends after 1 s idle (``SET SESSION wait_timeout=1``, this cell's connections
    only) with a 2 s gap: every connection held through the gap is dead when the load comes back."""
    timing = Timing(duration=WINDOW, warmup=0.2, hang_after=5.0)
    records = {}
    for strategy in ("own-connection", "own-connection-timeout", "sqlalchemy-queuepool", "sqlalchemy-pre-ping"):
        task = cell_task(target, Cell("db", strategy, "threads", 4), timing, idle_gaps=[[0.5, 2.0]],
                         connect_options={"init_command": "SET SESSION wait_timeout=1"})
        result = run_cell(task, timeout=60)
        assert result.records, result.failure
        records[strategy] = result.records[0]
    return records


@pytest.mark.db
@pytest.mark.parametrize(("strategy", "survives"), [("own-connection", False), ("own-connection-timeout", True),
                                                    ("sqlalchemy-queuepool", False), ("sqlalchemy-pre-ping", True)])
def test_a_gap_past_wait_timeout_kills_the_held_connections(idle_killed: dict[str, Any], strategy: str,
                                                            survives: bool) -> None:
    """What the idle-timeout scenario shows: after the gap, a strategy that checks its connection first (a ping
    before use, a pre-ping) serves without an error on new connections; one that does not meets the dead ones."""
    rec = idle_killed[strategy]
    assert rec["wrong_results"] == 0 and rec["ops"] > 0
    # Four before the gap, four new ones after it -- but a bare own connection is never reopened.
    assert rec["connections_used"] == (4 if strategy == "own-connection" else 8)
    if survives:
        assert rec["outcome"] == "ok" and rec["errors"] == {}, rec["errors"]
    else:
        assert rec["outcome"] == "errors" and rec["error_codes"].get("OperationalError:2006", 0) > 0, rec["errors"]
    if strategy == "own-connection-timeout":
        assert rec["strategy_facts"] == {"reopened": 4}
