"""The cell process: everything imported after a load has installed itself (gevent patches first).

``python -m bench.cell SPEC OUT`` (:mod:`~bench.cell.main`) installs the load named in the spec, runs the
task -- ``probes`` (:mod:`~bench.cell.probes` on a Local under :mod:`~bench.cell.loads`), ``micro``
(:mod:`~bench.cell.micro`), ``db``/``request`` (:mod:`~bench.cell.db` through a
strategy of :mod:`~bench.cell.strategies`) -- and writes its records atomically to OUT.
"""
