"""The server's process on this machine: which pid serves a port, and how much CPU it has used.

Used to put the server's CPU beside the client's in a database record (``server_cpu_s``), so a reader sees whether
the client, the server or the machine is the limit.  Only a server on this machine has a process to read: for any
other host, or when the listening process cannot be seen (another user's process without the rights to read it),
the answer is None and the record says so with a null.  psutil is imported when called, never at import time.
"""

from __future__ import annotations

#: Host names that mean this machine.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


def listening_pid(host: str, port: int) -> int | None:
    """The pid of the process listening on ``port`` of this machine, or None (another host, not visible)."""
    if host not in LOCAL_HOSTS:
        return None
    import psutil

    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return int(conn.pid)
    return None


def process_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds process ``pid`` has used so far (all its threads), or None when unreadable."""
    if pid is None:
        return None
    import psutil

    try:
        times = psutil.Process(pid).cpu_times()
    except (psutil.Error, OSError):
        return None
    return float(times.user + times.system)
