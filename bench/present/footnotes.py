"""Caveats beside surprising numbers: each shown only where the records show the effect it explains.

What is promised
    :func:`notes` returns one :class:`Note` per effect the records show, in a fixed order, with the measured
    numbers of this run in its text and the explanation measured once (and kept in the README before) beside them:

    - ``tls``: a strategy that opens a connection per operation and spends milliseconds of client CPU on each
      (PyMySQL >= 1.2 builds a TLS context, loading the system's CA store, on every connect);
    - ``nagle``: every cell of a ``gevent.pywsgi`` server answering at a p50 near 40 ms (Nagle's algorithm and the
      client's delayed ACK);
    - ``lock``: a cell whose p50 is far below its per-operation time, concurrency / ops per second (an unfair lock:
      waiters starve while the holder takes it again);
    - ``pool``: a strategy that used far more connections than workers (a pool opening a connection per checkout).

    A note names the loads or the server it was seen under; :func:`for_shape` picks those of one deployment shape.
    Medians over repeats (:mod:`bench.present.spread`).  Nothing here is printed unless the records show it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.present.common import LOAD_ORDER, ordered
from bench.present.spread import Cell, cells
from bench.records.kinds import DbRecord, Record, StackRecord, known

#: Client CPU per operation above which a connect-per-operation strategy is paying for more than a round trip.
TLS_CPU_US = 5_000.0
#: A p50 this many times below the per-operation time (concurrency / ops per second) means most waiters starve.
STARVATION_RATIO = 10.0
#: Connections used beyond this many per worker: a new connection for most checkouts.
POOL_CONNECTIONS_PER_WORKER = 4.0
#: The p50 band of a reply held back by a delayed ACK.
NAGLE_MS = (30.0, 60.0)


@dataclass(frozen=True)
class Note:
    """One caveat: a key for links, a short title, the text with this run's numbers, and where it applies."""

    key: str
    title: str
    text: str
    subject: str  # the strategy or server it is about
    loads: tuple[str, ...] = ()  # strategy notes: the loads it was seen under
    servers: tuple[str, ...] = ()  # server notes: the servers it was seen on


def _median(cell: Cell, value: Any) -> float | None:
    return cell.of(value).median


def _cpu(r: Any) -> Any:
    return known(r.client_cpu_us_per_op)


def _p50(r: Any) -> Any:
    return (known(r.latency_ms) or {}).get("p50")


def _range(values: Iterable[float], fmt: str = "{:,.0f}") -> str:
    vals = sorted(values)
    lo, hi = fmt.format(vals[0]), fmt.format(vals[-1])
    return lo if lo == hi else f"{lo}-{hi}"


def _db_cells(records: Sequence[Record]) -> list[Cell]:
    return [c for c in cells(records) if isinstance(c.first, DbRecord) and c.first.outcome != "skipped"]


def _per_operation(cell: Cell) -> bool:
    used, ops = _median(cell, lambda r: known(r.connections_used)), _median(cell, lambda r: known(r.ops_total))
    return bool(used and ops and used >= 0.9 * ops)


def _tls(records: Sequence[Record], pymysql: str) -> list[Note]:
    db = _db_cells(records)
    hit = [c for c in db if _per_operation(c) and (_median(c, _cpu) or 0) >= TLS_CPU_US]
    out = []
    for strategy in dict.fromkeys(c.first.strategy for c in hit):
        mine = [c for c in hit if c.first.strategy == strategy]
        loads = tuple(ordered((c.first.load for c in mine), LOAD_ORDER))
        cpu = _range((_median(c, _cpu) or 0) / 1e3 for c in mine)
        rate = _range(_median(c, lambda r: known(r.ops_per_s)) or 0 for c in mine)
        text = (f"{strategy} opens a connection for every operation and spent {cpu} ms of client CPU on each under "
                f"{' and '.join(loads)}, for {rate} correct operations/s. PyMySQL{pymysql} builds an SSLContext and "
                "loads the system's CA store on every connect, even when TLS is not asked for and the server has "
                "none (about 36 ms of a 38 ms connect in cProfile; 33.8 ms per context against 0.67 ms with one CA "
                "file). A pool pays it once per connection.")
        other = [c for c in db if c.first.strategy == strategy and c not in mine and c.first.load == "asyncio"]
        if other:
            c = other[0]
            text += (f" Under asyncio the driver (aiomysql) builds no such context: the same strategy did "
                     f"{_median(c, lambda r: known(r.ops_per_s)) or 0:,.0f} operations/s at {c.first.concurrency} "
                     f"workers ({_median(c, _cpu) or 0:,.0f} µs of CPU each).")
        out.append(Note("tls", "a TLS context per connect", text, strategy, loads=loads))
    return out


def _nagle(records: Sequence[Record]) -> list[Note]:
    stack = [c for c in cells(records) if isinstance(c.first, StackRecord) and c.first.outcome != "skipped"]
    p50s: dict[str, list[float]] = {}
    for c in stack:
        if (p := _median(c, _p50)) is not None:
            p50s.setdefault(c.first.server, []).append(p)  # type: ignore[union-attr]
    slow = {s: v for s, v in p50s.items() if s.startswith("gevent-pywsgi")
            and all(NAGLE_MS[0] <= p <= NAGLE_MS[1] for p in v)}
    if not slow:
        return []
    every = [p for v in slow.values() for p in v]
    text = (f"Every one of the {len(every)} cells of {' and '.join(slow)} answered at a p50 of "
            f"{_range(every, '{:.1f}')} ms, whatever the Local and the strategy")
    if "gunicorn-gevent" in p50s:
        text += f" (gunicorn's gevent worker, same app: {_range(p50s['gunicorn-gevent'], '{:.1f}')} ms)"
    text += (". The server sets that pace, not the app: gevent.pywsgi writes a reply's headers and body in two "
             "send calls and leaves Nagle's algorithm on, so on a keep-alive connection the body waits for the "
             "client's delayed ACK (~40 ms on Linux; gevent does not set TCP_NODELAY). Without the app "
             "(benchmarks/pywsgi_nodelay.py, one keep-alive connection): p50 44.01 ms as shipped, 0.17 ms with "
             "TCP_NODELAY set on each accepted socket.")
    return [Note("nagle", "Nagle's delay on gevent.pywsgi", text, "gevent.pywsgi", servers=tuple(slow))]


def _starved(cell: Cell) -> tuple[float, float] | None:
    """(p50 ms, per-operation ms) of a cell whose p50 is far below concurrency / ops per second, else None."""
    p50, rate = _median(cell, _p50), _median(cell, lambda r: known(r.ops_per_s))
    workers = cell.first.concurrency * (known(cell.first.processes) or 1)
    if not p50 or not rate or workers < 2:
        return None
    per_op = workers * 1e3 / rate
    return (p50, per_op) if per_op >= STARVATION_RATIO * p50 else None


def _lock(records: Sequence[Record]) -> list[Note]:
    db = _db_cells(records)
    hit = [(c, s) for c in db if (s := _starved(c)) is not None]
    out = []
    for strategy, load in dict.fromkeys((c.first.strategy, c.first.load) for c, _ in hit):
        cell, (p50, per_op) = max(((c, s) for c, s in hit if (c.first.strategy, c.first.load) == (strategy, load)),
                                  key=lambda cs: cs[1][1] / cs[1][0])
        rate = _median(cell, lambda r: known(r.ops_per_s)) or 0
        who = "gevent's" if load.startswith("gevent") else "This"
        text = (f"{strategy} under {load} at {cell.first.concurrency} workers: p50 {p50:.3g} ms, yet {rate:,.0f} "
                f"operations/s shared by {cell.first.concurrency} workers is {per_op:.1f} ms per operation for each. "
                f"{who} lock is not fair: the worker that releases it "
                "takes it again before the woken waiters run, so most operations never wait while the waiters "
                "starve; the p50 shows the lucky ones, the throughput shows the cost.")
        threads = [c for c in db if (c.first.strategy, c.first.load, c.first.concurrency)
                   == (strategy, "threads", cell.first.concurrency)]
        if threads and load != "threads" and (tp := _median(threads[0], _p50)) is not None:
            text += f" Under threads the same lock queues every worker (p50 {tp:.3g} ms at {cell.first.concurrency})."
        out.append(Note("lock", "lock starvation", text, strategy, loads=(load,)))
    return out


def _pool(records: Sequence[Record], skip: set[tuple[str, str]]) -> list[Note]:
    out = []
    for c in _db_cells(records):
        used, ops = _median(c, lambda r: known(r.connections_used)), _median(c, lambda r: known(r.ops_total))
        workers = c.first.concurrency * (known(c.first.processes) or 1)
        key = (c.first.strategy, c.first.load)
        if not used or used <= POOL_CONNECTIONS_PER_WORKER * workers or key in skip or _per_operation(c):
            continue
        skip.add(key)
        text = (f"{c.first.strategy} used {used:,.0f} connections for {ops or 0:,.0f} operations at {workers} workers "
                f"under {c.first.load}: a new connection for most checkouts, where a pool of {workers} should hold "
                f"{workers}.")
        if c.first.strategy == "asyncmy-pool":
            text += (" asyncmy's pool closes a connection given back inside a transaction (the primary-key SELECT "
                     "leaves one open: autocommit is off by default) and opens a new one; aiomysql's pool keeps it.")
        out.append(Note("pool", "a connection per checkout", text, c.first.strategy, loads=(c.first.load,)))
    return out


def notes(records: Sequence[Record], environment: dict[str, Any] | None = None) -> list[Note]:
    """Every caveat the records show, numbered in this order (tls, nagle, lock, pool)."""
    version = ((environment or {}).get("packages") or {}).get("pymysql")
    tls = _tls(records, f" {version}" if version else "")
    skip = {(n.subject, load) for n in tls for load in n.loads}
    return [*tls, *_nagle(records), *_lock(records), *_pool(records, skip)]


def anchor(note: Note) -> str:
    """The HTML id of a note: ``fn-tls-per-request``."""
    return f"fn-{note.key}-{note.subject}".replace(" ", "-").replace(".", "-")
