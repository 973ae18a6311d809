"""Importers: exports from the tools product-ops teams use, turned into canonical workspace tables.

An import reads one or more files, maps their columns onto one canonical table, checks the rows
against the data contract exactly as a run does (:class:`playbook.workspace.Workspace`), and
writes the usable rows into the workspace: appending to the table already there without
repeating an id, and without rewriting anything already there (:mod:`playbook.appends`). It
reports what it read, wrote, skipped and set aside, and why.

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
      team: support               # the source row number and "{file}" the export's file name
                                  # without extension (ids for files without any)

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
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from playbook.appends import one_writer, table_file, write_changes
from playbook.reimport import key_of, ledger_path, plan, read_ledger, write_ledger
from playbook.config import describe_yaml_error, load_yaml
from playbook.errors import ImportDataError, SchemaError
from playbook.schemas import TABLES, get_table
from playbook.workspace import Workspace, decode_legacy

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
EXAMPLES = 5


class Dates(BaseModel):
    """How an export writes its times: strftime codes, ``unix`` seconds, or ISO-8601 (no format)."""

    model_config = ConfigDict(extra="forbid")

    format: str | None = None
    timezone: str | None = None  # None: UTC, assumed (the import says so where a tool writes local times)

    @field_validator("format")
    @classmethod
    def _strftime_codes(cls, value: str | None) -> str | None:
        if value is None or value == "unix":
            return value
        if "%" not in value:
            raise ValueError(
                f"{value!r} has no strftime codes; a date like 31/01/2026 14:05 is '%d/%m/%Y %H:%M' "
                "(leave the format out for ISO-8601 dates)"
            )
        try:
            datetime.strptime("", value)
        except ValueError as err:
            if "directive" in str(err) or "stray %" in str(err):
                raise ValueError(f"{value!r}: {err} (codes such as %Y %m %d %H %M %S %b %p; see Python's strftime codes)") from None
        return value


class Mapping(BaseModel):
    """How one export's columns become one canonical table (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    table: str
    headers: Literal["exact", "any_case"] = "exact"
    columns: dict[str, str | list[str]] = Field(default_factory=dict)
    values: dict[str, dict[str, Any]] = Field(default_factory=dict)
    defaults: dict[str, Any] = Field(default_factory=dict)
    where: dict[str, list[Any] | None] = Field(default_factory=dict)
    deleted: dict[str, list[Any] | None] = Field(default_factory=dict)
    updated: list[str] = Field(default_factory=list)
    dates: Dates = Dates()
    constants: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("where", "deleted")
    @classmethod
    def _values_listed(cls, value: dict[str, list[Any] | None]) -> dict[str, list[Any] | None]:
        empty = [name for name, values in value.items() if values is not None and not values]
        if empty:
            raise ValueError(f"{', '.join(repr(n) for n in empty)} lists no values (list the values, or write null to drop the rule)")
        return value

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
    rows_written: int  # added
    rows_already_there: int  # unchanged
    set_aside: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    same: str = "same id"
    repeated: int = 0
    notes: list[str] = field(default_factory=list)
    rows_updated: int = 0
    rows_older: int = 0
    columns_updated: dict[str, int] = field(default_factory=dict)
    deleted: int = 0
    removed: int = 0
    superseded: int = 0
    usable: int = -1

    @property
    def nothing_usable(self) -> bool:
        """No row of the export could be used: every one set aside or filtered out."""
        return self.usable == 0 and not self.deleted

    def describe(self) -> list[str]:
        counts = [f"{self.rows_written:,} added"]
        if self.same == "same id":
            changed = ", ".join(f"{name} {count:,}" for name, count in sorted(self.columns_updated.items()))
            counts.append(f"{self.rows_updated:,} updated" + (f" ({changed})" if changed else ""))
        counts.append(f"{self.rows_already_there:,} {'unchanged' if self.same == 'same id' else 'already there'} ({self.same})")
        lines = [f"Read {_rows(self.rows_read)} from {', '.join(self.files)} into {self.path}: {', '.join(counts)}"]
        if self.rows_older:
            lines.append(f"{_rows(self.rows_older)} older than the table's (changed at the source before the latest time the "
                         "table's row holds): kept as they are there")
        if self.superseded:
            lines.append(f"{_rows(self.superseded)} superseded by a later change of the same id in this import: the latest kept")
        if self.deleted:
            lines.append(f"{self.deleted:,} deleted at the source: skipped" + (
                f"; {self.removed:,} of them imported before, removed from {self.path.name}" if self.removed else ""))
        if self.repeated:
            lines.append(f"{_rows(self.repeated)} given more than once in this import (identical in every column), written once")
        lines += self.notes
        lines += [f"data fault: {line}" for line in self.faults]
        lines += self.set_aside
        if self.nothing_usable:
            lines.append(f"nothing was written: no row of {', '.join(self.files)} could be used (the reasons are above)")
        return lines


def _rows(count: int) -> str:
    return f"{count:,} row{'' if count == 1 else 's'}"


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


def read_csv_file(path: Path, raw: bytes | None = None) -> pd.DataFrame:
    """Every value as text; a byte-order mark, semicolons and quoted line breaks handled.

    A file that is not UTF-8 is read as Windows-1252 (Latin-1 where that fails) and the frame's
    ``attrs["notes"]`` says so.

    Raises:
        ImportDataError: an empty file, a quote never closed, or rows with more fields than the header.
    """
    text, note = _decoded(path, _gunzipped(path.name, path.read_bytes()) if raw is None else raw)
    if not text.strip():
        raise ImportDataError(f"{path.name}: the file is empty")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as err:
        raise ImportDataError(
            f"{path.name}: line {reader.line_num:,}: {err}; a double quote opened there is never closed "
            "(a value holding a quote must double it: \"\")"
        ) from None
    # A row with more fields than the header lost its quotes around a delimiter: refuse it
    # rather than cut the value where the delimiter falls.
    ragged = [f"row {i}: {len(row)} fields" for i, row in enumerate(rows, start=1) if len(row) > len(header)]
    if ragged:
        raise ImportDataError(
            f"{path.name}: {len(ragged):,} row{'s' if len(ragged) > 1 else ''} with more fields than the header's "
            f"{len(header)} ({', '.join(ragged[:EXAMPLES])}); a value holding {delimiter!r} must be in double quotes"
        )
    frame = _merge_repeated(header, rows)
    frame.attrs["notes"] = [note] if note else []
    return frame


def _decoded(path: Path, raw: bytes) -> tuple[str, str]:
    """A file's text, and a note when it had to be read as a legacy encoding instead of UTF-8."""
    try:
        return raw.decode("utf-8-sig"), ""
    except UnicodeDecodeError as err:
        text, encoding = decode_legacy(raw)
        return text, (f"{path.name} is not UTF-8 (byte 0x{raw[err.start]:02X} at offset {err.start:,}); read as {encoding}. "
                      "Check accented text, and export as UTF-8 to be sure")


def _json_records(path: Path, text: str) -> list[dict[str, Any]]:
    stripped = text.lstrip()
    if not stripped:
        raise ImportDataError(f"{path.name}: the file is empty")
    if stripped[0] in "[{" and not _looks_like_lines(stripped):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ImportDataError(f"{path.name}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
        records = data if isinstance(data, list) else [data]
    else:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ImportDataError(f"{path.name}: line {number} is not valid JSON ({err.msg}, column {err.colno})") from None
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise ImportDataError(
                f"{path.name}: expected JSON objects, one per record ({{\"id\": ..., ...}}); record {number:,} is "
                f"{_json_kind(record)} ({json.dumps(record)[:60]})"
            )
    return records


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return f"{json.dumps(value)}"
    return "a number"


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


def read_json_file(path: Path, notes: list[str] | None = None) -> list[dict[str, Any]]:
    """Records from a JSON document (an object or a list) or JSON lines; ``.gz`` is unpacked.

    Args:
        notes: where to say that the text was not UTF-8 and was read as Windows-1252.
    """
    raw = _gunzipped(path.name, path.read_bytes())
    text, note = _decoded(path, raw)
    if note and notes is not None:
        notes.append(note)
    return _json_records(path, text)


def _gunzipped(name: str, raw: bytes) -> bytes:
    """The bytes, unpacked when they are gzip; a truncated or damaged gzip is said so."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise ImportDataError(
            f"{name}: the gzip data is truncated or damaged ({err or type(err).__name__}); download the export again"
        ) from None


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
    """A CSV, JSON or JSON-lines file (gzipped or not) as a frame of text columns, nested JSON
    flattened: a file named .json/.jsonl/.ndjson, or whose text starts with ``{`` or ``[``, is
    JSON; any other is CSV (whatever its name: .txt, .tsv, .csv.gz)."""
    if not path.is_file():
        raise ImportDataError(f"{path}: no such file")
    raw = _gunzipped(path.name, path.read_bytes())
    named = Path(path.name.removesuffix(".gz").removesuffix(".GZ")).suffix.lower()
    if named not in (".json", ".jsonl", ".ndjson") and raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] not in (b"{", b"["):
        return read_csv_file(path, raw)
    notes: list[str] = []
    records = read_json_file(path, notes)
    frame = pd.DataFrame([flatten(r) for r in records], dtype=object)
    frame.attrs["notes"] = notes
    return frame


# -- presets: the mapping, and code where a format needs it -------------------------------------


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
    frame["_first_reply"] = _iso(created + pd.to_timedelta(minutes(reply), unit="min"))
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
    frame["_resolved"] = _iso(at.where(done))
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
        shipped = load_yaml(file.read_text(encoding="utf-8"))
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
            extra = load_yaml(Path(mapping_file).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ImportDataError(f"{mapping_file}: no such mapping file") from None
        except (IsADirectoryError, UnicodeDecodeError) as err:
            raise ImportDataError(f"{mapping_file}: not a YAML text file ({err})") from None
        except yaml.YAMLError as err:
            raise ImportDataError(f"{mapping_file}{describe_yaml_error(err)}") from None
        if not isinstance(extra, dict):
            raise ImportDataError(f"{mapping_file}: expected a mapping of keys (table, columns, values, dates, constants)")
        body = _merge(body, extra)
    if table:
        body["table"] = table
    try:
        mapping = Mapping.model_validate(body)
    except ValidationError as err:
        where = mapping_file or file
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {_problem(e)}" for e in err.errors())
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


def _problem(error: Any) -> str:
    """A mapping's schema error in words, with the keys allowed where a key is unknown."""
    if error["type"] == "extra_forbidden":
        model = Dates if len(error["loc"]) > 1 and error["loc"][0] == "dates" else Mapping
        return f"not a key of {'dates' if model is Dates else 'a mapping'}; keys: {', '.join(model.model_fields)}"
    return str(error["msg"]).replace("Value error, ", "")


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
    """UTC times as ISO-8601 text ending in Z, with the fraction of a second when there is one."""
    return series.map(_iso_one)


def _iso_one(t: Any) -> str:
    if pd.isna(t):
        return ""
    t = pd.Timestamp(t)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = t.microsecond * 1000 + t.nanosecond
    return text + (f".{fraction:09d}".rstrip("0") if fraction else "") + "Z"


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).strip()


def _zone(name: str | None, where: str) -> ZoneInfo | timezone:
    if name is None or name.upper() == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImportDataError(f"{where}: unknown time zone '{name}' (expected an IANA name such as Europe/Paris)") from None


# ISO-8601 as exports write it: a date, optionally a time (with seconds and a fraction), optionally
# "Z" or an offset. Words such as "now" or "today" and day/month orders are not ISO-8601.
ISO_8601 = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?", re.I)


def _timestamp(text: Any) -> Any:
    if not isinstance(text, str) or not ISO_8601.fullmatch(text.strip()):
        return pd.NaT
    try:
        return pd.Timestamp(text.strip().replace(",", "."))
    except (ValueError, TypeError, OverflowError):
        return pd.NaT


def _unix(text: pd.Series) -> pd.Series:
    """Unix seconds as UTC times; values that are not finite numbers of seconds come back empty."""
    seconds = pd.to_numeric(text, errors="coerce")
    seconds = seconds.where(seconds.abs() < 1e11)  # past year 5000, or NaN/inf: not a time
    return pd.to_datetime(seconds, unit="s", utc=True, errors="coerce")


def parse_times(values: pd.Series, dates: Dates, label: str) -> pd.Series:
    """Source times as ISO-8601 UTC text; naive times are in ``dates.timezone``.

    Without ``dates.format`` only ISO-8601 is read (``2026-01-31``, ``2026-01-31T14:05:00Z``,
    ``2026-01-31 14:05:00.123+01:00``): "now", "Jan" or "5/6/2026" are refused rather than
    guessed, since a day/month order can only be known from the export's own format.

    Raises:
        ImportDataError: values that do not match the format, with the rows (numbered from 1).
    """
    text = values.map(_text)
    present = text.ne("")
    if dates.format == "unix":
        parsed = _unix(text.where(present))
    elif dates.format:
        try:
            parsed = pd.to_datetime(text.where(present), format=dates.format, errors="coerce")
        except ValueError as err:
            raise ImportDataError(f"{label}: the date format {dates.format!r} cannot be used: {err}") from None
    else:
        # Element by element: an export may mix offsets ("Z", "+01:00") and naive times.
        parsed = text.where(present).map(_timestamp)
    bad = present & parsed.isna()
    if bad.any():
        expected = f"the date format {dates.format!r}" if dates.format else "ISO-8601 dates such as 2026-01-31 or 2026-01-31T14:05:00Z"
        hint = "" if dates.format == "unix" else f"; {_format_hint(text[bad])}"
        raise ImportDataError(f"{label}: {_values(bad, text)} not match {expected} ({_shown(bad, text)}){hint}")
    zone = _zone(dates.timezone, label)

    def to_utc(t: Any) -> Any:
        if pd.isna(t):
            return pd.NaT
        t = pd.Timestamp(t)
        if t.tzinfo is not None:
            return t.tz_convert("UTC")
        try:
            # A time that happens twice (clocks going back) is taken as its first occurrence.
            return t.tz_localize(zone, ambiguous=True).tz_convert("UTC")
        except Exception:  # noqa: BLE001 - pytz/zoneinfo raise different classes for a skipped hour
            return pd.NaT

    utc = parsed.map(to_utc)
    missing = present & utc.isna()
    if missing.any():
        raise ImportDataError(
            f"{label}: {_values(missing, text)} not exist in {dates.timezone or 'UTC'} (the hour skipped when clocks go forward) "
            f"({_shown(missing, text)})"
        )
    return _iso(utc)


# Date forms exports commonly write, tried on values that do not parse to suggest a format.
COMMON_FORMATS = (
    "%d/%b/%y %I:%M %p", "%d/%b/%Y %I:%M %p", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S",
    "%d/%m/%y %H:%M", "%m/%d/%y %H:%M", "%d.%m.%Y %H:%M", "%d-%m-%Y %H:%M", "%Y/%m/%d %H:%M:%S", "%m/%d/%Y %I:%M %p",
    "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%b %d, %Y", "%d %b %Y",
)


def _format_hint(text: pd.Series) -> str:
    """Where the format is set, and the common formats every one of these values fits."""
    sample = text.head(2000)
    fits = [f for f in COMMON_FORMATS if pd.to_datetime(sample, format=f, errors="coerce").notna().all()]
    where = "set the format in a --mapping file (dates: {format: ...}, in Python's strftime codes)"
    if len(fits) == 1:
        return f"{where}; these values fit {fits[0]!r}"
    if fits:
        return f"{where}; these values fit {' or '.join(repr(f) for f in fits[:3])}: check which your export writes (day or month first)"
    return where


def _values(bad: pd.Series, text: pd.Series) -> str:
    many = int(bad.sum()) > 1
    return f"{int(bad.sum()):,} value{'s' if many else ''} do{'' if many else 'es'}"


def _shown(bad: pd.Series, text: pd.Series) -> str:
    return ", ".join(f"row {i + 1}: {text.iloc[i]!r}" for i in list(bad.to_numpy().nonzero()[0])[:EXAMPLES])


def map_frame(frame: pd.DataFrame, mapping: Mapping, label: str, file: str = "",
              notes: list[str] | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """The canonical columns of ``mapping.table`` as text, and which source column fed each (by
    the name the export gives it: a column a preset derives, such as Jira's first component, is
    named after the export's own columns, from ``frame.attrs["sources"]``).

    A derived column whose inputs the export lacks (``frame.attrs["absent"]``) gives its values
    but no source: a re-import never takes it as the export saying the value changed.

    Args:
        file: the export's file name without its extension, for ``{file}`` in constants (ids made
            from row numbers repeat from one week's export to the next; with the file's name they do not).
        notes: where to say which rows took a later alternative column, or a mapping's default.

    Raises:
        ImportDataError: a required column with no source in the file, or times that do not parse.
    """
    contract = get_table(mapping.table)
    any_case = mapping.headers == "any_case"
    names: dict[str, str] = frame.attrs.get("sources", {})
    absent: set[str] = set(frame.attrs.get("absent", ()))
    said = notes if notes is not None else []
    out = pd.DataFrame(index=frame.index)
    source_of: dict[str, str] = {}
    for column in contract.columns:
        if column.name in mapping.constants:
            value = mapping.constants[column.name]
            text = _text(value).replace("{file}", file)
            values = pd.Series([text.replace("{row}", str(i + 1)) for i in range(len(frame))], index=frame.index, dtype=object)
            if column.type == "timestamp":
                # A constant time is ISO-8601, in the mapping's time zone like the export's own times.
                values = parse_times(values, Dates(timezone=mapping.dates.timezone), f"{label}: constant {column.name}")
            out[column.name] = values
            continue
        wanted = mapping.sources(column.name)
        present = [c for c in (_column(frame, [w], any_case) for w in wanted) if c is not None]
        found = present[0] if present else None
        if found is None:
            if wanted and not column.nullable:
                shown = [repr(names.get(w, w)) for w in wanted]
                raise ImportDataError(
                    f"{label}: no column {' or '.join(shown)} for {mapping.table}.{column.name}; "
                    f"columns found: {', '.join(str(c) for c in frame.columns[:40] if not str(c).startswith('_'))}"
                )
            if not column.nullable and not wanted:
                raise ImportDataError(f"{label}: the mapping gives no source or constant for {mapping.table}.{column.name} (required)")
            out[column.name] = ""
            continue
        if found not in absent:
            source_of[column.name] = names.get(found, found)
        # Alternatives fill each other's gaps: the first value that is not empty wins.
        values = frame[found]
        for other in present[1:]:
            gaps = values.map(_text).eq("")
            taken = int((gaps & frame[other].map(_text).ne("")).sum())
            if taken:
                first = names.get(found, found)
                said.append(
                    f"{label}: {mapping.table}.{column.name}: {'every row' if taken == len(frame) else _rows(taken)} without "
                    f"{first!r} took {names.get(other, other)!r} instead (the columns are tried in the order of "
                    f"columns.{column.name} in the mapping)"
                )
            values = values.where(~gaps, frame[other])
        if column.name in mapping.values:
            table = {str(k).strip().lower(): v for k, v in mapping.values[column.name].items()}
            values = values.map(lambda v: _text(table.get(_text(v).lower(), v)))
        if column.name in mapping.defaults:
            empty = values.map(_text).eq("")
            if empty.any():
                default = _text(mapping.defaults[column.name])
                said.append(f"{label}: {_rows(int(empty.sum()))} without a {names.get(found, found)!r} given "
                            f"{column.name} {default} (defaults.{column.name} in the mapping)")
                values = values.where(~empty, default)
        if column.type == "timestamp":
            out[column.name] = parse_times(values, mapping.dates, f"{label}: column {names.get(found, found)!r}")
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

    Rows are added; a row whose key the table holds is updated where the export's values differ
    (:mod:`playbook.reimport`), a key the export marks deleted is removed, and nothing else in
    the file changes: other rows stay byte for byte in a CSV file and value for value (every
    column, its type and precision) in a Parquet file. One import at a time writes into a workspace.

    Raises:
        ImportDataError: an unreadable file, a column the mapping needs and the file lacks, times
            that do not parse, or a workspace table that cannot be written as it is.
    """
    mapping = load_mapping(preset, mapping_file, table)
    spec = PRESETS[preset]
    contract = get_table(mapping.table)
    key = list(contract.key)
    workspace = _workspace_folder(workspace)
    parts, faults, notes, read, given, names, gone = [], [], [], 0, set(), {}, []
    filtered: dict[str, int] = {}
    seq = 0  # the order rows were read in, across files: a later row wins a tie
    for path in map(Path, files):
        if path.exists() and not path.is_file():
            raise ImportDataError(f"{path}: {_kind(path)}, not an export file")
        frame = spec.reader(path)
        notes += frame.attrs.get("notes", [])
        read += len(frame)
        if not len(frame):
            continue  # an export of a quiet week: nothing to map
        if spec.prepare is not None:
            frame = spec.prepare(frame, mapping, path)
            notes += frame.attrs.get("said", [])
        if mapping.options.get("local_times") and mapping.dates.timezone is None:
            notes.append(_zone_note(frame, mapping, path))
        if mapping.updated and _column(frame, mapping.updated, mapping.headers == "any_case") is None:
            notes.append(f"{path.name}: no column {' or '.join(repr(c) for c in mapping.updated)} (the mapping's updated:), so "
                         "this export is taken as later than every row the table holds")
        frame = frame.reset_index(drop=True)
        order = seq + frame.index.to_numpy()
        seq += len(frame)
        deleted = _marked_deleted(frame, mapping, path, notes)
        if deleted.any():
            # A deleted record is known by its key alone (its other fields may be scrubbed, a
            # filter's column empty): judged before any filter.
            scrubbed = frame[deleted]
            keys = _source_keys(scrubbed, mapping, key)
            stamps = _updated_times(scrubbed, mapping, path)
            gone += [(k, stamp, int(at), path.name, int(line) + 1)
                     for k, stamp, at, line in zip(keys, stamps, order[deleted], scrubbed.index) if k is not None]
            frame, order = frame[~deleted], order[~deleted]
        keep = _kept_where(frame, mapping, path, filtered)
        frame, order = frame[keep], order[keep]
        if not len(frame):
            continue
        updated = _updated_times(frame, mapping, path)
        mapped, source_of = map_frame(frame, mapping, path.name, path.stem, notes)
        given |= set(source_of)
        first = key[0] if key else contract.column_names[0]
        faults += [f"{path.name}: {line}" for line in order_faults(mapped, mapping.table, source_of, mapped[first])]
        for column, name in source_of.items():
            names.setdefault(column, name)
        rough = frame["_estimated"].map(_text).tolist() if "_estimated" in frame.columns else ""
        parts.append((path, mapped.assign(_updated=updated, _estimated=rough, _file=path.name, _line=list(frame.index + 1),
                                          _seq=list(order), _deleted=False)))
    if not read:
        raise ImportDataError(f"{', '.join(Path(f).name for f in files)}: no records to import; nothing was written")
    if filtered:
        kept_rows = sum(len(part) for _, part in parts)
        notes.append(_filter_note(mapping, filtered, kept_rows))
    staged, repeated = _once([part for _, part in parts], list(contract.column_names))
    if gone and key:
        marks = pd.DataFrame([{**dict.fromkeys(contract.column_names, ""), **dict(zip(key, k)), "_updated": stamp, "_estimated": "",
                               "_file": file, "_line": line, "_seq": at, "_deleted": True} for k, stamp, at, file, line in gone])
        staged = pd.concat([staged.drop(columns="import_row"), marks], ignore_index=True)
    # A record given several times (an incremental export repeats a ticket each time it changes,
    # or a deletion and a restore): its latest change wins.
    staged, superseded = _newest(staged, key, bool(mapping.updated) or bool(gone))
    dead = staged["_deleted"].astype(bool).to_numpy()
    stamps = pd.to_datetime(staged["_updated"], utc=True, errors="coerce").dt.tz_localize(None)
    deleted_keys = list(zip(key_of(staged[dead], key), stamps[dead])) if key else []
    stamps, rough = stamps[~dead].reset_index(drop=True), staged["_estimated"][~dead].reset_index(drop=True)
    staged = staged[~dead].reset_index(drop=True)
    origin = staged[["_file", "_line"]]
    staged = staged[list(contract.column_names)].assign(import_row=range(len(staged)))
    try:
        kept, typed, set_aside = _checked(staged, mapping.table, workspace, files)
    except ImportDataError:
        # Name the file, with its own row numbers, rather than rows counted across all of them.
        for path, part in parts if len(parts) > 1 else []:
            live = part[list(contract.column_names)].reset_index(drop=True)
            _checked(live.assign(import_row=range(len(live))), mapping.table, workspace, [path])
        raise
    rows_kept = typed["import_row"].astype(int).to_numpy()
    updated_at, rough = stamps.iloc[rows_kept].reset_index(drop=True), rough.iloc[rows_kept].reset_index(drop=True)
    typed = typed.drop(columns=["import_row"])
    set_aside = [_in_export_terms(line, names, origin, len(parts) > 1) for line in set_aside]
    with one_writer(workspace):
        target = table_file(workspace, mapping.table)
        rows_before = 0
        ledger = ledger_path(workspace, mapping.table)
        args = (mapping.table, kept[list(contract.column_names)], typed, given, updated_at if mapping.updated else None,
                deleted_keys, read_ledger(ledger, key), rough)
        changes = plan(None, *args)
        if target.exists() or target.is_symlink():
            # The table already there must be one the contract can read, or nothing is added to it.
            with Workspace(workspace) as ws:
                try:
                    rows_before = ws.load(mapping.table).rows_read
                except SchemaError as err:
                    raise ImportDataError(f"the workspace's {err}; nothing was written (fix it, or import into another workspace)") from None
                changes = plan(ws, *args)
            target = target.resolve()  # a table that is a link: the file it links to is the table
            # A file without write permission (even for root, who could write it) was made read-only on purpose.
            if changes.writes and (not os.access(target, os.W_OK) or not target.stat().st_mode & 0o222):
                raise ImportDataError(f"the workspace's {target.name} is read-only; nothing was written")
        if workspace.is_dir() and changes.writes and not workspace.stat().st_mode & 0o222:
            raise ImportDataError(f"the workspace folder {workspace} is read-only; nothing was written")
        if changes.writes or (len(kept) and not target.exists()):
            workspace.mkdir(parents=True, exist_ok=True)
            write_changes(target, mapping.table, changes, rows_before)
        if key and changes.ledger and (target.exists() or ledger.exists()):
            write_ledger(ledger, key, changes.ledger)
    same = "same id" if contract.key else "identical rows"
    return ImportResult(
        mapping.table, target, [Path(f).name for f in files], read, len(changes.add), changes.unchanged, set_aside, faults, same,
        repeated, notes, rows_updated=len(changes.update), rows_older=changes.older, columns_updated=changes.columns_updated,
        deleted=len({k for k, *_ in gone}), removed=len(changes.remove), superseded=superseded, usable=len(kept),
    )


OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*([+-]\d{2}):?(\d{2})")


def _zone_note(frame: pd.DataFrame, mapping: Mapping, path: Path) -> str:
    """Which zone the times were read in and how to set it, with the offset any ISO-8601 field of
    the same export carries (Jira writes some custom fields, such as a date of first response,
    with their offset: the exporter's zone at that date)."""
    seen: dict[str, str] = {}
    for column in frame.columns:
        if str(column).startswith("_"):
            continue
        for value in frame[column].map(_text).head(200):
            match = OFFSET.fullmatch(value)
            if match:
                seen.setdefault(f"{match.group(1)}:{match.group(2)}", str(column))
                break
    hint = ""
    if seen:
        offset, column = next(iter(seen.items()))
        if offset not in ("+00:00", "-00:00"):
            hint = f" This export's {column!r} is written with the offset {offset}: the exporter's zone is probably not UTC."
    return (f"{path.name}: times read as UTC. {mapping.options['local_times']}; if that is not UTC, set the zone in a "
            f"--mapping file (dates: {{timezone: Europe/Berlin}}, an IANA name).{hint}")


def _kept_where(frame: pd.DataFrame, mapping: Mapping, path: Path, filtered: dict[str, int]) -> Any:
    """Which rows hold, in each column named in ``mapping.where``, one of the listed values (any
    case); ``filtered`` counts the others by their value."""
    any_case = mapping.headers == "any_case"
    keep = pd.Series(True, index=frame.index)
    for name, allowed in mapping.where.items():
        if allowed is None:
            continue
        column = _column(frame, [name], any_case)
        if column is None:
            raise ImportDataError(
                f"{path.name}: no column {name!r}, which the mapping's where: filters on (keeping rows whose {name} is "
                f"{' or '.join(map(str, allowed))}); columns found: {', '.join(str(c) for c in frame.columns[:40] if not str(c).startswith('_'))}. "
                f"In a --mapping file, where: {{{name}: null}} keeps every row"
            )
        values = frame[column].map(_text)
        fits = values.str.lower().isin({_text(a).lower() for a in allowed})
        for value, count in values[keep & ~fits].value_counts().items():
            label = f"{name} {value or '(empty)'}"
            filtered[label] = filtered.get(label, 0) + int(count)
        keep &= fits
    return keep.to_numpy()


def _filter_note(mapping: Mapping, filtered: dict[str, int], kept: int) -> str:
    rules = "; ".join(f"{name} is {' or '.join(map(str, allowed))}" for name, allowed in mapping.where.items() if allowed is not None)
    skipped = sorted(filtered.items(), key=lambda item: -item[1])
    shown = ", ".join(f"{label}: {count:,}" for label, count in skipped[:EXAMPLES]) + (", ..." if len(skipped) > EXAMPLES else "")
    return (f"kept {_rows(kept)} where {rules} (where: in the mapping); skipped {_rows(sum(filtered.values()))} ({shown}). "
            "A --mapping file can change the filter, or remove it with null")


def _marked_deleted(frame: pd.DataFrame, mapping: Mapping, path: Path, notes: list[str]) -> Any:
    """Which rows the export marks as deleted at the source (``mapping.deleted``)."""
    gone = pd.Series(False, index=frame.index)
    for name, values in mapping.deleted.items():
        if not values:
            continue
        column = _column(frame, [name], mapping.headers == "any_case")
        if column is None:
            notes.append(f"{path.name}: no column {name!r}, which the mapping's deleted: reads; no record of it is taken as deleted")
            continue
        gone |= frame[column].map(_text).str.lower().isin({_text(v).lower() for v in values})
    return gone.to_numpy()


def _source_keys(frame: pd.DataFrame, mapping: Mapping, key: list[str]) -> list[tuple[str, ...] | None]:
    """Each row's key as the mapping reads it from the export (the first non-empty source), or
    None where it has none."""
    if not key:
        return [None] * len(frame)
    columns = []
    for name in key:
        present = [c for c in (_column(frame, [w], mapping.headers == "any_case") for w in mapping.sources(name)) if c is not None]
        values = pd.Series("", index=frame.index, dtype=object)
        for column in reversed(present):
            text = frame[column].map(_text)
            values = text.where(text.ne(""), values)
        columns.append(values.tolist())
    return [k if all(k) else None for k in zip(*columns)]


def _updated_times(frame: pd.DataFrame, mapping: Mapping, path: Path) -> list[str]:
    """Each row's time of its last change at the source (ISO-8601 UTC), or empty."""
    column = _column(frame, mapping.updated, mapping.headers == "any_case") if mapping.updated else None
    if column is None:
        return [""] * len(frame)
    return parse_times(frame[column], mapping.dates, f"{path.name}: column {column!r}").tolist()


def _newest(staged: pd.DataFrame, key: list[str], by_time: bool) -> tuple[pd.DataFrame, int]:
    """One row per key: the most recently changed (by the export's updated time; the last read
    on a tie or without one)."""
    if not key or not by_time or staged.empty:
        return staged, 0
    order = pd.to_datetime(staged["_updated"], utc=True, errors="coerce")
    ranked = staged.assign(_when=order).sort_values(["_when", "_seq"], na_position="first", kind="stable")
    newest = ranked.drop_duplicates(key, keep="last").sort_values("_seq", kind="stable")
    return newest.drop(columns=["_when"]).reset_index(drop=True), len(staged) - len(newest)


def _in_export_terms(line: str, names: dict[str, str], origin: pd.DataFrame, several: bool) -> str:
    """A set-aside line as the workspace says it, in the export's terms: its own column named
    beside the contract's where they differ, and rows numbered as in the export's file (the
    checked rows leave out filtered, deleted and repeated ones)."""
    def column(match: re.Match[str]) -> str:
        name = match.group(1)
        theirs = names.get(name)
        return f"column '{name}'" + (f" (the export's {theirs!r})" if theirs and theirs != name else "")

    def row(match: re.Match[str]) -> str:
        at = int(match.group(1)) - 1
        if not 0 <= at < len(origin):
            return match.group(0)
        file, number = origin.iloc[at]
        return f"{file} row {int(number)}" if several else f"row {int(number)}"

    def columns(match: re.Match[str]) -> str:
        parts = match.group(1).split(" + ")
        theirs = " + ".join(names.get(p, p) for p in parts)
        return f"columns '{match.group(1)}'" + (f" (the export's {theirs!r})" if theirs != match.group(1) else "")

    line = re.sub(r"column '(\w+)'", column, line, count=1)
    line = re.sub(r"columns '(\w+(?: \+ \w+)+)'", columns, line, count=1)
    return re.sub(r"\brow (\d+)\b", row, line)


def _workspace_folder(workspace: Path | str) -> Path:
    """The workspace folder to write into, refused when it is empty, a file, or below a file."""
    if not str(workspace).strip():
        raise ImportDataError("--workspace is empty; give the workspace folder to import into")
    workspace = Path(workspace)
    for folder in (workspace, *workspace.parents):
        if folder.exists():
            if not folder.is_dir():
                where = f"--workspace {workspace}" + ("" if folder == workspace else f": {folder}")
                raise ImportDataError(f"{where} is {_kind(folder)}; imports write into a workspace folder")
            break
    return workspace


def _once(parts: list[pd.DataFrame], columns: list[str]) -> tuple[pd.DataFrame, int]:
    """The files' rows with a file given twice (or overlapping exports) counted once, and how many were dropped.

    Rows repeat across files, never within one: two identical events in one export are two clicks.
    A row that one file holds twice and another once is kept twice (the larger count wins).
    """
    if not parts:
        return pd.DataFrame(columns=[*columns, "_updated", "_estimated", "_file", "_line", "_seq", "_deleted", "import_row"]), 0
    numbered = [part.assign(_copy=part.groupby(columns, sort=False, dropna=False).cumcount()) for part in parts]
    staged = pd.concat(numbered, ignore_index=True)
    repeated = staged.duplicated([*columns, "_copy"])
    staged = staged[~repeated].drop(columns="_copy").reset_index(drop=True)
    return staged.assign(import_row=range(len(staged))), int(repeated.sum())


def _kind(path: Path) -> str:
    return "a folder" if path.is_dir() else ("a file" if path.is_file() else "not a regular file")


def _checked(staged: pd.DataFrame, table: str, workspace: Path, files: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The staged rows the contract accepts (as text, in source order), the same rows typed, and
    a line per reason for the rows set aside.

    Rows are checked exactly as a run checks them, in a scratch workspace; the tables they refer
    to are judged against the workspace's own.
    """
    contract = get_table(table)
    scratch = Path(tempfile.mkdtemp(prefix="playbook-import-"))
    try:
        # The source order travels as an extra column, so rows are written in the order read.
        staged.to_csv(scratch / f"{table}.csv", index=False)
        for ref in contract.references:
            for suffix in (".csv", ".parquet"):
                if (workspace / f"{ref.table}{suffix}").is_file():
                    os.symlink((workspace / f"{ref.table}{suffix}").resolve(), scratch / f"{ref.table}{suffix}")
        with Workspace(scratch) as ws:
            try:
                report = ws.load(table)
            except SchemaError as err:
                # Rows are numbered as in the files read, one after the other.
                raise ImportDataError(f"{', '.join(Path(f).name for f in files)} as {err}") from None
            typed = ws.read(table).sort_values("import_row", ignore_index=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    set_aside = [line.split(": ", 1)[1] for line in report.describe() if "emptied" not in line]
    # Rows are written as exported (times in UTC): a value the contract empties at load, such as a
    # resolution before the first response, stays in the file so every report's data-quality
    # section can say so.
    kept = staged.iloc[typed["import_row"].astype(int).to_numpy()].reset_index(drop=True)
    return kept, typed, set_aside


__all__ = ["Mapping", "ImportResult", "ImportDataError", "PRESETS", "load_mapping", "run_import", "map_frame", "read_any"]
