"""Plan: what will run, decided before anything runs.

``matrix`` holds every default as data; ``selection`` turns names into validated selections (one-line
errors); ``cells`` turns a selection into :class:`~bench.plan.cells.Planned` cells with stable ids.
"""
