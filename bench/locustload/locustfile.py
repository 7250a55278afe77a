"""The locustfile ctxbench ships: ``locust -f <this file> DbUser|StackUser --master|--worker ...``, ``ctxbench locust``.

It only imports: the users (:mod:`bench.locustload.users`) and the event hooks (:mod:`bench.locustload.hooks`, which
register themselves once per process).  Name one user class on Locust's command line: ``DbUser`` (the db
scenario) or ``StackUser`` (the stack scenario, with ``--host``).  The server's URL comes from each process's
``CTXBENCH_MYSQL_URL`` (or root without a password on 127.0.0.1:3306), never from a Locust option.
"""

from bench.locustload import hooks  # noqa: F401  (registers the event listeners)
from bench.locustload.users import DbUser, StackUser

__all__ = ["DbUser", "StackUser"]
