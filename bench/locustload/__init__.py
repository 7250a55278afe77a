"""Several machines on one engine: Locust's master and workers running ctxbench's db or stack load.

Contract: :data:`LOCUSTFILE` is a locustfile shipped in this package, usable by ``ctxbench locust`` and by the
stock ``locust -f``.  Each Locust user is one db worker (a greenlet) or one HTTP client of the real stack; each
worker process keeps the oracle's counts and an HDR histogram of its window and sends them to the master at the
end with Locust's custom messages; the master merges them into one record (``load: "locust"``) in a run directory
that ``ctxbench report`` reads like any other.  Modules: ``options`` (the plan as Locust options), ``tally`` (the
window and the counts), ``users``, ``worker`` and ``master`` (each side), ``merge`` (the record), ``hooks`` (Locust's
events), ``launch`` (Locust's command lines; starting and ending its processes by pid), ``session`` (the three forms of
``ctxbench locust``), ``summary`` (the table it prints).

Nothing imports Locust at this package's import: Locust patches with gevent when imported, so only the processes
that run the locustfile import :mod:`bench.locustload.users` and :mod:`bench.locustload.hooks`.
"""

from __future__ import annotations

from pathlib import Path

#: The locustfile to give ``locust -f``.
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
#: The user class of each scenario.
USER_CLASSES: dict[str, str] = {"db": "DbUser", "stack": "StackUser"}

__all__ = ["LOCUSTFILE", "USER_CLASSES"]
