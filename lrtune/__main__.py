"""``python -m lrtune`` is ``python -m lrtune.study``."""

import sys

from lrtune.study import main

sys.exit(main())
