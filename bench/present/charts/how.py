"""What a chart says beside its data: how it was measured (window, repeats, machine) and what failed in a cell.

Every chart's subtitle is built here, so the charts describe their windows and repeats in the same words; and
every chart that draws a speed asks :func:`failures` first: a cell with a wrong reply, an error or a hang shows
what failed, never a speed (throughput is correct replies per second everywhere: :func:`correct_per_s`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.present import palette
from bench.present.common import error_total, short_count, silent_wrong
from bench.present.model import stack_errors
from bench.present.spread import Cell, Measured, correct_per_s
from bench.records.kinds import StackRecord, known

__all__ = ["FAIL_HATCH", "GridCell", "failure_text", "failures", "machine_text", "repeats_text", "subtitle",
           "verdict_cell", "window_text"]


def machine_text(environment: Mapping[str, Any] | None) -> str:
    """``"AMD EPYC, 2 CPUs; CPython 3.11.7; MariaDB 10.11.19"`` from a run's environment; "" when unknown."""
    env = environment or {}
    parts = []
    cpu = env.get("cpu") if isinstance(env.get("cpu"), Mapping) else {}
    if cpu.get("model") or cpu.get("count"):
        count = cpu.get("count")
        parts.append(", ".join(str(p) for p in (cpu.get("model"), f"{count} CPUs" if count else None) if p))
    python = env.get("python") if isinstance(env.get("python"), Mapping) else {}
    if python.get("version"):
        parts.append(f"{python.get('implementation') or 'Python'} {python['version']}")
    server = env.get("server") if isinstance(env.get("server"), Mapping) else {}
    if server.get("version"):
        version = str(server["version"]).split("-", 1)[0]
        parts.append(f"{'MariaDB' if server.get('flavor') == 'mariadb' else 'MySQL'} {version}")
    return "; ".join(parts)


def _seconds(values: Iterable[Any]) -> str:
    known_values = sorted({float(v) for v in values if isinstance(v, int | float) and v > 0})
    if not known_values:
        return ""
    low, high = known_values[0], known_values[-1]
    return f"{low:g} s" if low == high else f"{low:g}-{high:g} s"


def window_text(records: Sequence[Measured]) -> str:
    """``"2 s window per cell after 0.3 s of warm-up"``; "" when no record says."""
    window = _seconds(known(r.measured_s) or r.duration_s for r in records)
    if not window:
        return ""
    warmup = _seconds(r.warmup_s for r in records)
    return f"{window} window per cell" + (f" after {warmup} of warm-up" if warmup else "")


def repeats_text(cells: Sequence[Cell], *, summed: bool = False) -> str:
    """How many runs each cell's figure is made of, and what its bars mean (``summed``: counts added over the runs,
    no bars)."""
    ns = sorted({cell.n for cell in cells}) or [1]
    if ns[-1] == 1:
        return "one run per cell" + ("" if summed else " (n=1: no error bars)")
    runs = f"{ns[0]}" if ns[0] == ns[-1] else f"{ns[0]}-{ns[-1]}"
    if summed:
        return f"counts summed over the n={runs} runs of each cell"
    return f"median of n={runs} runs per cell, bars: lowest to highest"


#: Characters of subtitle that fit on one line of a chart (8.5 pt type, 9 inches).
LINE = 130


def subtitle(*parts: str, machine: str | None = None) -> str:
    """The non-empty ``parts`` joined with ``"; "`` into lines that fit the chart's width, the machine last."""
    lines: list[str] = []
    for part in (p for p in parts if p):
        if lines and len(lines[-1]) + 2 + len(part) <= LINE:
            lines[-1] += "; " + part
        else:
            lines.append(part)
    if machine:
        lines.append(f"machine: {machine}")
    return "\n".join(lines)


def _silent(rec: Measured) -> int:
    return int(known(rec.silent_wrong) or 0) if isinstance(rec, StackRecord) else int(silent_wrong(rec) or 0)


def _wrong_local(rec: Measured) -> int:
    return int(known(rec.wrong_local) or 0) if isinstance(rec, StackRecord) else int(known(rec.local_violations) or 0)


def _other_wrong(rec: Measured) -> int:
    if isinstance(rec, StackRecord):
        return 0
    return max(0, int(known(rec.wrong_results) or 0) - _silent(rec))


def _crashed(rec: Measured) -> int:
    if isinstance(rec, StackRecord):
        return int(rec.outcome == "error")
    return int(bool((rec.errors or {}).get("cell-crashed")))


def _errors(rec: Measured) -> int:
    if isinstance(rec, StackRecord):
        return stack_errors(rec)
    return error_total(rec) - int((rec.errors or {}).get("cell-crashed") or 0)


#: What can fail in a cell, most harmful first: (label, the count of one record).
FAILURES: tuple[tuple[str, Any], ...] = (
    ("silent wrong", _silent),
    ("wrong Local", _wrong_local),
    ("wrong results", _other_wrong),
    ("errors", _errors),
    ("hung", lambda r: int(r.outcome == "hung")),
    ("crashed", _crashed),
)


def failures(cell: Cell) -> list[tuple[str, int]]:
    """What failed in a cell, most harmful first, each with its count summed over the repeats ([] for a clean cell).

    A cell that failed nothing but answered no request right in its window fails as ``"0 correct"``; one whose
    outcome is bad with no count to show fails by its outcome.
    """
    found = [(label, cell.total(count)) for label, count in FAILURES]
    found = [(label, n) for label, n in found if n]
    if found:
        return found
    bad = [r.outcome for r in cell.records if r.outcome not in ("ok", "errors", "skipped")]
    if bad:
        return [(bad[0], len(bad))]
    if not cell.of(correct_per_s).median:
        return [("0 correct", 0)]
    return []


def failure_text(found: Sequence[tuple[str, int]], *, counts: bool = True, most: int = 3, sep: str = "\n") -> str:
    """``"silent wrong 533\\nerrors 1"``: the first ``most`` failures, with their counts unless ``counts`` is False."""
    words = []
    for label, n in found[:most]:
        with_count = counts and label not in ("hung", "crashed", "0 correct") and n
        words.append(f"{label} {short_count(n)}" if with_count else label)
    return sep.join(words)


@dataclass(frozen=True)
class GridCell:
    """How one cell of a verdict grid is drawn."""

    face: str
    text: str
    colour: str
    weight: str = "normal"
    hatch: str | None = None


#: A failed cell's hatch: it reads as failed in grey print and to any eye.
FAIL_HATCH = "////"


def verdict_cell(cell: Cell | None, mark: str = "") -> GridCell:
    """A verdict-grid cell: grey when it could not be measured; hatched with what failed (no speed) when it failed;
    else its correct replies per second (median, and the range over repeats).  ``mark`` is added on a line below."""
    if cell is None:
        return GridCell(palette.VERDICT_COLOURS["missing"], "-", "#777777")
    tail = f"\n{mark}" if mark else ""
    if not any(r.outcome in ("ok", "errors") and not _crashed(r) for r in cell.records):
        word = "crashed" if _crashed(cell.first) else cell.first.outcome
        return GridCell(palette.VERDICT_COLOURS["error"], word + tail, "white", "bold")
    found = failures(cell)
    if found:
        return GridCell(palette.VERDICT_COLOURS["fail"], failure_text(found, most=2) + tail, palette.FAIL_TEXT,
                        "bold", FAIL_HATCH)
    rate = cell.of(correct_per_s)
    text = f"{short_count(rate.median)}/s"
    if rate.n > 1 and rate.low != rate.high:
        text += f"\n{short_count(rate.low)}-{short_count(rate.high)}, n={rate.n}"
    return GridCell(palette.VERDICT_COLOURS["ok"], text + tail, "#1E4D3A")
