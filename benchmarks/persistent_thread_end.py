"""When does DBUtils' PersistentDB close the connection of a thread that has ended?

    python benchmarks/persistent_thread_end.py [--mysql-url URL] [--threads 4]

``--threads`` threads each take a PersistentDB connection (a connection per thread, kept in a ``threading.local``),
run ``SELECT 1`` and end, and nothing holds their Thread objects any more.  The server's ``Threads_connected``
(less the reading connection, less what was open before) is read 0.3 s after they ended, then again after
``gc.collect()``.  Prints both and the interpreter's build.
The server is found as every command finds it (``--mysql-url``, ``CTXBENCH_MYSQL_URL``, 127.0.0.1:3306, or a
private one).  Exit status 2 without a server.

Why: the db tests count the connections a strategy leaves open after it is closed; on a free-threaded build more
of them were still open for ``persistent``.  This separates "leaked" from "closed later, by the collector".
"""

from __future__ import annotations

import argparse
import gc
import sys
import sysconfig
import threading
import time
from typing import Any

from bench.cli.args import count
from bench.server import ServerUnavailable, find_server
from bench.server.connect import open_connection


def _open(target: Any) -> int:
    """Connections open on the server, this reading one left out."""
    conn = open_connection(target, timeout=10.0)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
            return int(cur.fetchone()[1]) - 1
    finally:
        conn.close()


def measure(target: Any, threads: int) -> tuple[int, int]:
    """(still open 0.3 s after the threads ended, still open after gc.collect()), over what was open before."""
    import pymysql
    from dbutils.persistent_db import PersistentDB

    before = _open(target)
    pool = PersistentDB(pymysql, **target.connect_kwargs())

    def work() -> None:
        conn = pool.connection()
        cur = conn.cursor()
        cur.execute("SELECT 1")
        cur.fetchall()
        cur.close()
        conn.close()  # PersistentDB keeps it open for the thread: this is a no-op by design

    def start_and_join() -> None:  # the Thread objects go with this frame, as a server's finished workers do
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    start_and_join()
    time.sleep(0.3)
    ended = _open(target) - before
    gc.collect()
    time.sleep(0.3)
    return ended, _open(target) - before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mysql-url", metavar="URL", help="mysql://user:password@host:port/database")
    parser.add_argument("--threads", type=count(1, 64), default=4, help="threads (default: 4)")
    args = parser.parse_args(argv)
    try:
        handle = find_server(args.mysql_url)
    except ServerUnavailable as exc:
        print(f"persistent_thread_end: {exc.reason}", file=sys.stderr)
        return 2
    with handle:
        ended, collected = measure(handle.target, args.threads)
    build = "free-threaded" if sysconfig.get_config_var("Py_GIL_DISABLED") else "GIL"
    print(f"Python {sys.version.split()[0]} ({build} build), {args.threads} threads: {ended} of their connections "
          f"open after they ended, {collected} after gc.collect()")
    return 0


if __name__ == "__main__":
    sys.exit(main())
