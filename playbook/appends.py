"""Adding rows to a workspace table without rewriting what is there.

An import ends here with the rows it keeps, as the text the contract reads:

- a CSV table gets them appended in the file's own dialect, as DuckDB's sniffer reads it
  (delimiter, quote, escape, line endings, column order, encoding); every byte already in the
  file stays, and the result is read back through the workspace loader before it replaces the
  file: the old rows must read the same, the new ones exactly as meant;
- a Parquet table is written again with its rows carried over as stored (every column, its
  type and precision), the new rows in its own column types; a value those types cannot hold
  exactly refuses the write;
- one writer at a time per workspace (:func:`one_writer`).

Every replacement is atomic (a temporary file beside the table, then a rename) and keeps the
file's permissions.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pandas as pd

from playbook.errors import ImportDataError, SchemaError
from playbook.render import TMP_SUFFIX, tmp_prefix, write_atomic
from playbook.schemas import get_table
from playbook.workspace import Workspace, decode_legacy, first_line, ident


@contextlib.contextmanager
def one_writer(workspace: Path) -> Iterator[None]:
    """One import at a time into a workspace, whether or not its folder exists yet: an advisory
    lock on a file of the playbook's own in the system's temporary folder, named after the
    workspace's absolute path (nothing is created in the workspace)."""
    digest = hashlib.sha256(str(workspace.resolve()).encode()).hexdigest()[:16]
    lock = Path(tempfile.gettempdir()) / f"playbook-import-{digest}.lock"
    try:
        handle = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as err:
        raise ImportDataError(f"cannot take the lock that keeps imports into {workspace} one at a time ({lock}: "
                              f"{err.strerror}); nothing was written") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def table_file(workspace: Path, table: str) -> Path:
    """The table's file: the one already there (Parquet first, as a run reads it), else a new
    CSV (Parquet for events, the one large table)."""
    parquet, csv_path = workspace / f"{table}.parquet", workspace / f"{table}.csv"
    if parquet.exists() or (table == "events" and not csv_path.exists()):
        return parquet
    return csv_path


def add_rows(target: Path, table: str, rows: pd.DataFrame, rows_before: int) -> None:
    """Add text rows to the table's file (or write it anew), atomically."""
    if target.suffix == ".parquet":
        _write_parquet(target, table, rows)
    elif target.exists():
        _append_csv(target, table, rows, rows_before)
    else:
        write_atomic(target, rows.to_csv(index=False))


_SQL_TYPES = {"string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "timestamp": "TIMESTAMP"}


def _write_parquet(target: Path, table: str, rows: pd.DataFrame) -> None:
    """Text rows typed by the contract, after the rows already in ``target`` (if any), which are
    carried over as stored: every column, its type and its precision.

    New rows take the existing file's own types (nanoseconds, zones, its extra columns empty);
    a value those types cannot hold exactly (a time in a DATE column, cents in an INTEGER one)
    refuses the import rather than being cut.
    """
    columns = get_table(table).columns
    typed = ", ".join(
        f"CAST(CAST(NULLIF({ident(c.name)}, '') AS TIMESTAMPTZ) AS TIMESTAMP) AS {ident(c.name)}" if c.type == "timestamp"
        else f"CAST(NULLIF({ident(c.name)}, '') AS {_SQL_TYPES[c.type]}) AS {ident(c.name)}"
        for c in columns
    )
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("incoming", rows.fillna("").astype(str).assign(_n=range(len(rows))))
        con.execute(f"CREATE TEMP TABLE fresh AS SELECT {typed} FROM incoming ORDER BY _n")
        if target.exists():
            stored = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
                                      [str(target)]).fetchall())
            folded: dict[str, list[str]] = {}
            for name in _parquet_columns(con, target):
                folded.setdefault(name.lower(), []).append(name)
            clashing = [" and ".join(names) for names in folded.values() if len(names) > 1]
            if clashing:
                # SQL names ignore case: such a file cannot be carried over with its columns as they are.
                raise ImportDataError(f"{target.name} has columns whose names differ only in case ({'; '.join(clashing)}); "
                                      "rename one of each, then import again; nothing was written")
            con.execute("CREATE TEMP TABLE added AS SELECT * FROM read_parquet(?) LIMIT 0", [str(target)])
            names = ", ".join(ident(c.name) for c in columns if c.name in stored)
            try:
                con.execute(f"INSERT INTO added ({names}) SELECT {names} FROM fresh ORDER BY rowid")
            except duckdb.Error as err:
                raise ImportDataError(f"{target.name}: the new rows do not fit the file's own column types ({first_line(err)}); "
                                      "nothing was written") from None
            _check_lossless(con, target, stored, [c for c in columns if c.name in stored])
            # Row order kept with counters named apart from every column of the file.
            part, order = _free(stored, "_playbook_part"), _free(stored, "_playbook_order")
            query = (
                f"SELECT * EXCLUDE ({part}, {order}) FROM ("
                f"SELECT *, 0 AS {part}, row_number() OVER () AS {order} FROM read_parquet(?) "
                f"UNION ALL SELECT *, 1 AS {part}, row_number() OVER () AS {order} FROM added) ORDER BY {part}, {order}"
            )
            params = [str(target)]
        else:
            query, params = "SELECT * FROM fresh ORDER BY rowid", []
        fd, tmp = tempfile.mkstemp(prefix=tmp_prefix(target), suffix=TMP_SUFFIX, dir=target.parent)
        os.close(fd)
        try:
            con.execute(f"COPY ({query}) TO ? (FORMAT parquet, COMPRESSION zstd)", [*params, tmp])
            if target.exists():
                shutil.copymode(target, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _parquet_columns(con: Any, target: Path) -> list[str]:
    """The file's top-level column names as written in it (DuckDB renames names that differ only
    in case when it reads them, so DESCRIBE cannot show such a clash)."""
    schema = con.execute("SELECT name, num_children FROM parquet_schema(?)", [str(target)]).fetchall()
    names, i = [], 1
    for _ in range(schema[0][1] or 0):
        names.append(schema[i][0])
        # Skip the element's subtree (a struct's or a list's children).
        pending = schema[i][1] or 0
        i += 1
        while pending:
            pending += (schema[i][1] or 0) - 1
            i += 1
    return names


def _free(taken: dict[str, str], name: str) -> str:
    """``name`` (quoted), with a number added until no column of the file has it."""
    candidate, n = name, 0
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return ident(candidate)


def _check_lossless(con: Any, target: Path, stored: dict[str, str], columns: list[Any]) -> None:
    """Refuse when a new value, stored in the file's own type, would not read back as itself."""
    for column in columns:
        name = ident(column.name)
        back = _SQL_TYPES[column.type]
        # Rows pair up by their order in both tables (a column of the file's may be called rowid).
        changed = con.execute(
            f"SELECT CAST(f.v AS VARCHAR), CAST(CAST(a.v AS {back}) AS VARCHAR) FROM "
            f"(SELECT {name} AS v, row_number() OVER () AS k FROM fresh) f JOIN "
            f"(SELECT {name} AS v, row_number() OVER () AS k FROM added) a USING (k) "
            f"WHERE CAST(a.v AS {back}) IS DISTINCT FROM f.v ORDER BY k LIMIT 3"
        ).fetchall()
        if changed:
            shown = ", ".join(f"{new!r} would be stored as {kept!r}" for new, kept in changed)
            raise ImportDataError(
                f"{target.name} stores {column.name} as {stored[column.name]}, which cannot hold the new rows' values exactly "
                f"({shown}); nothing was written. Store {column.name} as {back} in the file to import into it"
            )


def _append_csv(target: Path, table: str, rows: pd.DataFrame, rows_before: int) -> None:
    """Text rows added at the end of a CSV file in its own dialect, as DuckDB reads it: its
    delimiter, quote, column order, line endings and encoding. Every byte already in the file
    stays as it is.

    Before the file is replaced, the result is read back as a run reads it: every old row with
    the same values, then the new rows exactly as meant; otherwise nothing is written.
    """
    data = target.read_bytes()
    try:
        text, encoding, label = data.decode("utf-8-sig"), "utf-8", "UTF-8"
    except UnicodeDecodeError:
        text, label = decode_legacy(data)
        encoding = {"Windows-1252": "cp1252", "Latin-1": "latin-1"}[label]
    dialect = _sniffed(target, None if encoding == "utf-8" else text)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=dialect["delimiter"], quotechar=dialect["quote"], lineterminator=dialect["newline"],
                        doublequote=dialect["escape"] in ("", dialect["quote"]), escapechar=dialect["escape"] or None)
    for record in rows.to_dict("records"):
        writer.writerow(["" if record.get(name) is None else record.get(name, "") for name in dialect["columns"]])
    try:
        body = out.getvalue().encode(encoding)
    except UnicodeEncodeError as err:
        raise ImportDataError(
            f"{target.name} is saved as {label}, which cannot hold {err.object[err.start:err.end]!r} from the new rows; "
            f"save {target.name} as UTF-8 and import again; nothing was written"
        ) from None
    if data and not data.endswith((b"\n", b"\r")):
        body = dialect["newline"].encode(encoding) + body
    _check_read_back(target, table, data, data + body, rows, rows_before, dialect["delimiter"])
    fd, tmp = tempfile.mkstemp(prefix=tmp_prefix(target), suffix=TMP_SUFFIX, dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        shutil.copymode(target, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
                     delimiter: str) -> None:
    """Read the file before and after the append as a run would, in scratch folders; refuse unless
    the old rows read the same and the new ones read exactly as meant."""
    columns = list(rows.columns)
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
    meant = rows.fillna("").astype(str).apply(lambda c: c.str.strip()).reset_index(drop=True)
    same = (
        count_before == rows_before and count_after == rows_before + len(rows)
        and new.head(rows_before).values.tolist() == old.values.tolist()
        and new.tail(len(rows)).values.tolist() == meant.values.tolist()
    )
    if not same:
        raise ImportDataError(
            f"{target.name}: the new rows cannot be added so that the file reads back as it did, with them after it "
            f"(read with delimiter {delimiter!r}, as the contract reads it); nothing was written. "
            "Save the table as plain comma-separated UTF-8 with double quotes, or keep it as Parquet"
        )


__all__ = ["add_rows", "one_writer", "table_file"]
