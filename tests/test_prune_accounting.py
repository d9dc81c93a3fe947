"""lrtune.prune_accounting: replay a pruned search unpruned; policies replayed on the same trials."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from lrtune import prune_accounting as pa

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.slow
def test_replay_of_a_real_search(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    args = [
        "--family",
        "cosine,step",
        "--trials",
        "8",
        "--storage",
        url,
        "--study-args",
        "--dataset digits --epochs 4 --batch-size 128 --sampler random --lr-range 1e-4,3 --no-progress",
    ]
    assert pa.main(args) == 0
    out = capsys.readouterr().out
    assert "| cosine | as run | 8 |" in out and "| step | median-legacy | 8 |" in out
    assert "note:" not in out  # replays reproduce the pruned runs; the replayed rule reproduces the search
    pruned = replayed = 0
    for family in ("cosine", "step"):
        search = optuna.load_study(study_name=f"digits-mlp-{family}", storage=url)
        replay = optuna.load_study(study_name=f"digits-mlp-{family}:unpruned", storage=url)
        pruned += sum(t.state == optuna.trial.TrialState.PRUNED for t in search.trials)
        replayed += len(replay.trials)
        assert all(len(t.intermediate_values) == 4 for t in replay.trials)
        assert "lrtune_config" not in replay.user_attrs  # never mistaken for a search
    assert replayed == pruned > 0
    assert pa.main([*args, "--no-search"]) == 0  # stored replays are reused
    assert len(optuna.load_study(study_name="digits-mlp-cosine:unpruned", storage=url).trials) <= pruned
    assert pa.main(["--family", "bogus"]) == 2
    assert "valid: constant" in capsys.readouterr().err
    missing = tmp_path / "missing.db"
    assert pa.main(["--storage", f"sqlite:///{missing}", "--no-search"]) == 2 and not missing.exists()


ROOT = Path(__file__).resolve().parents[1]  # examples/ is importable from here, as for python -m


def _account(url: str, study_args: str, *, family: str = "cosine", trials: int = 7, extra=()) -> int:
    return pa.main(
        ["--family", family, "--trials", str(trials), "--storage", url, "--study-args", study_args, *extra]
    )


def _replays(url: str, name: str) -> tuple[optuna.Study, optuna.Study]:
    return optuna.load_study(study_name=name, storage=url), optuna.load_study(
        study_name=f"{name}:unpruned", storage=url
    )


WILD = "--epochs 3 --sampler random --lr-range 1e-4,3 --no-progress"  # some trials diverge and are pruned


@pytest.mark.slow
@pytest.mark.parametrize("task", ["make_task", "make_task_by_loss"])
def test_a_user_task_search_is_accounted_in_its_own_metric(tmp_path, capsys, monkeypatch, task):
    monkeypatch.chdir(ROOT)
    url = f"sqlite:///{tmp_path / 'u.db'}"
    assert _account(url, f"--task examples.my_task:{task} {WILD}") == 0
    out = capsys.readouterr().out
    assert "| cosine | as run | 7 |" in out and "replays differ" not in out
    assert ("drop (loss)" in out) == (task == "make_task_by_loss")
    search, replay = _replays(url, f"examples.my_task.{task}-{search_model(url)}-cosine")
    pruned = [t for t in search.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert len(replay.trials) == len(pruned) > 0
    assert replay.direction == search.direction
    for again in replay.trials:  # the replay reports what the search reported: the task's metric
        source = search.trials[again.user_attrs["source_trial"]]
        assert again.intermediate_values[1] == pytest.approx(source.intermediate_values[1], abs=1e-6)
        assert ("metric" in again.user_attrs) == (task == "make_task_by_loss")


def search_model(url: str) -> str:
    (summary,) = [s for s in optuna.get_all_study_summaries(url) if not s.study_name.endswith(":unpruned")]
    return summary.user_attrs["lrtune_config"]["model"]


@pytest.mark.slow
def test_a_hyperband_search_is_accounted(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    assert _account(url, f"--dataset digits --pruner hyperband {WILD}") == 0
    out = capsys.readouterr().out
    assert "| cosine | as run | 7 |" in out and "| cosine | median-decay | 7 |" in out
    assert "note:" not in out  # Hyperband is not expected to match the replayed median rule
    search, replay = _replays(url, "digits-mlp-cosine")
    assert search.user_attrs["lrtune_config"]["pruner"] == "hyperband"
    assert len(replay.trials) == sum(t.state == optuna.trial.TrialState.PRUNED for t in search.trials)


@pytest.mark.slow
def test_a_search_of_stacked_groups_is_accounted(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    assert _account(url, f"--dataset digits --fuse 3 {WILD}", trials=9) == 0
    out = capsys.readouterr().out
    assert "| cosine | as run | 9 |" in out
    search, replay = _replays(url, "digits-mlp-cosine")
    assert len({t.user_attrs["fuse_group"] for t in search.trials}) == 3  # it ran in stacked groups
    pruned = [t for t in search.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert len(replay.trials) == len(pruned)
    for again in replay.trials:  # a stacked member's replay, trained alone, reproduces its epochs
        source = search.trials[again.user_attrs["source_trial"]]
        for epoch, value in source.intermediate_values.items():
            assert again.intermediate_values[epoch] == pytest.approx(value, abs=1e-5)


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    cases = [
        ["--family", "cosine,nope", "--storage", url],
        ["--family", "cosine", "--trials", "0", "--storage", url],
        ["--family", "cosine", "--storage", url, "--study-args", "--dataset nope"],
        ["--family", "cosine", "--storage", url, "--study-args", "--workers 2"],
        ["--family", "cosine", "--storage", url, "--no-search"],
        ["--family", "cosine", "--storage", url, "--policy", "never"],
        ["--family", "cosine", "--storage", url, "--study-args", "--task examples.nope:make_task"],
    ]
    for argv in cases:
        assert pa.main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("lrtune.prune_accounting: error:") and "\n" not in err, err
    assert not (tmp_path / "x.db").exists()
