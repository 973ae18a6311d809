"""What `playbook run --pdf` prints, read back from the PDFs themselves.

Proves the PDF acceptance points of the "e-mail digests, chat messages and PDF" issue on the
sample run, with the real `playbook` command, Debian's Chromium, pypdf and poppler's `pdftoppm`:

1. one PDF per rendered (or no-data) report, beside its HTML, and no other;
2. each PDF carries its report's summary: every figure of the recorded summary and headline,
   and the summary's first sentence;
3. every page is headed with team, area and period, and footed "page N of M";
4. no table loses a column: every header cell of the HTML is in the PDF's text;
5. no chart is cut across a page break: the PDF draws as many images as the HTML holds;
6. a page renders to a real, non-blank A4 image (copied to $PLAYBOOK_DOCS for the README);
7. a second run with nothing changed prints nothing, and a PDF the playbook did not print is
   left as it is and reported, while the others print;
8. without Chromium the reports are still reused intact, and the run says how to install it.

Expected values come from the run's own records (manifest.json and the HTML reports), never
from numbers written here.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from conftest import AS_OF, make_params, playbook_cli
from pypdf import PdfReader, PdfWriter

from playbook.areas import AREAS
from playbook.pdf import CHROMIUM_NAMES, CREATOR, PdfError, find_chromium, period_words
from playbook.render import recorded_headline

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# pypdf notes Chromium's harmless trailer quirks as warnings; they are not what is tested here.
logging.getLogger("pypdf").setLevel(logging.ERROR)

PRINTED = ("rendered", "no_data")

# A figure as reports write it: "$1.7M", "23%", "-22", "+43.1", "2.7x", "1,259", "0.0001".
FIGURE = re.compile(r"[-+$]*\d(?:[\d,.]*\d)?(?:%|x\b|[kKmMbB]\b)?")
# The first sentence of a summary line: up to the first full stop (or ! ?) followed by a space.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _tools_or_skip() -> None:
    """Skip (fail under CI) when Chromium or pdftoppm is missing, as tests/test_browser.py does."""
    missing = []
    try:
        find_chromium()
    except PdfError:
        missing.append("Chromium (install Debian's `chromium`, or set PLAYBOOK_CHROMIUM)")
    if shutil.which("pdftoppm") is None:
        missing.append("pdftoppm (install Debian's `poppler-utils`)")
    if missing:
        why = "no " + " and no ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {why}; .ci/run installs them")
        pytest.skip(why)


def _normal(text: str) -> str:
    """Text with ligatures unfolded ("ﬁ" to "fi"), as extraction from a PDF gives them."""
    return unicodedata.normalize("NFKC", text)


def _squash(text: str) -> str:
    """Text without whitespace, which PDF extraction moves about at line ends."""
    return re.sub(r"\s+", "", _normal(text))


def _squash_hyphens(text: str) -> str:
    """Text without whitespace and hyphens: a word the printed page broke ("Respon ses",
    "mobile- app", or hyphenated with a soft or typographic hyphen) reads as the HTML's."""
    return re.sub(r"[\s\-\u00ad\u2010\u2011]+", "", _normal(text))


def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


@dataclass(frozen=True)
class Printed:
    """A copy of the sample run's reports, run again with --pdf.

    Attributes:
        run: the `playbook run --pdf` process.
        out: its reports folder.
        params: the params folder it ran with.
        reports: manifest.json's entries after the run, by key.
        soups: the reports' parsed HTML, filled as read (see :meth:`html`).
    """

    run: subprocess.CompletedProcess
    out: Path
    params: Path
    reports: dict[str, dict]
    soups: dict[str, BeautifulSoup] = field(default_factory=dict)

    def printable(self) -> dict[str, dict]:
        """The entries a PDF is printed for (rendered or no data), by key."""
        return {key: e for key, e in self.reports.items() if e["status"] in PRINTED and e.get("html")}

    def pdf(self, entry: dict) -> Path:
        return self.out / Path(entry["html"]).with_suffix(".pdf")

    def html(self, entry: dict) -> BeautifulSoup:
        """The report's HTML, parsed once per report."""
        key = f"{entry['team']}/{entry['area']}"
        if key not in self.soups:
            self.soups[key] = BeautifulSoup((self.out / entry["html"]).read_text(), "html.parser")
        return self.soups[key]


def _run_pdf(params: Path, out: Path) -> subprocess.CompletedProcess:
    return playbook_cli("run", "--params", str(params), "--out", str(out), "--as-of", AS_OF.isoformat(), "--jobs", "2", "--pdf")


@pytest.fixture(scope="module")
def printed(tmp_path_factory, sample_run, sample_workspace) -> Printed:
    """The sample run's reports copied, then `playbook run --pdf` on the copy with the same params."""
    _tools_or_skip()
    first, out = sample_run
    assert first.returncode == 0, first.stdout + first.stderr
    root = tmp_path_factory.mktemp("pdf")
    reports = root / "reports"
    shutil.copytree(out, reports)
    assert not list(reports.rglob("*.pdf")), "the sample run printed no PDF; this copy must start without any"
    params = make_params(root, sample_workspace)
    run = _run_pdf(params, reports)
    manifest = json.loads((reports / "manifest.json").read_text())
    return Printed(run, reports, params, manifest["reports"])


@pytest.fixture(scope="module")
def pdf_text(printed) -> dict[str, list[str]]:
    """Each printed report's text, page by page (ligatures unfolded), by manifest key."""
    return {key: [_normal(page.extract_text()) for page in PdfReader(printed.pdf(e)).pages]
            for key, e in printed.printable().items()}


def test_run_prints_one_pdf_per_report(printed):
    """Every rendered or no-data report of the manifest, and nothing else, gets a PDF beside its
    HTML, with pages, stamped as the playbook's; the reports themselves were reused, not re-run."""
    run = printed.run
    assert run.returncode == 0, run.stdout + run.stderr
    wanted = {printed.pdf(e) for e in printed.printable().values()}
    assert wanted, "the manifest lists no printable report"
    assert all(e["reused"] for e in printed.reports.values()), "inputs are unchanged: every report is reused"
    assert set(printed.out.rglob("*.pdf")) == wanted
    for path in sorted(wanted):
        reader = PdfReader(path)
        assert len(reader.pages) >= 1, path
        assert str((reader.metadata or {}).get("/Creator")) == CREATOR, path
    assert f"{len(wanted)} of {len(wanted)} PDFs printed" in run.stderr


def test_pdf_carries_the_summary_figures_and_first_sentence(printed, pdf_text):
    """Each figure of a report's recorded summary and headline ("$1.7M", "23%", "-22"), and its
    summary's first sentence, is in the PDF's text; whitespace aside, signs and all."""
    missing: dict[str, list[str]] = {}
    checked = 0
    for key, entry in printed.printable().items():
        text = _squash("".join(pdf_text[key]))
        recorded = " ".join(entry.get("summary") or []) + " " + recorded_headline(entry.get("headline"))
        figures = sorted(set(FIGURE.findall(recorded)))
        checked += len(figures)
        lost = [figure for figure in figures if _squash(figure) not in text]
        if entry.get("summary"):
            first = SENTENCE_END.split(entry["summary"][0].strip(), maxsplit=1)[0]
            if _squash(first) not in text:
                lost.append(f"first sentence: {first}")
        if lost:
            missing[key] = lost
    assert checked > 0, "no figure found in any recorded summary: the check would prove nothing"
    assert missing == {}


def test_every_page_is_headed_with_team_area_and_period(printed, pdf_text):
    """Every page reads "<team> · <area> · <period>" (the period as the report's own header writes
    it) and "page N of M"."""
    for key, entry in printed.printable().items():
        period = period_words(entry.get("period"))
        area = AREAS[entry["area"]].title
        team = entry.get("team_name") or entry["team"]
        assert period, f"{key} records no period"
        report_text = " ".join(printed.html(entry).get_text(" ").split())
        assert period in report_text, f"{key}: the header's period {period!r} is not the report's own"
        assert area in report_text and team in report_text, key
        header = f"{team} · {area} · {period}"
        pages = pdf_text[key]
        for number, page in enumerate(pages, start=1):
            words = " ".join(page.split())
            assert header in words, f"{key} page {number} lacks its header {header!r}"
            assert f"page {number} of {len(pages)}" in words, f"{key} page {number} lacks its page number"


def test_tables_keep_every_column(printed, pdf_text):
    """Every header cell of every table in a report's HTML is in its PDF's text: a column cut off
    at the page edge is not drawn (Chromium clips it), so its header would be missing."""
    missing: dict[str, list[str]] = {}
    headers = 0
    for key, entry in printed.printable().items():
        text = _squash_hyphens("".join(pdf_text[key]))
        cells = {th.get_text(" ", strip=True) for table in printed.html(entry).find_all("table") for th in table.find_all("th")}
        cells.discard("")
        headers += len(cells)
        lost = sorted(cell for cell in cells if _squash_hyphens(cell) not in text)
        if lost:
            missing[key] = lost
    assert headers > 0, "no table header in any report: the check would prove nothing"
    assert missing == {}


def test_charts_are_not_split_across_pages(printed):
    """A PDF draws exactly as many images as its HTML holds: a chart cut by a page break is drawn
    once on each page, and one lost is not drawn at all."""
    counts = {}
    for key, entry in printed.printable().items():
        in_html = len(printed.html(entry).find_all("img"))
        in_pdf = sum(len(page.images) for page in PdfReader(printed.pdf(entry)).pages)
        counts[key] = (in_html, in_pdf)
    assert sum(html for html, _ in counts.values()) > 0, "no chart in any report: the check would prove nothing"
    assert {key: c for key, c in counts.items() if c[0] != c[1]} == {}, "(images in the HTML, images drawn in the PDF)"


def test_page_image(printed, tmp_path):
    """Page 1 of the mobile team's feedback report renders (pdftoppm) to a real, non-blank PNG of
    A4 proportions; with PLAYBOOK_DOCS set it is also copied there as report-pdf.png."""
    from PIL import Image

    entry = printed.reports["mobile/feedback"]
    assert entry["status"] == "rendered"
    pdf = printed.pdf(entry)
    done = subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pngs = sorted(tmp_path.glob("page*.png"))
    assert len(pngs) == 1, pngs
    png = pngs[0]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    box = PdfReader(pdf).pages[0].mediabox
    with Image.open(png) as image:
        image.load()
        assert image.format == "PNG"
        width, height = image.size
        # The page's own size at 80 dpi, and A4's 1 : sqrt(2).
        assert abs(width - float(box.width) / 72 * 80) <= 2 and abs(height - float(box.height) / 72 * 80) <= 2
        assert abs(height / width - 297 / 210) < 0.01
        grey = image.convert("L")
        inked = sum(count for level, count in enumerate(grey.histogram()) if level < 200) / (width * height)
        assert 0.01 < inked < 0.6, f"{inked:.1%} of the page is inked: blank, or a solid block"
        colours = image.convert("RGB").getcolors(maxcolors=width * height)
        assert len(colours) > 16, "too few colours for a page of text and a summary box"
    docs = os.environ.get("PLAYBOOK_DOCS")
    if docs:
        Path(docs).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, Path(docs) / "report-pdf.png")


def _foreign_pdf(path: Path) -> None:
    """A user's own one-page PDF, made by something else than the playbook."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": "My notes on NPS", "/Creator": "Someone's word processor"})
    buffer = io.BytesIO()
    writer.write(buffer)
    path.write_bytes(buffer.getvalue())


def test_second_run_prints_nothing_new_and_leaves_a_foreign_pdf(printed, tmp_path):
    """Nothing changed: a second run leaves every PDF as it was (bytes and mtime). Then, with a
    user's own PDF at one report's path, two PDFs gone and one report's HTML newer than its PDF:
    the user's file is untouched and named (exit 1), and the three others are printed."""
    out = tmp_path / "reports"
    shutil.copytree(printed.out, out)
    entries = printed.printable()
    pdfs = {key: out / Path(e["html"]).with_suffix(".pdf") for key, e in entries.items()}
    before = {key: _digest(path) for key, path in pdfs.items()}

    again = _run_pdf(printed.params, out)
    assert again.returncode == 0, again.stdout + again.stderr
    assert {key: _digest(path) for key, path in pdfs.items()} == before
    assert f"0 of 0 PDFs printed ({len(pdfs)} unchanged since their report)" in again.stderr

    keys = sorted(pdfs)
    assert len(keys) >= 4
    foreign_key, *gone, stale_key = keys[0], keys[1], keys[2], keys[3]
    foreign = pdfs[foreign_key]
    _foreign_pdf(foreign)
    theirs = _digest(foreign)
    for key in gone:
        pdfs[key].unlink()
    stale_html = out / entries[stale_key]["html"]
    stamp = pdfs[stale_key].stat().st_mtime + 5
    os.utime(stale_html, (stamp, stamp))
    untouched = {key: before[key] for key in keys[4:]}

    third = _run_pdf(printed.params, out)
    assert third.returncode == 1, third.stdout + third.stderr
    assert str(foreign) in third.stderr and "did not print" in third.stderr
    assert _digest(foreign) == theirs
    assert str((PdfReader(foreign).metadata or {}).get("/Creator")) != CREATOR
    for key in (*gone, stale_key):
        reader = PdfReader(pdfs[key])
        assert len(reader.pages) >= 1 and str((reader.metadata or {}).get("/Creator")) == CREATOR, key
        assert pdfs[key].stat().st_mtime >= (out / entries[key]["html"]).stat().st_mtime, key
    assert _digest(pdfs[stale_key]) != before[stale_key]
    assert {key: _digest(pdfs[key]) for key in untouched} == untouched
    assert f"3 of 4 PDFs printed ({len(untouched)} unchanged since their report)" in third.stderr


def test_without_chromium_reports_are_kept_and_the_run_says_how_to_install_it(sample_run, sample_workspace, tmp_path, monkeypatch):
    """PLAYBOOK_CHROMIUM names nothing and PATH holds only the venv's commands: the run still
    reuses every report (HTML byte for byte), prints no PDF, exits 1 and says how to install Chromium."""
    first, out = sample_run
    assert first.returncode == 0, first.stdout + first.stderr
    reports = tmp_path / "reports"
    shutil.copytree(out, reports)
    params = make_params(tmp_path, sample_workspace)
    recorded = json.loads((reports / "manifest.json").read_text())["reports"]
    html = {reports / e["html"]: (reports / e["html"]).read_bytes() for e in recorded.values() if e.get("html")}
    assert html
    venv_bin = str(Path(sys.executable).parent)
    assert all(shutil.which(name, path=venv_bin) is None for name in CHROMIUM_NAMES), "the venv itself holds a Chromium"
    nowhere = tmp_path / "no" / "chromium"
    monkeypatch.setenv("PATH", venv_bin)
    monkeypatch.setenv("PLAYBOOK_CHROMIUM", str(nowhere))

    run = _run_pdf(params, reports)

    assert run.returncode == 1, run.stdout + run.stderr
    entries = json.loads((reports / "manifest.json").read_text())["reports"]
    assert entries and all(e["status"] in PRINTED and e["reused"] for e in entries.values())
    assert f"{len(entries)} of {len(entries)} reports ok" in run.stdout
    assert {path: path.read_bytes() for path in html} == html
    assert not list(reports.rglob("*.pdf"))
    assert "apt-get install chromium" in run.stderr and str(nowhere) in run.stderr
