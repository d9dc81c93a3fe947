"""lrtune where users already train: PyTorch Lightning and the Hugging Face ``Trainer``.

* :mod:`lrtune.integrations.lightning` — ``configure_optimizers`` for a :class:`~lrtune.Schedule`
  (stepped after every optimizer step, ``"interval": "step"``), :class:`ScheduleFreeCallback`
  (Schedule-Free's train/eval switches and BatchNorm recompute) and :class:`PruningCallback`.
* :mod:`lrtune.integrations.transformers` — :class:`ScheduleTrainer` (a ``Trainer`` whose
  ``create_scheduler`` applies the schedule over the Trainer's own step count, Schedule-Free
  included) and :class:`PruningCallback`.
* :mod:`lrtune.integrations.glue` — what both share: the optimizer at the schedule's peak LR,
  the bounded report-and-prune step, BatchNorm recompute over any batches.

Both pruning callbacks report the validation metric after every epoch (step = epoch, 1-based)
and prune only at epochs ⌈E/2⌉ … E − 1 (:func:`lrtune.tuning.pruning.may_prune`), whatever
pruner the study has. Nothing here is imported by ``import lrtune``; each module imports its
library (``pip install "lrtune[lightning]"`` / ``"lrtune[transformers]"``).
"""
