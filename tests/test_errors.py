"""lrtune.errors: one exception root, and every command turns bad input into one line and exit 2.

The commands catch :class:`lrtune.errors.LrtuneError` only, so each bad input below must reach
them as an LrtuneError (an unexpected ValueError is a bug and keeps its traceback).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import optuna
import pytest

import lrtune
from lrtune import analyze, dashboard, prune_accounting, simulate, study
from lrtune.bench import cli as bench_cli
from lrtune.errors import LrtuneError

ROOT = Path(__file__).resolve().parents[1]


def _modules():
    for info in pkgutil.walk_packages(lrtune.__path__, prefix="lrtune."):
        if not info.name.endswith("__main__"):
            yield importlib.import_module(info.name)


def test_every_exception_class_of_lrtune_derives_from_lrtune_error() -> None:
    defined = {
        f"{module.__name__}.{name}": cls
        for module in _modules()
        for name, cls in vars(module).items()
        if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == module.__name__
    }
    assert len(defined) >= 10  # the walk found them
    strays = sorted(name for name, cls in defined.items() if not issubclass(cls, LrtuneError))
    assert not strays, f"not under LrtuneError: {strays}"


@pytest.fixture
def search_db(tmp_path_factory) -> str:
    """One tiny finished search of two families (digits, 1 epoch, 1 trial each)."""
    path = tmp_path_factory.mktemp("search") / "s.db"
    url = f"sqlite:///{path}"
    argv = ["--dataset", "digits", "--epochs", "1", "--trials", "1", "--family", "cosine,step"]
    assert study.main([*argv, "--storage", url, "--no-progress", "--no-artifacts", "--fuse", "1"]) == 0
    return url


def _bad_study(tmp_path: Path) -> list[list[str]]:
    preset = tmp_path / "bad.toml"
    preset.write_text('epochs = "ten"\n')
    return [
        ["--epochs", "0"],
        ["--epochs", "ten"],
        ["--dataset", "nope"],
        ["--model", "vit"],
        ["--family", "cosine,nope"],
        ["--lr-range", "1,0.1"],
        ["--lr-range", "0.1"],
        ["--optimizer", "lamb"],
        ["--sampler", "nope"],
        ["--pruner", "nope"],
        ["--device", "tpu"],
        ["--config", str(tmp_path / "missing.toml")],
        ["--config", str(preset)],
        ["--task", "nomodule:make_task"],
        ["--task", "examples.my_task:nothing"],
        ["--task", "examples.my_task:make_task", "--dataset", "digits"],
        ["--storage", "bogus://x"],
        ["--trials", "-1"],
        ["--timeout", "0"],
        ["--unknown-flag"],
    ]


def _one_line(capsys, prog: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{prog}: error:"), err
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_study_bad_input(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)  # examples/ importable, as for python -m
    url = f"sqlite:///{tmp_path / 'never.db'}"
    for argv in _bad_study(tmp_path):
        assert study.main([*argv, "--storage", url] if "--storage" not in argv else argv) == 2, argv
        _one_line(capsys, "lrtune.study")
    assert not (tmp_path / "never.db").exists()


def test_study_refuses_another_configuration_under_a_stored_name(search_db, capsys) -> None:
    argv = ["--dataset", "digits", "--epochs", "2", "--trials", "1", "--family", "cosine", "--storage", search_db]
    assert study.main([*argv, "--no-progress"]) == 2
    assert "different configuration" in _one_line(capsys, "lrtune.study")


def test_analyze_bad_input(tmp_path, search_db, capsys) -> None:
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    cases = [
        ["--storage", missing],
        ["--storage", "bogus://x"],
        ["--storage", search_db, "--confirm", "0"],
        ["--storage", search_db, "--confirm", "two"],
        ["--storage", search_db, "--horizon", "2"],
        ["--storage", search_db, "--confirm", "1", "--horizon", "1"],
        ["--storage", search_db, "--study", "nope"],
        ["--storage", search_db, "--no-such-flag"],
    ]
    for argv in cases:
        assert analyze.main([*argv, "--out", str(tmp_path / "r")]) == 2, argv
        _one_line(capsys, "lrtune.analyze")
    assert not (tmp_path / "missing.db").exists()


def test_dashboard_bad_input(tmp_path, capsys) -> None:
    for argv in (
        ["--storage", f"sqlite:///{tmp_path / 'missing.db'}"],
        ["--storage", "bogus://x"],
        ["--port", "70000"],
        ["--nope"],
    ):
        assert dashboard.main(argv) == 2, argv
        _one_line(capsys, "lrtune.dashboard")


def test_simulate_bad_input(tmp_path, search_db, capsys) -> None:
    for argv in (
        ["--reps", "0"],
        ["--reps", "many"],
        ["--reps", "2", "--rho", "1.5"],
        ["--reps", "2", "--null-rho", "-0.1"],
        ["--reps", "2", "--storage", f"sqlite:///{tmp_path / 'missing.db'}"],
        ["--reps", "2", "--storage", search_db],  # no confirmation runs yet
    ):
        assert simulate.main(argv) == 2, argv
        _one_line(capsys, "lrtune.simulate")


def test_bench_bad_input(capsys) -> None:
    for argv in (
        ["--tasks", "nope"],
        ["--paths", "nope"],
        ["--trials", "0"],
        ["--device", "cuda:7"] if not __import__("torch").cuda.is_available() else ["--epochs", "0"],
    ):
        assert bench_cli.main(argv) == 2, argv
        _one_line(capsys, "lrtune.bench")


def test_prune_accounting_bad_input_on_a_stored_search(search_db, capsys) -> None:
    assert prune_accounting.main(["--family", "wsd", "--storage", search_db, "--no-search"]) == 2
    assert "no lrtune search study of wsd" in _one_line(capsys, "lrtune.prune_accounting")
    assert optuna.get_all_study_summaries(search_db)  # untouched
