"""ctxbench: isolation and cost of context-locals and MySQL connection strategies.

This package imports nothing at import time: a cell process must be able to
monkey-patch (gevent) before any of the suite's modules touch threading.
"""

__version__ = "0.1.0"
