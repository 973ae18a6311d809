"""`playbook import` never rewrites what the user already has, and refuses exports that cannot be true.

Each case asserts its exact outcome: the message (and exit status 2 at the command line), what
was written, and that the user's files are byte-identical wherever nothing should change them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import playbook_cli
from playbook.errors import ImportDataError
from playbook.importers import run_import
from playbook.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
ESCALATION_COLUMNS = "escalation_id,account_id,product,team,priority,category,title,opened_at,first_response_at,resolved_at,reopened"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): _digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


# -- appending, never rewriting -------------------------------------------------------------------


def test_parquet_events_keep_every_column_and_their_nanoseconds(tmp_path):
    """Rows already in events.parquet come through an import exactly as stored."""
    ws = tmp_path / "ws"
    ws.mkdir()
    with duckdb.connect() as con:
        con.execute(
            "COPY (SELECT CAST(t.ts AS TIMESTAMP_NS) AS ts, t.visitor_id, t.account_id, 'app' AS product, t.feature_id, "
            "t.session_id, t.duration_ms FROM (VALUES "
            "('2026-01-09 08:00:00.123456789', 'old-1', 'acme', 'report_saved', 's-1', 1200), "
            "('2026-01-09 08:00:01.000000001', 'old-2', 'acme', NULL, 's-2', 7)) "
            "t(ts, visitor_id, account_id, feature_id, session_id, duration_ms)) TO ? (FORMAT parquet)",
            [str(ws / "events.parquet")],
        )
    schema = "DESCRIBE SELECT * FROM read_parquet(?)"
    rows = "SELECT CAST(ts AS VARCHAR), * EXCLUDE (ts) FROM read_parquet(?, file_row_number = true) ORDER BY file_row_number"
    with duckdb.connect() as con:
        types_before = con.execute(schema, [str(ws / "events.parquet")]).fetchall()
        before = con.execute(rows, [str(ws / "events.parquet")]).fetchall()

    result = run_import("posthog-events", [FIXTURES / "posthog_events.csv"], ws)

    assert (result.rows_written, result.rows_already_there) == (3, 0)
    with duckdb.connect() as con:
        assert con.execute(schema, [str(ws / "events.parquet")]).fetchall() == types_before
        after = con.execute(rows, [str(ws / "events.parquet")]).fetchall()
    assert after[:2] == before
    assert after[0][0] == "2026-01-09 08:00:00.123456789"
    # New rows follow, in the export's order, with the columns the export does not have empty.
    assert [(r[0], r[1], r[5], r[6]) for r in after[2:]] == [
        ("2026-01-10 10:00:00", "user-1", None, None), ("2026-01-10 10:05:00", "user-1", None, None),
        ("2026-01-10 10:00:00", "user-2", None, None)]
    # Nothing new: the file is not touched at all.
    digest = _digest(ws / "events.parquet")
    again = run_import("posthog-events", [FIXTURES / "posthog_events.csv"], ws)
    assert (again.rows_written, again.rows_already_there) == (0, 3)
    assert _digest(ws / "events.parquet") == digest


CSV_DIALECTS = {
    "utf-8, an extra column, a quoted line break": (
        f"{ESCALATION_COLUMNS},notes\n"
        'E1,A1,app,support,P2,bug,"Two\nlines",2026-01-02T10:00:00Z,,,0,"keep me, exactly"\n', "utf-8"),
    "semicolons": (
        ESCALATION_COLUMNS.replace(",", ";") + "\nE1;A1;app;support;P2;bug;Slow;2026-01-02T10:00:00Z;;;0\n", "utf-8"),
    "latin-1": (f"{ESCALATION_COLUMNS}\nE1,A1,app,support,P2,bug,Très lent,2026-01-02T10:00:00Z,,,0\n", "latin-1"),
    "windows line ends": (f"{ESCALATION_COLUMNS}\r\nE1,A1,app,support,P2,bug,Slow,2026-01-02T10:00:00Z,,,0\r\n", "utf-8"),
    "no line end after the last row": (f"{ESCALATION_COLUMNS}\nE1,A1,app,support,P2,bug,Slow,2026-01-02T10:00:00Z,,,0", "utf-8"),
}


@pytest.mark.parametrize("dialect", list(CSV_DIALECTS))
def test_csv_tables_are_appended_to_in_their_own_dialect(dialect, tmp_path):
    """Every byte already in the file stays; new rows follow in the file's delimiter, encoding and line ends."""
    text, encoding = CSV_DIALECTS[dialect]
    table = tmp_path / "escalations.csv"
    old = text.encode(encoding)
    table.write_bytes(old)

    result = run_import("zendesk", [FIXTURES / "zendesk_incremental.json"], tmp_path)

    assert result.rows_written == 3
    new = table.read_bytes()
    newline = b"\r\n" if b"\r\n" in old else b"\n"
    kept = old if old.endswith(newline) else old + newline
    assert new.startswith(kept)
    added = new[len(kept):].decode(encoding)
    assert added.count("35436") == 1 and added.count(newline.decode()) == 3 and added.endswith(newline.decode())
    with Workspace(tmp_path) as ws:
        rows = ws.read("escalations").set_index("escalation_id")
    assert sorted(rows.index) == ["35436", "35437", "35438", "E1"]
    if encoding == "latin-1":
        assert rows.loc["E1", "title"] == "Très lent"


def test_a_table_the_contract_cannot_read_is_not_added_to(tmp_path):
    table = tmp_path / "escalations.csv"
    table.write_text(ESCALATION_COLUMNS.replace(",priority", "") + "\nE1,A1,app,support,bug,Slow,2026-01-02T10:00:00Z,,,0\n")
    before = _tree(tmp_path)
    message = (
        "the workspace's escalations.csv: missing column 'priority'; expected columns: "
        f"{ESCALATION_COLUMNS.replace(',', ', ')}; found: "
        "escalation_id, account_id, product, team, category, title, opened_at, first_response_at, resolved_at, reopened; "
        "nothing was written (fix it, or import into another workspace)"
    )
    with pytest.raises(ImportDataError) as err:
        run_import("zendesk", [FIXTURES / "zendesk_incremental.json"], tmp_path)
    assert str(err.value) == message
    cli = playbook_cli("import", "zendesk", str(FIXTURES / "zendesk_incremental.json"), "--workspace", str(tmp_path))
    assert (cli.returncode, cli.stderr.strip()) == (2, f"error: {message}")
    assert _tree(tmp_path) == before


def test_a_table_path_that_is_a_folder_and_a_workspace_that_is_a_file(tmp_path):
    (tmp_path / "escalations.csv").mkdir()
    (tmp_path / "escalations.csv" / "mine.txt").write_text("not a table")
    before = _tree(tmp_path)
    with pytest.raises(ImportDataError) as err:
        run_import("zendesk", [FIXTURES / "zendesk_incremental.json"], tmp_path)
    assert str(err.value).startswith("the workspace's escalations.csv: a folder, not a table file; expected a CSV or Parquet file")
    assert _tree(tmp_path) == before
    with pytest.raises(ImportDataError) as err:
        run_import("zendesk", [FIXTURES / "zendesk_incremental.json"], tmp_path / "escalations.csv" / "mine.txt")
    assert str(err.value) == f"--workspace {tmp_path / 'escalations.csv' / 'mine.txt'} is not a regular file; imports write into a workspace folder"
    assert _tree(tmp_path) == before


def test_the_same_file_given_twice_is_written_once(tmp_path):
    result = run_import("posthog-events", [FIXTURES / "posthog_events.csv"] * 2, tmp_path)
    assert (result.rows_read, result.rows_written, result.repeated) == (6, 3, 3)
    assert "3 rows given more than once in this import (identical in every column), written once" in result.describe()
    tickets = run_import("zendesk", [FIXTURES / "zendesk_incremental.json"] * 2, tmp_path)
    assert (tickets.rows_written, tickets.repeated) == (3, 4)
    assert len(pd.read_csv(tmp_path / "escalations.csv")) == 3


def test_a_path_with_quotes_reaches_sql_only_as_a_value(tmp_path, monkeypatch):
    """A workspace whose name is SQL is just a name: nothing of it runs."""
    monkeypatch.chdir(tmp_path)
    crafted = "it's') TO 'pwned.csv' (FORMAT csv); SELECT ('"
    result = run_import("posthog-events", [FIXTURES / "posthog_events.csv"], Path(crafted))
    assert result.rows_written == 3 and (tmp_path / crafted / "events.parquet").is_file()
    assert not list(tmp_path.rglob("pwned*"))
    check = playbook_cli("validate", "--workspace", crafted, cwd=tmp_path)
    assert check.returncode == 0 and "events.parquet" in check.stdout
    assert not list(tmp_path.rglob("pwned*"))


# -- exports that cannot be read as they claim ----------------------------------------------------


def _generic(tmp_path: Path, rows: str, dates: str = "") -> tuple[Path, Path]:
    export = tmp_path / "answers.csv"
    export.write_text("id,score,answered\n" + rows)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("table: nps_responses\ncolumns:\n  response_id: id\n  score: score\n  submitted_at: answered\n"
                       "constants:\n  account_id: a-{row}\n  product: survey\n" + dates)
    return export, mapping


def test_dates_are_held_to_iso_8601_unless_the_mapping_says_otherwise(tmp_path):
    export, mapping = _generic(tmp_path, "1,9,2026-05-06\n2,7,now\n3,8,today\n4,3,Jan\n5,10,5/6/2026\n6,9,2026-05-06T10:00:00+02:00\n")
    with pytest.raises(ImportDataError) as err:
        run_import("generic", [export], tmp_path / "ws", mapping_file=mapping)
    assert str(err.value) == (
        "answers.csv: column 'answered': 4 values do not match ISO-8601 dates such as 2026-01-31 or 2026-01-31T14:05:00Z "
        "(set dates.format in the mapping for any other form) (row 2: 'now', row 3: 'today', row 4: 'Jan', row 5: '5/6/2026')"
    )
    assert not (tmp_path / "ws").exists()
    # Day first, said by the mapping: 5/6/2026 is the 5th of June.
    export, mapping = _generic(tmp_path, "1,9,5/6/2026\n", "dates:\n  format: '%d/%m/%Y'\n")
    run_import("generic", [export], tmp_path / "ws", mapping_file=mapping)
    assert pd.read_csv(tmp_path / "ws" / "nps_responses.csv")["submitted_at"].tolist() == ["2026-06-05T00:00:00Z"]


@pytest.mark.parametrize("fmt, message", [
    ("'%Y-%m-%Q'", "dates.format: '%Y-%m-%Q': 'Q' is a bad directive in format '%Y-%m-%Q' (codes such as %Y %m %d %H %M %S %b %p; "
                   "see Python's strftime codes)"),
    ("'%d/%m/%'", "dates.format: '%d/%m/%': stray % in format '%d/%m/%' (codes such as %Y %m %d %H %M %S %b %p; "
                  "see Python's strftime codes)"),
    ("YYYY-MM-DD", "dates.format: 'YYYY-MM-DD' has no strftime codes; a date like 31/01/2026 14:05 is '%d/%m/%Y %H:%M' "
                   "(leave the format out for ISO-8601 dates)"),
])
def test_a_date_format_that_cannot_be_used_is_named(fmt, message, tmp_path):
    export, mapping = _generic(tmp_path, "1,9,2026-05-06\n", f"dates:\n  format: {fmt}\n")
    cli = playbook_cli("import", "generic", str(export), "--mapping", str(mapping), "--workspace", str(tmp_path / "ws"))
    assert (cli.returncode, cli.stderr.strip()) == (2, f"error: {mapping}: {message}")
    assert not (tmp_path / "ws").exists()


def test_unix_seconds_that_are_not_a_time(tmp_path):
    export = tmp_path / "responses.json"
    export.write_text(json.dumps([{"id": 1, "person": "p1", "score": 9, "created_at": 1713418460},
                                  {"id": 2, "person": "p2", "score": 3, "created_at": "NaN"},
                                  {"id": 3, "person": "p3", "score": 3, "created_at": 1e300}]))
    with pytest.raises(ImportDataError) as err:
        run_import("delighted", [export], tmp_path / "ws")
    assert str(err.value) == "responses.json: column 'created_at': 2 values do not match the date format 'unix' (row 2: 'NaN', row 3: '1e+300')"


def test_a_repeated_key_in_a_mapping_is_refused(tmp_path):
    export, mapping = _generic(tmp_path, "1,9,2026-05-06\n")
    mapping.write_text(mapping.read_text() + "columns:\n  score: other\n")
    with pytest.raises(ImportDataError) as err:
        run_import("generic", [export], tmp_path / "ws", mapping_file=mapping)
    assert str(err.value) == f"{mapping}, line 9: key 'columns' is given twice, on lines 2 and 9; keep one"


def test_a_truncated_gzip_export(tmp_path):
    whole = gzip.compress((FIXTURES / "zendesk_incremental.json").read_bytes())
    export = tmp_path / "tickets.json.gz"
    export.write_bytes(whole[: len(whole) // 2])
    cli = playbook_cli("import", "zendesk", str(export), "--workspace", str(tmp_path / "ws"))
    assert cli.returncode == 2
    assert cli.stderr.strip().startswith("error: tickets.json.gz: the gzip data is truncated or damaged (")
    assert cli.stderr.strip().endswith("); download the export again")
    assert "Aborted" not in cli.stderr and not (tmp_path / "ws").exists()


@pytest.mark.parametrize("body, found", [
    ("[1, 2, 3]", "record 1 is a number (1)"),
    ('"just a string"', 'record 1 is a string ("just a string")'),
    ('[{"id": 1, "score": 9}, [9, 10]]', "record 2 is a list ([9, 10])"),
])
def test_json_that_is_not_records(body, found, tmp_path):
    export = tmp_path / "responses.json"
    export.write_text(body)
    cli = playbook_cli("import", "delighted", str(export), "--workspace", str(tmp_path / "ws"))
    assert (cli.returncode, cli.stderr.strip()) == (
        2, f'error: responses.json: expected JSON objects, one per record ({{"id": ..., ...}}); {found}')
    assert "Traceback" not in cli.stderr


def test_latin_1_json_is_read_with_a_note(tmp_path):
    export = tmp_path / "responses.json"
    export.write_bytes(json.dumps([{"id": 1, "person": "p1", "score": 4, "comment": "Très lent", "created_at": 1713418460}],
                                  ensure_ascii=False).encode("latin-1"))
    result = run_import("delighted", [export], tmp_path / "ws")
    assert result.rows_written == 1
    assert result.notes == ["responses.json is not UTF-8 (byte 0xE8 at offset 53); read as Windows-1252. "
                            "Check accented text, and export as UTF-8 to be sure"]
    assert pd.read_csv(tmp_path / "ws" / "nps_responses.csv")["comment"].tolist() == ["Très lent"]
