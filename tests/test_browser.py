"""What a stakeholder sees: reports opened from disk in a real headless Chromium, network cut."""

from __future__ import annotations

import os
import shutil

import pytest

from playbook.sample import PLANTED

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str | None:
    for name in (os.environ.get("PLAYBOOK_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def browser():
    path = _chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but no Chromium was found; .ci/run installs Debian's `chromium`")
        pytest.skip("no Chromium on this machine (install Debian's `chromium`, or set PLAYBOOK_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _open(browser, path):
    """Load a file with every non-file request blocked; return the page, outside requests and console errors."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    outside, errors = [], []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:")) else (outside.append(route.request.url), route.abort()))
    page = context.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(path.resolve().as_uri(), wait_until="load")
    return page, outside, errors


def test_planted_report_reads_right_offline(browser, sample_run):
    _, out = sample_run
    page, outside, errors = _open(browser, out / PLANTED.nps_drop_team / "feedback.html")
    assert outside == [] and errors == []
    text = page.inner_text("body")
    assert "What needs action" in text and "NPS fell by" in text and "the two intervals do not overlap" in text
    assert f"Detractors mostly talk about {PLANTED.dominant_theme}" in text
    assert f"Highest ARR-weighted demand: {PLANTED.demand_item_title}" in text
    images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.getBoundingClientRect().height])")
    assert len(images) == 3
    assert all(done and width > 0 and height > 0 for done, width, height in images)
    assert "import playbook" not in text and "Traceback" not in text


def test_index_links_to_every_report(browser, sample_run):
    _, out = sample_run
    page, outside, errors = _open(browser, out / "index.html")
    assert outside == [] and errors == []
    links = page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
    teams = ("all", "analytics", "growth", "mobile", "platform")
    assert sorted(links) == sorted(f"{t}/{a}.html" for t in teams for a in ("feedback", "tools", "escalations", "experiments", "communication", "enablement"))
    assert "NPS" in page.inner_text("body")
