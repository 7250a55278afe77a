"""The CI gate (``ctxbench regress``): a quick matrix compared with a baseline file.

One run flows through the modules in order: :mod:`~bench.gate.plan` (what to measure, every
default) -> :mod:`~bench.gate.measure` (run it; records -> :mod:`~bench.gate.metrics`,
leaving out :mod:`~bench.gate.disturbed` repeats) -> :mod:`~bench.gate.baseline` (read or
write the yardstick) -> :mod:`~bench.gate.decision` (one verdict per metric and cell, with
:mod:`~bench.gate.stats`) -> :mod:`~bench.gate.confirm` (suspects measured again) ->
:mod:`~bench.gate.output` and :mod:`~bench.gate.charts`.  :mod:`~bench.gate.compare` strings the
steps together; the flags live in :mod:`bench.cli.regress`.
"""
