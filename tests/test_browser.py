"""A real browser on the dashboard: headless Chromium (Debian's ``chromium`` package) via
Playwright's Python client — the system binary, never ``playwright install``.

Opens ``python -m lrtune.dashboard``'s server over a small lrtune-shaped study, finds the study by
name, opens it, and checks that the trial list shows every trial with its note and LR-curve PNG.
Screenshots go to ``test-artifacts/`` (repo root, git-ignored) and to pytest's tmp directory.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from wsgi_client import make_demo_study

from lrtune.report import notes

pytestmark = [pytest.mark.browser, pytest.mark.slow]
optuna.logging.set_verbosity(optuna.logging.WARNING)

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("LRTUNE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
STUDY = "lrtune-browser-cosine"
OTHER_STUDY = "lrtune-browser-step"
N_TRIALS = 6
TIMEOUT_MS = 30_000


def _skip_reason() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set LRTUNE_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python client is not installed (pip install playwright)"
    return None


@pytest.fixture
def base_url(tmp_path: Path, serve_dashboard) -> Iterator[str]:
    """The dashboard over a small study, served in a thread on a free port."""
    url = f"sqlite:///{tmp_path / 'lrtune.db'}"
    make_demo_study(url, artifact_store=notes.artifact_store_for(url), study_name=STUDY, n_trials=N_TRIALS)
    optuna.create_study(storage=url, study_name=OTHER_STUDY)  # something to tell it from
    with serve_dashboard(url) as base:
        yield base


@pytest.fixture
def page():
    """A Chromium page (system binary, no downloads)."""
    reason = _skip_reason()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI must run the browser test: {reason}")  # .ci/run installs chromium
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def _save_screenshot(page, name: str, tmp_path: Path) -> Path:
    """Screenshot the viewport into test-artifacts/ and pytest's tmp; return the first path."""
    out = REPO / "test-artifacts" / name
    out.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(out))
    shutil.copyfile(out, tmp_path / name)
    return out


def test_dashboard_shows_study_trials_notes_and_lr_curves(page, base_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{base_url}/dashboard")

    def card(name: str):  # a study's card on the top page: "1. <name>"
        return page.get_by_role("heading", name=re.compile(rf"^\d+\. {re.escape(name)}$"))

    expect(card(OTHER_STUDY)).to_be_visible()
    page.get_by_placeholder("Search study").fill("cosine")
    expect(card(OTHER_STUDY)).to_be_hidden()
    expect(card(STUDY)).to_be_visible()
    _save_screenshot(page, "dashboard-studies.png", tmp_path)
    card(STUDY).click()
    expect(page).to_have_url(re.compile(r"/dashboard/studies/\d+$"))
    expect(page.get_by_text(re.compile(rf"^{re.escape(STUDY)} \(id=\d+\)$"))).to_be_visible()  # the app bar
    expect(page.get_by_role("heading", name="History")).to_be_visible()  # the history chart

    page.get_by_role("link", name="Trials (List)").click()
    expect(page).to_have_url(re.compile(r"/dashboard/studies/\d+/trials"))
    expect(page.get_by_text(f"{N_TRIALS} Trials", exact=True)).to_be_visible()
    for number in range(N_TRIALS):
        expect(page.get_by_text(f"Trial {number}", exact=True)).to_be_visible()
    expect(page.get_by_text("Pruned", exact=True).first).to_be_visible()
    expect(page.get_by_text("Complete", exact=True).first).to_be_visible()
    expect(page.get_by_text("final LR / peak LR").first).to_be_visible()  # the trial note

    curve = page.locator("img[src^='/artifacts/']").first
    curve.scroll_into_view_if_needed()
    expect(curve).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=curve.element_handle())
    assert curve.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [320, 240]
    shot = _save_screenshot(page, "dashboard.png", tmp_path)
    assert shot.stat().st_size > 10_000

    page.get_by_role("link", name="Note").click()  # the study note
    expect(page.get_by_role("heading", name="Search space")).to_be_visible()
    expect(page.get_by_text("never before half the epochs", exact=False).first).to_be_visible()
    _save_screenshot(page, "dashboard-note.png", tmp_path)
    assert not errors, errors


SEED_STUDY = "lrtune-browser-own"


def _own_study_with_confirmations(url: str) -> None:
    """A user's own study over three families, confirmed with 4 seeds by ``lrtune.confirm``, then
    analysed by ``python -m lrtune.analyze`` (which stores the seed view). The objective is a cheap
    deterministic function of the schedule and the seed, so the test needs no training."""
    import numpy as np

    import lrtune
    from lrtune import analyze

    def objective(trial):
        schedule = lrtune.suggest_schedule(trial, ["cosine", "onecycle", "constant"], lr=(1e-3, 1.0))
        rng = np.random.default_rng(lrtune.trial_seed(trial))
        base = {"cosine": 0.92, "onecycle": 0.9, "constant": 0.85}[schedule.family]
        return base - 0.02 * abs(np.log10(schedule.peak_lr) + 1) + rng.normal(0, 0.01)

    study = optuna.create_study(
        study_name=SEED_STUDY, storage=url, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1)
    )
    study.set_metric_names(["validation accuracy"])
    study.optimize(objective, n_trials=12)
    lrtune.confirm(study, objective, seeds=4)
    assert analyze.main(["--storage", url, "--out", str(Path(url.removeprefix("sqlite:///")).parent / "r")]) == 0


def test_dashboard_shows_the_seed_view_of_a_confirmation_study(page, tmp_path: Path, serve_dashboard) -> None:
    from playwright.sync_api import expect

    from lrtune.report.seed_view import GRAPH_ID

    url = f"sqlite:///{tmp_path / 'own.db'}"
    _own_study_with_confirmations(url)
    confirm = optuna.load_study(study_name=f"{SEED_STUDY}:confirm", storage=url)
    assert confirm.metric_names == ["validation accuracy"]  # carried over from the user's study
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    with serve_dashboard(url) as base:
        page.goto(f"{base}/dashboard")
        page.get_by_role("heading", name=re.compile(rf"^\d+\. {re.escape(SEED_STUDY)}:confirm$")).click()
        expect(page).to_have_url(re.compile(r"/dashboard/studies/\d+$"))
        title = page.locator(".gtitle", has_text="Seed view")
        title.scroll_into_view_if_needed()
        expect(title).to_be_visible()
        expect(title).to_contain_text("validation accuracy per confirmation seed")
        graph = page.locator(f'[id="user-defined-plot:{GRAPH_ID}"]')  # optuna-dashboard's id for it
        expect(graph).to_be_visible()
        for family in ("cosine", "onecycle", "constant"):
            expect(graph.locator(".xtick", has_text=family)).to_be_visible()  # one column per family
        expect(graph.locator(".legendtext", has_text="seed 4")).to_be_visible()  # one line per seed
        expect(graph.locator(".legendtext", has_text="median, interval")).to_be_visible()
        assert graph.locator(".scatterlayer .trace").count() == 5  # 4 seeds + the medians
        graph.scroll_into_view_if_needed()
        shot = out = REPO / "test-artifacts" / "dashboard-seed-view.png"
        out.parent.mkdir(exist_ok=True)
        graph.screenshot(path=str(out))
        shutil.copyfile(out, tmp_path / out.name)
        assert shot.stat().st_size > 10_000
        _save_screenshot(page, "dashboard-seed-view-page.png", tmp_path)
    assert not errors, errors
