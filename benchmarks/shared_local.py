"""Is a Local's two-thread cost the Local's design, or its being one object that both threads share?

    python benchmarks/shared_local.py [--impl threading-local,fast,contextvar] [--reads 2000000] [--rounds 5]

For each Local, two ways of giving two threads their Local: *one shared* instance (as a module-global Local is
shared, and as the ``parallel`` cell measures) and *one per thread* (each thread builds its own).  Each round reads
``l.x`` ``--reads`` times in one thread, then in two threads started together (a barrier), each in a fresh
:mod:`contextvars` context on its own value; scaling = ops/s of each of the two / ops/s of the one.  Prints the
median scaling and its range over ``--rounds`` for each Local and each way, and the interpreter's build.

Why: on a free-threaded CPython, a reference a thread takes to an object another thread created is an atomic
operation on the object's shared count.  A Local whose read enters Python code with the shared instance (and its
shared tables) as arguments takes such references on every read; if the contention is there, a Local per thread
scales where the shared one does not, and a per-thread figure near 1 rules out the Local's own algorithm.
"""

from __future__ import annotations

import argparse
import contextvars
import statistics
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from typing import Any

import localimpls

UNROLL = 10


def _rate(make: Callable[[], Any], shared: bool, threads: int, reads: int) -> float:
    """Mean ops/s per thread of ``threads`` threads reading ``l.x`` ``reads`` times each."""
    rates: list[float] = []
    common = make() if shared else None
    barrier = threading.Barrier(threads)

    def work() -> None:
        local = common if shared else make()

        def timed() -> None:
            loc = local
            loc.x = object()
            barrier.wait()
            start = time.perf_counter()
            for _ in range(reads // UNROLL):
                loc.x; loc.x; loc.x; loc.x; loc.x; loc.x; loc.x; loc.x; loc.x; loc.x  # noqa: B018, E702
            rates.append(reads / (time.perf_counter() - start))

        contextvars.Context().run(timed)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return statistics.mean(rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", default="threading-local,fast,contextvar", help="Locals, comma-separated")
    parser.add_argument("--reads", type=int, default=2_000_000, help="reads per thread per round (default 2,000,000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per Local and way (default 5)")
    args = parser.parse_args(argv)
    if args.reads < UNROLL or args.rounds < 1:
        parser.error("--reads must be at least 10 and --rounds at least 1")
    try:
        makers = {name: localimpls.resolve(name) for name in args.impl.split(",")}
    except localimpls.ImplError as exc:
        parser.error(f"--impl: {exc}")
    free = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(f"Python {sys.version.split()[0]}, {'free-threaded' if free else 'GIL'} build, GIL {'on' if gil else 'off'}")
    for name, make in makers.items():
        for shared in (True, False):
            scalings = sorted(_rate(make, shared, 2, args.reads) / _rate(make, shared, 1, args.reads)
                              for _ in range(args.rounds))
            way = "one shared Local" if shared else "a Local per thread"
            print(f"{name:18} {way:20} scaling {statistics.median(scalings):.2f} "
                  f"(range {scalings[0]:.2f}-{scalings[-1]:.2f}, {args.rounds} rounds)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
