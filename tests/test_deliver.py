"""Delivery: the e-mails, the chat message and the PDFs reach their readers, and nothing else moves.

Every test here runs the real `playbook` command (`playbook deliver`, or `playbook run ... --deliver`)
against real servers on 127.0.0.1: an aiosmtpd SMTP server that keeps every envelope it is given
(with AUTH when a test needs a password), and a stdlib HTTP server standing in for a
Slack-compatible incoming webhook. The expected texts and figures are read from the run's own
records: ``manifest.json`` (each report's ``result.actions``, ``headline`` and ``digests``) and the
actions page's rows (:func:`playbook.render.manifest_board`).

What it proves (the delivery half of "e-mail digests, chat messages and PDF"):

- one message per audience (each team, each digest audience, the ops lead), each with a text and
  an HTML part, inline charts that are PNGs every ``cid:`` of the HTML points at, the reports'
  PDFs attached, no script; the team's actions ranked as the manifest ranks them, the subject
  naming the first; the digest exactly the recorded one; the ops lead's rows the actions page's;
- the webhook gets every team's headline figures and the top actions, linked under reports_url;
- ``--only-if-actions`` sends nothing when nothing needs action (and without it the same run does);
- a report that fails is told to the failures address, with why, while the others render;
- an SMTP server or webhook that cannot be reached is said (exit 1, delivery.log) and changes no
  report file;
- the SMTP user and password and the webhook URL never reach the output or any file, whether
  delivery succeeds or fails; a variable params name that is not set stops delivery before anything
  is sent (exit 2), naming the variable.
"""

from __future__ import annotations

import email
import hashlib
import http.server
import io
import json
import re
import secrets
import shutil
import socket
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from conftest import AS_OF, ROOT, make_params, playbook_cli, visible_text

from playbook.areas import AREAS
from playbook.config import load_snoozes
from playbook.display import digest_html, digest_text
from playbook.figures import Severity
from playbook.history import history_path, read_or_warn
from playbook.render import manifest_board, recorded_headline

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LOCK_NAME = ".playbook-run.lock"  # the run's own lock file (playbook.runner.run.LOCK_NAME), not a report
REPORTS_URL = "https://ops.example.com/weekly/reports/"
FAILING_AREA = "tools"

# AUTH over plain text is what these tests want (a relay on 127.0.0.1); aiosmtpd warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


# --- local servers -----------------------------------------------------------------------------

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (the system's pick, released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Mail:
    """One message as the SMTP server received it, parsed."""

    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content().replace("\r\n", "\n")

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()

    def parts(self, content_type: str) -> list[EmailMessage]:
        return [p for p in self.message.walk() if p.get_content_type() == content_type]

    def pdfs(self) -> dict[str, bytes]:
        return {p.get_filename(): p.get_content() for p in self.parts("application/pdf")}


class Inbox:
    """An aiosmtpd server on 127.0.0.1 keeping every message; with ``login`` (user, password) it
    requires AUTH (over plain text, as a relay on this machine would) and records each attempt."""

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.port = free_port()
        self.received: list[Mail] = []
        self.logins: list[tuple[str, bool]] = []
        self._login = login
        options: dict[str, Any] = {}
        if login:
            options = {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": False}
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        ok = (user, password) == self._login
        self.logins.append((user, ok))
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.received.append(Mail(tuple(envelope.rcpt_tos), message, envelope.content))
        return "250 OK"

    def __enter__(self) -> "Inbox":
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()

    def to(self, address: str) -> list[Mail]:
        return [m for m in self.received if address in m.rcpt_tos]


@dataclass
class Post:
    path: str
    content_type: str
    payload: dict[str, Any]


@dataclass
class Webhook:
    """A stdlib HTTP server standing in for an incoming webhook: keeps every POST and answers
    ``status`` (200 unless a test wants the webhook to fail)."""

    path: str = "/hook"
    status: int = 200
    posts: list[Post] = field(default_factory=list)

    def __post_init__(self) -> None:
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.posts.append(Post(self.path, self.headers.get("Content-Type", ""), json.loads(body)))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok" if hook.status == 200 else b"server error")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{self.path}"

    def __enter__(self) -> "Webhook":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- params and reports folders ----------------------------------------------------------------

def delivery_params(root: Path, workspace: Path, delivery: dict[str, Any], team_delivery: dict[str, dict[str, Any]],
                    teams: dict[str, dict[str, Any]] | None = None) -> Path:
    """A params folder (:func:`conftest.make_params`) whose defaults carry ``delivery`` (merged over
    the project's, with ``email`` merged key by key) and whose team files carry ``team_delivery``."""
    params = make_params(root, workspace, teams)
    path = params / "defaults.yaml"
    defaults = yaml.safe_load(path.read_text())
    merged = {**defaults["delivery"], **{k: v for k, v in delivery.items() if k not in ("email", "chat")}}
    merged["email"] = {**defaults["delivery"]["email"], **delivery.get("email", {})}
    merged["chat"] = {**defaults["delivery"]["chat"], **delivery.get("chat", {})}
    defaults["delivery"] = merged
    path.write_text(yaml.safe_dump(defaults, sort_keys=False))
    for team, own in team_delivery.items():
        team_path = params / "teams" / f"{team}.yaml"
        body = yaml.safe_load(team_path.read_text())
        body["delivery"] = own
        team_path.write_text(yaml.safe_dump(body, sort_keys=False))
    return params


def smtp(port: int, **more: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "security": "none", "timeout": 20, **more}


def checksums(folder: Path, skip: tuple[str, ...] = ("delivery.log", LOCK_NAME)) -> dict[str, str]:
    """sha256 of every file under ``folder`` but delivery's own log and the run's lock file."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in skip}


def manifest_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def board_of(out: Path, params: Path) -> dict[str, list[dict[str, Any]]]:
    """The actions page's rows for the run in ``out``, as the actions page computes them."""
    warnings: list[str] = []
    history = read_or_warn(history_path(out), warnings) if history_path(out).exists() else None
    return manifest_board(manifest_of(out), history, load_snoozes(params))


def log_lines(out: Path) -> list[str]:
    path = out / "delivery.log"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def rank(action: dict[str, Any]) -> tuple[int, float]:
    """How urgent an action is, as the index ranks: severity, then money at stake."""
    return int(Severity[str(action["severity"]).upper()]), float(action.get("money") or 0.0)


def team_actions(manifest: dict[str, Any], team: str) -> list[dict[str, Any]]:
    """Every action the team's shown reports recorded, with its area."""
    return [{**a, "area": e["area"]} for e in manifest["reports"].values()
            if e["team"] == team and e.get("html") and e.get("result") for a in e["result"].get("actions", [])]


def listed_actions(text: str) -> list[tuple[str, str, str]]:
    """(severity, area title, action text) of each action line of a team message's text part."""
    out = []
    for line in text.split("What needs action\n", 1)[1].split("\n\n", 1)[0].splitlines():
        match = re.match(r"^- (HIGH|MEDIUM|LOW) ([^:]+): (.*?)(?: <\S+>)?$", line)
        if match:
            out.append(match.groups())
    return out


def inline_images_are_sound(mail: Mail) -> int:
    """Assert every inline image is a PNG with a Content-ID and every ``cid:`` of the HTML is one
    of them; the number of images."""
    from PIL import Image

    images = {}
    for part in mail.parts("image/png"):
        cid = str(part["Content-ID"] or "").strip().strip("<>")
        assert cid, f"{mail.subject}: an image without Content-ID"
        png = part.get_content()
        assert png[:8] == PNG_SIGNATURE and png[12:16] == b"IHDR", f"{mail.subject}: image {cid} is not a PNG"
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG" and image.size[0] > 0 and image.size[1] > 0
            image.verify()
        images[cid] = png
    referenced = re.findall(r"""cid:([^"'\s)>]+)""", mail.html)
    dangling = set(referenced) - set(images)
    assert not dangling, f"{mail.subject}: the HTML points at cid(s) no part holds: {dangling}"
    assert set(images) <= set(referenced), f"{mail.subject}: images attached that the HTML never shows"
    return len(images)


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def printed_reports(tmp_path_factory, sample_run, sample_workspace):
    """A copy of the sample run's reports folder with the mobile and platform reports printed to
    PDF (`playbook run --pdf` on the same inputs: the reports are reused, only printed)."""
    result, out = sample_run
    assert result.returncode == 0, result.stdout + result.stderr
    root = tmp_path_factory.mktemp("printed")
    copy = root / "reports"
    shutil.copytree(out, copy)
    params = make_params(root, sample_workspace)
    printed = playbook_cli("run", "--params", str(params), "--out", str(copy), "--as-of", AS_OF.isoformat(),
                           "--team", "mobile", "--team", "platform", "--pdf", "--jobs", "2")
    assert printed.returncode == 0, printed.stdout + printed.stderr
    pdfs = sorted(copy.glob("*/*.pdf"))
    assert {p.parent.name for p in pdfs} == {"mobile", "platform"} and len(pdfs) == 12, pdfs
    return copy


AUDIENCES = ("revenue", "support", "success")
ADDRESSES = {
    "team mobile": "mobile-team@example.com",
    "team platform": "platform-team@example.com",
    **{f"digest {a}": f"{a}-desk@example.com" for a in AUDIENCES},
    "ops lead": "ops-lead@example.com",
    "failures": "on-call@example.com",
}


@dataclass
class Delivery:
    out: Path
    params: Path
    result: Any
    mails: list[Mail]
    posts: list[Post]

    def one(self, address: str) -> Mail:
        found = [m for m in self.mails if address in m.rcpt_tos]
        assert len(found) == 1, f"{address}: {len(found)} messages"
        return found[0]


@pytest.fixture(scope="module")
def delivered(tmp_path_factory, printed_reports, sample_workspace):
    """`playbook deliver` of the printed sample run to every kind of recipient: two teams, the
    three digest audiences of one, the ops lead, the failures address and a webhook (from an env
    var), PDFs attached."""
    root = tmp_path_factory.mktemp("delivered")
    out = root / "reports"
    shutil.copytree(printed_reports, out)
    with Inbox() as inbox, Webhook() as hook, pytest.MonkeyPatch.context() as mp:
        mp.setenv("PB_TEST_WEBHOOK", hook.url)
        params = delivery_params(
            root, sample_workspace,
            {"email": smtp(inbox.port, attach_pdf=True), "chat": {"webhook_env": "PB_TEST_WEBHOOK"}, "reports_url": REPORTS_URL,
             "ops_lead": [ADDRESSES["ops lead"]], "failures": [ADDRESSES["failures"]]},
            {"mobile": {"team": [ADDRESSES["team mobile"]], "digests": {a: [ADDRESSES[f"digest {a}"]] for a in AUDIENCES}},
             "platform": {"team": [ADDRESSES["team platform"]]}})
        result = playbook_cli("deliver", "--params", str(params), "--out", str(out))
    return Delivery(out, params, result, list(inbox.received), list(hook.posts))


# --- 1. one message per audience ---------------------------------------------------------------

def test_every_audience_gets_exactly_one_message_with_text_html_and_sound_images(delivered):
    """Each audience params name receives one message (the failures address none: nothing
    failed), each with a text and an HTML part, inline PNGs every cid: points at, and no script."""
    assert delivered.result.returncode == 0, delivered.result.stdout + delivered.result.stderr
    manifest = manifest_of(delivered.out)
    assert not [k for k, e in manifest["reports"].items() if e["status"] == "failed"]
    expected = sorted(a for k, a in ADDRESSES.items() if k != "failures")
    assert sorted(r for m in delivered.mails for r in m.rcpt_tos) == expected
    assert all(len(m.rcpt_tos) == 1 and m.message["To"] == m.rcpt_tos[0] for m in delivered.mails)
    assert len(delivered.posts) == 1
    images = {}
    for mail in delivered.mails:
        assert mail.message.get_content_type() in ("multipart/alternative", "multipart/mixed")
        assert mail.text.strip() and mail.html.strip()
        assert "<script" not in mail.html.lower() and "javascript:" not in mail.html.lower()
        images[mail.rcpt_tos[0]] = inline_images_are_sound(mail)
    # The team messages show each rendered report's first chart; the ops lead's, a chart of open actions.
    for team in ("mobile", "platform"):
        charted = [e for e in manifest["reports"].values() if e["team"] == team and e["status"] == "rendered"]
        assert 1 <= images[ADDRESSES[f"team {team}"]] <= len(charted)
    assert images[ADDRESSES["ops lead"]] == 1
    sent = [line for line in log_lines(delivered.out) if " sent to " in line]
    assert len(sent) == len(expected) + 1 and not [line for line in log_lines(delivered.out) if "FAILED" in line]


@pytest.mark.parametrize("team", ["mobile", "platform"])
def test_team_message_states_the_manifest_actions_ranked_and_the_top_one_in_its_subject(delivered, team):
    """The team's message lists its recorded actions, most severe and most money first, every
    high one; the rest are counted; the subject names the first; the team's PDFs are attached."""
    manifest = manifest_of(delivered.out)
    mail = delivered.one(ADDRESSES[f"team {team}"])
    every = team_actions(manifest, team)
    assert every, f"the sample's {team} reports recorded no action: nothing to check"
    listed = listed_actions(mail.text)
    by_text = {a["text"]: a for a in every}
    assert listed and all(text in by_text for _, _, text in listed), "an action the manifest does not hold"
    assert [(s, area) for s, area, _ in listed] == [(by_text[t]["severity"].upper(), AREAS[by_text[t]["area"]].title) for _, _, t in listed]
    ranks = [rank(by_text[t]) for _, _, t in listed]
    assert ranks[0] == max(rank(a) for a in every), "the first action is not the team's most urgent"
    assert ranks == sorted(ranks, reverse=True)
    left = [a for a in every if a["text"] not in {t for _, _, t in listed}]
    assert all(rank(a) <= ranks[-1] for a in left), "a less urgent action listed before a more urgent one"
    assert all(a["text"] in by_text and a["severity"] != "high" for a in left), "a high action left out"
    if left:
        assert f"…and {len(left)} more" in mail.text
    else:
        assert "more, ranked lower" not in mail.text
    # The HTML lists the same actions in the same order.
    from bs4 import BeautifulSoup

    items = [visible_text(str(li)) for li in BeautifulSoup(mail.html, "html.parser").find("ol").find_all("li")]
    assert len(items) == len(listed) and all(" ".join(t.split()) in item for item, (_, _, t) in zip(items, listed))
    # The subject: the team's name, then the first action (clipped), then how many more.
    team_name = manifest["reports"][f"{team}/communication"]["team_name"]
    head, _, rest = mail.subject.partition(": ")
    assert head == team_name
    more = re.search(r" \(\+(\d+) more\)$", rest)
    assert (int(more.group(1)) if more else 0) == len(every) - 1
    shown = rest[: more.start()] if more else rest
    assert " ".join(listed[0][2].split()).startswith(shown.rstrip("…")), (shown, listed[0][2])
    # Each of the team's reports is attached as its PDF, the very file beside the report.
    entries = [e for e in manifest["reports"].values() if e["team"] == team and e.get("html") and e["status"] != "failed"]
    pdfs = mail.pdfs()
    assert set(pdfs) == {f"{team}-{Path(e['html']).stem}.pdf" for e in entries}
    for e in entries:
        assert pdfs[f"{team}-{Path(e['html']).stem}.pdf"] == (delivered.out / e["html"]).with_suffix(".pdf").read_bytes()
    assert all(pdf_text(data).strip() for data in pdfs.values())


@pytest.mark.parametrize("audience", AUDIENCES)
def test_digest_message_is_the_recorded_digest(delivered, audience):
    """Each audience's message is the digest communication recorded for it: its text part is
    :func:`playbook.display.digest_text` of the record (then a link and why it was sent), its
    HTML holds :func:`playbook.display.digest_html` of it, and no PDF is attached (the
    communication report holds product's own figures and every audience's digest)."""
    entry = manifest_of(delivered.out)["reports"]["mobile/communication"]
    recorded = entry["digests"]
    record = next(d for d in recorded["items"] if d["audience"] == audience)
    mail = delivered.one(ADDRESSES[f"digest {audience}"])
    expected = digest_text(record, recorded["team_name"], recorded["period_label"])
    assert mail.text.startswith(expected + f"\nThe whole communication report: {REPORTS_URL}{entry['html']}\n\n--\n")
    assert f"because delivery.digests.{audience} in mobile's params names this address" in mail.text
    assert digest_html(record, recorded["team_name"], recorded["period_label"]) in mail.html
    assert mail.subject.startswith(f"{recorded['team_name']} for {audience}: ")
    assert mail.pdfs() == {}


def test_ops_lead_message_lists_the_actions_page_first_rows_in_order(delivered):
    """The ops lead's message lists the actions page's first rows (its own
    :func:`playbook.render.manifest_board`), in the same order: every high one, however many,
    then the others up to top_actions; and counts them all."""
    from bs4 import BeautifulSoup

    board = board_of(delivered.out, delivered.params)
    top = yaml.safe_load((delivered.params / "defaults.yaml").read_text())["delivery"]["top_actions"]
    high = [r for r in board["open"] if r["severity"] == "high"]
    rows = board["open"][:max(top, len(high))]
    assert len(board["open"]) > len(rows), "the sample should have more open actions than the message lists"
    assert set(map(id, high)) <= set(map(id, rows)), "a high action left out"
    mail = delivered.one(ADDRESSES["ops lead"])
    lines = [line for line in mail.text.splitlines() if re.match(r"^- (HIGH|MEDIUM|LOW) ", line)]
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows):
        assert line.startswith(f"- {row['severity'].upper()} {row['team_name']} · {AREAS[row['area']].title}: {row['text']}"), (line, row)
    items = [visible_text(str(li)) for li in BeautifulSoup(mail.html, "html.parser").find("ol").find_all("li")]
    assert len(items) == len(rows) and all(" ".join(r["text"].split()) in item for item, r in zip(items, rows))
    assert f"{len(board['open'])} open actions, {len(high)} high" in mail.text
    assert f"(+{len(board['open']) - 1} more)" in mail.subject and rows[0]["team_name"] in mail.subject
    # The owners the actions page shows travel with each row, in both parts.
    owned = [r for r in rows if r.get("owner")]
    assert owned and all(f"owner: {r['owner']}" in line for line, r in zip(lines, rows) if r.get("owner"))
    assert all(f"owner: {r['owner']}" in item for item, r in zip(items, rows) if r.get("owner"))


# --- 4. the chat message -----------------------------------------------------------------------

def mrkdwn(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_webhook_gets_every_headline_and_the_top_actions_linked_under_reports_url(delivered):
    """One Slack-compatible payload: every report's recorded headline under its team, the actions
    page's top rows in order, every link under reports_url and to a file the folder holds, and
    within Slack's limits."""
    manifest = manifest_of(delivered.out)
    board = board_of(delivered.out, delivered.params)
    (post,) = delivered.posts
    assert post.path == "/hook" and post.content_type.startswith("application/json")
    payload = post.payload
    blocks = payload["blocks"]
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(blocks) <= 50 and all(len(s) <= 3000 for s in sections)
    headlines = 0
    for key, entry in manifest["reports"].items():
        team_section = next(s for s in sections if s.startswith(f"*{mrkdwn(entry['team_name'])}*\n"))
        words = recorded_headline(entry.get("headline")) if entry["status"] == "rendered" else entry["status"].replace("_", " ")
        assert words, key
        headlines += 1
        assert f"<{REPORTS_URL}{entry['html']}|{mrkdwn(AREAS[entry['area']].title)}>: {mrkdwn(words)}" in team_section, key
        assert mrkdwn(words) in payload["text"], key
    assert headlines == len(manifest["reports"])
    top = yaml.safe_load((delivered.params / "defaults.yaml").read_text())["delivery"]["top_actions"]
    high = sum(1 for r in board["open"] if r["severity"] == "high")
    rows = board["open"][:max(top, high)]
    # The actions lead: the first section after the header holds the most urgent one, and the
    # notification's text names it.
    assert sections[0].startswith("*Most urgent*\n1. ") and rows[0]["text"] in payload["text"]
    assert sections.index(next(s for s in sections if s.startswith("*All teams*"))) < min(
        sections.index(s) for s in sections if s.startswith("*") and not s.startswith(("*Most urgent*", "*All teams*")))
    actions = "\n".join(s for s in sections if re.search(r"^\d+\. \*", s, re.M))
    # Slack's size limits may cut the list short; what is listed is the board's first rows, and
    # the rest are counted.
    listed = len(re.findall(r"^\d+\. \*", actions, re.M))
    assert listed >= min(len(rows), top)
    rows = rows[:listed]
    at = 0
    for i, row in enumerate(rows, 1):
        line = f"{i}. *{row['severity'].upper()}* {mrkdwn(row['team_name'])} · <{REPORTS_URL}{row['html']}|{mrkdwn(AREAS[row['area']].title)}>: {mrkdwn(row['text'])}"
        found = actions.find(line, at)
        assert found >= 0, f"top action {i} missing or out of order: {row['text'][:80]}"
        at = found + len(line)
    if len(board["open"]) > len(rows):
        assert f"…and {len(board['open']) - len(rows)} more" in actions
    every_text = json.dumps(blocks)
    links = re.findall(r"<([^|<>]+)\|", " ".join(sections + [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]))
    assert links and all(link.startswith(REPORTS_URL) for link in links), [x for x in links if not x.startswith(REPORTS_URL)]
    assert all((delivered.out / link[len(REPORTS_URL):]).is_file() for link in links)
    assert "http://" not in every_text.replace(REPORTS_URL, "")


# --- 2. --only-if-actions ----------------------------------------------------------------------

def test_only_if_actions_sends_nothing_when_nothing_needs_action(tmp_path, tiny_workspace, monkeypatch):
    """A team whose products have no data anywhere: every report renders with no action, so
    `playbook run --deliver --only-if-actions` sends no e-mail and posts nothing; `playbook deliver`
    without the flag sends the same setup's messages (so this test could see them)."""
    with Inbox() as inbox, Webhook() as hook:
        monkeypatch.setenv("PB_TEST_WEBHOOK", hook.url)
        params = delivery_params(
            tmp_path, tiny_workspace,
            {"email": smtp(inbox.port), "chat": {"webhook_env": "PB_TEST_WEBHOOK"}, "ops_lead": [ADDRESSES["ops lead"]],
             "failures": [ADDRESSES["failures"]]},
            {"retired": {"team": ["retired-team@example.com"], "digests": {"revenue": [ADDRESSES["digest revenue"]]}}},
            teams={"retired": {"name": "Retired", "products": ["retired-product"]}})
        out = tmp_path / "reports"
        quiet = playbook_cli("run", "--params", str(params), "--out", str(out), "--as-of", AS_OF.isoformat(), "--jobs", "2",
                             "--deliver", "--only-if-actions")
        manifest = manifest_of(out)
        assert quiet.returncode == 0, quiet.stdout + quiet.stderr
        assert len(manifest["reports"]) == len(AREAS)
        assert all(e["status"] in ("rendered", "no_data") and not (e.get("result") or {}).get("actions") for e in manifest["reports"].values())
        assert board_of(out, params)["open"] == []
        assert inbox.received == [] and hook.posts == []
        assert not [line for line in log_lines(out) if " sent to " in line]
        assert "--only-if-actions" in quiet.stderr

        loud = playbook_cli("deliver", "--params", str(params), "--out", str(out))
        assert loud.returncode == 0, loud.stdout + loud.stderr
        assert sorted(r for m in inbox.received for r in m.rcpt_tos) == sorted(
            ["retired-team@example.com", ADDRESSES["digest revenue"], ADDRESSES["ops lead"]])
        assert "Nothing needs action in any area." in inbox.to("retired-team@example.com")[0].text
        assert len(hook.posts) == 1

        again = playbook_cli("deliver", "--params", str(params), "--out", str(out), "--only-if-actions")
        assert again.returncode == 0, again.stdout + again.stderr
        assert len(inbox.received) == 3 and len(hook.posts) == 1


# --- 3. a failing report -----------------------------------------------------------------------

def notebooks_failing_in(folder: Path, area: str) -> Path:
    """The project's notebooks, with ``area``'s raising in a cell right after its parameters."""
    shutil.copytree(ROOT / "notebooks", folder)
    path = folder / f"{area}.ipynb"
    nb = nbformat.read(path, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell(f'raise RuntimeError("planted failure in the {area} notebook")'))
    nbformat.write(nb, path)
    return folder


def test_failure_address_gets_the_failed_report_and_why(tmp_path, tiny_workspace):
    """`playbook run --deliver` where one report raises: exit 1, the failures address is told which
    report failed and the reason the manifest records, the team's message says so and attaches the
    other reports' PDFs, and the other reports render."""
    with Inbox() as inbox:
        params = delivery_params(
            tmp_path, tiny_workspace,
            {"email": smtp(inbox.port, attach_pdf=True), "failures": [ADDRESSES["failures"]], "reports_url": REPORTS_URL},
            {"mobile": {"team": [ADDRESSES["team mobile"]]}},
            teams={"mobile": {"name": "Mobile", "products": ["mobile-app"]}})
        out = tmp_path / "reports"
        notebooks = notebooks_failing_in(tmp_path / "notebooks", FAILING_AREA)
        result = playbook_cli("run", "--params", str(params), "--out", str(out), "--as-of", AS_OF.isoformat(),
                              "--notebooks", str(notebooks), "--jobs", "2", "--deliver")
    assert result.returncode == 1, result.stdout + result.stderr
    reports = manifest_of(out)["reports"]
    failed = reports[f"mobile/{FAILING_AREA}"]
    assert failed["status"] == "failed" and failed["reason"]
    others = {k: e for k, e in reports.items() if k != f"mobile/{FAILING_AREA}"}
    assert len(others) == len(AREAS) - 1
    assert all(e["status"] == "rendered" and (out / e["html"]).is_file() for e in others.values()), {k: e["status"] for k, e in others.items()}

    (alert,) = inbox.to(ADDRESSES["failures"])
    assert f"mobile/{FAILING_AREA}" in alert.subject
    assert f"- mobile/{FAILING_AREA}: {failed['reason']}" in alert.text
    assert f"1 of {len(reports)} reports failed" in alert.text
    assert f"mobile/{FAILING_AREA}" in visible_text(alert.html) and " ".join(failed["reason"].split()) in visible_text(alert.html)
    assert "<script" not in alert.html.lower()

    (team,) = inbox.to(ADDRESSES["team mobile"])
    assert f"This report failed this time: {failed['reason']}" in team.text
    assert set(team.pdfs()) == {f"mobile-{Path(e['html']).stem}.pdf" for e in others.values()}
    assert all(data[:5] == b"%PDF-" for data in team.pdfs().values())
    inline_images_are_sound(team)
    assert len(inbox.received) == 2


# --- 5. nothing to talk to ---------------------------------------------------------------------

def test_unreachable_server_and_webhook_are_reported_and_change_no_report(tmp_path, printed_reports, sample_workspace, monkeypatch):
    """An SMTP port and a webhook port nothing listens on: exit 1, stderr says what failed,
    delivery.log has a FAILED line per message and for the chat, and every report file (HTML,
    notebooks, PDFs, manifest, index, actions page, history) is byte for byte as it was."""
    out = tmp_path / "reports"
    shutil.copytree(printed_reports, out)
    closed = free_port()
    monkeypatch.setenv("PB_TEST_WEBHOOK", f"http://127.0.0.1:{free_port()}/hook")
    params = delivery_params(
        tmp_path, sample_workspace,
        {"email": smtp(closed, attach_pdf=True), "chat": {"webhook_env": "PB_TEST_WEBHOOK"}, "ops_lead": [ADDRESSES["ops lead"]]},
        {"mobile": {"team": [ADDRESSES["team mobile"]], "digests": {"revenue": [ADDRESSES["digest revenue"]]}}})
    before = checksums(out)
    kinds = {Path(name).suffix or Path(name).name for name in before}
    assert {".html", ".ipynb", ".pdf", ".json", ".duckdb"} <= kinds and {"index.html", "actions.html", "manifest.json"} <= set(before)

    result = playbook_cli("deliver", "--params", str(params), "--out", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"could not reach the SMTP server 127.0.0.1:{closed}" in result.stderr and "refused" in result.stderr
    assert "delivery failed for" in result.stderr
    lines = log_lines(out)
    assert len(lines) == 4 and all("FAILED" in line for line in lines), lines
    assert sorted(line.split(" ")[1] for line in lines) == ["chat", "e-mail", "e-mail", "e-mail"]
    assert not [line for line in lines if " sent to " in line]
    assert checksums(out) == before


# --- 6. secrets --------------------------------------------------------------------------------

def leaks(folder: Path, outputs: list[str], secret_values: list[str]) -> list[str]:
    """Where any of ``secret_values`` shows: in ``outputs`` or in any file under ``folder`` (its
    bytes, and a PDF's extracted text)."""
    found = []
    for i, text in enumerate(outputs):
        found += [f"output {i}: {s[:6]}…" for s in secret_values if s in text]
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        texts = [data]
        if path.suffix == ".pdf":
            texts.append(pdf_text(data).encode())
        found += [f"{path.relative_to(folder)}: {s[:6]}…" for s in secret_values for t in texts if s.encode() in t]
    return found


def test_secrets_never_leak_whether_delivery_succeeds_or_fails(tmp_path, printed_reports, sample_workspace, monkeypatch):
    """The SMTP user and password and the webhook URL (a token in its path) come from env vars:
    after a succeeding `playbook run --pdf --deliver` (AUTH accepted, webhook 200) and a failing
    `playbook deliver` (wrong password, webhook 500) none of them shows in stdout, stderr,
    delivery.log, manifest.json, or any file under the reports folder, PDFs and notebooks included."""
    user, password, token = f"ops-bot-{secrets.token_hex(6)}", f"pw-{secrets.token_urlsafe(18)}", secrets.token_hex(16)
    wrong = f"pw-{secrets.token_urlsafe(18)}"
    out = tmp_path / "reports"
    shutil.copytree(printed_reports, out)
    for pdf in out.glob("mobile/*.pdf"):
        pdf.unlink()  # printed again by this run, with the secrets in its environment
    with Inbox(login=(user, password)) as inbox, Webhook(path=f"/services/T000/B000/{token}") as hook:
        monkeypatch.setenv("PB_TEST_SMTP_USER", user)
        monkeypatch.setenv("PB_TEST_SMTP_PASSWORD", password)
        monkeypatch.setenv("PB_TEST_WEBHOOK", hook.url)
        params = delivery_params(
            tmp_path, sample_workspace,
            {"email": smtp(inbox.port, attach_pdf=True, user_env="PB_TEST_SMTP_USER", password_env="PB_TEST_SMTP_PASSWORD"),
             "chat": {"webhook_env": "PB_TEST_WEBHOOK"}, "ops_lead": [ADDRESSES["ops lead"]], "failures": [ADDRESSES["failures"]]},
            {"mobile": {"team": [ADDRESSES["team mobile"]], "digests": {"support": [ADDRESSES["digest support"]]}}})
        good = playbook_cli("run", "--params", str(params), "--out", str(out), "--as-of", AS_OF.isoformat(), "--team", "mobile",
                            "--pdf", "--deliver")
        assert good.returncode == 0, good.stdout + good.stderr
        assert inbox.logins == [(user, True)]
        assert sorted(r for m in inbox.received for r in m.rcpt_tos) == sorted(
            [ADDRESSES["team mobile"], ADDRESSES["digest support"], ADDRESSES["ops lead"]])
        assert [p.path for p in hook.posts] == [f"/services/T000/B000/{token}"]
        assert len(list(out.glob("mobile/*.pdf"))) == len(AREAS)

        monkeypatch.setenv("PB_TEST_SMTP_PASSWORD", wrong)
        hook.status = 500
        bad = playbook_cli("deliver", "--params", str(params), "--out", str(out))
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert inbox.logins[-1] == (user, False) and len(inbox.received) == 3
        assert len(hook.posts) == 2
        assert "535" in bad.stderr and "refused the login" in bad.stderr and "HTTP 500" in bad.stderr
    assert len([line for line in log_lines(out) if "FAILED" in line]) == 4  # three e-mails and the chat
    values = [password, wrong, user, hook.url, token]
    assert leaks(out, [good.stdout, good.stderr, bad.stdout, bad.stderr], values) == []
    # The e-mails themselves carry no secret either (AUTH happens before DATA).
    assert not [s for m in inbox.received for s in values if s.encode() in m.raw]
    # The check itself can fail: a file holding the password is found.
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "note.txt").write_text(f"user {user}, password {password}")
    assert len(leaks(canary, [], values)) == 2


# --- 7. a variable that is not set -------------------------------------------------------------

@pytest.mark.parametrize("missing", ["PB_TEST_SMTP_PASSWORD", "PB_TEST_WEBHOOK"])
def test_missing_variable_stops_delivery_before_anything_is_sent(tmp_path, sample_run, sample_workspace, monkeypatch, missing):
    """A variable params name that is not set: exit 2, the message names the variable and shows
    no other secret's value, and nothing was sent before (no e-mail, no post, no log line)."""
    user, password = f"ops-bot-{secrets.token_hex(6)}", f"pw-{secrets.token_urlsafe(18)}"
    out = tmp_path / "reports"
    shutil.copytree(sample_run[1], out)
    with Inbox(login=(user, password)) as inbox, Webhook(path=f"/services/{secrets.token_hex(12)}") as hook:
        values = {"PB_TEST_SMTP_USER": user, "PB_TEST_SMTP_PASSWORD": password, "PB_TEST_WEBHOOK": hook.url}
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv(missing)
        params = delivery_params(
            tmp_path, sample_workspace,
            {"email": smtp(inbox.port, user_env="PB_TEST_SMTP_USER", password_env="PB_TEST_SMTP_PASSWORD"),
             "chat": {"webhook_env": "PB_TEST_WEBHOOK"}, "ops_lead": [ADDRESSES["ops lead"]]},
            {"mobile": {"team": [ADDRESSES["team mobile"]]}})
        result = playbook_cli("deliver", "--params", str(params), "--out", str(out))
    assert result.returncode == 2, result.stdout + result.stderr
    assert missing in result.stderr and "not set" in result.stderr
    assert not [name for name, value in values.items() if name != missing and value in result.stdout + result.stderr]
    assert inbox.received == [] and inbox.logins == [] and hook.posts == []
    assert log_lines(out) == []


# --- TLS: STARTTLS and implicit SSL, the server's certificate checked -----------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (openssl), standing in for a company CA's."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate")
    import subprocess

    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class TlsInbox(Inbox):
    """The inbox behind STARTTLS (required before MAIL) or, with ``implicit``, behind SSL from the first byte."""

    def __init__(self, cert: Path, key: Path, implicit: bool) -> None:
        import ssl

        self.port = free_port()
        self.received, self.logins, self._login = [], [], None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        options = {"ssl_context": context} if implicit else {"tls_context": context, "require_starttls": True}
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_server_is_reached_with_its_ca_and_refused_without(security, tmp_path, printed_reports, sample_workspace, certificate):
    """With ``ca_file`` naming the CA that signed the server's certificate the message goes over
    TLS; with the system's CAs only, the unknown certificate is refused (nothing sent in clear)."""
    cert, key = certificate
    out = tmp_path / "reports"
    shutil.copytree(printed_reports, out)
    with TlsInbox(cert, key, implicit=security == "ssl") as inbox:
        trusted = delivery_params(tmp_path / "trusted", sample_workspace, {"email": smtp(inbox.port, security=security, ca_file=str(cert))},
                                  {"mobile": {"team": [ADDRESSES["team mobile"]]}})
        good = playbook_cli("deliver", "--params", str(trusted), "--out", str(out))
        assert good.returncode == 0, good.stdout + good.stderr
        assert [m.rcpt_tos for m in inbox.received] == [(ADDRESSES["team mobile"],)]
        strange = delivery_params(tmp_path / "strange", sample_workspace, {"email": smtp(inbox.port, security=security)},
                                  {"mobile": {"team": [ADDRESSES["team mobile"]]}})
        bad = playbook_cli("deliver", "--params", str(strange), "--out", str(out))
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert "TLS failed" in bad.stderr and "CERTIFICATE_VERIFY_FAILED" in bad.stderr
        assert len(inbox.received) == 1


# --- what a hostile setup cannot make delivery do -----------------------------------------------

class PickyInbox(Inbox):
    """An inbox whose server refuses one recipient (550), as a real one refuses an unknown address."""

    def __init__(self, refuse: str) -> None:
        super().__init__()
        self.refuse = refuse

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address == self.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_only_the_playbook_s_own_fresh_pdfs_are_attached(tmp_path, printed_reports, sample_workspace):
    """A link at a report's PDF path (to a private file) and a PDF the playbook did not print are
    never attached: the message goes without them, both are named, and the exit status is 1."""
    out = tmp_path / "reports"
    shutil.copytree(printed_reports, out)
    secret = tmp_path / "id_key"
    secret.write_text("-----BEGIN PRIVATE KEY----- not for e-mail")
    (out / "mobile" / "feedback.pdf").unlink()
    (out / "mobile" / "feedback.pdf").symlink_to(secret)
    theirs = out / "mobile" / "tools.pdf"
    theirs.write_bytes(b"%PDF-1.4\n% someone's own notes\n%%EOF\n")
    with Inbox() as inbox:
        params = delivery_params(tmp_path, sample_workspace, {"email": smtp(inbox.port, attach_pdf=True)},
                                 {"mobile": {"team": [ADDRESSES["team mobile"]]}})
        result = playbook_cli("deliver", "--params", str(params), "--out", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    (mail,) = inbox.received
    attached = set(mail.pdfs())
    assert attached and "mobile-feedback.pdf" not in attached and "mobile-tools.pdf" not in attached
    assert b"PRIVATE KEY" not in mail.raw and b"someone's own notes" not in mail.raw
    assert "mobile/feedback.pdf is not a plain file" in result.stderr and "mobile/tools.pdf is a file the playbook did not print" in result.stderr
    assert theirs.read_bytes().startswith(b"%PDF-1.4\n% someone's") and (out / "mobile" / "feedback.pdf").is_symlink()


def test_a_broken_team_file_keeps_back_only_that_team(tmp_path, printed_reports, sample_workspace):
    """One team's params that cannot be read stop only that team's messages: the ops lead and the
    other team still hear, and the failures address is told which file and why (exit 1)."""
    out = tmp_path / "reports"
    shutil.copytree(printed_reports, out)
    with Inbox() as inbox:
        params = delivery_params(tmp_path, sample_workspace,
                                 {"email": smtp(inbox.port), "ops_lead": [ADDRESSES["ops lead"]], "failures": [ADDRESSES["failures"]]},
                                 {"mobile": {"team": [ADDRESSES["team mobile"]]}, "platform": {"team": [ADDRESSES["team platform"]]}})
        broken = params / "teams" / "platform.yaml"
        broken.write_text(broken.read_text() + "feedback:\n  drop_alert: lots\n")
        result = playbook_cli("deliver", "--params", str(params), "--out", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    got = sorted(r for m in inbox.received for r in m.rcpt_tos)
    assert got == sorted([ADDRESSES["team mobile"], ADDRESSES["ops lead"], ADDRESSES["failures"]])
    failure = inbox.to(ADDRESSES["failures"])[0]
    assert "platform's params could not be read" in failure.text and "platform.yaml" in failure.text and "drop_alert" in failure.text


def test_a_malformed_webhook_address_is_refused_without_showing_it(tmp_path, printed_reports, sample_workspace, monkeypatch):
    """A webhook variable holding a space or a bad port is said to be malformed, by its name only."""
    out = tmp_path / "reports"
    shutil.copytree(printed_reports, out)
    params = delivery_params(tmp_path, sample_workspace, {"chat": {"webhook_env": "PB_TEST_WEBHOOK"}}, {})
    for url in ("http://127.0.0.1:9/hook/T0/B0/SECRET PART", "http://127.0.0.1:notaport/hook/SECRETPART"):
        monkeypatch.setenv("PB_TEST_WEBHOOK", url)
        result = playbook_cli("deliver", "--params", str(params), "--out", str(out))
        assert result.returncode == 1, result.stdout + result.stderr
        assert "$PB_TEST_WEBHOOK" in result.stderr and "Traceback" not in result.stderr
        assert "SECRET" not in result.stdout + result.stderr + (out / "delivery.log").read_text()


def test_a_refused_recipient_is_a_failure_and_the_others_still_get_it(tmp_path, printed_reports, sample_workspace):
    """The server refuses one of a message's two addresses: the other receives it, the refused one
    is logged as FAILED with the server's words, and the exit status is 1."""
    out = tmp_path / "reports"
    shutil.copytree(printed_reports, out)
    with PickyInbox(refuse="typo@exampel.com") as inbox:
        params = delivery_params(tmp_path, sample_workspace, {"email": smtp(inbox.port)},
                                 {"mobile": {"team": [ADDRESSES["team mobile"], "typo@exampel.com"]}})
        result = playbook_cli("deliver", "--params", str(params), "--out", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    assert [m.rcpt_tos for m in inbox.received] == [(ADDRESSES["team mobile"],)]
    lines = log_lines(out)
    assert any(" sent to mobile-team@example.com:" in line for line in lines)
    assert any("FAILED to typo@exampel.com" in line and "550" in line for line in lines), lines
