"""Importers: exports from the tools product-ops teams use, turned into canonical workspace tables.

An import reads one or more files (:mod:`playbook.exports`, with a preset's own code from
:mod:`playbook.tool_exports`), maps their columns onto one canonical table, checks the rows
against the data contract exactly as a run does (:class:`playbook.workspace.Workspace`), and
writes what changed into the workspace (:mod:`playbook.reimport` decides: new ids added, ids
already there updated where the export's values differ and it is not older, ids deleted at the
source removed; :mod:`playbook.appends` writes, rewriting nothing else). It reports what it
read, added, updated, skipped and set aside, and why, in the export's own column names.

The mapping is YAML (see ``params/mappings/`` for worked examples)::

    table: escalations            # the canonical table written
    headers: any_case             # match source headers ignoring case (default: exact)
    columns:                      # canonical column: source column, or a list (the first
                                  # that is present and not empty wins, row by row)
      escalation_id: Ticket ID
      priority: Ticket Priority
    values:                       # canonical column: {source value: canonical value}, any case
      priority: {Critical: P1, High: P2, Medium: P3, Low: P4}
    defaults:                     # canonical column: the value where the source's is empty
      priority: P3
    where:                        # source column: the values a row must hold to be kept
      Ticket Type: [Incident, Problem]
    deleted:                      # source column: values marking a record deleted at the source
      status: [deleted]
    updated: [Updated]            # the source column saying when each record last changed
    dates:
      format: "%d-%m-%Y %H:%M"    # strftime codes, or "unix" (seconds); default ISO-8601
      timezone: UTC               # the zone of times written without one (default UTC)
    constants:                    # canonical column: the same value on every row; "{row}" is
      team: support               # the source row number and "{file}" the export's file name
                                  # without extension (ids for files without any)

A *preset* is such a mapping shipped in ``playbook/presets/`` for a tool's export, plus a
``prepare`` function in :mod:`playbook.tool_exports` where the format needs code (nested JSON,
repeated headers, zipped files). ``--mapping`` merges a user's mapping over the preset's.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import yaml
from pydantic import ValidationError

from playbook.appends import one_writer, table_file, write_changes
from playbook.exports import EXAMPLES, Dates, Mapping, _column, _rows, _text, iso_text, read_any
from playbook.reimport import key_of, ledger_path, plan, read_ledger, write_ledger
from playbook.config import deep_merge, describe_yaml_error, load_yaml
from playbook.errors import ImportDataError, SchemaError
from playbook.schemas import TABLES, get_table
from playbook.tool_exports import PRESETS
from playbook.workspace import Workspace

PRESETS_DIR = Path(__file__).resolve().parent / "presets"


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
        if self.nothing_usable and not self.rows_read:
            lines.append(f"nothing was written: {', '.join(self.files)} hold{'s' if len(self.files) == 1 else ''} no records")
        elif self.nothing_usable:
            lines.append(f"nothing was written: no row of {', '.join(self.files)} could be used (the reasons are above)")
        return lines


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
        body = deep_merge(body, extra)
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


# -- mapping a frame onto the contract ----------------------------------------------------------


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
    return iso_text(utc)


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


def _present(frame: pd.DataFrame, mapping: Mapping, column: str) -> list[str]:
    """The export's columns the mapping lists for a canonical column, in the mapping's order,
    that the frame has (the first non-empty one wins, row by row)."""
    any_case = mapping.headers == "any_case"
    return [c for c in (_column(frame, [w], any_case) for w in mapping.sources(column)) if c is not None]


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
        present = _present(frame, mapping, column.name)
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
            stamps, said = _updated_times(scrubbed, mapping, path)
            gone += [(k, stamp, said_at, int(at), path.name, int(line) + 1)
                     for k, stamp, said_at, at, line in zip(keys, stamps, said, order[deleted], scrubbed.index) if k is not None]
            frame, order = frame[~deleted], order[~deleted]
        keep = _kept_where(frame, mapping, path, filtered)
        frame, order = frame[keep], order[keep]
        if not len(frame):
            continue
        updated, said = _updated_times(frame, mapping, path)
        mapped, source_of = map_frame(frame, mapping, path.name, path.stem, notes)
        given |= set(source_of)
        first = key[0] if key else contract.column_names[0]
        faults += [f"{path.name}: {line}" for line in order_faults(mapped, mapping.table, source_of, mapped[first])]
        for column, name in source_of.items():
            names.setdefault(column, name)
        rough = frame["_estimated"].map(_text).tolist() if "_estimated" in frame.columns else ""
        parts.append((path, mapped.assign(_updated=updated, _said=said, _estimated=rough, _file=path.name, _line=list(frame.index + 1),
                                          _seq=list(order), _deleted=False)))
    if not read:
        # A quiet week's export: nothing to do, and said so (exit 1 from the command), not a fault.
        return ImportResult(mapping.table, table_file(workspace, mapping.table), [Path(f).name for f in files], 0, 0, 0, usable=0,
                            notes=notes)
    if filtered:
        kept_rows = sum(len(part) for _, part in parts)
        notes.append(_filter_note(mapping, filtered, kept_rows))
    staged, repeated = _once([part for _, part in parts], list(contract.column_names))
    if gone and key:
        marks = pd.DataFrame([{**dict.fromkeys(contract.column_names, ""), **dict(zip(key, k)), "_updated": stamp, "_said": said_at,
                               "_estimated": "", "_file": file, "_line": line, "_seq": at, "_deleted": True}
                              for k, stamp, said_at, at, file, line in gone])
        staged = pd.concat([staged.drop(columns="import_row"), marks], ignore_index=True)
    # A record given several times (an incremental export repeats a ticket each time it changes,
    # or a deletion and a restore): its latest change wins.
    staged, superseded = _newest(staged, key, bool(mapping.updated) or bool(gone))
    dead = staged["_deleted"].astype(bool).to_numpy()
    stamps = pd.to_datetime(staged["_updated"], utc=True, errors="coerce").dt.tz_localize(None)
    said = staged["_said"].map(_text)
    deleted_keys = list(zip(key_of(staged[dead], key), stamps[dead], said[dead])) if key else []
    stamps, rough = stamps[~dead].reset_index(drop=True), staged["_estimated"][~dead].reset_index(drop=True)
    said = said[~dead].reset_index(drop=True)
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
    said = said.iloc[rows_kept].reset_index(drop=True)
    typed = typed.drop(columns=["import_row"])
    set_aside = [_in_export_terms(line, names, origin, len(parts) > 1) for line in set_aside]
    with one_writer(workspace):
        target = table_file(workspace, mapping.table)
        rows_before = 0
        ledger = ledger_path(workspace, mapping.table)
        recorded = read_ledger(ledger, key) if key else {}
        args = (mapping.table, kept[list(contract.column_names)], typed, given, updated_at if mapping.updated else None,
                deleted_keys, recorded, rough, said)
        if not (target.exists() or target.is_symlink()):
            changes = plan(None, *args)
        else:
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
        if key and changes.ledger != recorded:
            # The ledger first: one ahead of the table is harmless (the same export is never
            # older than itself), one behind it would let an older export revert the change.
            write_ledger(ledger, key, changes.ledger)
        if changes.writes or (len(kept) and not target.exists()):
            workspace.mkdir(parents=True, exist_ok=True)
            write_changes(target, mapping.table, changes, rows_before)
    if changes.judged_by_row:
        notes.append(f"{changes.judged_by_row:,} id{'s' if changes.judged_by_row > 1 else ''} already in {target.name} had no entry in "
                     f"the import ledger ({ledger}): whether the export is older was judged by the row's own times, which a "
                     "change of priority or a deletion does not move")
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
        present = _present(frame, mapping, name)
        values = pd.Series("", index=frame.index, dtype=object)
        for column in reversed(present):
            text = frame[column].map(_text)
            values = text.where(text.ne(""), values)
        columns.append(values.tolist())
    return [k if all(k) else None for k in zip(*columns)]


def _updated_times(frame: pd.DataFrame, mapping: Mapping, path: Path) -> tuple[list[str], list[str]]:
    """Each row's time of its last change at the source (ISO-8601 UTC), or empty, and the
    export's own text of it."""
    column = _column(frame, mapping.updated, mapping.headers == "any_case") if mapping.updated else None
    if column is None:
        return [""] * len(frame), [""] * len(frame)
    return parse_times(frame[column], mapping.dates, f"{path.name}: column {column!r}").tolist(), frame[column].map(_text).tolist()


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
        return pd.DataFrame(columns=[*columns, "_updated", "_said", "_estimated", "_file", "_line", "_seq", "_deleted", "import_row"]), 0
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
