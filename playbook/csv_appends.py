"""Changing a CSV table in place of the user's file: new rows appended in the file's own dialect
(as DuckDB's sniffer reads it: delimiter, quote, escape, line endings, column order, encoding),
a changed row rewritten in the same dialect with every other byte kept, and the result read back
through the workspace loader before it replaces the file (see :mod:`playbook.appends`)."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pandas as pd

from playbook.errors import ImportDataError, SchemaError
from playbook.reimport import Key, key_of
from playbook.render import replacing
from playbook.schemas import get_table
from playbook.tablefiles import decode_legacy
from playbook.workspace import Workspace


def append_csv(target: Path, table: str, rows: pd.DataFrame, rows_before: int,
                update: dict[Key, dict[str, str]] | None = None, remove: list[Key] | None = None) -> None:
    """Text rows added at the end of a CSV file in its own dialect, as DuckDB reads it: its
    delimiter, quote, column order, line endings and encoding; rows whose key is in ``update``
    get those values (only those records are written again, keeping the file's other values and
    line ending), rows whose key is in ``remove`` are left out. Every other byte stays as it is.

    Before the file is replaced, the result is read back as a run reads it: every other row with
    the same values, the changed and new rows exactly as meant; otherwise nothing is written.
    """
    data = target.read_bytes()
    try:
        text, encoding, label = data.decode("utf-8-sig"), "utf-8", "UTF-8"
    except UnicodeDecodeError:
        text, label = decode_legacy(data)
        encoding = {"Windows-1252": "cp1252", "Latin-1": "latin-1"}[label]
    dialect = _sniffed(target, None if encoding == "utf-8" else text)
    changed = data
    if update or remove:
        bom = b"\xef\xbb\xbf" if data.startswith(b"\xef\xbb\xbf") else b""
        changed = bom + _encoded(target, label, encoding, _changed_records(target, table, text, dialect, update or {}, remove or []))
    out = io.StringIO()
    writer = _writer(out, dialect, dialect["newline"])
    for record in rows.to_dict("records"):
        writer.writerow(["" if record.get(name) is None else record.get(name, "") for name in dialect["columns"]])
    body = _encoded(target, label, encoding, out.getvalue())
    if changed and body and not changed.endswith((b"\n", b"\r")):
        body = dialect["newline"].encode(encoding) + body
    _check_read_back(target, table, data, changed + body, rows, rows_before, dialect["delimiter"], update or {}, remove or [])
    with replacing(target) as tmp, tmp.open("wb") as handle:
        handle.write(changed)
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())


def _escape(dialect: dict[str, Any]) -> str | None:
    """The escape character, or None where quotes are doubled (DuckDB reports the quote itself
    as the escape then; the csv module would read a closing quote as escaping what follows)."""
    return None if dialect["escape"] in ("", dialect["quote"]) else dialect["escape"]


def _writer(out: io.StringIO, dialect: dict[str, Any], newline: str, quoting: int = csv.QUOTE_MINIMAL) -> Any:
    return csv.writer(out, delimiter=dialect["delimiter"], quotechar=dialect["quote"], lineterminator=newline, quoting=quoting,
                      doublequote=dialect["escape"] in ("", dialect["quote"]), escapechar=_escape(dialect))


def _encoded(target: Path, label: str, encoding: str, text: str) -> bytes:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as err:
        raise ImportDataError(
            f"{target.name} is saved as {label}, which cannot hold {err.object[err.start:err.end]!r} from the new rows; "
            f"save {target.name} as UTF-8 and import again; nothing was written"
        ) from None


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+$")


def _changed_records(target: Path, table: str, text: str, dialect: dict[str, Any], update: dict[Key, dict[str, str]],
                     remove: list[Key]) -> str:
    """The file's text with the records of changed keys written again and removed keys left out.

    Records are split as the csv module reads them (a quoted value may span lines); a record
    not touched keeps its exact text."""
    lines = _LINE.findall(text)
    consumed = 0

    def feed() -> Iterator[str]:
        nonlocal consumed
        while consumed < len(lines):
            consumed += 1
            yield lines[consumed - 1]

    reader = csv.reader(feed(), delimiter=dialect["delimiter"], quotechar=dialect["quote"],
                        doublequote=dialect["escape"] in ("", dialect["quote"]), escapechar=_escape(dialect))
    header: list[str] | None = None
    pieces, start = [], 0
    gone = set(remove)
    for fields in reader:
        raw, start = "".join(lines[start:consumed]), consumed
        if header is None:
            header = [f.strip() for f in fields]
            where = {name: i for i, name in enumerate(header)}
            key = list(get_table(table).key)
            absent = sorted({c for values in update.values() for c in values if c not in where} | {k for k in key if k not in where})
            if absent:
                raise ImportDataError(f"{target.name} has no column {', '.join(repr(c) for c in absent)} to record the "
                                      "export's changes in; add it to the file, then import again; nothing was written")
            pieces.append(raw)
            continue
        k = tuple(fields[where[c]].strip() if where[c] < len(fields) else "" for c in key) if fields else None
        if k in gone:
            continue
        if k in update:
            values = fields + [""] * (len(header) - len(fields))
            for column, value in update[k].items():
                values[where[column]] = value
            ending = raw[len(raw.rstrip("\r\n")):]
            out = io.StringIO()
            # A record whose every value was quoted is written quoted the same way.
            quote, sep = dialect["quote"], dialect["delimiter"]
            body = raw[: len(raw) - len(ending)]
            every = body.startswith(quote) and body.endswith(quote) and body.count(quote + sep + quote) >= len(fields) - 1
            _writer(out, dialect, ending or "", csv.QUOTE_ALL if every else csv.QUOTE_MINIMAL).writerow(values)
            raw = out.getvalue()
        pieces.append(raw)
    return "".join(pieces)


def _sniffed(target: Path, transcoded: str | None) -> dict[str, Any]:
    """The file's dialect as DuckDB's CSV sniffer sees it (the reader a run uses); a file that is
    not UTF-8, which a run reads after transcoding, is sniffed from its ``transcoded`` text."""
    scratch = Path(tempfile.mkdtemp(prefix="playbook-sniff-"))
    try:
        source = target
        if transcoded is not None:
            source = scratch / target.name
            source.write_text(transcoded, encoding="utf-8")
        with duckdb.connect() as con:
            found = con.execute("SELECT Delimiter, Quote, Escape, NewLineDelimiter, Columns FROM sniff_csv(?)", [str(source)]).fetchone()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    delimiter, quote, escape, newline, columns = found
    plain = {"(empty)": "", "\\n": "\n", "\\r\\n": "\r\n", "\\r": "\r"}
    return {
        "delimiter": delimiter, "quote": plain.get(quote, quote) or '"', "escape": plain.get(escape, escape),
        "newline": plain.get(newline, "\n"), "columns": [c["name"] for c in columns],
    }


def _check_read_back(target: Path, table: str, before: bytes, after: bytes, rows: pd.DataFrame, rows_before: int,
                     delimiter: str, update: dict[Key, dict[str, str]], remove: list[Key]) -> None:
    """Read the file before and after the change as a run would, in scratch folders; refuse unless
    every other row reads the same, changed rows read with exactly the new values and the new
    rows exactly as meant."""
    columns = list(rows.columns) if len(rows.columns) else list(get_table(table).column_names)
    read: list[Any] = []
    for data in (before, after):
        scratch = Path(tempfile.mkdtemp(prefix="playbook-append-"))
        try:
            (scratch / f"{table}.csv").write_bytes(data)
            with Workspace(scratch) as ws:
                try:
                    report = ws.load(table)
                    read.append((report.rows_read, ws.text_rows(table, columns, last=report.rows_read)))
                except SchemaError:
                    read.append((None, None))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    (count_before, old), (count_after, new) = read
    same = count_before == rows_before and old is not None and new is not None
    if same:
        want = old.values.tolist()
        if update or remove:
            keys, gone = key_of(old, list(get_table(table).key)), set(remove)
            at = {name: i for i, name in enumerate(old.columns)}
            for values, k in zip(want, keys):
                for column, value in update.get(k, {}).items():
                    values[at[column]] = str(value).strip()
            want = [values for values, k in zip(want, keys) if k not in gone]
        if len(rows):
            want += rows.fillna("").astype(str).apply(lambda c: c.str.strip())[columns].values.tolist()
        same = count_after == len(want) and new.values.tolist() == want
    if not same:
        raise ImportDataError(
            f"{target.name}: the export's rows cannot be written so that the file reads back as it did, with only them "
            f"added or changed (read with delimiter {delimiter!r}, as the contract reads it); nothing was written. "
            "Save the table as plain comma-separated UTF-8 with double quotes, or keep it as Parquet"
        )
