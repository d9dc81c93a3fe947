"""lrtune: which learning-rate schedule wins on your task?

Schedule families are Optuna search spaces you can import into your own study::

    import lrtune

    def objective(trial):
        schedule = lrtune.suggest_schedule(trial, "cosine", lr=(1e-3, 1.0))
        optimizer = torch.optim.SGD(model.parameters(), lr=schedule.peak_lr, momentum=0.9)
        scheduler = schedule.build(optimizer, total_steps=epochs * steps_per_epoch)
        ...  # scheduler.step() after every optimizer step, scheduler.epoch_end(val_acc) per epoch

and rebuild the winner with ``lrtune.Schedule.from_params(study.best_trial.params, family="cosine")``.
``lrtune.confirm(study, objective, seeds=5)`` re-runs each family's best trial with fresh seeds
(read them with ``lrtune.trial_seed(trial)``); ``python -m lrtune.analyze`` then gives the verdict.
``lrtune.pruner(epochs)`` is the pruner lrtune's own studies use: never before ⌈E/2⌉ epochs, never
at the final one. Lightning and Hugging Face ``Trainer`` users: :mod:`lrtune.integrations`.
``lrtune.Task`` describes your own data and model for ``python -m lrtune.study --task``.

The public names are loaded on first use (PEP 562 ``__getattr__``), so ``import lrtune.tuning.storage``
or ``python -m lrtune.analyze --help`` does not pay for torch unless the module itself needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lrtune.cli import quiet_interrupt_while_loading

__version__ = "0.1.0"

quiet_interrupt_while_loading()  # python -m lrtune.<command>: Ctrl-C while it loads is one line, exit 130

_HOMES = {
    "FAMILIES": "lrtune.core.schedules",
    "FAMILY_FORMULAS": "lrtune.core.schedules",
    "Schedule": "lrtune.core.schedules",
    "ScheduleLR": "lrtune.core.schedules",
    "ScheduleSpace": "lrtune.core.recognize",
    "Task": "lrtune.training.tasks",
    "confirm": "lrtune.tuning.own_confirm",
    "pruner": "lrtune.tuning.pruning",
    "recognize_space": "lrtune.core.recognize",
    "search_space": "lrtune.core.spaces",
    "suggest_schedule": "lrtune.core.spaces",
    "trial_seed": "lrtune.tuning.own_confirm",
}

__all__ = [
    "FAMILIES",
    "FAMILY_FORMULAS",
    "Schedule",
    "ScheduleLR",
    "ScheduleSpace",
    "Task",
    "__version__",
    "confirm",
    "pruner",
    "recognize_space",
    "search_space",
    "suggest_schedule",
    "trial_seed",
]

if TYPE_CHECKING:
    from lrtune.core.recognize import ScheduleSpace, recognize_space
    from lrtune.core.schedules import FAMILIES, FAMILY_FORMULAS, Schedule, ScheduleLR
    from lrtune.core.spaces import search_space, suggest_schedule
    from lrtune.training.tasks import Task
    from lrtune.tuning.own_confirm import confirm, trial_seed
    from lrtune.tuning.pruning import pruner


def __getattr__(name: str) -> Any:
    """Import a public name's home module the first time the name is used."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'lrtune' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
