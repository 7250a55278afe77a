"""Present: views of stored records -- palette, tables, key findings, charts and the report.

Reads records only (through :mod:`bench.records`), never runs anything.  ``common`` picks and orders
records for every view; ``tables`` builds rows; ``findings`` writes sentences; ``charts`` draws one
module per chart; ``report`` puts them together into report.html and REPORT.md.
"""
