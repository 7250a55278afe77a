"""What several commands share beyond their flags: early URL checks, interrupts, finding a run."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import bench.server as mysql
from bench.errors import UsageError


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
