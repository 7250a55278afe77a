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
def test_ctrl_c_during_a_partition_leaves_nothing_behind(tmp_path: Path) -> None:
    """SIGINT to the whole group while the proxy holds a partition and the cell's workers wait on it."""
    out = tmp_path / "faults.json"
    watched = fault_helpers.start(["faults", "--scenario", "reset,partition", "--strategy", "pooled-tuned",
                                   "--json", str(out)])
    assert watched.wait_for_line("partition: db pooled-tuned"), watched.stderr
    assert watched.wait_for(lambda now: any(s.is_cell for s in now) and any("bench.net.proxy" in s.cmdline
                                                                           for s in now)), watched.stderr
    # The cell starts and flows (about 2 s), the partition begins 0.8 s later, the watchdog would end the cell 4 s
    # after that: 4 s from here the workers are waiting on the partition.
    time.sleep(4.0)
    watched.signal(signal.SIGINT, group=True)
    assert watched.finish(timeout=120) == 130, watched.stderr
    assert "Traceback" not in watched.stderr
    assert _proxies(watched) and [s for s in watched.seen.values() if s.is_cell]
    assert watched.left_alive() == [], watched.left_alive()
    records = json.loads(out.read_text())["records"]
    assert [(r["scenario"], r["strategy"]) for r in records] == [("reset", "pooled-tuned")]
