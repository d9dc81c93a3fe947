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
``lrtune.Task`` describes your own data and model for ``python -m lrtune.study --task``.
"""

from lrtune.own_confirm import confirm, trial_seed
from lrtune.recognize import ScheduleSpace, recognize_space
from lrtune.schedules import FAMILIES, FAMILY_FORMULAS, Schedule, ScheduleLR
from lrtune.spaces import search_space, suggest_schedule
from lrtune.tasks import Task

__version__ = "0.1.0"

__all__ = [
    "FAMILIES",
    "FAMILY_FORMULAS",
    "Schedule",
    "ScheduleLR",
    "ScheduleSpace",
    "Task",
    "__version__",
    "confirm",
    "recognize_space",
    "search_space",
    "suggest_schedule",
    "trial_seed",
]
