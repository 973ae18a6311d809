"""Printing reports to PDF with the system's headless Chromium (Debian's ``chromium``).

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: commands
on file descriptor 3, replies on 4, each a JSON object ended by a NUL byte), so nothing beyond the
browser itself is needed and nothing is downloaded. One browser prints every report of a run.
``Page.printToPDF`` (https://chromedevtools.github.io/devtools-protocol/tot/Page/#method-printToPDF)
draws the page header (team, area, period) and footer (page numbers) on every page; the report's
own print stylesheet (``report.css``, ``@media print``) keeps a chart whole and its heading with
it, and lets wide tables wrap instead of losing columns.

The browser is cut off from the network (every host name resolves to nothing): a report is
self-contained, and printing one must never reach out.
"""

from __future__ import annotations

import base64
import fcntl
import html
import io
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from playbook.errors import PlaybookError

# A4 in inches, with margins that leave room for the header and footer lines.
PAGE = {"paperWidth": 8.27, "paperHeight": 11.69, "marginTop": 0.65, "marginBottom": 0.6, "marginLeft": 0.45, "marginRight": 0.45}
CREATOR = "playbook"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class PdfError(PlaybookError):
    """Raised when no Chromium is found, or it fails to start or to print a page."""


def find_chromium() -> str:
    """The Chromium to print with: ``PLAYBOOK_CHROMIUM`` if set (and then only that one), else
    the first on PATH.

    Raises:
        PdfError: none is installed, or ``PLAYBOOK_CHROMIUM`` names no executable.
    """
    named = os.environ.get("PLAYBOOK_CHROMIUM")
    if named:
        found = shutil.which(named)
        if found:
            return found
        # The one asked for, or none: printing with another browser than the one named would
        # hide a setup mistake.
        raise PdfError(f"PLAYBOOK_CHROMIUM={named!r} is not an executable: point it at Chromium, or unset it to use the first of "
                       f"{', '.join(CHROMIUM_NAMES)} on PATH (Debian's package: apt-get install chromium)")
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise PdfError("printing PDFs needs Chromium and none was found on PATH (tried "
                   f"{', '.join(CHROMIUM_NAMES)}): install Debian's package (apt-get install chromium) or set PLAYBOOK_CHROMIUM")


@dataclass(frozen=True)
class PrintJob:
    """One page to print: the HTML file, the PDF to write, and the header's words."""

    html: Path
    pdf: Path
    header: str


class Browser:
    """A headless Chromium spoken to over the DevTools pipe; a context manager that always stops it."""

    def __init__(self, executable: str | None = None, timeout: float = 60.0) -> None:
        self.executable = executable or find_chromium()
        self.timeout = timeout
        self._next_id = 0
        self.alive = True  # False once Chromium stopped answering: the pages left are not tried
        self._buffer = b""
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> Browser:
        self._profile = tempfile.TemporaryDirectory(prefix="playbook-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def _wire() -> None:
            # Chromium reads commands on fd 3 and writes replies on fd 4; lift both ends above
            # the low numbers first, so that placing one cannot close the other.
            high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 20)
            high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 20)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        args = [
            self.executable, "--headless", "--remote-debugging-pipe", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--mute-audio",
            # No host name resolves: a self-contained report needs none, and printing never reaches out.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={self._profile.name}", "about:blank",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # Chromium's sandbox refuses to run as root (containers, CI).
            args.insert(1, "--no-sandbox")
        try:
            # close_fds=False: the two descriptors _wire places must survive into Chromium (pass_fds
            # cannot name them, as they are placed only in the child). Python opens every other
            # descriptor non-inheritable (PEP 446), so nothing else leaks into the browser.
            # Its own session: Chromium's helper processes are stopped with it, whatever happens.
            self._process = subprocess.Popen(args, preexec_fn=_wire, close_fds=False, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as err:
            self._close_fds(to_browser_r, from_browser_w, self._to_browser, self._from_browser)
            self._profile.cleanup()
            raise PdfError(f"could not start Chromium ({self.executable}): {err}") from err
        self._close_fds(to_browser_r, from_browser_w)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.alive:
            try:
                self._send("Browser.close")
            except (PdfError, OSError):
                pass
        try:
            self._process.wait(timeout=10 if self.alive else 1)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except OSError:
            pass  # already gone, helpers and all
        self._process.wait()
        if self._process.stderr:
            self._process.stderr.close()
        self._close_fds(self._to_browser, self._from_browser)
        self._profile.cleanup()

    @staticmethod
    def _close_fds(*fds: int) -> None:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def _send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            self.alive = False
            raise PdfError(f"Chromium stopped unexpectedly{self._stderr_tail()}") from None
        return self._next_id

    def _messages(self, deadline: float) -> Iterator[dict[str, Any]]:
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                yield json.loads(raw)
            left = deadline - time.monotonic()
            if left <= 0:
                self.alive = False
                raise PdfError(f"Chromium did not answer within {self.timeout:g} s")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                self.alive = False
                raise PdfError(f"Chromium stopped unexpectedly{self._stderr_tail()}")
            self._buffer += chunk

    def _stderr_tail(self) -> str:
        if self._process.poll() is None or not self._process.stderr:
            return ""
        tail = self._process.stderr.read().decode(errors="replace").strip().splitlines()[-3:]
        return f" (exit status {self._process.returncode}: {' / '.join(tail)})" if tail else f" (exit status {self._process.returncode})"

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and wait for its reply; events that arrive meanwhile are kept."""
        wanted = self._send(method, params, session)
        for message in self._messages(time.monotonic() + self.timeout):
            if message.get("id") == wanted:
                if "error" in message:
                    raise PdfError(f"Chromium refused {method}: {message['error'].get('message', message['error'])}")
                return message.get("result", {})
            self._events.append(message)
        raise AssertionError("unreachable")

    def wait_for(self, method: str, session: str) -> dict[str, Any]:
        """Wait for an event of one page (one already received counts)."""
        for index, event in enumerate(self._events):
            if event.get("method") == method and event.get("sessionId") == session:
                return self._events.pop(index)
        for message in self._messages(time.monotonic() + self.timeout):
            if message.get("method") == method and message.get("sessionId") == session:
                return message
            self._events.append(message)
        raise AssertionError("unreachable")

    def print_pdf(self, html_path: Path, header: str) -> bytes:
        """The PDF of one page, its header line ``header`` and page numbers on every page."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        try:
            self.call("Page.enable", session=session)
            self._events.clear()
            self.call("Page.navigate", {"url": html_path.resolve().as_uri()}, session=session)
            self.wait_for("Page.loadEventFired", session)
            options = {
                **PAGE, "printBackground": True, "displayHeaderFooter": True,
                "headerTemplate": _header_template(header), "footerTemplate": FOOTER,
            }
            data = self.call("Page.printToPDF", options, session=session)["data"]
        finally:
            if self.alive:  # a browser that stopped answering is not waited for again
                self.call("Target.closeTarget", {"targetId": target})
        return base64.b64decode(data)


FOOTER = ('<div style="font-size:9px;width:100%;text-align:right;padding:0 0.45in;color:#555;font-family:sans-serif">'
          'page <span class="pageNumber"></span> of <span class="totalPages"></span></div>')


def _header_template(words: str) -> str:
    # The header is drawn in its own little page, outside the report's styles: fonts are set here.
    return ('<div style="font-size:9px;width:100%;padding:0 0.45in;color:#444;font-family:sans-serif">'
            f"{html.escape(words)}</div>")


def stamp(pdf: bytes, title: str, subject: str) -> bytes:
    """The PDF with its document information set: title, subject (the period), and the playbook
    as creator, which is how a later run knows the file is its own to replace."""
    import logging

    from pypdf import PdfReader, PdfWriter

    # pypdf notes Chromium's harmless trailer quirks as warnings; they are not the reader's concern.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.add_metadata({"/Title": title, "/Subject": subject, "/Creator": CREATOR})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def written_by_playbook(path: Path) -> bool:
    """Whether ``path`` is absent or a PDF the playbook printed (its creator says so)."""
    if not path.exists() and not path.is_symlink():
        return True
    if not path.is_file() or path.is_symlink():
        return False
    try:
        from pypdf import PdfReader

        info = PdfReader(str(path)).metadata or {}
        return str(info.get("/Creator", "")) == CREATOR
    except Exception:  # noqa: BLE001 - not a PDF, or a damaged one: not ours to replace
        return False


def print_reports(jobs: list[PrintJob], *, executable: str | None = None, timeout: float = 60.0,
                  on_done: Any = None) -> dict[Path, str]:
    """Print every job with one browser; a page that fails is reported, the others still print.

    Each PDF is written atomically (the old one stays until the new one is whole), and a file at
    the PDF's path that the playbook did not print is never replaced.

    Returns:
        Problems by PDF path (empty when every page printed).

    Raises:
        PdfError: Chromium is missing or does not start (nothing could be printed).
    """
    from playbook.render import write_atomic

    problems: dict[Path, str] = {}
    with Browser(executable, timeout) as browser:
        for job in jobs:
            if not browser.alive:
                problems[job.pdf] = f"{job.html.name}: not printed, Chromium stopped answering on an earlier page of this run"
            elif not written_by_playbook(job.pdf) or job.pdf.is_symlink():
                problems[job.pdf] = f"{job.pdf} is a file the playbook did not print; it was left as it is"
            else:
                try:
                    title, _, period = job.header.rpartition(" · ")
                    write_atomic(job.pdf, stamp(browser.print_pdf(job.html, job.header), title or job.header, period))
                except (PdfError, OSError, ValueError) as err:
                    problems[job.pdf] = f"{job.html.name}: {err}"
            if on_done is not None:
                on_done(job, problems.get(job.pdf))
    return problems


def period_words(period: dict[str, str] | None) -> str:
    """"01 Nov 2026 to 30 Nov 2026" from a report's recorded period, as its own header writes it."""
    from datetime import date

    from playbook.period import Period

    if not period or not period.get("start"):
        return ""
    return Period(date.fromisoformat(period["start"]), date.fromisoformat(period["end"])).label()


def report_jobs(out_dir: Path, reports: dict[str, dict[str, Any]], keys: list[str] | None = None, *, stale_only: bool = True) -> list[PrintJob]:
    """What to print: each rendered (or no-data) report of the manifest, ``keys`` if given, whose
    PDF is missing or older than its HTML (``stale_only``). A failed report keeps its last PDF."""
    from playbook.areas import AREAS

    jobs = []
    for key in sorted(keys if keys is not None else reports):
        entry = reports.get(key) or {}
        if entry.get("status") not in ("rendered", "no_data") or not entry.get("html"):
            continue
        html_path = Path(out_dir) / entry["html"]
        if not html_path.is_file():
            continue
        pdf_path = html_path.with_suffix(".pdf")
        if stale_only and pdf_path.is_file() and pdf_path.stat().st_mtime >= html_path.stat().st_mtime and written_by_playbook(pdf_path):
            continue
        area = AREAS[entry["area"]].title if entry["area"] in AREAS else entry["area"]
        header = " · ".join(w for w in (entry.get("team_name") or entry["team"], area, period_words(entry.get("period"))) if w)
        jobs.append(PrintJob(html_path, pdf_path, header))
    return jobs
