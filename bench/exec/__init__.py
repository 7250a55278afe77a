"""Execution: planned cells run, each in a fresh process, and their records go to a sink.

``spawn`` is the only process spawner (``python -m bench.cell``, time limit, the whole tree killed);
``pipeline`` runs any planned cells into a sink (a run directory from ``rundir``, or a memory sink that
can rewrite one JSON document); ``dbcell`` and ``micro`` are the parent sides of a database cell and of
the micro-benchmarks; ``run``, ``locals`` and ``db`` are the entry points the commands and the gate
call; ``session`` finds (or starts) a server for a command's duration.
"""
