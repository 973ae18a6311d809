"""A mapping applied to one export: the YAML mapping loaded and checked, its columns, values and
defaults mapped onto a canonical table, times parsed in the export's format and zone, and the
mapping's rules (where, deleted, updated) read off the rows (see :mod:`playbook.importers`)."""

from __future__ import annotations

import re
from datetime import timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import yaml
from pydantic import ValidationError

from playbook.yaml_params import deep_merge, describe_yaml_error, load_yaml
from playbook.errors import ImportDataError
from playbook.exports import EXAMPLES, Dates, Mapping, _column, _rows, _text, iso_text
from playbook.schemas import TABLES, get_table
from playbook.tool_exports import PRESETS

PRESETS_DIR = Path(__file__).resolve().parent / "presets"


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


OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*([+-]\d{2}):?(\d{2})")


def zone_note(frame: pd.DataFrame, mapping: Mapping, path: Path) -> str:
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


def kept_where(frame: pd.DataFrame, mapping: Mapping, path: Path, filtered: dict[str, int]) -> Any:
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


def filter_note(mapping: Mapping, filtered: dict[str, int], kept: int) -> str:
    rules = "; ".join(f"{name} is {' or '.join(map(str, allowed))}" for name, allowed in mapping.where.items() if allowed is not None)
    skipped = sorted(filtered.items(), key=lambda item: -item[1])
    shown = ", ".join(f"{label}: {count:,}" for label, count in skipped[:EXAMPLES]) + (", ..." if len(skipped) > EXAMPLES else "")
    return (f"kept {_rows(kept)} where {rules} (where: in the mapping); skipped {_rows(sum(filtered.values()))} ({shown}). "
            "A --mapping file can change the filter, or remove it with null")


def marked_deleted(frame: pd.DataFrame, mapping: Mapping, path: Path, notes: list[str]) -> Any:
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


def source_keys(frame: pd.DataFrame, mapping: Mapping, key: list[str]) -> list[tuple[str, ...] | None]:
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


def updated_times(frame: pd.DataFrame, mapping: Mapping, path: Path) -> tuple[list[str], list[str]]:
    """Each row's time of its last change at the source (ISO-8601 UTC), or empty, and the
    export's own text of it."""
    column = _column(frame, mapping.updated, mapping.headers == "any_case") if mapping.updated else None
    if column is None:
        return [""] * len(frame), [""] * len(frame)
    return parse_times(frame[column], mapping.dates, f"{path.name}: column {column!r}").tolist(), frame[column].map(_text).tolist()
