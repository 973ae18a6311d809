"""A PostgreSQL warehouse as a workspace: its tables read through DuckDB, never written.

``workspace: postgresql://user@host:5432/analytics`` in params (or ``--workspace``) makes the
company's database the workspace. DuckDB reads it through its postgres extension (a pinned
Python package carries the extension file; nothing is downloaded at run time):

- the connection is attached ``READ_ONLY`` and every transaction on the server is opened with
  ``default_transaction_read_only`` on, so a statement that would write fails in DuckDB and
  again in PostgreSQL;
- filters on product and time and the columns a query names are pushed to the server; DuckDB
  aggregates what streams back, so a large events table is never held whole in a kernel;
- the password comes from ``PGPASSWORD``, the user's ``.pgpass`` file (both read by libpq
  itself) or the environment variable that ``warehouse.password_env`` names. A URL holding a
  password is refused, and no message, log, manifest or report ever shows one: every text
  shown names the server as :attr:`Target.shown`, which has none.

Which database object holds each canonical table (``warehouse:`` in params, see
:class:`~playbook.config.WarehouseParams`): by default a table of the canonical name in one
schema (``public``); per table, the name of a table or view (``support.tickets``), or a SQL
query over the company's own tables (a dbt model, say), which PostgreSQL runs.

No value is ever written into SQL text: the server's address and the password reach DuckDB as
bound values (session variables a temporary secret reads), a mapped query is a bound argument
of ``postgres_query``, and names are quoted identifiers (:func:`~playbook.tableload.ident`).
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import duckdb

from playbook.errors import WorkspaceError
from playbook.tableload import ident

SCHEMES = ("postgresql", "postgres")
ALIAS = "src"
# The name a warehouse row goes by in the playbook's own PostgreSQL queries.
ROW_ALIAS = "playbook_row"
# libpq options every connection of the playbook's carries, as constant SQL literals: a bounded
# wait for an unreachable server and a dropped one (TCP keepalives), and (reading) transactions
# that cannot write, give up on a lock after a minute (a table being rebuilt) and on a query
# after half an hour (a report's own time limit), rather than hang a scheduled run.
READ_ONLY_CONNINFO = (
    "'connect_timeout=10 keepalives_idle=30 keepalives_interval=10 keepalives_count=3 application_name=playbook "
    "options=''-c default_transaction_read_only=on -c lock_timeout=60s -c statement_timeout=30min'''"
)
WRITE_CONNINFO = "'connect_timeout=10 keepalives_idle=30 application_name=playbook options=''-c lock_timeout=60s'''"
# The server's address as bound values; the secret reads them, then the password's is emptied.
_FIELDS = (("HOST", "host"), ("PORT", "port"), ("USER", "user"), ("DATABASE", "database"), ("PASSWORD", "password"))


class WarehouseError(WorkspaceError):
    """Raised when the warehouse cannot be reached or its mapping names what it does not hold."""


def is_url(value: object) -> bool:
    """Whether a workspace setting names a PostgreSQL database rather than a path."""
    text = str(value)
    return "://" in text and text.split("://", 1)[0].lower() in SCHEMES


@dataclass(frozen=True)
class Target:
    """Where the warehouse is: the parts of a ``postgresql://`` URL, never a password.

    Attributes:
        shown: the URL as every message prints it (``postgresql://user@host:port/database``).
    """

    host: str
    port: int | None
    user: str
    database: str
    shown: str

    @classmethod
    def parse(cls, url: str) -> Target:
        """Read ``postgresql://[user@]host[:port]/database``.

        Raises:
            WarehouseError: the URL holds a password, has query options, or names no database.
        """
        try:
            parts = urlsplit(str(url).strip())
            port = parts.port
        except ValueError as err:
            raise WarehouseError(f"workspace URL: {err}; expected postgresql://user@host:5432/database") from None
        # A Unix socket's folder is written percent-encoded as the host (%2Fvar%2Frun%2Fpostgresql).
        host = unquote(parts.hostname or "")
        user = unquote(parts.username or "")
        database = unquote(parts.path.lstrip("/"))
        shown_host = f"[{host}]" if ":" in host else host
        shown = f"postgresql://{user + '@' if user else ''}{shown_host}{f':{port}' if port else ''}/{database}"
        if parts.password is not None:
            raise WarehouseError(
                f"workspace URL {shown}: a password written in the URL is refused (it would reach logs, "
                "the manifest and the reports' parameters); set PGPASSWORD, add it to your ~/.pgpass file, "
                "or name an environment variable holding it in params as warehouse.password_env"
            )
        if parts.query or parts.fragment:
            raise WarehouseError(
                f"workspace URL {shown}: options after '?' are not read; set libpq's environment variables "
                "instead (PGSSLMODE, PGSSLROOTCERT, PGAPPNAME...)"
            )
        if not database or "/" in database:
            raise WarehouseError(f"workspace URL {shown}: name one database after the host, as in postgresql://user@host:5432/analytics")
        return cls(host, port, user, database, shown)


def password(env_name: str | None) -> str | None:
    """The password from the environment variable ``env_name`` names; None leaves it to libpq
    (``PGPASSWORD``, then the ``.pgpass`` file).

    Raises:
        WarehouseError: the variable is not set.
    """
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if value is None:
        raise WarehouseError(
            f"warehouse.password_env names the environment variable {env_name}, which is not set; "
            "set it where the playbook runs (a scheduler's secret, say), or remove password_env to use PGPASSWORD or ~/.pgpass"
        )
    return value


def extension_directory() -> Path:
    """Where the pinned ``duckdb-ext-postgres`` package put DuckDB's postgres extension."""
    spec = importlib.util.find_spec("duckdb_ext")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        folder = Path(location) / "extensions" / f"v{duckdb.__version__}"
        if folder.is_dir():
            return folder.parent
    raise WarehouseError(
        f"DuckDB's postgres extension for DuckDB {duckdb.__version__} is not installed; install the playbook's "
        "pinned dependencies again (`make setup`, or pip install -e .): duckdb and duckdb-ext-postgres must have the same version"
    )


def load_extension(con: duckdb.DuckDBPyConnection) -> None:
    """Load the postgres extension from the installed package; never from the network."""
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET extension_directory = ?", [str(extension_directory())])
    try:
        con.execute("LOAD postgres_scanner")
    except duckdb.Error as err:
        raise WarehouseError(f"DuckDB's postgres extension cannot be loaded: {_first_line(err)}") from None


def attach(con: duckdb.DuckDBPyConnection, target: Target, secret: str | None, write: bool = False, alias: str = ALIAS) -> None:
    """Attach the warehouse to ``con`` as ``alias``: read-only unless ``write`` (``playbook sample --to``).

    Raises:
        WarehouseError: the server refuses the password, cannot be reached, or has no such database;
            the message names the server and never the password.
    """
    load_extension(con)
    values = {"host": target.host or None, "port": target.port, "user": target.user or None,
              "database": target.database, "password": secret}
    present = [(option, name) for option, name in _FIELDS if values[name] is not None]
    for _, name in present:
        con.execute(f"SET VARIABLE {ident('playbook_pg_' + name)} = ?", [values[name]])
    options = ", ".join(f"{option} getvariable('playbook_pg_{name}')" for option, name in present)
    try:
        con.execute(f"CREATE OR REPLACE TEMPORARY SECRET playbook_pg (TYPE postgres, {options})")
        if write:
            con.execute(f"ATTACH {WRITE_CONNINFO} AS {ident(alias)} (TYPE postgres, SECRET playbook_pg)")
        else:
            con.execute(f"ATTACH {READ_ONLY_CONNINFO} AS {ident(alias)} (TYPE postgres, SECRET playbook_pg, READ_ONLY)")
    except duckdb.Error as err:
        raise WarehouseError(connection_problem(target, err, secret)) from None
    finally:
        # The connection string is resolved at ATTACH; the session keeps no copy of the password.
        con.execute("DROP SECRET IF EXISTS playbook_pg")
        for _, name in present:
            con.execute(f"RESET VARIABLE {ident('playbook_pg_' + name)}")


def connection_problem(target: Target, err: Exception, secret: str | None = None) -> str:
    """Why the server could not be used, in words a user can act on, without the password."""
    text = scrub(str(err), secret)
    reason = server_reason(text)
    low = text.lower()
    if "no password supplied" in low:
        hint = ("no password was found: set PGPASSWORD, add the server to your ~/.pgpass file, or name the "
                "environment variable that holds it in params as warehouse.password_env")
    elif "password authentication failed" in low or "password is required" in low:
        hint = ("the server refused the password: check PGPASSWORD, your ~/.pgpass file, or the variable "
                "warehouse.password_env names")
    elif "does not exist" in low and "database" in low:
        hint = f"the server has no database {target.database!r}"
    elif "connection refused" in low or "timeout expired" in low or "could not translate host" in low or "no route" in low:
        hint = "no PostgreSQL server answers there: is it running, and is the host and port right?"
    else:
        hint = "check the URL, the user and the password"
    return f"workspace {target.shown}: cannot connect ({reason}); {hint}"


def scrub(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of the password (and libpq's ``password=...``) blotted out."""
    if secret:
        text = text.replace(secret, "***")
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.IGNORECASE)


def server_reason(err: Exception | str) -> str:
    """The server's or libpq's own sentence (and PostgreSQL's hint) from a DuckDB error."""
    text = str(err)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        found = re.search(r"(FATAL|ERROR):\s*(.+)", line)
        if found:
            # PostgreSQL's own hint says what it would have expected ("Perhaps you meant ...").
            hint = next((h.split("HINT:", 1)[1].strip() for h in lines if "HINT:" in h), "")
            return found.group(2).strip() + (f" ({hint})" if hint else "")
    for line in lines:
        if "failed:" in line:
            return line.split("failed:", 1)[1].strip()
    return lines[0] if lines else "no reason given"


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


@dataclass(frozen=True)
class Mapped:
    """Where one canonical table lives in the warehouse: a schema and name, or a query."""

    table: str
    schema: str = ""
    name: str = ""
    sql: str = ""
    # Named in params' warehouse.tables: a table it names must exist (a default one may be absent).
    explicit: bool = False

    @property
    def what(self) -> str:
        return f"query for {self.table}" if self.sql else f"table {self.schema}.{self.name}"

    def from_item(self) -> tuple[str, tuple[Any, ...]]:
        """The rows as a DuckDB FROM item and the values it binds."""
        if self.sql:
            # Wrapped here, its closing parenthesis on a line of its own: DuckDB wraps the query
            # again without a line break, which a final -- comment would otherwise swallow.
            return f"postgres_query({ident(ALIAS)}, ?)", (f"SELECT * FROM {self.server_from()}",)
        return f"{ident(ALIAS)}.{ident(self.schema)}.{ident(self.name)}", ()

    def server_from(self) -> str:
        """The rows as a FROM item in PostgreSQL's own SQL (the fingerprint's query runs there)."""
        # The closing parenthesis on a line of its own: a query may end with a -- comment.
        if self.sql:
            return f"(\n{self.sql}\n) AS {ROW_ALIAS}"
        return f"{ident(self.schema)}.{ident(self.name)} AS {ROW_ALIAS}"


def mapping(settings: Any, tables: list[str]) -> dict[str, Mapped]:
    """Each canonical table's place, from params' ``warehouse`` settings (or the defaults)."""
    schema = getattr(settings, "schema_name", "public") if settings is not None else "public"
    explicit = dict(getattr(settings, "tables", {}) or {}) if settings is not None else {}
    placed = {}
    for table in tables:
        given = explicit.get(table)
        if given is None:
            placed[table] = Mapped(table, schema, table)
        elif isinstance(given, str):
            where, _, name = given.rpartition(".")
            placed[table] = Mapped(table, where or schema, name, explicit=True)
        else:
            # Without a trailing semicolon, and ending in a line break: PostgreSQL gets the query
            # inside a subquery (here and in DuckDB's COPY), which a final -- comment would cut.
            placed[table] = Mapped(table, sql=given.sql.strip().rstrip(";").rstrip() + "\n", explicit=True)
    return placed


def as_double(column: str) -> str:
    """A quoted numeric column as PostgreSQL's ``double precision``: NaN stays NaN, and a number
    beyond a double's range becomes an infinity (as a file's 1e400 reads), rather than failing
    the query; both are then set aside by the contract's rules."""
    return (f"CASE WHEN abs({column}) > 1.7976931348623157e308 THEN sign({column})::double precision * 'Infinity'::double precision "
            f"ELSE {column}::double precision END")


def fingerprint_sql(place: Mapped, time_columns: list[str], checksum: bool) -> str:
    """The query the server answers for a table's fingerprint: its row count, the latest of each
    time column, and (for tables with an id) a sum of every row's hash, which changes when any
    value does. Run in PostgreSQL, so only one row crosses the network."""
    # Each column named: DuckDB refuses a result with two columns of one name (PostgreSQL's "max").
    # ROW(alias.*) is the whole row even when the table has a column of the alias's name.
    parts = ["count(*)::text AS n"]
    parts += [f"max({ROW_ALIAS}.{ident(column)})::text AS {ident(f'latest_{i}')}" for i, column in enumerate(time_columns)]
    if checksum:
        parts.append(f"sum(hashtext(ROW({ROW_ALIAS}.*)::text)::bigint)::text AS checksum")
    return f"SELECT {', '.join(parts)} FROM {place.server_from()}"
