"""What the charts claim: one look per strategy, throughput as correct replies only, failed cells named and never
drawn as a speed, error bars for repeated cells, only the rows of the errors chart with something in them, the tail
and the per-operation time in the latency chart, the unsafe Locals beside their cost, and a subtitle saying how.

Records are built by hand; no server, no network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import matplotlib
import pytest
from matplotlib.axes import Axes
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.text import Text

from bench.cell.strategies import STRATEGIES
from bench.present import charts, palette
from bench.present.charts.cost import draw_cost
from bench.present.charts.errors import draw_errors
from bench.present.charts.figure import STYLE
from bench.present.charts.latency import draw_latency
from bench.present.charts.request import draw_request
from bench.present.charts.stack import draw_stack
from bench.present.charts.throughput import draw_throughput
from bench.records.kinds import DbRecord, Record, StackRecord
from bench.records.schema import from_json
from tests.test_charts import db_records, network_records, stack_records
from tests.test_stack_model import stack_rec


def _db(strategy: str, load: str, concurrency: int, ops_per_s: float, **extra: Any) -> DbRecord:
    p50 = 0.1 * concurrency
    rec = {"kind": "db", "strategy": strategy, "load": load, "concurrency": concurrency, "ops_per_s": ops_per_s,
           "outcome": "ok", "errors": {}, "wrong_results": 0, "silent_wrong": 0, "duration_s": 2.0, "warmup_s": 0.5,
           "latency_ms": {"p50": p50, "p90": 2 * p50, "p99": 5 * p50, "p99.9": 8 * p50, "max": 20 * p50}}
    rec.update(extra)
    return cast(DbRecord, from_json(rec))


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _axes(fig: Figure) -> list[Axes]:
    return [a for a in fig.findobj(Axes) if isinstance(a, Axes)]


def _drawn_ys(fig: Figure) -> set[float]:
    """Every y value of every line drawn (medians, ceilings, bars)."""
    ys: set[float] = set()
    for ax in _axes(fig):
        for line in ax.get_lines():
            ys.update(float(y) for y in line.get_ydata() if y == y)  # type: ignore[union-attr]
    return ys


# --- one look per strategy


def test_every_strategy_has_its_own_colour_and_marker() -> None:
    names = list(STRATEGIES)
    assert set(names) <= set(palette.STRATEGY_COLOURS) == set(palette.STRATEGY_MARKERS)
    styles = [palette.strategy_style(n) for n in names]
    assert len(set(styles)) == len(names), "two strategies share both colour and marker"
    for load in ("threads", "asyncio"):
        under = [n for n in names if load in STRATEGIES[n].loads()]
        assert len({palette.strategy_style(n).colour for n in under}) == len(under), f"a colour repeats under {load}"
        assert len({palette.strategy_style(n).marker for n in under}) == len(under), f"a marker repeats under {load}"
    assert palette.strategy_style("aiomysql-pool") != palette.strategy_style("sqlalchemy-async")


def test_user_strategies_never_look_like_another_in_one_chart() -> None:
    users = [f"mine.strategies:s{i}" for i in range(30)]
    styles = palette.strategy_styles([*STRATEGIES, *users])
    assert len(set(styles.values())) == len(styles)
    fixed = {palette.strategy_style(n) for n in STRATEGIES}
    assert all(palette.strategy_style(u) not in fixed for u in users)
    assert palette.strategy_style(users[0]) == palette.strategy_style(users[0])


def test_no_two_strategies_of_a_chart_share_colour_and_marker() -> None:
    records = [_db(s, "asyncio" if "asyncio" in STRATEGIES[s].loads() and "threads" not in STRATEGIES[s].loads()
                   else "threads", c, 1000.0 * c) for s in STRATEGIES for c in (1, 4)]
    records.append(_db("mine.strategies:factory", "threads", 4, 900.0))
    for draw in (draw_throughput, draw_latency):
        fig = draw(cast(list[Record], records))
        assert fig is not None
        handles = [h for h in fig.subfigs[0].legends[0].legend_handles if getattr(h, "get_marker", None)]
        pairs = [(h.get_color(), h.get_marker()) for h in handles  # type: ignore[union-attr]
                 if h.get_label() in [*STRATEGIES, "mine.strategies:factory"]]
        assert len(pairs) == len(STRATEGIES) + 1
        assert len(set(pairs)) == len(pairs)


# --- throughput is correct replies; a failed cell is named, not drawn as a speed


def test_a_failing_stack_cell_with_many_replies_is_not_drawn_as_a_throughput() -> None:
    fast_wrong = stack_rec("gunicorn-gevent", "gevent", "fast", "global", silent=9000, requests=12000)
    fast_wrong = fast_wrong.replace(ops_per_s=8000.0)  # every reply in the window, the wrong ones too
    safe = stack_rec("gunicorn-gevent", "gevent", "fast", "pooled-tuned", requests=1500)  # 1,000 right/s
    fig = draw_stack([fast_wrong, safe])
    assert fig is not None
    texts = _texts(fig)
    assert any(t.startswith("silent wrong 9.0k") for t in texts)
    assert not any("8.0k" in t or "2.0k/s" in t for t in texts), texts  # neither every reply nor the right ones
    assert "1.0k/s" in texts


def test_a_failing_db_cell_with_a_high_rate_is_named_below_not_plotted() -> None:
    records: list[Record] = [_db("pooled-tuned", "threads", c, 5000.0 + c) for c in (1, 4, 16)]
    records += [_db("global", "threads", 1, 7000.0),
                _db("global", "threads", 4, 54321.0, wrong_results=30, silent_wrong=30, outcome="errors"),
                _db("global", "threads", 16, 43210.0, errors={"InterfaceError": 5}, outcome="errors")]
    fig = draw_throughput(records)
    assert fig is not None
    ys = _drawn_ys(fig)
    assert 7000.0 in ys and 5004.0 in ys
    assert not ys & {54321.0, 43210.0}
    texts = _texts(fig)
    assert "silent\nwrong" in texts and "errors" in texts
    assert "correct operations per second (log scale)" in texts


def test_request_cells_show_correct_ops_or_what_failed() -> None:
    fig = draw_request(db_records())
    assert fig is not None
    texts = _texts(fig)
    assert any(t.startswith("wrong Local 5") for t in texts)  # threading-local under gevent leaks
    assert any(t.startswith("errors 40") for t in texts)  # the shared connection, 8,000 right ops/s or not
    assert texts.count("8.0k/s") == 3  # the clean cells: pooled-tuned, but threading-local under gevent


# --- repeats


def _repeated(strategy: str, load: str, c: int, rates: tuple[float, ...]) -> list[Record]:
    return [_db(strategy, load, c, rate, repeat=i) for i, rate in enumerate(rates)]


def test_three_repeats_draw_a_bar_from_the_lowest_to_the_highest_run() -> None:
    records = [*_repeated("own-connection", "threads", 4, (9000.0, 10000.0, 12000.0)),
               *_repeated("own-connection", "threads", 16, (11000.0, 11000.0, 11000.0)),
               *_repeated("pooled-tuned", "threads", 4, (7000.0,))]
    fig = draw_throughput(records)
    assert fig is not None
    bars = [c for ax in _axes(fig) for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 1  # the cell whose runs differ; one run, or runs alike, draws no bar
    segments = bars[0].lines[2][0].get_segments()
    assert [(float(p[0][1]), float(p[1][1])) for p in segments] == [(9000.0, 12000.0)]
    assert 10000.0 in _drawn_ys(fig)  # the median
    assert "median of n=1-3 runs per cell, bars: lowest to highest" in fig.subfigs[0].get_suptitle()
    one = draw_throughput([*_repeated("pooled-tuned", "threads", 4, (7000.0,)),
                           *_repeated("pooled-tuned", "threads", 16, (7100.0,))])
    assert one is not None and "n=1" in one.subfigs[0].get_suptitle()
    assert not [c for ax in _axes(one) for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_repeated_request_cells_show_their_range() -> None:
    base = [r for r in db_records() if r.kind == "request" and r.strategy == "pooled-tuned" and r.load == "threads"]
    records = [r.replace(repeat=i, ops_per_s=rate) for r in base for i, rate in enumerate((7000.0, 8000.0, 9000.0))]
    fig = draw_request(cast(list[Record], records))
    assert fig is not None
    assert "8.0k/s\n7.0k-9.0k, n=3" in _texts(fig)


# --- errors: only rows with something in them


def test_errors_chart_draws_only_what_went_wrong() -> None:
    fig = draw_errors(db_records())
    assert fig is not None
    labels = {t.get_text() for ax in _axes(fig) for t in ax.get_yticklabels() if t.get_text()}
    assert labels == {"global: SILENT WRONG", "global: errors", "locked: hung / crashed"}
    db = [r for r in db_records() if r.kind == "db"]
    cells = len({(r.strategy, r.load, r.concurrency) for r in db})
    note = fig.subfigs[0].legends[0].get_title().get_text().replace("\n", " ")
    assert f"{cells - 5} of {cells} cells had no error, no wrong result and no hang" in note
    assert "clean in every cell, so not drawn: pooled-tuned, own-connection, tests.mine:factory" in note


def test_errors_chart_adds_the_counts_of_repeated_runs() -> None:
    records = [_db("global", "threads", 4, 0.0, errors={"InterfaceError": n}, outcome="errors", repeat=i)
               for i, n in enumerate((100, 200, 300))]
    fig = draw_errors(cast(list[Record], records))
    assert fig is not None
    assert "600\nInterface" in _texts(fig)
    assert "counts summed over the n=3 runs of each cell" in fig.subfigs[0].get_suptitle()


def test_errors_chart_without_errors_says_so() -> None:
    fig = draw_errors([_db("pooled-tuned", "threads", c, 5000.0) for c in (1, 4)])
    assert fig is not None
    assert any(t.startswith("Nothing went wrong.\n2 of 2 cells had no error") for t in _texts(fig))
    assert not [t for ax in _axes(fig) for t in ax.get_yticklabels() if t.get_text()]


def test_errors_chart_is_short_for_few_rows(tmp_path: Path) -> None:
    from PIL import Image

    records = [_db(s, "threads", c, 5000.0) for s in STRATEGIES if "threads" in STRATEGIES[s].loads()
               for c in (1, 4, 16, 64)]
    records.append(_db("global", "threads", 4, 0.0, errors={"InterfaceError": 900}, outcome="errors"))
    written = charts.draw_all(cast(list[Record], records), tmp_path, formats=("png",))
    with Image.open(tmp_path / "errors.png") as image:
        assert image.size[1] < 700, image.size
    assert tmp_path / "errors.png" in written


# --- latency: the tail, and the per-operation time beside p50


def test_latency_shows_the_tail_and_names_a_hidden_wait() -> None:
    records: list[Record] = [_db("own-connection", "gevent", c, 4000.0 * c ** 0.5) for c in (1, 4, 64)]
    records += [_db("locked", "gevent", c, 7602.0, latency_ms={"p50": 0.112, "p90": 0.14, "p99": 0.823,
                                                              "p99.9": 1.04, "max": 3.49}) for c in (1, 4, 64)]
    records.append(_db("global", "gevent", 64, 0.0, errors={"InterfaceError": 9}, outcome="errors"))
    fig = draw_latency(records)
    assert fig is not None
    notes = fig.subfigs[0].subfigs[0].get_supxlabel()
    assert "gevent, locked: p50 0.11 ms and p99 0.82 ms, yet 64 workers ÷ 7,602 ops/s = 8.4 ms per op" in notes
    assert "waits for the lock are not timed" in notes
    assert "own-connection" not in notes
    assert "failed: errors" in _texts(fig)
    xs = {round(float(x), 3) for ax in _axes(fig) for line in ax.get_lines() for x in line.get_xdata()}  # type: ignore[union-attr]
    assert {0.112, 0.823, 1.04, 3.49, 8.419} <= xs  # p50, p99, p99.9, max and 64 / 7,602 ops/s in ms


def test_latency_without_several_concurrencies_draws_the_tail_only() -> None:
    fig = draw_latency([_db(s, "asyncio", 16, 5000.0) for s in ("own-connection", "aiomysql-pool")])
    assert fig is not None
    titles = [ax.get_title() for ax in _axes(fig)]
    assert titles == ["load: asyncio, 16 workers"]


# --- cost: what was measured, and where each Local is unsafe


def test_cost_chart_says_one_thread_no_load_and_marks_unsafe_locals() -> None:
    micro = [from_json({"kind": "micro", "impl": impl, "op": op, "ns_median": ns, "ns_spread": 1.0, "processes": 3})
             for impl, ns in (("threading-local", 30.0), ("fast", 55.0)) for op in ("get", "set")]
    probes = [from_json({"kind": "probe", "impl": impl, "load": load, "probe": probe, "outcome": "ok", "workers": 8,
                         "violations": 35 if (impl, load) == ("threading-local", "asyncio") else 0, "checks": 40})
              for impl in ("threading-local", "fast") for load in ("threads", "asyncio")
              for probe in ("isolation", "leak")]
    fig = draw_cost(cast(list[Record], micro + probes))
    assert fig is not None
    assert "one thread, no load" in fig.get_suptitle()
    how = fig.subfigs[0].get_suptitle()
    assert "one thread, nothing beside it (no load, no contention)" in how and "median of 3 fresh processes" in how
    texts = _texts(fig)
    assert texts.count("✗2") == 1 and texts.count("ok") == 3
    alone = draw_cost(cast(list[Record], micro))
    assert alone is not None and "✗2" not in _texts(alone)


# --- every chart: a title and a subtitle saying how


def test_every_chart_has_a_title_and_a_subtitle_naming_the_machine(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_charts import real_locals_records

    environment, records = real_locals_records()
    drawn: dict[str, Figure] = {}
    for name, draw in list(charts.DRAWERS.items()):
        def keep(recs: list[Record], machine: str | None, _name: str = name, _draw: Any = draw) -> Figure | None:
            fig = _draw(recs, machine)
            if fig is not None:
                drawn[_name] = fig
            return fig
        monkeypatch.setitem(charts.DRAWERS, name, keep)
    env = {**environment, "cpu": {"model": "Test CPU", "count": 2}}
    charts.draw_all(records + db_records() + stack_records() + network_records(), tmp_path, formats=("png",),
                    environment=env)
    assert set(drawn) == set(charts.CHARTS)
    for name, fig in drawn.items():
        assert fig.get_suptitle(), name
        how = fig.subfigs[0].get_suptitle()
        assert "machine: Test CPU, 2 CPUs" in how, (name, how)
        if name not in ("isolation", "cost_per_op"):
            assert "run per cell" in how or "runs per cell" in how, (name, how)


def test_stack_records_have_a_window_in_the_subtitle() -> None:
    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
        fig = draw_stack(cast(list[Record], stack_records()))
    assert fig is not None
    assert "1.5 s window per cell" in fig.subfigs[0].get_suptitle()
    assert isinstance(stack_records()[0], StackRecord)
