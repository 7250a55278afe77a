"""Errors that end a command with a one-line message and exit status 2."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input: an unknown name, a nonsense number, an unreachable server.

    The CLI prints ``ctxbench: error: <message>`` and exits with status 2; the
    message must name the problem and must never contain a secret.
    """


EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_ERROR = 2
