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
