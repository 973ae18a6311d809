"""Exports as teams really have them: next week's export updates what changed, optional fields
get the mapping's defaults, deleted records leave, events without groups still have an account,
and the real public exports in ../shared/data/real/ import as their own documentation says."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import SHARED_REAL, playbook_cli
from playbook.importers import ImportDataError, run_import

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
REAL = pytest.mark.skipif(not SHARED_REAL.is_dir(), reason="../shared/data/real is not present (a user's clone)")
ZENDESK_PAGES = ["zendesk_zenpy_incremental_cursor.json", "zendesk_zenpy_incremental_cursor_2023-09-19.json"]


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


# -- the real public exports ---------------------------------------------------------------------


@REAL
@pytest.mark.parametrize("page", ZENDESK_PAGES)
def test_real_zendesk_pages_import_tickets_without_priority_and_skip_deleted_ones(tmp_path, page):
    tickets = json.loads((SHARED_REAL / page).read_text())["tickets"]
    live = [t for t in tickets if t["status"] != "deleted"]
    result = run_import("zendesk", [SHARED_REAL / page], tmp_path)

    # No ticket is set aside for its missing priority; deleted ones are counted, not imported.
    assert result.set_aside == []
    assert (result.rows_read, result.rows_written, result.deleted) == (len(tickets), len(live), len(tickets) - len(live))
    without = sum(1 for t in live if not t["priority"])
    assert f"{page}: {without:,} row{'s' if without > 1 else ''} without a 'priority' given priority P3 (defaults.priority in the mapping)" \
        in result.notes
    assert f"{len(tickets) - len(live):,} deleted at the source: skipped" in result.describe()
    rows = _csv(tmp_path / "escalations.csv").set_index("escalation_id")
    assert "SCRUBBED" not in set(rows["title"])
    # Ids, organisations (else the requester) and created times, ticket by ticket against the JSON.
    for ticket in live:
        row = rows.loc[str(ticket["id"])]
        assert row["account_id"] == str(ticket["organization_id"] or ticket["requester_id"])
        assert row["opened_at"] == ticket["created_at"]
        assert row["priority"] == {"urgent": "P1", "high": "P2", "normal": "P3", "low": "P4", None: "P3"}[ticket["priority"]]
        assert row["resolved_at"] == ""  # none of these is solved or closed
    assert len(rows) == len(live)


@REAL
def test_real_zendesk_pages_overlap_and_a_deleted_ticket_leaves_the_table(tmp_path):
    first = run_import("zendesk", [SHARED_REAL / ZENDESK_PAGES[0]], tmp_path)
    second = run_import("zendesk", [SHARED_REAL / ZENDESK_PAGES[1]], tmp_path)
    page_one = {t["id"]: t for t in json.loads((SHARED_REAL / ZENDESK_PAGES[0]).read_text())["tickets"]}
    page_two = json.loads((SHARED_REAL / ZENDESK_PAGES[1]).read_text())["tickets"]
    # Tickets on both pages with the same values are unchanged; the ones deleted since are removed.
    both_live = [t for t in page_two if t["status"] != "deleted" and t["id"] in page_one]
    deleted_since = [t for t in page_two if t["status"] == "deleted" and t["id"] in page_one and page_one[t["id"]]["status"] != "deleted"]
    assert (second.rows_already_there, second.removed) == (len(both_live), len(deleted_since))
    ids = set(_csv(tmp_path / "escalations.csv")["escalation_id"])
    assert not ids & {str(t["id"]) for t in page_two if t["status"] == "deleted"}
    assert first.rows_written + second.rows_written - second.removed == len(ids)


@REAL
def test_real_delighted_examples_give_their_documented_scores(tmp_path):
    run_import("delighted", [SHARED_REAL / "delighted_docs_list_survey_responses.json",
                             SHARED_REAL / "delighted_docs_add_survey_response.json"], tmp_path)
    rows = _csv(tmp_path / "nps_responses.csv")
    assert sorted(zip(rows["score"], rows["submitted_at"])) == [("0", "2024-04-18T05:34:20Z"), ("9", "2024-04-19T03:29:56Z")]


# -- next week's export --------------------------------------------------------------------------


def _resolved_later(tmp_path: Path) -> Path:
    """The Jira Server fixture a week later: MOB-102 resolved since, nothing else changed."""
    text = (FIXTURES / "jira_server.csv").read_text()
    later = text.replace(
        "Crash on login with SSO,MOB-102,10102,Bug,In Progress,In Progress,mobile,Mobile App,High,,Ana Lopez,Sam Ray,"
        "02/Jan/26 11:15 AM,05/Jan/26 4:40 PM,,",
        "Crash on login with SSO,MOB-102,10102,Bug,Done,Done,mobile,Mobile App,High,Fixed,Ana Lopez,Sam Ray,"
        "02/Jan/26 11:15 AM,09/Jan/26 6:00 PM,09/Jan/26 6:00 PM,",
    )
    assert later != text
    path = tmp_path / "jira-next-week.csv"
    path.write_text(later)
    return path


def test_a_jira_issue_resolved_since_is_updated_and_nothing_else(tmp_path):
    ws = tmp_path / "ws"
    run_import("jira", [FIXTURES / "jira_server.csv"], ws)
    before = _lines(ws / "bugs.csv")
    result = run_import("jira", [_resolved_later(tmp_path)], ws)

    assert (result.rows_written, result.rows_updated, result.rows_already_there) == (0, 1, 3)
    assert result.columns_updated == {"closed_at": 1}
    assert result.describe()[0].endswith(": 0 added, 1 updated (closed_at 1), 3 unchanged (same id)")
    after = _lines(ws / "bugs.csv")
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(after) == len(before) and len(changed) == 1
    old, new = before[changed[0]].decode().rstrip("\n").split(","), after[changed[0]].decode().rstrip("\n").split(",")
    header = before[0].decode().rstrip("\n").split(",")
    assert old[0] == "MOB-102"
    assert {header[i]: (a, b) for i, (a, b) in enumerate(zip(old, new)) if a != b} == {"closed_at": ("", "2026-01-09T18:00:00Z")}

    # The week before's export again is older than what the table holds: MOB-102 stays resolved.
    again = run_import("jira", [FIXTURES / "jira_server.csv"], ws)
    assert (again.rows_updated, again.rows_older, again.rows_already_there) == (0, 1, 3)
    assert _lines(ws / "bugs.csv") == after


def test_an_update_keeps_the_users_own_columns_and_other_bytes(tmp_path):
    """A row the user annotated keeps its annotation; only the export's changed value is rewritten."""
    ws = tmp_path / "ws"
    ws.mkdir()
    run_import("jira", [FIXTURES / "jira_server.csv"], ws)
    table = ws / "bugs.csv"
    lines = table.read_text().splitlines()
    annotated = [lines[0] + ",owner_note"] + [line + (',"checked, twice"' if "MOB-102" in line else ",") for line in lines[1:]]
    table.write_bytes(("\r\n".join(annotated) + "\r\n").encode())
    before = _lines(table)
    run_import("jira", [_resolved_later(tmp_path)], ws)
    after = _lines(table)
    assert [a == b for a, b in zip(before, after)].count(False) == 1
    row = _csv(table).set_index("bug_id").loc["MOB-102"]
    assert (row["closed_at"], row["owner_note"]) == ("2026-01-09T18:00:00Z", "checked, twice")
    assert after[2].endswith(b"\r\n")


def test_a_zendesk_ticket_solved_since_is_updated_in_a_parquet_table_too(tmp_path):
    page = json.loads((FIXTURES / "zendesk_incremental.json").read_text())
    later = json.loads(json.dumps(page))
    for ticket in later["tickets"]:
        if ticket["id"] == 35437:
            ticket.update(status="solved", updated_at="2026-01-12T10:00:00Z")
    for metrics in later["metric_sets"]:
        if metrics["ticket_id"] == 35437:
            metrics.update(solved_at="2026-01-12T10:00:00Z", reply_time_in_minutes={"calendar": 30, "business": 30})
    (tmp_path / "later.json").write_text(json.dumps(later))

    for kind in ("csv", "parquet"):
        ws = tmp_path / kind
        run_import("zendesk", [FIXTURES / "zendesk_incremental.json"], ws)
        if kind == "parquet":
            with duckdb.connect() as con:
                con.execute("COPY (SELECT *, 'kept' AS note, TIMESTAMP_NS '2026-01-05 09:00:00.123456789' AS seen "
                            "FROM read_csv($csv, all_varchar = true)) TO $parquet (FORMAT parquet, KV_METADATA {owner: 'finance'})",
                            {"csv": str(ws / "escalations.csv"), "parquet": str(ws / "escalations.parquet")})
            (ws / "escalations.csv").unlink()
        result = run_import("zendesk", [tmp_path / "later.json"], ws)
        assert (result.rows_updated, result.rows_already_there, result.columns_updated) == (
            1, 3, {"first_response_at": 1, "resolved_at": 1}), kind
        with duckdb.connect() as con:
            if kind == "parquet":
                rows = con.execute("SELECT * FROM read_parquet(?)", [str(ws / "escalations.parquet")]).df()
            else:
                rows = con.execute("SELECT * FROM read_csv(?, all_varchar = true)", [str(ws / "escalations.csv")]).df()
            rows = rows.set_index("escalation_id")
        assert (str(rows.loc["35437", "resolved_at"]), str(rows.loc["35437", "first_response_at"])) in (
            ("2026-01-12T10:00:00Z", "2026-01-05T11:00:00Z"), ("2026-01-12 10:00:00", "2026-01-05 11:00:00"))
        assert list(rows.index) == ["35436", "35437", "35438", "35439"]
        if kind == "parquet":
            # The file's own columns and precision are carried over in every row.
            assert set(rows["note"]) == {"kept"}
            with duckdb.connect() as con:
                kinds = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
                                         [str(ws / "escalations.parquet")]).fetchall())
                nanos = con.execute("SELECT DISTINCT epoch_ns(seen) % 1000 FROM read_parquet(?)", [str(ws / "escalations.parquet")]).fetchall()
                metadata = con.execute("SELECT key, value FROM parquet_kv_metadata(?)", [str(ws / "escalations.parquet")]).fetchall()
            assert kinds["seen"] == "TIMESTAMP_NS" and nanos == [(789,)]
            assert (b"owner", b"finance") in metadata


def test_a_ticket_deleted_since_it_was_imported_is_removed(tmp_path):
    run_import("zendesk", [FIXTURES / "zendesk_incremental.json"], tmp_path)
    before = _lines(tmp_path / "escalations.csv")
    later = json.loads((FIXTURES / "zendesk_incremental.json").read_text())
    later["tickets"] = [dict(t, status="deleted", subject="SCRUBBED") for t in later["tickets"] if t["id"] == 35438]
    later["metric_sets"] = []
    (tmp_path / "deleted.json").write_text(json.dumps(later))
    result = run_import("zendesk", [tmp_path / "deleted.json"], tmp_path)
    assert (result.deleted, result.removed, result.rows_written) == (1, 1, 0)
    assert "1 deleted at the source: skipped; 1 of them imported before, removed from escalations.csv" in result.describe()
    assert _lines(tmp_path / "escalations.csv") == [line for line in before if not line.startswith(b"35438,")]


def test_a_page_holding_a_ticket_twice_keeps_its_latest_change(tmp_path):
    page = json.loads((FIXTURES / "zendesk_incremental.json").read_text())
    newer = dict(page["tickets"][1], priority="urgent", updated_at="2026-01-06T09:00:00Z")
    page["tickets"] = [newer, *page["tickets"]]  # the newer change read first
    (tmp_path / "twice.json").write_text(json.dumps(page))
    result = run_import("zendesk", [tmp_path / "twice.json"], tmp_path / "ws")
    assert (result.rows_written, result.superseded) == (4, 1)
    assert _csv(tmp_path / "ws" / "escalations.csv").set_index("escalation_id").loc["35437", "priority"] == "P1"


# -- events without groups, PostHog's own CSV, imports that write nothing --------------------------


def test_events_without_groups_take_the_user_as_their_account(tmp_path):
    export = tmp_path / "events.csv"
    export.write_text(
        "uuid,event,properties,timestamp,distinct_id\n"
        'e1,report_saved,"{""$browser"": ""Chrome""}",2026-01-10T10:00:00.250Z,user-1\n'
        'e2,report_saved,"{""$groups"": {""company"": ""acme""}}",2026-01-10T10:00:01Z,user-2\n'
    )
    result = run_import("posthog-events", [export], tmp_path / "ws")
    assert result.rows_written == 2 and not result.nothing_usable
    assert ("events.csv: events.account_id: 1 row without 'properties.$groups' took 'distinct_id' instead "
            "(the columns are tried in the order of columns.account_id in the mapping)") in result.notes
    with duckdb.connect() as con:
        rows = con.execute("SELECT account_id, strftime(ts, '%H:%M:%S.%f') FROM read_parquet(?) ORDER BY ts",
                           [str(tmp_path / "ws" / "events.parquet")]).fetchall()
    # The sub-second part is kept.
    assert rows == [("user-1", "10:00:00.250000"), ("acme", "10:00:01.000000")]


def test_a_person_property_can_stand_in_for_the_group(tmp_path):
    export = tmp_path / "events.jsonl"
    export.write_text("\n".join(json.dumps(e) for e in [
        {"event": "export", "distinct_id": "u1", "timestamp": "2026-01-10T10:00:00Z", "person": {"properties": {"company": "Globex"}}},
        {"event": "export", "distinct_id": "u2", "timestamp": "2026-01-10T10:00:00Z", "person": {"properties": {}}},
    ]) + "\n")
    mapping = tmp_path / "by-company.yaml"
    mapping.write_text("columns:\n  account_id: [_account, person.properties.company, distinct_id]\n")
    run_import("posthog-events", [export], tmp_path / "ws", mapping_file=mapping)
    with duckdb.connect() as con:
        accounts = con.execute("SELECT visitor_id, account_id FROM read_parquet(?) ORDER BY 1",
                               [str(tmp_path / "ws" / "events.parquet")]).fetchall()
    assert accounts == [("u1", "Globex"), ("u2", "u2")]


def test_posthogs_own_csv_export_imports(tmp_path):
    export = tmp_path / "posthog-export.csv"
    export.write_text(
        "*.uuid,*.event,*.properties.$browser,*.properties.$groups.company,*.timestamp,*.distinct_id,person,timestamp\n"
        "0190a,dashboard_viewed,Chrome,acme,2026-01-10T10:00:00.123000Z,user-1,user-1@acme.test,2026-01-10 10:00\n"
        "0190b,report_saved,Firefox,,2026-01-10T11:00:00Z,user-2,user-2@acme.test,2026-01-10 11:00\n"
    )
    result = run_import("posthog-events", [export], tmp_path / "ws")
    assert result.rows_written == 2
    with duckdb.connect() as con:
        rows = con.execute("SELECT visitor_id, account_id, feature_id, strftime(ts, '%H:%M:%S.%f') FROM read_parquet(?) ORDER BY ts",
                           [str(tmp_path / "ws" / "events.parquet")]).fetchall()
    # The event's own timestamp (*.timestamp), not the display column "timestamp".
    assert rows == [("user-1", "acme", "dashboard_viewed", "10:00:00.123000"), ("user-2", "user-2", "report_saved", "11:00:00.000000")]


def test_amplitude_id_stands_in_for_a_missing_user(tmp_path):
    import gzip
    import io
    import zipfile

    lines = [{"event_time": "2026-01-10 10:00:00.500000", "event_type": "open", "user_id": None, "device_id": None,
              "amplitude_id": 12345, "groups": {}}]
    blob = io.BytesIO()
    with zipfile.ZipFile(blob, "w") as archive:
        archive.writestr("1/export.json.gz", gzip.compress("\n".join(json.dumps(x) for x in lines).encode()))
    (tmp_path / "export.zip").write_bytes(blob.getvalue())
    assert run_import("amplitude", [tmp_path / "export.zip"], tmp_path / "ws").rows_written == 1
    with duckdb.connect() as con:
        assert con.execute("SELECT visitor_id, account_id FROM read_parquet(?)",
                           [str(tmp_path / "ws" / "events.parquet")]).fetchall() == [("12345", "12345")]


def test_an_import_that_can_use_no_row_exits_1_and_says_why(tmp_path):
    export = tmp_path / "answers.json"
    export.write_text(json.dumps([{"id": 1, "person": 7, "score": 11, "created_at": 1713418460}]))
    result = playbook_cli("import", "delighted", str(export), "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 1, result.stdout
    assert "1 row set aside: column 'score' expected 0..10 (row 1: 11)" in result.stdout
    assert "nothing was written: no row of answers.json could be used (the reasons are above)" in result.stdout
    # The same answers once more, unchanged, is a quiet week: not a failure.
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps([{"id": 1, "person": 7, "score": 9, "created_at": 1713418460}]))
    assert playbook_cli("import", "delighted", str(ok), "--workspace", str(tmp_path / "ws")).returncode == 0
    again = playbook_cli("import", "delighted", str(ok), "--workspace", str(tmp_path / "ws"))
    assert again.returncode == 0 and ": 0 added, 0 updated, 1 unchanged (same id)" in again.stdout


# -- Jira: issue types, time zones, the site's date format ---------------------------------------


def test_jira_bugs_keep_issue_type_bug_and_say_what_was_skipped(tmp_path):
    text = (FIXTURES / "jira_server.csv").read_text().splitlines()
    text.append(text[2].replace("MOB-102", "MOB-105").replace(",Bug,", ",Task,"))
    text.append(text[2].replace("MOB-102", "MOB-106").replace(",Bug,", ",Story,"))
    export = tmp_path / "all-types.csv"
    export.write_text("\n".join(text) + "\n")
    result = run_import("jira", [export], tmp_path / "ws")
    assert result.rows_written == 4
    assert ("kept 4 rows where Issue Type is Bug (where: in the mapping); skipped 2 rows (Issue Type Task: 1, Issue Type Story: 1). "
            "A --mapping file can change the filter, or remove it with null") in result.notes
    every = tmp_path / "every-type.yaml"
    every.write_text("where:\n  Issue Type: null\n")
    assert run_import("jira", [export], tmp_path / "all", mapping_file=every).rows_written == 6


def test_jira_says_which_zone_it_assumed_and_a_mapping_sets_it(tmp_path):
    text = (FIXTURES / "jira_server.csv").read_text().splitlines()
    text[0] += ",Custom field (Date of first response)"
    text[1:] = [line + ",2025-12-22T17:40:00.000+0300" for line in text[1:]]
    export = tmp_path / "jira.csv"
    export.write_text("\n".join(text) + "\n")
    result = run_import("jira", [export], tmp_path / "utc")
    [note] = [n for n in result.notes if "times read as UTC" in n]
    assert note == ("jira.csv: times read as UTC. Jira writes CSV dates in the time zone of the user who exported them; if that "
                    "is not UTC, set the zone in a --mapping file (dates: {timezone: Europe/Berlin}, an IANA name). This export's "
                    "'Custom field (Date of first response)' is written with the offset +03:00: the exporter's zone is probably not UTC.")
    zone = tmp_path / "moscow.yaml"
    zone.write_text("dates:\n  timezone: Europe/Moscow\n")
    moved = run_import("jira", [export], tmp_path / "msk", mapping_file=zone)
    assert not [n for n in moved.notes if "times read as UTC" in n]
    utc = _csv(tmp_path / "utc" / "bugs.csv").set_index("bug_id")
    msk = _csv(tmp_path / "msk" / "bugs.csv").set_index("bug_id")
    assert (utc.loc["MOB-101", "opened_at"], msk.loc["MOB-101", "opened_at"]) == ("2025-12-22T14:38:00Z", "2025-12-22T11:38:00Z")


def test_jira_server_dates_point_to_where_the_format_is_set(tmp_path):
    text = (FIXTURES / "jira_server.csv").read_text().replace("22/Dec/25 2:38 PM", "16/02/2017 15:26")
    export = tmp_path / "server.csv"
    export.write_text(text)
    with pytest.raises(ImportDataError) as err:
        run_import("jira", [export], tmp_path / "ws")
    assert str(err.value) == (
        "server.csv: column 'Created': 1 value does not match the date format '%d/%b/%y %I:%M %p' (row 1: '16/02/2017 15:26'); "
        "set the format in a --mapping file (dates: {format: ...}, in Python's strftime codes); these values fit '%d/%m/%Y %H:%M'"
    )


# -- what is older, what was deleted, what is only an estimate ----------------------------------


def _ticket(tid: int, updated: str, **fields) -> dict:
    return {"id": tid, "created_at": "2026-01-05T10:30:00Z", "updated_at": updated, "type": "incident", "subject": f"T{tid}",
            "priority": "high", "status": "open", "requester_id": 7, "organization_id": 509974, **fields}


def _page(path: Path, *tickets: dict, metrics: list | None = None) -> Path:
    path.write_text(json.dumps({"tickets": list(tickets), **({"metric_sets": metrics} if metrics is not None else {})}))
    return path


def test_an_older_export_never_reverts_a_newer_change(tmp_path):
    new = _page(tmp_path / "new.json", _ticket(100, "2026-01-10T09:00:00Z", priority="urgent"))
    old = _page(tmp_path / "old.json", _ticket(100, "2026-01-05T11:00:00Z", priority="low"))
    ws = tmp_path / "ws"
    run_import("zendesk", [new], ws)
    before = (ws / "escalations.csv").read_bytes()
    result = run_import("zendesk", [old], ws)
    # The priority change moves no time in the row: the import ledger knows the row is newer.
    assert (result.rows_updated, result.rows_older) == (0, 1)
    assert (ws / "escalations.csv").read_bytes() == before
    # An old deletion does not remove a ticket changed after it.
    deleted = _page(tmp_path / "deleted-earlier.json", _ticket(100, "2026-01-08T00:00:00Z", status="deleted", subject="SCRUBBED"))
    gone = run_import("zendesk", [deleted], ws)
    assert (gone.removed, gone.rows_older) == (0, 1) and (ws / "escalations.csv").read_bytes() == before
    # A later deletion does; the ledger then refuses the older live ticket it would bring back.
    later = _page(tmp_path / "deleted-later.json", _ticket(100, "2026-01-12T00:00:00Z", status="deleted", subject="SCRUBBED"))
    assert run_import("zendesk", [later], ws).removed == 1
    back = run_import("zendesk", [new], ws)
    assert (back.rows_written, back.rows_older) == (0, 1)


def test_within_one_import_the_latest_change_wins_deletions_included(tmp_path):
    deleted = _page(tmp_path / "a.json", _ticket(100, "2026-01-10T00:00:00Z", status="deleted", subject="SCRUBBED", type=None))
    alive = _page(tmp_path / "b.json", _ticket(100, "2026-01-08T00:00:00Z"))
    ws = tmp_path / "ws"
    run_import("zendesk", [alive], ws)
    result = run_import("zendesk", [deleted, alive], ws)
    assert (result.removed, result.rows_written, result.rows_updated) == (1, 0, 0)
    assert _csv(ws / "escalations.csv").empty
    # A filter never hides a deletion: the scrubbed ticket has no type.
    typed = tmp_path / "incidents.yaml"
    typed.write_text("where:\n  type: [incident, problem]\n")
    run_import("zendesk", [alive], tmp_path / "ws2", mapping_file=typed)
    assert run_import("zendesk", [deleted], tmp_path / "ws2", mapping_file=typed).removed == 1


def test_an_estimated_resolution_never_replaces_the_exact_one(tmp_path):
    solved = _ticket(100, "2026-01-10T12:00:00Z", status="closed")
    exact = _page(tmp_path / "with-metrics.json", solved, metrics=[{"ticket_id": 100, "solved_at": "2026-01-06T12:00:00Z"}])
    rough = _page(tmp_path / "no-metrics.json", solved)
    ws = tmp_path / "ws"
    run_import("zendesk", [exact], ws)
    result = run_import("zendesk", [rough], ws)
    assert (result.rows_updated, result.rows_already_there) == (0, 1)
    assert _csv(ws / "escalations.csv")["resolved_at"].tolist() == ["2026-01-06T12:00:00Z"]
    # Without metric sets at all, the last update stands in, and the import says so.
    fresh = run_import("zendesk", [rough], tmp_path / "fresh")
    assert any("solved or closed without metric sets: resolved_at is the ticket's last update" in n for n in fresh.notes)
    assert _csv(tmp_path / "fresh" / "escalations.csv")["resolved_at"].tolist() == ["2026-01-10T12:00:00Z"]


def test_each_page_of_a_file_keeps_its_own_metric_sets(tmp_path):
    pages = [
        {"tickets": [_ticket(100, "2026-01-08T00:00:00Z", status="solved")],
         "metric_sets": [{"ticket_id": 100, "solved_at": "2026-01-08T00:00:00Z", "reply_time_in_minutes": {"calendar": 10}}]},
        {"tickets": [_ticket(100, "2026-01-05T11:00:00Z")], "metric_sets": [{"ticket_id": 100, "solved_at": None}]},
    ]
    (tmp_path / "pages.json").write_text(json.dumps(pages))
    run_import("zendesk", [tmp_path / "pages.json"], tmp_path / "ws")
    row = _csv(tmp_path / "ws" / "escalations.csv").iloc[0]
    assert (row["resolved_at"], row["first_response_at"]) == ("2026-01-08T00:00:00Z", "2026-01-05T10:40:00Z")


def test_a_parquet_table_loses_a_deleted_row_and_keeps_a_column_called_k(tmp_path):
    ws = tmp_path / "ws"
    run_import("zendesk", [_page(tmp_path / "two.json", _ticket(100, "2026-01-06T00:00:00Z"), _ticket(200, "2026-01-06T00:00:00Z"))], ws)
    with duckdb.connect() as con:
        con.execute("COPY (SELECT *, 'mine' AS _k, 'mine' AS _playbook_pair FROM read_csv($csv, all_varchar = true)) TO $parquet (FORMAT parquet)",
                    {"csv": str(ws / "escalations.csv"), "parquet": str(ws / "escalations.parquet")})
    (ws / "escalations.csv").unlink()
    change = _page(tmp_path / "change.json", _ticket(100, "2026-01-09T00:00:00Z", priority="urgent"),
                   _ticket(200, "2026-01-09T00:00:00Z", status="deleted"))
    result = run_import("zendesk", [change], ws)
    assert (result.rows_updated, result.removed) == (1, 1)
    with duckdb.connect() as con:
        rows = con.execute("SELECT escalation_id, priority, _k, _playbook_pair FROM read_parquet(?)", [str(ws / "escalations.parquet")]).fetchall()
    assert rows == [("100", "P1", "mine", "mine")]
    # A deletion alone (no value to change) is written too.
    run_import("zendesk", [_page(tmp_path / "add.json", _ticket(300, "2026-01-09T00:00:00Z"))], ws)
    alone = run_import("zendesk", [_page(tmp_path / "gone.json", _ticket(300, "2026-01-10T00:00:00Z", status="deleted"))], ws)
    assert alone.removed == 1


def test_an_updated_row_keeps_the_files_quoting(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    header = "escalation_id;account_id;product;team;priority;category;title;opened_at;first_response_at;resolved_at;reopened"
    row = '"100";"509974";"support";"support";"P2";"incident";"T100";"2026-01-05T10:30:00Z";"";"";"0"'
    (ws / "escalations.csv").write_bytes(("\ufeff" + header + "\r\n" + row + "\r\n").encode())
    run_import("zendesk", [_page(tmp_path / "p.json", _ticket(100, "2026-01-09T00:00:00Z", priority="urgent"))], ws)
    assert (ws / "escalations.csv").read_bytes() == ("\ufeff" + header + "\r\n" + row.replace('"P2"', '"P1"') + "\r\n").encode()


def test_exposures_are_never_rewritten_by_a_later_export(tmp_path):
    """A unit's later exposure to the same variant changes nothing; to another variant it is a
    row of its own (the unit is in both arms, which the analysis excludes and counts)."""
    first = tmp_path / "a.csv"
    first.write_text("user_id,timestamp,experiment_id,variation_id,converted\nu1,2026-01-05T10:00:00Z,EXP-1,control,0\n")
    later = tmp_path / "b.csv"
    later.write_text("user_id,timestamp,experiment_id,variation_id,converted\nu1,2026-01-09T10:00:00Z,EXP-1,control,1\n"
                     "u1,2026-01-09T11:00:00Z,EXP-1,treatment,1\n")
    run_import("assignments", [first], tmp_path / "ws")
    result = run_import("assignments", [later], tmp_path / "ws")
    assert (result.rows_written, result.rows_updated, result.rows_already_there) == (1, 0, 1)
    rows = _csv(tmp_path / "ws" / "exposures.csv")
    assert rows[["variant", "exposed_at", "converted"]].values.tolist() == [
        ["control", "2026-01-05T10:00:00Z", "0"], ["treatment", "2026-01-09T11:00:00Z", "1"]]


def test_an_update_in_a_csv_whose_quotes_are_doubled(tmp_path):
    """DuckDB reports the quote itself as the escape of such a file: records must still split
    where the file's own quotes say (a comma inside quotes is not a delimiter)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    header = "escalation_id,account_id,product,team,priority,category,title,opened_at,first_response_at,resolved_at,reopened"
    rows = [f'{i},509974,support,support,P2,incident,"Broke, ""again"" ({i})",2026-01-05T10:30:00Z,,,0' for i in range(100, 400)]
    (ws / "escalations.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    before = _lines(ws / "escalations.csv")
    result = run_import("zendesk", [_page(tmp_path / "p.json", _ticket(250, "2026-01-09T00:00:00Z", priority="urgent",
                                                                     subject='Broke, "again" (250)'))], ws)
    assert (result.rows_updated, result.columns_updated) == (1, {"priority": 1})
    after = _lines(ws / "escalations.csv")
    assert [i for i, (a, b) in enumerate(zip(before, after)) if a != b] == [151] and len(after) == len(before)
    assert after[151] == b'250,509974,support,support,P1,incident,"Broke, ""again"" (250)",2026-01-05T10:30:00Z,,,0\n'


# -- the import ledger ---------------------------------------------------------------------------


def _history(tmp_path: Path, ws: Path) -> tuple[Path, Path]:
    """A ticket changed in April (priority urgent) and another deleted then, after a February
    import; and the March export, older than both."""
    run_import("zendesk", [_page(tmp_path / "feb.json", _ticket(1, "2024-02-01T00:00:00Z", priority="low"),
                                 _ticket(2, "2024-02-01T00:00:00Z", priority="low"))], ws)
    run_import("zendesk", [_page(tmp_path / "apr.json", _ticket(1, "2024-04-01T00:00:00Z", priority="urgent"),
                                 _ticket(2, "2024-04-01T00:00:00Z", status="deleted"))], ws)
    march = _page(tmp_path / "mar.json", _ticket(1, "2024-03-01T00:00:00Z"), _ticket(2, "2024-03-01T00:00:00Z"))
    return march, ws / ".playbook-imports" / "escalations.csv"


@pytest.mark.parametrize("damage", ["3,2024-01-01T00:00:00.000000Z,0,x,extra\n", "9,2024-05-01,yes,\n", None])
def test_a_damaged_ledger_stops_the_import_rather_than_being_overwritten(tmp_path, damage):
    ws = tmp_path / "ws"
    march, ledger = _history(tmp_path, ws)
    if damage is None:
        ledger.write_text("id,when\n1,2024-04-01\n")
    else:
        with ledger.open("a") as handle:
            handle.write(damage)
    before, table = ledger.read_bytes(), (ws / "escalations.csv").read_bytes()
    with pytest.raises(ImportDataError) as err:
        run_import("zendesk", [march], ws)
    assert str(err.value).startswith(f"{ledger}: ") and "nothing was written" in str(err.value)
    assert (ledger.read_bytes(), (ws / "escalations.csv").read_bytes()) == (before, table)
    # Deleting it, as the message says, lets the rows' own times judge, and says so.
    ledger.unlink()
    result = run_import("zendesk", [march], ws)
    assert any("had no entry in the import ledger" in note for note in result.notes)


def test_the_ledger_is_written_before_the_table(tmp_path, monkeypatch):
    """A run killed between the two writes leaves the ledger ahead: the same export again then
    applies its change, and an older one still cannot revert it. (The failure of the table's
    write is injected: no real disk fails on cue.)"""
    ws = tmp_path / "ws"
    march, ledger = _history(tmp_path, ws)
    may = _page(tmp_path / "may.json", _ticket(1, "2024-05-01T00:00:00Z", priority="low"))
    import playbook.importers as importers

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(importers, "write_changes", killed)
    with pytest.raises(KeyboardInterrupt):
        run_import("zendesk", [may], ws)
    monkeypatch.undo()
    assert "2024-05-01" in ledger.read_text() and _csv(ws / "escalations.csv")["priority"].tolist() == ["P1"]
    assert run_import("zendesk", [may], ws).rows_updated == 1
    assert run_import("zendesk", [march], ws).rows_older == 2


def test_a_deletion_first_is_remembered_whatever_the_order(tmp_path):
    deletion = _page(tmp_path / "del.json", _ticket(2, "2024-04-01T00:00:00Z", status="deleted"))
    live = _page(tmp_path / "live.json", _ticket(2, "2024-02-01T00:00:00Z"))
    run_import("zendesk", [deletion], tmp_path / "a")
    late = run_import("zendesk", [live], tmp_path / "a")
    run_import("zendesk", [live], tmp_path / "b")
    run_import("zendesk", [deletion], tmp_path / "b")
    assert late.rows_older == 1
    assert _csv(tmp_path / "a" / "escalations.csv").empty and _csv(tmp_path / "b" / "escalations.csv").empty


def test_the_same_export_read_in_its_right_time_zone_corrects_the_times(tmp_path):
    ws = tmp_path / "ws"
    run_import("jira", [FIXTURES / "jira_server.csv"], ws)
    berlin = tmp_path / "berlin.yaml"
    berlin.write_text("dates:\n  timezone: Europe/Berlin\n")
    result = run_import("jira", [FIXTURES / "jira_server.csv"], ws, mapping_file=berlin)
    assert (result.rows_older, result.rows_updated) == (0, 4)
    assert _csv(ws / "bugs.csv").set_index("bug_id").loc["MOB-101", "opened_at"] == "2025-12-22T13:38:00Z"


def test_an_unchanged_import_writes_nothing_at_all(tmp_path):
    ws = tmp_path / "ws"
    page = _page(tmp_path / "p.json", _ticket(1, "2024-02-01T00:00:00Z"))
    run_import("zendesk", [page], ws)
    before = {p: p.stat().st_mtime_ns for p in ws.rglob("*")}
    again = run_import("zendesk", [page], ws)
    assert (again.rows_written, again.rows_updated, again.rows_already_there) == (0, 0, 1)
    assert {p: p.stat().st_mtime_ns for p in ws.rglob("*")} == before


@REAL
def test_real_zendesk_pages_without_a_ledger_are_not_misjudged_older(tmp_path):
    """Six tickets of the real 2023-09-19 page were 'updated' a second before they were created:
    judged by the row's own times, such a ticket is not taken as older than itself."""
    page = SHARED_REAL / ZENDESK_PAGES[1]
    run_import("zendesk", [page], tmp_path)
    (tmp_path / ".playbook-imports" / "escalations.csv").unlink()
    again = run_import("zendesk", [page], tmp_path)
    assert (again.rows_older, again.rows_updated, again.rows_written) == (0, 0, 0)


def test_an_export_without_records_exits_1_and_writes_nothing(tmp_path):
    (tmp_path / "week.json").write_text("[]")
    (tmp_path / "jira.csv").write_text("Issue key,Summary,Issue Type,Priority,Created\n")
    for preset, name in (("delighted", "week.json"), ("jira", "jira.csv")):
        cli = playbook_cli("import", preset, str(tmp_path / name), "--workspace", str(tmp_path / "ws"))
        assert cli.returncode == 1 and f"nothing was written: {name} holds no records" in cli.stdout, cli.stdout + cli.stderr
    assert not (tmp_path / "ws").exists()
