"""Pruning bounds and pruners: the one rule for *when* a trial may be judged.

A trial of ``E`` epochs reports its validation accuracy after every epoch (step = epoch,
1-based). It may be pruned only at epochs

    pruning_start(E) = ⌈E/2⌉  ≤  epoch  ≤  E − 1,

never earlier (equal-epoch comparisons are biased against schedules that keep the LR high until
late; half the budget limits that) and never at the final epoch: a trial that ran all ``E``
epochs is COMPLETE and its final accuracy is a score. :func:`may_prune` is the guard every
training path (plain and fused) applies before it asks ``trial.should_prune()``; the pruners
built by :func:`make_pruner` carry the same lower bound so that their own bookkeeping agrees
(median: ``n_warmup_steps = ⌈E/2⌉``; hyperband: ``min_resource = ⌈E/2⌉``, ``max_resource = E``).
With E = 1 no epoch qualifies, so nothing is ever pruned.
"""

from __future__ import annotations

import math

import optuna

from lrtune.tuning.config import PRUNERS

__all__ = ["legacy_pruning_start", "make_pruner", "may_prune", "pruning_start"]


def pruning_start(epochs: int) -> int:
    """The first epoch at which a trial may be pruned: ⌈E/2⌉ (at least 1)."""
    if epochs < 1:
        raise ValueError(f"epochs must be ≥ 1, got {epochs}")
    return max(1, math.ceil(epochs / 2))


def legacy_pruning_start(epochs: int) -> int:
    """The rule lrtune had before :func:`pruning_start`: ⌊E/2⌋ (at least 1), final epoch included.

    Kept only so ``python -m lrtune.prune_accounting`` can replay what it cost (policy
    ``median-legacy``); nothing prunes with it.
    """
    return max(1, epochs // 2)


def may_prune(epoch: int, epochs: int) -> bool:
    """True when a trial that has just finished ``epoch`` (1-based) of ``epochs`` may be pruned:
    ⌈E/2⌉ ≤ epoch ≤ E − 1."""
    return pruning_start(epochs) <= epoch <= epochs - 1


def make_pruner(name: str, *, epochs: int) -> optuna.pruners.BasePruner:
    """The pruner for one family's study, bounded as in :func:`may_prune`.

    ``median``: Optuna's median rule after 5 complete trials, from epoch ⌈E/2⌉ on. ``hyperband``:
    successive-halving brackets between ``min_resource = ⌈E/2⌉`` and ``max_resource = E``
    epochs (reduction factor 3) — with E = 15 that is one rung at epoch 8. ``none``: never.
    The final-epoch bound is enforced by the caller through :func:`may_prune` (a pruner only
    sees steps it is asked about).
    """
    start = pruning_start(epochs)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=start)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=start, max_resource=max(epochs, start), reduction_factor=3
        )
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {name!r}; valid: {', '.join(PRUNERS)}")
