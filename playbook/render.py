"""Writing what stakeholders read: self-contained HTML reports, the index page and the manifest.

Every file is written atomically (a temporary file in the same folder, then a rename), so a
report path only ever holds a complete old report or a complete new one; a failed rerun leaves
the last good report where stakeholders bookmarked it. This is the only module that writes
reports.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import tempfile
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from playbook.display import RECORD_MIME
from playbook.views import age_words, change_words, short_money

TEMPLATES = Path(__file__).resolve().parent / "templates"
# The log playbook.deliver appends to, one line per message sent (a reports folder's own file).
DELIVERY_LOG = "delivery.log"


# Temporary files are named ".<file>.playbook-<pid>-<random>.tmp": the pid lets a later run prove
# that a leftover is its own (its writer is gone), so it never deletes anyone else's ".tmp".
TMP_SUFFIX = ".tmp"
TMP_MARK = ".playbook-"


def tmp_prefix(path: Path) -> str:
    """The prefix of this process's temporary files beside ``path`` (see TMP_MARK)."""
    return f".{path.name}{TMP_MARK}{os.getpid()}-"


def owner_pid(name: str) -> int | None:
    """The pid in a temporary file's name (see TMP_MARK), or None when it holds none."""
    tail = name.split(TMP_MARK, 1)[1] if TMP_MARK in name else ""
    digits = tail.split("-", 1)[0].split(".", 1)[0]
    return int(digits) if digits.isdigit() else None


# Every page the playbook writes says so in its head (report, index, no-data pages); nbconvert
# may write the attributes in either order.
GENERATOR = re.compile(rb'<meta\s[^>]*(?:name="generator"[^>]*content="playbook"|content="playbook"[^>]*name="generator")')


def written_here(path: Path) -> bool:
    """Whether ``path`` is absent or something the playbook wrote, so that replacing it loses
    nothing of anyone else's: a page carrying the playbook's generator tag, an executed notebook
    papermill ran, a manifest of a run."""
    if not path.exists() and not path.is_symlink():
        return True
    if not path.is_file() or path.is_symlink():
        return False
    if path.name.endswith(".failed.ipynb") and path.stat().st_size == 0:
        return True  # the empty notebook an earlier version left when a disk filled up
    try:
        if path.suffix == ".html":
            with open(path, "rb") as handle:
                return GENERATOR.search(handle.read(8192)) is not None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if path.suffix == ".ipynb":
        return isinstance(data, dict) and "papermill" in data.get("metadata", {})
    return isinstance(data, dict) and "playbook_version" in data and isinstance(data.get("reports"), dict)


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write the new version into (the one place every file
    the playbook replaces goes through): when the block ends it replaces ``path`` atomically, so
    readers see the old file or the new one, never a part; a file that was there keeps its
    permissions (someone may have made a report private). On any failure, or Ctrl-C, the
    temporary file is removed and ``path`` is untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=tmp_prefix(path), suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with replacing(path) as tmp, tmp.open("wb") as handle:
        handle.write(raw)
        handle.flush()
        os.fsync(handle.fileno())


def extract_records(nb: Any) -> dict[str, dict[str, Any]]:
    """The facts a notebook recorded with :func:`playbook.display.record`, by kind (last wins)."""
    found: dict[str, dict[str, Any]] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(RECORD_MIME)
            if isinstance(payload, dict) and "kind" in payload:
                found[payload["kind"]] = {k: v for k, v in payload.items() if k != "kind"}
    return found


def clean_for_readers(nb: Any) -> Any:
    """A copy of the notebook without records, stderr (warnings, logs), widget state, the
    parameters' cells or cells tagged ``hide`` (notes and explorers for ops leads)."""
    nb = copy.deepcopy(nb)
    # Explorer widgets only work in JupyterLab; their saved state would only bloat the HTML.
    nb.metadata.pop("widgets", None)
    kept = []
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & {"parameters", "injected-parameters", "hide", "remove-cell"}:
            continue
        if cell.get("cell_type") == "code":
            cell["outputs"] = [
                o
                for o in cell.get("outputs", [])
                if RECORD_MIME not in o.get("data", {}) and not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
        kept.append(cell)
    nb.cells = kept
    return nb


SECTION = re.compile(r'<h2 class="pb-section" id="([^"]+)">(.*?)</h2>', re.S)


def add_contents(nb: Any) -> Any:
    """Insert a table of contents, linking every section, right after the summary (a new output cell)."""
    from nbformat.v4 import new_code_cell, new_output

    sections, summary_at = [], None
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            markup = output.get("data", {}).get("text/html", "")
            markup = "".join(markup) if isinstance(markup, list) else markup
            if "pb-summary" in markup and summary_at is None:
                summary_at = index
            sections += SECTION.findall(markup)
    if summary_at is None or not sections:
        return nb
    links = "".join(f'<li><a href="#{anchor}">{title}</a></li>' for anchor, title in sections)
    toc = new_code_cell("")
    toc.id = "pb-contents"  # fixed, so that two renders of the same notebook give the same HTML
    toc.outputs = [new_output("display_data", data={"text/html": f'<nav class="pb-toc"><h2>Contents</h2><ol>{links}</ol></nav>'})]
    nb.cells.insert(summary_at + 1, toc)
    return nb


def export_html(nb: Any, title: str) -> str:
    """Self-contained HTML of an executed notebook: no code, no prompts, no external scripts."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="playbook_report",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    nb = add_contents(clean_for_readers(nb))
    nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


def recorded_headline(headline: dict[str, Any] | None) -> str:
    """"NPS -17, down 60" from a recorded headline (or its own ``text``); empty when there is none."""
    if headline and headline.get("text"):
        return str(headline["text"])
    if not headline or headline.get("value") is None:
        return ""
    text = f"{headline['label']} {headline['value']}"
    words = change_words(headline.get("change"))
    return f"{text}, {words}" if words else text


def no_data_html(team_name: str, area_title: str, reason: str, period: str) -> str:
    """A small report page saying an area has no data for a team, and why."""
    return _render_page("no_data.html.j2", team=team_name, area=area_title, reason=reason, period=period)


LOOK_FIRST = 15


def _actions(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The actions a report's recorded result holds (most urgent first), when it is shown at all."""
    result = entry.get("result") or {}
    return list(result.get("actions", [])) if entry.get("html") else []


def look_here_first(reports: dict[str, dict[str, Any]], limit: int = LOOK_FIRST, snoozed: set[tuple[str, str, str]] = frozenset()) -> list[dict[str, Any]]:
    """The most urgent actions across every team and area: severity first, then money at stake.

    Every high-severity action is listed, however many there are (the list exists so that none
    is missed); the others fill it up to ``limit``. Team ``all`` repeats its teams' problems, so
    its actions are listed only when no team's report names the same rule and subject. Actions
    snoozed on the actions page (``snoozed``: team, rule, subject) are left out until their date.
    """
    from playbook.figures import Severity

    found, seen = [], set()
    for key in sorted(reports, key=lambda k: (reports[k]["team"] == "all", k)):
        entry = reports[key]
        for action in _actions(entry):
            mark = (action["rule"], action["subject"])
            if entry["team"] == "all" and mark in seen:
                continue
            if (entry["team"], *mark) in snoozed:
                seen.add(mark)
                continue
            seen.add(mark)
            found.append({**action, "team": entry["team"], "team_name": entry.get("team_name", entry["team"]),
                          "area": entry["area"], "html": entry["html"]})
    order = {s.name.lower(): int(s) for s in Severity}
    found.sort(key=lambda a: (-order.get(a["severity"], 0), -(a.get("money") or 0.0), a["team"], a["area"]))
    high = sum(1 for a in found if order.get(a["severity"], 0) >= int(Severity.HIGH))
    return found[:max(limit, high)]


TREND_POINTS = 12


def sparkline(points: list[dict[str, Any]], width: int = 132, height: int = 30) -> dict[str, Any] | None:
    """An inline SVG trend of a figure's last runs (``points``: history rows, oldest first).

    Returns the drawing's parts (the polyline's points, the markers of params changes, the last
    point) and the values it is drawn from, or None with fewer than two points to draw.
    """
    values = [p["value"] for p in points]
    known = [v for v in values if v is not None]
    if len(points) < 2 or not known:
        return None
    low, high = min(known), max(known)
    # A move of a few percent is not drawn as tall as a collapse: the scale spans at least a
    # tenth of the largest value, centred on the series.
    span = max(high - low, 0.1 * max(abs(low), abs(high)), 1e-9)
    low = (low + high) / 2 - span / 2
    step = (width - 8) / (len(points) - 1)
    xy = [(4 + i * step, None if v is None else 4 + (height - 8) * (1 - (v - low) / span)) for i, v in enumerate(values)]
    # A missing value breaks the line; so does a change of params (drawn as a dashed rule).
    segments, current = [], []
    for (x, y), point in zip(xy, points):
        if y is None or (point.get("series_break") and current):
            segments.append(current)
            current = []
        if y is not None:
            current.append((x, y))
    segments.append(current)
    last = next(((x, y) for x, y in reversed(xy) if y is not None), None)
    return {
        "width": width, "height": height,
        "lines": [" ".join(f"{x:.1f},{y:.1f}" for x, y in seg) for seg in segments if len(seg) > 1],
        "lone": [seg[0] for seg in segments if len(seg) == 1],
        "breaks": [x - step / 2 for (x, _), p in zip(xy, points) if p.get("series_break")],
        "last": last,
        "data_values": json.dumps([p["value"] for p in points]),
        "data_dates": json.dumps([str(p["as_of"]) for p in points]),
    }


def trends(reports: dict[str, dict[str, Any]], history: Any) -> dict[str, dict[str, Any]]:
    """Per report (``team/area``), the trend of its first headline figure over its last
    TREND_POINTS recorded runs up to the report's own as-of date, with a sentence saying so."""
    from playbook.figures import Figure
    from playbook.views import figure_value

    out: dict[str, dict[str, Any]] = {}
    if history is None or history.figures.empty:
        return out
    for key, entry in reports.items():
        result = entry.get("result") or {}
        headline = result.get("headline") or []
        if not headline or not entry.get("as_of"):
            continue
        series = history.series(entry["team"], entry["area"], headline[0])
        series = series[series.as_of <= datetime.fromisoformat(entry["as_of"]).date()].tail(TREND_POINTS)
        points = [
            {"as_of": r.as_of, "value": None if r.value != r.value else float(r.value), "series_break": bool(r.series_break)}
            for r in series.itertuples()
        ]
        drawing = sparkline(points)
        if drawing is None:
            continue
        first = series.iloc[0]
        shown = [figure_value(Figure(first.figure, first.label, p["value"], first.unit)) for p in points]
        breaks = sum(p["series_break"] for p in points)
        drawing["caption"] = f"{first.label}, last {len(points)} runs: {_short_day(points[0]['as_of'])} to {_short_day(points[-1]['as_of'])}"
        drawing["text"] = (f"{first.label} over the last {len(points)} runs, {_day_words(points[0]['as_of'])} to "
                           f"{_day_words(points[-1]['as_of'])}: {', '.join(shown)}"
                           + (f"; the params changed {'once' if breaks == 1 else f'{breaks} times'} (dashed line)" if breaks else ""))
        out[key] = drawing
    return out


def write_index(out_dir: Path, manifest: dict[str, Any], history: Any = None, snoozes: list[Any] | None = None) -> Path:
    """Write ``index.html``: "look here first", then every team x area with status, headline,
    the headline's trend over its last runs (from ``history``) and link.

    A cell is coloured only when its report has an action, and then shows the most urgent one.
    """
    from playbook.areas import AREAS

    reports = manifest.get("reports", {})
    teams = sorted({r["team"] for r in reports.values()})
    # Registered areas in their order, then any the manifest holds that this run did not register.
    named = list(AREAS) + sorted({r["area"] for r in reports.values()} - set(AREAS))
    areas = [a for a in named if any(r["area"] == a for r in reports.values())]
    rows = []
    for team in teams:
        cells = []
        for area in areas:
            entry = reports.get(f"{team}/{area}")
            if entry is not None:
                actions = _actions(entry)
                entry = {**entry, "headline_text": recorded_headline(entry.get("headline")), "actions": actions}
            cells.append(entry)
        name = next((r.get("team_name", team) for r in reports.values() if r["team"] == team), team)
        rows.append({"team": team, "name": name, "cells": cells})
    counts: dict[str, int] = {}
    for entry in reports.values():
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    board = manifest_board(manifest, history, snoozes or [])
    snoozed = {(r["team"], r["rule"], r["subject"]) for r in board["snoozed"]}
    page = _render_page("index.html.j2", manifest=manifest, rows=rows, areas=areas, counts=counts,
                        first=look_here_first(reports, snoozed=snoozed), trends=trends(reports, history), board=board)
    path = out_dir / "index.html"
    write_atomic(path, page)
    return path


def _rank(row: dict[str, Any]) -> tuple[Any, ...]:
    from playbook.figures import Severity

    order = Severity.__members__.get(str(row["severity"]).upper(), 0)
    return (-int(order), -(row.get("money") or 0.0), row["team"], row["area"], row["subject"])


def actions_board(reports: dict[str, dict[str, Any]], history: Any, snoozes: Iterable[Any],
                  owners: dict[str, dict[str, str]], today: date) -> dict[str, list[dict[str, Any]]]:
    """Every action of every team and area, one row per problem, for ``reports/actions.html``.

    A problem is a rule and subject in one team's report; team ``all`` repeats its teams'
    problems, so its action is a row of its own only when no team's report names the same rule
    and subject. Each row carries its owner (params ``owners``, per team), when it was first seen
    and for how many weeks it has been open, and its status: new (first seen by this report's
    run), ongoing, or resolved (found by the report's last recorded run before this one, gone now).

    Args:
        reports: the manifest's reports (each with its recorded ``result`` and ``as_of``).
        history: the history the ages and the resolved ones come from (None: no resolved rows).
        snoozes: :class:`playbook.config.Snooze` entries; a matching open row until its date is
            moved to ``snoozed`` with its reason.
        owners: team -> area -> owner.
        today: the run's as-of date, which snoozes are judged against.

    Returns:
        ``open`` (most urgent first), ``snoozed`` and ``resolved`` rows.
    """
    shown = {k: e for k, e in reports.items() if e.get("html") and (e.get("result") or {}).get("actions") is not None}
    named = {(a["rule"], a["subject"]) for e in shown.values() if e["team"] != "all" for a in e["result"]["actions"]}
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    resolved: dict[tuple[str, str, str], dict[str, Any]] = {}
    for entry in shown.values():
        team, area = entry["team"], entry["area"]
        as_of = date.fromisoformat(entry["as_of"]) if entry.get("as_of") else None
        common = {"team": team, "team_name": entry.get("team_name") or team, "area": area, "html": entry["html"],
                  "owner": owners.get(team, {}).get(area, ""), "as_of": as_of}
        current = set()
        for action in entry["result"]["actions"]:
            current.add((action["rule"], action["subject"]))
            if team == "all" and (action["rule"], action["subject"]) in named:
                continue
            first = date.fromisoformat(action["first_seen"]) if action.get("first_seen") else None
            status = "new" if first is None or first == as_of else "ongoing"
            rows[(team, action["rule"], action["subject"])] = {
                **common, **{k: action.get(k) for k in ("rule", "subject", "severity", "text", "money", "weeks_open",
                                                         "open_before_history")},
                "first_seen": first, "status": status,
            }
        if history is None or as_of is None or history.recorded(team, area, as_of) is None:
            continue
        before = history.previous_as_of(team, area, as_of)
        for old in history.actions_at(team, area, before).itertuples():
            mark = (old.rule, old.subject)
            if mark in current or (team == "all" and mark in named):
                continue
            resolved[(team, old.rule, old.subject)] = {
                **common, "rule": old.rule, "subject": old.subject, "severity": old.severity, "text": old.text,
                "money": None if old.money != old.money else float(old.money), "first_seen": old.first_seen,
                "last_seen": before, "weeks_open": (before - old.first_seen).days // 7, "status": "resolved",
                "open_before_history": old.first_seen == history.first_as_of(team, area) and old.first_seen < before,
            }
    # Team all's resolved action is a team's resolved one (or one still open in a team) told again.
    told = {(k[1], k[2]) for k in [*resolved, *rows] if k[0] != "all"}
    resolved = {k: v for k, v in resolved.items() if k[0] != "all" or (k[1], k[2]) not in told}
    open_rows, snoozed = [], []
    for row in rows.values():
        snooze = next((s for s in snoozes if s.matches(row["rule"], row["subject"], row["team"])), None)
        if snooze is not None and today <= snooze.until:
            snoozed.append({**row, "until": snooze.until, "reason": snooze.reason})
        else:
            open_rows.append({**row, "snooze_ended": snooze.until if snooze is not None else None})
    return {"open": sorted(open_rows, key=_rank), "snoozed": sorted(snoozed, key=_rank), "resolved": sorted(resolved.values(), key=_rank)}


def manifest_board(manifest: dict[str, Any], history: Any, snoozes: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """The actions page's rows (:func:`actions_board`) for this manifest."""
    owners = {team: dict((params or {}).get("owners") or {}) for team, params in manifest.get("params", {}).items()}
    today = datetime.fromisoformat(manifest["as_of"]).date() if manifest.get("as_of") else datetime.now(timezone.utc).date()
    return actions_board(manifest.get("reports", {}), history, snoozes, owners, today)


def write_actions(out_dir: Path, manifest: dict[str, Any], history: Any = None, snoozes: list[Any] | None = None) -> Path:
    """Write ``actions.html``: every action of every team and area, one row per problem, ranked
    by severity and money at stake, with owner, first seen, weeks open and status; the snoozed
    ones folded with their reasons; the ones resolved since the last run."""
    board = manifest_board(manifest, history, snoozes or [])
    page = _render_page("actions.html.j2", manifest=manifest, board=board, history=history is not None)
    path = out_dir / "actions.html"
    write_atomic(path, page)
    return path


def build_manifest(
    previous: dict[str, Any], outcomes: list[dict[str, Any]], as_of: Any, workers: int, *,
    known_teams: list[str], params: dict[str, Any], fingerprints: dict[str, str], warnings: list[str],
) -> dict[str, Any]:
    """The run's record: versions, parameters, data fingerprints, and every report's status.

    Args:
        previous: the last run's manifest (reports of this run replace its entries).
        outcomes: this run's reports, as dicts of :class:`playbook.runner.Outcome`.
        as_of, workers: the run's as-of date and how many reports ran at once.
        known_teams, params, fingerprints, warnings: from the run's plan.
    """
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import playbook
    from playbook.areas import AREAS

    versions = {"python": platform.python_version()}
    for package in ("papermill", "nbconvert", "nbclient", "ipykernel", "duckdb", "pandas", "seaborn", "matplotlib"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    # Reports of teams or areas that no longer exist drop out of the index; the others carry over.
    reports = {
        key: entry
        for key, entry in previous.get("reports", {}).items()
        if isinstance(entry, dict) and entry.get("team") in known_teams and entry.get("area") in AREAS
    }
    for outcome in outcomes:
        reports[f"{outcome['team']}/{outcome['area']}"] = {**outcome, "status": str(outcome["status"])}
    periods = sorted({f"{o['period']['start']} to {o['period']['end']}" for o in outcomes if o.get("period")})
    return {
        "playbook_version": playbook.__version__,
        "generated_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "as_of": as_of.isoformat(),
        "period": "; ".join(periods),
        "fingerprint": ", ".join(sorted(set(fingerprints.values()))),
        "fingerprints": fingerprints,
        "workers": workers,
        "versions": versions,
        "params": {k: v for k, v in {**previous.get("params", {}), **params}.items() if k in known_teams},
        "warnings": warnings,
        "reused": sum(1 for o in outcomes if o.get("reused")),
        "executed": sum(1 for o in outcomes if str(o["status"]) == "rendered" and not o.get("reused")),
        "reports": reports,
    }


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> Path:
    path = out_dir / "manifest.json"
    write_atomic(path, json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    return path


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """The previous run's manifest, or an empty one when there is none or it is unreadable."""
    try:
        data = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) and isinstance(data.get("reports"), dict) else {"reports": {}}
    except (OSError, ValueError):
        return {"reports": {}}


def _day_words(text: Any) -> str:
    """Each ISO date in ``text`` ("2026-11-30") as readers see dates in the reports ("30 Nov 2026")."""
    def words(match: re.Match[str]) -> str:
        try:
            return datetime(*map(int, match.groups())).strftime("%d %b %Y")
        except ValueError:
            return match.group(0)

    return re.sub(r"\b(\d{4})-(\d{2})-(\d{2})\b", words, str(text))


def _short_day(day: Any) -> str:
    """"6 Oct" for a date (the trends' captions, where the year is the index's)."""
    return f"{day.day} {day:%b}"


def _render_page(template: str, **context: Any) -> str:
    import jinja2

    from playbook.areas import AREAS

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES / "pages"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = short_money
    env.filters["day"] = _day_words
    env.filters["age"] = age_words
    area_titles = {a.name: a.title for a in AREAS.values()}
    area_titles.update({name: name.capitalize() for name in context.get("areas", []) if name not in area_titles})
    css = (TEMPLATES / "playbook_report" / "report.css").read_text(encoding="utf-8")
    return env.get_template(template).render(area_titles=area_titles, css=css, **context)
