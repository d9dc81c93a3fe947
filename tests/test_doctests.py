"""The ``>>>`` examples in docstrings (the public schedule API first) run and print what they show."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from lrtune.core import families, schedules, shapes, spaces
from lrtune.training import train
from lrtune.tuning import objective, storage


@pytest.mark.parametrize(
    "module", [shapes, families, schedules, spaces, train, objective, storage], ids=lambda m: m.__name__
)
def test_docstring_examples_pass(module: ModuleType) -> None:
    result = doctest.testmod(module, raise_on_error=False, report=True)
    assert result.attempted > 0, f"{module.__name__} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {module.__name__} failed"


def test_the_schedule_api_has_examples() -> None:
    """Every public entry point named here shows how it is called."""
    documented = [
        schedules.Schedule,
        schedules.Schedule.from_params,
        schedules.Schedule.to_params,
        schedules.Schedule.multiplier,
        schedules.Schedule.lr_at,
        schedules.Schedule.curve_multipliers,
        schedules.Schedule.curve,
        schedules.Schedule.build,
        schedules.ScheduleLR.epoch_end,
        schedules.multipliers,
        spaces.suggest_schedule,
        spaces.search_space,
        spaces.family_distributions,
        families.family_defaults,
    ]
    missing = [f.__qualname__ for f in documented if ">>>" not in (f.__doc__ or "")]
    assert not missing, f"no >>> example in: {', '.join(missing)}"
