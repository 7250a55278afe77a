"""Every matrix takes its strategies from the one registry (``bench.cell.strategies.STRATEGIES``).

The matrices that cover "every strategy" (the database matrix, its asyncio part, the gate's, the server faults')
are derived from the registry, so a strategy declared there reaches each of them; their values today are pinned
here.  The matrices that run a few chosen strategies (the request scenario, the quick parts, the real stack, the
soak, Locust) name them by hand, and every name they hold must be a registered strategy serving their loads.

Fast: nothing here starts a server or a cell (one short interpreter for the import-time defaults).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from bench import faults
from bench.cell import strategies
from bench.cell.strategies import STRATEGIES, StrategyInfo
from bench.faults.plan import SOAK_CELLS, fault_strategies
from bench.gate.plan import default_strategies
from bench.plan import matrix
from bench.records.environment import PROJECT_ROOT

#: The server faults' default strategies before they were derived from the registry: the order is kept.
FAULT_BEFORE = ("pooled", "pooled-tuned", "persistent", "sqlalchemy-queuepool", "per-request", "own-connection",
                "locked")
#: The variants that exist for network failures under the blocking loads: in the fault defaults, in no other.
NETWORK_VARIANTS = ("pooled-timeout", "per-request-timeout", "own-connection-timeout", "sqlalchemy-pre-ping",
                    "sqlalchemy-recycle")
ASYNC_NETWORK_VARIANTS = ("aiomysql-pool-recycle", "sqlalchemy-async-pre-ping")
#: The fault defaults now: each variant beside the strategies of its rank (pools, then one connection per operation
#: or per worker, then one behind a lock).
FAULT_DEFAULT = ("pooled", "pooled-tuned", "persistent", "sqlalchemy-queuepool", "pooled-timeout",
                 "sqlalchemy-pre-ping", "sqlalchemy-recycle", "per-request", "own-connection", "per-request-timeout",
                 "own-connection-timeout", "locked")


def _copy(name: str, new: str, **changes: object) -> StrategyInfo:
    return dataclasses.replace(STRATEGIES[name], name=new, **changes)


def test_the_fault_defaults_are_derived_and_unchanged() -> None:
    assert fault_strategies() == FAULT_DEFAULT
    assert faults.FaultPlan().strategies == FAULT_DEFAULT
    assert faults.validate(faults.FaultPlan()).strategies == FAULT_DEFAULT
    assert tuple(s for s in FAULT_DEFAULT if s not in NETWORK_VARIANTS) == FAULT_BEFORE
    # Not by default: the unprotected shared connections, and what does not run under a blocking load.
    left_out = set(STRATEGIES) - set(FAULT_DEFAULT)
    assert left_out == {"global", "global-reconnect", "aiomysql-pool", "asyncmy-pool", "sqlalchemy-async", "to-thread",
                        *ASYNC_NETWORK_VARIANTS}
    assert not STRATEGIES["global"].faults and not STRATEGIES["global-reconnect"].faults
    assert set(ASYNC_NETWORK_VARIANTS) <= set(fault_strategies(("asyncio",)))


def test_the_network_variants_are_measured_only_when_named() -> None:
    for name in (*NETWORK_VARIANTS, *ASYNC_NETWORK_VARIANTS):
        info = STRATEGIES[name]
        assert not info.in_default and info.faults and info.expected_safe, name
        assert name not in matrix.DB_DEFAULT["strategies"] and name not in matrix.DB_ASYNC_STRATEGIES
    for loads in (("threads", "gevent"), ("asyncio",)):
        assert not set(default_strategies(loads)) & {*NETWORK_VARIANTS, *ASYNC_NETWORK_VARIANTS}
    for name in NETWORK_VARIANTS:
        assert set(STRATEGIES[name].loads()) == {"threads", "gevent", "gevent-nothread"}, name
    for name in ASYNC_NETWORK_VARIANTS:
        assert STRATEGIES[name].loads() == ("asyncio",), name


def test_a_strategy_added_to_the_registry_reaches_the_fault_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(STRATEGIES, "pooled-new", _copy("pooled", "pooled-new"))
    monkeypatch.setitem(STRATEGIES, "locked-new", _copy("locked", "locked-new"))
    monkeypatch.setitem(STRATEGIES, "global-new", _copy("global", "global-new"))  # faults=False, as global
    monkeypatch.setitem(STRATEGIES, "async-new", _copy("aiomysql-pool", "async-new"))  # asyncio only
    plan = faults.validate(faults.FaultPlan())
    assert plan.strategies == ("pooled", "pooled-tuned", "persistent", "sqlalchemy-queuepool", "pooled-timeout",
                               "sqlalchemy-pre-ping", "sqlalchemy-recycle", "pooled-new", "per-request",
                               "own-connection", "per-request-timeout", "own-connection-timeout", "locked",
                               "locked-new")
    assert "async-new" in fault_strategies(("asyncio",))


def test_the_derived_database_and_gate_defaults_are_unchanged() -> None:
    assert matrix.DB_DEFAULT["strategies"] == ("global", "locked", "pooled", "pooled-tuned", "persistent",
                                               "per-request", "sqlalchemy-queuepool", "own-connection")
    assert matrix.DB_QUICK["strategies"] == matrix.DB_DEFAULT["strategies"]
    assert matrix.DB_ASYNC_STRATEGIES == ("global", "locked", "per-request", "own-connection", "aiomysql-pool",
                                          "asyncmy-pool", "sqlalchemy-async", "to-thread")
    assert matrix.DB_ASYNC_RUN["strategies"] == matrix.DB_ASYNC_STRATEGIES
    assert default_strategies(("threads", "gevent")) == ["locked", "pooled", "pooled-tuned", "persistent",
                                                         "per-request", "sqlalchemy-queuepool", "own-connection"]


def test_a_strategy_added_to_the_registry_reaches_the_database_and_gate_defaults(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(STRATEGIES, "pooled-new", _copy("pooled", "pooled-new"))
    assert default_strategies(("threads",))[-1] == "pooled-new"
    # The database matrix's defaults are read when bench.plan.matrix is first imported: a fresh interpreter.
    code = ("import dataclasses\nfrom bench.cell.strategies import STRATEGIES as S\n"
            "S['pooled-new'] = dataclasses.replace(S['pooled'], name='pooled-new')\n"
            "S['async-new'] = dataclasses.replace(S['aiomysql-pool'], name='async-new')\n"
            "from bench.plan import matrix\n"
            "print(matrix.DB_DEFAULT['strategies'][-1], matrix.DB_ASYNC_STRATEGIES[-1])\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["pooled-new", "async-new"]


def _chosen() -> list[tuple[str, str, tuple[str, ...]]]:
    """(where, strategy, the loads it must serve) for every strategy a matrix names by hand."""
    blocking = ("threads", "gevent")
    named = [("request", s, blocking) for s in matrix.DB_DEFAULT["request_strategies"]]
    named += [("request --quick", s, blocking) for s in matrix.DB_QUICK["request_strategies"]]
    named += [("asyncio request", s, ("asyncio",)) for s in matrix.DB_ASYNC_REQUEST_STRATEGIES]
    named += [("asyncio --quick", s, ("asyncio",)) for s in matrix.DB_ASYNC_RUN_QUICK["strategies"]]
    named += [("asyncio --quick request", s, ("asyncio",)) for s in matrix.DB_ASYNC_RUN_QUICK["request_strategies"]]
    for part in (matrix.STACK_DEFAULT, matrix.STACK_QUICK):
        named += [("stack", s, blocking) for s in part["strategies"]]
        named += [("stack asgi", s, ("asyncio",)) for s in part["async_strategies"]]
    named += [("soak", s, (load,)) for s, load, _ in SOAK_CELLS]
    named.append(("locust", matrix.LOCUST_DEFAULT["strategy"], ("gevent",)))
    return named


@pytest.mark.parametrize(("where", "name", "loads"), _chosen())
def test_a_hand_picked_strategy_is_registered_and_serves_its_loads(where: str, name: str,
                                                                   loads: tuple[str, ...]) -> None:
    assert name in STRATEGIES, f"{where}: {name!r} is not a registered strategy"
    for load in loads:
        assert strategies.serves(name, load), f"{where}: {name!r} does not run under {load}"
