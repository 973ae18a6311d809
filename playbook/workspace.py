"""The workspace: canonical tables read through DuckDB, in-process, validated on load.

A workspace is a folder of ``<table>.csv`` or ``<table>.parquet`` files (DESIGN.md section 3),
or a ``.duckdb`` file holding tables of those names. Loading a table checks it against its
contract in :mod:`playbook.schemas`:

- a missing file or column, or a column whose values do not parse as its type, raises
  :class:`~playbook.errors.SchemaError` naming the file, the column, the expected type and
  example rows;
- rows that break a rule (a score of 11, a negative ARR, a missing required value, a repeated
  id, a time in the future) are set aside and listed in :attr:`Workspace.reports`, never used;
- files as spreadsheets really save them are read: a UTF-8 byte-order mark, semicolons as
  delimiters, quoted line breaks, and Windows-1252/Latin-1 text (noted in the report, since a
  file that is not UTF-8 may be another encoding still).

Files are only ever read: nothing in the workspace is written, moved or locked.

All filtering by product and period is done in SQL. This module is the only one that reads data.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb

from playbook.errors import SchemaError, WorkspaceError
from playbook.schemas import EARLIEST, LATEST, MAX_COLUMNS, PLAUSIBLE_DATES, SQL_TYPES, TABLES, TYPE_NAMES, Column, Table, get_table

EXAMPLES = 5


@dataclass(frozen=True)
class SetAside:
    """Rows of one table set aside for one reason."""

    column: str
    rule: str
    count: int
    examples: tuple[tuple[int, Any], ...]

    def describe(self) -> str:
        shown = ", ".join(f"row {row}: {'empty' if value is None else repr(value)}" for row, value in self.examples)
        more = "" if self.count <= len(self.examples) else ", ..."
        what = "columns" if " + " in self.column else "column"
        return f"{what} '{self.column}' {self.rule} ({shown}{more})"


@dataclass(frozen=True)
class TableReport:
    """What loading one table found: rows read, rows kept, and why the others were set aside."""

    table: str
    source: str
    rows_read: int
    set_aside: tuple[SetAside, ...] = field(default_factory=tuple)
    cleared: tuple[SetAside, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def rows_set_aside(self) -> int:
        return sum(s.count for s in self.set_aside)

    @property
    def rows_kept(self) -> int:
        return self.rows_read - self.rows_set_aside

    def describe(self) -> list[str]:
        """One line per reason, e.g. ``nps_responses.csv: 1 row set aside: column 'score' expected 0..10 (row 3: 11)``."""
        lines = []
        for reason in self.set_aside:
            rows = "row" if reason.count == 1 else "rows"
            lines.append(f"{self.source}: {reason.count:,} {rows} set aside: {reason.describe()}")
        for reason in self.cleared:
            values = "value" if reason.count == 1 else "values"
            lines.append(f"{self.source}: {reason.count:,} {values} emptied (the rows are kept): {reason.describe()}")
        lines += [f"{self.source}: {note}" for note in self.notes]
        return lines


def ident(name: str) -> str:
    """A name as a quoted SQL identifier: the one way a name is written into SQL (values are bound)."""
    return '"' + name.replace('"', '""') + '"'


class Workspace:
    """Canonical tables of one workspace, loaded lazily and validated once per table.

    Args:
        path: a folder of CSV/Parquet files or a ``.duckdb`` file.
        now: the moment times are judged against ("in the future"); default the current time.

    Raises:
        WorkspaceError: the path does not exist or is not a folder or DuckDB file.
    """

    def __init__(self, path: Path | str, now: datetime | None = None):
        self.path = Path(path)
        today = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).date()
        # A day of slack: a value written "tomorrow" in a time zone ahead of UTC is not an error.
        self.future_after = today + timedelta(days=1)
        self._scratch: Path | None = None
        if not self.path.exists():
            raise WorkspaceError(
                f"workspace {self.path} does not exist; create it with `playbook sample --out {self.path}` "
                "or point `workspace:` in params at your data"
            )
        self._db_file = self.path.suffix == ".duckdb" and self.path.is_file()
        if not self._db_file and not self.path.is_dir():
            raise WorkspaceError(f"workspace {self.path} is neither a folder nor a .duckdb file")
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        # DuckDB would otherwise take up to 80% of the machine's memory for its buffers; a
        # report shares the machine with other kernels, so it is held to a budget and large
        # aggregations spill to a private temporary folder instead (PLAYBOOK_DUCKDB_MEMORY).
        # The folder is only named: DuckDB creates it when it first spills and removes it when
        # the connection closes, so a kernel that never closes its workspace leaves nothing.
        self._spill = Path(tempfile.gettempdir()) / f"playbook-spill-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        budget = os.environ.get("PLAYBOOK_DUCKDB_MEMORY", "1GB")
        try:
            self.con.execute("SET memory_limit = ?", [budget])
        except duckdb.Error:
            self.con.close()
            raise WorkspaceError(f"PLAYBOOK_DUCKDB_MEMORY={budget!r} is not a memory size; expected e.g. 1GB or 512MB") from None
        self.con.execute("SET temp_directory = ?", [str(self._spill)])
        # The rules' bounds, bound once as values (see schemas.EARLIEST and Column.past).
        self.con.execute("SET VARIABLE playbook_future_cutoff = ?", [datetime.combine(self.future_after + timedelta(days=1), time())])
        self.con.execute("SET VARIABLE playbook_earliest = ?", [datetime.combine(EARLIEST, time())])
        self.con.execute("SET VARIABLE playbook_latest = ?", [datetime.combine(LATEST + timedelta(days=1), time())])
        if self._db_file:
            try:
                self.con.execute("ATTACH ? AS src (READ_ONLY)", [str(self.path)])
            except duckdb.Error as err:
                self.con.close()
                raise WorkspaceError(_database_problem(self.path, err)) from None
        self.reports: dict[str, TableReport] = {}
        self._fingerprints: dict[tuple[str, ...], str] = {}

    # -- discovery ------------------------------------------------------------------------

    def _file(self, table: str) -> Path | None:
        """The table's file: ``<table>.parquet``, else ``<table>.csv``, whatever kind of entry it is.

        A folder or a named pipe under a table's name is returned too, so that loading says what
        it is rather than calling the table missing (and nothing ever opens a pipe).
        """
        for suffix in (".parquet", ".csv"):
            candidate = self.path / f"{table}{suffix}"
            if candidate.exists() or candidate.is_symlink():
                return candidate
        return None

    def has(self, table: str) -> bool:
        """Whether the workspace holds this table at all (an absent table means "no data")."""
        if self._db_file:
            found = self.con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'src' AND table_name = ?", [table]
            ).fetchone()
            return bool(found and found[0])
        return self._file(table) is not None

    def tables(self) -> list[str]:
        """The canonical tables present, in contract order."""
        return [name for name in TABLES if self.has(name)]

    def fingerprint(self, tables: list[str] | None = None) -> str:
        """A short hash of the tables' contents, so a report can say exactly which data it used."""
        names = tuple(tables or self.tables())
        if names in self._fingerprints:
            return self._fingerprints[names]
        digest = hashlib.sha256()
        for name in names:
            source = self.path if self._db_file else self._file(name)
            if source is None:
                continue
            digest.update(name.encode())
            if not source.is_file():
                digest.update(_entry_kind(source).encode())  # refused at load; never opened
                continue
            with open(source, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        self._fingerprints[names] = digest.hexdigest()[:12]
        return self._fingerprints[names]

    # -- loading and validation -------------------------------------------------------------

    def load(self, table: str) -> TableReport:
        """Validate a table and expose its usable rows as a view of the same name.

        Raises:
            SchemaError: the table is absent, a column is missing, or values do not parse.
        """
        if table in self.reports:
            return self.reports[table]
        contract = get_table(table)
        source = self._source(table)
        label = source.label
        raw = ident(f"_raw_{table}")
        direct = None if source.is_text else self._direct_source(contract, source)
        if direct is not None:
            # Typed columns already as the contract wants them: nothing to parse, so the rows are
            # judged where they lie instead of being copied first (large event tables).
            try:
                direct.create_view(f"_raw_{table}", replace=True)
                found = [r[0] for r in self.con.execute(f"DESCRIBE {raw}").fetchall() if r[0] != "_row"]
                report = self._set_aside(table, contract, raw, label, found, False, direct=True)
            except duckdb.Error as err:
                raise SchemaError(_unreadable(label, err)) from err
            self.reports[table] = report
            return report
        notes: list[str] = []
        copy = f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT row_number() OVER () AS _row, * FROM "
        try:
            self.con.execute(copy + source.sql, source.params)
        except duckdb.Error as err:
            if not (source.is_text and "not utf-8" in str(err).lower()):
                raise SchemaError(_unreadable(label, err)) from err
            source, note = self._transcoded(table)
            notes.append(note)
            try:
                self.con.execute(copy + source.sql, source.params)
            except duckdb.Error as again:
                raise SchemaError(_unreadable(label, again)) from again
        found = [r[0] for r in self.con.execute(f"DESCRIBE {raw}").fetchall() if r[0] != "_row"]
        missing = [c for c in contract.column_names if c not in found]
        if missing:
            raise SchemaError(
                f"{label}: missing column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing)}; expected columns: {', '.join(contract.column_names)}; "
                f"found: {', '.join(found) or 'none'}"
            )
        for column in contract.columns:
            self._check_type(raw, label, column, source.is_text)
        report = self._set_aside(table, contract, raw, label, found, source.is_text)
        if notes:
            report = TableReport(report.table, report.source, report.rows_read, report.set_aside, report.cleared, tuple(notes))
        self.reports[table] = report
        return report

    def _transcoded(self, table: str) -> tuple[_Source, str]:
        """A UTF-8 copy, outside the workspace, of a CSV file saved as Windows-1252 or Latin-1.

        Spreadsheets on Windows save "CSV" as Windows-1252 by default; Latin-1 is its subset
        without the printable characters at 0x80-0x9F (curly quotes, the euro sign).
        """
        path = self._file(table)
        assert path is not None
        data = path.read_bytes()
        bad = _first_non_utf8(data)
        line = data.count(b"\n", 0, bad) + 1
        text, encoding = decode_legacy(data)
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="playbook-utf8-"))
        copy = self._scratch / path.name
        copy.write_text(text, encoding="utf-8")
        note = (
            f"not UTF-8 (first at line {line}, byte 0x{data[bad]:02X}); read as {encoding}. "
            "Check accented text in the report, and save the file as UTF-8 to be sure"
        )
        return _Source(_CSV_READER, (str(copy),), path.name, True, copy), note

    def _source(self, table: str) -> _Source:
        """Where a table's rows come from, as a FROM item whose file path is a bound value."""
        if self._db_file:
            if not self.has(table):
                raise SchemaError(f"{self.path}: no table '{table}'; tables present: {', '.join(self.tables()) or 'none'}")
            return _Source(f"src.main.{ident(table)}", (), f"{self.path.name}:{table}", False, None)
        path = self._file(table)
        columns = ", ".join(get_table(table).column_names)
        if path is None:
            raise SchemaError(f"{self.path}: missing table file {table}.csv or {table}.parquet (expected columns: {columns})")
        if not path.is_file():
            raise SchemaError(f"{path.name}: {_entry_kind(path)}, not a table file; expected a CSV or Parquet file with the columns {columns}")
        if path.suffix == ".parquet":
            with open(path, "rb") as handle:
                magic = handle.read(64)
            if not magic.startswith(b"PAR1"):
                looks = "CSV text" if b"," in magic or b";" in magic else "something else"
                begins = magic[:24].decode("utf-8", "replace").splitlines()[0] if magic.strip() else ""
                raise SchemaError(
                    f"{path.name}: not a Parquet file (it begins {begins!r}, which looks like {looks}); "
                    f"if it is CSV, rename it to {table}.csv"
                )
            return _Source("read_parquet(?)", (str(path),), path.name, False, path)
        if _blank(path):
            raise SchemaError(f"{path.name}: the file is empty; expected a header row with the columns {columns}")
        width = _header_width(path)
        if width > MAX_COLUMNS:
            raise SchemaError(
                f"{path.name}: the header has {width:,} columns, more than the {MAX_COLUMNS:,} a table may have; "
                f"expected the columns {columns} (and any of your own); is this the right file?"
            )
        return _Source(_CSV_READER, (str(path),), path.name, True, path)

    def _direct_source(self, contract: Table, source: _Source) -> duckdb.DuckDBPyRelation | None:
        """The rows of a typed source numbered in place, or None when they must be copied.

        Only for tables without a key (a repeated-key check needs every row numbered in order, so
        keyed tables, all small, are copied) whose contract columns all have their contract's
        types already (Parquet or DuckDB columns): then no value needs parsing and every rule can
        be checked on the source itself.
        """
        if contract.key:
            return None
        try:
            types = {r[0]: r[1] for r in self.con.execute(f"DESCRIBE SELECT * FROM {source.sql}", source.params).fetchall()}
        except duckdb.Error:
            return None  # unreadable: the copying path says why
        if source.path is not None and "file_row_number" in types:
            return None  # the file's own column would clash with the row numbers read_parquet adds
        select = []
        for column in contract.columns:
            kind, col = types.get(column.name), ident(column.name)
            if kind not in _NATIVE[column.type]:
                return None
            canonical = _NATIVE[column.type][0]
            select.append(col if kind == canonical else f"CAST({col} AS {canonical}) AS {col}")
        if source.path is None:
            rows, numbered = "rowid + 1", source.sql
        else:
            rows, numbered = "file_row_number + 1", "read_parquet(?, file_row_number = true)"
        others = ", ".join([*(ident(c) for c in contract.column_names), *(["file_row_number"] if source.path else [])])
        extras = [c for c in types if c not in contract.column_names]
        tail = f", * EXCLUDE ({others})" if extras else ""
        return self.con.sql(f"SELECT {rows} AS _row, {', '.join(select)}{tail} FROM {numbered}", params=list(source.params))

    def _value(self, column: Column, is_text: bool) -> str:
        col = ident(column.name)
        return f"NULLIF(TRIM({col}), '')" if is_text else col

    def _typed(self, column: Column, is_text: bool) -> str:
        value = self._value(column, is_text)
        if column.type == "string":
            return f"CAST({value} AS VARCHAR)"
        if column.type in ("int", "float"):
            return f"TRY_CAST({value} AS DOUBLE)"
        if column.type == "bool":
            return f"TRY_CAST({value} AS BOOLEAN)"
        return f"CAST(TRY_CAST({value} AS TIMESTAMPTZ) AS TIMESTAMP)"

    def _check_type(self, raw: str, label: str, column: Column, is_text: bool) -> None:
        if column.type == "string":
            return
        value, typed = self._value(column, is_text), self._typed(column, is_text)
        unparsed = f"{typed} IS NULL"
        if column.type == "int":
            # NaN, infinity and numbers past what a double holds exactly (2^53, about 9e15) are not
            # whole numbers: refused as unparsed, rather than cast wrongly or failing in the database.
            unparsed += f" OR NOT isfinite({typed}) OR abs({typed}) >= 1e15"
        bad = self.con.execute(
            f"SELECT _row, CAST({value} AS VARCHAR) FROM {raw} WHERE {value} IS NOT NULL AND ({unparsed}) ORDER BY _row"
        ).fetchall()
        if bad:
            shown = ", ".join(f"row {row}: {val!r}" for row, val in bad[:EXAMPLES])
            raise SchemaError(
                f"{label}: column '{column.name}' expected {TYPE_NAMES[column.type]}; "
                f"{len(bad):,} value{'s' if len(bad) > 1 else ''} do{'es' if len(bad) == 1 else ''} not parse ({shown})"
            )

    def _set_aside(
        self, table: str, contract: Table, raw: str, label: str, found: list[str], is_text: bool, direct: bool = False
    ) -> TableReport:
        columns, rules, clears = [], [], []
        for column in contract.columns:
            col, parsed = ident(column.name), self._typed(column, is_text)
            missing = f"{col} IS NULL"
            if direct:
                columns.append(col)
            elif column.type == "int":
                # Keep the parsed number beside the whole-number column, so 7.5 is reported as
                # "not whole" rather than as empty.
                number = ident("_num_" + column.name)
                columns.append(f"CAST(CASE WHEN {parsed} = floor({parsed}) THEN {parsed} END AS BIGINT) AS {col}")
                columns.append(f"{parsed} AS {number}")
                rules.append((column.name, "is not a whole number", f"{number} <> floor({number})", number))
                missing = f"{number} IS NULL"
            else:
                columns.append(f"{parsed} AS {col}")
            if not column.nullable:
                rules.append((column.name, "is empty but required", missing, col))
            # Values that cannot be true are set aside before any other rule judges them.
            if column.type == "float":
                rules.append((column.name, "is not a finite number", f"NOT isfinite({col})", col))
            if column.type == "timestamp":
                plausible = f"{col} >= getvariable('playbook_earliest') AND {col} < getvariable('playbook_latest')"
                rules.append((column.name, f"expected {PLAUSIBLE_DATES}", f"NOT ({plausible})", f"CAST({col} AS VARCHAR)"))
            if column.check and column.clear:
                clears.append((column.name, f"expected {column.expect}", f"NOT ({column.check.format(col=col)})", col))
            elif column.check:
                rules.append((column.name, f"expected {column.expect}", f"NOT ({column.check.format(col=col)})", col))
            if column.past:
                after = self.future_after.isoformat()
                rules.append((column.name, f"is in the future (after {after})", f"{col} >= getvariable('playbook_future_cutoff')", col))
        extras = [c for c in found if c not in contract.column_names and not c.startswith("_")]
        columns += [ident(c) for c in extras]
        duplicate = "1"
        if contract.key:
            key = ", ".join(ident(k) for k in contract.key)
            duplicate = f"row_number() OVER (PARTITION BY {key} ORDER BY _row)"
            shown = ident(contract.key[0]) if len(contract.key) == 1 else f"concat_ws(' / ', {key})"
            what = "an id" if len(contract.key) == 1 else f"a ({', '.join(contract.key)}) pair"
            rules.append((" + ".join(contract.key), f"repeats {what} already used in an earlier row", "_dup > 1", shown))
        for ref in contract.references:
            # Point-nowhere rows are only judged when the referenced table is there to judge by.
            if self.has(ref.table):
                target = self.load(ref.table)
                col = ident(ref.column)
                rules.append((
                    ref.column,
                    f"refers to {'an' if ref.target[0] in 'aeiou' else 'a'} {ref.target} missing from {target.source}",
                    f"{col} IS NOT NULL AND {col} NOT IN (SELECT {ident(ref.target)} FROM {ident(ref.table)})",
                    col,
                ))
        # The first rule a row breaks is the reason it is set aside.
        reason = "CASE " + " ".join(f"WHEN {broken} THEN {i}" for i, (_, _, broken, _) in enumerate(rules)) + " END"
        checked = f"_checked_{table}"
        self.con.execute(
            f"CREATE OR REPLACE TEMP {'VIEW' if direct else 'TABLE'} {checked} AS SELECT *, {reason} AS _reason FROM "
            f"(SELECT _row, {', '.join(columns)}, {duplicate} AS _dup FROM {raw})"
        )
        # Values that break a "clear" rule are emptied in rows that are otherwise kept.
        cleared = []
        for name, words, broken, shown in clears:
            bad = f"_reason IS NULL AND {broken}"
            count = self.con.execute(f"SELECT count(*) FROM {checked} WHERE {bad}").fetchone()[0]
            if count:
                examples = self.con.execute(f"SELECT _row, {shown} FROM {checked} WHERE {bad} ORDER BY _row LIMIT {EXAMPLES}").fetchall()
                cleared.append(SetAside(name, words, int(count), tuple((int(r), _plain(v)) for r, v in examples)))
        clear_sql = {name: f"CASE WHEN {broken} THEN NULL ELSE {ident(name)} END AS {ident(name)}" for name, _, broken, _ in clears}
        keep = ", ".join(clear_sql.get(c, ident(c)) for c in (*contract.column_names, *extras))
        rows_read = self.con.execute(f"SELECT count(*) FROM {raw}").fetchone()[0]
        set_aside = []
        counts = self.con.execute(
            f"SELECT _reason, count(*) FROM {checked} WHERE _reason IS NOT NULL GROUP BY _reason ORDER BY _reason"
        ).fetchall()
        # A table checked in place is read again by every query: the rules stay in its view, so
        # a file replaced after the check still cannot bring an unchecked row into a report.
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {ident(table)} AS SELECT {keep} FROM {checked} WHERE _reason IS NULL")
        for index, count in counts:
            name, words, _, shown = rules[index]
            examples = self.con.execute(
                f"SELECT _row, {shown} FROM {checked} WHERE _reason = ? ORDER BY _row LIMIT {EXAMPLES}", [index]
            ).fetchall()
            set_aside.append(SetAside(name, words, int(count), tuple((int(r), _plain(v)) for r, v in examples)))
        return TableReport(table, label, int(rows_read), tuple(set_aside), tuple(cleared))

    # -- reading -------------------------------------------------------------------------------

    def read(
        self,
        table: str,
        products: list[str] | None = None,
        start: date | None = None,
        teams: list[str] | None = None,
        end: date | None = None,
        columns: list[str] | None = None,
    ):
        """The usable rows of a table as a pandas DataFrame, filtered in SQL.

        Args:
            table: a canonical table name.
            products: keep rows whose ``product`` is one of these (tables with a product column).
            teams: keep rows whose ``team`` is one of these, for tables with a team column but no
                product column (requests, trainings, seats).
            start, end: keep rows whose time column falls on these dates, both inclusive.
            columns: the columns to return (default: all).
        """
        self.load(table)
        contract = get_table(table)
        where, args = [], []
        if products is not None and "product" in contract.column_names:
            where.append("product IN (SELECT UNNEST(?))")
            args.append(list(products))
        elif teams is not None and "team" in contract.column_names and "product" not in contract.column_names:
            where.append("team IN (SELECT UNNEST(?))")
            args.append(list(teams))
        if contract.time_column and start is not None:
            where.append(f"{ident(contract.time_column)} >= ?")
            args.append(start)
        if contract.time_column and end is not None:
            where.append(f"{ident(contract.time_column)} < ?")
            args.append(end + timedelta(days=1))
        select = ", ".join(ident(c) for c in columns) if columns else "*"
        sql = f"SELECT {select} FROM {ident(table)}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        # A DuckDB scan returns rows in no promised order; sums taken in a different order can
        # move a figure in its last shown digit, so rows come in key order, for reports that
        # read the same every time.
        order = [c for c in (contract.key or contract.column_names) if not columns or c in columns]
        if order:
            sql += " ORDER BY " + ", ".join(ident(c) for c in order)
        return self.con.execute(sql, args).df()

    def relation(self, table: str, products: list[str] | None = None) -> duckdb.DuckDBPyRelation:
        """The usable rows of a table as a lazy DuckDB relation, for aggregation in SQL (events).

        Args:
            table: a canonical table name.
            products: keep rows whose ``product`` is one of these.
        """
        self.load(table)
        if products is not None and "product" in get_table(table).column_names:
            return self.con.sql(f"SELECT * FROM {ident(table)} WHERE product IN (SELECT UNNEST(?))", params=[list(products)])
        return self.con.sql(f"SELECT * FROM {ident(table)}")

    def text_rows(self, table: str, columns: list[str], last: int) -> Any:
        """The last ``last`` rows of a loaded text table as read, before any rule: each value as
        written (trimmed, empty for none), for checking what a file really holds."""
        import pandas as pd

        self.load(table)
        if last <= 0:
            return pd.DataFrame(columns=columns)
        cells = ", ".join(f"coalesce(TRIM(CAST({ident(c)} AS VARCHAR)), '') AS {ident(c)}" for c in columns)
        raw = ident(f"_raw_{table}")
        frame = self.con.execute(f"SELECT {cells} FROM (SELECT * FROM {raw} ORDER BY _row DESC LIMIT ?) ORDER BY _row", [last]).df()
        return frame.astype(str).reset_index(drop=True)

    def held(self, table: str, columns: list[str]) -> Any:
        """Every row of a loaded table, set aside or not, with ``columns`` typed as the contract
        reads them (a value that does not parse is empty), in file order."""
        self.load(table)
        wanted = ", ".join(ident(c) for c in columns)
        return self.con.execute(f"SELECT {wanted} FROM {ident('_checked_' + table)} ORDER BY _row").df()

    def unseen(self, table: str, incoming: Any) -> Any:
        """Which rows of ``incoming`` (a frame typed like the table) the table does not hold yet.

        A row is held when a row of the table, set aside or not, has the same key, or for a table
        without a key the same value in every contract column (NULLs equal, times to the
        microsecond). Returns a boolean Series aligned with ``incoming``.
        """
        import pandas as pd

        self.load(table)
        contract = get_table(table)
        columns = list(contract.key) or list(contract.column_names)
        probe = incoming[columns].reset_index(drop=True).assign(_at=range(len(incoming)))
        # Without a key, identical rows are counted: a row the table holds once and the import twice
        # (two clicks in the same instant) adds one.
        probe["_copy"] = probe.groupby(columns, sort=False, dropna=False).cumcount() if not contract.key else 0
        held_rows = ident("_checked_" + table)
        if not contract.key:
            keys = ", ".join(ident(c) for c in columns)
            held_rows = f"(SELECT *, row_number() OVER (PARTITION BY {keys}) - 1 AS _copy FROM {held_rows})"
        self.con.register("_incoming", probe)
        try:
            same = " AND ".join(f"e.{ident(c)} IS NOT DISTINCT FROM n.{ident(c)}" for c in columns)
            same += "" if contract.key else " AND e._copy = n._copy"
            held = {
                row[0] for row in self.con.execute(
                    f"SELECT n._at FROM _incoming n WHERE EXISTS (SELECT 1 FROM {held_rows} e WHERE {same})"
                ).fetchall()
            }
        finally:
            self.con.unregister("_incoming")
        return pd.Series([i not in held for i in range(len(incoming))], index=incoming.index)

    def empty(self, table: str) -> duckdb.DuckDBPyRelation:
        """A relation with the table's contract columns and types and no rows (for absent optional tables)."""
        columns = ", ".join(f"CAST(NULL AS {SQL_TYPES[c.type]}) AS {ident(c.name)}" for c in get_table(table).columns)
        return self.con.sql(f"SELECT {columns} WHERE false")

    def sql(self, query: str, params: list[Any] | None = None):
        """Run SQL over loaded tables (load them first) and return a DataFrame."""
        return self.con.execute(query, params or []).df()

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self._spill, ignore_errors=True)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# DuckDB column types that already hold each contract type, so the column needs no parsing.
_NATIVE: dict[str, tuple[str, ...]] = {
    # The first is the type a loaded column has; the others are cast to it as they are read.
    "string": ("VARCHAR",),
    "int": ("BIGINT", "TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT", "UINTEGER"),
    "float": ("DOUBLE", "FLOAT", "TINYINT", "SMALLINT", "INTEGER", "BIGINT"),
    "bool": ("BOOLEAN",),
    "timestamp": ("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE"),
}


# Every file is read through a bound path, never a path written into the SQL.
_CSV_READER = "read_csv(?, all_varchar = true, header = true)"


@dataclass(frozen=True)
class _Source:
    """A table's rows as a FROM item (``sql``) with the values its markers bind (``params``)."""

    sql: str
    params: tuple[str, ...]
    label: str
    is_text: bool
    path: Path | None


def decode_legacy(data: bytes) -> tuple[str, str]:
    """Bytes that are not UTF-8 as Windows-1252 text (Latin-1 where that fails), and the encoding's name."""
    try:
        return data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "Latin-1"


def _entry_kind(path: Path) -> str:
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


def _header_width(path: Path) -> int:
    """How many columns the first line of a CSV file names (comma or semicolon separated)."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 20)
    line = head.lstrip(b"\xef\xbb\xbf\r\n \t").split(b"\n", 1)[0]
    return max(line.count(b","), line.count(b";"), line.count(b"\t")) + 1


def _unreadable(label: str, err: Exception) -> str:
    """Why a table could not be read, in words a user can act on."""
    if isinstance(err, duckdb.OutOfMemoryException):
        return (f"{label}: reading it needs more memory than the playbook's budget for the database "
                f"({os.environ.get('PLAYBOOK_DUCKDB_MEMORY', '1GB')}); set PLAYBOOK_DUCKDB_MEMORY (e.g. 4GB) to allow more")
    return f"{label}: cannot be read as a table: {first_line(err)}"


def _database_problem(path: Path, err: Exception) -> str:
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


def _first_non_utf8(data: bytes) -> int:
    """The offset of the first byte that breaks UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start
    return len(data)


def _blank(path: Path) -> bool:
    """Whether a file holds nothing but whitespace (or a byte-order mark)."""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            if block.replace(b"\xef\xbb\xbf", b"").strip():
                return False
    return True


def first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _plain(value: Any) -> Any:
    """An example value as a user wrote it: whole floats as ints, times as ISO text."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value


def validate(path: Path | str, tables: list[str] | None = None) -> tuple[list[TableReport], list[str]]:
    """Validate every table present (or the ones named): reports for loaded tables, errors for the rest."""
    reports, errors = [], []
    with Workspace(path) as ws:
        for table in tables or ws.tables():
            try:
                reports.append(ws.load(table))
            except SchemaError as err:
                errors.append(str(err))
    return reports, errors
