"""Every word the report uses, defined once; and the names of the Locals mapped to what users run.

:data:`TERMS` is the glossary both pages print (term, definition), in reading order; :data:`KNOWN_AS` says what
each Local of ``localimpls`` (and the stack's ``flask-g``) is in the libraries users import.  Plain data.
"""

from __future__ import annotations

#: What each Local name stands for in the code users run (localimpls/ and bench/webstack).
KNOWN_AS: dict[str, str] = {
    "threading-local": "the standard library's threading.local (per OS thread; per greenlet once gevent patched it)",
    "dict-by-ident": "a dict keyed by threading.get_ident() (werkzeug 0.x without greenlet, hand-rolled locals)",
    "greenlet-keyed": "a dict keyed by greenlet.getcurrent() (werkzeug < 2.0, Flask 1.x)",
    "contextvar": "one ContextVar holding a dict, copied on write: werkzeug >= 2.0's Local design, which Flask's "
                  "g and request context rest on",
    "fast": "ctxbench's own Local (localimpls/fast.py): one ContextVar per attribute",
    "werkzeug": "werkzeug.local.Local as installed (Flask >= 2.0's request context)",
    "gevent-local": "gevent.local.local",
    "flask-g": "Flask's g in the real app (predicted by werkzeug's Local, else contextvar)",
}


def known_as(name: str) -> str:
    """What ``name`` is in users' code, or "" when it is not a known Local."""
    return KNOWN_AS.get(name, "")


#: (term, definition), in the order a reader meets them.
TERMS: tuple[tuple[str, str], ...] = (
    ("safe", "the records show 0 errors, 0 wrong results, 0 silent wrong replies and 0 Local violations for it under "
             "that deployment, and no cell of it blocked the hub: for a Local, every judged probe under the load and "
             "every reply of the real stack; for a strategy or a driver, every cell at every concurrency and every "
             "repeat."),
    ("blocks the hub", "a gevent or asyncio cell whose event loop stalled longer than 100 ms at once, or was blocked "
     "for more than 20% of the window (a ticker waking every 10 ms measures how late it runs; lateness up to 10 ms "
     "is turn-taking). Its replies may all be right, but while one worker waits in C (a C driver's socket I/O) or "
     "computes, no other worker runs: not safe under that load, whatever its speed."),
    ("longest hub stall", "the longest time a gevent or asyncio cell's event loop ran nothing else in the measured "
     "window, with the time its process waited for a CPU (a loaded machine) taken off; 'whole window' when the loop "
     "never got back to the ticker at all (one worker held it throughout); the share in brackets is the time late "
     "beyond 10 ms over the window."),
    ("driver", "the MySQL client library the strategies speak (--driver): PyMySQL unless named; mysqlclient, "
               "mariadb and connector do their socket I/O in C, where gevent cannot switch."),
    ("measured on the stack / predicted (†)", "a verdict of a server row comes from that real server's cells when "
     "it served that Local or strategy; otherwise (marked †) from the in-process cells of the load the server stands "
     "for (gunicorn-gthread and waitress: threads; gunicorn-gevent and gevent-pywsgi: gevent; gevent-pywsgi-nothread: "
     "gevent-nothread; uvicorn: asyncio). The model check compares the two wherever both exist."),
    ("correct replies/s", "replies per second that answered the operation's own question: a db or request cell's "
     "ops/s (wrong replies are not counted), a stack cell's replies answered 200 with the request's own token and "
     "row, over the measured window. A failing cell shows what failed, not a speed."),
    ("n", "how many times a cell was measured (repeats, each in fresh processes); a figure is their median, with "
          "the lowest and highest in brackets when n > 1."),
    ("silent wrong", "replies that provably answered another operation -- another worker's, or an earlier request "
     "of the same worker -- returned without any error. An error is noticed; another user's row served with HTTP 200 "
     "is not. (wrong_detail foreign + stale.)"),
    ("wrong results", "replies whose row did not belong to the operation that asked, silent or not; split into "
                      "foreign, stale and other."),
    ("foreign", "a wrong reply carrying another worker's token."),
    ("stale", "a wrong reply carrying the same worker's earlier token: a reply left unread in the stream and read "
              "by the next query."),
    ("other", "a wrong reply that cannot be attributed to any operation (garbled, or a row of no known token)."),
    ("errors", "exceptions the strategy raised, by class (PyMySQL's InterfaceError, OperationalError, InternalError "
               "...; gevent's ConcurrentObjectUseError; pool exhaustion; server:1040, too many connections); on the "
               "real stack, HTTP statuses other than 200 and requests that got no reply."),
    ("RuntimeError:reentrant", "PyMySQL's reentrant-call error: a second greenlet or task read a connection while "
                               "another was reading it. The socket stays open with an unread reply in it."),
    ("hung", "a cell whose workers did not finish: ended by its own watchdog."),
    ("W", "in the request-scenario chart: wrong database replies (with L = local violations, E = errors)."),
    ("local violations", "requests of the request scenario that read another request's context from the Local."),
    ("wrong Local", "real-stack replies whose Local held another request's token."),
    ("probe violations", "isolation, child-write, stale-reuse and leak are judged: each counts the checks a Local "
     "failed (a worker reading a value it did not write, a child's write reaching its parent, a dead worker's value "
     "handed to a new one, a finished worker's value still alive). Inheritance is reported, not judged."),
    ("connections", "the server's Threads_connected peak over its baseline where the record has it (at peak), else "
                    "the distinct connection ids the clients used."),
    ("client CPU µs/op", "CPU time of the client processes (warm-up included) divided by the operations."),
    ("model", "the in-process loads (threads, gevent, gevent-nothread, greenlet, asyncio) stand for real servers; "
              "each real-stack cell is compared with the in-process cells that predict it."),
)
