"""Copying a workspace's tables into a PostgreSQL schema (``playbook sample --to``), so the whole
path from a warehouse to the reports can be tried on a local server.

This is the one place the playbook writes to a database, and only when told to: it creates the
canonical tables in the schema it is given and refuses to touch a table that is already there
unless ``replace`` (then it drops and creates that table only). Every row of each table is
copied as the contract types it, rows a rule sets aside included, so the warehouse reads exactly
as the files do; columns beyond the contract are copied too.
"""

from __future__ import annotations

from pathlib import Path

from playbook.errors import WorkspaceError
from playbook.schemas import get_table
from playbook.tableload import ident
from playbook.warehouse import Target, WarehouseError, attach, password, scrub, server_reason
from playbook.workspace import Workspace

ALIAS = "dst"


def copy_workspace(folder: Path | str, url: str, schema: str = "public", replace: bool = False,
                   password_env: str | None = None) -> dict[str, int]:
    """Copy every canonical table of the workspace ``folder`` into ``schema`` at ``url``.

    Returns:
        Rows copied per table.

    Raises:
        WarehouseError: the server cannot be reached, or a table is already there and not ``replace``.
    """
    target = Target.parse(url)
    secret = password(password_env)
    copied: dict[str, int] = {}
    with Workspace(folder) as ws:
        con = ws.con
        attach(con, target, secret, write=True, alias=ALIAS)
        try:
            tables = ws.tables()
            held = {r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_schema = ?", [ALIAS, schema]
            ).fetchall()}
            clash = [t for t in tables if t in held]
            if clash and not replace:
                raise WarehouseError(
                    f"{target.shown}: the schema {schema} already has {', '.join(clash)}; nothing was written. "
                    "Give --replace to drop and write these tables again, or --schema for another schema"
                )
            # One transaction on the server: a copy that stops half way (a view depending on a
            # table it replaces, a full disk) leaves the schema as it was, never two seeds mixed.
            con.execute("BEGIN TRANSACTION")
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(ALIAS)}.{ident(schema)}")
            for table in tables:
                ws.load(table)
                contract = get_table(table)
                found = [r[0] for r in con.execute(f"DESCRIBE {ident('_checked_' + table)}").fetchall()]
                extras = [c for c in found if c not in contract.column_names and not c.startswith("_")]
                columns = ", ".join(ident(c) for c in (*contract.column_names, *extras))
                place = f"{ident(ALIAS)}.{ident(schema)}.{ident(table)}"
                if table in held:
                    con.execute(f"DROP TABLE {place}")
                con.execute(f"CREATE TABLE {place} AS SELECT {columns} FROM {ident('_checked_' + table)} ORDER BY _row")
                copied[table] = ws.reports[table].rows_read
            con.execute("COMMIT")
        except (WarehouseError, WorkspaceError):
            _roll_back(con)
            raise
        except Exception as err:  # a duckdb or server error while writing
            _roll_back(con)
            raise WarehouseError(f"workspace {target.shown}: copying stopped, nothing was written: "
                                 f"{scrub(server_reason(err), secret)}") from None
        finally:
            con.execute(f"DETACH {ident(ALIAS)}")
    return copied



def _roll_back(con) -> None:
    try:
        con.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - no transaction open yet, or the server has gone
        pass
