"""No value reaches SQL through string formatting, anywhere in the project.

Values (paths, dates, ids, products, a budget) are bound parameters (``?``, ``$name``, or a
``SET VARIABLE ... = ?`` read with ``getvariable``); names are quoted with
:func:`playbook.workspace.ident`. What may still be formatted into SQL text is SQL built in code:
quoted identifiers, fragments made of them, type names from the contract, numbers the code owns.
Every such place is listed below, reviewed: a new one fails this test until it is either bound or
added here with the reason it holds no value from outside the code.

The checks read the source (``ast``), so they cannot be fooled by a test that happens not to
reach a line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

FOLDERS = ("playbook", "benchmarks", "tests")
# Words that make a string SQL (upper case, as the project writes SQL), and SQL functions the
# project uses in fragments.
SQL = re.compile(
    r"\b(SELECT|FROM|WHERE|INSERT|UPDATE|DELETE|COPY|ATTACH|CREATE|DROP|ALTER|PRAGMA|SET|VALUES|DESCRIBE|JOIN|CAST|"
    r"TRY_CAST|LIMIT|EXCLUDE|FILTER|UNION|TIMESTAMP|DATE|INTERVAL|NULLIF|isfinite|getvariable|read_csv|read_parquet)\b"
)

# (file, the formatted expression as ast.unparse writes it): SQL built in code, and why.
# The workspace's table loading lives in tableload.py with most of its SQL.
_WORKSPACE: dict[str, str] = {
    "raw": "ident of '_raw_' + a contract table name",
    "ident(c)": "quoted name",
    "ident(c.name)": "quoted name",
    "ident(table)": "quoted name of a contract table",
    "SQL_TYPES[c.type]": "a DuckDB type name from schemas.SQL_TYPES",
    "select": "casts of quoted names to type names from NATIVE_TYPES",
    "columns": "typed, quoted columns",
    "same": "IS NOT DISTINCT FROM over quoted names",
    "keys": "quoted contract column names",
    "held_rows": "a quoted table name, or a numbering subquery over it",
    "cells": "coalesce/TRIM over quoted names",
    "ident('_checked_' + table)": "quoted name of a checked contract table",
    "sql": "a mapped table's FROM item: src.<quoted schema>.<quoted name>, or postgres_query(src, ?) with the query bound",
    "', '.join(listed)": "quoted column names, numeric ones cast to double precision (PostgreSQL SQL, a bound value of postgres_query)",
    "place.server_from()": "a quoted schema.table, or the mapping's own query from params, run by the user's server read-only",
    "ident(ALIAS)": "quoted name of the attached database",
    "ident(name)": "quoted name of a session variable made in code",
    "wanted": "getvariable(...) of session variables made in code, or quoted contract column names",
    "ident(column)": "quoted name of an accounts column from ACCOUNT_FILTERS (segment, plan)",
    "' AND '.join(same)": "equalities of quoted accounts columns with getvariable(...) of session variables made in code",
}
_TABLELOAD: dict[str, str] = {
    "col": "ident(column.name)",
    "added": "ident(column.name) of an optional contract column",
    "NATIVE_TYPES[column.type][0]": "the DuckDB type name of a contract column's type, from code (NULL for an optional column a file lacks)",
    "raw": "ident of '_raw_' + a contract table name",
    "checked": "'_checked_' + a contract table name, used as a name",
    "ident(ref.table)": "quoted name of a contract table",
    "ident(ref.target)": "quoted name of a contract column",
    "ident(table)": "quoted name of a contract table",
    "value": "NULLIF(TRIM(ident)) or ident",
    "parsed": "a cast of `value` to the contract type",
    "typed": "a cast of `value` to the contract type",
    "unparsed": "predicates over `typed`",
    "canonical": "a DuckDB type name from the NATIVE_TYPES table in code",
    "', '.join(select)": "casts of quoted names to type names from NATIVE_TYPES",
    "others": "quoted contract column names",
    "tail": "EXCLUDE of quoted names",
    "rows": "'rowid + 1' or 'file_row_number + 1'",
    "numbered": "the source's FROM item, its path a bound ? marker",
    "source.sql": "a FROM item with its path as a bound ? marker, or src.main.<quoted name>",
    "', '.join(columns)": "typed, quoted columns",
    "duplicate": "row_number() over quoted key names",
    "reason": "CASE over the contract's rule predicates (code)",
    "keep": "quoted names, and CASE over the contract's clear predicates",
    "shown": "a quoted name, or concat_ws over quoted names",
    "bad": "the rule's predicate over quoted names",
    "EXAMPLES": "a constant of the module",
    "'VIEW' if direct else 'TABLE'": "a keyword",
    "ordered": "ident of '_sorted_' + a contract table name",
    "direct": "the in-place query _direct_source builds from quoted names; its values are session variables",
    "ident(variable)": "quoted name of a session variable made in code",
}
# Names made in code that SQL reads as strings: session variables' names given to getvariable().
# A value from outside never goes here; it is bound with SET VARIABLE ... = ? first.
QUOTED_NAMES: dict[str, dict[str, str]] = {
    "playbook/tableload.py": {"variable": "playbook_source_<table number>_<i>, made in code"},
    "playbook/workspace.py": {"name": "playbook_product_<relation number>_<i>, made in code"},
    "playbook/warehouse.py": {"name": "a field name of the fixed table _FIELDS"},
}
REVIEWED: dict[str, dict[str, str]] = {
    "playbook/workspace.py": _WORKSPACE,
    "playbook/tableload.py": _TABLELOAD,
    "playbook/health.py": {
        "columns": "count(...) FILTER over $start_i/$stop_i markers",
        "i": "the index of a bound marker's name ($start_0, ...)",
    },
    "playbook/appends.py": {
        "ident(c.name)": "quoted name",
        "SQL_TYPES[c.type]": "a DuckDB type name from schemas.SQL_TYPES",
        "typed": "casts of quoted names to type names from schemas.SQL_TYPES",
        "query": "SELECT over quoted names; its paths are bound ? markers",
        "part": "a quoted counter name chosen apart from the file's columns",
        "order": "a quoted counter name chosen apart from the file's columns",
        "names": "quoted contract column names",
        "name": "quoted name",
        "back": "a DuckDB type name from schemas.SQL_TYPES",
        "source": "read_parquet($stored) (a bound path) or the temporary table carried",
        "markers": "quoted flag and key column names made in code, compared with a constant",
        "wanted": "quoted contract column names",
        "pairs": "a join of two temporary tables by row number, written in code",
        "pair": "a quoted counter name chosen apart from the file's columns",
        "flag": "a quoted flag column name made in code",
        "setting": "quoted flag column names made in code",
        "chosen": "quoted contract column names and aliases made from them",
        "joined": "a subquery over `pairs` with quoted names",
        "match": "equalities of quoted key names",
        "key_names": "quoted key column names made in code",
        "marker": "a quoted key column name made in code",
        "match_gone": "equalities of quoted key names",
        "listed": "REPLACE over `replace`, or nothing",
        "options": "COPY options written in code; the metadata is a bound ? marker",
    },
    "playbook/sample.py": {
        "reader": "read_parquet(?) or read_csv(?, ...): the path is a bound marker",
    },
    "playbook/warehouse.py": {
        "ident('playbook_pg_' + name)": "quoted name of a session variable made from the fixed field names of _FIELDS",
        "option": "a secret option's keyword from the fixed table _FIELDS",
        "options": "keyword getvariable(...) pairs from _FIELDS; the values are bound session variables",
        "WRITE_CONNINFO": "a constant SQL literal of libpq options written in code",
        "READ_ONLY_CONNINFO": "a constant SQL literal of libpq options written in code",
        "ident(alias)": "quoted name of the attached database",
        "', '.join(parts)": "count/max over quoted contract column names (PostgreSQL SQL, itself a bound value of postgres_query)",
        "place.server_from()": "a quoted schema.table, or the mapping's own query from params, run by the user's server read-only",
        "self.server_from()": "the mapping's own query from params as a subquery (PostgreSQL SQL, a bound value of postgres_query)",
    },
    "playbook/warehouse_load.py": {
        "ident(ALIAS)": "quoted name of the attached database",
        "ident(schema)": "quoted schema name",
        "place": "quoted database.schema.table",
        "columns": "quoted contract and extra column names",
        "ident('_checked_' + table)": "quoted name of a checked contract table",
    },
    "benchmarks/warehouse.py": {
        "STATS_SCHEMA": "a constant schema name of the benchmark's own (pb_bench_stats)",
    },
    "tests/test_workspace.py": {
        "select": "'*' or a cast written in the test",
    },
    "tests/test_import_safety.py": {
        "select": "a SELECT written in the test",
        "stored": "a typed constant written in the test",
    },
}


def _sources() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


def _literal_text(node: ast.JoinedStr) -> str:
    return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))


def _is_sql(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr):
        return bool(SQL.search(_literal_text(node)))
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(SQL.search(node.value))


def _formatted(path: Path) -> list[tuple[int, str, str]]:
    """(line, expression, problem) for every value formatted into SQL in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and _is_sql(node):
            parts = node.values
            for i, part in enumerate(parts):
                if not isinstance(part, ast.FormattedValue):
                    continue
                before = parts[i - 1].value if i and isinstance(parts[i - 1], ast.Constant) else ""
                after = parts[i + 1].value if i + 1 < len(parts) and isinstance(parts[i + 1], ast.Constant) else ""
                quoted = str(before).endswith("'") or str(after).startswith("'")
                found.append((node.lineno, ast.unparse(part.value), "a value inside SQL quotes" if quoted else ""))
        # "... %s" % value and "...{}".format(value) on SQL text.
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_sql(node.left):
            found.append((node.lineno, ast.unparse(node.right), "SQL built with %"))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
                and _is_sql(node.func.value)):
            found.append((node.lineno, ast.unparse(node), "SQL built with str.format"))
        # The hand-made SQL literal: "'" + text.replace("'", "''") + "'".
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "replace"
                and [getattr(a, "value", None) for a in node.args] == ["'", "''"]):
            found.append((node.lineno, ast.unparse(node), "a hand-made SQL string literal; bind the value instead"))
    return found


def test_no_value_is_formatted_into_sql():
    problems = []
    seen: dict[str, set[str]] = {}
    for path in _sources():
        name = path.relative_to(ROOT).as_posix()
        for line, expression, problem in _formatted(path):
            seen.setdefault(name, set()).add(expression)
            if problem == "a value inside SQL quotes" and expression in QUOTED_NAMES.get(name, {}):
                continue
            if problem:
                problems.append(f"{name}:{line}: {problem}: {expression}")
            elif expression not in REVIEWED.get(name, {}):
                problems.append(
                    f"{name}:{line}: {{{expression}}} is formatted into SQL; bind it as a parameter (? or $name), quote a "
                    "name with ident(), or, if it is SQL built in code, add it to REVIEWED with the reason"
                )
    assert not problems, "\n".join(problems)


def test_every_reviewed_place_still_exists():
    """The list stays exact: a place that no longer formats anything leaves it."""
    seen = {path.relative_to(ROOT).as_posix(): {e for _, e, _ in _formatted(path)} for path in _sources()}
    stale = [f"{name}: {expression}" for listed in (REVIEWED, QUOTED_NAMES) for name, reviewed in listed.items()
             for expression in reviewed if expression not in seen.get(name, set())]
    assert not stale, "remove from REVIEWED: " + "; ".join(stale)


def test_the_checks_catch_what_they_are_for(tmp_path, monkeypatch):
    """Each kind of formatted value this test exists to refuse is refused."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f(con, path, day, name):\n"
        "    con.execute(f\"COPY t TO '{path}' (FORMAT parquet)\")\n"
        "    con.execute(f\"SELECT * FROM t WHERE d >= {day}\")\n"
        "    con.execute(\"SELECT * FROM t WHERE n = '%s'\" % name)\n"
        "    con.execute(\"SELECT * FROM t WHERE n = '{}'\".format(name))\n"
        "    return \"'\" + name.replace(\"'\", \"''\") + \"'\"\n"
    )
    found = _formatted(bad)
    assert [(line, problem or "unreviewed") for line, _, problem in found] == [
        (2, "a value inside SQL quotes"),
        (3, "unreviewed"),
        (4, "SQL built with %"),
        (5, "SQL built with str.format"),
        (6, "a hand-made SQL string literal; bind the value instead"),
    ]
