"""lrtune.tuning.pruning: one bound for every path — prune only at epochs ⌈E/2⌉..E−1."""

from __future__ import annotations

import math

import optuna
import pytest

import lrtune
from lrtune.study import main as study_main
from lrtune.tuning.pruning import (
    BoundedHyperbandPruner,
    BoundedMedianPruner,
    PrunerError,
    make_pruner,
    may_prune,
    pruning_start,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_pruning_start_is_half_the_epochs_rounded_up():
    assert [pruning_start(e) for e in (1, 2, 3, 4, 5, 15, 20)] == [1, 1, 2, 2, 3, 8, 10]
    with pytest.raises(ValueError):
        pruning_start(0)


@pytest.mark.parametrize("epochs", [1, 2, 3, 4, 5, 15])
def test_may_prune_only_from_half_the_epochs_to_the_one_before_the_last(epochs):
    allowed = [e for e in range(1, epochs + 1) if may_prune(e, epochs)]
    assert allowed == list(range(math.ceil(epochs / 2), epochs))  # never the final epoch; E = 1: never


def test_pruners_carry_the_same_lower_bound():
    assert make_pruner("median", epochs=15)._n_warmup_steps == 8
    hyperband = make_pruner("hyperband", epochs=15)
    assert hyperband._min_resource == 8 and hyperband._max_resource == 15
    assert isinstance(make_pruner("none", epochs=15), optuna.pruners.NopPruner)
    with pytest.raises(ValueError, match="valid: median, hyperband, none"):
        make_pruner("sometimes", epochs=5)


def test_public_pruner_is_the_internal_rule():
    assert isinstance(lrtune.pruner(15), BoundedMedianPruner) and lrtune.pruner(15)._n_warmup_steps == 8
    hyperband = lrtune.pruner(15, kind="hyperband")
    assert isinstance(hyperband, BoundedHyperbandPruner) and hyperband._min_resource == 8
    assert isinstance(lrtune.pruner(15, kind="none"), optuna.pruners.NopPruner)
    with pytest.raises(PrunerError, match="valid: median, hyperband, none"):
        lrtune.pruner(15, kind="sometimes")
    with pytest.raises(PrunerError, match="epochs must be an integer ≥ 1"):
        lrtune.pruner(0)


@pytest.mark.parametrize("kind", ["median", "hyperband"])
def test_public_pruner_refuses_epochs_outside_the_bounds_even_when_asked(kind):
    """A loop that asks should_prune() after every epoch, the final one included: a trial far
    below five complete ones is pruned only at epochs ⌈E/2⌉..E−1 (E = 6: 3, 4, 5)."""
    epochs = 6
    study = optuna.create_study(direction="maximize", pruner=lrtune.pruner(epochs, kind=kind))
    for _ in range(5):
        good = study.ask()
        for epoch in range(1, epochs + 1):
            good.report(0.9, epoch)
            good.should_prune()  # hyperband records its rungs when asked
        study.tell(good, 0.9)
    bad = study.ask()
    asked = {}
    for epoch in range(1, epochs + 1):
        bad.report(0.1, epoch)
        asked[epoch] = bad.should_prune()
    assert [e for e, yes in asked.items() if yes] == ([3, 4, 5] if kind == "median" else [3])


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra",
    [
        ["--pruner", "median", "--fuse", "1"],
        ["--pruner", "median", "--fuse", "2"],
        ["--pruner", "hyperband", "--fuse", "4"],
    ],
    ids=["median", "median-fused", "hyperband-fused"],
)
def test_no_pruned_trial_ran_fewer_than_half_or_all_of_its_epochs(tmp_path, extra):
    """Real studies of several families: every PRUNED trial ran ⌈E/2⌉..E−1 epochs, every trial
    that ran all E epochs is COMPLETE."""
    epochs = 4
    url = f"sqlite:///{tmp_path / 'p.db'}"
    families = ("step", "cosine", "wsd")
    code = study_main(
        [
            "--dataset",
            "digits",
            "--epochs",
            str(epochs),
            "--batch-size",
            "128",
            "--no-progress",
            "--family",
            ",".join(families),
            "--trials",
            "8",
            "--sampler",
            "random",
            "--lr-range",
            "1e-4,3",
            "--storage",
            url,
            "--no-artifacts",
            *extra,
        ]
    )
    assert code == 0
    pruned = 0
    for family in families:
        study = optuna.load_study(study_name=f"digits-mlp-{family}", storage=url)
        for trial in study.trials:
            ran = trial.user_attrs["epochs_run"]
            assert len(trial.intermediate_values) == ran or trial.user_attrs["diverged"]
            if trial.state == optuna.trial.TrialState.PRUNED:
                pruned += 1
                assert math.ceil(epochs / 2) <= ran <= epochs - 1, (family, trial.number, ran)
            else:
                assert trial.state == optuna.trial.TrialState.COMPLETE
                assert ran == epochs or trial.user_attrs["diverged"]
    assert pruned > 0  # the bounds were exercised
    assert study.metric_names == ["validation accuracy"]  # optuna-dashboard's label for the value
