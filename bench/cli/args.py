"""Argument types, checks and flag groups shared by the subcommands.

Each function validates one kind of value and says what is wrong in one line
(argparse turns an ``ArgumentTypeError`` into ``ctxbench: error: ...`` with
exit status 2), so a nonsense number is refused before anything is measured.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.errors import UsageError


def count(low: int, high: int) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high`` inclusive."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range {low}..{high}")
        return value

    return parse


def counts(low: int, high: int) -> Callable[[str], list[int]]:
    """``1,4,16``: comma-separated whole numbers, each from ``low`` to ``high``."""
    one = count(low, high)

    def parse(text: str) -> list[int]:
        return [one(part.strip()) for part in text.split(",") if part.strip()]

    return parse


def seconds(low: float, high: float, *, allow_low: bool = False) -> Callable[[str], float]:
    """A finite number of seconds above ``low`` (or equal to it with ``allow_low``) and at most ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        above = value >= low if allow_low else value > low
        if not math.isfinite(value) or not above or value > high:
            lowest = f"at least {low:g}" if allow_low else f"more than {low:g}"
            raise argparse.ArgumentTypeError(f"{value:g} is out of range ({lowest}, at most {high:g} seconds)")
        return value

    return parse


def flatten(values: list[list[int]] | None) -> list[int]:
    """What ``action="append"`` of :func:`counts` collects, flattened, first occurrence kept."""
    out: list[int] = []
    for group in values or []:
        out += [value for value in group if value not in out]
    return out


def check_writable(path: Path, *, directory: bool | None = None) -> Path:
    """Fail early, before anything is measured, if ``path`` cannot be written.

    ``directory=None`` guesses from the name (a suffix means a file); the
    folder is created if needed and a temporary file made and removed in it.
    """
    is_dir = (not path.suffix) if directory is None else directory
    folder = path if is_dir else path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ctxbench-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write results to {path}: {exc.strerror or exc}") from None
    return path


def add_locals_selection(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--impl``/``--load``/``--probe``/``--workers``: the locals selection, the same in every command that takes it."""
    p.add_argument("--impl", action="append", metavar="NAME", help="Local implementation: a registered name or package.module:Class (repeatable, comma-separated; default: all)")
    p.add_argument("--load", action="append", metavar="NAME", help="threads, gevent, gevent-nothread, greenlet, asyncio (repeatable, comma-separated; default: all)")
    p.add_argument("--probe", action="append", metavar="NAME", help="isolation, child-write, inheritance, stale-reuse, leak (default: all)")
    p.add_argument("--workers", type=count(1, 1024), default=None, metavar="N", help="workers per probe cell (default: 8)")
