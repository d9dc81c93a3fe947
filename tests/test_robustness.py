"""Bad input never loses or corrupts stored results: one line, exit 2, the database byte-identical."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import optuna
import pytest

from lrtune.study import main

optuna.logging.set_verbosity(optuna.logging.WARNING)
SMOKE = ["--dataset", "digits", "--epochs", "2", "--batch-size", "64", "--no-progress", "--no-artifacts"]


@pytest.fixture(scope="module")
def reference_db(tmp_path_factory) -> Path:
    """A real lrtune database with finished trials."""
    db = tmp_path_factory.mktemp("ref") / "lrtune.db"
    assert main([*SMOKE, "--family", "constant", "--trials", "2", "--storage", f"sqlite:///{db}"]) == 0
    return db


@pytest.fixture
def db(tmp_path, reference_db) -> Path:
    copy = tmp_path / "lrtune.db"
    shutil.copyfile(reference_db, copy)
    return copy


def snapshot(path: Path) -> dict[str, bytes]:
    """Bytes of the database and any journal/WAL files next to it."""
    return {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}


BAD_ARGS = [
    (["--family", "linear"], "unknown schedule family 'linear'; valid families:"),
    (
        ["--dataset", "mnist2d"],
        "unknown dataset 'mnist2d'; valid: mnist1d, digits, mnist, fashion-mnist, kmnist, cifar10",
    ),
    (["--model", "vit"], "unknown model 'vit'; valid: mlp, cnn1d, cnn, resnet"),
    (["--sampler", "grid"], "unknown sampler 'grid'"),
    (["--pruner", "patient"], "unknown pruner 'patient'"),
    (["--trials", "-1"], "trials must be an integer ≥ 1, but got -1"),
    (["--epochs", "0"], "epochs must be an integer ≥ 1, but got 0"),
    (["--workers", "0"], "workers must be an integer ≥ 1, but got 0"),
    (["--timeout", "-5"], "timeout must be a number of seconds > 0, but got -5.0"),
    (["--weight-decay", "-1"], "weight_decay must be a number ≥ 0, but got -1.0"),
    (["--seed", "-2"], "seed must be an integer ≥ 0, but got -2"),
    (["--fuse", "0"], "fuse must be an integer ≥ 1, but got 0"),
    (["--epochs", "3"], "different configuration"),  # same study name, other setup
]


@pytest.mark.parametrize("args,message", BAD_ARGS, ids=[" ".join(a) for a, _ in BAD_ARGS])
def test_bad_arguments_leave_the_database_byte_identical(db, capsys, args, message):
    before = snapshot(db)
    assert main([*SMOKE, "--family", "constant", "--trials", "3", "--storage", f"sqlite:///{db}", *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.strip().count("\n") == 0, captured.err
    assert "Traceback" not in captured.err
    assert snapshot(db) == before


def run_bad_storage(url: str, capsys) -> str:
    assert main([*SMOKE, "--family", "constant", "--trials", "1", "--storage", url]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().count("\n") == 0 and "Traceback" not in captured.err
    return captured.err


def test_unknown_scheme(capsys):
    assert "unknown storage scheme 'mongodb'" in run_bad_storage("mongodb://127.0.0.1/x", capsys)


def test_path_in_a_directory_that_cannot_be_written(tmp_path, capsys):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    err = run_bad_storage(f"sqlite:///{blocker}/sub/lrtune.db", capsys)
    assert "is not a writable directory" in err
    assert blocker.read_text() == "a file where a directory should be"
    err = run_bad_storage("sqlite:////proc/lrtune-test/lrtune.db", capsys)
    assert "proc" in err


def test_file_that_is_not_sqlite(tmp_path, capsys):
    notes = tmp_path / "notes.db"
    notes.write_bytes(b"my precious notes\n" * 100)
    before = notes.read_bytes()
    assert "is not an SQLite database" in run_bad_storage(f"sqlite:///{notes}", capsys)
    assert notes.read_bytes() == before


def test_database_of_another_tool(tmp_path, capsys):
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ada')")
    before = snapshot(other)
    assert "database of another tool (tables: users)" in run_bad_storage(f"sqlite:///{other}", capsys)
    assert snapshot(other) == before


def test_directory_as_database(tmp_path, capsys):
    assert "is a directory" in run_bad_storage(f"sqlite:///{tmp_path}", capsys)


@pytest.mark.parametrize(
    "preset,message",
    [
        ("epochs = 3\nlearning_rate = 0.1\n", "unknown key 'learning_rate'; valid keys:"),
        ('epochs = "3"\n', "epochs must be an integer, but got '3'"),
        ('download = "yes"\n', "download must be true/false, but got 'yes'"),
        ("lr_range = 0.1\n", "lr_range must be a list, but got 0.1"),
        ("epochs = \n", "is not valid TOML"),
    ],
)
def test_bad_presets(db, tmp_path, capsys, preset, message):
    path = tmp_path / "bad.toml"
    path.write_text(preset)
    before = snapshot(db)
    assert main(["--config", str(path), "--storage", f"sqlite:///{db}", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.strip().count("\n") == 0
    assert snapshot(db) == before


def test_data_dir_without_the_dataset(db, tmp_path, capsys):
    before = snapshot(db)
    empty = tmp_path / "empty-data"
    empty.mkdir()
    assert (
        main(
            [
                "--dataset",
                "fashion-mnist",
                "--data-dir",
                str(empty),
                "--storage",
                f"sqlite:///{db}",
                "--no-progress",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "fashion-mnist" in err and str(empty) in err and "--download" in err and err.strip().count("\n") == 0
    assert snapshot(db) == before
    assert sorted(s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{db}")) == [
        "digits-mlp-constant"
    ]


def test_journal_storage_works(tmp_path):
    journal = tmp_path / "lrtune.log"
    assert main([*SMOKE, "--family", "constant", "--trials", "2", "--storage", f"journal:///{journal}"]) == 0
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    study = optuna.load_study(
        study_name="digits-mlp-constant", storage=JournalStorage(JournalFileBackend(str(journal)))
    )
    assert len(study.trials) == 2 and all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
