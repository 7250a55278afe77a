"""A database account with a distinctive password, for the tests that look for a password in every output.

The session's server may have no password at all (root on 127.0.0.1:3306), and a test that looks for the
password in what ctxbench wrote would then find nothing to look for and prove nothing.  :func:`secret_account`
creates an account whose password holds the characters a URL must quote, on whatever server the session uses.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

import pymysql

from bench.server import ServerTarget

#: The account's name and password: ``/``, ``+`` and ``@`` must be quoted in a URL.
SECRET_USER = "ctxbench_secret"
SECRET = "Sx9/ctxbench+Secret@pw"
#: Every form the password could be written in: as is, and quoted as a URL quotes it.
SECRET_FORMS = frozenset({SECRET, urllib.parse.quote(SECRET, safe=""), urllib.parse.quote(SECRET)})


@contextmanager
def secret_account(target: ServerTarget) -> Iterator[ServerTarget]:
    """``target`` logged in as :data:`SECRET_USER` / :data:`SECRET`, an account granted on its database for the
    block's length (created by ``target``'s own account, dropped afterwards)."""
    admin = pymysql.connect(**target.connect_kwargs(), autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT SUBSTRING_INDEX(USER(), '@', -1)")  # the host the server sees this client as
            (host,) = cur.fetchone()
            cur.execute(f"DROP USER IF EXISTS '{SECRET_USER}'@%s", (host,))
            cur.execute(f"CREATE USER '{SECRET_USER}'@%s IDENTIFIED BY %s", (host, SECRET))
            cur.execute(f"GRANT ALL PRIVILEGES ON `{target.database}`.* TO '{SECRET_USER}'@%s", (host,))
        try:
            yield dataclasses.replace(target, user=SECRET_USER, password=SECRET)
        finally:
            with admin.cursor() as cur:
                cur.execute(f"DROP USER IF EXISTS '{SECRET_USER}'@%s", (host,))
    finally:
        admin.close()
