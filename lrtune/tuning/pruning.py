"""Pruning bounds and pruners: the one rule for *when* a trial may be judged.

A trial of ``E`` epochs reports its validation accuracy after every epoch (step = epoch,
1-based). It may be pruned only at epochs

    pruning_start(E) = ⌈E/2⌉  ≤  epoch  ≤  E − 1,

never earlier (equal-epoch comparisons are biased against schedules that keep the LR high until
late; half the budget limits that) and never at the final epoch: a trial that ran all ``E``
epochs is COMPLETE and its final accuracy is a score. :func:`may_prune` is the guard every
training path (plain and fused) applies before it asks ``trial.should_prune()``; the pruners
built by :func:`make_pruner` carry the same lower bound so that their own bookkeeping agrees
(median: ``n_warmup_steps = ⌈E/2⌉``; hyperband: ``min_resource = ⌈E/2⌉``, ``max_resource = E``)
and apply :func:`may_prune` themselves to the trial's last reported step, so a loop that asks
``should_prune()`` after every epoch — the final one included — still gets both bounds.
With E = 1 no epoch qualifies, so nothing is ever pruned.

:func:`pruner` is the public name (``lrtune.pruner(epochs)``) for users' own studies::

    study = optuna.create_study(direction="maximize", pruner=lrtune.pruner(EPOCHS))
    ...
    for epoch in range(1, EPOCHS + 1):           # steps are 1-based epochs
        ...
        trial.report(val_accuracy, epoch)
        if trial.should_prune():                 # False before ⌈E/2⌉ and at E, whatever the pruner
            raise optuna.TrialPruned()
"""

from __future__ import annotations

import math

import optuna

from lrtune.errors import LrtuneError
from lrtune.tuning.config import PRUNERS

__all__ = [
    "BoundedHyperbandPruner",
    "BoundedMedianPruner",
    "PrunerError",
    "legacy_pruning_start",
    "make_pruner",
    "may_prune",
    "pruner",
    "pruning_start",
    "pruning_window",
    "pruning_window_text",
]


class PrunerError(LrtuneError, ValueError):
    """An unknown pruner name or an invalid number of epochs; the message lists the valid values."""


def pruning_start(epochs: int) -> int:
    """The first epoch at which a trial may be pruned: ⌈E/2⌉ (at least 1)."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise PrunerError(f"epochs must be an integer ≥ 1, got {epochs!r}")
    return max(1, math.ceil(epochs / 2))


def pruning_window(epochs: int) -> range:
    """The epochs at which a trial of ``epochs`` may be pruned: ⌈E/2⌉ … E − 1 (empty for E = 1).

    >>> list(pruning_window(15))[0], list(pruning_window(15))[-1], list(pruning_window(1))
    (8, 14, [])
    """
    return range(pruning_start(epochs), epochs)


def pruning_window_text(epochs: int) -> str:
    """The window for people: ``only at epochs 8–14`` (E = 15)."""
    window = pruning_window(epochs)
    return f"only at epochs {window.start}–{window.stop - 1}"


def legacy_pruning_start(epochs: int) -> int:
    """The rule lrtune had before :func:`pruning_start`: ⌊E/2⌋ (at least 1), final epoch included.

    Kept only so ``python -m lrtune.prune_accounting`` can replay what it cost (policy
    ``median-legacy``); nothing prunes with it.
    """
    return max(1, epochs // 2)


def may_prune(epoch: int, epochs: int) -> bool:
    """True when a trial that has just finished ``epoch`` (1-based) of ``epochs`` may be pruned:
    ⌈E/2⌉ ≤ epoch ≤ E − 1 (:func:`pruning_window`)."""
    return epoch in pruning_window(epochs)


class BoundedMedianPruner(optuna.pruners.MedianPruner):
    """Optuna's median rule that also answers False outside :func:`may_prune`'s epochs.

    ``n_warmup_steps = ⌈E/2⌉`` keeps the lower bound in Optuna's own bookkeeping; :meth:`prune`
    adds the upper one: a trial whose last report is at step ``E`` (or past it) is never pruned.
    """

    def __init__(self, *, epochs: int, n_startup_trials: int = 5) -> None:
        self.epochs = epochs
        super().__init__(n_startup_trials=n_startup_trials, n_warmup_steps=pruning_start(epochs))

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        return step is not None and may_prune(step, self.epochs) and super().prune(study, trial)


class BoundedHyperbandPruner(optuna.pruners.HyperbandPruner):
    """Hyperband between ``min_resource = ⌈E/2⌉`` and ``max_resource = E`` epochs (reduction
    factor 3), answering False outside :func:`may_prune`'s epochs as :class:`BoundedMedianPruner`."""

    def __init__(self, *, epochs: int) -> None:
        self.epochs = epochs
        start = pruning_start(epochs)
        super().__init__(min_resource=start, max_resource=max(epochs, start), reduction_factor=3)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        return step is not None and may_prune(step, self.epochs) and super().prune(study, trial)


def make_pruner(name: str, *, epochs: int) -> optuna.pruners.BasePruner:
    """The pruner for one family's study, bounded as in :func:`may_prune`.

    ``median``: Optuna's median rule after 5 complete trials, from epoch ⌈E/2⌉ on. ``hyperband``:
    successive-halving brackets between ``min_resource = ⌈E/2⌉`` and ``max_resource = E``
    epochs (reduction factor 3) — with E = 15 that is one rung at epoch 8. ``none``: never.
    Both answer False outside :func:`may_prune` themselves (callers check it too).
    """
    pruning_start(epochs)  # checks epochs
    if name == "median":
        return BoundedMedianPruner(epochs=epochs)
    if name == "hyperband":
        return BoundedHyperbandPruner(epochs=epochs)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise PrunerError(f"unknown pruner {name!r}; valid: {', '.join(PRUNERS)}")


def pruner(epochs: int, kind: str = "median") -> optuna.pruners.BasePruner:
    """``lrtune.pruner(epochs)``: lrtune's own pruner for a study whose trials train ``epochs``
    epochs and report the validation score at steps 1…E (``trial.report(score, epoch)``).

    The very rule lrtune's studies use (:func:`make_pruner`): ``kind="median"`` (Optuna's median
    rule after 5 complete trials) or ``"hyperband"``; either prunes only at epochs
    ``⌈E/2⌉ ≤ epoch ≤ E − 1`` — never earlier, never at the final epoch, even when the loop asks
    ``trial.should_prune()`` after the last report. ``"none"`` never prunes.

    >>> p = pruner(8)
    >>> type(p).__name__, p.epochs
    ('BoundedMedianPruner', 8)
    >>> pruner(8, kind="sometimes")
    Traceback (most recent call last):
    ...
    lrtune.tuning.pruning.PrunerError: unknown pruner 'sometimes'; valid: median, hyperband, none
    """
    return make_pruner(kind, epochs=epochs)
