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
import fcntl
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pandas as pd

from playbook.csv_appends import append_csv
from playbook.errors import ImportDataError
from playbook.reimport import Changes, Key
from playbook.render import replacing, write_atomic
from playbook.schemas import SQL_TYPES, get_table
from playbook.tablefiles import first_line
from playbook.workspace import ident


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
        append_csv(target, table, rows, rows_before, changes.update, changes.remove)
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
            # Named markers: DuckDB versions number a COPY's markers in different orders.
            source, params = "read_parquet($stored)", {"stored": str(target)}
            if update or remove:
                _carry_changed(con, target, table, stored, typed, update or {}, remove or [], order)
                source, params = "carried", {}
            query = (
                f"SELECT * EXCLUDE ({part}, {order}) FROM ("
                f"SELECT *, 0 AS {part}, row_number() OVER () AS {order} FROM {source} "
                f"UNION ALL SELECT *, 1 AS {part}, row_number() OVER () AS {order} FROM added) ORDER BY {part}, {order}"
            )
        else:
            query, params = "SELECT * FROM fresh ORDER BY rowid", {}
        # The file's own key-value metadata (an owner's notes, a writer's schema) is carried over too.
        kept = {} if not target.exists() else {
            bytes(k).decode("utf-8", "replace"): bytes(v or b"")
            for k, v in con.execute("SELECT key, value FROM parquet_kv_metadata(?)", [str(target)]).fetchall()
        }
        options = "FORMAT parquet, COMPRESSION zstd" + (", KV_METADATA $kept" if kept else "")
        with replacing(target) as tmp:
            con.execute(f"COPY ({query}) TO $written ({options})", {**params, "written": str(tmp), **({"kept": kept} if kept else {})})


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


__all__ = ["add_rows", "one_writer", "table_file", "write_changes"]
