"""Loading one table of a workspace: read through DuckDB, checked against its contract, rows that
break a rule set aside with the reason (the :class:`TableLoader` half of
:class:`~playbook.workspace.Workspace`).

- a missing file or column, or a column whose values do not parse as its type, raises
  :class:`~playbook.errors.SchemaError` naming the file, the column, the expected type and
  example rows;
- rows that break a rule (a score of 11, a negative ARR, a missing required value, a repeated
  id, a time in the future) are set aside and listed in the workspace's ``reports``, never used;
- files as spreadsheets really save them are read: a UTF-8 byte-order mark, semicolons as
  delimiters, quoted line breaks, and Windows-1252/Latin-1 text (noted in the report).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from playbook.errors import SchemaError
from playbook.schemas import MAX_COLUMNS, PLAUSIBLE_DATES, TYPE_NAMES, Column, Table, get_table
from playbook.tablefiles import (
    CSV_READER, NATIVE_TYPES, Source, decode_legacy, entry_kind, first_non_utf8, header_width, is_blank, plain_value, unreadable,
)

EXAMPLES = 5


@dataclass(frozen=True)
class SetAside:
    """Rows of one table set aside for one reason."""

    column: str
    rule: str
    count: int
    examples: tuple[tuple[int, Any], ...]

    def describe(self) -> str:
        shown = ", ".join(("" if row is None else f"row {row}: ") + ('empty' if value is None else repr(value))
                          for row, value in self.examples)
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


class TableLoader:
    """Loading and validating tables; mixed into :class:`~playbook.workspace.Workspace`, whose
    connection (``con``), path, scratch folder and ``reports`` it uses."""

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
        if source.database:
            self._check_columns(contract, source)
        direct = None if source.is_text else self._direct_source(contract, source)
        if direct is not None:
            # Typed columns already as the contract wants them: nothing to parse, so the rows are
            # judged where they lie instead of being copied first (large event tables).
            try:
                self.con.execute(f"CREATE OR REPLACE TEMP VIEW {raw} AS {direct}")
                found = [r[0] for r in self.con.execute(f"DESCRIBE {raw}").fetchall() if r[0] != "_row"]
                report = self._set_aside(table, contract, raw, label, found, False, direct=True)
            except duckdb.Error as err:
                raise SchemaError(unreadable(label, err)) from err
            self.reports[table] = report
            return report
        notes: list[str] = []
        copy = f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT row_number() OVER () AS _row, * FROM "
        try:
            if source.database:
                # A warehouse's rows come in no promised order: they are numbered in the order of
                # all their values, so "row 3" and the earlier of two repeated ids are the same
                # every run (a table's rowid follows the order its rows were inserted in).
                ordered = ident(f"_sorted_{table}")
                self.con.execute(f"CREATE OR REPLACE TEMP TABLE {ordered} AS SELECT * FROM {source.sql} ORDER BY ALL", source.params)
                self.con.execute(f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT rowid + 1 AS _row, * FROM {ordered}")
                self.con.execute(f"DROP TABLE {ordered}")
            else:
                self.con.execute(copy + source.sql, source.params)
        except duckdb.Error as err:
            if not (source.is_text and "not utf-8" in str(err).lower()):
                raise SchemaError(unreadable(label, err)) from err
            source, note = self._transcoded(table)
            notes.append(note)
            try:
                self.con.execute(copy + source.sql, source.params)
            except duckdb.Error as again:
                raise SchemaError(unreadable(label, again)) from again
        # DuckDB matches names whatever their case, so a header "Function" is the contract's
        # "function" (adding the column again would clash with it).
        by_case = {name.casefold(): name for name in contract.column_names}
        found = [by_case.get(r[0].casefold(), r[0]) for r in self.con.execute(f"DESCRIBE {raw}").fetchall() if r[0] != "_row"]
        missing = [c.name for c in contract.columns if c.name not in found and not c.optional]
        for column in contract.columns:
            if column.optional and column.name not in found:
                # A column the contract added later, absent from this file: read as empty.
                added = ident(column.name)
                self.con.execute(f"ALTER TABLE {raw} ADD COLUMN {added} VARCHAR")
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

    def _check_columns(self, contract: Table, source: Source) -> None:
        """A database table's missing columns, named before any row is read (a table that cannot
        be checked where it lies is copied first, which for the events would be every row)."""
        try:
            found = [r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {source.sql}", source.params).fetchall()]
        except duckdb.Error as err:
            raise SchemaError(unreadable(source.label, err)) from err
        by_case = {name.casefold() for name in found}
        missing = [c.name for c in contract.columns if c.name.casefold() not in by_case and not c.optional]
        if missing:
            raise SchemaError(
                f"{source.label}: missing column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing)}; expected columns: {', '.join(contract.column_names)}; "
                f"found: {', '.join(found) or 'none'}"
            )

    def _transcoded(self, table: str) -> tuple[Source, str]:
        """A UTF-8 copy, outside the workspace, of a CSV file saved as Windows-1252 or Latin-1.

        Spreadsheets on Windows save "CSV" as Windows-1252 by default; Latin-1 is its subset
        without the printable characters at 0x80-0x9F (curly quotes, the euro sign).
        """
        path = self._file(table)
        assert path is not None
        data = path.read_bytes()
        bad = first_non_utf8(data)
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
        return Source(CSV_READER, (str(copy),), path.name, True, copy), note

    def _source(self, table: str) -> Source:
        """Where a table's rows come from, as a FROM item whose file path is a bound value."""
        if self._target is not None:
            if not self.has(table):
                raise SchemaError(f"{self.path}: no table '{table}' in the schema {self._places[table].schema}; "
                                  f"tables found: {', '.join(self.tables()) or 'none'}")
            return self._warehouse_source(table)
        if self._db_file:
            if not self.has(table):
                raise SchemaError(f"{self.path}: no table '{table}'; tables present: {', '.join(self.tables()) or 'none'}")
            return Source(f"{ident(self._catalog)}.main.{ident(table)}", (), f"{self.path.name}:{table}", False, None)
        path = self._file(table)
        columns = ", ".join(get_table(table).column_names)
        if path is None:
            raise SchemaError(f"{self.path}: missing table file {table}.csv or {table}.parquet (expected columns: {columns})")
        if not path.is_file():
            raise SchemaError(f"{path.name}: {entry_kind(path)}, not a table file; expected a CSV or Parquet file with the columns {columns}")
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
            return Source("read_parquet(?)", (str(path),), path.name, False, path)
        if is_blank(path):
            raise SchemaError(f"{path.name}: the file is empty; expected a header row with the columns {columns}")
        width = header_width(path)
        if width > MAX_COLUMNS:
            raise SchemaError(
                f"{path.name}: the header has {width:,} columns, more than the {MAX_COLUMNS:,} a table may have; "
                f"expected the columns {columns} (and any of your own); is this the right file?"
            )
        return Source(CSV_READER, (str(path),), path.name, True, path)

    def _direct_source(self, contract: Table, source: Source) -> str | None:
        """The query of a typed source's rows numbered in place, or None when they must be copied.

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
            if kind is None and column.optional:
                # A column the contract added later, absent from this file: read as empty.
                select.append(f"CAST(NULL AS {NATIVE_TYPES[column.type][0]}) AS {col}")
                continue
            if kind not in NATIVE_TYPES[column.type]:
                return None
            canonical = NATIVE_TYPES[column.type][0]
            select.append(col if kind == canonical else f"CAST({col} AS {canonical}) AS {col}")
        if source.database:
            # A warehouse table checked where it lies has no row numbers (PostgreSQL keeps no row
            # order); its set-aside rows are shown by their values.
            rows, numbered = "CAST(NULL AS BIGINT)", source.sql
        elif source.path is None:
            rows, numbered = "rowid + 1", source.sql
        else:
            rows, numbered = "file_row_number + 1", "read_parquet(?, file_row_number = true)"
        # The relation must stay lazy: DuckDB runs a query given bound parameters at once and
        # keeps its result, which would hold the whole table in memory. The values (a file's
        # path, a mapped query) are bound as session variables the view reads instead.
        for index, value in enumerate(source.params):
            variable = f"playbook_source_{len(self.reports)}_{index}"
            self.con.execute(f"SET VARIABLE {ident(variable)} = ?", [value])
            numbered = numbered.replace("?", f"getvariable('{variable}')", 1)
        present = [c for c in contract.column_names if c in types]
        others = ", ".join([*(ident(c) for c in present), *(["file_row_number"] if source.path else [])])
        extras = [c for c in types if c not in contract.column_names]
        tail = f", * EXCLUDE ({others})" if extras else ""
        return f"SELECT {rows} AS _row, {', '.join(select)}{tail} FROM {numbered}"

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
            what = "an id" if len(contract.key) == 1 else f"a ({', '.join(contract.key)}) {'pair' if len(contract.key) == 2 else 'combination'}"
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
                examples = self.con.execute(f"SELECT _row, {shown} FROM {checked} WHERE {bad} ORDER BY _row, {shown} LIMIT {EXAMPLES}").fetchall()
                cleared.append(SetAside(name, words, int(count), tuple((None if r is None else int(r), plain_value(v)) for r, v in examples)))
        clear_sql = {name: f"CASE WHEN {broken} THEN NULL ELSE {ident(name)} END AS {ident(name)}" for name, _, broken, _ in clears}
        keep = ", ".join(clear_sql.get(c, ident(c)) for c in (*contract.column_names, *extras))
        set_aside = []
        # One pass counts the rows and each reason (a table checked in place is read once here).
        tally = self.con.execute(f"SELECT _reason, count(*) FROM {checked} GROUP BY _reason ORDER BY _reason").fetchall()
        rows_read = sum(count for _, count in tally)
        counts = [(reason, count) for reason, count in tally if reason is not None]
        # A table checked in place is read again by every query: the rules stay in its view, so
        # a file replaced after the check still cannot bring an unchecked row into a report.
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {ident(table)} AS SELECT {keep} FROM {checked} WHERE _reason IS NULL")
        for index, count in counts:
            name, words, _, shown = rules[index]
            examples = self.con.execute(
                f"SELECT _row, {shown} FROM {checked} WHERE _reason = ? ORDER BY _row, {shown} LIMIT {EXAMPLES}", [index]
            ).fetchall()
            set_aside.append(SetAside(name, words, int(count), tuple((None if r is None else int(r), plain_value(v)) for r, v in examples)))
        return TableReport(table, label, int(rows_read), tuple(set_aside), tuple(cleared))
