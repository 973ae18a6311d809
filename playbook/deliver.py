"""Reports reach their readers: e-mail digests and summaries, a chat message, PDF attachments.

Every message is rendered from what the run recorded in ``manifest.json`` (each report's figures,
actions, summary and headline, and communication's digests) and from the actions page's own rows,
so an e-mail states exactly the figures the reports, the index and the actions page state. The
charts are the report's own PNGs, read from its executed notebook.

Who receives what (params ``delivery``, README "Delivery"):
- each team's ``delivery.team`` addresses: the team's summary, its actions ranked first;
- each team's ``delivery.digests.<audience>``: communication's digest for that audience;
- ``delivery.ops_lead``: the actions page's top open items;
- ``delivery.failures``: the run's failed reports and why (sent whenever a report failed).

An e-mail is HTML with the charts as inline images (``cid:`` parts: clients strip scripts and
often block remote images) and a plain-text part. The chat message is a Slack-compatible
incoming-webhook payload (https://api.slack.com/messaging/webhooks; ``text`` plus ``blocks``).

Secrets (the SMTP user and password, the webhook URL) are read from environment variables that
params name; they are never printed, logged or written. Delivery never changes a report: it
reads the reports folder and appends only to its own log, ``delivery.log``.
"""

from __future__ import annotations

import html
import http.client
import json
import os
import smtplib
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, Iterable

from playbook.config import DeliveryParams, Params
from playbook.errors import PlaybookError
from playbook.render import DELIVERY_LOG as LOG_NAME

SUBJECT_MAX = 140
CHAT_SECTION_MAX = 2900  # Slack refuses a section's text over 3,000 characters
CHAT_BLOCKS = 50  # and a message of more blocks
CHAT_CHARS = 11000  # messages much longer than this are refused in practice


class DeliveryError(PlaybookError):
    """Raised when delivery cannot start: no run to deliver, or a secret params name is not set."""


@dataclass(frozen=True)
class Chart:
    """A report's chart, attached inline to an e-mail."""

    cid: str
    png: bytes
    alt: str


@dataclass(frozen=True)
class Message:
    """One e-mail to one audience, composed before anything is sent."""

    kind: str  # team, digest, ops_lead, failures
    name: str  # what it is, for the log: "team mobile", "digest revenue for mobile"
    to: tuple[str, ...]
    subject: str
    html: str
    text: str
    needs_action: bool
    charts: tuple[Chart, ...] = ()
    attachments: tuple[Path, ...] = ()


@dataclass
class Delivered:
    """What happened to one message or the chat post."""

    name: str
    channel: str  # e-mail or chat
    to: str
    subject: str
    size: int
    error: str = ""


@dataclass
class Outcome:
    """Everything delivery did: the messages sent or failed, and those left out on purpose."""

    sent: list[Delivered] = field(default_factory=list)
    failed: list[Delivered] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what went wrong besides a message (a team's params, a PDF, the log)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.problems


# --- reading the run --------------------------------------------------------------------------

def _area_title(area: str) -> str:
    from playbook.areas import AREAS

    return AREAS[area].title if area in AREAS else area


def _area_order(area: str) -> int:
    from playbook.areas import AREAS

    return list(AREAS).index(area) if area in AREAS else len(AREAS)


def report_charts(out_dir: Path, entry: dict[str, Any], limit: int = 1) -> list[Chart]:
    """The first ``limit`` charts of a report, from its executed notebook (the PNGs it shows)."""
    import base64

    if not entry.get("ipynb"):
        return []
    try:
        nb = json.loads((Path(out_dir) / entry["ipynb"]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    charts = []
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data and len(charts) < limit:
                png = data["image/png"]
                alt = output.get("metadata", {}).get("image/png", {}).get("alt") or "".join(data.get("text/plain", ""))
                cid = f"{entry['team']}-{entry['area']}-chart-{len(charts) + 1}@playbook"
                charts.append(Chart(cid, base64.b64decode("".join(png) if isinstance(png, list) else png), str(alt)))
    return charts


def _link(base: str, path: str | None) -> str:
    return f"{base}{path}" if base and path else ""


def _clip(text: str, limit: int = SUBJECT_MAX, one_line: bool = True) -> str:
    """``text`` within ``limit`` characters, cut between words (with an ellipsis) when longer."""
    text = " ".join(str(text).split()) if one_line else str(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # Never inside a word, unless one word alone is longer than half the room.
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:") + "…"


def _subject(prefix: str, actions: list[dict[str, Any]], quiet: str) -> str:
    """The subject states the most important action (and how many more there are)."""
    if not actions:
        return _clip(f"{prefix}: {quiet}")
    more = f" (+{len(actions) - 1} more)" if len(actions) > 1 else ""
    top = actions[0]
    return _clip(f"{prefix}: {top['text']}", SUBJECT_MAX - len(more)) + more


def _rank_key(action: dict[str, Any]) -> tuple[Any, ...]:
    from playbook.figures import Severity

    order = Severity.__members__.get(str(action["severity"]).upper(), 0)
    return (-int(order), -(action.get("money") or 0.0), _area_order(action.get("area", "")))


E = html.escape

STYLE = ("font-family:-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#1f2933;max-width:760px;line-height:1.45")


def _footer(why: str) -> str:
    return (f'<p style="color:#7b8794;font-size:0.85em;margin-top:28px;border-top:1px solid #e4e7eb;padding-top:8px">'
            f"Sent by the product-ops playbook because {E(why)} names this address. The figures are those of the reports; "
            "reply to reach product operations.</p>")


def _footer_text(why: str) -> str:
    return (f"\n--\nSent by the product-ops playbook because {why} names this address. The figures are those of the reports; "
            "reply to reach product operations.\n")


def _page(body: str) -> str:
    # E-mail clients ignore <style> blocks unevenly: the few styles are inline.
    return f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><div style="{STYLE}">{body}</div></body></html>'


def urgent_first(rows: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """The first rows of a ranked list: every high-severity one however many there are (as the
    index's "look here first" lists them, so that none is missed), the others up to ``top``."""
    high = sum(1 for r in rows if r["severity"] == "high")
    return rows[:max(top, high)]


def _action_items(actions: list[dict[str, Any]], base: str, with_team: bool = False, owners: bool = False) -> tuple[str, list[str]]:
    items, lines = [], []
    for a in actions:
        where = f"{a.get('team_name', a.get('team', ''))} · {_area_title(a['area'])}" if with_team else _area_title(a["area"])
        url = _link(base, a.get("html"))
        link = f' <a href="{E(url)}">report</a>' if url else ""
        who = ""
        if owners and (a.get("owner") or a.get("weeks_open")):
            who = "; ".join(w for w in (f"owner: {a['owner']}" if a.get("owner") else "",
                                        f"open {a['weeks_open']} weeks" if a.get("weeks_open") else "") if w)
        colour = "#9b2c1f" if a["severity"] == "high" else "#a15c00" if a["severity"] == "medium" else "#52606d"
        items.append(f'<li style="margin:6px 0"><b style="color:{colour}">{E(a["severity"].upper())}</b> '
                     f'<span style="color:#52606d">{E(where)}:</span> {E(a["text"])}'
                     + (f' <span style="color:#52606d">({E(who)})</span>' if who else "") + f"{link}</li>")
        # One line per action in the text part: a name in the data cannot start a line of its own.
        lines.append(" ".join(f"- {a['severity'].upper()} {where}: {a['text']}".split()) + (f" ({who})" if who else "") + (f" <{url}>" if url else ""))
    return "<ol>" + "".join(items) + "</ol>", lines


def team_message(out_dir: Path, team: str, entries: list[dict[str, Any]], to: list[str], base: str, attach_pdf: bool,
                 top: int = 10, snoozed: Any = lambda action: None) -> Message:
    """A team's own summary: its actions across areas ranked first, then each area's headline,
    notes and first chart, with links to the reports. An action snoozed on the actions page
    (``snoozed(action)`` gives its snooze) is counted, not listed, until its date."""
    entries = sorted(entries, key=lambda e: _area_order(e["area"]))
    team_name = next((e.get("team_name") for e in entries if e.get("team_name")), team)
    shown = [e for e in entries if e.get("html") and e.get("result")]
    every = [{**a, "area": e["area"], "html": e["html"], "team": team, "team_name": team_name}
             for e in shown for a in e["result"].get("actions", [])]
    resting = [a for a in every if snoozed(a) is not None]
    actions = sorted((a for a in every if snoozed(a) is None), key=_rank_key)
    period = _period_words(entries)
    body = [f'<h1 style="font-size:1.4em;margin:0 0 4px">{E(team_name)}: the product-ops reports</h1>',
            f'<p style="color:#52606d;margin:0 0 12px">{E(period)}</p>']
    text = [f"{team_name}: the product-ops reports", period, ""]
    if actions:
        # Every high-severity action is listed however many there are (as "look here first" does);
        # the others fill the list up to ``top``, and the rest are counted, not hidden.
        listed = urgent_first(actions, top)
        items, lines = _action_items(listed, base)
        body += ['<h2 style="font-size:1.15em">What needs action</h2>', items]
        text += ["What needs action", *lines]
        if len(actions) > len(listed):
            rest = f"…and {len(actions) - len(listed)} more, ranked lower, in the reports" + (" and on the actions page." if base else ".")
            body.append(f'<p style="color:#52606d">{E(rest)}</p>')
            text.append(rest)
        text.append("")
    else:
        body.append("<p>Nothing needs action in any area.</p>")
        text += ["Nothing needs action in any area.", ""]
    if resting:
        words = f"{len(resting)} snoozed action{'s' if len(resting) != 1 else ''} (params/actions.yaml) not listed: " + "; ".join(
            f"{_area_title(a['area'])}, {a['subject']}, until {snoozed(a).until:%d %b %Y}" for a in resting)
        body.append(f'<p style="color:#52606d">{E(words)}</p>')
        text += [words, ""]
    charts: list[Chart] = []
    from playbook.render import recorded_headline

    for e in entries:
        title = _area_title(e["area"])
        url = _link(base, e.get("html"))
        body.append(f'<h2 style="font-size:1.15em;margin-top:22px">{E(title)}</h2>')
        text.append(title)
        if e.get("status") == "failed":
            body.append(f'<p style="color:#9b2c1f">This report failed this time: {E(e.get("reason", ""))}</p>')
            text.append(f"  This report failed this time: {e.get('reason', '')}")
        elif e.get("status") == "no_data":
            body.append(f"<p>No data: {E(e.get('reason', ''))}</p>")
            text.append(f"  No data: {e.get('reason', '')}")
        headline = recorded_headline(e.get("headline"))
        if headline and e.get("status") != "no_data":
            body.append(f"<p><b>{E(headline)}</b></p>")
            text.append(f"  {headline}")
        notes = (e.get("result") or {}).get("notes", [])
        if notes:
            body.append("<ul>" + "".join(f"<li>{E(n)}</li>" for n in notes) + "</ul>")
            text += [f"  - {n}" for n in notes]
        if e.get("status") == "rendered":
            for chart in report_charts(out_dir, e):
                charts.append(chart)
                body.append(f'<p><img src="cid:{chart.cid}" alt="{E(chart.alt)}" style="max-width:100%;height:auto"></p>')
        if url:
            body.append(f'<p><a href="{E(url)}">Open the {E(title)} report</a></p>')
            text.append(f"  {url}")
        text.append("")
    if base:
        body.append(f'<p style="margin-top:22px"><a href="{E(base)}index.html">Every team and area</a> · '
                    f'<a href="{E(base)}actions.html">every open action</a></p>')
    pdfs = tuple((Path(out_dir) / e["html"]).with_suffix(".pdf") for e in entries if attach_pdf and e.get("html") and e.get("status") != "failed")
    why = f"delivery.team in {team}'s params"
    return Message("team", f"team {team}", tuple(to), _subject(team_name, actions, "nothing needs action"), _page("".join(body) + _footer(why)),
                   "\n".join(text).rstrip() + "\n" + _footer_text(why), bool(actions), tuple(charts), pdfs)


def run_period(manifest: dict[str, Any]) -> str:
    """The run's period(s) as the reports' headers write them ("01 Nov 2026 to 30 Nov 2026")."""
    return _period_words(list(manifest.get("reports", {}).values())) or str(manifest.get("period", ""))


def _period_words(entries: list[dict[str, Any]]) -> str:
    from playbook.pdf import period_words

    periods = sorted({period_words(e.get("period")) for e in entries if e.get("period")})
    return "; ".join(p for p in periods if p)


def digest_messages(out_dir: Path, team: str, entry: dict[str, Any], recipients: dict[str, list[str]], base: str,
                    attach_pdf: bool) -> list[Message]:
    """One message per audience with addresses: the digest the communication report shows."""
    from playbook.display import digest_html, digest_text

    recorded = entry.get("digests") or {}
    by_audience = {d["audience"]: d for d in recorded.get("items", [])}
    team_name, period = recorded.get("team_name") or entry.get("team_name") or team, recorded.get("period_label", "")
    url = _link(base, entry.get("html"))
    out = []
    for audience, to in recipients.items():
        record = by_audience.get(audience)
        if not to or record is None:
            continue
        missed = [r for r in record["unreached"] if r.get("required", True)]
        if missed:
            lead = f"release notes for {', '.join(r['title'] for r in missed)} never reached you"
        elif record["issues"]:
            lead = f"{len(record['issues'])} known issue{'s' if len(record['issues']) != 1 else ''} open"
        elif record["shipped"]:
            lead = f"{len(record['shipped'])} release{'s' if len(record['shipped']) != 1 else ''} shipped"
        else:
            lead = "nothing shipped and no known issues"
        link_html = f'<p><a href="{E(url)}">The whole communication report</a></p>' if url else ""
        body = digest_html(record, team_name, period) + link_html
        text = digest_text(record, team_name, period) + (f"\nThe whole communication report: {url}\n" if url else "")
        # No PDF: the communication report holds product's own intake figures and every
        # audience's digest; the digest itself is the message.
        out.append(Message("digest", f"digest {audience} for {team}", tuple(to), _clip(f"{team_name} for {audience}: {lead}"),
                           _page(body + _footer(f"delivery.digests.{audience} in {team}'s params")),
                           text + _footer_text(f"delivery.digests.{audience} in {team}'s params"),
                           bool(missed or record["issues"] or record["shipped"])))
    return out


def ops_lead_message(out_dir: Path, manifest: dict[str, Any], board: dict[str, list[dict[str, Any]]], to: list[str],
                     base: str, top: int) -> Message:
    """The actions page's open rows, in its order: every high-severity one (however many), the
    others up to ``top``; with a chart of the open actions by team and severity."""
    rows = urgent_first(board["open"], top)
    total = len(board["open"])
    high = sum(1 for r in board["open"] if r["severity"] == "high")
    period = run_period(manifest)
    count = f"{total} open action{'s' if total != 1 else ''}, {high} high" + (f"; the {len(rows)} most urgent below" if total > len(rows) else "")
    body = ['<h1 style="font-size:1.4em;margin:0 0 4px">Product ops: what needs action</h1>',
            f'<p style="color:#52606d;margin:0 0 12px">{E(period)} · {E(count)}</p>']
    text = ["Product ops: what needs action", f"{period} · {count}", ""]
    charts: tuple[Chart, ...] = ()
    if rows:
        items, lines = _action_items(rows, base, with_team=True, owners=True)
        body.append(items)
        text += lines
        chart = _actions_chart(board["open"])
        if chart is not None:
            charts = (chart,)
            body.append(f'<p><img src="cid:{chart.cid}" alt="{E(chart.alt)}" style="max-width:100%;height:auto"></p>')
    else:
        body.append("<p>No open action in any team or area.</p>")
        text.append("No open action in any team or area.")
    if board.get("snoozed"):
        body.append(f'<p style="color:#52606d">{len(board["snoozed"])} snoozed (params/actions.yaml).</p>')
    if base:
        body.append(f'<p><a href="{E(base)}actions.html">Every action</a> · <a href="{E(base)}index.html">every team and area</a></p>')
        text += ["", f"Every action: {base}actions.html"]
    subject_rows = [{**r, "text": f"{r['team_name']} – {r['text']}"} for r in board["open"]]
    return Message("ops_lead", "ops lead", tuple(to), _subject("Product ops", subject_rows, "no open actions"), _page("".join(body)),
                   "\n".join(text).rstrip() + "\n", bool(rows), charts)


def _actions_chart(rows: list[dict[str, Any]]) -> Chart | None:
    """Open actions by team and severity, as stacked horizontal bars (the playbook's theme)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from playbook.plots import PALETTE, theme

    if not rows:
        return None
    frame = pd.DataFrame(rows)
    counts = frame.pivot_table(index="team_name", columns="severity", values="rule", aggfunc="count", fill_value=0)
    levels = [s for s in ("high", "medium", "low") if s in counts.columns]
    counts = counts[levels].loc[counts[levels].sum(axis=1).sort_values().index]
    colours = {"high": PALETTE[4], "medium": PALETTE[3], "low": PALETTE[2]}
    with theme():
        fig, ax = plt.subplots(figsize=(7, 0.45 * len(counts) + 1.3))
        left = pd.Series(0, index=counts.index)
        for level in levels:
            ax.barh(counts.index, counts[level], left=left, color=colours[level], label=level)
            left = left + counts[level]
        ax.set_xlabel("Open actions")
        ax.set_title("Open actions by team and severity")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(title="Severity", loc="lower right")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
    alt = "Open actions by team and severity: " + "; ".join(
        f"{team} " + ", ".join(f"{int(counts.loc[team, s])} {s}" for s in levels if counts.loc[team, s]) for team in counts.index[::-1])
    return Chart("open-actions-chart@playbook", buffer.getvalue(), alt)


def failure_message(failed: list[dict[str, Any]], total: int, to: list[str], base: str, problems: Iterable[str] = ()) -> Message:
    """A run's failed reports, each with why and whether its last good report is still in place."""
    problems = list(problems)
    keys = [f"{e['team']}/{e['area']}" for e in failed]
    body = ['<h1 style="font-size:1.4em;margin:0 0 8px">Playbook run: what failed</h1>']
    text = ["Playbook run: what failed", ""]
    if failed:
        body.append(f"<p>{len(failed)} of {total} reports failed:</p><ul>")
        text.append(f"{len(failed)} of {total} reports failed:")
        for e, key in zip(failed, keys):
            kept = f" The last good report ({e['last_good_at']}) is still in place." if e.get("last_good_at") else ""
            body.append(f"<li><b>{E(key)}</b>: {E(e.get('reason', ''))}{E(kept)}</li>")
            text.append(f"- {key}: {e.get('reason', '')}{kept}")
        body.append("</ul>")
    if problems:
        body.append("<p>Also:</p><ul>" + "".join(f"<li>{E(p)}</li>" for p in problems) + "</ul>")
        text += ["", "Also:", *(f"- {p}" for p in problems)]
    if base:
        body.append(f'<p><a href="{E(base)}index.html">The index</a></p>')
    what = (f"{len(failed)} of {total} reports failed ({', '.join(keys[:3])}{', …' if len(keys) > 3 else ''})" if failed
            else problems[0] if len(problems) == 1 else f"{len(problems)} problems ({problems[0]}; …)")
    return Message("failures", "failures", tuple(to), _clip(f"Playbook run: {what}"), _page("".join(body)),
                   "\n".join(text).rstrip() + "\n", True)


def compose(out_dir: Path, params_dir: Path, manifest: dict[str, Any], board: dict[str, list[dict[str, Any]]],
            delivery: DeliveryParams, team_params: dict[str, Params], run_problems: Iterable[str] = (),
            snoozes: Iterable[Any] = ()) -> list[Message]:
    """Every message params ask for, from the run's manifest and the actions page's rows.

    ``snoozes`` (params/actions.yaml) keep an action out of a team's list until their date, as
    they keep it off the actions page's open rows and the ops lead's message.
    """
    reports = manifest.get("reports", {})
    base = delivery.reports_url
    today = datetime.fromisoformat(manifest["as_of"]).date() if manifest.get("as_of") else datetime.now(timezone.utc).date()
    snoozes = list(snoozes)
    messages: list[Message] = []
    for team, params in sorted(team_params.items()):
        entries = [e for e in reports.values() if e.get("team") == team]
        if not entries:
            continue
        if params.delivery.team:
            def snoozed(action: dict[str, Any], team: str = team) -> Any:
                return next((s for s in snoozes if s.matches(action["rule"], action["subject"], team) and today <= s.until), None)

            messages.append(team_message(out_dir, team, entries, params.delivery.team, base, delivery.email.attach_pdf,
                                         delivery.top_actions, snoozed))
        communication = reports.get(f"{team}/communication")
        if params.delivery.digests and communication and communication.get("status") == "rendered":
            messages += digest_messages(out_dir, team, communication, params.delivery.digests, base, delivery.email.attach_pdf)
    if delivery.ops_lead:
        messages.append(ops_lead_message(out_dir, manifest, board, delivery.ops_lead, base, delivery.top_actions))
    failed = [e for e in reports.values() if e.get("status") == "failed"]
    problems = list(run_problems)
    if delivery.failures and (failed or problems):
        messages.append(failure_message(sorted(failed, key=lambda e: (e["team"], e["area"])), len(reports), delivery.failures, base, problems))
    return messages


def chat_payload(manifest: dict[str, Any], board: dict[str, list[dict[str, Any]]], base: str, top: int) -> dict[str, Any]:
    """A Slack-compatible message: how many actions are open, the most urgent ones (every high
    one, then up to ``top``; the actions page's rows in its order), then each team's headline
    figures, All teams first. ``text`` (what a notification shows) leads with the first action."""
    from playbook.render import recorded_headline

    def esc(text: Any) -> str:
        # Slack's mrkdwn reads &, < and > as markup; everything else is shown as written, on one
        # line (a name in the data cannot start a line that reads as an action of its own).
        return " ".join(str(text).split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def link(path: str | None, words: str) -> str:
        return f"<{base}{path}|{esc(words)}>" if base and path else esc(words)

    def sections(items: list[str], heading: str) -> list[dict[str, Any]]:
        # Long lists overrun one section's limit: they fill as many sections as they need, whole
        # lines each, so none is cut (nor a link broken) and the count is never lost.
        out, section = [], heading
        for item in items:
            item = _clip(item, CHAT_SECTION_MAX, one_line=False)
            if len(section) + 1 + len(item) > CHAT_SECTION_MAX:
                out.append({"type": "section", "text": {"type": "mrkdwn", "text": section}})
                section = item
            else:
                section += "\n" + item
        return out + [{"type": "section", "text": {"type": "mrkdwn", "text": section}}]

    reports = manifest.get("reports", {})
    opened = board["open"]
    high = sum(1 for r in opened if r["severity"] == "high")
    title = f"Product ops reports, {run_period(manifest)}"
    counts = f"{len(opened)} open action{'s' if len(opened) != 1 else ''}, {high} high"
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": _clip(title, 150)}},
                                    {"type": "context", "elements": [{"type": "mrkdwn", "text": esc(counts)}]}]
    fallback = [f"{title}: {counts}"]
    rows = urgent_first(opened, top)
    if rows:
        items: list[str] = []
        for i, r in enumerate(rows, 1):
            item = f"{i}. *{r['severity'].upper()}* {esc(r['team_name'])} · {link(r.get('html'), _area_title(r['area']))}: {esc(r['text'])}"
            # Two thirds of what a message may hold go to the actions; past it they are counted.
            if sum(map(len, items)) + len(item) > CHAT_CHARS * 2 // 3:
                break
            items.append(item)
        if len(opened) > len(items):
            items.append(f"…and {len(opened) - len(items)} more on {link('actions.html', 'the actions page')}")
        blocks += sections(items, "*Most urgent*")
        fallback.append(f"First: {rows[0]['team_name']} – {rows[0]['text']}")
    teams: dict[str, list[dict[str, Any]]] = {}
    for entry in reports.values():
        teams.setdefault(entry["team"], []).append(entry)
    blocks.append({"type": "divider"})
    order = sorted(teams, key=lambda t: (t != "all", t))
    for shown, team in enumerate(order):
        entries = sorted(teams[team], key=lambda e: _area_order(e["area"]))
        name = next((e.get("team_name") for e in entries if e.get("team_name")), team)
        lines = []
        for e in entries:
            words = recorded_headline(e.get("headline")) if e.get("status") == "rendered" else e.get("status", "").replace("_", " ")
            flag = " ⚠" if (e.get("headline") or {}).get("needs_action") or e.get("status") == "failed" else ""
            lines.append(f"• {link(e.get('html'), _area_title(e['area']))}: {esc(words) or '–'}{flag}")
        more = sections(lines, f"*{esc(name)}*")
        # Slack takes 50 blocks and refuses long messages (about 12,000 characters in practice):
        # teams past that are counted, with the index that shows them all.
        if len(blocks) + len(more) + 2 > CHAT_BLOCKS or _chars(blocks) + _chars(more) > CHAT_CHARS:
            rest = len(order) - shown
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"…and {rest} more team{'s' if rest != 1 else ''} on "
                                                                                      f"{link('index.html', 'the index')}"}})
            break
        blocks += more
        fallback.append(f"{name}: " + "; ".join(f"{_area_title(e['area'])} {recorded_headline(e.get('headline'))}" for e in entries))
    if base:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"{link('index.html', 'Every team and area')} · {link('actions.html', 'every open action')}"}]})
    return {"text": _clip("\n".join(esc(line) for line in fallback), CHAT_SECTION_MAX, one_line=False), "blocks": blocks}


def _chars(blocks: list[dict[str, Any]]) -> int:
    return sum(len(b.get("text", {}).get("text", "")) for b in blocks)


# --- sending -----------------------------------------------------------------------------------

def _secret(name: str | None, what: str) -> str | None:
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise DeliveryError(f"params delivery.{what} names the environment variable {name}, which is not set; set it (its value is "
                            "never printed), or remove the key")
    return value


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret replaced by ***, so no error message can carry one."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def to_email(message: Message, sender: str) -> EmailMessage:
    """The message as MIME: text and HTML alternatives, charts inline by Content-ID, PDFs attached."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ", ".join(message.to)
    mail["Subject"] = message.subject
    mail["Date"] = datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")
    mail["Message-ID"] = make_msgid(domain="playbook.local")
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    if message.charts:
        html_part = mail.get_payload()[1]
        for chart in message.charts:
            html_part.add_related(chart.png, maintype="image", subtype="png", cid=f"<{chart.cid}>", filename=f"{chart.cid.split('@')[0]}.png",
                                  disposition="inline")
    for path in message.attachments:
        # Never through a link (see _attachable): only the PDF the playbook printed goes out.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as handle:
            data = handle.read()
        mail.add_attachment(data, maintype="application", subtype="pdf", filename=f"{path.parent.name}-{path.name}")
    return mail


def _tls(email: Any) -> ssl.SSLContext:
    """The server's certificate is always checked: against ``ca_file`` if params name one, else
    the system's certificate authorities."""
    try:
        return ssl.create_default_context(cafile=email.ca_file or None)
    except (OSError, ssl.SSLError) as err:
        raise DeliveryError(f"params delivery.email.ca_file {email.ca_file}: cannot read it as PEM certificates ({err})") from None


def _connect(email: Any, user: str | None, password: str | None) -> smtplib.SMTP:
    if email.security == "ssl":
        server: smtplib.SMTP = smtplib.SMTP_SSL(email.host, email.port, timeout=email.timeout, context=_tls(email))
    else:
        server = smtplib.SMTP(email.host, email.port, timeout=email.timeout)
        if email.security == "starttls":
            server.starttls(context=_tls(email))
    if user:
        server.login(user, password or "")
    return server


def _words(raw: Any) -> str:
    """A server's reply as one line of text (a reply over several lines cannot forge log lines)."""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())


def _reason(err: BaseException) -> str:
    if isinstance(err, smtplib.SMTPResponseException):
        return f"the server answered {err.smtp_code} {_words(err.smtp_error)}"
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        return "the server refused " + ", ".join(f"{who} ({code} {_words(why)})" for who, (code, why) in err.recipients.items())
    if isinstance(err, UnicodeError):
        return "the SMTP user or password holds characters other than ASCII, which SMTP login cannot send"
    if isinstance(err, (socket.timeout, TimeoutError)):
        return "the server did not answer in time (delivery.email.timeout)"
    if isinstance(err, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(err, ssl.SSLError):
        return f"TLS failed: {err.reason or err}"
    if isinstance(err, OSError):
        return err.strerror or str(err)
    return f"{type(err).__name__}: {err}"


def send_emails(messages: list[Message], delivery: DeliveryParams, log: Any) -> Outcome:
    """Send every message over one SMTP connection; a message the server refuses is reported and
    the others still go; a server that cannot be reached fails them all, each reported."""
    email = delivery.email
    result = Outcome()
    if not messages:
        return result
    user = _secret(email.user_env, "email.user_env")
    password = _secret(email.password_env, "email.password_env")
    built = [(m, to_email(m, email.sender)) for m in messages]
    server = None
    try:
        server = _connect(email, user, password)
    except smtplib.SMTPAuthenticationError as err:
        reason = scrub(f"the SMTP server {email.host}:{email.port} refused the login ({_reason(err)}); check the user and password in "
                       f"${email.user_env} and ${email.password_env}", [user, password])
        for message, mail in built:
            result.failed.append(log(Delivered(message.name, "e-mail", ", ".join(message.to), message.subject, len(mail.as_bytes()), reason)))
        return result
    except (OSError, smtplib.SMTPException, UnicodeError) as err:
        reason = scrub(f"could not reach the SMTP server {email.host}:{email.port}: {_reason(err)}", [user, password])
        for message, mail in built:
            result.failed.append(log(Delivered(message.name, "e-mail", ", ".join(message.to), message.subject, len(mail.as_bytes()), reason)))
        return result
    try:
        for message, mail in built:
            raw = mail.as_bytes()
            try:
                # The recipients are the addresses params name, never re-read from the To header.
                refused = server.send_message(mail, to_addrs=list(message.to))
                taken = [a for a in message.to if a not in refused]
                result.sent.append(log(Delivered(message.name, "e-mail", ", ".join(taken), message.subject, len(raw))))
                if refused:
                    reason = scrub("the server refused " + ", ".join(f"{who} ({code} {_words(why)})" for who, (code, why) in refused.items()),
                                   [user, password])
                    result.failed.append(log(Delivered(message.name, "e-mail", ", ".join(refused), message.subject, len(raw), reason)))
            except (OSError, smtplib.SMTPException) as err:
                reason = scrub(_reason(err), [user, password])
                result.failed.append(log(Delivered(message.name, "e-mail", ", ".join(message.to), message.subject, len(raw), reason)))
                if isinstance(err, (smtplib.SMTPServerDisconnected, OSError)):
                    server = _reconnect(email, user, password)
                    if server is None:
                        rest = built[built.index((message, mail)) + 1:]
                        for m, mm in rest:
                            result.failed.append(log(Delivered(m.name, "e-mail", ", ".join(m.to), m.subject, len(mm.as_bytes()),
                                                               "the server closed the connection")))
                        return result
    finally:
        if server is not None:
            try:
                server.quit()
            except (OSError, smtplib.SMTPException):
                pass
    return result


def _reconnect(email: Any, user: str | None, password: str | None) -> smtplib.SMTP | None:
    try:
        return _connect(email, user, password)
    except (OSError, smtplib.SMTPException):
        return None


def post_chat(payload: dict[str, Any], delivery: DeliveryParams, log: Any) -> Outcome:
    """POST the payload to the webhook; the URL (a secret) is never shown, only its variable's name."""
    result = Outcome()
    name = delivery.chat.webhook_env
    url = _secret(name, "chat.webhook_env")
    if not url:
        return result
    data = json.dumps(payload).encode("utf-8")
    subject = payload["blocks"][0]["text"]["text"]
    where = f"the webhook in ${name}"
    problem = _webhook_problem(url)
    if problem:
        result.failed.append(log(Delivered("chat", "chat", where, subject, len(data), f"${name} {problem}")))
        return result
    secrets_ = [url, urllib.parse.urlsplit(url).path, urllib.parse.urlsplit(url).query]
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json; charset=utf-8"}, method="POST")
    try:
        with NO_REDIRECTS.open(request, timeout=delivery.chat.timeout) as response:  # noqa: S310 - http(s) checked above
            response.read()
        result.sent.append(log(Delivered("chat", "chat", where, subject, len(data))))
    except urllib.error.HTTPError as err:
        moved = " (a redirect: the payload was not re-sent; give the webhook's final address)" if 300 <= err.code < 400 else ""
        words = scrub(f"the webhook answered HTTP {err.code} {_words(err.reason)}{moved}", secrets_)
        result.failed.append(log(Delivered("chat", "chat", where, subject, len(data), words)))
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
        reason = getattr(err, "reason", err)
        words = ("it did not answer in time" if isinstance(reason, (socket.timeout, TimeoutError))
                 else scrub(f"{type(reason).__name__}: {_words(reason)}" if isinstance(err, http.client.HTTPException) else _words(reason), secrets_))
        result.failed.append(log(Delivered("chat", "chat", where, subject, len(data), f"could not post: {words}")))
    return result


def _webhook_problem(url: str) -> str:
    """Why ``url`` cannot be a webhook's address (said without showing it), or ""."""
    if any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in url):
        return "holds spaces, control or non-ASCII characters; a webhook address is plain ASCII"
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "does not hold a well-formed address"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "does not hold an http(s) address"
    return ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: urllib would follow it as a GET without the payload."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


NO_REDIRECTS = urllib.request.build_opener(_NoRedirect)


class DeliveryLog:
    """Appends one line per message to ``<reports>/delivery.log`` (when, to whom, subject, size,
    outcome) and hands each to ``echo``; secrets never reach it."""

    def __init__(self, out_dir: Path, echo: Any = None) -> None:
        self.path = Path(out_dir) / LOG_NAME
        self.echo = echo
        self.problem = ""

    def __call__(self, item: Delivered) -> Delivered:
        when = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        line = (f"{when} {item.channel} {'FAILED' if item.error else 'sent'} to {item.to}: {json.dumps(item.subject, ensure_ascii=False)} "
                f"({item.size:,} bytes)" + (f"; {_words(item.error)}" if item.error else ""))
        if not self.problem:
            try:
                # Never through a link: the log is the playbook's own file in the reports folder.
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
                with os.fdopen(fd, "a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
            except OSError as err:
                # A log that cannot be written must not stop the messages still to go.
                self.problem = f"{self.path} could not be written ({err.strerror or err}); the messages are said here only"
                if self.echo:
                    self.echo(self.problem, True)
        if self.echo:
            self.echo(line, bool(item.error))
        return item


def _attachable(pdf: Path) -> str:
    """Why ``pdf`` may not go out as a report's PDF, or "": only a plain file the playbook
    printed, no older than its report, is ever attached (never a link, a file of someone else's,
    or a PDF left from an earlier run that this one could not print again)."""
    from playbook.pdf import written_by_playbook

    html_path = pdf.with_suffix(".html")
    if pdf.is_symlink() or (pdf.exists() and not pdf.is_file()):
        return "is not a plain file"
    if not pdf.exists():
        return "was not printed"
    if not written_by_playbook(pdf):
        return "is a file the playbook did not print"
    if html_path.is_file() and pdf.stat().st_mtime < html_path.stat().st_mtime:
        return "is older than its report (it could not be printed again)"
    return ""


def print_attachments(out_dir: Path, messages: list[Message], manifest: dict[str, Any],
                      print_missing: bool = True) -> tuple[list[Message], list[str]]:
    """Print the PDFs the messages attach that are missing or older than their report (unless
    ``print_missing`` is off: the run just tried); a PDF that is not fit to send
    (:func:`_attachable`) is left off its message and said, the message still goes."""
    from dataclasses import replace

    from playbook.pdf import PdfError, print_reports, report_jobs

    wanted = sorted({p for m in messages for p in m.attachments})
    if not wanted:
        return messages, []
    problems: list[str] = []
    if print_missing:
        reports = manifest.get("reports", {})
        keys = [k for k, e in reports.items() if e.get("html") and (Path(out_dir) / e["html"]).with_suffix(".pdf") in wanted]
        try:
            print_reports(report_jobs(out_dir, reports, keys))
        except PdfError as err:
            problems.append(f"no PDF could be printed: {err}")
    unfit = {p: why for p in wanted if (why := _attachable(p))}
    problems += [f"PDF {p.relative_to(out_dir)} {why}; left off its message" for p, why in unfit.items()]
    kept = [replace(m, attachments=tuple(p for p in m.attachments if p not in unfit)) for m in messages]
    return kept, problems


def _check_manifest(manifest: dict[str, Any], path: Path) -> None:
    """Refuse a manifest that a run of this playbook did not write (edited, damaged, or another
    program's), before any message is composed from it."""
    def bad(where: str, what: str) -> DeliveryError:
        return DeliveryError(f"{path}: {where}: {what}; it is not a manifest a `playbook run` wrote (edited or damaged?): "
                             "run `playbook run` again")

    for key, entry in manifest.get("reports", {}).items():
        if not isinstance(entry, dict):
            raise bad(f"reports[{key!r}]", "not an object")
        for field_name in ("team", "area", "status"):
            if not isinstance(entry.get(field_name), str):
                raise bad(f"reports[{key!r}].{field_name}", "missing or not text")
        result = entry.get("result")
        if result is None:
            continue
        if not isinstance(result, dict) or not isinstance(result.get("actions", []), list):
            raise bad(f"reports[{key!r}].result", "not a recorded result")
        for i, action in enumerate(result.get("actions", [])):
            if not isinstance(action, dict) or not all(isinstance(action.get(k), str) for k in ("rule", "subject", "severity", "text")):
                raise bad(f"reports[{key!r}].result.actions[{i}]", "an action without rule, subject, severity and text")
    if manifest.get("as_of") is not None:
        try:
            datetime.fromisoformat(str(manifest["as_of"]))
        except ValueError:
            raise bad("as_of", f"not a date ({manifest['as_of']!r})") from None


def deliver(out_dir: Path, params_dir: Path, *, only_if_actions: bool = False, run_problems: Iterable[str] = (),
            echo: Any = None, dry_run: bool = False, print_pdfs: bool = True) -> Outcome:
    """Compose every message params ask for from the last run in ``out_dir`` and send it.

    Delivery reads the reports folder and writes into it only its own log and, for attachments,
    the PDFs that are missing or older than their report; no report is ever changed. It holds
    the folder's run lock while it prints and sends, so two deliveries never send twice at once.

    Args:
        out_dir: the reports folder.
        params_dir: the params folder: run-wide settings from defaults.yaml alone; recipients
            from each team's file (a team whose file is broken is skipped and said).
        only_if_actions: send nothing to an audience with nothing that needs action (a failure
            summary is always sent).
        run_problems: problems of the run the failure summary should name besides failed
            reports (PDFs that could not be printed).
        echo: called with (line, is_error) for each message, as it is logged.
        dry_run: compose and say what would be sent, without sending or logging.
        print_pdfs: print attachments that are missing or stale (off when the run just tried).

    Raises:
        DeliveryError: there is no run to deliver, its manifest is damaged, or a secret's
            variable is not set.
        ParamsError: defaults.yaml's delivery settings are invalid.
        RunError: another run or delivery holds the reports folder.
    """
    from playbook.config import list_teams, load_delivery, load_params, load_snoozes
    from playbook.history import history_path, read_or_warn
    from playbook.render import manifest_board, read_manifest

    out_dir, params_dir = Path(out_dir), Path(params_dir)
    manifest = read_manifest(out_dir)
    reports = manifest.get("reports", {})
    if not reports:
        raise DeliveryError(f"nothing to deliver: {out_dir / 'manifest.json'} is missing or lists no report; run `playbook run` first")
    _check_manifest(manifest, out_dir / "manifest.json")
    delivery = load_delivery(params_dir)
    known = set(list_teams(params_dir))
    result = Outcome()
    team_params = {}
    for team in sorted({e["team"] for e in reports.values()}):
        if team not in known:
            result.skipped.append(f"{team}: in {out_dir} but no longer in {params_dir / 'teams'}; nothing is sent for it")
            continue
        try:
            team_params[team] = load_params(params_dir, team)
        except PlaybookError as err:
            # One team's mistake keeps only that team's messages back, and is told.
            result.problems.append(f"{team}'s params could not be read, so nothing was sent for it: {err}")
    warnings: list[str] = []
    history = read_or_warn(history_path(out_dir), warnings) if history_path(out_dir).exists() else None
    result.skipped += warnings
    snoozes = load_snoozes(params_dir)
    try:
        board = manifest_board(manifest, history, snoozes)
        messages = compose(out_dir, params_dir, manifest, board, delivery, team_params, [*run_problems, *result.problems], snoozes)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise DeliveryError(f"{out_dir / 'manifest.json'} could not be read as a run's record ({type(err).__name__}: {err}); "
                            "run `playbook run` again") from None
    for team, params in team_params.items():
        entry = reports.get(f"{team}/communication") or {}
        if params.delivery.digests and entry.get("status") == "rendered" and not entry.get("digests"):
            result.skipped.append(f"digests for {team}: its communication report recorded none (rendered by an earlier version, or a "
                                  "notebook of your own without pb.record_digests); `playbook run --force --area communication` records them")
    failed_reports = any(e.get("status") == "failed" for e in reports.values())
    if not messages and not delivery.chat.webhook_env:
        result.skipped.append(f"params name no recipient and no webhook: nothing to send ({params_dir / 'defaults.yaml'}, delivery; README, Delivery)")
    if only_if_actions:
        quiet = [m for m in messages if not m.needs_action]
        result.skipped += [f"{m.name}: nothing needs action, not sent (--only-if-actions)" for m in quiet]
        messages = [m for m in messages if m.needs_action]
    if messages and not delivery.email.host:
        result.skipped.append(f"{len(messages)} e-mail(s) composed but not sent: params delivery.email.host names no SMTP server")
        messages = []
    chat = bool(delivery.chat.webhook_env) and not (only_if_actions and not board["open"] and not failed_reports and not result.problems)
    if delivery.chat.webhook_env and not chat:
        result.skipped.append("chat: nothing needs action, not posted (--only-if-actions)")
    if dry_run:
        for m in messages:
            result.skipped.append(f"would send {m.name} to {', '.join(m.to)}: {m.subject!r}" + (f" with {len(m.attachments)} PDF(s)" if m.attachments else ""))
        if chat:
            result.skipped.append(f"would post the chat message to the webhook in ${delivery.chat.webhook_env}")
        return result
    # Every secret is read before anything goes: a variable that is not set stops delivery
    # before the first message, not after the e-mails (a rerun would send them twice).
    if messages:
        _secret(delivery.email.user_env, "email.user_env")
        _secret(delivery.email.password_env, "email.password_env")
    if chat:
        _secret(delivery.chat.webhook_env, "chat.webhook_env")
    from playbook.runner.run import output_lock

    with output_lock(out_dir):
        if messages and delivery.email.attach_pdf:
            messages, problems = print_attachments(out_dir, messages, manifest, print_pdfs)
            result.problems += problems
        log = DeliveryLog(out_dir, echo)
        sent = send_emails(messages, delivery, log)
        result.sent += sent.sent
        result.failed += sent.failed
        if chat:
            posted = post_chat(chat_payload(manifest, board, delivery.reports_url, delivery.top_actions), delivery, log)
            result.sent += posted.sent
            result.failed += posted.failed
        if log.problem:
            result.problems.append(log.problem)
    return result


def deliver_failure(params_dir: Path, out_dir: Path, reason: str, echo: Any = None) -> Outcome:
    """Tell the failures address that a run stopped before any report ran (bad data, a warehouse
    that cannot be reached): the one message a scheduled run must still send.

    Raises:
        DeliveryError, ParamsError: the params cannot say where to send it.
    """
    from playbook.config import load_delivery

    delivery = load_delivery(params_dir)
    result = Outcome()
    if not delivery.failures or not delivery.email.host:
        result.skipped.append("the run failed, and params name no failures address or no SMTP server to tell")
        return result
    message = failure_message([], 0, delivery.failures, delivery.reports_url, [f"the run stopped before any report ran: {reason}"])
    sent = send_emails([message], delivery, DeliveryLog(out_dir, echo) if Path(out_dir).is_dir() else _echo_only(echo))
    result.sent, result.failed = sent.sent, sent.failed
    return result


def _echo_only(echo: Any) -> Any:
    def log(item: Delivered) -> Delivered:
        if echo:
            echo(f"{item.channel} {'FAILED: ' + item.error if item.error else 'sent'} to {item.to}: {item.subject!r} ({item.size:,} bytes)",
                 bool(item.error))
        return item

    return log
