"""The example scripts run as a user would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

import lrtune

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_script(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_own_study_then_rebuild_best(tmp_path):
    storage = f"sqlite:///{tmp_path / 'own.db'}"
    out = run_script("own_study.py", "--trials", "4", "--storage", storage)
    assert "best schedule:" in out

    study = optuna.load_study(study_name="own-digits", storage=storage)
    assert len(study.trials) == 4
    best = study.best_trial
    assert "hidden" in best.params and "sched_family" in best.params and "sched_lr" in best.params
    expected = lrtune.Schedule.from_params(best.params, prefix="sched_")

    png = tmp_path / "best.png"
    out = run_script(
        "rebuild_best.py",
        "--storage",
        storage,
        "--study-name",
        "own-digits",
        "--prefix",
        "sched_",
        "--total-steps",
        "100",
        "--plot",
        str(png),
    )
    assert expected.describe() in out
    assert f"step      0: lr = {expected.lr_at(0, 100):.6g}" in out
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_own_study_analyze_confirm_analyze_rebuild(tmp_path):
    """The whole path of examples/own_study.py's docstring: search → analyze → confirm → analyze."""
    from lrtune import analyze

    storage = f"sqlite:///{tmp_path / 'own.db'}"
    run_script("own_study.py", "--trials", "8", "--storage", storage)
    out = tmp_path / "report"
    assert analyze.main(["--storage", storage, "--out", str(out)]) == 0
    assert "**search-only (no fresh seeds):" in (out / "report.md").read_text()

    printed = run_script("own_study.py", "--trials", "8", "--confirm", "2", "--storage", storage)
    study = optuna.load_study(study_name="own-digits", storage=storage)
    assert len(study.trials) == 8  # --trials is the total: nothing re-searched
    confirmations = optuna.load_study(study_name="own-digits:confirm", storage=storage)
    families = {t.params["sched_family"] for t in study.trials if t.state.name == "COMPLETE"}
    assert len(confirmations.trials) == 2 * len(families)
    assert f"{2 * len(families)} confirmation runs stored in 'own-digits:confirm'" in printed

    assert analyze.main(["--storage", storage, "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    if len(families) > 1:
        assert "search-only" not in report and "fresh seeds" in report
    assert "`hidden`" in report
    out_text = run_script(
        "rebuild_best.py",
        "--storage",
        storage,
        "--study-name",
        "own-digits",
        "--prefix",
        "sched_",
        "--total-steps",
        "100",
    )
    assert lrtune.Schedule.from_params(study.best_trial.params, prefix="sched_").describe() in out_text


def pruning_within_bounds(study: optuna.Study, epochs: int) -> int:
    """Assert every PRUNED trial stopped at an epoch in [⌈E/2⌉, E−1] and every COMPLETE one
    reported all E epochs; return the number pruned."""
    pruned = 0
    for trial in study.trials:
        last = max(trial.intermediate_values)
        if trial.state == optuna.trial.TrialState.PRUNED:
            pruned += 1
            assert -(-epochs // 2) <= last <= epochs - 1, (trial.number, last)
        else:
            assert trial.state == optuna.trial.TrialState.COMPLETE and last == epochs, (trial.number, last)
    return pruned


@pytest.mark.slow
def test_own_study_prunes_only_inside_lrtunes_bounds(tmp_path):
    storage = f"sqlite:///{tmp_path / 'own.db'}"
    run_script("own_study.py", "--trials", "14", "--storage", storage)
    study = optuna.load_study(study_name="own-digits", storage=storage)
    assert pruning_within_bounds(study, epochs=8) > 0  # the bounds were exercised
    assert study.metric_names == ["validation accuracy"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "study_name", "epochs"),
    [("lightning_study.py", "lightning-digits", 6), ("transformers_study.py", "transformers-digits", 4)],
    ids=["lightning", "transformers"],
)
def test_integration_study_confirms_and_analyses(tmp_path, script, study_name, epochs):
    """The integration examples' whole path: search (bounded pruning) → confirm → confirmed verdict."""
    from lrtune import analyze

    storage = f"sqlite:///{tmp_path / 'i.db'}"
    printed = run_script(script, "--trials", "5", "--confirm", "2", "--storage", storage)
    study = optuna.load_study(study_name=study_name, storage=storage)
    pruning_within_bounds(study, epochs)
    families = {t.params["sched_family"] for t in study.trials if t.state.name == "COMPLETE"}
    confirmations = optuna.load_study(study_name=f"{study_name}:confirm", storage=storage)
    assert len(confirmations.trials) == 2 * len(families)
    assert f"{2 * len(families)} confirmation runs stored" in printed
    assert confirmations.metric_names == ["validation accuracy"]  # carried over from the search
    out = tmp_path / "report"
    assert len(families) == 3  # TPESampler(seed=1)'s first 5 trials draw all three
    assert analyze.main(["--storage", storage, "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "fresh seeds" in report
    assert "search-only" not in report  # the confirmed verdict


def readme_commands() -> list[list[str]]:
    """Every ``python -m lrtune.<command> ...`` and ``python examples/<script> ...`` line of the
    README's bash blocks, split into words (comments and line continuations removed)."""
    import re
    import shlex

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words and words[0].endswith("python") or words[:1] == ["python3"]:
                    words = words[1:]
                    if words[:1] == ["-m"] and words[1].startswith("lrtune") or words[0].startswith("examples/"):
                        commands.append(words)
    return commands


@pytest.mark.slow
def test_the_readme_shows_real_commands(capsys):
    """Each command the README shows names a real command or script and only options it takes
    (they appear in its ``--help``; lrtune.study's and lrtune.analyze's parsers accept the whole
    line). Nothing is run."""
    import importlib

    commands = readme_commands()
    assert len(commands) >= 15
    helps: dict[str, str] = {}
    for words in commands:
        name, args = (words[1], words[2:]) if words[0] == "-m" else (words[0], words[1:])
        if name not in helps:
            if words[0] == "-m":
                try:
                    code = importlib.import_module(name).main(["--help"])
                except SystemExit as exc:  # argparse's own --help exit
                    code = exc.code
                assert code in (0, None)
                helps[name] = capsys.readouterr().out
            else:
                helps[name] = run_script(Path(name).name, "--help")
        for option in (w.split("=")[0] for w in args if w.startswith("--")):
            assert option in helps[name], f"README: {' '.join(words)}: {name} has no {option}"
        if name in ("lrtune.study", "lrtune.analyze"):
            importlib.import_module(name).build_parser().parse_args(args)
    assert {"lrtune.study", "lrtune.analyze", "lrtune.dashboard", "examples/own_study.py"} <= set(helps)
