"""Users' own Optuna studies: recognised, analysed, confirmed with their own objective.

The study here is written the way a user would: plain Optuna, ``lrtune.suggest_schedule`` with
a prefix, one family per study (``reg-cosine``, ``reg-step``), a parameter of the user's own
(``width``), and a *minimised* loss — a small real regression trained with the schedule.
"""

from __future__ import annotations

import importlib
import shutil
import sys

import optuna
import pytest
import torch

import lrtune
from lrtune import analyze
from lrtune.report import load_own_trials, write_own_report
from lrtune.tuning.own_confirm import CONFIRM_SEED_BASE

EPOCHS = 4
PRUNE_CHECKS: list[tuple[int, bool]] = []


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g)
    y = torch.sin(x @ torch.randn(8, 1, generator=g)) + 0.1 * torch.randn(256, 1, generator=g)
    return x[:192], y[:192], x[192:], y[192:]


DATA = _data()


def make_objective(family: str):
    def objective(trial: optuna.Trial) -> float:
        x, y, xv, yv = DATA
        width = trial.suggest_int("width", 4, 32, log=True)  # the user's own parameter
        schedule = lrtune.suggest_schedule(trial, family, lr=(1e-3, 0.3), prefix="opt_")
        seed = lrtune.trial_seed(trial)
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Linear(8, width), torch.nn.Tanh(), torch.nn.Linear(width, 1))
        optimizer = torch.optim.SGD(model.parameters(), lr=schedule.peak_lr, momentum=0.9)
        scheduler = schedule.build(optimizer, total_steps=EPOCHS * 6)
        order = torch.Generator().manual_seed(seed)
        loss = float("inf")
        for epoch in range(EPOCHS):
            for idx in torch.randperm(len(x), generator=order).split(32):
                batch_loss = torch.nn.functional.mse_loss(model(x[idx]), y[idx])
                optimizer.zero_grad()
                batch_loss.backward()
                optimizer.step()
                scheduler.step()
            with torch.no_grad():
                loss = torch.nn.functional.mse_loss(model(xv), yv).item()
            scheduler.epoch_end(-loss)
            trial.report(loss, epoch)
            prune = trial.should_prune()
            if "seed" in trial.user_attrs:
                PRUNE_CHECKS.append((trial.user_attrs["seed"], prune))
            if prune:
                raise optuna.TrialPruned()
        return loss

    return objective


def run_search(storage: str, family: str, trials: int = 6) -> optuna.Study:
    study = optuna.create_study(
        study_name=f"reg-{family}",
        storage=storage,
        direction="minimize",
        sampler=optuna.samplers.RandomSampler(seed=1),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1),
        load_if_exists=True,
    )
    study.optimize(make_objective(family), n_trials=trials)
    return study


@pytest.fixture(scope="module")
def searched_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("own") / "reg.db"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for family in ("cosine", "step"):
        run_search(f"sqlite:///{path}", family)
    return path


@pytest.fixture()
def storage(searched_db, tmp_path):
    """A fresh copy of the searched studies for each test."""
    path = tmp_path / "reg.db"
    shutil.copyfile(searched_db, path)
    return f"sqlite:///{path}"


def test_minimised_single_family_studies_are_one_comparison(storage):
    df, owns = load_own_trials(optuna.storages.get_storage(storage))
    assert [o.name for o in owns] == ["reg-cosine", "reg-step"]
    assert {o.task for o in owns} == {"reg-*"}
    assert all(o.direction == "minimize" and o.space.prefix == "opt_" for o in owns)
    assert owns[0].own_params == ("width",)
    assert set(df["metric"]) == {"objective"} and set(df["metric_direction"]) == {"minimize"}
    done = df[df["state"] == "COMPLETE"].set_index(["study", "number"])["value"]
    stored = {
        (s, t.number): t.value
        for s in ("reg-cosine", "reg-step")
        for t in optuna.load_study(study_name=s, storage=storage).trials
        if t.state.name == "COMPLETE"
    }
    assert {k: -v for k, v in stored.items()} == done.to_dict()  # a loss becomes a score, higher = better
    assert set(df["family"]) == {"cosine", "step"}
    assert set(df["lr_param"].dropna()) == {"opt_lr"}


def test_analyze_then_confirm_then_the_confirmed_verdict(storage, tmp_path, capsys):
    out = tmp_path / "report"
    assert analyze.main(["--storage", storage, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "reg-*: search-only (no fresh seeds):" in printed
    report = (out / "report.md").read_text()
    assert "**minimize** their objective" in report and "scores below are −objective" in report
    assert "**search-only (no fresh seeds):" in report and "rests on search results only" in report
    assert "`width`" in report and "prefix `opt_`" in report
    assert "opt_step_gamma=" not in report and "opt_cosine_final_ratio=" not in report  # not "yours"
    assert "python -m lrtune.analyze --confirm" not in report  # a user's study: lrtune.confirm
    for name in ("expected_max", "best_so_far", "lr_curves", "learning_curves"):
        assert (out / f"{name}_reg.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "confirmations_reg.png").exists()

    PRUNE_CHECKS.clear()
    for family in ("cosine", "step"):
        study = optuna.load_study(study_name=f"reg-{family}", storage=storage)
        confirmations = lrtune.confirm(study, make_objective(family), seeds=3)
    assert confirmations.study_name == "reg-step:confirm"
    runs = confirmations.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert sorted(t.user_attrs["seed"] for t in runs) == [CONFIRM_SEED_BASE + j for j in range(3)]
    best = study.best_trial
    assert all(t.params == best.params and t.user_attrs["source_trial"] == best.number for t in runs)
    # never pruned: should_prune() was asked every epoch and always said no
    assert len(PRUNE_CHECKS) == 2 * 3 * EPOCHS and not any(p for _, p in PRUNE_CHECKS)
    # the same seed reproduces the run: the objective's seed comes from lrtune.trial_seed
    assert len({round(t.value, 12) for t in runs}) == 3

    # resumable: finished seeds are not redone; more seeds add only the missing ones
    lrtune.confirm(study, make_objective("step"), seeds=3)
    assert len(confirmations.trials) == 3
    lrtune.confirm(study, make_objective("step"), seeds=4)
    assert len(optuna.load_study(study_name="reg-step:confirm", storage=storage).trials) == 4

    assert analyze.main(["--storage", storage, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "reg-*: search-only" not in printed and "over fresh seeds (cosine 3, step 4)" in printed
    report = (out / "report.md").read_text()
    assert "search-only" not in report and "over fresh seeds (cosine 3, step 4)" in report
    assert "Confirmation runs (objective (minimised, compared as −objective)):" in report
    assert (out / "confirmations_reg.png").read_bytes()[:4] == b"\x89PNG"
    # the verdict went into the user's study notes (optuna-dashboard)
    from optuna_dashboard import get_note

    note = get_note(optuna.load_study(study_name="reg-cosine", storage=storage))
    assert "fresh seeds" in note and "search-only" not in note


def test_verdict_direction_follows_the_study(tmp_path):
    """A minimised loss and the same numbers maximised give opposite leaders."""
    url = f"sqlite:///{tmp_path / 'dir.db'}"
    values = {"cosine": [1.0, 2.0, 3.0, 4.0, 5.0], "step": [6.0, 7.0, 8.0, 9.0, 10.0]}
    for direction in ("minimize", "maximize"):
        study = optuna.create_study(study_name=f"{direction}", storage=url, direction=direction)
        for family, vals in values.items():
            for v in vals:
                study.add_trial(_joint_trial(family, v))
    df, owns = load_own_trials(optuna.storages.get_storage(url))
    report = write_own_report(df, owns, tmp_path / "r", storage_label="test")
    assert report.verdicts["minimize"].leading_group[0] == "cosine"
    assert report.verdicts["maximize"].leading_group[0] == "step"
    # the one pipeline with what such a study lacks: no reported epochs (best so far against
    # trials run), no learning curves, no stored LR curve (rebuilt from the params)
    figures = {p.name for p in report.figures}
    assert {"best_so_far_minimize.png", "lr_curves_minimize.png", "expected_max_minimize.png"} <= figures
    assert "learning_curves_minimize.png" not in figures
    text = report.path.read_text()
    assert "search-only (no fresh seeds): " in text and "lrtune.confirm(study, objective, seeds=5)" in text
    assert "| family | n_complete | best_val | median_val | best_trial | best_lr | best schedule |" in text


def _joint_trial(family: str, value: float) -> optuna.trial.FrozenTrial:
    space = lrtune.search_space(["cosine", "step"])
    params = {"family": family, "lr": 0.1, "warmup_frac": 0.0}
    params.update(
        {
            "cosine": {"cosine_final_ratio": 0.01},
            "step": {"step_n_drops": 1, "step_drop_start": 0.5, "step_gamma": 0.1},
        }[family]
    )
    return optuna.trial.create_trial(params=params, distributions={k: space[k] for k in params}, value=value)


def test_a_study_without_lrtune_parameters_is_one_line_and_exit_2(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    study = optuna.create_study(study_name="plain", storage=url)
    study.optimize(lambda t: t.suggest_float("lr", 1e-3, 1.0) ** 2, n_trials=2)
    before = (tmp_path / "plain.db").read_bytes()
    assert analyze.main(["--storage", url, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no study used lrtune's search spaces" in err
    assert "'<prefix>lr'" in err and "studies: plain" in err
    assert (tmp_path / "plain.db").read_bytes() == before


def test_prefix_picks_one_of_two_spaces(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'two.db'}"
    study = optuna.create_study(study_name="two", storage=url, direction="maximize")

    def objective(trial):
        a = lrtune.suggest_schedule(trial, ["cosine", "step"], prefix="enc_")
        lrtune.suggest_schedule(trial, "wsd", prefix="dec_")
        return a.peak_lr

    study.optimize(objective, n_trials=6)
    assert analyze.main(["--storage", url, "--out", str(tmp_path / "r"), "--no-notes"]) == 2
    assert "pick one with prefix= (--prefix)" in capsys.readouterr().err
    assert analyze.main(["--storage", url, "--out", str(tmp_path / "r"), "--prefix", "enc_", "--no-notes"]) == 0
    assert "`dec_lr`" in (tmp_path / "r" / "report.md").read_text()  # the other space: not ours


def test_confirm_refuses_bad_input(storage):
    study = optuna.load_study(study_name="reg-cosine", storage=storage)
    with pytest.raises(ValueError, match="seeds must be an integer ≥ 1"):
        lrtune.confirm(study, make_objective("cosine"), seeds=0)
    with pytest.raises(ValueError, match="no COMPLETE trial of step"):
        lrtune.confirm(study, make_objective("cosine"), seeds=1, families=["step"])
    plain = optuna.create_study()
    plain.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    with pytest.raises(ValueError, match="no lrtune schedule parameters"):
        lrtune.confirm(plain, lambda t: 0.0)


def test_analyze_confirm_flag_points_own_studies_to_lrtune_confirm(storage, tmp_path, capsys):
    assert analyze.main(["--storage", storage, "--confirm", "3", "--out", str(tmp_path)]) == 2
    assert "lrtune.confirm(study, objective, seeds=3)" in capsys.readouterr().err


def test_trial_seed():
    assert lrtune.trial_seed(optuna.trial.FixedTrial({})) == 0
    assert lrtune.trial_seed(optuna.trial.FixedTrial({}), default=7) == 7
    study = optuna.create_study()
    study.enqueue_trial({}, user_attrs={"seed": 123})
    trial = study.ask()
    assert lrtune.trial_seed(trial) == 123
    assert lrtune.trial_seed(study.ask()) == 1


def test_lrtune_confirm_stays_callable_after_importing_the_confirm_module():
    """``lrtune.confirm`` is the function; lrtune's own confirmation module has another name
    (``lrtune.tuning.confirmations``), so importing it rebinds nothing."""
    importlib.import_module("lrtune.tuning.confirmations")
    package = sys.modules["lrtune"]
    assert callable(package.confirm) and package.confirm.__module__ == "lrtune.tuning.own_confirm"
    with pytest.raises(ValueError, match="seeds must be an integer ≥ 1"):
        package.confirm(optuna.create_study(), lambda t: 0.0, seeds=0)
    assert (
        "confirm" in package.__all__
        and package.tuning.own_confirm.confirm.__module__ == "lrtune.tuning.own_confirm"
    )


def test_a_storage_with_both_kinds_analyses_the_named_own_study(storage, tmp_path, capsys):
    """lrtune's own studies are the default; --study names a user's study next to them."""
    from lrtune.tuning.config import TaskConfig

    s = optuna.create_study(study_name="digits-mlp-cosine", storage=storage, direction="maximize")
    s.set_user_attr("lrtune_config", {**TaskConfig(dataset="digits").to_dict(), "family": "cosine"})
    s.set_user_attr("lrtune_family", "cosine")
    assert analyze.main(["--storage", storage, "--out", str(tmp_path / "a"), "--no-notes"]) == 2
    assert "lrtune studies hold no trials yet" in capsys.readouterr().err  # lrtune's path
    assert (
        analyze.main(
            [
                "--storage",
                storage,
                "--study",
                "reg-cosine",
                "--study",
                "reg-step",
                "--out",
                str(tmp_path / "b"),
                "--no-notes",
            ]
        )
        == 0
    )
    assert "  reg-*: search-only (no fresh seeds):" in capsys.readouterr().out
