"""Silent wrong results against a real server: another operation's reply returned as success, counted apart.

The shared connection used as an application uses it (``global``: never reopened) serves, under
gevent and the anchor's ``SELECT %s`` workload, far more silent wrong rows than errors -- what a real
Flask app on one PyMySQL connection shows.  The reconnect habit (``global-reconnect``) turns the
default mix's closes into errors.  A strategy that swaps replies without any error is caught by the
count; every expected-safe strategy shows none (tests/test_db.py).  A pool smaller than the number of
greenlets on one unpatched thread blocks the hub and the cell ends ``hung``.  Directions and zero /
non-zero only, never timings.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.cell.db import ANCHOR_MIX
from bench.exec.db import run_db
from bench.plan.selection import DbSelection
from bench.server import ServerTarget
from tests.test_db import target  # noqa: F401  (the module's server fixture)

pytestmark = pytest.mark.db

#: Short cells (and no ceiling: ``run_db(..., ceiling=False)``).
SHORT = {"duration": 0.5, "warmup": 0.2}


def _one(server: ServerTarget, **selection: Any) -> dict[str, Any]:
    """The one record of the ``db`` cell, or of the request cell when ``selection`` has ``request_impls``."""
    records, errors = run_db(server, DbSelection(**{**SHORT, **selection}), ceiling=False)
    assert errors == []
    (rec,) = [r for r in records if r["kind"] == ("request" if selection.get("request_impls") else "db")]
    return rec


def test_global_under_gevent_fails_silently(target: ServerTarget) -> None:  # noqa: F811
    """The anchor's workload on one shared connection under gevent: other operations' rows, as success."""
    rec = _one(target, strategies=["global"], loads=["gevent"], concurrency=[16], mix=ANCHOR_MIX)
    assert rec["silent_wrong"] > 0
    assert rec["silent_wrong"] > rec["error_count"], rec["errors"]
    assert rec["silent_wrong"] == rec["wrong_detail"]["foreign"] + rec["wrong_detail"]["stale"]


def test_request_scenario_on_global_fails_silently(target: ServerTarget) -> None:  # noqa: F811
    rec = _one(target, strategies=["global"], loads=["gevent"], concurrency=[1], request_impls=["fast"],
               request_strategies=["global"], request_concurrency=16)
    assert rec["local_violations"] == 0
    assert rec["silent_wrong"] > rec["error_count"] >= 0 and rec["silent_wrong"] > 0


def test_global_reconnect_fails_loudly(target: ServerTarget) -> None:  # noqa: F811
    """Reopening the connection after each close clears the stream: errors outnumber silent wrong rows."""
    rec = _one(target, strategies=["global-reconnect"], loads=["gevent"], concurrency=[16])
    assert rec["error_count"] > rec["silent_wrong"]
    # It did reconnect: counted by the strategy (a new handshake) and by the server (connections opened).
    # Not by connections_used, which counts only ids seen on a right reply: the reopened connection may serve none.
    assert rec["strategy_facts"]["reopened"] >= 1
    assert rec["server"]["deltas"]["Connections"] >= rec["strategy_facts"]["reopened"]
    assert rec["settings"]["reconnect"] is True


def test_global_never_reconnects(target: ServerTarget) -> None:  # noqa: F811
    rec = _one(target, strategies=["global"], loads=["threads"], concurrency=[16])
    # connections_used counts ids seen on a right reply: without the GIL the shared connection can break before
    # any reply is right (0); never more than the one.
    assert rec["connections_used"] <= 1 and rec["settings"]["reconnect"] is False
    assert rec["server"]["deltas"]["Connections"] <= 2  # the one, and the counters' own reading connection
    assert rec["outcome"] == "errors"


def test_a_strategy_that_swaps_replies_is_caught(target: ServerTarget) -> None:  # noqa: F811
    """No race, no error -- only another worker's token as the reply: the count must see it."""
    rec = _one(target, strategies=["tests.broken_strategies:SwapsReplies"], loads=["threads"], concurrency=[4],
               mix=ANCHOR_MIX)
    assert rec["error_count"] == 0
    assert rec["silent_wrong"] > 0 and rec["wrong_detail"]["foreign"] > 0
    assert rec["outcome"] == "errors"


def test_small_pool_on_one_unpatched_thread_hangs(target: ServerTarget) -> None:  # noqa: F811
    """PooledDB waits on a real OS lock: with more greenlets than connections the hub blocks."""
    records, errors = run_db(target, DbSelection(strategies=["tests.broken_strategies:SmallPool"],
                                                 loads=["gevent-nothread"], concurrency=[4], hang_after=1.0, **SHORT),
                             ceiling=False)
    assert errors == []
    (rec,) = records
    assert rec["outcome"] == "hung" and rec["unfinished_workers"] > 0


def test_small_pool_under_patched_gevent_does_not_hang(target: ServerTarget) -> None:  # noqa: F811
    """The same pool under patch_all(): its lock is gevent's, a waiting greenlet yields (the control)."""
    rec = _one(target, strategies=["tests.broken_strategies:SmallPool"], loads=["gevent"], concurrency=[4])
    assert rec["outcome"] == "ok" and rec["silent_wrong"] == 0
