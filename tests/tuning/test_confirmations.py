"""Confirmation runs: fresh seeds, stored as trials, never recomputed."""

from __future__ import annotations

import optuna
import pytest

from lrtune.study import main
from lrtune.tuning.confirmations import CONFIRM_SEED_BASE, confirm_study_name, run_confirmations

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> str:
    db = tmp_path_factory.mktemp("confirm") / "c.db"
    storage = f"sqlite:///{db}"
    assert (
        main(
            [
                "--dataset",
                "digits",
                "--epochs",
                "2",
                "--batch-size",
                "64",
                "--family",
                "constant,cosine",
                "--trials",
                "2",
                "--storage",
                storage,
                "--no-progress",
                "--no-artifacts",
                "--pruner",
                "none",
            ]
        )
        == 0
    )
    return storage


@pytest.mark.slow
def test_confirmations_are_stored_and_reused(searched):
    runs = run_confirmations(searched, k=2)
    assert len(runs) == 4 and not any(r.reused for r in runs)
    assert {r.seed for r in runs} == {CONFIRM_SEED_BASE, CONFIRM_SEED_BASE + 1}
    for family in ("constant", "cosine"):
        search = optuna.load_study(study_name=f"digits-mlp-{family}", storage=searched)
        confirm = optuna.load_study(study_name=confirm_study_name(search.study_name), storage=searched)
        assert confirm.user_attrs["lrtune_kind"] == "confirm"
        assert confirm.user_attrs["lrtune_confirmed_trial"] == search.best_trial.number
        assert confirm.user_attrs["lrtune_config"] == search.user_attrs["lrtune_config"]
        for trial in confirm.trials:
            assert trial.params == search.best_trial.params
            assert trial.user_attrs["source_trial"] == search.best_trial.number
            assert sorted(trial.intermediate_values) == [1, 2]  # unpruned: every epoch
            assert 0 < trial.user_attrs["test_accuracy"] <= 1
    # asking again reuses the stored runs; asking for more runs only the missing seeds
    again = run_confirmations(searched, k=3)
    assert sum(r.reused for r in again) == 4 and len(again) == 6
    assert [r.test_accuracy for r in again if r.reused] == [r.test_accuracy for r in runs]
    assert len(optuna.load_study(study_name="digits-mlp-cosine:confirm", storage=searched).trials) == 3


def test_k_must_be_positive(searched):
    with pytest.raises(ValueError, match="must be an integer ≥ 1, but got 0"):
        run_confirmations(searched, k=0)


@pytest.mark.slow
def test_stacked_confirmations_are_the_solo_runs(tmp_path, monkeypatch):
    """In float64, confirmation runs trained stacked (families × seeds in one stack, each member
    its own seed for init and batch order) store exactly what one-by-one training stores."""
    import dataclasses
    import shutil

    import lrtune.tuning.confirmations as confirm
    from lrtune.tuning.assembly import AssembledTask

    assemble = confirm.assemble

    class Float64Task(AssembledTask):  # the confirmations' task in float64 (the search stays float32)
        def build_model(self, seed: int):
            return super().build_model(seed).double()

    def assemble_float64(*a, **kw):
        task = assemble(*a, **kw)
        d = task.data
        data = dataclasses.replace(d, **{f: getattr(d, f).double() for f in ("x_train", "x_val", "x_test")})
        return Float64Task(task.config, data, task.metric)

    monkeypatch.setattr(confirm, "assemble", assemble_float64)
    source = tmp_path / "search.db"  # a search of its own: the module's one gets confirmations stored
    assert (
        main(
            [
                "--dataset",
                "digits",
                "--epochs",
                "2",
                "--batch-size",
                "64",
                "--family",
                "constant,cosine",
                "--trials",
                "2",
                "--storage",
                f"sqlite:///{source}",
                "--no-progress",
                "--no-artifacts",
                "--pruner",
                "none",
                "--fuse",
                "1",
            ]
        )
        == 0
    )
    stored = {}
    for fuse in (1, 4):
        copy = tmp_path / f"fuse{fuse}.db"
        shutil.copy(source, copy)
        runs = run_confirmations(f"sqlite:///{copy}", k=2, fuse=fuse)
        assert len(runs) == 4 and not any(r.reused for r in runs)
        stored[fuse] = {}
        for family in ("constant", "cosine"):
            study = optuna.load_study(study_name=f"digits-mlp-{family}:confirm", storage=f"sqlite:///{copy}")
            for t in study.trials:
                stored[fuse][(family, t.user_attrs["seed"])] = t
    assert stored[1].keys() == stored[4].keys()
    for key, solo in stored[1].items():
        fused = stored[4][key]
        assert fused.user_attrs["fuse_group_size"] == 4 and "fuse_group_size" not in solo.user_attrs
        assert fused.value == pytest.approx(solo.value, abs=1e-5)
        assert fused.user_attrs["test_accuracy"] == pytest.approx(solo.user_attrs["test_accuracy"], abs=1e-5)
        assert fused.intermediate_values == pytest.approx(solo.intermediate_values, abs=1e-5)
        assert fused.user_attrs["lr_curve"] == pytest.approx(solo.user_attrs["lr_curve"], rel=1e-12)


def test_fuse_must_be_positive(searched):
    with pytest.raises(ValueError, match="fuse must be an integer ≥ 1, but got 0"):
        run_confirmations(searched, k=1, fuse=0)
