"""The workspace: canonical tables read through DuckDB, in-process, validated on load.

A workspace is a folder of ``<table>.csv`` or ``<table>.parquet`` files (DESIGN.md section 3),
a ``.duckdb`` file holding tables of those names, or a PostgreSQL database named by a
``postgresql://`` URL (:mod:`playbook.warehouse`: attached read-only, tables mapped by params). Loading a table checks it against its
contract in :mod:`playbook.schemas` (:mod:`playbook.tableload` does the loading): bad files and
columns raise a :class:`~playbook.errors.SchemaError` naming them; rows that break a rule are set
aside, listed in :attr:`Workspace.reports` and never used.

Files are only ever read: nothing in the workspace is written, moved or locked.

All filtering by product and period is done in SQL. This module is the only one that reads data.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb

from playbook.errors import SchemaError, WorkspaceError
from playbook.schemas import EARLIEST, LATEST, SQL_TYPES, TABLES, get_table
from playbook.tablefiles import Source, database_problem, entry_kind
from playbook.tableload import TableLoader, TableReport, ident
from playbook.warehouse import (
    ALIAS, Mapped, Target, WarehouseError, as_double, attach, fingerprint_sql, is_url, mapping, password, server_reason,
)


# The columns of accounts an explorer narrows every account's rows by.
ACCOUNT_FILTERS = frozenset({"segment", "plan"})


class Workspace(TableLoader):
    """Canonical tables of one workspace, loaded lazily and validated once per table.

    Args:
        path: a folder of CSV/Parquet files, a ``.duckdb`` file or a ``postgresql://`` URL.
        now: the moment times are judged against ("in the future"); default the current time.
        warehouse: params' :class:`~playbook.config.WarehouseParams` for a URL (schema, the
            password's variable, the tables' mapping); ignored for files.

    Raises:
        WorkspaceError: the path does not exist or is not a folder or DuckDB file.
        WarehouseError: the database cannot be reached, or its mapping names what it lacks.
    """

    def __init__(self, path: Path | str, now: datetime | None = None, warehouse: Any = None):
        today = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).date()
        # A day of slack: a value written "tomorrow" in a time zone ahead of UTC is not an error.
        self.future_after = today + timedelta(days=1)
        self._scratch: Path | None = None
        self._target: Target | None = None
        self._places: dict[str, Mapped] = {}
        self._present: set[str] = set()
        self._relations = 0
        self._server_prints: dict[str, str] = {}
        if is_url(path):
            self._target = Target.parse(str(path))
            self.path = self._target.shown
            self._db_file, self._catalog = False, "memory"
            self.con = duckdb.connect(":memory:")
            self._settings()
            try:
                attach(self.con, self._target, password(getattr(warehouse, "password_env", None)))
                self._places = mapping(warehouse, list(TABLES))
                self._check_places(warehouse)
            except BaseException:
                self.con.close()
                raise
            self.reports: dict[str, TableReport] = {}
            self._fingerprints: dict[tuple[str, ...], str] = {}
            return
        self.path = Path(path)
        if not self.path.exists():
            raise WorkspaceError(
                f"workspace {self.path} does not exist; create it with `playbook sample --out {self.path}` "
                "or point `workspace:` in params at your data"
            )
        self._db_file = self.path.suffix == ".duckdb" and self.path.is_file()
        if not self._db_file and not self.path.is_dir():
            raise WorkspaceError(f"workspace {self.path} is neither a folder nor a .duckdb file")
        # A database file is opened read-only as the connection's own catalog (DuckDB takes no
        # bound value in ATTACH, and the playbook never writes a path into SQL); its temporary
        # tables and views hold the checked rows, as an in-memory connection's do.
        self._catalog = "memory"
        if self._db_file:
            try:
                self.con = duckdb.connect(str(self.path), read_only=True)
            except duckdb.Error as err:
                raise WorkspaceError(database_problem(self.path, err)) from None
            self._catalog = self.con.execute("SELECT current_database()").fetchone()[0]
        else:
            self.con = duckdb.connect(":memory:")
        self._settings()
        self.reports = {}
        self._fingerprints = {}

    def _settings(self) -> None:
        """The connection's time zone, memory budget, spill folder and the rules' bounds."""
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

    @property
    def is_warehouse(self) -> bool:
        """Whether the workspace is a PostgreSQL database (read through DuckDB's postgres extension)."""
        return self._target is not None

    def _check_places(self, warehouse: Any) -> None:
        """Check, at open, that every table the mapping names exists and every mapped query runs.

        Raises:
            WarehouseError: one message naming each problem and the server.
        """
        found = self.con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = ?", [ALIAS]
        ).fetchall()
        objects = {(schema, name) for schema, name in found}
        problems = []
        for table, place in self._places.items():
            if place.sql:
                try:
                    sql, values = place.from_item()
                    self.con.execute(f"DESCRIBE SELECT * FROM {sql}", list(values))
                except duckdb.Error as err:
                    problems.append(f"the query for {table} fails: {server_reason(err)}")
                    continue
                self._present.add(table)
            elif (place.schema, place.name) in objects:
                self._present.add(table)
            elif place.explicit:
                near = sorted(n for s_, n in objects if s_ == place.schema)[:8]
                problems.append(f"{table} is mapped to the table {place.schema}.{place.name}, which the server does not have"
                                + (f" (the schema {place.schema} holds: {', '.join(near)})" if near else f" (no schema {place.schema} there)"))
        schema = getattr(warehouse, "schema_name", "public")
        named = warehouse is not None and "schema_name" in warehouse.model_fields_set
        defaults = [t for t, place in self._places.items() if not place.explicit]
        if named and defaults and not any(t in self._present for t in defaults):
            # A schema params name on purpose that holds none of the tables left to it is a typo,
            # not a workspace without data: say so, rather than render every report without them.
            schemas = sorted({s_ for s_, _ in objects})
            problems.append(f"the schema {schema} (warehouse.schema) holds none of the canonical tables "
                            f"({', '.join(defaults)}); schemas there: {', '.join(schemas) or 'none'}")
        if problems:
            raise WarehouseError(f"workspace {self.path}: " + "; ".join(problems))
        if not self._present:
            raise WarehouseError(
                f"workspace {self.path}: the schema {schema} holds none of the canonical tables ({', '.join(TABLES)}); "
                "set warehouse.schema to the schema that does, or map each table in warehouse.tables (README, Live data)"
            )

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
        if self._target is not None:
            return table in self._present
        if self._db_file:
            found = self.con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' AND table_name = ?",
                [self._catalog, table],
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
        if self._target is not None:
            for name in names:
                if name in self._present:
                    if name not in self._server_prints:  # one query per table per open workspace
                        self._server_prints[name] = self._server_fingerprint(name)
                    digest.update(self._server_prints[name].encode())
            self._fingerprints[names] = digest.hexdigest()[:12]
            return self._fingerprints[names]
        for name in names:
            source = self.path if self._db_file else self._file(name)
            if source is None:
                continue
            digest.update(name.encode())
            if not source.is_file():
                digest.update(entry_kind(source).encode())  # refused at load; never opened
                continue
            with open(source, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        self._fingerprints[names] = digest.hexdigest()[:12]
        return self._fingerprints[names]

    def _server_fingerprint(self, table: str) -> str:
        """What the server says of a table, cheaply (README, Live data): its place in the mapping,
        its row count and the latest of each time column, and for a table with a key (records
        that change in place) the sum of every row's hash. The events, a log without a key, are
        judged by count and latest time alone, which spares hashing every row of the largest
        table on every run; a log edited in place is seen with ``--force``."""
        place, contract = self._places[table], get_table(table)
        times = [c.name for c in contract.columns if c.type == "timestamp" and not c.optional]
        query = fingerprint_sql(place, times, checksum=bool(contract.key))
        try:
            row = self.con.execute(f"SELECT * FROM postgres_query({ident(ALIAS)}, ?)", [query]).fetchone()
        except duckdb.Error as err:
            raise SchemaError(f"{self._label(table)}: cannot be read: {server_reason(err)}") from None
        return "|".join([table, place.what, place.sql, *("" if v is None else str(v) for v in row or ())])

    def _warehouse_source(self, table: str) -> Source:
        """A warehouse table as a FROM item.

        A table checked where it lies (events) is scanned as it is, so DuckDB pushes each
        query's columns and filters to the server. A table that is copied (one with a key) is
        read through a query PostgreSQL runs, its numeric columns cast to ``double precision``:
        DuckDB's reader turns a ``numeric`` NaN or infinity into 0, a plausible value no rule
        could tell from a real one, where a double keeps NaN and infinity, which the contract's
        rules then set aside as they do a file's."""
        place, contract = self._places[table], get_table(table)
        sql, values = place.from_item()
        if contract.key:
            # Matched whatever their case, as the loader matches every contract column.
            numbers = {c.name.casefold() for c in contract.columns if c.type in ("int", "float")}
            try:
                found = self.con.execute(f"DESCRIBE SELECT * FROM {sql}", list(values)).fetchall()
            except duckdb.Error as err:
                raise SchemaError(f"{self._label(table)}: cannot be read: {server_reason(err)}") from None
            listed = [
                f"{as_double(ident(name))} AS {ident(name)}" if name.casefold() in numbers and kind.startswith(("DECIMAL", "DOUBLE"))
                else ident(name)
                for name, kind, *_ in found
            ]
            query = f"SELECT {', '.join(listed)} FROM {place.server_from()}"
            sql, values = f"postgres_query({ident(ALIAS)}, ?)", (query,)
        return Source(sql, tuple(values), self._label(table), False, None, database=True)

    def where(self, table: str) -> str:
        """Where the workspace looked for a table, for a "no data" message: a warehouse's schema."""
        if self._target is not None and table in self._places and not self._places[table].sql:
            return f" (looked for {self._places[table].schema}.{self._places[table].name})"
        return ""

    def _label(self, table: str) -> str:
        """How messages name a warehouse table: the server, then the table or the query."""
        return f"{self.path}, {self._places[table].what}"

    def read(
        self,
        table: str,
        products: list[str] | None = None,
        start: date | None = None,
        teams: list[str] | None = None,
        end: date | None = None,
        columns: list[str] | None = None,
        accounts: dict[str, str] | None = None,
    ):
        """The usable rows of a table as a pandas DataFrame, filtered in SQL.

        Args:
            table: a canonical table name.
            products: keep rows whose ``product`` is one of these (tables with a product column).
            teams: keep rows whose ``team`` is one of these, for tables with a team column but no
                product column (requests, trainings, seats).
            start, end: keep rows whose time column falls on these dates, both inclusive.
            columns: the columns to return (default: all).
            accounts: keep the rows of accounts with these values (``segment``, ``plan``), for
                tables with an ``account_id`` column and the accounts table itself.
        """
        self.load(table)
        contract = get_table(table)
        where, args = self._account_filter(table, accounts)
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

    def _account_filter(self, table: str, accounts: dict[str, str] | None) -> tuple[list[str], list[Any]]:
        """SQL conditions (with their bound values) keeping the rows of the accounts whose columns
        hold ``accounts``' values; none when the table has no account or nothing is asked."""
        if not accounts:
            return [], []
        unknown = sorted(set(accounts) - ACCOUNT_FILTERS)
        if unknown:
            raise ValueError(f"accounts can be narrowed by {', '.join(sorted(ACCOUNT_FILTERS))}; not by {', '.join(unknown)}")
        same = " AND ".join(f"{ident(column)} = ?" for column in accounts)
        if table == "accounts":
            return [same], list(accounts.values())
        if "account_id" not in get_table(table).column_names:
            return [], []
        self.load("accounts")
        return [f"account_id IN (SELECT account_id FROM accounts WHERE {same})"], list(accounts.values())

    def relation(self, table: str, products: list[str] | None = None,
                 accounts: dict[str, str] | None = None) -> duckdb.DuckDBPyRelation:
        """The usable rows of a table as a lazy DuckDB relation, for aggregation in SQL (events).

        Args:
            table: a canonical table name.
            products: keep rows whose ``product`` is one of these.
            accounts: keep the rows of accounts with these values (``segment``, ``plan``).
        """
        self.load(table)
        if accounts and "account_id" in get_table(table).column_names:
            self._account_filter(table, accounts)  # checks the columns asked for, and loads accounts
            # Bound values would make the relation run at once; session variables keep it lazy (below).
            self._relations += 1
            same = []
            for i, (column, value) in enumerate(accounts.items()):
                name = f"playbook_account_{self._relations}_{i}"
                self.con.execute(f"SET VARIABLE {ident(name)} = ?", [str(value)])
                same.append(f"{ident(column)} = getvariable('{name}')")
            return self.relation(table, products).filter(
                f"account_id IN (SELECT account_id FROM accounts WHERE {' AND '.join(same)})")
        if products is not None and "product" in get_table(table).column_names:
            # Lazy, so each query reads only what it needs: a relation given bound parameters
            # would be run at once and held whole. Each product is a session variable, and the
            # list of them a constant filter DuckDB pushes into the scan (PostgreSQL's WHERE).
            self._relations += 1
            names = [f"playbook_product_{self._relations}_{i}" for i in range(len(products))]
            for name, product in zip(names, products):
                self.con.execute(f"SET VARIABLE {ident(name)} = ?", [str(product)])
            wanted = ", ".join(f"getvariable('{name}')" for name in names) or "NULL"
            return self.con.sql(f"SELECT * FROM {ident(table)} WHERE product IN ({wanted})")
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


def validate(path: Path | str, tables: list[str] | None = None, warehouse: Any = None) -> tuple[list[TableReport], list[str]]:
    """Validate every table present (or the ones named): reports for loaded tables, errors for the rest.

    ``warehouse`` is params' mapping of a PostgreSQL workspace's tables (ignored for files)."""
    reports, errors = [], []
    with Workspace(path, warehouse=warehouse) as ws:
        for table in tables or ws.tables():
            try:
                reports.append(ws.load(table))
            except SchemaError as err:
                errors.append(str(err))
    return reports, errors
