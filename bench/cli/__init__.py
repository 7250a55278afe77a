"""The command line: one module per command, the shared flags in :mod:`~bench.cli.args`.

Each command module has ``add_parser(sub)`` (its flags) and ``run(args)`` (turn the flags into a plan,
hand it to :mod:`bench.exec`, print what came back); :mod:`~bench.cli.main` dispatches and turns
errors into one line and an exit status.
"""

import warnings

# The parent process measures nothing: on a free-threaded CPython, a C extension it imports turning the GIL back on
# (pyhdrh, the latency histograms' helper) changes no figure, and must not add a line to a one-line error.  The cell
# processes, which measure, never import this package: they record the same warning (bench/cell/interpreter.py).
warnings.filterwarnings("ignore", message=r"The global interpreter lock \(GIL\) has been enabled",
                        category=RuntimeWarning)
