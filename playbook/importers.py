"""Importers: exports from the tools product-ops teams use, turned into canonical workspace tables.

An import reads one or more files, maps their columns onto one canonical table, checks the rows
against the data contract exactly as a run does (:class:`playbook.workspace.Workspace`), and
writes the usable rows into the workspace: appending to the table already there without
repeating an id. It reports what it read, wrote, skipped and set aside, and why.

The mapping is YAML (see ``params/mappings/`` for worked examples)::

    table: escalations            # the canonical table written
    headers: any_case             # match source headers ignoring case (default: exact)
    columns:                      # canonical column: source column, or a list (the first
                                  # that is present and not empty wins, row by row)
      escalation_id: Ticket ID
      priority: Ticket Priority
    values:                       # canonical column: {source value: canonical value}, any case
      priority: {Critical: P1, High: P2, Medium: P3, Low: P4}
    dates:
      format: "%d-%m-%Y %H:%M"    # strftime codes, or "unix" (seconds); default ISO-8601
      timezone: UTC               # the zone of times written without one
    constants:                    # canonical column: the same value on every row; "{row}" is
      team: support               # the source row number (for files without ids)

A *preset* is such a mapping shipped in ``playbook/presets/`` for a tool's export, plus a
``prepare`` function here where the format needs code (nested JSON, repeated headers, zipped
files). ``--mapping`` merges a user's mapping over the preset's.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path
from typing import Any, Callable, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from playbook.errors import PlaybookError, SchemaError
from playbook.schemas import TABLES, get_table

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
EXAMPLES = 5


class ImportDataError(PlaybookError):
    """An export that cannot be imported: names the file, the column and what was expected."""


class Dates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str | None = None
    timezone: str = "UTC"


class Mapping(BaseModel):
    """How one export's columns become one canonical table (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    table: str
    headers: Literal["exact", "any_case"] = "exact"
    columns: dict[str, str | list[str]] = Field(default_factory=dict)
    values: dict[str, dict[str, Any]] = Field(default_factory=dict)
    dates: Dates = Dates()
    constants: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)

    def sources(self, column: str) -> list[str]:
        found = self.columns.get(column, [])
        return [found] if isinstance(found, str) else list(found)


@dataclass
class ImportResult:
    """What one import did."""

    table: str
    path: Path
    files: list[str]
    rows_read: int
    rows_written: int
    rows_already_there: int
    set_aside: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    same: str = "same id"

    def describe(self) -> list[str]:
        lines = [
            f"Read {self.rows_read:,} rows from {', '.join(self.files)}; wrote {self.rows_written:,} to {self.path}"
            + (f"; {self.rows_already_there:,} already there ({self.same}), skipped" if self.rows_already_there else "")
        ]
        lines += [f"data fault: {line}" for line in self.faults]
        lines += self.set_aside
        return lines


# -- reading files ------------------------------------------------------------------------------


def _merge_repeated(header: list[str], rows: list[list[str]]) -> pd.DataFrame:
    """A frame from CSV rows where a repeated header (Jira's ``Labels``, ``Labels``) becomes one
    column holding the non-empty values joined with ``; ``."""
    names: list[str] = []
    for name in header:
        if name not in names:
            names.append(name)
    positions = {name: [i for i, h in enumerate(header) if h == name] for name in names}
    data = {}
    for name, where in positions.items():
        if len(where) == 1:
            i = where[0]
            data[name] = [row[i] if i < len(row) else "" for row in rows]
        else:
            data[name] = ["; ".join(row[i] for i in where if i < len(row) and row[i].strip()) for row in rows]
    return pd.DataFrame(data, dtype=object)


def read_csv_file(path: Path) -> pd.DataFrame:
    """Every value as text; a byte-order mark, semicolons and quoted line breaks handled."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    if not text.strip():
        raise ImportDataError(f"{path.name}: the file is empty")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    rows = [row for row in reader if any(cell.strip() for cell in row)]
    return _merge_repeated(header, rows)


def _json_records(path: Path, text: str) -> list[dict[str, Any]]:
    stripped = text.lstrip()
    if not stripped:
        raise ImportDataError(f"{path.name}: the file is empty")
    if stripped[0] in "[{" and not _looks_like_lines(stripped):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ImportDataError(f"{path.name}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
        if isinstance(data, list):
            return data
        return [data]
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ImportDataError(f"{path.name}: line {number} is not valid JSON ({err.msg}, column {err.colno})") from None
    return records


def _looks_like_lines(text: str) -> bool:
    """JSON lines: more than one line, each a whole object."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return False
    try:
        json.loads(lines[0])
        return True
    except json.JSONDecodeError:
        return False


def read_json_file(path: Path) -> list[dict[str, Any]]:
    """Records from a JSON document (an object or a list) or JSON lines; ``.gz`` is unpacked."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return _json_records(path, raw.decode("utf-8-sig"))


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted keys (``person.email``); lists kept as JSON text."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = json.dumps(value)
        else:
            flat[name] = value
    return flat


def read_any(path: Path) -> pd.DataFrame:
    """A CSV, JSON or JSON-lines file as a frame of text columns (nested JSON flattened)."""
    if not path.is_file():
        raise ImportDataError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        return read_csv_file(path)
    records = read_json_file(path)
    return pd.DataFrame([flatten(r) for r in records], dtype=object)


# -- presets: the mapping, and code where a format needs it -------------------------------------


def _prepare_jira(frame: pd.DataFrame, mapping: Mapping, path: Path) -> pd.DataFrame:
    """Resolved when the status category is Done or a resolution date is set; labels as one list."""
    frame = frame.copy()
    category = _column(frame, ["Status Category"], any_case=True)
    resolved = _column(frame, ["Resolved"], any_case=True)
    done = pd.Series(False, index=frame.index)
    if category is not None:
        done |= frame[category].fillna("").str.strip().str.lower().eq("done")
    if resolved is not None:
        done |= frame[resolved].fillna("").str.strip().ne("")
        closed = frame[resolved].where(done, "")
        updated = _column(frame, ["Status Category Changed", "Updated"], any_case=True)
        if updated is not None:
            # Done without a resolution date: the status change is when it was closed.
            closed = closed.where(closed.fillna("").str.strip().ne("") | ~done, frame[updated])
        frame["_closed"] = closed
    elif category is not None:
        updated = _column(frame, ["Status Category Changed", "Updated"], any_case=True)
        frame["_closed"] = frame[updated].where(done, "") if updated is not None else ""
    labels = _column(frame, ["Labels"], any_case=True)
    customer = set(str(x).lower() for x in mapping.options.get("customer_labels", ["customer"]))
    if labels is not None:
        frame["_source"] = frame[labels].fillna("").map(
            lambda text: "customer" if {x.strip().lower() for x in str(text).split(";")} & customer else "internal")
    else:
        frame["_source"] = "internal"
    components = _column(frame, ["Component/s", "Components"], any_case=True)
    if components is not None:
        frame["_component"] = frame[components].fillna("").map(lambda text: str(text).split(";")[0].strip())
    return frame


def _prepare_zendesk(frame: pd.DataFrame, mapping: Mapping, path: Path) -> pd.DataFrame:
    """Tickets with their metric sets (sideloaded or embedded), or the admin CSV export.

    First reply = created + reply time (calendar minutes); resolution = the metric set's
    ``solved_at``, else created + full resolution time, and only for solved or closed tickets.
    """
    frame = frame.copy()
    created = pd.to_datetime(frame[_column(frame, ["created_at", "Created at"], any_case=True) or "created_at"], utc=True, errors="coerce")
    reply = _column(frame, ["metric_set.reply_time_in_minutes.calendar", "First reply time in minutes"], any_case=True)
    full = _column(frame, ["metric_set.full_resolution_time_in_minutes.calendar", "Full resolution time in minutes"], any_case=True)
    solved = _column(frame, ["metric_set.solved_at", "Solved at"], any_case=True)
    status = _column(frame, ["status", "Status"], any_case=True)
    minutes = lambda col: pd.to_numeric(frame[col], errors="coerce") if col else pd.Series(float("nan"), index=frame.index)  # noqa: E731
    frame["_first_reply"] = _iso(created + pd.to_timedelta(minutes(reply), unit="min"))
    done = frame[status].fillna("").str.lower().isin(["solved", "closed"]) if status else pd.Series(True, index=frame.index)
    at = pd.to_datetime(frame[solved], utc=True, errors="coerce") if solved else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    at = at.fillna(created + pd.to_timedelta(minutes(full), unit="min"))
    frame["_resolved"] = _iso(at.where(done))
    reopens = _column(frame, ["metric_set.reopens", "Reopens"], any_case=True)
    frame["_reopens"] = frame[reopens].fillna(0) if reopens else 0
    return frame


def _zendesk_records(path: Path) -> pd.DataFrame:
    """Incremental export pages: ``tickets`` with ``metric_sets`` sideloaded by ticket id."""
    records = read_json_file(path)
    tickets, metrics = [], {}
    for page in records:
        if "tickets" in page or "metric_sets" in page:
            tickets += page.get("tickets", [])
            metrics.update({m.get("ticket_id"): m for m in page.get("metric_sets", [])})
        else:
            tickets.append(page)
    rows = []
    for ticket in tickets:
        ticket = dict(ticket)
        if "metric_set" not in ticket and ticket.get("id") in metrics:
            ticket["metric_set"] = metrics[ticket["id"]]
        rows.append(flatten(ticket))
    return pd.DataFrame(rows, dtype=object)


def _prepare_posthog_survey(frame: pd.DataFrame, mapping: Mapping, path: Path) -> pd.DataFrame:
    """``survey sent`` events; the score is ``$survey_response`` (or the first numbered answer),
    the comment the next text answer; one row per ``$survey_submission_id`` (the last sent)."""
    frame = _properties(frame)
    event = _column(frame, ["event"], any_case=True)
    if event is not None:
        frame = frame[frame[event] == "survey sent"]
    answers = sorted((c for c in frame.columns if c.startswith("properties.$survey_response")), key=_answer_order)
    if not answers:
        raise ImportDataError(f"{path.name}: no '$survey_response' property in any 'survey sent' event")
    score_key = mapping.options.get("score", answers[0])
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
    return frame


def _answer_order(name: str) -> tuple[int, str]:
    return (0 if name == "properties.$survey_response" else 1, name)


def _properties(frame: pd.DataFrame) -> pd.DataFrame:
    """PostHog CSV exports hold ``properties`` as JSON text: spread it into ``properties.*``."""
    if "properties" in frame.columns:
        parsed = frame["properties"].map(lambda t: json.loads(t) if isinstance(t, str) and t.strip().startswith("{") else (t if isinstance(t, dict) else {}))
        spread = pd.DataFrame([flatten(p, "properties.") for p in parsed], index=frame.index, dtype=object)
        frame = pd.concat([frame.drop(columns=["properties"]), spread], axis=1)
    return frame


def _prepare_posthog_events(frame: pd.DataFrame, mapping: Mapping, path: Path) -> pd.DataFrame:
    """The account is the event's group of the type in ``options.group_type`` (or its first)."""
    frame = _properties(frame)
    group_type = mapping.options.get("group_type")
    groups = [c for c in frame.columns if c.startswith("properties.$groups.")]
    if group_type:
        groups = [c for c in groups if c == f"properties.$groups.{group_type}"]
    frame["_account"] = frame[groups].bfill(axis=1).iloc[:, 0] if groups else None
    return frame


def _amplitude_records(path: Path) -> pd.DataFrame:
    """Amplitude's export: a zip of gzipped JSON-lines files (one per hour)."""
    if not zipfile.is_zipfile(path):
        raise ImportDataError(f"{path.name}: not a zip file; Amplitude's export is a zip of .json.gz files")
    rows = []
    with zipfile.ZipFile(path) as archive:
        for name in sorted(archive.namelist()):
            if name.endswith("/"):
                continue
            data = archive.read(name)
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            try:
                rows += [flatten(r) for r in _json_records(Path(name), data.decode("utf-8"))]
            except ImportDataError as err:
                raise ImportDataError(f"{path.name}: {err}") from None
    return pd.DataFrame(rows, dtype=object)


def _prepare_amplitude(frame: pd.DataFrame, mapping: Mapping, path: Path) -> pd.DataFrame:
    """The account is the event's group of ``options.group_type`` (groups hold lists)."""
    group_type = mapping.options.get("group_type", "company")
    column = f"groups.{group_type}"

    def first(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("["):
            items = json.loads(value)
            return items[0] if items else None
        return value

    frame = frame.copy()
    frame["_account"] = frame[column].map(first) if column in frame.columns else None
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


def load_mapping(preset: str, mapping_file: Path | None = None, table: str | None = None) -> Mapping:
    """The preset's mapping (for ``table`` when it offers several), with ``mapping_file`` merged over it.

    Raises:
        ImportDataError: an unknown preset, a malformed mapping, or a preset without that table.
    """
    if preset not in PRESETS:
        raise ImportDataError(f"unknown preset '{preset}'; presets: {', '.join(PRESETS)}")
    body: dict[str, Any] = {}
    file = PRESETS_DIR / f"{preset}.yaml"
    if file.is_file():
        shipped = yaml.safe_load(file.read_text(encoding="utf-8"))
        tables = shipped.get("tables", {})
        chosen = table or shipped.get("default")
        if tables:
            if chosen not in tables:
                raise ImportDataError(f"preset '{preset}' imports into {', '.join(tables)}; not '{chosen}'")
            body = tables[chosen]
        else:
            body = shipped
    elif preset == "generic" and mapping_file is None:
        raise ImportDataError("the generic preset needs --mapping FILE (see params/mappings/ for examples)")
    if mapping_file is not None:
        try:
            extra = yaml.safe_load(Path(mapping_file).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ImportDataError(f"{mapping_file}: no such mapping file") from None
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f", line {mark.line + 1}" if mark else ""
            raise ImportDataError(f"{mapping_file}{where}: malformed YAML: {getattr(err, 'problem', err)}") from None
        if not isinstance(extra, dict):
            raise ImportDataError(f"{mapping_file}: expected a mapping of keys (table, columns, values, dates, constants)")
        body = _merge(body, extra)
    if table:
        body["table"] = table
    try:
        mapping = Mapping.model_validate(body)
    except ValidationError as err:
        where = mapping_file or file
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise ImportDataError(f"{where}: {problems}") from None
    if mapping.table not in TABLES:
        raise ImportDataError(f"{mapping_file or file}: table '{mapping.table}' is not a canonical table; tables: {', '.join(TABLES)}")
    unknown = [c for c in (*mapping.columns, *mapping.constants) if c not in get_table(mapping.table).column_names]
    if unknown:
        raise ImportDataError(
            f"{mapping_file or file}: {', '.join(repr(c) for c in unknown)} not a column of {mapping.table}; "
            f"columns: {', '.join(get_table(mapping.table).column_names)}"
        )
    return mapping


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "columns":
            merged[key] = _merge(merged[key], value)
        elif key == "columns" and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


# -- mapping a frame onto the contract ----------------------------------------------------------


def _column(frame: pd.DataFrame, names: list[str], any_case: bool) -> str | None:
    """The first of ``names`` that the frame has (ignoring case and outer spaces when asked)."""
    for name in names:
        if name in frame.columns:
            return name
    if any_case:
        folded = {str(c).strip().lower(): c for c in frame.columns}
        for name in names:
            if name.strip().lower() in folded:
                return folded[name.strip().lower()]
    return None


def _iso(series: pd.Series) -> pd.Series:
    return series.map(lambda t: "" if pd.isna(t) else t.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _zone(name: str, where: str) -> ZoneInfo | timezone:
    if name.upper() == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImportDataError(f"{where}: unknown time zone '{name}' (expected an IANA name such as Europe/Paris)") from None


def _timestamp(text: Any) -> Any:
    if not isinstance(text, str):
        return pd.NaT
    try:
        return pd.Timestamp(text)
    except (ValueError, TypeError):
        return pd.NaT


def parse_times(values: pd.Series, dates: Dates, label: str) -> pd.Series:
    """Source times as ISO-8601 UTC text; naive times are in ``dates.timezone``.

    Raises:
        ImportDataError: values that do not match the format, with the rows (numbered from 1).
    """
    text = values.map(_text)
    present = text.ne("")
    if dates.format == "unix":
        parsed = pd.to_datetime(pd.to_numeric(text.where(present), errors="coerce"), unit="s", utc=True)
    elif dates.format:
        parsed = pd.to_datetime(text.where(present), format=dates.format, errors="coerce")
    else:
        # Element by element: an export may mix offsets ("Z", "+01:00") and naive times.
        parsed = text.where(present).map(_timestamp)
    bad = present & parsed.isna()
    if bad.any():
        rows = ", ".join(f"row {i + 1}: {text.iloc[i]!r}" for i in list(bad.to_numpy().nonzero()[0])[:EXAMPLES])
        expected = f"the date format {dates.format!r}" if dates.format else "ISO-8601 dates (or set dates.format in the mapping)"
        many = bad.sum() > 1
        raise ImportDataError(f"{label}: {int(bad.sum()):,} value{'s' if many else ''} do{'' if many else 'es'} not match {expected} ({rows})")
    zone = _zone(dates.timezone, label)

    def to_utc(t: Any) -> Any:
        if pd.isna(t):
            return pd.NaT
        t = pd.Timestamp(t)
        return (t.tz_localize(zone) if t.tzinfo is None else t).tz_convert("UTC")

    return _iso(parsed.map(to_utc))


def map_frame(frame: pd.DataFrame, mapping: Mapping, label: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """The canonical columns of ``mapping.table`` as text, and which source column fed each.

    Raises:
        ImportDataError: a required column with no source in the file, or times that do not parse.
    """
    contract = get_table(mapping.table)
    any_case = mapping.headers == "any_case"
    out = pd.DataFrame(index=frame.index)
    source_of: dict[str, str] = {}
    for column in contract.columns:
        if column.name in mapping.constants:
            value = mapping.constants[column.name]
            if isinstance(value, str) and "{row}" in value:
                out[column.name] = [value.replace("{row}", str(i + 1)) for i in range(len(frame))]
            else:
                out[column.name] = _text(value)
            continue
        wanted = mapping.sources(column.name)
        present = [c for c in (_column(frame, [w], any_case) for w in wanted) if c is not None]
        found = present[0] if present else None
        if found is None:
            if wanted and not column.nullable:
                raise ImportDataError(
                    f"{label}: no column {' or '.join(repr(w) for w in wanted)} for {mapping.table}.{column.name}; "
                    f"columns found: {', '.join(map(str, frame.columns[:40]))}"
                )
            if not column.nullable and not wanted:
                raise ImportDataError(f"{label}: the mapping gives no source or constant for {mapping.table}.{column.name} (required)")
            out[column.name] = ""
            continue
        source_of[column.name] = found
        # Alternatives fill each other's gaps: the first value that is not empty wins.
        values = frame[found]
        for other in present[1:]:
            values = values.where(values.map(_text).ne(""), frame[other])
        if column.name in mapping.values:
            table = {str(k).strip().lower(): v for k, v in mapping.values[column.name].items()}
            values = values.map(lambda v: _text(table.get(_text(v).lower(), v)))
        if column.type == "timestamp":
            out[column.name] = parse_times(values, mapping.dates, f"{label}: column {found!r}")
        else:
            out[column.name] = values.map(_text)
    return out.reset_index(drop=True), source_of


def order_faults(frame: pd.DataFrame, table: str, source_of: dict[str, str], ids: pd.Series) -> list[str]:
    """Times that run backwards, said in the export's own column names.

    The contract empties such a value (a first response before opening) rather than keeping a
    negative duration; this names the fault the way the export's owner will recognise it.
    """
    lines = []
    for column in get_table(table).columns:
        match = re.fullmatch(r'\{col\} >= "(\w+)"', column.check or "")
        if column.type != "timestamp" or not match:
            continue
        other = match.group(1)
        later, earlier = pd.to_datetime(frame[column.name], utc=True, errors="coerce"), pd.to_datetime(frame[other], utc=True, errors="coerce")
        bad = later < earlier
        if bad.any():
            where = list(bad.to_numpy().nonzero()[0])
            shown = ", ".join(f"row {i + 1} (id {ids.iloc[i]}): {frame[column.name].iloc[i]} before {frame[other].iloc[i]}" for i in where[:EXAMPLES])
            lines.append(
                f"{int(bad.sum()):,} row{'s' if bad.sum() > 1 else ''} with "
                f"{source_of.get(column.name, column.name)!r} before {source_of.get(other, other)!r}: "
                f"kept as exported, and reports treat {column.name} as unknown rather than show a negative duration ({shown}{', ...' if len(where) > EXAMPLES else ''})"
            )
    return lines


# -- the import ---------------------------------------------------------------------------------


def run_import(preset: str, files: list[Path], workspace: Path, mapping_file: Path | None = None, table: str | None = None) -> ImportResult:
    """Import ``files`` with ``preset`` into ``workspace`` (created if absent); see the module docstring.

    Raises:
        ImportDataError: an unreadable file, a column the mapping needs and the file lacks, times
            that do not parse, or a table that cannot be written.
    """
    from playbook.workspace import Workspace

    mapping = load_mapping(preset, mapping_file, table)
    spec = PRESETS[preset]
    contract = get_table(mapping.table)
    parts, faults, read = [], [], 0
    for path in map(Path, files):
        frame = spec.reader(path)
        read += len(frame)
        if spec.prepare is not None and len(frame):
            frame = spec.prepare(frame, mapping, path)
        mapped, source_of = map_frame(frame, mapping, path.name)
        key = contract.key[0] if contract.key else contract.column_names[0]
        faults += [f"{path.name}: {line}" for line in order_faults(mapped, mapping.table, source_of, mapped[key])]
        parts.append(mapped)
    staged = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=contract.column_names)
    workspace = Path(workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="playbook-import-"))
    try:
        # The source order travels as an extra column, so rows are written in the order read.
        staged.assign(import_row=range(len(staged))).to_csv(scratch / f"{mapping.table}.csv", index=False)
        # Tables the new rows refer to are judged against the workspace's own.
        for ref in contract.references:
            for suffix in (".csv", ".parquet"):
                if (workspace / f"{ref.table}{suffix}").is_file():
                    os.symlink(workspace / f"{ref.table}{suffix}", scratch / f"{ref.table}{suffix}")
        with Workspace(scratch) as ws:
            try:
                report = ws.load(mapping.table)
            except SchemaError as err:
                # Rows are numbered as in the files read, one after the other.
                raise ImportDataError(f"{', '.join(Path(f).name for f in files)} as {err}") from None
            rows = ws.read(mapping.table, columns=["import_row"])["import_row"].astype(int).sort_values()
        set_aside = [line.split(": ", 1)[1] for line in report.describe() if "emptied" not in line]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    # Rows are written as exported (times in UTC): a value the contract empties at load, such as a
    # resolution before the first response, stays in the file so every report's data-quality
    # section can say so.
    kept = staged.iloc[rows.to_numpy()].reset_index(drop=True)
    written, already, target = _append(workspace, mapping.table, kept)
    same = "same id" if contract.key else "identical rows"
    return ImportResult(mapping.table, target, [Path(f).name for f in files], read, written, already, set_aside, faults, same)


def _canonical_text(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """A typed table (read from Parquet) as the text the CSV tables hold."""
    out = pd.DataFrame(index=frame.index)
    for column in get_table(table).columns:
        values = frame[column.name]
        if column.type == "timestamp":
            out[column.name] = _iso(pd.to_datetime(values, utc=True))
        elif column.type == "int":
            out[column.name] = values.map(lambda v: "" if pd.isna(v) else str(int(v)))
        else:
            out[column.name] = values.map(_text)
    return out


_SQL_TYPES = {"string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "timestamp": "TIMESTAMP"}


def _read_parquet(path: Path) -> pd.DataFrame:
    import duckdb

    with duckdb.connect() as con:
        return con.execute("SELECT * FROM read_parquet(?)", [str(path)]).df()


def _write_parquet(frame: pd.DataFrame, table: str, target: Path) -> None:
    """The text table typed by the contract, written as Parquet next to ``target`` then moved over it."""
    import duckdb

    columns = ", ".join(
        f"CAST(CAST(NULLIF(\"{c.name}\", '') AS TIMESTAMPTZ) AS TIMESTAMP) AS \"{c.name}\"" if c.type == "timestamp"
        else f"CAST(NULLIF(\"{c.name}\", '') AS {_SQL_TYPES[c.type]}) AS \"{c.name}\""
        for c in get_table(table).columns
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            con.register("incoming", frame.fillna("").astype(str))
            con.execute(f"COPY (SELECT {columns} FROM incoming) TO '{tmp}' (FORMAT parquet)")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _append(workspace: Path, table: str, kept: pd.DataFrame) -> tuple[int, int, Path]:
    """Add the rows to the workspace's table, skipping ids (or, without ids, whole rows) it holds."""
    from playbook.render import write_atomic

    contract = get_table(table)
    new = kept[list(contract.column_names)]
    parquet, csv_path = workspace / f"{table}.parquet", workspace / f"{table}.csv"
    target = parquet if parquet.is_file() or (table == "events" and not csv_path.is_file()) else csv_path
    old = None
    if target.is_file():
        old = _read_parquet(target) if target.suffix == ".parquet" else pd.read_csv(target, dtype=str, keep_default_na=False)
        old = _canonical_text(old, table) if target.suffix == ".parquet" else old
    key = list(contract.key) or list(contract.column_names)
    already = 0
    if old is not None and len(old):
        seen = pd.MultiIndex.from_frame(old[key].astype(str)) if len(key) > 1 else pd.Index(old[key[0]].astype(str))
        mine = pd.MultiIndex.from_frame(new[key]) if len(key) > 1 else pd.Index(new[key[0]])
        repeat = mine.isin(seen)
        already = int(repeat.sum())
        new = new[~repeat]
        combined = pd.concat([old, new], ignore_index=True)
    else:
        combined = new
    if target.suffix == ".parquet":
        _write_parquet(combined, table, target)
    else:
        write_atomic(target, combined.to_csv(index=False))
    return len(new), already, target


__all__ = ["Mapping", "ImportResult", "ImportDataError", "PRESETS", "load_mapping", "run_import", "map_frame", "read_any"]
