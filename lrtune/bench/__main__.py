"""``python -m lrtune.bench``: see :mod:`lrtune.bench` and :func:`lrtune.bench.cli.main`."""

import sys

from lrtune.bench.cli import main

sys.exit(main())
