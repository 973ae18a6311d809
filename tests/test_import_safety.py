"""`playbook import` never rewrites what the user already has, and refuses exports that cannot be true.

Each case asserts its exact outcome: the message (and exit status 2 at the command line), what
was written, and that the user's files are byte-identical wherever nothing should change them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
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

    assert result.rows_written == 4
    new = table.read_bytes()
    newline = b"\r\n" if b"\r\n" in old else b"\n"
    kept = old if old.endswith(newline) else old + newline
    assert new.startswith(kept)
    added = new[len(kept):].decode(encoding)
    assert added.count("35436") == 1 and added.count(newline.decode()) == 4 and added.endswith(newline.decode())
    with Workspace(tmp_path) as ws:
        rows = ws.read("escalations").set_index("escalation_id")
    assert sorted(rows.index) == ["35436", "35437", "35438", "35439", "E1"]
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
    assert str(err.value) == f"--workspace {tmp_path / 'escalations.csv' / 'mine.txt'} is a file; imports write into a workspace folder"
    with pytest.raises(ImportDataError) as err:
        run_import("zendesk", [FIXTURES / "zendesk_incremental.json"], tmp_path / "escalations.csv" / "mine.txt" / "ws")
    assert str(err.value) == (f"--workspace {tmp_path / 'escalations.csv' / 'mine.txt' / 'ws'}: "
                              f"{tmp_path / 'escalations.csv' / 'mine.txt'} is a file; imports write into a workspace folder")
    assert _tree(tmp_path) == before


def test_the_same_file_given_twice_is_written_once(tmp_path):
    result = run_import("posthog-events", [FIXTURES / "posthog_events.csv"] * 2, tmp_path)
    assert (result.rows_read, result.rows_written, result.repeated) == (6, 3, 3)
    assert "3 rows given more than once in this import (identical in every column), written once" in result.describe()
    tickets = run_import("zendesk", [FIXTURES / "zendesk_incremental.json"] * 2, tmp_path)
    assert (tickets.rows_written, tickets.repeated) == (4, 4)
    assert len(pd.read_csv(tmp_path / "escalations.csv")) == 4


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
        "(row 2: 'now', row 3: 'today', row 4: 'Jan', row 5: '5/6/2026'); "
        "set the format in a --mapping file (dates: {format: ...}, in Python's strftime codes)"
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


# -- what a hostile user tried next ---------------------------------------------------------------

NPS_SCORES = Path(__file__).resolve().parent.parent / "params" / "mappings" / "nps_scores.yaml"
NPS_COLUMNS = "response_id,account_id,visitor_id,product,score,comment,submitted_at"
GROUPS = '"{""$groups"": {""company"": ""acme""}}"'  # a PostHog event's account, as its CSV export quotes it


@pytest.mark.parametrize("header, row, newline", [
    (NPS_COLUMNS.replace(",", "|"), "R1|A1|V1|mobile-app|9|great|2026-01-05T10:00:00Z", "\n"),
    (NPS_COLUMNS.replace(",", ", "), "R1, A1, V1, mobile-app, 9, great, 2026-01-05T10:00:00Z", "\n"),
    (NPS_COLUMNS, "R1,A1,V1,mobile-app,9,great,2026-01-05T10:00:00Z", "\r"),
    ('"Notes\n(internal)",' + NPS_COLUMNS, "x,R1,A1,V1,mobile-app,9,great,2026-01-05T10:00:00Z", "\n"),
], ids=["pipes", "spaces after commas", "carriage returns only", "a quoted line break in the header"])
def test_tables_of_any_dialect_the_contract_reads_are_appended_to_so_they_read_back(header, row, newline, tmp_path):
    table = tmp_path / "ws" / "nps_responses.csv"
    table.parent.mkdir()
    old = (header + newline + row + newline).encode()
    table.write_bytes(old)
    export = tmp_path / "answers-2023-10.csv"
    export.write_text("response\n7\n10\n")
    result = run_import("generic", [export], tmp_path / "ws", mapping_file=NPS_SCORES)
    assert result.rows_written == 2
    assert table.read_bytes().startswith(old)
    with Workspace(tmp_path / "ws") as ws:
        rows = ws.read("nps_responses").set_index("response_id")
    assert rows.loc[["answer-answers-2023-10-1", "answer-answers-2023-10-2"], "score"].tolist() == [7, 10]
    assert rows.loc["R1", "account_id"] == "A1"


def test_next_months_scores_are_added_beside_this_months(tmp_path):
    """The shipped mapping makes ids from the export's file name and row, so they do not collide."""
    for month, scores in (("2023-10", "7\n10\n"), ("2023-11", "3\n4\n5\n")):
        export = tmp_path / f"answers-{month}.csv"
        export.write_text("response\n" + scores)
        result = run_import("generic", [export], tmp_path / "ws", mapping_file=NPS_SCORES)
        assert (result.rows_written, result.rows_already_there) == (len(scores.split()), 0)
    assert pd.read_csv(tmp_path / "ws" / "nps_responses.csv")["score"].tolist() == [7, 10, 3, 4, 5]


def _parquet(folder: Path, name: str, select: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute(f"COPY ({select}) TO ? (FORMAT parquet)", [str(folder / name)])
    return folder / name


def test_a_parquet_tables_own_columns_survive_whatever_their_names(tmp_path):
    events = _parquet(tmp_path, "events.parquet", "SELECT TIMESTAMP '2026-01-01 10:00:00' AS ts, 'v' AS visitor_id, 'a' AS account_id, "
                      "'app' AS product, CAST(NULL AS VARCHAR) AS feature_id, 'keep me' AS _n, 'me too' AS _part, "
                      "'x' AS _playbook_part, 1 AS file_row_number")
    assert run_import("posthog-events", [FIXTURES / "posthog_events.csv"], tmp_path).rows_written == 3
    with duckdb.connect() as con:
        rows = con.execute("SELECT * EXCLUDE (ts) FROM read_parquet(?)", [str(events)]).fetchall()
    assert rows[0] == ("v", "a", "app", None, "keep me", "me too", "x", 1)
    assert [r[:4] for r in rows[1:]] == [("user-1", "acme", "app", "report_saved"), ("user-1", "acme", "app", "dashboard_viewed"),
                                         ("user-2", "initech", "app", "$pageview")]
    check = playbook_cli("validate", "--workspace", str(tmp_path))
    assert check.returncode == 0 and "events.parquet" in check.stdout and "Traceback" not in check.stderr


@pytest.mark.parametrize("column, stored, value, message", [
    ("ts", "DATE '2026-01-01'", None,
     "events.parquet stores ts as DATE, which cannot hold the new rows' values exactly ('2026-01-10 10:00:00' would be stored "
     "as '2026-01-10 00:00:00', '2026-01-10 10:05:00' would be stored as '2026-01-10 00:00:00', '2026-01-10 10:00:00' would "
     "be stored as '2026-01-10 00:00:00'); nothing was written. Store ts as TIMESTAMP in the file to import into it"),
    ("annual_cost", "CAST(100 AS INTEGER)", "1234.56",
     "tools.parquet stores annual_cost as INTEGER, which cannot hold the new rows' values exactly ('1234.56' would be stored "
     "as '1235.0'); nothing was written. Store annual_cost as DOUBLE in the file to import into it"),
    ("annual_cost", "CAST(100 AS INTEGER)", "3000000000",
     "tools.parquet: the new rows do not fit the file's own column types (Conversion Error: Type DOUBLE with value "
     "3000000000.0 can't be cast because the value is out of range for the destination type INT32); nothing was written"),
])
def test_values_a_parquet_tables_own_types_cannot_hold_refuse_the_import(column, stored, value, message, tmp_path):
    if column == "ts":
        target = _parquet(tmp_path, "events.parquet", f"SELECT {stored} AS ts, 'v' AS visitor_id, 'a' AS account_id, "
                          "'app' AS product, CAST(NULL AS VARCHAR) AS feature_id")
        files, preset, mapping = [FIXTURES / "posthog_events.csv"], "posthog-events", None
    else:
        target = _parquet(tmp_path, "tools.parquet", f"SELECT 'Slack' AS tool, 'chat' AS category, 'it' AS owner_team, "
                          f"{stored} AS annual_cost, 10 AS seats, CAST(NULL AS TIMESTAMP) AS renewal_date")
        export = tmp_path / "tools.csv"
        export.write_text(f"Tool,Cost,Seats\nZoom,{value},4\n")
        mapping = tmp_path / "tools.yaml"
        mapping.write_text("table: tools\ncolumns:\n  tool: Tool\n  annual_cost: Cost\n  seats: Seats\n"
                           "constants:\n  category: video\n  owner_team: it\n")
        files, preset = [export], "generic"
    before = _digest(target)
    with pytest.raises(ImportDataError) as err:
        run_import(preset, files, tmp_path, mapping_file=mapping)
    assert str(err.value) == message
    assert _digest(target) == before


def test_two_imports_at_once_both_land(tmp_path):
    """One import at a time writes into a workspace; the second waits for the first."""
    _parquet(tmp_path / "ws", "events.parquet", "SELECT TIMESTAMP '2025-01-01' + to_seconds(range) AS ts, 'v' || range AS visitor_id, "
             "'a' AS account_id, 'app' AS product, CAST(NULL AS VARCHAR) AS feature_id FROM range(300000)")
    for n in (1, 2):
        (tmp_path / f"one-{n}.csv").write_text(f"uuid,event,properties,timestamp,distinct_id\n{n},e{n},{GROUPS},2026-01-1{n}T10:00:00Z,u{n}\n")
    command = [str(Path(sys.executable).parent / "playbook")]
    runs = [subprocess.Popen([*command, "import", "posthog-events", str(tmp_path / f"one-{n}.csv"), "-w", str(tmp_path / "ws")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in (1, 2)]
    assert [r.wait(timeout=120) for r in runs] == [0, 0]
    with duckdb.connect() as con:
        count = con.execute("SELECT count(*) FROM read_parquet(?)", [str(tmp_path / "ws" / "events.parquet")]).fetchone()[0]
    assert count == 300_002


def test_a_relative_workspace_still_judges_references(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "accounts.csv").write_text("account_id,name,segment,plan,region,arr,created_at,churned_at\n"
                                                  "509974,Acme,smb,pro,EU,1000,2024-01-01,\n")
    result = run_import("zendesk", [FIXTURES / "zendesk_incremental.json"], Path("ws"))
    assert result.rows_written == 2
    assert "refers to an account_id missing from accounts.csv" in " ".join(result.set_aside)


def test_identical_events_in_one_export_are_two_clicks(tmp_path):
    export = tmp_path / "clicks.csv"
    export.write_text("uuid,event,properties,timestamp,distinct_id\n"
                      f"a1,report_saved,{GROUPS},2026-01-10T10:00:00Z,u1\na2,report_saved,{GROUPS},2026-01-10T10:00:00Z,u1\n")
    first = run_import("posthog-events", [export], tmp_path / "ws")
    assert (first.rows_written, first.repeated) == (2, 0)
    # The same export again, or named twice, adds nothing; one more click in a later export adds one.
    again = run_import("posthog-events", [export, export], tmp_path / "ws")
    assert (again.rows_written, again.rows_already_there, again.repeated) == (0, 2, 2)
    more = tmp_path / "more.csv"
    more.write_text(export.read_text() + f"a3,report_saved,{GROUPS},2026-01-10T10:00:00Z,u1\n")
    assert run_import("posthog-events", [more], tmp_path / "ws").rows_written == 1


def test_a_table_that_is_a_link_keeps_its_link_and_a_read_only_one_is_left_alone(tmp_path):
    shared = tmp_path / "shared" / "escalations.csv"
    shared.parent.mkdir()
    shared.write_text(ESCALATION_COLUMNS + "\nE1,A1,app,support,P2,bug,Slow,2026-01-02T10:00:00Z,,,0\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "escalations.csv").symlink_to(shared)
    assert run_import("zendesk", [FIXTURES / "zendesk_incremental.json"], ws).rows_written == 4
    assert (ws / "escalations.csv").is_symlink() and shared.read_text().count("\n") == 6
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "escalations.csv").write_text(ESCALATION_COLUMNS + "\nE1,A1,app,support,P2,bug,Slow,2026-01-02T10:00:00Z,,,0\n")
    (locked / "escalations.csv").chmod(0o444)
    before = _tree(locked)
    with pytest.raises(ImportDataError) as err:
        run_import("zendesk", [FIXTURES / "zendesk_incremental.json"], locked)
    assert str(err.value) == "the workspace's escalations.csv is read-only; nothing was written"
    assert _tree(locked) == before


@pytest.mark.parametrize("name, body, preset, message", [
    ("tickets.json", '{"tickets": [{"id": 1, "priority": "high", "status": 3}]}', "zendesk",
     "tickets.json: no 'created_at' (or 'Created at') in the tickets; columns found: id, priority, status"),
    ("events.csv", "uuid,event,properties,timestamp,distinct_id\n1,x,{broken,2026-01-10T10:00:00Z,u\n", "posthog-events",
     "events.csv: column 'properties': 1 value is not a JSON object (row 1: '{broken')"),
    ("answers.csv", "id,score,answered,comment\nR1,9,2026-01-07,great, but slow on Android\n", "generic",
     "answers.csv: 1 row with more fields than the header's 4 (row 1: 5 fields); a value holding ',' must be in double quotes"),
])
def test_exports_that_would_have_ended_in_a_traceback(name, body, preset, message, tmp_path):
    export = tmp_path / name
    export.write_text(body)
    mapping = tmp_path / "m.yaml"
    mapping.write_text("table: nps_responses\ncolumns:\n  response_id: id\n  score: score\n  submitted_at: answered\n  comment: comment\n"
                       "constants:\n  account_id: a\n  product: s\n")
    args = ["--mapping", str(mapping)] if preset == "generic" else []
    cli = playbook_cli("import", preset, str(export), *args, "--workspace", str(tmp_path / "ws"))
    assert (cli.returncode, cli.stderr.strip()) == (2, f"error: {message}")
    assert not (tmp_path / "ws").exists()


@pytest.mark.parametrize("dates, constant, message", [
    ("  format: '%W %Y'\n", "", "answers.csv: column 'answered': the date format '%W %Y' cannot be used: "
                                "Cannot use '%W' or '%U' without day and year"),
    ("  timezone: Europe/Paris\n", "  submitted_at: '2026-03-29 02:30'\n",
     "answers.csv: constant submitted_at: 1 value does not exist in Europe/Paris (the hour skipped when clocks go forward) "
     "(row 1: '2026-03-29 02:30')"),
])
def test_dates_a_mapping_cannot_give(dates, constant, message, tmp_path):
    export = tmp_path / "answers.csv"
    export.write_text("id,score,answered\n1,9,01 2026\n")
    mapping = tmp_path / "m.yaml"
    source = "" if constant else "  submitted_at: answered\n"
    mapping.write_text(f"table: nps_responses\ncolumns:\n  response_id: id\n  score: score\n{source}"
                       f"constants:\n  account_id: a\n  product: s\n{constant}dates:\n{dates}")
    with pytest.raises(ImportDataError) as err:
        run_import("generic", [export], tmp_path / "ws", mapping_file=mapping)
    assert str(err.value) == message


def test_amplitude_groups_that_look_like_lists_are_names(tmp_path):
    import zipfile

    event = {"event_type": "a", "user_id": "u", "event_time": "2026-01-10 10:00:00.000000", "groups": {"company": "[ACME] Corp"}}
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("1/1_2026-01-10_10#0.json.gz", gzip.compress(json.dumps(event).encode()))
    assert run_import("amplitude", [export], tmp_path / "ws").rows_written == 1
    with duckdb.connect() as con:
        assert con.execute("SELECT account_id FROM read_parquet(?)", [str(tmp_path / "ws" / "events.parquet")]).fetchall() == [("[ACME] Corp",)]


def test_an_empty_workspace_argument_is_refused(tmp_path):
    cli = playbook_cli("import", "delighted", str(FIXTURES / "delighted.json"), "--workspace", "", cwd=tmp_path)
    assert (cli.returncode, cli.stderr.strip()) == (2, "error: --workspace is empty; give the workspace folder to import into")
    assert not list(tmp_path.iterdir())


# -- and what a second hostile pass tried ---------------------------------------------------------


def test_two_imports_into_a_workspace_not_yet_made_both_land(tmp_path):
    """The lock does not depend on the folder existing: both imports are serialised from the start."""
    big = tmp_path / "big.csv"
    big.write_text("uuid,event,properties,timestamp,distinct_id\n" + "".join(
        f"b{i},e,{GROUPS},2026-01-10T10:{i // 60 % 60:02d}:{i % 60:02d}.{i:06d}Z,u{i}\n" for i in range(60_000)))
    small = tmp_path / "small.csv"
    small.write_text(f"uuid,event,properties,timestamp,distinct_id\ns1,e,{GROUPS},2026-02-01T10:00:00Z,solo\n")
    command = [str(Path(sys.executable).parent / "playbook"), "import", "posthog-events"]
    runs = [subprocess.Popen([*command, str(export), "-w", str(tmp_path / "ws")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for export in (big, small)]
    assert [r.wait(timeout=300) for r in runs] == [0, 0]
    with duckdb.connect() as con:
        rows = con.execute("SELECT count(*), count(*) FILTER (WHERE visitor_id = 'solo') FROM read_parquet(?)",
                           [str(tmp_path / "ws" / "events.parquet")]).fetchone()
    assert rows == (60_001, 1)


def test_a_column_called_rowid_does_not_switch_off_the_exactness_check(tmp_path):
    target = _parquet(tmp_path, "nps_responses.parquet", "SELECT 'R1' AS response_id, 'A1' AS account_id, NULL::VARCHAR AS visitor_id, "
                      "'s' AS product, 9 AS score, NULL::VARCHAR AS comment, DATE '2026-01-01' AS submitted_at, 7 AS rowid")
    export, mapping = _generic(tmp_path, "1,9,2026-05-06T10:00:00Z\n")
    before = _digest(target)
    with pytest.raises(ImportDataError) as err:
        run_import("generic", [export], tmp_path, mapping_file=mapping)
    assert str(err.value).startswith("nps_responses.parquet stores submitted_at as DATE, which cannot hold the new rows' values exactly")
    assert _digest(target) == before


def test_columns_that_differ_only_in_case_are_not_merged(tmp_path):
    """Such a file comes from other writers (DuckDB renames on write): made here by renaming a column in the footer."""
    target = _parquet(tmp_path, "events.parquet", "SELECT TIMESTAMP '2026-01-01' AS ts, 'v' AS visitor_id, 'a' AS account_id, "
                      "'app' AS product, NULL::VARCHAR AS feature_id, {'s': 1} AS nested, 'theirs' AS Xroduct")
    target.write_bytes(target.read_bytes().replace(b"Xroduct", b"Product"))
    before = _digest(target)
    with pytest.raises(ImportDataError) as err:
        run_import("posthog-events", [FIXTURES / "posthog_events.csv"], tmp_path)
    assert str(err.value) == ("events.parquet has columns whose names differ only in case (product and Product); "
                              "rename one of each, then import again; nothing was written")
    assert _digest(target) == before


@pytest.mark.parametrize("text", [
    NPS_COLUMNS + "\n" + "".join(f"R{i},A1,,s,9,it's fine,2026-01-05\n" for i in range(50)) + "R50,A1,,s,9,'Excellent',2026-01-05\n'R52',A1,,s,9,ok,2026-01-05\n",
    NPS_COLUMNS + '\nR1,A1,,s,9,"two\r\nlines",2026-01-05\nR2,A1,,s,9,ok,2026-01-05\n',
], ids=["single quotes as the quote character", "a CRLF inside a quoted cell of an LF file"])
def test_old_rows_read_the_same_after_an_append_or_nothing_is_written(text, tmp_path):
    table = tmp_path / "nps_responses.csv"
    table.write_text(text, newline="")
    with Workspace(tmp_path) as ws:
        before = ws.read("nps_responses")
    old = table.read_bytes()
    export = tmp_path / "answers-1.csv"
    export.write_text('response\n"7"\n')
    try:
        result = run_import("generic", [export], tmp_path, mapping_file=NPS_SCORES)
    except ImportDataError as err:
        assert "cannot be written so that the file reads back as it did" in str(err)
        assert table.read_bytes() == old
        return
    assert result.rows_written == 1 and table.read_bytes().startswith(old)
    with Workspace(tmp_path) as ws:
        after = ws.read("nps_responses")
    pd.testing.assert_frame_equal(after[after["response_id"].isin(before["response_id"])].reset_index(drop=True), before)


def test_a_quote_never_closed_and_rows_counted_per_file(tmp_path):
    export, mapping = _generic(tmp_path, "")
    export.write_text("id,score,answered\n1,9,2026-01-05\n2,\"7,2026-01-06\n" + "".join(f"{i},8,2026-01-07\n" for i in range(3, 2000)))
    cli = playbook_cli("import", "generic", str(export), "--mapping", str(mapping), "--workspace", str(tmp_path / "ws"))
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert cli.stderr.strip().startswith("error: answers.csv: line ")
    assert "a double quote opened there is never closed" in cli.stderr
    # With several files, a fault is named in its own file's rows.
    (tmp_path / "fa.csv").write_text("id,score,answered\na1,9,2026-01-05\na2,7,2026-01-05\n")
    (tmp_path / "fb.csv").write_text("id,score,answered\nb1,9,2026-01-05\nb2,nine,2026-01-05\n")
    with pytest.raises(ImportDataError) as err:
        run_import("generic", [tmp_path / "fa.csv", tmp_path / "fb.csv"], tmp_path / "ws", mapping_file=mapping)
    assert str(err.value) == ("fb.csv as nps_responses.csv: column 'score' expected a whole number of at most 15 digits; "
                              "1 value does not parse (row 2: 'nine')")


def test_a_gzipped_or_txt_csv_export_is_read_as_csv(tmp_path):
    export, mapping = _generic(tmp_path, "1,9,2026-05-06\n")
    for name, body in (("answers.csv.gz", gzip.compress(export.read_bytes())), ("answers.txt", export.read_bytes())):
        (tmp_path / name).write_bytes(body)
        result = run_import("generic", [tmp_path / name], tmp_path / name.replace(".", "-"), mapping_file=mapping)
        assert result.rows_written == 1
