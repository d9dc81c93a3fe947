"""lrtune: which learning-rate schedule wins on your task?

Schedule families are Optuna search spaces you can import into your own study::

    import lrtune

    def objective(trial):
        schedule = lrtune.suggest_schedule(trial, "cosine", lr=(1e-3, 1.0))
        optimizer = torch.optim.SGD(model.parameters(), lr=schedule.peak_lr, momentum=0.9)
        scheduler = schedule.build(optimizer, total_steps=epochs * steps_per_epoch)
        ...  # scheduler.step() after every optimizer step, scheduler.epoch_end(val_acc) per epoch

and rebuild the winner with ``lrtune.Schedule.from_params(study.best_trial.params, family="cosine")``.
"""

from lrtune.schedules import FAMILIES, FAMILY_FORMULAS, Schedule, ScheduleLR
from lrtune.spaces import search_space, suggest_schedule

__version__ = "0.1.0"

__all__ = [
    "FAMILIES",
    "FAMILY_FORMULAS",
    "Schedule",
    "ScheduleLR",
    "__version__",
    "search_space",
    "suggest_schedule",
]
