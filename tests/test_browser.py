"""What a stakeholder sees: reports opened from disk in a real headless Chromium, network cut."""

from __future__ import annotations

import os
import re
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
  const warm = Array.from(td.querySelectorAll('*')).filter(e => !e.closest('.status') && !e.closest('svg') && (e.innerText || '').trim()).some(e => {
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
    # A tool named with one long unbroken word (a pasted URL, an SKU): the tables must still fit.
    for table in ("tools", "tool_seats"):
        frame = pd.read_csv(ws / f"{table}.csv", dtype=str, keep_default_na=False)
        frame.loc[frame["tool"] == "Sketch", "tool"] = LONG_NAME
        frame.to_csv(ws / f"{table}.csv", index=False)
    params = make_params(root, ws, teams={"mobile": {"name": "Mobile <b>team</b>", "products": ["mobile-app"]}})
    result = playbook_cli("run", "--params", str(params), "--out", str(root / "out"), "--as-of", AS_OF.isoformat())
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "out"


LONG_NAME = "Sketch-" + "x" * 140 + ".example.com"


def test_long_unbroken_names_still_fit_1280_px(browser, injected_run):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = []
    for path in sorted((injected_run / "mobile").glob("*.html")) + [injected_run / "index.html"]:
        page.goto(path.resolve().as_uri(), wait_until="load")
        problems += [f"{path.name}: {p}" for p in layout_problems(page)]
    tools_text = (injected_run / "mobile" / "tools.html").read_text()
    context.close()
    assert LONG_NAME in tools_text  # the long name is in the report, wrapped, not dropped
    assert problems == []


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


# What a reader at 1280 px meets: each table against the box it sits in, the page against the
# window, and every image's alternative text.
LAYOUT = """() => ({
  page: [document.documentElement.scrollWidth, window.innerWidth],
  tables: Array.from(document.querySelectorAll('table')).map(t => {
    const cap = t.querySelector('caption');
    const head = Array.from(t.querySelectorAll('thead th')).map(th => th.innerText.trim()).slice(0, 4).join(' | ');
    return [(cap ? cap.innerText + ': ' : '') + head, t.scrollWidth, Math.ceil(t.getBoundingClientRect().width),
            t.parentElement.clientWidth];
  }),
  images: Array.from(document.images).map(i => i.getAttribute('alt')),
})"""

PLACEHOLDERS = ("no description has been provided for this image", "image", "chart", "figure", "plot", "png")
# An alt says what a chart shows: its kind ("Line chart", "Horizontal bar chart", "Heatmap")
# with its axes, or, for a chart with nothing to draw, its title and the reason ("NPS: No ...").
DESCRIBES = re.compile(r"\b(?:chart|Heatmap)\b.*\baxis\b|\bHeatmap\b.*\brows\b.*\bcolumns\b|^[^:]+: No ", re.S)


def _report_pages(out):
    return sorted(out.glob("*/*.html")) + [out / "index.html"]


def layout_problems(page) -> list[str]:
    """Everything on the open page that a reader at its width cannot see without scrolling
    sideways, and every image without a meaningful alt."""
    found = page.evaluate(LAYOUT)
    problems = []
    wide, window = found["page"]
    if wide > window:
        problems.append(f"page {wide} px wide in a {window} px window")
    for name, scroll, width, box in found["tables"]:
        if max(scroll, width) > box + 1:
            problems.append(f"table [{name}] {max(scroll, width)} px in a {box} px box")
    alts = [" ".join((alt or "").split()) for alt in found["images"]]
    for alt in alts:
        if alt.lower().strip(". ") in PLACEHOLDERS or len(alt) < 25 or not DESCRIBES.search(alt):
            problems.append(f"image alt {alt!r} does not say what the chart shows")
    if len(set(alts)) < len(alts):
        problems.append("two images share one alt text")
    return problems


def test_every_report_fits_1280_px_and_describes_its_charts(browser, sample_run):
    """Issue #18: at 1280 px no table is wider than its box, nothing is wider than the page, and
    every chart's alt says what it shows; over every report of the run and the index."""
    _, out = sample_run
    pages = _report_pages(out)
    assert len(pages) == 31
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems, images = [], 0
    for path in pages:
        page.goto(path.resolve().as_uri(), wait_until="load")
        images += page.evaluate("document.images.length")
        problems += [f"{path.relative_to(out)}: {p}" for p in layout_problems(page)]
    context.close()
    assert images >= 60  # every report but the index draws charts
    assert problems == []


# "1 points", "-1 days", "+1 accounts": one with a plural. Words that end in "s" without being
# plurals ("1 is", "1 was", "1 of 3 has") are not nouns counted by the number.
ONE_WITH_PLURAL = re.compile(r"(?<![\w.,$/])(?<!\w-)[+\-−]?1 ([A-Za-z]+s)\b")
NOT_PLURALS = {"is", "was", "has", "does", "this", "its", "as", "us", "plus", "minus", "thus", "yes", "always", "status", "across",
               "less", "class", "process", "access", "success", "business", "progress", "analysis", "basis", "bonus", "focus"}
# "2 point", "0 day", "1,204 account": more (or none) with a singular. Only nouns the reports count.
COUNTED = ("point", "day", "week", "month", "hour", "account", "request", "escalation", "bug", "seat", "tool", "release", "experiment",
           "response", "user", "visitor", "comment", "item", "feature", "audience", "person", "team", "unit", "training", "course",
           "comm", "variant", "metric", "report", "action", "reopen", "launch", "group")
MANY_WITH_SINGULAR = re.compile(r"(?<![\w.,$/])(?<!\w-)[+\-−]?(\d[\d,]*(?:\.\d+)?) (" + "|".join(COUNTED) + r")\b(?![-'’])")


def disagreeing_number_words(text: str) -> list[str]:
    """Each place in ``text`` where a number and the noun it counts disagree, with context."""
    def around(match):
        return text[max(match.start() - 30, 0):match.end() + 15].replace("\n", " ")

    found = [around(m) for m in ONE_WITH_PLURAL.finditer(text) if m.group(1).lower() not in NOT_PLURALS]
    found += [around(m) for m in MANY_WITH_SINGULAR.finditer(text) if m.group(1) != "1"]
    return found


@pytest.mark.parametrize(
    "text, bad",
    [("NPS up 1 points", True), ("down 1 point", False), ("-1 days late", True), ("1 accounts at risk", True), ("2 points", False),
     ("2 point lead", True), ("0 day", True), ("1.5 days", False), ("1,204 account", True), ("P1 escalations", False),
     ("Week-1 retention", False), ("1 of 3 is", False), ("1 is open", False), ("21 days", False), ("$1 seats", False),
     ("a 30-day window", False), ("1 day", False), ("+1 points", True), ("11 days", False)],
)
def test_the_number_word_scan_finds_what_a_reader_would(text, bad):
    assert bool(disagreeing_number_words(text)) is bad


def test_number_words_agree_in_every_report(browser, sample_run):
    """Issue #18: no "1 points", "1 days" or "2 point" anywhere a reader looks, in every report and the index."""
    _, out = sample_run
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    found = []
    for path in _report_pages(out):
        page.goto(path.resolve().as_uri(), wait_until="load")
        found += [f"{path.relative_to(out)}: {hit}" for hit in disagreeing_number_words(page.inner_text("body"))]
    context.close()
    assert found == []
