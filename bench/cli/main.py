"""``ctxbench``: the command line.  Each command is a module of this package; this one dispatches.

Exit status: 0 clean; 1 a regression (``regress``); 2 bad input or an error (an unknown name, an
impl that fails, an unreachable server); 130 interrupted.  Every error is one line,
``ctxbench: error: ...``; ``--debug`` shows the traceback as well.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from bench import __version__
from bench import log as logsetup
from bench.cli import db, doctor, faults, locust, regress, report, run, stack
from bench.cli import locals as locals_command
from bench.cli.args import Parser
from bench.errors import EXIT_ERROR, UsageError

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ctxbench",
                    description="Isolation and cost of context-locals and MySQL connection strategies.")
    parser.add_argument("--version", action="version", version=f"ctxbench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    locals_command.add_parser(sub)
    db.add_parser(sub)
    stack.add_parser(sub)
    locust.add_parser(sub)
    run.add_parser(sub)
    faults.add_parser(sub)
    report.add_parsers(sub)
    doctor.add_parser(sub)
    regress.add_parser(sub, Parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    debug = bool(args.debug or os.environ.get("CTXBENCH_DEBUG"))
    logsetup.configure(verbose=debug)
    try:
        return int(args.func(args))
    except UsageError as exc:
        if debug:  # the traceback, then the same one line and the same exit status
            traceback.print_exc()
        log.error("%s", exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        log.error("interrupted; records finished so far are kept")
        return 130
    except Exception as exc:  # one line unless --debug
        if debug:
            traceback.print_exc()
        log.error("%s", f"{exc.__class__.__name__}: {exc}".splitlines()[0])
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
