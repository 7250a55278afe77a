"""Execution: planned cells run, each in a fresh process, and their records go to a sink.

``spawn`` starts the cells (``python -m bench.cell``) through :mod:`bench.child`, the suite's one child-process
helper (time limit, the whole tree killed, death with the parent);
``pipeline`` runs any planned cells into a sink (a run directory from ``rundir``, or a memory sink that
can rewrite one JSON document); ``dbcell`` and ``micro`` are the parent sides of a database cell and of
the micro-benchmarks; ``run``, ``locals`` and ``db`` are the entry points the commands and the gate
call; ``session`` finds (or starts) a server for a command's duration.
"""
