"""The example scripts run as a user would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

import lrtune

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_script(name: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=300)
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
    out = run_script("rebuild_best.py", "--storage", storage, "--study-name", "own-digits", "--prefix", "sched_",
                     "--total-steps", "100", "--plot", str(png))
    assert expected.describe() in out
    assert f"step      0: lr = {expected.lr_at(0, 100):.6g}" in out
    assert png.read_bytes()[:4] == b"\x89PNG"
