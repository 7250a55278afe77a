"""The A/B gate (``ctxbench regress --against``): the base commit and the change measured together.

``runner`` runs it (sides, preflight, measure, confirm, report); ``speed`` judges micro costs on paired ratios;
``dbpairs`` runs database cells in base/change pairs in a random order.
"""
