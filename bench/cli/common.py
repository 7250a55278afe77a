"""What several commands share beyond their flags: early URL checks, interrupts, finding a run."""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bench.server as mysql
from bench.errors import UsageError

if TYPE_CHECKING:
    from bench.plan.interpreters import Interpreter

PYTHON_HELP = ("run the cells (probes, micro-benchmarks, 1 and 2 threads, database) on this interpreter, e.g. a "
               "free-threaded python3.14t and the GIL build beside it (repeatable, comma-separated; each needs "
               "ctxbench's dependencies installed; default: the interpreter ctxbench runs on). With several, every "
               "cell id and label names its interpreter and the report compares them")


def interpreters_of(given: Sequence[str] | None) -> list[Interpreter] | None:
    """The interpreters of ``--python`` (each asked what it is), or None when the flag was not given."""
    from bench.exec.interpreters import discover
    from bench.plan.selection import split_names

    paths = split_names(given)
    return discover(paths) if paths else None


def interpreters_json(interpreters: Sequence[Interpreter] | None) -> list[dict[str, Any]] | None:
    """What ``environment.json`` says of them (``interpreters``), or None without ``--python``."""
    return [i.to_json() for i in interpreters] if interpreters else None


def check_url_early(url: str | None) -> None:
    """A server URL the user gave (flag or environment) must work before anything is measured.

    Otherwise a mistyped password would surface only after the locals half had run.
    """
    source = "url"
    if url is None and os.environ.get(mysql.ENV_URL, "").strip():
        url, source = os.environ[mysql.ENV_URL], "env"
    if url is not None:
        mysql.check_target(mysql.parse_url(url, source))


def sigterm_as_interrupt() -> None:
    """SIGTERM ends a run the way Ctrl-C does: children stopped, finished cells kept."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, handler)


def results_source(given: Path | None, root: Path = Path("results")) -> Path:
    """``--results`` if given and present, else the newest run directory under ``root``."""
    if given is None:
        runs = sorted(root.glob("*/run.json"), key=lambda p: p.stat().st_mtime)
        if not runs:
            raise UsageError(f"no run under {root}/ (give --results DIR)")
        given = runs[-1].parent
    if not given.exists():
        raise UsageError(f"--results {given}: no such file or directory")
    return given
