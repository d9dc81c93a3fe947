"""The horizon check end to end: search → --confirm K --horizon M → report with both verdicts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import optuna
import pandas as pd
import pytest

from lrtune import stats
from lrtune.analyze import main as analyze_main
from lrtune.report import horizon, load_trials, verdicts_by_task
from lrtune.report.plots import slug
from lrtune.study import main as study_main
from lrtune.tuning.confirmations import CONFIRM_SEED_BASE, confirm_study_name, run_confirmations

optuna.logging.set_verbosity(optuna.logging.WARNING)

FAMILIES = ("schedulefree", "cosine", "onecycle")
EPOCHS = 2


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> tuple[str, Path]:
    db = tmp_path_factory.mktemp("horizon") / "h.db"
    storage = f"sqlite:///{db}"
    assert (
        study_main(
            [
                "--dataset",
                "digits",
                "--epochs",
                str(EPOCHS),
                "--batch-size",
                "128",
                "--family",
                ",".join(FAMILIES),
                "--trials",
                "8",
                "--storage",
                storage,
                "--no-progress",
                "--no-artifacts",
            ]
        )
        == 0
    )
    return storage, db


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_confirm_then_horizon_end_to_end(searched, tmp_path, capsys):
    storage, db = searched
    out = tmp_path / "report"
    assert analyze_main(["--storage", storage, "--confirm", "3", "--horizon", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "at 2x the epochs:" in printed

    stored = optuna.load_study(study_name=confirm_study_name("digits-mlp-cosine", 2), storage=storage)
    assert stored.user_attrs["lrtune_kind"] == "horizon" and stored.user_attrs["lrtune_horizon"] == 2
    assert len(stored.trials) == 3
    for trial in stored.trials:  # 2x the epochs, unpruned, the confirmation seeds
        assert sorted(trial.intermediate_values) == list(range(1, 2 * EPOCHS + 1))
        assert trial.user_attrs["epochs_run"] == 2 * EPOCHS
        assert trial.user_attrs["seed"] - CONFIRM_SEED_BASE in (0, 1, 2)

    df = load_trials(storage)
    assert horizon.horizons(df) == [2]
    one = load_trials(storage, studies=["digits-mlp-cosine"])  # its companions come along
    assert set(one["study"]) == {"digits-mlp-cosine", "digits-mlp-cosine:confirm", "digits-mlp-cosine:confirm@x2"}
    assert set(one.loc[one["kind"] == "horizon", "horizon"]) == {2}
    assert set(one.loc[one["kind"] != "horizon", "horizon"]) == {1}
    assert set(df.loc[df["kind"] == "horizon", "family"]) == set(FAMILIES)
    # the tuning-horizon verdict reads only the 1x runs; the horizon verdict only the 2x runs
    v1 = verdicts_by_task(df)
    v2 = horizon.horizon_verdicts(df, 2)
    task = next(iter(v1))
    assert v1[task] is not None and v2[task] is not None
    table = horizon.accuracy_by_horizon(df)
    assert sorted(set(table["horizon"])) == [1, 2]
    assert set(table.loc[table["horizon"] == 2, "epochs"]) == {2 * EPOCHS}
    assert (table["seeds"] == 3).all()

    report = (out / "report.md").read_text()
    assert "### Horizon check" in report
    assert f"At {2 * EPOCHS} epochs (2×)" in report
    assert (out / f"horizon_{slug(task)}.png").is_file()
    sentence = horizon.change_sentence(v1[task], v2[task], epochs=EPOCHS, horizon=2)
    assert sentence in report

    # asking again reuses every stored run (nothing is re-trained, the report is byte-identical)
    before = _digest(out / "report.md")
    runs = run_confirmations(storage, k=3, horizon=2)
    assert runs and all(r.reused for r in runs)
    assert (
        analyze_main(["--storage", storage, "--confirm", "3", "--horizon", "2", "--out", str(out), "--no-notes"])
        == 0
    )
    assert _digest(out / "report.md") == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--confirm", "3", "--horizon", "0"], "--horizon 0 must be an integer multiple >= 2"),
        (["--confirm", "3", "--horizon", "1"], "--horizon 1 must be an integer multiple >= 2"),
        (["--horizon", "2"], "--horizon 2 needs --confirm K"),
    ],
)
def test_bad_horizon_is_one_line_and_touches_nothing(searched, capsys, argv, message):
    storage, db = searched
    before = _digest(db)
    assert analyze_main(["--storage", storage, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lrtune.analyze: error: ") and message in err and "\n" not in err
    assert _digest(db) == before


def test_run_confirmations_rejects_a_bad_horizon(searched):
    storage, _ = searched
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="horizon must be an integer"):
            run_confirmations(storage, k=1, horizon=bad)


def _verdict(winner, group):
    return stats.Verdict(winner=winner, leading_group=list(group), text="", comparisons=pd.DataFrame(), budget="")


@pytest.mark.parametrize(
    "v1, vm, expected",
    [
        (
            _verdict("cosine", ["cosine"]),
            _verdict("cosine", ["cosine"]),
            "The winner holds: cosine wins at 15 epochs and at 45 epochs.",
        ),
        (
            _verdict("cosine", ["cosine"]),
            _verdict("wsd", ["wsd"]),
            "**The winner changes**: cosine wins at 15 epochs, wsd wins at 45 epochs.",
        ),
        (
            _verdict("cosine", ["cosine"]),
            _verdict(None, ["wsd", "cosine"]),
            "**cosine's win at 15 epochs does not hold at 45 epochs**",
        ),
        (_verdict(None, ["cosine", "wsd"]), _verdict("wsd", ["wsd"]), "at 45 epochs **wsd wins**"),
        (
            _verdict(None, ["cosine", "wsd"]),
            _verdict(None, ["wsd", "cosine"]),
            "**the leader changes** from cosine at 15 epochs to wsd at 45 epochs",
        ),
        (
            _verdict(None, ["cosine", "wsd"]),
            _verdict(None, ["cosine", "wsd"]),
            "Inconclusive at both horizons; cosine leads",
        ),
        (None, _verdict("wsd", ["wsd"]), "No comparison"),
    ],
)
def test_change_sentence_says_plainly_whether_the_winner_changes(v1, vm, expected):
    assert expected in horizon.change_sentence(v1, vm, epochs=15, horizon=3)
