"""``python -m bench.cell SPEC OUT``: the cell process (see :mod:`bench.cell.main`)."""

import sys

from bench.cell.main import main

sys.exit(main(sys.argv))
