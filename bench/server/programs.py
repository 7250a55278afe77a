"""Finding the server and client programs the suite runs: ``mariadbd``/``mysqld``, ``mariadb-slap``/``mysqlslap``.

Contract: each finder returns an absolute path or None; it looks on PATH first, then in the directories
distributions install servers to (often not on a user's PATH).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin", "/usr/bin", "/usr/local/bin")


def find_program(names: tuple[str, ...], extra_dirs: tuple[str, ...] = SBIN_DIRS) -> str | None:
    """First of ``names`` on PATH, then in ``extra_dirs``."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for directory in extra_dirs:
        for name in names:
            candidate = Path(directory, name)
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def find_server_binary() -> str | None:
    """``mariadbd`` or ``mysqld`` on PATH or in /usr/sbin (and a few usual places), or None."""
    return find_program(("mariadbd", "mysqld"))


def find_mysqlslap() -> str | None:
    """``mariadb-slap`` or ``mysqlslap`` on PATH or in /usr/sbin (and a few usual places), or None."""
    return find_program(("mariadb-slap", "mysqlslap"))
