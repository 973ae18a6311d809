"""Adding rows to a workspace table without rewriting what is there.

An import ends here with its :class:`playbook.reimport.Changes`: rows to add, values to set in
rows it already holds, rows to remove (deleted at the source), as the text the contract reads:

- a CSV table gets new rows appended in the file's own dialect, as DuckDB's sniffer reads it
  (delimiter, quote, escape, line endings, column order, encoding); a changed row has only its
  changed values rewritten, in the same dialect, and every other byte of the file stays. The
  result is read back through the workspace loader before it replaces the file: every other
  row must read the same, the changed and new ones exactly as meant;
- a Parquet table is written again with its rows carried over as stored (every column, its
  type and precision), changed values and new rows in its own column types; a value those
  types cannot hold exactly refuses the write;
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
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pandas as pd

from playbook.errors import ImportDataError, SchemaError
from playbook.reimport import Changes, Key, key_of
from playbook.render import replacing, write_atomic
from playbook.schemas import SQL_TYPES, get_table
from playbook.workspace import Workspace, ident
from playbook.tablefiles import decode_legacy, first_line


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


def write_changes(target: Path, table: str, changes: Changes, rows_before: int) -> None:
    """Apply an import's changes to the table's file (or write it anew), atomically."""
    rows = changes.add
    if target.suffix == ".parquet":
        _write_parquet(target, table, rows, changes.update, changes.remove)
    elif target.exists():
        _append_csv(target, table, rows, rows_before, changes.update, changes.remove)
    else:
        write_atomic(target, rows.to_csv(index=False))


def add_rows(target: Path, table: str, rows: pd.DataFrame, rows_before: int) -> None:
    """Add text rows to the table's file (or write it anew), atomically."""
    write_changes(target, table, Changes(rows), rows_before)


def _write_parquet(target: Path, table: str, rows: pd.DataFrame, update: dict[Key, dict[str, str]] | None = None,
                   remove: list[Key] | None = None) -> None:
    """Text rows typed by the contract, after the rows already in ``target`` (if any), which are
    carried over as stored: every column, its type and its precision.

    New rows take the existing file's own types (nanoseconds, zones, its extra columns empty);
    a value those types cannot hold exactly (a time in a DATE column, cents in an INTEGER one)
    refuses the import rather than being cut.
    """
    columns = get_table(table).columns
    typed = ", ".join(
        f"CAST(CAST(NULLIF({ident(c.name)}, '') AS TIMESTAMPTZ) AS TIMESTAMP) AS {ident(c.name)}" if c.type == "timestamp"
        else f"CAST(NULLIF({ident(c.name)}, '') AS {SQL_TYPES[c.type]}) AS {ident(c.name)}"
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
            source, params = "read_parquet(?)", [str(target)]
            if update or remove:
                _carry_changed(con, target, table, stored, typed, update or {}, remove or [], order)
                source, params = "carried", []
            query = (
                f"SELECT * EXCLUDE ({part}, {order}) FROM ("
                f"SELECT *, 0 AS {part}, row_number() OVER () AS {order} FROM {source} "
                f"UNION ALL SELECT *, 1 AS {part}, row_number() OVER () AS {order} FROM added) ORDER BY {part}, {order}"
            )
        else:
            query, params = "SELECT * FROM fresh ORDER BY rowid", []
        # The file's own key-value metadata (an owner's notes, a writer's schema) is carried over too.
        kept = {} if not target.exists() else {
            bytes(k).decode("utf-8", "replace"): bytes(v or b"")
            for k, v in con.execute("SELECT key, value FROM parquet_kv_metadata(?)", [str(target)]).fetchall()
        }
        options = "FORMAT parquet, COMPRESSION zstd" + (", KV_METADATA ?" if kept else "")
        with replacing(target) as tmp:
            con.execute(f"COPY ({query}) TO ? ({options})", [*params, str(tmp), *([kept] if kept else [])])


def _carry_changed(con: Any, target: Path, table: str, stored: dict[str, str], typed: str,
                   update: dict[Key, dict[str, str]], remove: list[Key], order: str) -> None:
    """The file's rows as the temporary table ``carried``, in order: rows whose key is in
    ``remove`` left out, and in rows whose key is in ``update`` those values set (in the file's
    own column types, refused where they cannot be held exactly); every other value as stored."""
    contract = get_table(table)
    key = list(contract.key)
    names = [c.name for c in contract.columns]
    changing = sorted({c for values in update.values() for c in values})
    missing = [c for c in changing if c not in stored]
    if missing:
        raise ImportDataError(f"{target.name} has no column {', '.join(repr(c) for c in missing)} to record the export's "
                              "changes in; add it to the file, then import again; nothing was written")
    flags = {c: f"_set_{i}" for i, c in enumerate(changing)}
    keys = [f"_key_{i}" for i in range(len(key))]
    changed = pd.DataFrame(
        [{**{c: values.get(c, "") for c in names}, **{flags[c]: str(c in values) for c in changing}, **dict(zip(keys, k))}
         for k, values in update.items()],
        columns=[*names, *flags.values(), *keys], dtype=object,
    )
    con.register("changed_text", changed.fillna("").astype(str).assign(_n=range(len(changed))))
    con.register("gone", pd.DataFrame(remove, columns=keys, dtype=object))
    markers = ", ".join([*(f"{ident(f)} = 'True' AS {ident(f)}" for f in flags.values()), *(ident(k) for k in keys)])
    con.execute(f"CREATE TEMP TABLE changed AS SELECT {typed}, {markers} FROM changed_text ORDER BY _n")
    # The new values in the file's own column types: inserted into an empty copy of the file's
    # table, so DuckDB casts them as it would store them (no type name is written into SQL here).
    con.execute("CREATE TEMP TABLE changed_stored AS SELECT * FROM read_parquet(?) LIMIT 0", [str(target)])
    wanted = ", ".join(ident(c) for c in changing)
    try:
        if changing:
            con.execute(f"INSERT INTO changed_stored ({wanted}) SELECT {wanted} FROM changed ORDER BY rowid")
    except duckdb.Error as err:
        raise ImportDataError(f"{target.name}: the export's changed values do not fit the file's own column types "
                              f"({first_line(err)}); nothing was written") from None
    # Rows pair up by their order, under a counter named apart from every column of the file.
    pair = _free({**stored, **dict.fromkeys(flags.values()), **dict.fromkeys(keys)}, "_playbook_pair")
    pairs = (f"(SELECT *, row_number() OVER () AS {pair} FROM changed) n "
             f"JOIN (SELECT *, row_number() OVER () AS {pair} FROM changed_stored) s USING ({pair})")
    for c in changing:
        back = SQL_TYPES[{col.name: col for col in contract.columns}[c].type]
        name, flag = ident(c), ident(flags[c])
        bad = con.execute(
            f"SELECT CAST(n.{name} AS VARCHAR), CAST(CAST(s.{name} AS {back}) AS VARCHAR) FROM {pairs} "
            f"WHERE n.{flag} AND CAST(s.{name} AS {back}) IS DISTINCT FROM n.{name} LIMIT 3"
        ).fetchall()
        if bad:
            shown = ", ".join(f"{new!r} would be stored as {kept!r}" for new, kept in bad)
            raise ImportDataError(f"{target.name} stores {c} as {stored[c]}, which cannot hold the export's changed values "
                                  f"exactly ({shown}); nothing was written")
    setting = ", ".join(f"n.{ident(f)}" for f in flags.values())
    chosen = ", ".join(f"s.{ident(c)} AS {ident('_new_' + c)}" for c in changing)
    key_names = ", ".join(f"n.{ident(k)}" for k in keys)
    joined = f"(SELECT {key_names}, {setting}, {chosen} FROM {pairs}) u"
    match = " AND ".join(f"TRIM(CAST(t.{name} AS VARCHAR)) = u.{marker}" for name, marker in zip(map(ident, key), map(ident, keys)))
    match_gone = match.replace(" = u.", " = g.")
    replace = ", ".join(
        f"CASE WHEN u.{ident(flags[c])} THEN u.{ident('_new_' + c)} ELSE t.{ident(c)} END AS {ident(c)}" for c in changing
    )
    if not changing:
        joined, match, replace = "(SELECT 1 AS _none) u", "false", ""
    listed = f" REPLACE ({replace})" if replace else ""
    con.execute(
        f"CREATE TEMP TABLE carried AS SELECT t.* EXCLUDE ({order}){listed} "
        f"FROM (SELECT *, row_number() OVER () AS {order} FROM read_parquet(?)) t LEFT JOIN {joined} ON {match} "
        f"WHERE NOT EXISTS (SELECT 1 FROM gone g WHERE {match_gone}) ORDER BY t.{order}",
        [str(target)],
    )


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
        back = SQL_TYPES[column.type]
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


def _append_csv(target: Path, table: str, rows: pd.DataFrame, rows_before: int,
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


__all__ = ["add_rows", "one_writer", "table_file", "write_changes"]
