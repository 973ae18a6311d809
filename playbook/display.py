"""How notebooks show things: the report header, the summary, tables, charts and notes.

Everything here builds HTML with every piece of data escaped, because customers write comments,
titles and names, and nbconvert does not sanitise what a notebook displays. Figures are shown
as PNG and closed, so each chart appears exactly once.

:func:`record` also leaves machine-readable facts (the headline figure, the summary) in the
executed notebook; :mod:`playbook.render` lifts them out for the index and removes them from
the HTML.
"""

from __future__ import annotations

import html
import math
from datetime import date, datetime
from typing import Any

import pandas as pd

RECORD_MIME = "application/vnd.playbook.record+json"

from playbook.figures import AreaResult
from playbook.views import Format, age_words, count_words, format_value, headline_text  # noqa: F401  (format_value: notebooks call pb.format_value)


def _display(obj: Any, **kwargs: Any) -> None:
    from IPython.display import display

    display(obj, **kwargs)


# MathJax, which JupyterLab runs over every HTML output, reads text between two "$" as maths
# ("$1,287 a year ... $483" lost its dollars and spaces). An element of the class MathJax 3
# ignores (``mathjax_ignore``; ``tex2jax_ignore`` for MathJax 2 front ends) is left as written.
AS_WRITTEN = "pb-out mathjax_ignore tex2jax_ignore"


def as_written(markup: str) -> str:
    """HTML a notebook front end shows exactly as written: no text in it is typeset as maths."""
    return f'<div class="{AS_WRITTEN}">{markup}</div>'


def _html(markup: str) -> None:
    from IPython.display import HTML

    _display(HTML(as_written(markup)))


def esc(value: Any) -> str:
    """Text made safe to place inside HTML."""
    return html.escape("" if value is None else str(value), quote=True)


def table_html(frame: pd.DataFrame, columns: list[tuple[str, str, Format]], caption: str = "",
               totals: dict[str, Any] | None = None) -> str:
    """A readable HTML table: chosen columns with labels and formats, no index, all text escaped.

    Args:
        frame: the data.
        columns: (column, label, format) triples, in display order.
        caption: optional caption above the table.
        totals: a closing "Total" row: column -> value (the figure the summary states, so the
            two can never differ); the first column says "Total".
    """
    numeric = {"int", "pct", "pct1", "p", "money", "score", "signed", "num1"}

    def kind(fmt: Format) -> str:
        # Numbers and dates never break inside (report.css); text wraps so the table fits its page.
        return "num" if fmt in numeric else "txt date" if fmt == "date" else "txt"

    head = "".join(f'<th class="{kind(fmt)}">{esc(label)}</th>' for _, label, fmt in columns)
    rows = []
    for record in frame.to_dict("records"):
        cells = "".join(
            f'<td class="{kind(fmt)}">{esc(format_value(record.get(col), fmt))}</td>'
            for col, _, fmt in columns
        )
        rows.append(f"<tr>{cells}</tr>")
    body = "".join(rows) or f'<tr><td colspan="{len(columns)}" class="empty">No rows.</td></tr>'
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    foot = ""
    if totals is not None:
        cells = "".join(
            f'<td class="{kind(fmt)}">{"Total" if i == 0 and col not in totals else esc(format_value(totals[col], fmt)) if col in totals else ""}</td>'
            for i, (col, _, fmt) in enumerate(columns)
        )
        foot = f"<tfoot><tr>{cells}</tr></tfoot>"
    return f'<table class="pb-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody>{foot}</table>'


def show_header(ctx: Any, title: str) -> None:
    """The report's first lines: area, team, period, as-of date and data fingerprint."""
    p = ctx.params
    _html(
        f'<header class="pb-header"><h1>{esc(title)}: {esc(p.name)}</h1>'
        f'<p class="pb-meta">Team <b>{esc(p.name)}</b> · products {esc(", ".join(p.products))} · '
        f"period <b>{esc(ctx.period.label())}</b> (compared with {esc(ctx.previous.label())}) · "
        f"data as of {ctx.as_of:%d %b %Y} · data fingerprint {esc(ctx.fingerprint())}</p></header>"
    )


def show_summary(result: AreaResult) -> None:
    """The box that opens every report: the headline figures (the index cell's very words), then
    each action, most urgent first, then the notes; and a record of it all for the runner."""
    title = "What needs action" if result.needs_action else "Summary: nothing needs action"
    headline = headline_text(result)
    changed = any(result.figures[k].change is not None for k in result.headline)
    against = ' <span class="pb-against">(changes against the previous period)</span>' if changed else ""
    lead = f'<p class="pb-headline">{esc(headline)}{against}</p>' if headline else ""
    def age(action: Any) -> str:
        words = age_words(action)
        return f' <span class="pb-age">({esc(words)})</span>' if words else ""

    actions = "".join(
        f'<li class="pb-action {a.severity.name.lower()}"><span class="pb-severity">{a.severity.name.capitalize()}</span> '
        f"{esc(a.text)}{age(a)}</li>"
        for a in result.actions
    )
    notes = "".join(f"<li>{esc(line)}</li>" for line in result.notes)
    body = (f'<ol class="pb-actions">{actions}</ol>' if actions else "") + (f"<ul>{notes}</ul>" if notes else "")
    cls = "pb-summary action" if result.needs_action else "pb-summary"
    _html(f'<section class="{cls}"><h2>{esc(title)}</h2>{lead}{body or "<ul><li>Nothing to report.</li></ul>"}</section>')
    record("result", result.to_dict())
    record("summary", {"lines": [a.text for a in result.actions] + list(result.notes), "needs_action": result.needs_action})
    first = result.figures[result.headline[0]] if result.headline else None
    record("headline", {
        "label": first.label if first else None,
        "value": first.value if first else None,
        "change": first.change if first else None,
        "text": headline,
        "needs_action": result.needs_action,
    })


def section_id(title: str) -> str:
    """A stable anchor for a section title (used by the report's table of contents)."""
    return "section-" + ("-".join("".join(c if c.isalnum() else " " for c in title.lower()).split()) or "untitled")


def show_section(title: str, how_measured: str = "") -> None:
    """A section heading with its one-line "how this is measured" note."""
    note = f'<p class="pb-how">How this is measured: {esc(how_measured)}</p>' if how_measured else ""
    _html(f'<h2 class="pb-section" id="{section_id(title)}">{esc(title)}</h2>{note}')


def show_table(frame: pd.DataFrame, columns: list[tuple[str, str, Format]], caption: str = "",
               totals: dict[str, Any] | None = None) -> None:
    _html(table_html(frame, columns, caption, totals))


def show_text(text: str) -> None:
    _html(f"<p>{esc(text)}</p>")


QUOTE_CHARS = 600


def shorten(text: str, limit: int = QUOTE_CHARS) -> str:
    """Text cut at a word boundary near ``limit`` characters, saying how long the original is."""
    text = str(text)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    cut = cut[: cut.rfind(" ")] if " " in cut[limit // 2 :] else cut
    return f"{cut.rstrip()} … [shortened; {len(text):,} characters in full]"


def show_quotes(quotes: pd.DataFrame, theme: str | None) -> None:
    """Customer comments as block quotes (escaped: whatever they contain is shown as text; very
    long comments are shortened so one pasted log cannot swamp the report)."""
    _html(quotes_html(quotes, theme))


def quotes_html(quotes: pd.DataFrame, theme: str | None) -> str:
    """The block quotes :func:`show_quotes` shows (the report's, and the explorer's)."""
    if quotes.empty or not theme:
        return "<p>No detractor comments to quote in this period.</p>"
    items = "".join(
        f"<blockquote>“{esc(shorten(q['comment']))}”<footer>{esc(q['product'])}, score {int(q['score'])}, "
        f"{format_value(q['submitted_at'], 'date')}</footer></blockquote>"
        for q in quotes.to_dict("records")
    )
    return f'<div class="pb-quotes"><p>Recent detractor comments about <b>{esc(theme)}:</b></p>{items}</div>'


DIGEST_COLUMNS = {
    "shipped": ["title", "product", "tier", "release_date"],
    "coming": ["title", "product", "status"],
    "issues": ["kind", "id", "what", "product", "since"],
    "unreached": ["release_id", "title", "tier", "required"],
}


def digest_record(digest: Any) -> dict[str, Any]:
    """One audience's digest as plain data: what the report shows and the e-mail sends, from the
    same object (:func:`digest_html`, :func:`digest_text`)."""
    def rows(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
        kept = frame[[c for c in columns if c in frame.columns]]
        return _jsonable(kept.to_dict("records"))

    return {"audience": digest.audience, "groups": list(digest.groups),
            **{part: rows(getattr(digest, part), columns) for part, columns in DIGEST_COLUMNS.items()}}


def _day(value: Any) -> str:
    return format_value(pd.Timestamp(value), "date") if value else "–"


def _digest_lines(record: dict[str, Any]) -> dict[str, list[str]]:
    """The digest's items as sentences (unescaped), by part."""
    groups = ", ".join(record["groups"])
    missed = [r for r in record["unreached"] if r.get("required", True)]
    optional = [r for r in record["unreached"] if not r.get("required", True)]
    notes = []
    if missed:
        notes.append(f"Release notes for {', '.join(r['title'] for r in missed)} were not sent to {groups}, which their tier requires.")
    if optional:
        tiers = " or ".join(sorted({r["tier"] for r in optional}))
        notes.append(f"Release notes for {', '.join(r['title'] for r in optional)} were not sent to {groups} (not required for a {tiers} release).")
    return {
        "shipped": [f"{r['title']} ({r['product']}, {r['tier']}, {_day(r['release_date'])})" for r in record["shipped"]],
        "coming": [f"{r['title']} ({r['product']}, {str(r['status']).replace('_', ' ')})" for r in record["coming"]],
        "issues": [f"{r['kind']}: {r['what']} ({r['product']}, open since {_day(r['since'])})" for r in record["issues"]],
        "notes": notes,
        "missed": [f"Release notes for {', '.join(r['title'] for r in missed)} were not sent to {groups}"] if missed else [],
    }


def _readers(record: dict[str, Any]) -> str:
    """"revenue (sales, marketing)"; "support" alone when the audience is its one group."""
    groups = list(record["groups"])
    return record["audience"] if groups == [record["audience"]] else f"{record['audience']} ({', '.join(groups)})"


DIGEST_PARTS = (("shipped", "What shipped"), ("coming", "What is coming"), ("issues", "Known issues"))
# The anchor of the known issues the report lists once above its digests.
KNOWN_ISSUES_ID = "known-issues"


def digest_html(record: dict[str, Any], team_name: str, period_label: str, issues_above: bool = False) -> str:
    """One audience's digest (a :func:`digest_record`) as a section a reader outside product can act on.

    Args:
        issues_above: the report lists the known issues once above the digests (every audience
            has the same); this digest then points to them instead of repeating them. An
            e-mail's digest stands alone and always lists them.
    """
    lines = _digest_lines(record)
    items = {part: "".join(f"<li>{esc(line)}</li>" for line in lines[part]) or "<li>Nothing.</li>" for part, _ in DIGEST_PARTS}
    if issues_above:
        count = len(lines["issues"])
        items["issues"] = (f'<li>The <a href="#{KNOWN_ISSUES_ID}">{esc(count_words(count, "known issues"))} listed above</a>, '
                           "the same for every audience.</li>")
    parts = "".join(f"<h4>{title}</h4><ul>{items[part]}</ul>" for part, title in DIGEST_PARTS)
    # A release whose tier requires this audience and never reached it is a miss, shown as one.
    notes = "".join(f'<p class="pb-warn">{esc(n)}</p>' if i == 0 and lines["missed"] else f"<p>{esc(n)}</p>"
                    for i, n in enumerate(lines["notes"]))
    return (f'<section class="pb-digest"><h3>For {esc(_readers(record))}</h3>'
            f"<p>{esc(team_name)}, {esc(period_label)}.</p>{parts}{notes}</section>")


def digest_text(record: dict[str, Any], team_name: str, period_label: str) -> str:
    """The same digest as plain text (an e-mail's text part)."""
    lines = _digest_lines(record)
    out = [f"For {_readers(record)}: {team_name}, {period_label}.", ""]
    for part, title in DIGEST_PARTS:
        out += [title, *(f"  - {line}" for line in lines[part] or ["Nothing."]), ""]
    return "\n".join(out + lines["notes"]).rstrip() + "\n"


def show_digest(digest: Any, team_name: str, period_label: str) -> None:
    """One audience's digest as a self-contained section a reader outside product can act on."""
    _html(digest_html(digest_record(digest), team_name, period_label))


def show_digests(digests: list[Any], team_name: str, period_label: str) -> None:
    """Every audience's digest (:func:`digests_html`)."""
    for part in digests_html(digests, team_name, period_label):
        _html(part)


def digests_html(digests: list[Any], team_name: str, period_label: str) -> list[str]:
    """Every audience's digest as sections; the known issues, when every audience has the same
    ones, listed once above them rather than once per audience (each e-mail still lists them in
    full). The report and the explorer show these same sections."""
    records = [digest_record(d) for d in digests]
    shared = len(records) > 1 and bool(records[0]["issues"]) and all(r["issues"] == records[0]["issues"] for r in records)
    parts = []
    if shared:
        items = "".join(f"<li>{esc(line)}</li>" for line in _digest_lines(records[0])["issues"])
        parts.append(f'<section class="pb-digest pb-issues" id="{KNOWN_ISSUES_ID}"><h3>Known issues, for every audience</h3>'
                     f"<p>{esc(team_name)}: P1/P2 escalations and S1/S2 bugs open at the period end ({esc(period_label)}).</p>"
                     f"<ul>{items}</ul></section>")
    return parts + [digest_html(record, team_name, period_label, issues_above=shared) for record in records]


def record_digests(digests: list[Any], team_name: str, period_label: str) -> None:
    """Leave the digests for ``playbook deliver``, which sends each audience the section the report shows."""
    record("digests", {"team_name": team_name, "period_label": period_label, "items": [digest_record(d) for d in digests]})


def show_figure(fig: Any, alt: str | None = None) -> None:
    """Display a matplotlib figure once, as an embedded PNG with alternative text, and free it.

    Tick labels made while drawing are drawn as written too (see ``text.parse_math`` in plots.RC).

    Args:
        fig: the chart.
        alt: what the chart shows, for readers who cannot see it (WCAG 1.1.1, "Non-text
            content"); by default derived from the chart itself
            (:func:`playbook.plots.describe_figure`: title, kind, axes, series). The report's
            template writes it as the image's ``alt``.
    """
    png, text = figure_png(fig, alt)
    _display({"image/png": png, "text/plain": text}, raw=True, metadata={"image/png": {"alt": text}})


def figure_png(fig: Any, alt: str | None = None) -> tuple[str, str]:
    """A figure as the base64 PNG IPython's inline backend would show, and its description
    (``alt``, else :func:`playbook.plots.describe_figure`); the figure is closed. Drawn under
    :data:`playbook.plots.DRAWING`, so a notebook and an explorer's thread never mix settings."""
    import base64

    import matplotlib as mpl
    import matplotlib.pyplot as plt
    from IPython.core.pylabtools import print_figure

    from playbook.plots import DRAWING, describe_figure

    with DRAWING, mpl.rc_context({"text.parse_math": False}):
        png = print_figure(fig, "png", bbox_inches="tight")
        text = " ".join(str(alt).split()) if alt else describe_figure(fig)
        plt.close(fig)
    return base64.b64encode(png).decode("ascii"), text


def show_data_notes(ctx: Any) -> None:
    """Rows set aside while loading (bad values, repeated ids), so no figure silently omits data."""
    notes = ctx.data_notes()
    if notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in notes)
        _html(f'<section class="pb-notes"><h2>Data quality</h2><p>These rows were set aside and not used:</p><ul>{items}</ul></section>')
    else:
        # Say that the checks ran, so an empty section is never mistaken for no checking.
        read = [r.source for r in ctx.workspace.reports.values()]
        server = f"{ctx.workspace.path}, " if getattr(ctx.workspace, "is_warehouse", False) else ""
        if server:
            # A warehouse's tables, with the server named once.
            read = [name.removeprefix(server) for name in read]
            read[-1] += f" in {server[:-2]}"
        if read:
            _html(f'<section class="pb-checked"><h2>Data quality</h2><p>Every row of {esc(", ".join(read))} passed the data '
                  "contract's checks: nothing was set aside or emptied.</p></section>")
    record("data_notes", {"lines": notes})


def record(kind: str, payload: dict[str, Any]) -> None:
    """Leave a machine-readable fact in the notebook for the runner; invisible in the report, and
    in JupyterLab too: the output has no plain-text form, and no front end renders its type."""
    _display({RECORD_MIME: {"kind": kind, **_jsonable(payload)}}, raw=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value
