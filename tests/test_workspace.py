from datetime import date, datetime, timezone

import duckdb
import pandas as pd
import pytest

from playbook.errors import SchemaError, WorkspaceError
from playbook.workspace import Workspace, validate

HEADER = "response_id,account_id,visitor_id,product,score,comment,submitted_at\n"


def _write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_missing_workspace_folder(tmp_path):
    with pytest.raises(WorkspaceError, match=r"does not exist; create it with `playbook sample"):
        Workspace(tmp_path / "nope")


def test_missing_table_file(tmp_path):
    with Workspace(tmp_path) as ws:
        assert not ws.has("nps_responses")
        with pytest.raises(SchemaError, match=r"missing table file nps_responses\.csv or nps_responses\.parquet"):
            ws.load("nps_responses")


def test_missing_column_names_file_and_columns(tmp_path):
    _write(tmp_path, "nps_responses.csv", "response_id,account_id,product,comment,submitted_at\nR1,A1,p,,2026-01-01\n")
    with Workspace(tmp_path) as ws, pytest.raises(SchemaError) as err:
        ws.load("nps_responses")
    text = str(err.value)
    assert text.startswith("nps_responses.csv: missing columns 'visitor_id', 'score'")
    assert "expected columns: response_id, account_id, visitor_id, product, score" in text


def test_unparseable_values_name_column_type_and_rows(tmp_path):
    rows = "R1,A1,,p,9,,2026-01-01T10:00:00Z\nR2,A1,,p,nine,,2026-01-02\nR3,A1,,p,ten,,2026-01-03\n"
    _write(tmp_path, "nps_responses.csv", HEADER + rows)
    with Workspace(tmp_path) as ws, pytest.raises(SchemaError) as err:
        ws.load("nps_responses")
    assert str(err.value) == (
        "nps_responses.csv: column 'score' expected a whole number of at most 15 digits; 2 values do not parse "
        "(row 2: 'nine', row 3: 'ten')"
    )


def test_bad_timestamp(tmp_path):
    _write(tmp_path, "nps_responses.csv", HEADER + "R1,A1,,p,9,,yesterday\n")
    with Workspace(tmp_path) as ws, pytest.raises(SchemaError, match=r"column 'submitted_at' expected an ISO-8601 date or timestamp \(UTC\); 1 value does not parse \(row 1: 'yesterday'\)"):
        ws.load("nps_responses")


def test_out_of_range_rows_are_set_aside_and_reported(tmp_path):
    rows = (
        "R1,A1,,p,9,ok,2026-01-01T10:00:00Z\n"
        "R2,A1,,p,11,too high,2026-01-02T10:00:00Z\n"
        "R3,A2,,p,7.5,half,2026-01-03T10:00:00Z\n"
        "R4,A2,,p,-1,negative,2026-01-03T10:00:00Z\n"
        "R1,A3,,p,8,repeated id,2026-01-04T10:00:00Z\n"
        "R6,,,p,8,no account,2026-01-04T10:00:00Z\n"
        "R7,A3,,p,0,fine,2026-01-05T10:00:00+02:00\n"
    )
    _write(tmp_path, "nps_responses.csv", HEADER + rows)
    with Workspace(tmp_path) as ws:
        report = ws.load("nps_responses")
        kept = ws.read("nps_responses")
    assert report.rows_read == 7 and report.rows_kept == 2 and report.rows_set_aside == 5
    assert sorted(kept["response_id"]) == ["R1", "R7"]
    assert report.describe() == [
        "nps_responses.csv: 1 row set aside: column 'account_id' is empty but required (row 6: empty)",
        "nps_responses.csv: 1 row set aside: column 'score' is not a whole number (row 3: 7.5)",
        "nps_responses.csv: 2 rows set aside: column 'score' expected 0..10 (row 2: 11, row 4: -1)",
        "nps_responses.csv: 1 row set aside: column 'response_id' repeats an id already used in an earlier row (row 5: 'R1')",
    ]
    # offsets are converted to UTC
    assert kept.set_index("response_id").loc["R7", "submitted_at"] == pd.Timestamp("2026-01-05 08:00:00")


def test_negative_arr_is_set_aside(tmp_path):
    text = (
        "account_id,name,segment,plan,region,arr,created_at,churned_at\n"
        "A1,a,smb,starter,NA,1000,2025-01-01,\n"
        "A2,b,smb,starter,NA,-5,2025-01-01,\n"
    )
    _write(tmp_path, "accounts.csv", text)
    reports, errors = validate(tmp_path)
    assert errors == []
    assert reports[0].describe() == ["accounts.csv: 1 row set aside: column 'arr' expected 0 or more (USD) (row 2: -5)"]


def test_extra_columns_are_kept_and_ignored_by_checks(tmp_path):
    _write(tmp_path, "nps_responses.csv", HEADER.strip() + ",channel\nR1,A1,,p,9,,2026-01-01,email\n")
    with Workspace(tmp_path) as ws:
        frame = ws.read("nps_responses")
    assert frame.loc[0, "channel"] == "email" and frame.loc[0, "score"] == 9


def test_filtering_by_product_and_period_happens_in_sql(tmp_path):
    rows = "".join(
        f"R{i},A1,,{'p1' if i % 2 else 'p2'},{i % 11},,2026-01-{i:02d}T23:59:00Z\n" for i in range(1, 31)
    )
    _write(tmp_path, "nps_responses.csv", HEADER + rows)
    with Workspace(tmp_path) as ws:
        frame = ws.read("nps_responses", products=["p1"], start=date(2026, 1, 10), end=date(2026, 1, 20))
        naive = ws.read("nps_responses")
    expected = naive[(naive["product"] == "p1") & (naive["submitted_at"].dt.date.between(date(2026, 1, 10), date(2026, 1, 20)))]
    assert sorted(frame["response_id"]) == sorted(expected["response_id"])
    assert len(frame) == 5  # days 11, 13, 15, 17, 19; the end day counts in full


def test_parquet_and_duckdb_workspaces_read_the_same(tmp_path, tiny_workspace):
    csv_ws = Workspace(tiny_workspace)
    expected = csv_ws.read("nps_responses").sort_values("response_id", ignore_index=True)
    folder = tmp_path / "pq"
    folder.mkdir()
    con = duckdb.connect(str(tmp_path / "ws.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    con.register("frame", expected)
    con.execute("COPY frame TO ? (FORMAT parquet)", [str(folder / "nps_responses.parquet")])
    con.execute("CREATE TABLE nps_responses AS SELECT * FROM frame")
    con.close()
    for path in (folder, tmp_path / "ws.duckdb"):
        with Workspace(path) as ws:
            assert ws.tables() == ["nps_responses"]
            got = ws.read("nps_responses").sort_values("response_id", ignore_index=True)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    csv_ws.close()


def test_fingerprint_changes_with_content(tmp_path):
    _write(tmp_path, "nps_responses.csv", HEADER + "R1,A1,,p,9,,2026-01-01\n")
    first = Workspace(tmp_path).fingerprint()
    _write(tmp_path, "nps_responses.csv", HEADER + "R1,A1,,p,8,,2026-01-01\n")
    assert Workspace(tmp_path).fingerprint() != first


def test_response_before_opening_is_emptied_not_a_negative_duration(tmp_path):
    header = "escalation_id,account_id,product,team,priority,category,title,opened_at,first_response_at,resolved_at,reopened\n"
    rows = (
        "E1,A1,p,t,P1,bug,ok,2026-11-01T10:00:00Z,2026-11-01T10:30:00Z,2026-11-02T10:00:00Z,0\n"
        "E2,A1,p,t,P2,bug,early reply,2026-11-01T10:00:00Z,2026-11-01T09:00:00Z,2026-11-03T10:00:00Z,0\n"
        "E3,A1,p,t,P5,bug,bad priority,2026-11-01T10:00:00Z,,,0\n"
    )
    _write(tmp_path, "escalations.csv", header + rows)
    with Workspace(tmp_path) as ws:
        report = ws.load("escalations")
        frame = ws.read("escalations").set_index("escalation_id")
    assert report.rows_kept == 2 and sorted(frame.index) == ["E1", "E2"]
    assert pd.isna(frame.loc["E2", "first_response_at"]) and frame.loc["E2", "resolved_at"] == pd.Timestamp("2026-11-03 10:00")
    assert report.describe() == [
        "escalations.csv: 1 row set aside: column 'priority' expected one of P1, P2, P3, P4 (row 3: 'P5')",
        "escalations.csv: 1 value emptied (the rows are kept): column 'first_response_at' expected on or after opened_at "
        "(row 2: '2026-11-01 09:00:00')",
    ]


EVENTS_HEADER = "ts,visitor_id,account_id,product,feature_id,browser\n"
EVENTS_ROWS = (
    "2026-11-01 09:00:00,V1,A1,p,F1,firefox\n"
    "2026-11-01 10:00:00,V2,A1,p,,chrome\n"
    "2026-11-02 11:00:00,,A2,p,F2,chrome\n"  # row 3: no visitor
    "2026-11-03 12:00:00,V3,A2,p,F1,safari\n"
    "2031-01-01 00:00:00,V4,A3,p,F2,chrome\n"  # row 5: in the future
    "2026-11-04 13:00:00,V4,,p,F2,chrome\n"  # row 6: no account
    "2026-11-05 14:00:00,V5,A3,q,F3,edge\n"
)


@pytest.mark.parametrize("form", ["parquet", "parquet with other types", "duckdb"])
def test_typed_events_judged_in_place_match_the_copied_csv(tmp_path, form):
    """Typed tables without a key are checked where they lie (no copy); the outcome must equal the CSV path's."""
    csv_dir = _write(tmp_path / "csv", "events.csv", EVENTS_HEADER + EVENTS_ROWS)
    with Workspace(csv_dir, now=datetime(2026, 11, 27, tzinfo=timezone.utc)) as ws:
        expected_report = ws.load("events")
        expected = ws.read("events")
    assert expected_report.rows_read == 7 and expected_report.rows_kept == 4
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.sql("SELECT * FROM read_csv(?, header = true, timestampformat = '%Y-%m-%d %H:%M:%S')",
            params=[str(csv_dir / "events.csv")]).create_view("frame")
    if form == "parquet with other types":
        # Nanosecond times with a zone: a pandas- or Spark-written file; cast as read.
        select = "CAST(CAST(CAST(ts AS TIMESTAMPTZ) AS TIMESTAMP) AS TIMESTAMP_NS) AS ts, * EXCLUDE (ts)"
    else:
        select = "*"
    folder = tmp_path / "typed"
    folder.mkdir()
    if form == "duckdb":
        target = tmp_path / "ws.duckdb"
        carried = tmp_path / "carried.parquet"  # types kept as they are
        con.execute(f"COPY (SELECT {select} FROM frame) TO ? (FORMAT parquet)", [str(carried)])
        with duckdb.connect(str(target)) as out:
            out.execute("CREATE TABLE events AS SELECT * FROM read_parquet(?)", [str(carried)])
        label = "ws.duckdb:events"
    else:
        target = folder
        con.execute(f"COPY (SELECT {select} FROM frame) TO ? (FORMAT parquet)", [str(folder / "events.parquet")])
        label = "events.parquet"
    con.close()
    with Workspace(target, now=datetime(2026, 11, 27, tzinfo=timezone.utc)) as ws:
        assert ws._direct_source(ws_contract("events"), ws._source("events")) is not None
        report = ws.load("events")
        got = ws.read("events")
        assert ws.con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchall()[0][0] == 0
    assert report.source == label
    assert [line.replace(label, "X") for line in report.describe()] == [
        line.replace("events.csv", "X") for line in expected_report.describe()
    ]
    assert all(f"row {n}:" in " ".join(report.describe()) for n in (3, 5, 6))
    pd.testing.assert_frame_equal(got, expected)


def test_typed_events_with_a_text_time_column_are_parsed_by_copy(tmp_path):
    """A Parquet column typed other than the contract wants goes through the parsing path and its errors."""
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT * FROM (VALUES ('2026-11-01 09:00:00', 'V1', 'A1', 'p', 'F1'), ('soon', 'V2', 'A1', 'p', NULL)) "
        "t(ts, visitor_id, account_id, product, feature_id)) TO ? (FORMAT parquet)", [str(tmp_path / "events.parquet")]
    )
    con.close()
    with Workspace(tmp_path) as ws:
        assert ws._direct_source(ws_contract("events"), ws._source("events")) is None
        expected = r"events\.parquet: column 'ts' expected an ISO-8601 date or timestamp \(UTC\); 1 value does not parse \(row 2: 'soon'\)"
        with pytest.raises(SchemaError, match=expected):
            ws.load("events")


def ws_contract(name):
    from playbook.schemas import get_table

    return get_table(name)


def test_spill_folder_exists_only_while_duckdb_spills(tmp_path, monkeypatch):
    """DuckDB's spill folder is made when a query outgrows the budget and is gone after close."""
    monkeypatch.setenv("PLAYBOOK_DUCKDB_MEMORY", "256MB")  # DuckDB 1.4 needs some room to spill at all
    _write(tmp_path, "nps_responses.csv", HEADER + "R1,A1,,p,9,,2026-01-01\n")
    idle = Workspace(tmp_path)
    idle.load("nps_responses")
    assert not idle._spill.exists()  # nothing spilled, nothing made
    idle.close()
    ws = Workspace(tmp_path)
    # A grouping larger than the budget spills (a temporary table in memory would not).
    assert ws.sql("SELECT count(*) AS n FROM (SELECT DISTINCT md5(CAST(range AS VARCHAR)) FROM range(3000000))")["n"][0] == 3_000_000
    assert ws._spill.exists()  # made when the grouping spilled (DuckDB 1.4 removes its files once done)
    ws.close()
    assert not ws._spill.exists()


def test_events_file_replaced_after_the_check_cannot_bring_in_unchecked_rows(tmp_path):
    """Checked in place, events are read again by each query; the contract's rules go with them."""
    def write(rows):
        frame = pd.DataFrame({"ts": pd.to_datetime([ts for ts, _ in rows]).astype("datetime64[us]"), "visitor_id": [v for _, v in rows],
                              "account_id": "A1", "product": "p", "feature_id": pd.Series([None] * len(rows), dtype=object)})
        con = duckdb.connect()
        con.register("frame", frame)
        con.execute("COPY (SELECT * REPLACE (CAST(feature_id AS VARCHAR) AS feature_id) FROM frame) TO ? (FORMAT parquet)",
                    [str(tmp_path / "events.parquet")])
        con.close()

    write([("2026-11-01 09:00:00", "V1"), ("2026-11-02 09:00:00", "V2")])
    with Workspace(tmp_path, now=datetime(2026, 11, 27, tzinfo=timezone.utc)) as ws:
        assert ws.load("events").rows_kept == 2
        assert ws.con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchall()[0][0] == 0  # no copy
        write([("2026-11-01 09:00:00", "V1"), ("2026-11-03 09:00:00", None), ("2030-01-01 00:00:00", "V9")])
        assert ws.read("events")["visitor_id"].tolist() == ["V1"]
