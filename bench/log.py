"""Where the suite's messages go: one ``logging`` set-up for every command.

Modules log with ``logging.getLogger(__name__)``; nothing passes message callbacks around.
:func:`configure` is called once, by the command line: on a terminal, rich's handler (colour,
wrapped to the terminal's width); elsewhere plain lines on stderr (warnings and errors prefixed
``ctxbench: warning:`` / ``ctxbench: error:``), so that CI logs and captured output stay
greppable.  Results never go through logging: tables and summaries are printed on stdout by the
command that made them.
"""

from __future__ import annotations

import logging
import sys

ROOT = "bench"


class _PlainFormatter(logging.Formatter):
    """Progress (INFO, DEBUG) as the bare line; ``ctxbench: warning: message`` and above prefixed."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"ctxbench: {record.levelname.lower()}: {message}"
        return message


def configure(*, verbose: bool = False) -> None:
    """Send the suite's log records to stderr: rich on a terminal, plain lines otherwise.

    INFO and above by default (a command's ``--quiet`` hides progress displays, not these lines);
    ``verbose`` adds DEBUG.  Calling it again replaces the handler (tests call ``main()`` many times
    in one process).
    """
    logger = logging.getLogger(ROOT)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(console=Console(stderr=True), show_time=False, show_path=False, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_PlainFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
