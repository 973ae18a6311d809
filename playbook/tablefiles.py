"""What a workspace's files are, before any table is loaded: how each is read (a FROM item with
bound values), which DuckDB types already hold a contract type, and the words for a file that
cannot be read (a folder, a pipe, not UTF-8, a database another program is writing)."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb


# DuckDB column types that already hold each contract type, so the column needs no parsing.
NATIVE_TYPES: dict[str, tuple[str, ...]] = {
    # The first is the type a loaded column has; the others are cast to it as they are read.
    "string": ("VARCHAR",),
    "int": ("BIGINT", "TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT", "UINTEGER"),
    "float": ("DOUBLE", "FLOAT", "TINYINT", "SMALLINT", "INTEGER", "BIGINT"),
    "bool": ("BOOLEAN",),
    "timestamp": ("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE"),
}


# Every file is read through a bound path, never a path written into the SQL.
CSV_READER = "read_csv(?, all_varchar = true, header = true)"


@dataclass(frozen=True)
class Source:
    """A table's rows as a FROM item (``sql``) with the values its markers bind (``params``)."""

    sql: str
    params: tuple[str, ...]
    label: str
    is_text: bool
    path: Path | None
    # A database's table or query: its rows have no order of their own (see TableLoader.load).
    database: bool = False


def decode_legacy(data: bytes) -> tuple[str, str]:
    """Bytes that are not UTF-8 as Windows-1252 text (Latin-1 where that fails), and the encoding's name."""
    try:
        return data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "Latin-1"


def entry_kind(path: Path) -> str:
    """What a path that is not a regular file is, in words ("a folder", "a named pipe")."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return f"a link to {os.readlink(path)}, which leads to no file" if path.is_symlink() else "not readable"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def header_width(path: Path) -> int:
    """How many columns the first line of a CSV file names (comma or semicolon separated)."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 20)
    line = head.lstrip(b"\xef\xbb\xbf\r\n \t").split(b"\n", 1)[0]
    return max(line.count(b","), line.count(b";"), line.count(b"\t")) + 1


def unreadable(label: str, err: Exception) -> str:
    """Why a table could not be read, in words a user can act on."""
    if isinstance(err, duckdb.OutOfMemoryException):
        return (f"{label}: reading it needs more memory than the playbook's budget for the database "
                f"({os.environ.get('PLAYBOOK_DUCKDB_MEMORY', '1GB')}); set PLAYBOOK_DUCKDB_MEMORY (e.g. 4GB) to allow more")
    server = re.search(r"ERROR:\s*(.+)", str(err))  # a warehouse's own words, not DuckDB's wrapping of them
    return f"{label}: cannot be read as a table: {server.group(1).strip() if server else first_line(err)}"


def database_problem(path: Path, err: Exception) -> str:
    """Why a ``.duckdb`` workspace cannot be opened: empty, not a database, or held by a writer."""
    text = str(err)
    if "lock" in text.lower():
        holder = re.search(r"PID (\d+)", text)
        who = f" (process {holder.group(1)})" if holder else ""
        return (f"workspace {path} is being written by another program{who}, which holds the database's lock; "
                "run again once it has finished (the playbook only reads it)")
    if path.stat().st_size == 0:
        return f"workspace {path} is an empty file, not a DuckDB database; point `workspace:` in params at your data"
    if "not a valid" in text.lower() or "invalid" in text.lower():
        return f"workspace {path} is not a DuckDB database (the file is damaged, or another kind of file); {first_line(err)}"
    return f"workspace {path} cannot be opened: {first_line(err)}"


def first_non_utf8(data: bytes) -> int:
    """The offset of the first byte that breaks UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start
    return len(data)


def is_blank(path: Path) -> bool:
    """Whether a file holds nothing but whitespace (or a byte-order mark)."""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            if block.replace(b"\xef\xbb\xbf", b"").strip():
                return False
    return True


def first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def plain_value(value: Any) -> Any:
    """An example value as a user wrote it: whole floats as ints, times as ISO text."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value
