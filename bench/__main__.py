"""``python -m bench`` is the ``ctxbench`` command."""

import sys

from bench.cli.main import main

sys.exit(main())
