"""The package itself: ``import lrtune`` stays light."""

from __future__ import annotations

import subprocess
import sys


def test_import_lrtune_is_light_and_names_resolve_on_use() -> None:
    """``import lrtune`` loads neither torch nor optuna; a public name loads its home module."""
    code = (
        "import sys, lrtune; assert 'torch' not in sys.modules and 'optuna' not in sys.modules; "
        "assert lrtune.Schedule.__module__ == 'lrtune.core.schedules'; assert 'torch' in sys.modules; "
        "assert sorted(lrtune.__all__) == sorted(n for n in lrtune.__all__ if hasattr(lrtune, n))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
