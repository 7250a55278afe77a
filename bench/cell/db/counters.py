"""The server's own counters, read before and after a cell, and their deltas.

:data:`COUNTERS` come from ``SHOW GLOBAL STATUS``: the shared set through
:func:`bench.server.server_counters` (a fresh connection per read), the
rest -- and everything, when no new connection can be had -- over one admin
connection kept for the cell.  The counters are server-wide: anyone else's
traffic during the cell shows up too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import bench.server as mysql
from bench.cell.db.target import Target
from bench.cell.db.workload import classify, one_line

#: Counters read before and after a cell.
COUNTERS = ("Questions", "Com_select", "Com_insert", "Com_begin", "Com_commit", "Com_rollback", "Com_set_option",
            "Com_admin_commands", "Connections", "Threads_connected", "Max_used_connections", "Aborted_clients")
#: Reported as values, not deltas.
LEVELS = ("Threads_connected", "Max_used_connections")


class CounterReader:
    """Reads :data:`COUNTERS` for one cell; ``close()`` ends its admin connection.

    ``server_counters`` covers the shared set (Questions, Com_select, threads,
    connections); the reconciliation also wants ``Com_rollback`` (reset on
    return), ``Com_admin_commands`` (pings), ``Com_begin`` and ``Com_set_option``,
    which are read over the admin connection.
    """

    source = "bench.server.server_counters + admin connection"

    def __init__(self, target: Target) -> None:
        self.target = target
        self._conn: Any = None

    def _admin(self, names: list[str]) -> dict[str, Any]:
        import pymysql

        for attempt in (1, 2):
            if self._conn is None:
                self._conn = pymysql.connect(**self.target.connect_kwargs(), autocommit=True, read_timeout=10,
                                             write_timeout=10)
            try:
                with self._conn.cursor() as cur:
                    cur.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({', '.join(['%s'] * len(names))})", names)
                    return {str(name).lower(): value for name, value in cur.fetchall()}
            except pymysql.err.MySQLError:
                # The server went away and came back (a fault run restarts it): one fresh connection.
                self.close()
                if attempt == 2:
                    raise
        return {}  # not reached: the second attempt returns or raises

    def read(self) -> dict[str, int]:
        """The counters now, by name; a counter the server does not report is left out."""
        import pymysql

        try:
            shared = mysql.server_counters(self.target.server_target())
            raw: dict[str, Any] = {str(k).lower(): v for k, v in shared.items()}
        except pymysql.err.MySQLError:
            # No new connection to be had (the server is at max_connections: error 1040):
            # everything over the admin connection, which is already open.
            raw = {}
        missing = [name for name in COUNTERS if name.lower() not in raw]
        if missing:
            raw.update(self._admin(missing))
        out = {}
        for name in COUNTERS:
            try:
                out[name] = int(raw[name.lower()])
            except (KeyError, TypeError, ValueError):
                continue
        return out

    def read_or_note(self, when: str, problems: dict[str, str]) -> dict[str, int]:
        """The counters, or {} with the reason noted under ``counters_<when>``."""
        try:
            return self.read()
        except Exception as exc:  # the server is gone or full: counters unknown, not a crash
            problems[f"counters_{when}"] = one_line(f"{classify(exc)}: {exc}")
            return {}

    def close(self) -> None:
        """Close the admin connection, if one is open."""
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # the admin connection is ours; a failed close loses nothing
                pass
            self._conn = None


def counter_deltas(before: Mapping[str, int], after: Mapping[str, int], self_cost: Mapping[str, int]) -> dict[str, int]:
    """after - before for every counter, less what reading the counters itself cost."""
    return {name: after[name] - before[name] - self_cost.get(name, 0)
            for name in before if name in after and name not in LEVELS}
