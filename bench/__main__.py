"""``python -m bench`` is the ``ctxbench`` command."""

import sys

from bench.cli import main

sys.exit(main())
