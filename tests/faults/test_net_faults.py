"""``ctxbench faults`` network scenarios against a private server through a delay proxy: partition, reset, idle
timeout, latency spike -- and the partition again with a real link taken down, where namespaces can be made.

What is asserted is what the scenarios are for (docs/faults.md, "Network faults"): under a partition a strategy
with a 1 s read timeout fails within about 1.5 s and recovers after the heal, one without waits until its cell's
watchdog ends it as ``hung`` and the cell still ends; after idle gaps longer than ``wait_timeout`` a pool that does
not check its connections gets "gone away" / "lost connection" errors on their first use and one that pings gets
none; after a reset every strategy's errors are counted and the safe ones recover.  No proxy, namespace, cell or
server process is left behind, Ctrl-C included.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from bench.present.resilience import partition_answer
from bench.records.kinds import FaultRecord
from tests import fault_helpers


def _faults(tmp_path: Path, *args: str, timeout: float) -> tuple[int, dict[str, Any], fault_helpers.Watched]:
    out = tmp_path / "faults.json"
    watched = fault_helpers.start(["faults", "--json", str(out), *args])
    code = watched.finish(timeout=timeout)
    assert out.exists(), watched.stderr
    return code, json.loads(out.read_text()), watched


def _where(rec: dict[str, Any]) -> str:
    return f"{rec['scenario']} {rec['strategy']}: {json.dumps({k: v for k, v in rec.items() if k != 'cell'})}"


def _proxies(watched: fault_helpers.Watched) -> list[fault_helpers.Seen]:
    return [s for s in watched.seen.values() if "bench.net.proxy" in s.cmdline]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", ["proxy", "link down"])
def test_ctrl_c_during_a_partition_leaves_nothing_behind(tmp_path: Path, path: str) -> None:
    """SIGINT to the whole group while the partition holds and the cell's workers wait on it: the proxy's, or a
    link taken down (then the namespace, its devices and the server inside must go too)."""
    from bench.net import namespace_unavailable

    if path == "link down" and namespace_unavailable() is not None:
        pytest.skip(str(namespace_unavailable()))
    out = tmp_path / "faults.json"
    first = "partition" if path == "proxy" else "partition (link down)"
    watched = fault_helpers.start(["faults", "--scenario", "reset,partition", "--strategy", "pooled-tuned",
                                   "--link-down", "none" if path == "proxy" else "pooled-tuned", "--json", str(out)])
    if path == "link down":  # past the proxy's partition cell first
        assert watched.wait_for_line("partition (link down): db pooled-tuned", timeout=180), watched.stderr
    else:
        assert watched.wait_for_line(f"{first}: db pooled-tuned"), watched.stderr
    assert watched.wait_for(lambda now: any(s.is_cell for s in now)), watched.stderr
    # The cell starts and flows (about 2 s), the partition begins 0.8 s later, the watchdog would end the cell 4 s
    # after that: 4 s from here the workers are waiting on the partition.
    time.sleep(4.0)
    if path == "link down":
        assert _namespaces_of(watched), "no namespace while the link is down"
    watched.signal(signal.SIGINT, group=True)
    assert watched.finish(timeout=120) == 130, watched.stderr
    assert "Traceback" not in watched.stderr
    assert _proxies(watched) and [s for s in watched.seen.values() if s.is_cell]
    assert _left(watched) == [], _left(watched)
    records = json.loads(out.read_text())["records"]
    expected = [("reset", "pooled-tuned")] + ([("partition", "pooled-tuned")] if path == "link down" else [])
    assert [(r["scenario"], r["strategy"]) for r in records] == expected

def _namespaces_of(watched: fault_helpers.Watched) -> list[str]:
    """Network namespaces and devices made by the watched process (their names carry its pid) still present."""
    from bench.net import iproute

    pid = watched.proc.pid
    names = [n for n in iproute.namespaces() if n.startswith(f"ctxbench-{pid}-")]
    return names + [link for link in iproute.link_names() if link.partition("@")[0][3:].startswith(f"{pid}n")]


def _left(watched: fault_helpers.Watched) -> list[Any]:
    """Everything the run started that is still there: processes (proxy, cell, server), namespaces, devices."""
    return [*watched.left_alive(), *_namespaces_of(watched)]


@pytest.mark.timeout(600)
def test_a_partition_bounded_waits_fail_fast_unbounded_ones_hang_and_a_link_down_agrees(tmp_path: Path) -> None:
    from bench.net import namespace_unavailable

    code, doc, watched = _faults(tmp_path, "--scenario", "partition", "--strategy",
                                 "per-request-timeout,pooled-timeout,pooled-tuned,per-request", timeout=500)
    assert code == 0, watched.stderr
    by = {(r["strategy"], r["path"]): r for r in doc["records"]}
    bounded = by["per-request-timeout", "proxy"]
    assert bounded["outcome"] == "errors" and bounded["problem"] is None, _where(bounded)
    assert bounded["time_to_first_error_s"] is not None and 0.9 <= bounded["time_to_first_error_s"] <= 1.5, \
        _where(bounded)  # read_timeout=1: the first operation waiting on the partition fails after 1 s
    assert bounded["recovered"] is True and bounded["first_ok_after_heal_s"] < 1.0, _where(bounded)
    assert bounded["stuck_ops"] == 0 and bounded["wrong_results"] == 0, _where(bounded)
    # DBUtils' library defaults ping every connection on checkout, under the pool's lock: with the 1 s timeouts each
    # checkout on the partition takes a failed ping and a failed reconnect, one worker after the other, and the
    # first error comes past the 3 s bound (docs/faults.md): the timeout alone does not make this pool fail fast.
    slow = by["pooled-timeout", "proxy"]
    assert partition_answer(FaultRecord(**{k: v for k, v in slow.items() if k not in ("kind", "cell")})) == "waits", \
        _where(slow)
    for name in ("pooled-tuned", "per-request"):  # no read timeout: every worker waits on the partition
        hung = by[name, "proxy"]
        assert hung["outcome"] == "hung" and hung["verdict"] == "hung", _where(hung)
        assert hung["stuck_ops"] >= 1 and hung["longest_wait_s"] >= hung["hang_bound_s"] - 0.2, _where(hung)
        # ended by its own watchdog about 4 s into the 6 s partition, not by the parent's time limit
        assert hung["problem"] is None and hung["cell_wall_s"] < 20, _where(hung)
    for rec in doc["records"]:
        assert rec["wrong_results"] == 0 and rec["leaked_connections"] == 0, _where(rec)
    reason = namespace_unavailable()
    if reason is None:  # the same partition with a real link taken down: the same verdict per strategy
        netns = {name for (name, path) in by if path == "netns"}
        assert netns == {"per-request-timeout", "pooled-timeout", "pooled-tuned", "per-request"}
        assert "gave the same answer (fails fast or waits) for 4 of 4 strategies" in watched.stdout, watched.stdout
        for name in ("per-request-timeout", "pooled-tuned", "per-request"):  # and the same verdict in full
            assert by[name, "netns"]["verdict"] == by[name, "proxy"]["verdict"], _where(by[name, "netns"])
    else:
        assert "partition with the link down not run" in watched.stderr
    assert _proxies(watched) and _left(watched) == [], _left(watched)


@pytest.mark.timeout(300)
def test_idle_gaps_past_wait_timeout_break_connections_a_check_before_use_hides_it(tmp_path: Path) -> None:
    """The server closes every pooled connection in each gap.  A pool that checks before use (DBUtils' ping,
    SQLAlchemy's pre-ping) never hands a dead one out; SQLAlchemy's QueuePool without it fails on the first use of
    each; DBUtils without a ping (pooled-tuned) reconnects and repeats a failed statement outside a transaction, so
    only a transaction begun on a dead connection fails ("Lost connection", 2013) -- and every connection it holds
    is replaced after the gap all the same."""
    code, doc, watched = _faults(tmp_path, "--scenario", "idle-timeout", "--strategy",
                                 "pooled-tuned,pooled,sqlalchemy-queuepool,sqlalchemy-pre-ping", timeout=250)
    assert code == 0, watched.stderr
    by = {r["strategy"]: r for r in doc["records"]}
    for rec in by.values():
        where = _where(rec)
        assert rec["wait_timeout_s"] == 2 and len(rec["bursts"]) == 1, where
        assert rec["errors_before_fault"] == 0 and rec["wrong_results"] == 0, where  # nothing before the first gap
        assert rec["leaked_connections"] == 0 and rec["recovered"] is True, where
        assert {key.rsplit(":", 1)[-1] for key in rec["error_codes"]} <= {"2006", "2013"}, where
        # each of the c connections replaced after the gap: 2c server connections in all
        assert rec["cell"]["connections_used"] >= 2 * rec["concurrency"], where
    unchecked = by["sqlalchemy-queuepool"]
    assert [b["errors"] for b in unchecked["bursts"]] == [unchecked["concurrency"]], _where(unchecked)
    for name in ("pooled", "sqlalchemy-pre-ping"):
        assert by[name]["error_count"] == 0 and by[name]["outcome"] == "ok", _where(by[name])
    assert _left(watched) == [], _left(watched)

RECOVERS = ("pooled", "pooled-tuned", "persistent", "sqlalchemy-queuepool", "per-request", "pooled-timeout",
            "per-request-timeout", "sqlalchemy-pre-ping", "sqlalchemy-recycle")


@pytest.mark.timeout(600)
def test_a_reset_and_a_latency_spike_under_every_default_strategy(tmp_path: Path) -> None:
    from bench.faults.plan import network_strategies

    code, doc, watched = _faults(tmp_path, "--scenario", "reset,latency-spike", timeout=500)
    assert code == 0, watched.stderr
    expected = network_strategies()
    assert [r["strategy"] for r in doc["records"]] == [*expected, *expected]
    for rec in doc["records"]:
        assert rec["problem"] is None and "fault_not_injected" not in rec, _where(rec)
        assert rec["wrong_results"] == 0 and rec["leaked_connections"] == 0, _where(rec)
        assert isinstance(rec["error_count"], int) and rec["errors_before_fault"] == 0, _where(rec)
        assert sum(rec["errors"].values()) == rec["error_count"], _where(rec)  # counted by class
        if rec["scenario"] == "reset":
            assert rec["reset_links"] >= rec["concurrency"] // 2 and rec["proxy"]["resets"] == 1, _where(rec)
        else:
            assert rec["spike_rtt_ms"] == 200 and rec["ops_per_s_during"] < rec["ops_per_s_before"], _where(rec)
        if rec["strategy"] in RECOVERS:
            assert rec["recovered"] is True, _where(rec)
    assert _left(watched) == [], _left(watched)
