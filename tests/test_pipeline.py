"""The one pipeline: every planned cell reaches the sink, even when there is nothing to run it on.

Fast: no server and no cell process (database cells without a server are recorded ``skipped``).
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.exec.pipeline import MemorySink, Pipeline
from bench.plan.cells import plan_db
from bench.plan.selection import DbSelection


def _selection() -> DbSelection:
    return DbSelection(strategies=["global", "pooled-tuned"], loads=["threads"], concurrency=[1, 4], duration=0.1,
                       warmup=0.0, request_impls=["fast"], request_strategies=["locked"])


class _Seen(MemorySink):
    """A sink that remembers which cells reached it, in order."""

    def __init__(self, path: Path) -> None:
        super().__init__(path=path, environment={"note": "test"})
        self.cells: list[str] = []

    def write(self, cell, records, **extra):  # type: ignore[no-untyped-def]
        self.cells.append(cell.id)
        super().write(cell, records, **extra)


def test_without_a_server_every_planned_cell_reaches_the_sink_as_skipped(tmp_path: Path) -> None:
    """Each skipped record goes through the sink as its cell is reached (the document on disk has them all).

    Before the one pipeline, the skip path returned its records without ever calling the caller's
    per-record callback, and the command patched its list afterwards.
    """
    cells = plan_db(_selection(), ceiling=True)
    sink = _Seen(tmp_path / "out.json")
    errors = Pipeline(sink, title="db", quiet=True, target=None).run(cells)
    assert errors == []
    assert sink.cells == [c.id for c in cells]  # every cell, in plan order, ceilings included
    on_disk = json.loads((tmp_path / "out.json").read_text())
    assert on_disk["environment"] == {"note": "test"}
    kinds = [r["kind"] for r in on_disk["records"]]
    # a ceiling per concurrency: c=1, c=4 and the request scenario's c=16
    assert kinds.count("db") == 4 and kinds.count("request") == 1 and kinds.count("ceiling") == 3
    assert {r["outcome"] for r in on_disk["records"]} == {"skipped"}


def test_a_memory_sink_can_leave_a_kind_out(tmp_path: Path) -> None:
    sink = MemorySink(exclude=("ceiling",))
    Pipeline(sink, quiet=True).run(plan_db(_selection(), ceiling=True))
    assert [r["kind"] for r in sink.records] == ["db"] * 4 + ["request"]
