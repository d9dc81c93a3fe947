"""lrtune.tuning.runner: trial counts, the best trial in the study's direction, the summary table."""

from __future__ import annotations

import math

import optuna
import pytest

from lrtune.core.spaces import search_space
from lrtune.tuning.runner import counted_trials, finished_trials, format_summary, summary_rows, waiting_trials

optuna.logging.set_verbosity(optuna.logging.WARNING)


def study_with(direction: str, values: list[float]) -> optuna.Study:
    study = optuna.create_study(direction=direction)
    for i, v in enumerate(values):
        study.add_trial(
            optuna.trial.create_trial(
                params={"lr": 0.01 * (i + 1), "warmup_frac": 0.0, "cosine_final_ratio": 0.01},
                distributions=search_space("cosine"),
                value=v,
                user_attrs={"test_accuracy": v / 2, "seconds": 1.5},
            )
        )
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, intermediate_values={1: 0.0}))
    study.enqueue_trial({})
    return study


def test_counts() -> None:
    study = study_with("maximize", [0.5, 0.7])
    assert finished_trials(study) == 3 and waiting_trials(study) == 1 and counted_trials(study) == 4


@pytest.mark.parametrize(("direction", "best"), [("maximize", 0.7), ("minimize", 0.2)])
def test_best_follows_the_study_direction(direction: str, best: float) -> None:
    (row,) = summary_rows({"cosine": study_with(direction, [0.5, 0.7, 0.2])})
    assert row["best_val"] == best and row["test_of_best"] == best / 2
    assert (row["complete"], row["pruned"], row["seconds"]) == (3, 1, 4.5)
    assert row["best_params"].startswith("peak LR")


def test_summary_lists_the_best_family_first_in_either_direction() -> None:
    for direction, first in (("maximize", "step"), ("minimize", "cosine")):
        rows = summary_rows({"cosine": study_with(direction, [0.3]), "step": study_with(direction, [0.6])})
        rows[1]["best_params"] = rows[0]["best_params"]  # the table is about order, not parameters
        table = format_summary(rows).splitlines()
        assert table[0].split()[:3] == ["family", "best", "val"]
        assert table[2].split()[0] == first


def test_a_family_without_complete_trials_goes_last() -> None:
    empty = optuna.create_study()
    rows = summary_rows({"empty": empty, "cosine": study_with("maximize", [0.4])})
    assert math.isnan(rows[0]["best_val"])
    assert format_summary(rows).splitlines()[-1].split()[0] == "empty"


def test_the_summary_names_a_metric_other_than_accuracy(capsys) -> None:
    from lrtune.tuning.runner import print_summary

    loss = study_with("minimize", [0.3])
    loss.set_user_attr("lrtune_config", {"metric": "loss", "direction": "minimize"})
    print_summary(summary_rows({"cosine": loss}), "sqlite:///x.db", 1.0)
    assert capsys.readouterr().out.startswith("scores: validation/test loss, lower is better\nfamily")
    print_summary(summary_rows({"cosine": study_with("maximize", [0.3])}), "sqlite:///x.db", 1.0)
    assert capsys.readouterr().out.startswith("family")
