"""The code behind the presets whose exports need more than a mapping: Jira's repeated headers
and resolution rules, Zendesk's incremental pages and metric sets, PostHog's properties, groups and
own CSV export, Amplitude's zipped JSON lines. Each ``prepare`` adds derived columns named with a
leading ``_`` (``_closed``, ``_account``...) that the preset's YAML maps, and says in
``frame.attrs["sources"]`` which of the export's own columns each comes from, so that messages
name those, never the derived ones.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from playbook.errors import ImportDataError
from playbook.exports import (EXAMPLES, Mapping, _column, _decoded, _gunzipped, _json_records, _rows, _text, flatten, iso_text, read_any,
                              read_csv_file, read_json_file)


def _prepare_jira(frame: pd.DataFrame, mapping: Mapping, path: Path) -> pd.DataFrame:
    """Resolved when the status category is Done or a resolution date is set; labels as one list."""
    frame = frame.copy()
    sources: dict[str, str] = {}
    category = _column(frame, ["Status Category"], any_case=True)
    resolved = _column(frame, ["Resolved"], any_case=True)
    updated = _column(frame, ["Status Category Changed", "Updated"], any_case=True)
    done = pd.Series(False, index=frame.index)
    if category is not None:
        done |= frame[category].fillna("").str.strip().str.lower().eq("done")
    if resolved is not None:
        done |= frame[resolved].fillna("").str.strip().ne("")
        closed = frame[resolved].where(done, "")
        if updated is not None:
            # Done without a resolution date: the status change is when it was closed.
            closed = closed.where(closed.fillna("").str.strip().ne("") | ~done, frame[updated])
        frame["_closed"] = closed
        sources["_closed"] = str(resolved)
    elif category is not None:
        frame["_closed"] = frame[updated].where(done, "") if updated is not None else ""
        sources["_closed"] = f"{category} and {updated}" if updated is not None else str(category)
    labels = _column(frame, ["Labels"], any_case=True)
    customer = set(str(x).lower() for x in mapping.options.get("customer_labels", ["customer"]))
    if labels is not None:
        frame["_source"] = frame[labels].fillna("").map(
            lambda text: "customer" if {x.strip().lower() for x in str(text).split(";")} & customer else "internal")
    else:
        frame["_source"] = "internal"
    sources["_source"] = str(labels or "Labels")
    components = _column(frame, ["Component/s", "Components"], any_case=True)
    if components is not None:
        frame["_component"] = frame[components].fillna("").map(lambda text: str(text).split(";")[0].strip())
    sources["_component"] = str(components or "Component/s")
    frame.attrs["sources"] = sources
    frame.attrs["absent"] = [name for name, found in (("_source", labels), ("_component", components)) if found is None]
    if category is None and resolved is None:
        frame.attrs["absent"].append("_closed")
    return frame


def _prepare_zendesk(frame: pd.DataFrame, mapping: Mapping, path: Path) -> pd.DataFrame:
    """Tickets with their metric sets (sideloaded or embedded), or the admin CSV export.

    First reply = created + reply time (calendar minutes); resolution = the metric set's
    ``solved_at``, else created + full resolution time, and only for solved or closed tickets;
    a solved ticket without metric sets was resolved by its last update (``updated_at``), the
    closest the ticket itself says (the note says so).
    """
    frame = frame.copy()
    opened = _column(frame, ["created_at", "Created at"], any_case=True)
    if opened is None:
        raise ImportDataError(f"{path.name}: no 'created_at' (or 'Created at') in the tickets; columns found: "
                              f"{', '.join(map(str, frame.columns[:40]))}")
    created = _utc(frame[opened])
    reply = _column(frame, ["metric_set.reply_time_in_minutes.calendar", "First reply time in minutes"], any_case=True)
    full = _column(frame, ["metric_set.full_resolution_time_in_minutes.calendar", "Full resolution time in minutes"], any_case=True)
    solved = _column(frame, ["metric_set.solved_at", "Solved at"], any_case=True)
    status = _column(frame, ["status", "Status"], any_case=True)
    updated = _column(frame, ["updated_at", "Updated at"], any_case=True)
    minutes = lambda col: pd.to_numeric(frame[col], errors="coerce") if col else pd.Series(float("nan"), index=frame.index)  # noqa: E731
    frame["_first_reply"] = iso_text(created + pd.to_timedelta(minutes(reply), unit="min"))
    done = frame[status].map(_text).str.lower().isin(["solved", "closed"]) if status else pd.Series(True, index=frame.index)
    at = _utc(frame[solved]) if solved else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    at = at.fillna(created + pd.to_timedelta(minutes(full), unit="min"))
    sources = {"_first_reply": f"{opened} + {reply}" if reply else "metric_set.reply_time_in_minutes",
               "_resolved": str(solved or full or "metric_set.solved_at"), "_reopens": "metric_set.reopens"}
    if solved is None and full is None and updated is not None and status is not None:
        by_update = done & at.isna()
        if by_update.any():
            frame.attrs.setdefault("said", []).append(
                f"{path.name}: {_rows(int(by_update.sum()))} solved or closed without metric sets: resolved_at is the "
                f"ticket's last update ({updated}); export with include=metric_sets for the time it was solved")
        at = at.fillna(_utc(frame[updated]))
        sources["_resolved"] = f"{status} and {updated}"
        # An estimate fills an empty value; it never replaces a time the table already holds.
        frame["_estimated"] = by_update.map({True: "resolved_at", False: ""})
    frame["_resolved"] = iso_text(at.where(done))
    reopens = _column(frame, ["metric_set.reopens", "Reopens"], any_case=True)
    frame["_reopens"] = frame[reopens].fillna(0) if reopens else 0
    frame.attrs["sources"] = sources
    frame.attrs["absent"] = [name for name, found in (("_first_reply", reply), ("_reopens", reopens)) if found is None]
    if status is None or (solved is None and full is None and updated is None):
        frame.attrs["absent"].append("_resolved")
    return frame


def _utc(values: pd.Series) -> pd.Series:
    """ISO-8601 text as UTC times (empty or unreadable: NaT)."""
    return pd.to_datetime(values.map(_text).where(lambda t: t.ne("")), utc=True, errors="coerce", format="ISO8601")


def _zendesk_records(path: Path) -> pd.DataFrame:
    """Incremental export pages: ``tickets`` with ``metric_sets`` sideloaded by ticket id."""
    notes: list[str] = []
    records = read_json_file(path, notes)
    rows = []
    for page in records:
        if "tickets" in page or "metric_sets" in page:
            # Each page's tickets take that page's metric sets: a ticket on two pages is two states.
            metrics = {m.get("ticket_id"): m for m in page.get("metric_sets", [])}
            tickets = page.get("tickets", [])
        else:
            metrics, tickets = {}, [page]
        for ticket in tickets:
            ticket = dict(ticket)
            if "metric_set" not in ticket and ticket.get("id") in metrics:
                ticket["metric_set"] = metrics[ticket["id"]]
            rows.append(flatten(ticket))
    frame = pd.DataFrame(rows, dtype=object)
    frame.attrs["notes"] = notes
    return frame


def _prepare_posthog_survey(frame: pd.DataFrame, mapping: Mapping, path: Path) -> pd.DataFrame:
    """``survey sent`` events; the score is ``$survey_response`` (or the first numbered answer),
    the comment the next text answer; one row per ``$survey_submission_id`` (the last sent)."""
    frame = _properties(_unstarred(frame), path)
    event = _column(frame, ["event"], any_case=True)
    if event is not None:
        frame = frame[frame[event] == "survey sent"]
    answers = sorted((c for c in frame.columns if c.startswith("properties.$survey_response")), key=_answer_order)
    if not answers:
        raise ImportDataError(f"{path.name}: no '$survey_response' property in any 'survey sent' event")
    score_key = mapping.options.get("score", answers[0])
    if score_key not in frame.columns:
        raise ImportDataError(f"{path.name}: options.score names {score_key!r}, which no 'survey sent' event has; "
                              f"answers found: {', '.join(answers)}")
    frame = frame.assign(_score=frame[score_key])
    text_keys = [a for a in answers if a != score_key]
    frame["_comment"] = frame[text_keys[0]] if text_keys else None
    submission = "properties.$survey_submission_id"
    if submission in frame.columns:
        key = frame[submission].where(frame[submission].notna(), frame.get("uuid"))
        frame = frame.assign(_submission=key)
        time_col = _column(frame, ["timestamp"], any_case=True)
        if time_col:
            frame = frame.sort_values(time_col, kind="stable")
        frame = frame.drop_duplicates("_submission", keep="last")
    else:
        frame = frame.assign(_submission=frame.get("uuid"))
    frame.attrs["sources"] = {"_submission": f"{submission} (else uuid)", "_score": score_key,
                              "_comment": text_keys[0] if text_keys else "properties.$survey_response_1"}
    return frame


def _answer_order(name: str) -> tuple[int, str]:
    return (0 if name == "properties.$survey_response" else 1, name)


def _properties(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """PostHog CSV exports hold ``properties`` as JSON text: spread it into ``properties.*``.

    Raises:
        ImportDataError: a ``properties`` value that is not a JSON object, with its rows.
    """
    if "properties" in frame.columns:
        parsed, broken = [], []
        for number, value in enumerate(frame["properties"], start=1):
            if isinstance(value, dict):
                parsed.append(value)
                continue
            text = _text(value)
            try:
                found = json.loads(text) if text else {}
            except json.JSONDecodeError:
                found = None
            if not isinstance(found, dict):
                broken.append(f"row {number}: {text[:40]!r}")
                found = {}
            parsed.append(found)
        if broken:
            raise ImportDataError(f"{path.name}: column 'properties': {len(broken):,} "
                                  f"{'values are not JSON objects' if len(broken) > 1 else 'value is not a JSON object'} "
                                  f"({', '.join(broken[:EXAMPLES])})")
        spread = pd.DataFrame([flatten(p, "properties.") for p in parsed], index=frame.index, dtype=object)
        frame = pd.concat([frame.drop(columns=["properties"]), spread], axis=1)
    return frame


def _prepare_posthog_events(frame: pd.DataFrame, mapping: Mapping, path: Path) -> pd.DataFrame:
    """The account is the event's group of the type in ``options.group_type`` (or its first);
    the mapping says what stands in for it when an event has no group (the user, by default)."""
    frame = _properties(_unstarred(frame), path)
    group_type = mapping.options.get("group_type")
    groups = [c for c in frame.columns if c.startswith("properties.$groups.")]
    if group_type:
        groups = [c for c in groups if c == f"properties.$groups.{group_type}"]
    frame["_account"] = frame[groups].bfill(axis=1).iloc[:, 0] if groups else None
    frame.attrs["sources"] = {"_account": f"properties.$groups.{group_type}" if group_type else "properties.$groups"}
    return frame


def _unstarred(frame: pd.DataFrame) -> pd.DataFrame:
    """PostHog's own CSV export (the events table's "Export" button) writes each event's fields as
    ``*.event``, ``*.distinct_id``, ``*.properties.$browser``: the same names without ``*.``.
    Its other columns are what the table displayed (a ``timestamp`` to the minute, a person's
    name): where one has the name of an event field, the event's own field wins."""
    starred = {str(c)[2:]: c for c in frame.columns if str(c).startswith("*.")}
    if not starred:
        return frame
    shown = {c: f"{c} (as displayed)" for c in frame.columns if c in starred}
    return frame.rename(columns=shown).rename(columns={c: name for name, c in starred.items()})


def _amplitude_records(path: Path) -> pd.DataFrame:
    """Amplitude's export: a zip of gzipped JSON-lines files (one per hour)."""
    if not zipfile.is_zipfile(path):
        raise ImportDataError(f"{path.name}: not a zip file; Amplitude's export is a zip of .json.gz files")
    rows, notes = [], []
    try:
        with zipfile.ZipFile(path) as archive:
            for name in sorted(archive.namelist()):
                if name.endswith("/"):
                    continue
                try:
                    data = _gunzipped(name, archive.read(name))
                    text, note = _decoded(Path(name), data)
                    notes += [note] if note else []
                    rows += [flatten(r) for r in _json_records(Path(name), text)]
                except ImportDataError as err:
                    raise ImportDataError(f"{path.name}: {err}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise ImportDataError(f"{path.name}: the zip file is damaged ({err}); download the export again") from None
    frame = pd.DataFrame(rows, dtype=object)
    frame.attrs["notes"] = notes
    return frame


def _prepare_amplitude(frame: pd.DataFrame, mapping: Mapping, path: Path) -> pd.DataFrame:
    """The account is the event's group of ``options.group_type`` (groups hold lists)."""
    group_type = mapping.options.get("group_type", "company")
    column = f"groups.{group_type}"

    def first(value: Any) -> Any:
        # Lists arrive as JSON text (see flatten); a name such as "[ACME] Corp" is a name.
        if isinstance(value, str) and value.startswith("["):
            try:
                items = json.loads(value)
            except json.JSONDecodeError:
                return value
            return (items[0] if items else None) if isinstance(items, list) else value
        return value

    frame = frame.copy()
    frame["_account"] = frame[column].map(first) if column in frame.columns else None
    frame.attrs["sources"] = {"_account": column}
    return frame


@dataclass(frozen=True)
class Preset:
    name: str
    describe: str
    reader: Callable[[Path], pd.DataFrame] = read_any
    prepare: Callable[[pd.DataFrame, Mapping, Path], pd.DataFrame] | None = None


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("generic", "any CSV or JSON-lines file, with --mapping"),
        Preset("jira", "Jira CSV export (all fields) to bugs, or escalations with --table", prepare=_prepare_jira),
        Preset("zendesk", "Zendesk tickets: incremental export JSON with metric_sets, or the admin CSV", prepare=_prepare_zendesk),
        Preset("delighted", "Delighted survey responses (API JSON or JSON lines)"),
        Preset("posthog-survey", "PostHog 'survey sent' events (CSV or JSON lines)", prepare=_prepare_posthog_survey),
        Preset("posthog-events", "PostHog events (CSV or JSON lines); the account from $groups", prepare=_prepare_posthog_events),
        Preset("amplitude", "Amplitude export: a zip of gzipped JSON-lines files", reader=_amplitude_records, prepare=_prepare_amplitude),
        Preset("assignments", "experiment assignments (user_id, timestamp, experiment_id, variation_id, conversion)"),
    )
}


def _zendesk_reader(path: Path) -> pd.DataFrame:
    return read_csv_file(path) if path.suffix.lower() == ".csv" else _zendesk_records(path)


PRESETS["zendesk"] = Preset("zendesk", PRESETS["zendesk"].describe, reader=_zendesk_reader, prepare=_prepare_zendesk)


__all__ = ["PRESETS", "Preset"]
