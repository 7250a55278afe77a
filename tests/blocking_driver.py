"""A DB-API 2 module that blocks the hub: PyMySQL whose ``execute`` first waits in a call gevent cannot patch.

``--driver tests.blocking_driver:dbapi`` runs a cell over it.  Each ``execute`` sleeps :data:`BLOCK_S` with the
*original* ``time.sleep`` (``gevent.monkey.get_original``), as a C driver waits for the server: under gevent no
other greenlet runs meanwhile, though every reply is still right.  The hub's ticker must flag such a cell
(``blocks_hub``); PyMySQL alone must not be flagged.
"""

from __future__ import annotations

import sys
import time
import types
from typing import Any

import pymysql
import pymysql.cursors

#: Seconds each ``execute`` blocks the whole process before PyMySQL sends the query.
BLOCK_S = 0.005


def _real_sleep() -> Any:
    if "gevent.monkey" in sys.modules:
        from gevent.monkey import get_original

        return get_original("time", "sleep")
    return time.sleep


class BlockingCursor(pymysql.cursors.Cursor):
    """PyMySQL's cursor, whose ``execute`` first blocks the process for :data:`BLOCK_S`."""

    def execute(self, query: Any, args: Any = None) -> int:
        _real_sleep()(BLOCK_S)
        return super().execute(query, args)


def connect(**kwargs: Any) -> Any:
    """A PyMySQL connection whose cursors block (PyMySQL's keywords)."""
    return pymysql.connect(cursorclass=BlockingCursor, **kwargs)


#: The DB-API 2 module (``--driver tests.blocking_driver:dbapi``): PyMySQL's, with the blocking ``connect``.
dbapi = types.SimpleNamespace(
    connect=connect, apilevel="2.0", threadsafety=1, paramstyle="pyformat", __name__="tests.blocking_driver.dbapi",
    **{name: getattr(pymysql, name) for name in (
        "Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError", "IntegrityError",
        "InternalError", "ProgrammingError", "NotSupportedError")},
)
