"""Progress for long runs: cell i of N, what runs, elapsed and ETA.

On a terminal this is a rich progress bar; otherwise (CI logs, pipes) plain
lines, one per finished cell, so logs stay readable.  rich is used because it
already solves redraw, terminal width and ETA smoothing well.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class CellProgress:
    """Counts finished cells of a known total and shows the one running."""

    def __init__(self, total: int, title: str, *, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.total = total
        self.title = title
        self.done = 0
        self.quiet = quiet
        self._stream = stream or sys.stderr
        self._started = time.monotonic()
        self._rich: Progress | None = None
        self._task = None
        if not quiet and self._stream.isatty():
            self._rich = Progress(
                TextColumn("[bold]{task.fields[title]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=self._stream),
                transient=True,
            )

    def __enter__(self) -> CellProgress:
        if self._rich is not None:
            self._rich.start()
            self._task = self._rich.add_task("", total=self.total, title=self.title)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._rich is not None:
            self._rich.stop()

    def running(self, what: str) -> None:
        """Say what is running now."""
        if self._rich is not None and self._task is not None:
            self._rich.update(self._task, description=what)

    def finished(self, what: str, status: str = "") -> None:
        """Count one finished cell."""
        self.done += 1
        if self._rich is not None and self._task is not None:
            self._rich.update(self._task, advance=1, description=what)
            return
        if self.quiet:
            return
        elapsed = time.monotonic() - self._started
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        suffix = f" {status}" if status else ""
        print(
            f"[{self.title} {self.done}/{self.total}] {what}{suffix} (elapsed {elapsed:.0f}s, ETA {eta:.0f}s)",
            file=self._stream,
            flush=True,
        )

    def log(self, line: str) -> None:
        """A line that must stay visible (an error)."""
        if self._rich is not None:
            self._rich.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self._stream, flush=True)
