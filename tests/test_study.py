"""``python -m lrtune.study`` in-process on temporary SQLite files."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import optuna
import pytest

from lrtune import study as study_cli
from lrtune.study import main, open_family_study, parse_configs
from lrtune.tuning.config import TaskConfig

optuna.logging.set_verbosity(optuna.logging.WARNING)

SMOKE = ["--dataset", "digits", "--epochs", "4", "--batch-size", "64", "--no-progress"]


def storage_of(tmp_path: Path, name: str = "lrtune.db") -> str:
    return f"sqlite:///{tmp_path / name}"


def run(tmp_path: Path, *args: str, storage: str | None = None) -> int:
    return main(
        [
            *SMOKE,
            "--storage",
            storage or storage_of(tmp_path),
            "--artifact-dir",
            str(tmp_path / "artifacts"),
            *args,
        ]
    )


@pytest.mark.slow
def test_study_stores_complete_and_pruned_trials(tmp_path, capsys):
    assert run(tmp_path, "--family", "cosine", "--trials", "10") == 0
    out = capsys.readouterr().out
    assert "best val" in out and "cosine" in out

    storage = storage_of(tmp_path)
    study = optuna.load_study(study_name="digits-mlp-cosine", storage=storage)
    states = {t.state for t in study.trials}
    assert states == {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    assert study.user_attrs["lrtune_config"]["epochs"] == 4
    assert study.user_attrs["lrtune_family"] == "cosine"
    assert study.user_attrs["lrtune_task"] == "digits/mlp/4ep/sgd"
    for trial in study.trials:
        assert trial.intermediate_values and all(math.isfinite(v) for v in trial.intermediate_values.values())
        assert {"family", "test_accuracy", "epochs_run", "seconds", "diverged", "lr_curve"} <= set(
            trial.user_attrs
        )
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert sorted(trial.intermediate_values) == [1, 2, 3, 4] and math.isfinite(trial.value)
        else:
            assert trial.user_attrs["epochs_run"] < 4
    assert max(t.value for t in study.trials if t.value is not None) > 0.9
    # nothing NaN anywhere in the database
    with sqlite3.connect(tmp_path / "lrtune.db") as conn:
        for table, column in [("trial_values", "value"), ("trial_intermediate_values", "intermediate_value")]:
            assert (
                conn.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE {column} IS NULL OR {column} != {column}"
                ).fetchone()[0]
                == 0
            )


def test_several_families_are_interleaved_and_resume(tmp_path):
    assert run(tmp_path, "--family", "constant,onecycle", "--trials", "2") == 0
    storage = storage_of(tmp_path)
    names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage))
    assert names == ["digits-mlp-constant", "digits-mlp-onecycle"]
    # resuming with a higher target adds only the missing trials
    assert run(tmp_path, "--family", "constant,onecycle", "--trials", "3") == 0
    for name in names:
        assert len(optuna.load_study(study_name=name, storage=storage).trials) == 3
    # the same command again has nothing left to do
    assert run(tmp_path, "--family", "constant,onecycle", "--trials", "3") == 0
    assert len(optuna.load_study(study_name=names[0], storage=storage).trials) == 3


def test_different_configuration_under_the_same_name_is_refused(tmp_path, capsys):
    assert run(tmp_path, "--family", "constant", "--trials", "1") == 0
    before = (tmp_path / "lrtune.db").read_bytes()
    capsys.readouterr()
    assert (
        main(
            [
                *SMOKE[:2],
                "--epochs",
                "5",
                "--family",
                "constant",
                "--trials",
                "1",
                "--no-progress",
                "--storage",
                storage_of(tmp_path),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "different configuration" in err and "epochs: 4 → 5" in err and "\n" not in err
    assert (tmp_path / "lrtune.db").read_bytes() == before
    # a new study name is the way to run the other configuration
    assert (
        main(
            [
                *SMOKE[:2],
                "--epochs",
                "5",
                "--family",
                "constant",
                "--trials",
                "1",
                "--no-progress",
                "--storage",
                storage_of(tmp_path),
                "--study-name",
                "five-epochs",
                "--no-artifacts",
            ]
        )
        == 0
    )


def test_preset_is_read_and_flags_override_it(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text('dataset = "digits"\nepochs = 2\ntrials = 1\nfamily = ["constant"]\nbatch_size = 64\n')
    assert (
        main(
            [
                "--config",
                str(preset),
                "--storage",
                storage_of(tmp_path),
                "--no-progress",
                "--epochs",
                "3",
                "--no-artifacts",
            ]
        )
        == 0
    )
    study = optuna.load_study(study_name="digits-mlp-constant", storage=storage_of(tmp_path))
    assert study.user_attrs["lrtune_config"]["epochs"] == 3 and len(study.trials) == 1


def test_shipped_presets_are_valid():
    from lrtune.tuning.config import RunConfig, TaskConfig, load_preset, split_values

    presets = sorted((Path(__file__).resolve().parent.parent / "studies").glob("*.toml"))
    assert {p.name for p in presets} >= {
        "mnist1d-cnn1d.toml",
        "digits-mlp.toml",
        "mnist-mlp.toml",
        "fashion-mnist-cnn.toml",
        "cifar10-resnet.toml",
    }
    for preset in presets:
        task_kwargs, run_kwargs = split_values(load_preset(preset))
        TaskConfig(**task_kwargs), RunConfig(**run_kwargs)


BAD_INPUTS = [
    (["--family", "cosinus"], "unknown schedule family 'cosinus'; valid families: constant, step"),
    (["--dataset", "imagenet"], "unknown dataset 'imagenet'; valid: mnist1d, digits"),
    (["--model", "transformer"], "unknown model 'transformer'; valid: mlp, cnn1d"),
    (["--sampler", "grid"], "unknown sampler 'grid'; valid: tpe, random, qmc, cmaes, gp"),
    (["--pruner", "wilcoxon"], "unknown pruner 'wilcoxon'; valid: median, hyperband, none"),
    (["--optimizer", "lion"], "unknown optimizer 'lion'; valid: sgd, adamw"),
    (["--epochs", "0"], "epochs must be an integer ≥ 1, but got 0"),
    (["--epochs", "-3"], "epochs must be an integer ≥ 1, but got -3"),
    (["--trials", "0"], "trials must be an integer ≥ 1, but got 0"),
    (["--batch-size", "0"], "batch_size must be an integer ≥ 1, but got 0"),
    (["--lr-range", "0,1"], "lr_range must satisfy 0 < LOW ≤ HIGH, but got (0.0, 1.0)"),
    (["--lr-range", "1,0.1"], "lr_range must satisfy 0 < LOW ≤ HIGH"),
    (["--lr-range", "fast"], "must be LOW,HIGH"),
    (["--epochs", "many"], "argument --epochs: invalid int value: 'many'"),
    (["--storage", "sqlite:/nowhere"], "malformed"),
    (["--storage", "redis://localhost/0"], "unknown storage scheme 'redis'"),
    (["--storage", "studies.db"], "malformed storage URL 'studies.db'"),
    (["--config", "/nonexistent/preset.toml"], "preset '/nonexistent/preset.toml' not found"),
    (["--device", "tpu"], "unknown device 'tpu'; valid: auto, cpu, cuda, mps"),
    (["--bogus-flag"], "unrecognized arguments: --bogus-flag"),
]


@pytest.mark.parametrize("args,message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_creates_nothing(tmp_path, capsys, args, message):
    db = tmp_path / "lrtune.db"
    argv = ["--dataset", "digits", "--storage", f"sqlite:///{db}", *args]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert message in err, err
    assert err.count("\n") == 0 and "Traceback" not in captured.err + captured.out
    assert not db.exists()


def test_unreadable_preset(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = [unclosed\n")
    assert main(["--config", str(bad), "--storage", storage_of(tmp_path)]) == 2
    assert "is not valid TOML" in capsys.readouterr().err
    bad.write_text('epochs = "ten"\n')
    assert main(["--config", str(bad), "--storage", storage_of(tmp_path)]) == 2
    assert "epochs must be an integer, but got 'ten'" in capsys.readouterr().err
    bad.write_text("epoch = 10\n")
    assert main(["--config", str(bad), "--storage", storage_of(tmp_path)]) == 2
    assert "unknown key 'epoch'; valid keys:" in capsys.readouterr().err
    assert not (tmp_path / "lrtune.db").exists()


def test_missing_torchvision_dataset_is_one_line(tmp_path, capsys):
    assert (
        main(["--dataset", "mnist", "--data-dir", str(tmp_path / "nodata"), "--storage", storage_of(tmp_path)])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "mnist" in err and "--download" in err and err.count("\n") == 0
    assert not (tmp_path / "lrtune.db").exists()


# ------------------------------------------------------------- studies written by an older lrtune

OLD_STUDIES = json.loads((Path(__file__).parent / "tuning" / "data" / "main_de70794_studies.json").read_text())[
    "studies"
]


def _old_storage(url: str, names) -> None:
    """The studies as lrtune main de70794 stored them (direction and user attrs; no trials)."""
    for name in names:
        stored = OLD_STUDIES[name]
        created = optuna.create_study(study_name=name, storage=url, direction=stored["direction"])
        for key, value in stored["user_attrs"].items():
            created.set_user_attr(key, value)


@pytest.mark.parametrize("name", sorted(OLD_STUDIES))
def test_a_study_stored_by_an_older_lrtune_is_read_as_before(tmp_path, monkeypatch, name) -> None:
    """Today's options, parsed from the argv that created the study, give exactly its stored
    configuration and task label, so the same command resumes it."""
    from lrtune.tuning.assembly import assemble_for_run

    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # presets and examples/, as it was run
    stored = OLD_STUDIES[name]["user_attrs"]
    config = dict(stored["lrtune_config"])
    family = config.pop("family")
    assert TaskConfig.from_dict(config).to_dict() == config
    task, run, _ = parse_configs(OLD_STUDIES[name]["argv"])
    assembled, run = assemble_for_run(task, run, "cpu")
    task = assembled.config
    assert {**task.to_dict(), "family": family} == stored["lrtune_config"]
    assert task.task == stored["lrtune_task"] and run.study_name_for(task, family) == name
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _old_storage(url, [name])
    resumed, created = open_family_study(optuna.storages.RDBStorage(url), name, task, family)
    assert not created and resumed.direction.name.lower() == OLD_STUDIES[name]["direction"]


@pytest.mark.slow
def test_the_same_command_resumes_a_study_of_an_older_lrtune(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    url = f"sqlite:///{tmp_path / 'old.db'}"
    names = ["adamw-step", "examples.my_task.make_task_by_loss-Sequential-wsd"]
    _old_storage(url, names)
    for name in names:
        argv = list(OLD_STUDIES[name]["argv"])
        assert study_cli.main([*argv, "--storage", url]) == 0
        assert len(optuna.load_study(study_name=name, storage=url).trials) == 1
    assert len(optuna.get_all_study_summaries(url)) == 2  # resumed, none created beside them
