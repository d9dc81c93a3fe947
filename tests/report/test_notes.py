"""lrtune.report.notes: study/trial notes and LR-curve artifacts, read back through optuna-dashboard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna_dashboard import get_note, save_note
from wsgi_client import PNG_MAGIC, DashboardClient, attrs_dict, check_lrtune_study, make_demo_study

from lrtune.report import notes
from lrtune.tuning.storage import sqlite_file

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def storage_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'studies' / 'lrtune.db'}"


@pytest.fixture
def artifact_store(storage_url: str):
    (Path(sqlite_file(storage_url)).parent).mkdir(parents=True, exist_ok=True)
    return notes.artifact_store_for(storage_url)


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data.startswith(PNG_MAGIC)
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# --------------------------------------------------------------------------- markdown


def test_study_note_has_task_formula_space_pruner_and_chart_guide() -> None:
    config = {"dataset": "mnist1d", "model": "cnn1d", "epochs": 20, "optimizer": "sgd", "seed": 3}
    space = {
        "lr": FloatDistribution(1e-3, 1.0, log=True),
        "step_n_drops": IntDistribution(1, 3),
        "wsd_decay_shape": CategoricalDistribution(["linear", "1-sqrt", "cosine"]),
    }
    md = notes.study_note_markdown(config, "step", "γ^(drops passed)", space, "median", "tpe (seed=3)")
    assert "`mnist1d/cnn1d/20ep/sgd`" in md
    assert "γ^(drops passed)" in md
    assert "| `lr` | peak learning rate" in md and "| 0.001 … 1 | log |" in md
    assert "| `step_n_drops` | number of LR drops | int | 1 … 3 | linear |" in md
    assert "one of linear, 1-sqrt, cosine" in md
    assert "**pruner:** median" in md and "**sampler:** tpe (seed=3)" in md
    assert "validation accuracy after epoch" in md
    assert (
        "never before half the epochs (epoch 10 of 20) and never at the final epoch" in md
        and "biased against" in md
    )
    assert "lr_curve_trial<N>.png" in md


def test_study_note_without_pruner_says_so() -> None:
    md = notes.study_note_markdown({"epochs": 5}, "constant", "m = 1", {}, "none", "random")
    assert "No pruning" in md and "biased against" not in md
    assert "No tuned parameters" in md


@pytest.mark.parametrize(
    ("name", "meaning"),
    [
        ("lr", "peak learning rate"),
        ("my_cosine_final_ratio", "final LR / peak LR"),
        ("onecycle_final_div_factor", "final LR = starting LR"),
        ("onecycle_div_factor", "starting LR = peak"),
        ("plateau_factor", "LR multiplier after a plateau"),
        ("unknown_thing", ""),
    ],
)
def test_parameter_meaning_strips_prefixes_longest_match_wins(name: str, meaning: str) -> None:
    assert notes.parameter_meaning(name).startswith(meaning)


def test_describe_distribution() -> None:
    stepped = FloatDistribution(0.0, 0.5, step=0.1)
    assert notes.describe_distribution(stepped) == ("float", "0 … 0.5", "linear, step 0.1")
    assert notes.describe_distribution(IntDistribution(2, 64, log=True)) == ("int", "2 … 64", "log")
    assert notes.describe_distribution(CategoricalDistribution([1, 2])) == ("categorical", "one of 1, 2", "—")


def test_trial_note_markdown_puts_parameters_in_words() -> None:
    md = notes.trial_note_markdown(
        "cosine", {"lr": 0.031234, "cosine_final_ratio": 0.001}, description="Cosine decay to 0.1 % of the peak."
    )
    assert md.startswith("### `cosine` schedule")
    assert "Cosine decay to 0.1 % of the peak." in md
    assert "- `lr` = **0.03123** — peak learning rate" in md
    assert "- `cosine_final_ratio` = **0.001** — final LR / peak LR" in md


# --------------------------------------------------------------------------- study note + verdict


def test_verdict_replaces_previous_verdict_and_survives_a_new_base(storage_url: str, artifact_store) -> None:
    study = optuna.create_study(storage=storage_url, study_name="v", direction="maximize")
    notes.write_study_note(study, "# base note\n\nsome text")
    first = notes.append_verdict_to_note(study, "cosine wins (P = 0.9)")
    second = notes.append_verdict_to_note(study, "inconclusive: {cosine, wsd} lead")
    body = get_note(study)
    assert body == second != first
    assert body.count("# base note") == 1 and body.count(notes.VERDICT_HEADING) == 1
    assert "inconclusive" in body and "cosine wins" not in body
    assert body.index("# base note") < body.index(notes.VERDICT_HEADING)
    assert "0 finished trials" in body
    notes.write_study_note(study, "# base note v2")  # e.g. a resumed study rewrites its base note
    body = get_note(study)
    assert body.startswith("# base note v2") and "inconclusive" in body and "some text" not in body
    notes.write_study_note(study, "# base note v3", keep_verdict=False)
    assert get_note(study) == "# base note v3\n"


def test_verdict_on_a_study_without_note(storage_url: str, artifact_store) -> None:
    study = optuna.create_study(storage=storage_url, study_name="v")
    note = notes.append_verdict_to_note(study, "x")
    assert note.startswith(notes.VERDICT_HEADING) and get_note(study) == note


def test_long_study_note_round_trips(storage_url: str, artifact_store) -> None:
    """Notes over 2045 characters are split across system attrs by optuna-dashboard."""
    study = optuna.create_study(storage=storage_url, study_name="long")
    base = "# base\n\n" + "lorem ipsum " * 500
    notes.write_study_note(study, base)
    notes.append_verdict_to_note(study, "v " * 2000)
    notes.append_verdict_to_note(study, "short")
    body = get_note(study)
    assert body.startswith(base.rstrip()) and body.rstrip().endswith("short")


# --------------------------------------------------------------------------- trial note + artifact


def test_render_lr_curve_png(tmp_path: Path) -> None:
    steps = np.arange(0, 1000, 5)
    path = notes.render_lr_curve_png(steps, 0.1 * (1 - steps / 1000), "t", tmp_path / "c.png")
    assert _png_size(path.read_bytes()) == (320, 240)
    with pytest.raises(ValueError, match="equal length"):
        notes.render_lr_curve_png(steps, steps[:-1], "t", tmp_path / "x.png")
    with pytest.raises(ValueError, match="finite"):
        notes.render_lr_curve_png([0, 1], [0.1, float("nan")], "t", tmp_path / "x.png")
    notes.render_lr_curve_png([0], [0.0], "single point, zero LR", tmp_path / "z.png")  # no division by 0


def test_trial_note_and_artifact_only_while_the_trial_runs(storage_url: str, artifact_store) -> None:
    study = optuna.create_study(storage=storage_url, study_name="live")
    trial = study.ask()
    artifact_id = notes.attach_lr_curve(trial, artifact_store, np.arange(10), np.linspace(1, 0, 10), "t")
    notes.write_trial_note(trial, "first")
    notes.write_trial_note(trial, "second")  # a rewrite replaces the note
    assert get_note(trial) == "second"
    study.tell(trial, 1.0)
    with artifact_store.open_reader(artifact_id) as f:
        assert f.read(8) == PNG_MAGIC
    with pytest.raises(RuntimeError):  # optuna's UpdateFinishedTrialError
        notes.attach_lr_curve(trial, artifact_store, np.arange(10), np.ones(10), "too late")
    with pytest.raises(TypeError, match="running optuna.Trial"):
        notes.write_trial_note(study.trials[0], "frozen")


def test_first_trial_note_is_what_save_note_would_write(storage_url: str, artifact_store) -> None:
    """The fast path (no reads) stores the same keys and version as optuna-dashboard's save_note."""
    study = optuna.create_study(storage=storage_url, study_name="same")
    fast, slow = study.ask(), study.ask()
    body = "x" * 5000  # three chunks
    notes.write_trial_note(fast, body)
    save_note(slow, body)
    attrs = study._storage.get_study_system_attrs(study._study_id)

    def note_attrs(trial: optuna.Trial) -> list[tuple[str, object]]:
        prefix = f"dashboard:{trial._trial_id}:"
        return sorted((k[len(prefix) :], v) for k, v in attrs.items() if k.startswith(prefix))

    assert note_attrs(fast) == note_attrs(slow) and len(note_attrs(fast)) == 4
    assert get_note(fast) == body


def test_artifacts_reuse_one_figure(tmp_path: Path, storage_url: str, artifact_store) -> None:
    """What keeps the per-trial cost small (~25 ms measured on 2 cores, docs/dashboard.md) is
    that every trial's PNG is drawn into one cached figure; asserted structurally, not timed."""
    study = optuna.create_study(storage=storage_url, study_name="cost")
    steps = np.arange(0, 2000, 10)
    renderers = set()
    for i in range(5):
        trial = study.ask()
        notes.attach_lr_curve(trial, artifact_store, steps, 0.1 * np.cos(steps / 2000), f"trial {i}")
        notes.write_trial_note(trial, notes.trial_note_markdown("cosine", {"lr": 0.1}))
        renderers.add(id(notes._get_renderer()))
        study.tell(trial, 0.5)
    assert len(renderers) == 1
    for t in study.trials:
        assert len(optuna.artifacts.get_all_artifact_meta(t, storage=study._storage)) == 1


# --------------------------------------------------------------------------- paths


def test_artifact_store_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert notes.artifact_store_for("sqlite:///runs/x.db")._base_path == Path("runs/artifacts")
    assert (tmp_path / "runs" / "artifacts").is_dir()
    assert notes.artifact_store_for("sqlite:///lrtune.db")._base_path == Path("artifacts")
    assert notes.artifact_store_for("postgresql://u@h/db", create=False)._base_path == Path("studies/artifacts")
    assert not (tmp_path / "studies").exists()
    assert notes.artifact_store_for("sqlite:///runs/x.db", "elsewhere")._base_path == Path("elsewhere")


# --------------------------------------------------------------------------- through the dashboard


def test_dashboard_shows_notes_trials_and_lr_curves(storage_url: str, artifact_store) -> None:
    study = make_demo_study(storage_url, artifact_store=artifact_store, study_name="cosine-demo", n_trials=6)
    notes.append_verdict_to_note(study, "**cosine** leads; inconclusive with 6 trials")
    client = DashboardClient.for_storage(storage_url, artifact_store)

    assert [s["study_name"] for s in client.studies()] == ["cosine-demo"]
    detail = check_lrtune_study(client, "cosine-demo", min_trials=6)

    note = detail["note"]["body"]
    assert note.startswith("# lrtune · `cosine` on `digits/mlp/4ep/sgd`")
    assert "| `cosine_final_ratio` |" in note and "**cosine** leads" in note
    states = sorted({t["state"] for t in detail["trials"]})
    assert states == ["Complete", "Pruned"], states
    trial = detail["trials"][0]
    assert {p["name"] for p in trial["params"]} == {"lr", "warmup_frac", "cosine_final_ratio"}
    assert trial["artifacts"][0]["filename"] == "lr_curve_trial0.png"
    assert "peak learning rate" in trial["note"]["body"]
    user_attrs = attrs_dict(trial["user_attrs"])
    assert user_attrs["family"] == "cosine" and float(user_attrs["val_accuracy"]) == trial["values"][0]
    png = client.trial_artifact(trial, trial["artifacts"][0]).body
    assert _png_size(png) == (320, 240)
    assert client.get(f"/artifacts/{trial['study_id']}/{trial['trial_id']}/00000000-0000").status == 404
