"""python -m lrtune.analyze, called in-process as main([...]) on temporary SQLite files."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import create_trial

from lrtune.analyze import default_out_dir, main

optuna.logging.set_verbosity(optuna.logging.WARNING)

TASK = "digits/mlp/4ep/sgd"


def fast_sqlite(path: Path) -> optuna.storages.RDBStorage:
    """An RDBStorage writing the SQLite file ``path`` without fsync (tests only)."""

    def connect():
        con = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        con.execute("PRAGMA synchronous=OFF")
        return con

    return optuna.storages.RDBStorage("sqlite://", engine_kwargs={"creator": connect})


def lrtune_study(storage, family, *, kind="search", name=None):
    name = name or (f"{TASK}:{family}" + (":confirm" if kind == "confirm" else ""))
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    config = {
        "dataset": "digits",
        "model": "mlp",
        "epochs": 4,
        "optimizer": "sgd",
        "family": family,
        "sampler": "random",
    }
    for key, value in {
        "lrtune_config": config,
        "lrtune_family": family,
        "lrtune_task": TASK,
        "lrtune_kind": kind,
    }.items():
        study.set_user_attr(key, value)
    return study


def add_search(storage, family, center, n=6):
    study = lrtune_study(storage, family)
    dists = {"lr": FloatDistribution(1e-3, 1.0, log=True)}
    for i, v in enumerate(center + np.linspace(-0.01, 0.01, n)):
        study.add_trial(
            create_trial(
                value=float(v),
                params={"lr": 0.05 + 0.01 * i},
                distributions=dists,
                user_attrs={
                    "family": family,
                    "val_accuracy": float(v),
                    "test_accuracy": float(v) - 0.01,
                    "epochs_run": 4,
                    "seconds": 1.0,
                    "diverged": False,
                    "seed": i,
                },
                intermediate_values={e: float(v) * e / 4 for e in range(1, 5)},
            )
        )


def add_confirm(storage, family, center, k=6):
    study = lrtune_study(storage, family, kind="confirm")
    for i, v in enumerate(center + np.linspace(-0.002, 0.002, k)):
        study.add_trial(
            create_trial(
                value=float(v),
                user_attrs={
                    "family": family,
                    "seed": 100 + i,
                    "test_accuracy": float(v),
                    "val_accuracy": float(v),
                    "epochs_run": 4,
                    "diverged": False,
                },
            )
        )


@pytest.fixture
def db(tmp_path):
    """studies/lrtune.db with cosine and step searched and confirmed (cosine wins)."""
    path = tmp_path / "studies" / "lrtune.db"
    path.parent.mkdir()
    storage = fast_sqlite(path)
    for family, center in (("cosine", 0.95), ("step", 0.90)):
        add_search(storage, family, center)
        add_confirm(storage, family, center)
    storage.engine.dispose()
    return path


def digest(path: Path) -> tuple[str, float]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def assert_clean_error(capsys, needle: str) -> None:
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lrtune.analyze: error:")
    assert needle in lines[0], lines[0]


def test_writes_the_report_next_to_the_database(db, capsys):
    before = digest(db)
    assert main(["--storage", f"sqlite:///{db}", "--no-notes"]) == 0
    out, err = capsys.readouterr()
    report = db.parent / "report" / "report.md"
    assert report.exists() and (db.parent / "report" / "trials.csv").exists()
    assert f"{TASK}: the best configuration found for cosine in 6 trials beats the best found for step" in out
    assert f"report: {report}" in out
    assert digest(db) == before  # read-only: not even the mtime changes
    assert sorted(p.name for p in db.parent.iterdir()) == ["lrtune.db", "report"]


def test_verdict_is_written_into_the_dashboard_notes(db, capsys):
    import optuna
    from optuna_dashboard import get_note

    from lrtune.report.notes import VERDICT_HEADING

    for _ in range(2):  # re-running replaces the verdict section, it does not pile up
        assert main(["--storage", f"sqlite:///{db}"]) == 0
    storage = f"sqlite:///{db}"
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    assert names
    for name in names:
        note = get_note(optuna.load_study(study_name=name, storage=storage))
        assert note.count(VERDICT_HEADING) == 1, name
        assert "cosine in 6 trials beats" in note and "report.md" in note


def test_default_storage_and_out_dir(db, capsys, monkeypatch):
    monkeypatch.chdir(db.parent.parent)
    assert main([]) == 0
    assert Path("studies/report/report.md").exists()
    assert default_out_dir("sqlite:///studies/lrtune.db") == Path("studies/report")
    assert default_out_dir("postgresql://u:p@host/db") == Path("report")


def test_out_dir_and_study_filter(db, tmp_path, capsys):
    out = tmp_path / "elsewhere"
    code = main(
        ["--storage", f"sqlite:///{db}", "--out", str(out), "--study", f"{TASK}:cosine", "--study", f"{TASK}:step"]
    )
    assert code == 0
    assert (out / "report.md").exists()


def test_report_is_byte_identical_across_runs(db, capsys):
    args = ["--storage", f"sqlite:///{db}"]
    assert main(args) == 0
    first = (db.parent / "report" / "report.md").read_bytes()
    assert main(args) == 0
    assert (db.parent / "report" / "report.md").read_bytes() == first


def test_missing_sqlite_file_is_not_created(tmp_path, capsys):
    path = tmp_path / "nope.db"
    assert main(["--storage", f"sqlite:///{path}"]) == 2
    assert_clean_error(capsys, "no SQLite database at")
    assert not path.exists()


def test_missing_default_database_is_not_created(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([]) == 2
    assert_clean_error(capsys, "studies/lrtune.db")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "url,needle",
    [
        ("studies/lrtune.db", "malformed storage URL"),
        ("sqlite://", "must name an SQLite file"),
        ("sqlite:///:memory:", "must name an SQLite file"),
        ("nosuchdialect://x/y", "unknown storage scheme 'nosuchdialect'"),
    ],
)
def test_bad_urls(url, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["--storage", url]) == 2
    assert_clean_error(capsys, needle)
    assert list(tmp_path.iterdir()) == []


def test_empty_file_is_left_untouched(tmp_path, capsys):
    path = tmp_path / "empty.db"
    path.touch()
    assert main(["--storage", f"sqlite:///{path}"]) == 2
    assert_clean_error(capsys, "empty storage")
    assert path.stat().st_size == 0


def test_not_a_database(tmp_path, capsys):
    path = tmp_path / "notes.db"
    path.write_text("hello, this is not SQLite\n" * 100)
    before = digest(path)
    assert main(["--storage", f"sqlite:///{path}"]) == 2
    assert_clean_error(capsys, "is not an SQLite database")
    assert digest(path) == before


def test_optuna_storage_without_studies(tmp_path, capsys):
    path = tmp_path / "fresh.db"
    fast_sqlite(path).engine.dispose()  # Optuna's tables, no study
    before = digest(path)
    assert main(["--storage", f"sqlite:///{path}"]) == 2
    assert_clean_error(capsys, "no studies")
    assert digest(path) == before


def test_storage_without_lrtune_studies(tmp_path, capsys):
    path = tmp_path / "other.db"
    storage = fast_sqlite(path)
    optuna.create_study(storage=storage, study_name="someone-else").add_trial(create_trial(value=1.0))
    storage.engine.dispose()
    before = digest(path)
    assert main(["--storage", f"sqlite:///{path}"]) == 2
    # neither lrtune's studies nor a user's study with lrtune parameters (lrtune.report.own_studies)
    assert_clean_error(capsys, "no study used lrtune's search spaces (looked for a peak-LR parameter")
    assert digest(path) == before


def test_single_family(tmp_path, capsys):
    path = tmp_path / "one.db"
    storage = fast_sqlite(path)
    add_search(storage, "cosine", 0.9)
    storage.engine.dispose()
    before = digest(path)
    assert main(["--storage", f"sqlite:///{path}"]) == 2
    assert_clean_error(capsys, "only one schedule family in the storage (cosine)")
    assert digest(path) == before
    assert not (tmp_path / "report").exists()


def test_unknown_study(db, capsys):
    assert main(["--storage", f"sqlite:///{db}", "--study", "nope"]) == 2
    assert_clean_error(capsys, "no lrtune study named 'nope'")


def test_usage_errors_return_2_and_help_0(capsys):
    assert main(["--confirm", "0"]) == 2
    assert main(["--bogus"]) == 2
    assert main(["--help"]) == 0
    assert "--confirm K" in capsys.readouterr().out


@pytest.mark.slow
def test_study_then_analyze_confirm_end_to_end(tmp_path, capsys):
    """The README's two commands on a small real task: search, confirm 2 seeds, report, notes."""
    from lrtune.report import notes
    from lrtune.study import main as study_main
    from lrtune.tuning.confirmations import CONFIRM_SEED_BASE

    url = f"sqlite:///{tmp_path / 'studies' / 'lrtune.db'}"
    (tmp_path / "studies").mkdir()
    assert (
        study_main(
            [
                "--dataset",
                "digits",
                "--model",
                "mlp",
                "--epochs",
                "4",
                "--family",
                "cosine,constant",
                "--trials",
                "6",
                "--sampler",
                "random",
                "--storage",
                url,
                "--artifact-dir",
                str(tmp_path / "artifacts"),
                "--no-progress",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["--storage", url, "--confirm", "2"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    storage = optuna.storages.RDBStorage(url)
    names = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    task = "digits-mlp"
    assert names == {f"{task}-cosine", f"{task}-constant", f"{task}-cosine:confirm", f"{task}-constant:confirm"}
    for family in ("cosine", "constant"):
        search = optuna.load_study(study_name=f"{task}-{family}", storage=storage)
        confirm = optuna.load_study(study_name=f"{task}-{family}:confirm", storage=storage)
        best = max((t for t in search.trials if t.state.name == "COMPLETE"), key=lambda t: (t.value, -t.number))
        runs = confirm.trials
        assert [t.state.name for t in runs] == ["COMPLETE", "COMPLETE"]
        assert [t.user_attrs["seed"] for t in runs] == [CONFIRM_SEED_BASE, CONFIRM_SEED_BASE + 1]
        assert all(t.user_attrs["source_trial"] == best.number and t.user_attrs["epochs_run"] == 4 for t in runs)
        assert all(t.params == best.params for t in runs)
        assert confirm.user_attrs["lrtune_kind"] == "confirm"
        from optuna_dashboard import get_note

        note = get_note(search)
        assert notes.VERDICT_HEADING in note and "2 fresh seeds" in note
    report = (tmp_path / "studies" / "report" / "report.md").read_text()
    # two paired seeds can never separate two families: the verdict says so instead of guessing
    assert "inconclusive between" in report and "(paired seeds: anytime-valid" in report
    assert "2 families need at least 6 paired seeds" in report
    assert "inconclusive between" in out
    # a second run reuses the stored confirmations
    assert main(["--storage", url, "--confirm", "2"]) == 0
    assert len(optuna.load_study(study_name=f"{task}-cosine:confirm", storage=storage).trials) == 2


def test_lrtune_studies_without_trials(tmp_path, capsys):
    path = tmp_path / "new.db"
    storage = fast_sqlite(path)
    lrtune_study(storage, "cosine")
    lrtune_study(storage, "step")
    storage.engine.dispose()
    assert main(["--storage", f"sqlite:///{path}"]) == 2
    assert_clean_error(capsys, "hold no trials yet")


def test_bad_max_seeds_are_refused_before_anything_is_read(tmp_path, capsys):
    missing = tmp_path / "none.db"
    for argv, needle in (
        (["--confirm", "auto", "--max-seeds", "0"], "--max-seeds 0 must be an integer >= 1"),
        (["--confirm", "5", "--max-seeds", "8"], "--max-seeds 8 goes with --confirm auto, not with --confirm 5"),
        (["--max-seeds", "8"], "--max-seeds 8 goes with --confirm auto, not with no --confirm"),
        (["--confirm", "often"], "must be a positive integer or 'auto'"),
    ):
        assert main(["--storage", f"sqlite:///{missing}", *argv]) == 2
        assert_clean_error(capsys, needle)
    assert not missing.exists()


@pytest.mark.slow
def test_confirm_auto_races_and_continues_from_the_stored_runs(tmp_path, capsys):
    """A real small task: search, --confirm auto capped at 2 seeds, then continued to 3."""
    from lrtune.study import main as study_main

    url = f"sqlite:///{tmp_path / 'auto.db'}"
    argv = ["--dataset", "digits", "--model", "mlp", "--epochs", "2", "--family", "cosine,constant"]
    argv += ["--trials", "2", "--storage", url, "--no-progress", "--no-artifacts", "--pruner", "none"]
    assert study_main(argv) == 0
    capsys.readouterr()
    assert main(["--storage", url, "--confirm", "auto", "--max-seeds", "2", "--no-notes"]) == 0
    out = capsys.readouterr().out
    assert "race: seeds per family constant 2, cosine 2" in out and "8 runs" not in out
    confirm = optuna.load_study(study_name="digits-mlp-cosine:confirm", storage=url)
    first = [(t.user_attrs["seed"], t.value) for t in confirm.trials]
    assert len(first) == 2
    assert main(["--storage", url, "--confirm", "auto", "--max-seeds", "3", "--no-notes"]) == 0
    out = capsys.readouterr().out
    confirm = optuna.load_study(study_name="digits-mlp-cosine:confirm", storage=url)
    assert [(t.user_attrs["seed"], t.value) for t in confirm.trials][:2] == first  # reused
    assert len(confirm.trials) == 3
    assert "(2 new)" in out and "inconclusive" in out
    # with --horizon: the runs at 2x the epochs race in their own studies (capped at 1 seed here)
    assert main(["--storage", url, "--confirm", "auto", "--max-seeds", "1", "--horizon", "2", "--no-notes"]) == 0
    out = capsys.readouterr().out
    assert "race at 2x the epochs: seeds per family constant 1, cosine 1" in out
    horizon = optuna.load_study(study_name="digits-mlp-cosine:confirm@x2", storage=url)
    assert [t.user_attrs["epochs_run"] for t in horizon.trials] == [4]
    assert len(optuna.load_study(study_name="digits-mlp-cosine:confirm", storage=url).trials) == 3
