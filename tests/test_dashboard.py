"""python -m lrtune.dashboard: refuses what optuna-dashboard would break on, and really serves."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import pytest
from wsgi_client import make_demo_study

from lrtune import dashboard
from lrtune.report import notes

optuna.logging.set_verbosity(optuna.logging.WARNING)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def demo_db(tmp_path: Path) -> str:
    """An SQLite URL holding a small lrtune-shaped study (with artifacts next to it)."""
    url = f"sqlite:///{tmp_path / 'lrtune.db'}"
    make_demo_study(url, artifact_store=notes.artifact_store_for(url), study_name="demo", n_trials=3)
    return url


def _http_json(url: str, timeout: float = 30.0) -> object:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        assert response.status == 200
        return json.loads(response.read())


# --------------------------------------------------------------------------- refusals


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("lrtune.dashboard: error: ") and "Traceback" not in captured.err
    return lines[0]


def test_missing_sqlite_file_is_refused_and_not_created(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nowhere" / "lrtune.db"
    assert dashboard.main(["--storage", f"sqlite:///{missing}", "--port", "0"]) == 2
    assert "does not exist" in _one_line_error(capsys)
    assert not missing.exists() and not missing.parent.exists()


def test_default_storage_is_studies_lrtune_db(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert dashboard.main(["--port", "0"]) == 2
    assert "no SQLite database at 'studies/lrtune.db'" in _one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("port", ["abc", "70000", "-1", "8080.5"])
def test_bad_port_exits_2_with_one_line(port: str, tmp_path: Path, capsys) -> None:
    assert dashboard.main(["--storage", f"sqlite:///{tmp_path}/x.db", "--port", port]) == 2
    assert "--port: must be an integer in 0..65535" in _one_line_error(capsys)


def test_unknown_argument_exits_2(capsys) -> None:
    assert dashboard.main(["--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in _one_line_error(capsys)


def test_help_exits_0(capsys) -> None:
    assert dashboard.main(["--help"]) == 0
    assert "--artifact-dir" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"hello", "is not an SQLite database"), (None, "is not an Optuna database"), (b"", "is empty")],
)
def test_non_optuna_files_are_refused(content: bytes | None, message: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "x.db"
    if content is None:
        import sqlite3

        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE other (a)")
    else:
        path.write_bytes(content)
    assert dashboard.main(["--storage", f"sqlite:///{path}"]) == 2
    assert message in _one_line_error(capsys)


def test_in_memory_and_garbage_urls_are_refused(capsys) -> None:
    assert dashboard.main(["--storage", "sqlite://"]) == 2
    assert "in-memory" in _one_line_error(capsys)
    assert dashboard.main(["--storage", "no-such-thing"]) == 2
    assert "malformed storage URL" in _one_line_error(capsys)


def test_port_in_use_exits_2(serve_dashboard, demo_db: str, capsys) -> None:
    with serve_dashboard(demo_db) as base:
        port = base.rsplit(":", 1)[1]
        assert dashboard.main(["--storage", demo_db, "--port", port]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in _one_line_error(capsys)


# --------------------------------------------------------------------------- serving


def _read_line(stream, timeout: float) -> str:
    """One line from a subprocess pipe, or fail after ``timeout`` seconds."""
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "the dashboard printed nothing"
    return stream.readline()


def test_cli_serves_api_and_page_over_http(demo_db: str, tmp_path: Path) -> None:
    """``python -m lrtune.dashboard`` in a subprocess, on a free port, over real HTTP."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "lrtune.dashboard", "--storage", demo_db, "--port", "0", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        line = _read_line(proc.stderr, timeout=60)
        assert "serving" in line, line
        base = line.split(" at ")[1].split("/dashboard")[0]
        studies = _http_json(f"{base}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == ["demo"]
        detail = _http_json(f"{base}/api/studies/{studies[0]['study_id']}")
        assert len(detail["trials"]) == 3 and detail["trials"][0]["artifacts"]
        meta = _http_json(f"{base}/api/meta")
        assert meta["artifact_is_available"] is True
        with urllib.request.urlopen(f"{base}/dashboard", timeout=30) as page:
            assert b"<html" in page.read().lower()
    finally:
        proc.terminate()
        proc.wait(30)
        proc.stderr.close()


def test_artifact_dir_option_is_used(serve_dashboard, demo_db: str, tmp_path: Path) -> None:
    """With an empty --artifact-dir the PNG metadata is listed but the file is not found."""
    (tmp_path / "empty").mkdir()
    with serve_dashboard(demo_db, artifact_dir=str(tmp_path / "empty")) as base:
        study_id = _http_json(f"{base}/api/studies")["study_summaries"][0]["study_id"]
        trial = _http_json(f"{base}/api/studies/{study_id}")["trials"][0]
        url = f"{base}/artifacts/{study_id}/{trial['trial_id']}/{trial['artifacts'][0]['artifact_id']}"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url, timeout=30)
    with serve_dashboard(demo_db) as base:  # the default: next to the database
        with urllib.request.urlopen(url.replace(url.split("/artifacts")[0], base), timeout=30) as r:
            assert r.read(4) == b"\x89PNG"


def _eventually_all_finished(url: str, n_trials: int, timeout: float = 30.0) -> dict:
    """The study detail once it lists ``n_trials`` finished trials.

    optuna-dashboard caches a study's trials for 2 s (<100 trials; 5 s <500, else 10 s), so a
    read right after the last write may be that much behind.
    """
    deadline = time.monotonic() + timeout
    while True:
        detail = _http_json(url)
        trials = detail["trials"]
        if len(trials) == n_trials and all(t["state"] in ("Complete", "Pruned") for t in trials):
            return detail
        assert time.monotonic() < deadline, f"dashboard shows {len(trials)} trials, expected {n_trials}"
        time.sleep(0.5)


@pytest.mark.slow
def test_trials_written_while_serving_are_not_lost(serve_dashboard, tmp_path: Path) -> None:
    """Workers write the SQLite file while the dashboard reads it: nothing is lost or locked out."""
    url = f"sqlite:///{tmp_path / 'lrtune.db'}"
    store = notes.artifact_store_for(url)
    make_demo_study(url, artifact_store=store, study_name="live", n_trials=1)
    n_trials, errors = 24, []
    reads: list[list[int]] = [[], []]
    done = threading.Event()

    def writer(name: str) -> None:
        storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 30}})
        try:
            make_demo_study(storage, artifact_store=store, study_name=name, n_trials=n_trials // 2)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"writer: {e!r}")

    with serve_dashboard(url) as base:
        study_id = _http_json(f"{base}/api/studies")["study_summaries"][0]["study_id"]

        def reader(seen: list[int]) -> None:
            while not done.is_set():
                try:
                    _http_json(f"{base}/api/studies")
                    seen.append(len(_http_json(f"{base}/api/studies/{study_id}")["trials"]))
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(f"reader: {e!r}")

        readers = [threading.Thread(target=reader, args=(seen,)) for seen in reads]
        writers = [threading.Thread(target=writer, args=("live",)) for _ in range(2)]
        for t in readers + writers:
            t.start()
        for t in writers:
            t.join(300)
        done.set()
        for t in readers:
            t.join(60)
        final = _eventually_all_finished(f"{base}/api/studies/{study_id}", 1 + n_trials)

    assert not errors, errors[:5]
    for seen in reads:  # each reader saw the study grow, never shrink
        assert len(seen) >= 5 and seen == sorted(seen) and seen[0] < 1 + n_trials, seen
    study = optuna.load_study(study_name="live", storage=url)
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(study.trials) == len(finished) == 1 + n_trials
    assert len(final["trials"]) == 1 + n_trials
    assert all(t["state"] in ("Complete", "Pruned") and t["artifacts"] for t in final["trials"])


@pytest.mark.slow
def test_study_cli_output_is_fully_visible_in_the_dashboard(serve_dashboard, tmp_path: Path, capsys) -> None:
    """``python -m lrtune.study`` (in-process) → everything it wrote shows in the dashboard."""
    from wsgi_client import DashboardClient, check_lrtune_study

    from lrtune import study as study_cli

    url = f"sqlite:///{tmp_path / 'studies' / 'lrtune.db'}"
    args = ["--family", "cosine", "--trials", "3", "--dataset", "digits", "--epochs", "2"]
    args += ["--storage", url, "--no-progress"]
    assert study_cli.main(args) == 0, capsys.readouterr().err
    with serve_dashboard(url) as base:  # artifacts found next to the database by default
        studies = _http_json(f"{base}/api/studies")["study_summaries"]
    client = DashboardClient.for_storage(url, notes.artifact_store_for(url, create=False))
    [name] = [s["study_name"] for s in studies]
    detail = check_lrtune_study(client, name, min_trials=3)
    assert "## Search space" in detail["note"]["body"] and "`cosine_final_ratio`" in detail["note"]["body"]
