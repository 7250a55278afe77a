"""Probes: questions a Local must answer correctly, each able to fail.

Every probe takes a load, a factory for the Local under test and a worker count,
runs real workers of that load, and returns a :class:`ProbeResult`:
``violations`` out of ``checks``, with details.  A probe that reports no
violations must be one that *would* have reported them: the tests run each probe
against a deliberately broken Local and watch it fail.

* ``isolation``   each worker writes its own token, waits until every worker has
                  written (a barrier), reads back; any read of a value it did not
                  write is a violation.  Repeated for several rounds.
* ``child-write`` a parent writes, spawns children that write their own values,
                  reads after they finish; reading anything but its own value is a
                  violation (a child's write reaching the parent, or another
                  worker's).
* ``inheritance`` does a child see its parent's value when it starts?  Reported,
                  not judged: threads and gevent start empty, asyncio copies.
* ``stale-reuse`` short-lived workers one after another; a worker that finds a
                  value before it wrote one has been handed a dead worker's data.
* ``leak``        batches of short-lived workers each store a payload; once they
                  have ended (and after a full garbage collection) every payload
                  still alive is held by the Local: a violation.
* ``race``        every worker writes, reads back and deletes its own values as fast as
                  it can, all at once and with no barrier in between, removing its
                  whole entry now and then (``__release_local__``) so that entries are
                  created and dropped while others read; a read of another worker's
                  value, of an older value of its own, or of nothing right after its
                  write is a violation.  Only workers that really run at the same time
                  -- threads without the GIL -- interleave inside one access, so this
                  is the probe that catches a Local whose shared state changes in steps
                  the GIL used to make atomic.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bench.cell.loads import BARRIER, Load, Spawn

ABSENT: Any = object()  # what a read returns when the attribute is not set


@dataclass
class ProbeResult:
    """One probe's verdict: ``violations`` of ``checks`` (None when not judged)."""

    violations: int | None
    checks: int
    details: dict[str, Any] = field(default_factory=dict)


Factory = Callable[[], Any]
ProbeFn = Callable[[Load, Factory, int], ProbeResult]


def _read(local: Any) -> Any:
    return getattr(local, "value", ABSENT)


def isolation(load: Load, factory: Factory, workers: int, rounds: int = 5) -> ProbeResult:
    """Each worker writes, all wait, each reads back its own value -- or not."""
    local = factory()

    def body(i: int) -> Generator[Any, Any, tuple[int, int]]:
        foreign = lost = 0
        for r in range(rounds):
            token = f"worker-{i}-round-{r}"
            local.value = token
            yield BARRIER  # every other worker writes between our write and our read
            seen = _read(local)
            if seen is ABSENT:
                lost += 1
            elif seen != token:
                foreign += 1
            yield BARRIER  # nobody writes the next round before all have read
        return foreign, lost

    results = load.run_concurrent(body, workers)
    foreign = sum(f for f, _ in results)
    lost = sum(lost for _, lost in results)
    details = {"foreign_reads": foreign, "lost_reads": lost, "rounds": rounds}
    return ProbeResult(foreign + lost, workers * rounds, details)


def child_write(load: Load, factory: Factory, workers: int, children: int = 3) -> ProbeResult:
    """A child's write must not reach its parent."""
    local = factory()

    def child(parent: int, j: int) -> None:
        local.value = f"child-{parent}-{j}"

    def body(i: int) -> Generator[Any, Any, str]:
        token = f"parent-{i}"
        local.value = token
        yield BARRIER
        yield Spawn([partial(child, i, j) for j in range(children)])
        yield BARRIER  # every parent's children have finished
        seen = _read(local)
        if seen == token:
            return "own"
        if seen is ABSENT:
            return "lost"
        if isinstance(seen, str) and seen.startswith(f"child-{i}-"):
            return "from_child"
        return "from_other"

    outcomes = load.run_concurrent(body, workers)
    counts = {kind: outcomes.count(kind) for kind in ("from_child", "from_other", "lost")}
    return ProbeResult(sum(counts.values()), workers, {**counts, "children_per_parent": children})


def inheritance(load: Load, factory: Factory, workers: int, children: int = 2) -> ProbeResult:
    """Whether a child starts with its parent's value (reported, not judged)."""
    local = factory()

    def child(token: str) -> bool:
        return _read(local) == token

    def body(i: int) -> Generator[Any, Any, list[bool]]:
        token = f"parent-{i}"
        local.value = token
        yield BARRIER
        seen: list[bool] = yield Spawn([partial(child, token)] * children)
        return seen

    results = load.run_concurrent(body, workers)
    inherited = sum(sum(seen) for seen in results)
    checks = workers * children
    return ProbeResult(None, checks, {"inherited": inherited, "children": checks})


def stale_reuse(load: Load, factory: Factory, workers: int) -> ProbeResult:
    """Fresh workers, one after another, must each start with nothing."""
    local = factory()

    def body(i: int) -> Generator[Any, Any, bool]:
        found = _read(local) is not ABSENT
        local.value = f"worker-{i}"
        return found
        yield  # a generator body with no barrier

    found = load.run_sequential(body, workers)
    return ProbeResult(sum(found), workers)


class _Payload:
    """What a leak-probe worker stores: weak-referenceable, ~4 KiB."""

    __slots__ = ("__weakref__", "blob")

    def __init__(self) -> None:
        self.blob = bytearray(4096)


#: The leak probe lets the load settle up to this many times, pausing in between, before it counts a payload as leaked.
SETTLE_ROUNDS = 5
SETTLE_PAUSE_S = 0.01


def leak(load: Load, factory: Factory, workers: int, batches: int = 3) -> ProbeResult:
    """Payloads stored by workers that have ended must be freed.

    Counted after the load has settled (:meth:`Load.settle`) and the garbage
    collector run, up to :data:`SETTLE_ROUNDS` times until none is alive.
    """
    local = factory()
    refs: list[weakref.ref[_Payload]] = []

    def body(i: int) -> Generator[Any, Any, None]:
        payload = _Payload()
        refs.append(weakref.ref(payload))
        local.value = payload
        del payload
        yield BARRIER  # all of the batch alive at once: distinct idents, distinct greenlets
        return None

    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        _collect()
        before = tracemalloc.get_traced_memory()[0]
        alive_per_batch = []
        settle_rounds = []
        for _ in range(batches):
            load.run_concurrent(body, workers)
            rounds = 0
            while True:
                # Cleanup some loads defer (greenlet frees a dead thread's state from a pending
                # call, at a moment of its choosing) gets several chances; a real leak survives them all.
                load.settle()
                _collect()
                rounds += 1
                alive = sum(ref() is not None for ref in refs)
                if not alive or rounds == SETTLE_ROUNDS:
                    break
                time.sleep(SETTLE_PAUSE_S)
            settle_rounds.append(rounds)
            alive_per_batch.append(alive)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        if not tracing:
            tracemalloc.stop()
    alive = alive_per_batch[-1]
    return ProbeResult(
        alive,
        workers * batches,
        {"alive_after_each_batch": alive_per_batch, "settle_rounds": settle_rounds,
         "bytes_retained": max(0, after - before), "payload_bytes": 4096},
    )


#: Accesses per worker in the race probe, and how often it deletes (every RACE_DELETE_EVERY-th access; every other
#: deletion drops the whole entry when the Local offers ``__release_local__``).
RACE_ITERATIONS = 20000
RACE_DELETE_EVERY = 8


def race(load: Load, factory: Factory, workers: int, iterations: int = RACE_ITERATIONS) -> ProbeResult:
    """Write, read back and delete, all workers at once: each must only ever see its own latest value."""
    local = factory()
    release = getattr(type(local), "__release_local__", None)

    def classify(i: int, seen: Any, token: Any) -> str | None:
        if seen is token or (token is ABSENT and seen is ABSENT):
            return None
        if seen is ABSENT:
            return "lost"
        return "stale" if isinstance(seen, tuple) and seen[0] == i else "foreign"

    def body(i: int) -> Generator[Any, Any, dict[str, Any]]:
        counts: dict[str, Any] = {"foreign": 0, "lost": 0, "stale": 0, "reads": 0, "example": None}
        yield BARRIER  # all start together, then nothing holds them back
        for n in range(iterations):
            token = (i, n)
            local.value = token
            wrong = classify(i, _read(local), token)
            if n % RACE_DELETE_EVERY == RACE_DELETE_EVERY - 1:
                if release is not None and n % (2 * RACE_DELETE_EVERY) == 2 * RACE_DELETE_EVERY - 1:
                    release(local)
                else:
                    try:
                        del local.value
                    except AttributeError:  # its own value was gone before it deleted it
                        counts["lost"] += 1
                counts["reads"] += 1
                gone = classify(i, _read(local), ABSENT)
                if gone is not None:
                    counts[gone] += 1
            counts["reads"] += 1
            if wrong is not None:
                counts[wrong] += 1
                counts["example"] = counts["example"] or f"worker {i} wrote {token!r}, read {_read(local)!r}"
        return counts

    results = load.run_concurrent(body, workers)
    totals = {key: sum(r[key] for r in results) for key in ("foreign", "lost", "stale", "reads")}
    violations = totals["foreign"] + totals["lost"] + totals["stale"]
    details = {"foreign_reads": totals["foreign"], "lost_reads": totals["lost"], "stale_reads": totals["stale"],
               "iterations": iterations, "releases": release is not None,
               "example": next((r["example"] for r in results if r["example"]), None)}
    return ProbeResult(violations, totals["reads"], details)


def _collect() -> None:
    for _ in range(3):
        gc.collect()


#: Every probe, by name, in the order tables show them.  ``judged`` is False
#: for probes that describe behaviour rather than pass or fail it.
PROBES: dict[str, ProbeFn] = {
    "isolation": isolation,
    "child-write": child_write,
    "inheritance": inheritance,
    "stale-reuse": stale_reuse,
    "leak": leak,
    "race": race,
}
JUDGED: frozenset[str] = frozenset({"isolation", "child-write", "stale-reuse", "leak", "race"})
