"""The check both integrations' pruning tests share: a trial whose loop asks to prune at every
epoch is pruned at exactly lrtune's first allowed epoch, or completes when none is allowed."""

from __future__ import annotations

import optuna

from lrtune.tuning.pruning import pruning_start


def assert_pruned_at_the_first_allowed_epoch(trial: optuna.trial.FrozenTrial, epochs: int) -> None:
    start = pruning_start(epochs)
    if start <= epochs - 1:
        assert trial.state == optuna.trial.TrialState.PRUNED
        assert max(trial.intermediate_values) == start
    else:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert sorted(trial.intermediate_values) == list(range(1, epochs + 1))
