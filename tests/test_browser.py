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
    links = page.eval_on_selector_all("tbody a", "els => els.map(e => e.getAttribute('href'))")
    teams = ("all", "analytics", "growth", "mobile", "platform")
    assert sorted(links) == sorted(f"{t}/{a}.html" for t in teams for a in ("feedback", "tools", "escalations", "experiments", "communication", "enablement"))
    assert set(page.eval_on_selector_all("#look-here-first a", "els => els.map(e => e.getAttribute('href'))")) <= set(links)
    assert "NPS" in page.inner_text("body")


# A cell reads as coloured when any of its text (status badges aside) is drawn in a warm colour.
COLOURED_CELLS = """() => Array.from(document.querySelectorAll('tbody td')).map(td => {
  const href = td.querySelector('a') ? td.querySelector('a').getAttribute('href') : null;
  const warm = Array.from(td.querySelectorAll('*')).filter(e => !e.closest('.status') && e.innerText.trim()).some(e => {
    const [r, g, b] = getComputedStyle(e).color.match(/\\d+/g).map(Number);
    return r >= 120 && r - g >= 30 && r - b >= 30;
  });
  return [href, warm];
})"""


def test_index_colours_only_cells_with_an_action_and_leads_with_the_planted_ones(browser, sample_run):
    """What a reader of the index sees: a warm colour only where the report asks for action, and
    "look here first" naming the problems the sample company was built with, each linked."""
    import json

    _, out = sample_run
    manifest = json.loads((out / "manifest.json").read_text())
    acting = {entry["html"] for entry in manifest["reports"].values() if (entry.get("result") or {}).get("actions")}
    assert 0 < len(acting) < len(manifest["reports"])  # some cells must stay plain for the check to mean anything
    page, outside, errors = _open(browser, out / "index.html")
    assert outside == [] and errors == []
    coloured = {href for href, warm in page.evaluate(COLOURED_CELLS) if warm}
    assert coloured == acting
    first = page.eval_on_selector_all("#look-here-first li", "els => els.map(e => [e.innerText, e.querySelector('a').getAttribute('href')])")
    planted = [
        (f"{PLANTED.nps_drop_team}/feedback.html", "NPS fell by"),
        (f"{PLANTED.srm_team}/experiments.html", f"({PLANTED.srm}) is invalid"),
        (f"{PLANTED.unreached_team}/communication.html", f"({PLANTED.unreached_release}, "),
        (f"{PLANTED.early_team}/enablement.html", f"({PLANTED.early_release}) shipped on"),
        (f"{PLANTED.sla_team}/escalations.html", "P1 first responses breached"),
        (f"{PLANTED.retention_team}/escalations.html", "Week-1 retention of new accounts fell"),
        (f"{PLANTED.renewal_team}/tools.html", f"{PLANTED.renewal_tool} renews on"),
    ]
    for href, words in planted:
        assert any(link == href and words in text for text, link in first), f"look here first lacks {words!r} ({href})"
    # Most urgent first: every high-severity action comes before any other.
    severities = [text.split()[0].lower() for text, _ in first]
    assert severities == sorted(severities, key=["high", "medium", "low"].index)


PAYLOADS = (
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    '<a href="javascript:window.__pwned = 3">click me</a>',
)


@pytest.fixture(scope="module")
def injected_run(tmp_path_factory, sample_workspace):
    """The mobile team's reports from a workspace whose free text is full of markup."""
    import pandas as pd

    from conftest import AS_OF, make_params, playbook_cli

    root = tmp_path_factory.mktemp("injected")
    ws = root / "ws"
    shutil.copytree(sample_workspace, ws)

    def poison(table, column, where=None, prefix=""):
        frame = pd.read_csv(ws / f"{table}.csv", dtype=str, keep_default_na=False)
        rows = frame.index if where is None else frame.index[where(frame)]
        frame.loc[rows, column] = [f"{prefix}{PAYLOADS[i % 3]}" for i in range(len(rows))]
        frame.to_csv(ws / f"{table}.csv", index=False)

    poison("nps_responses", "comment", lambda f: (f["product"] == "mobile-app") & (f["comment"] != ""), prefix="slow ")
    poison("accounts", "name")
    poison("escalations", "title", lambda f: f["team"] == "mobile")
    poison("stakeholder_requests", "topic", lambda f: f["team"] == "mobile")
    poison("roadmap", "title", lambda f: f["team"] == "mobile")
    poison("releases", "title", lambda f: f["team"] == "mobile")
    poison("experiments", "name", lambda f: f["team"] == "mobile")
    params = make_params(root, ws, teams={"mobile": {"name": "Mobile <b>team</b>", "products": ["mobile-app"]}})
    result = playbook_cli("run", "--params", str(params), "--out", str(root / "out"), "--as-of", AS_OF.isoformat())
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "out"


@pytest.mark.parametrize("area", ["feedback", "escalations", "communication", "experiments", "enablement", "tools"])
def test_customer_text_cannot_inject_markup(browser, injected_run, area):
    page, outside, errors = _open(browser, injected_run / "mobile" / f"{area}.html")
    assert page.evaluate("window.__pwned") is None
    links = page.eval_on_selector_all("a[href^='javascript']", "els => els.length")
    assert links == 0 and outside == [] and errors == []
    text = page.inner_text("body")
    assert "Mobile <b>team</b>" in text
    if area in ("feedback", "escalations", "communication", "experiments"):
        assert any(p in text for p in PAYLOADS), f"no payload shown as text in {area}"


def test_screenshots_of_the_index_and_a_report(browser, sample_run):
    _, out = sample_run
    shots = out / "screenshots"
    shots.mkdir(exist_ok=True)
    for name, path in (("index", out / "index.html"), ("feedback", out / PLANTED.nps_drop_team / "feedback.html")):
        page, _, _ = _open(browser, path)
        page.screenshot(path=str(shots / f"{name}.png"), full_page=False)
        assert (shots / f"{name}.png").stat().st_size > 10_000


@pytest.mark.parametrize("area", ["tools", "escalations", "feedback", "communication", "experiments", "enablement"])
def test_every_area_reads_complete_offline(browser, sample_run, area):
    _, out = sample_run
    page, outside, errors = _open(browser, out / "platform" / f"{area}.html")
    assert outside == [] and errors == []
    assert page.is_visible(".pb-summary") and page.is_visible(".pb-toc")
    images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.getBoundingClientRect().height])")
    assert images, f"{area} has no charts"
    assert all(done and width > 0 and height > 0 for done, width, height in images)
    headings = page.eval_on_selector_all("h2.pb-section", "els => els.map(e => e.id)")
    links = page.eval_on_selector_all(".pb-toc a", "els => els.map(e => e.getAttribute('href').slice(1))")
    assert links == headings and len(headings) >= 3
