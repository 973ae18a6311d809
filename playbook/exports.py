"""Reading the files tools export: CSV (any delimiter, legacy encodings, repeated headers), JSON
documents and JSON lines, gzipped or not, as frames of text columns; the mapping that says how an
export's columns become a canonical table (:class:`Mapping`, see :mod:`playbook.importers`); and
the small text helpers every importer shares (a value as text, UTC times as ISO-8601, a column
found in any case).

Every fault is an :class:`~playbook.errors.ImportDataError` naming the file, and the line or
record, and what was expected.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from playbook.errors import ImportDataError
from playbook.tablefiles import decode_legacy

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
    """How one export's columns become one canonical table (the keys are described in :mod:`playbook.importers`)."""

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


def _rows(count: int) -> str:
    return f"{count:,} row{'' if count == 1 else 's'}"


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


def iso_text(series: pd.Series, missing: Any = "") -> pd.Series:
    """UTC times as ISO-8601 text ending in Z, with the fraction of a second when there is one
    (``missing`` for a missing time): how every CSV the playbook writes spells a time."""
    times = pd.to_datetime(series)
    whole = times.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    fractional = times.notna() & ((times.dt.microsecond != 0) | (times.dt.nanosecond != 0))
    if fractional.any():
        whole = whole.where(~fractional, times[fractional].map(_iso_one))
    return whole.where(times.notna(), missing)


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


__all__ = ["EXAMPLES", "Dates", "Mapping", "flatten", "iso_text", "read_any", "read_csv_file", "read_json_file"]
