"""`playbook import`: each preset on a small export written here in its tool's documented shape,
a malformed file per preset with its exact error, the generic mapping, appending without
repeating ids, and the two real public exports in ../shared/data/real/."""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import ROOT, SHARED_REAL, make_params, playbook_cli, visible_text
from playbook.importers import ImportDataError, load_mapping, run_import
from playbook.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
MAPPINGS = ROOT / "params" / "mappings"
REAL = pytest.mark.skipif(not SHARED_REAL.is_dir(), reason="../shared/data/real is not present (a user's clone)")


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_jira_server_and_cloud_exports_become_bugs(tmp_path):
    result = run_import("jira", [FIXTURES / "jira_server.csv", FIXTURES / "jira_cloud.csv"], tmp_path)
    assert (result.table, result.rows_read, result.rows_written, result.set_aside) == ("bugs", 8, 8, [])
    bugs = _csv(tmp_path / "bugs.csv").set_index("bug_id")
    # "22/Dec/25 2:38 PM" in UTC; resolved by its Resolved date
    assert bugs.loc["MOB-101", ["opened_at", "closed_at"]].tolist() == ["2025-12-22T14:38:00Z", "2025-12-23T09:05:00Z"]
    # the three priority schemes: Highest..Lowest, Blocker..Trivial, P1..P5
    assert bugs["severity"].to_dict() == {
        "MOB-101": "S1", "MOB-102": "S2", "MOB-103": "S4", "MOB-104": "S3",
        "API-7": "S1", "API-8": "S3", "API-9": "S4", "API-10": "S1",
    }
    # Done without a Resolved date: closed when last updated; not done: open
    assert bugs.loc["MOB-103", "closed_at"] == "2026-01-11T10:30:00Z"
    assert bugs.loc["MOB-102", "closed_at"] == "" and bugs.loc["API-8", "closed_at"] == ""
    # repeated Labels headers merged: a "customer" label in any of them makes it customer-found
    assert bugs["source"].to_dict() == {
        "MOB-101": "customer", "MOB-102": "internal", "MOB-103": "customer", "MOB-104": "internal",
        "API-7": "customer", "API-8": "internal", "API-9": "internal", "API-10": "internal",
    }
    # Component/s (server) and Components (cloud) are one column; without one, the project name
    assert bugs.loc[["MOB-101", "API-7", "MOB-104", "API-9"], "product"].tolist() == ["mobile-app", "api", "Mobile App", "Public API"]


def test_jira_to_escalations_by_choice(tmp_path):
    result = run_import("jira", [FIXTURES / "jira_server.csv"], tmp_path, table="escalations")
    assert result.table == "escalations" and result.rows_written == 4
    escalations = _csv(tmp_path / "escalations.csv").set_index("escalation_id")
    assert escalations.loc["MOB-101", ["priority", "title", "resolved_at"]].tolist() == [
        "P1", "Export to CSV drops accents", "2025-12-23T09:05:00Z"]


def test_jira_priority_scheme_is_set_by_the_mapping(tmp_path):
    mapping = tmp_path / "site.yaml"
    mapping.write_text("values:\n  severity: {Highest: S2}\n")
    run_import("jira", [FIXTURES / "jira_server.csv"], tmp_path / "ws", mapping_file=mapping)
    bugs = _csv(tmp_path / "ws" / "bugs.csv").set_index("bug_id")
    assert bugs.loc["MOB-101", "severity"] == "S2" and bugs.loc["MOB-102", "severity"] == "S2"


def test_jira_malformed_date(tmp_path):
    with pytest.raises(ImportDataError) as err:
        run_import("jira", [FIXTURES / "jira_bad_dates.csv"], tmp_path)
    assert str(err.value) == (
        "jira_bad_dates.csv: column 'Created': 1 value does not match the date format '%d/%b/%y %I:%M %p' "
        "(row 2: '2025-12-22 14:38'); set the format in a --mapping file (dates: {format: ...}, in Python's strftime codes); "
        "these values fit '%Y-%m-%d %H:%M'"
    )
    assert not (tmp_path / "bugs.csv").exists()


def test_zendesk_incremental_export_with_metric_sets(tmp_path):
    result = run_import("zendesk", [FIXTURES / "zendesk_incremental.json"], tmp_path)
    assert (result.rows_read, result.rows_written, result.set_aside) == (4, 4, [])
    # Priority is optional in Zendesk: a ticket without one gets the mapping's default, and the import says so.
    assert "zendesk_incremental.json: 1 row without a 'priority' given priority P3 (defaults.priority in the mapping)" in result.notes
    rows = _csv(tmp_path / "escalations.csv").set_index("escalation_id")
    # urgent/high/low to P1/P2/P4; the organisation, else the requester, is the account
    assert rows["priority"].to_dict() == {"35436": "P1", "35437": "P4", "35438": "P2", "35439": "P3"}
    assert rows["account_id"].to_dict() == {"35436": "509974", "35437": "20978393", "35438": "509975", "35439": "509974"}
    # first reply = created + reply time; resolution = solved_at, else created + full resolution, if solved/closed
    assert rows.loc["35436", ["first_response_at", "resolved_at", "reopened"]].tolist() == [
        "2026-01-05T09:42:00Z", "2026-01-06T12:00:00Z", "1"]
    assert rows.loc["35438", ["first_response_at", "resolved_at"]].tolist() == ["2026-01-06T19:00:00Z", "2026-01-08T08:00:00Z"]
    assert rows.loc["35437", ["first_response_at", "resolved_at"]].tolist() == ["", ""]


def test_zendesk_admin_csv_headers_in_any_case(tmp_path):
    result = run_import("zendesk", [FIXTURES / "zendesk_admin.csv"], tmp_path)
    assert result.rows_written == 2
    rows = _csv(tmp_path / "escalations.csv").set_index("escalation_id")
    assert rows.loc["501"].to_dict() == {
        "account_id": "Acme", "product": "support", "team": "support", "priority": "P1", "category": "Incident",
        "title": "Login loop on Safari", "opened_at": "2026-02-01T08:00:00Z", "first_response_at": "2026-02-01T08:15:00Z",
        "resolved_at": "2026-02-01T10:30:00Z", "reopened": "0",
    }
    assert rows.loc["502", "resolved_at"] == ""


def test_zendesk_truncated_json(tmp_path):
    with pytest.raises(ImportDataError) as err:
        run_import("zendesk", [FIXTURES / "zendesk_truncated.json"], tmp_path)
    assert str(err.value) == "zendesk_truncated.json: not valid JSON (line 1, column 81: Invalid control character at)"


def test_delighted_responses(tmp_path):
    result = run_import("delighted", [FIXTURES / "delighted.json"], tmp_path)
    assert result.rows_written == 3
    rows = _csv(tmp_path / "nps_responses.csv")
    assert rows[["response_id", "account_id", "score", "submitted_at"]].values.tolist() == [
        ["5435", "Acme", "9", "2026-01-01T00:00:00Z"],      # created_at 1767225600 (Unix seconds)
        ["5436", "Initech", "3", "2026-01-02T00:00:00Z"],
        ["5437", "5977", "7", "2026-01-03T00:00:00Z"],      # no Company property: the person
    ]
    assert rows["comment"].tolist() == ["Fast and friendly", "Too slow since the update", ""]


def test_delighted_without_scores(tmp_path):
    with pytest.raises(ImportDataError) as err:
        run_import("delighted", [FIXTURES / "delighted_no_score.json"], tmp_path)
    assert str(err.value) == "delighted_no_score.json: no column 'score' for nps_responses.score; columns found: id, person, comment, created_at"


def test_posthog_survey_answers_deduplicated_on_submission(tmp_path):
    result = run_import("posthog-survey", [FIXTURES / "posthog_survey.jsonl"], tmp_path)
    assert (result.rows_read, result.rows_written) == (5, 3)
    rows = _csv(tmp_path / "nps_responses.csv")
    # "survey shown" is not an answer; sub-2 was sent twice (partial, then complete): the last counts
    assert rows[["response_id", "account_id", "visitor_id", "score", "comment"]].values.tolist() == [
        ["sub-1", "acme", "user-1", "9", "Love the new dashboards"],
        ["sub-2", "initech", "user-2", "2", "Crashes every day"],
        ["sub-4", "hooli", "user-4", "10", ""],
    ]


def test_posthog_survey_without_answers(tmp_path):
    with pytest.raises(ImportDataError) as err:
        run_import("posthog-survey", [FIXTURES / "posthog_survey_other.jsonl"], tmp_path)
    assert str(err.value) == "posthog_survey_other.jsonl: no '$survey_response' property in any 'survey sent' event"


def test_posthog_events_account_from_groups_into_parquet(tmp_path):
    result = run_import("posthog-events", [FIXTURES / "posthog_events.csv"], tmp_path)
    assert result.path == tmp_path / "events.parquet" and result.rows_written == 3
    again = run_import("posthog-events", [FIXTURES / "posthog_events.csv"], tmp_path)
    assert (again.rows_written, again.rows_already_there, again.same) == (0, 3, "identical rows")
    events = duckdb.execute("SELECT * FROM read_parquet(?) ORDER BY ts, visitor_id", [str(tmp_path / "events.parquet")]).fetchall()
    assert [(str(e[0]), e[1], e[2], e[4]) for e in events] == [
        ("2026-01-10 10:00:00", "user-1", "acme", "report_saved"),
        ("2026-01-10 10:00:00", "user-2", "initech", "$pageview"),   # 11:00 at +01:00
        ("2026-01-10 10:05:00", "user-1", "acme", "dashboard_viewed"),
    ]


def test_posthog_events_broken_json_line(tmp_path):
    with pytest.raises(ImportDataError) as err:
        run_import("posthog-events", [FIXTURES / "posthog_events_broken.jsonl"], tmp_path)
    assert str(err.value) == "posthog_events_broken.jsonl: line 2 is not valid JSON (Expecting value, column 123)"


def _amplitude_zip(path: Path, hours: dict[str, list[dict]]) -> Path:
    """Amplitude's export layout: <project>/<project>_<date>_<hour>#<n>.json.gz inside a zip."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, events in hours.items():
            lines = "\n".join(json.dumps(e) for e in events).encode()
            archive.writestr(f"187520/187520_{name}#0.json.gz", gzip.compress(lines))
    return path


def test_amplitude_export_zip_of_gzipped_json_lines(tmp_path):
    event = {"event_type": "report_saved", "user_id": "ann@acme.com", "device_id": "d1", "event_time": "2026-01-10 10:00:00.123000",
             "groups": {"company": ["acme"]}, "event_properties": {}, "user_properties": {"plan": "pro"}}
    export = _amplitude_zip(tmp_path / "export.zip", {
        "2026-01-10_10": [event, {**event, "event_type": "dashboard_viewed", "event_time": "2026-01-10 10:30:00.000000"}],
        "2026-01-10_11": [{**event, "user_id": None, "device_id": "d9", "event_time": "2026-01-10 11:15:00.000000",
                           "groups": {"company": ["initech"]}}],
    })
    result = run_import("amplitude", [export], tmp_path / "ws")
    assert result.rows_written == 3
    events = duckdb.execute("SELECT * FROM read_parquet(?) ORDER BY ts", [str(tmp_path / "ws" / "events.parquet")]).fetchall()
    # event_time carries no zone and is UTC, its fraction of a second kept; a missing user falls back to the device
    assert [(str(e[0]), e[1], e[2], e[4]) for e in events] == [
        ("2026-01-10 10:00:00.123000", "ann@acme.com", "acme", "report_saved"),
        ("2026-01-10 10:30:00", "ann@acme.com", "acme", "dashboard_viewed"),
        ("2026-01-10 11:15:00", "d9", "initech", "report_saved"),
    ]


def test_amplitude_file_that_is_not_a_zip(tmp_path):
    with pytest.raises(ImportDataError) as err:
        run_import("amplitude", [FIXTURES / "posthog_events.csv"], tmp_path)
    assert str(err.value) == "posthog_events.csv: not a zip file; Amplitude's export is a zip of .json.gz files"


def test_assignments_to_exposures(tmp_path):
    result = run_import("assignments", [FIXTURES / "assignments.csv"], tmp_path)
    assert result.rows_written == 3
    assert result.set_aside == [
        "1 row set aside: columns 'experiment_id + unit_id + variant' (the export's 'experiment_id + user_id + variation_id') repeats a "
        "(experiment_id, unit_id, variant) combination already used in an earlier row (row 4: 'checkout-v2 / u1 / 0')"
    ]
    rows = _csv(tmp_path / "exposures.csv")
    assert rows[["unit_id", "variant", "exposed_at", "converted"]].values.tolist() == [
        ["u1", "0", "2026-01-03T10:00:00Z", "1"], ["u2", "1", "2026-01-03T10:05:00Z", "0"], ["u3", "1", "2026-01-03T10:09:00Z", "1"]]


BOTH_ARMS = Path(__file__).parent / "fixtures" / "assignments_both_arms.csv"


def _two_arm_units(rows: pd.DataFrame, experiment: str, unit: str, variant: str) -> set[tuple[str, str]]:
    """(experiment, unit) pairs with rows in more than one variant, counted with plain pandas."""
    arms = rows.groupby([experiment, unit])[variant].nunique()
    return set(arms[arms > 1].index)


def test_assignments_keep_a_users_rows_in_both_variants(tmp_path):
    """GrowthBook's assignment query returns a row per exposure; a user seen in both variations
    keeps both rows (the analysis excludes and counts such users), and only rows repeated in every
    column are set aside, counted. The fixture (a seeded public-style export, 4,000 users in two
    experiments) has 65 users of checkout-redesign in both variations and 7 exact repeats."""
    raw = pd.read_csv(BOTH_ARMS, dtype=str, keep_default_na=False)
    assert list(raw.columns) == ["user_id", "timestamp", "experiment_id", "variation_id", "converted"]
    exact = int(raw.duplicated().sum())
    both = _two_arm_units(raw, "experiment_id", "user_id", "variation_id")
    assert (raw["user_id"].nunique(), exact, len(both)) == (4000, 7, 65)
    assert {e for e, _ in both} == {"checkout-redesign"}
    # Every repeat of a (experiment, user, variation) in the file is an exact one.
    assert raw.duplicated(["experiment_id", "user_id", "variation_id"]).sum() == exact

    result = run_import("assignments", [BOTH_ARMS], tmp_path)
    assert (result.rows_read, result.rows_written, result.repeated) == (len(raw), len(raw) - exact, 0)
    assert len(result.set_aside) == 1
    assert result.set_aside[0].startswith(
        f"{exact} rows set aside: columns 'experiment_id + unit_id + variant' (the export's 'experiment_id + user_id + variation_id') "
        "repeats a (experiment_id, unit_id, variant) combination already used in an earlier row (row ")
    written = _csv(tmp_path / "exposures.csv")
    assert len(written) == len(raw) - exact and not written.duplicated(["experiment_id", "unit_id", "variant"]).any()
    assert _two_arm_units(written, "experiment_id", "unit_id", "variant") == both
    kept = written.set_index(["experiment_id", "unit_id"]).loc[sorted(both)]
    assert len(kept) == 2 * len(both) and set(kept["variant"]) == {"0", "1"}
    # The same export again adds nothing and rewrites nothing.
    again = run_import("assignments", [BOTH_ARMS], tmp_path)
    assert (again.rows_written, again.rows_updated, again.rows_already_there) == (0, 0, len(raw) - exact)


def test_assignments_of_an_experiment_missing_from_the_catalogue_are_set_aside(tmp_path):
    """With the catalogue holding one of the export's two experiments, the other's rows are set
    aside by reference, and the catalogued experiment's two-arm users keep both rows."""
    raw = pd.read_csv(BOTH_ARMS, dtype=str, keep_default_na=False)
    (tmp_path / "experiments.csv").write_text(
        "experiment_id,product,team,name,hypothesis,primary_metric,metric_type,status,start_date,end_date,control_variant,split,"
        "mde,impact,confidence,ease,unit_type\ncheckout-redesign,checkout,growth,Checkout redesign,,purchase,binary,concluded,"
        "2026-09-01,2026-09-22,0,0=0.5;1=0.5,0.05,5,5,5,visitor\n")
    result = run_import("assignments", [BOTH_ARMS], tmp_path)
    # A row breaks the first rule it meets: a repeat is one before it refers anywhere.
    repeats = raw.duplicated()
    other, repeats = int(((raw["experiment_id"] == "search-ranking-v2") & ~repeats).sum()), int(repeats.sum())
    assert result.rows_written == len(raw) - other - repeats
    missing = [line for line in result.set_aside if "missing from experiments.csv" in line]
    assert len(missing) == 1 and missing[0].startswith(
        f"{other:,} rows set aside: column 'experiment_id' refers to an experiment_id missing from experiments.csv (row ")
    with Workspace(tmp_path) as ws:
        exposures = ws.read("exposures")
    assert set(exposures["experiment_id"]) == {"checkout-redesign"}
    assert _two_arm_units(exposures, "experiment_id", "unit_id", "variant") == _two_arm_units(
        raw[raw["experiment_id"] == "checkout-redesign"], "experiment_id", "user_id", "variation_id")


def test_assignments_without_variation(tmp_path):
    with pytest.raises(ImportDataError) as err:
        run_import("assignments", [FIXTURES / "assignments_no_variation.csv"], tmp_path)
    assert str(err.value) == (
        "assignments_no_variation.csv: no column 'variation_id' for exposures.variant; "
        "columns found: user_id, timestamp, experiment_id, converted")


def test_generic_mapping_with_value_maps_time_zone_and_constants(tmp_path):
    export = tmp_path / "tickets.csv"
    export.write_text("Ref;Client;Urgency;Opened (Paris);Kind\nT1;acme;Haute;15/01/2026 09:30;bug\nT2;hooli;Basse;15/07/2026 09:30;\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "table: escalations\ncolumns:\n  escalation_id: Ref\n  account_id: Client\n  priority: Urgency\n"
        "  opened_at: Opened (Paris)\n  category: [Kind]\nvalues:\n  priority: {haute: P1, basse: P4}\n"
        "dates:\n  format: '%d/%m/%Y %H:%M'\n  timezone: Europe/Paris\n"
        "constants:\n  product: app\n  team: support\n  reopened: 0\n"
    )
    result = run_import("generic", [export], tmp_path / "ws", mapping_file=mapping)
    assert result.rows_written == 1
    # The contract's column and the export's own: the user recognises their 'Kind' column.
    assert result.set_aside == ["1 row set aside: column 'category' (the export's 'Kind') is empty but required (row 2: empty)"]
    row = _csv(tmp_path / "ws" / "escalations.csv").iloc[0]
    # 09:30 in Paris is 08:30 UTC in winter (UTC+1)
    assert (row["priority"], row["opened_at"], row["product"]) == ("P1", "2026-01-15T08:30:00Z", "app")


@pytest.mark.parametrize("body, message", [
    ("table: escalations\ncolumns: {escalation_id: [a, b}\n", "{mapping}, line 2, column 31: malformed YAML: expected ',' or ']', but got '}}'"),
    ("table: escalation\n", "{mapping}: table 'escalation' is not a canonical table; tables: "),
    ("table: escalations\ncolumns: {ticket: Ref}\n", "{mapping}: 'ticket' not a column of escalations; columns: escalation_id, "),
    ("table: escalations\ncolum: {}\n", "{mapping}: colum: not a key of a mapping; keys: table, headers, columns, values, defaults, "
     "where, deleted, updated, dates, constants, options"),
    ("table: escalations\ndates: {zone: UTC}\n", "{mapping}: dates.zone: not a key of dates; keys: format, timezone"),
])
def test_malformed_mapping_files(tmp_path, body, message):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(body)
    with pytest.raises(ImportDataError) as err:
        load_mapping("generic", mapping)
    assert str(err.value).startswith(message.format(mapping=mapping))


def test_unknown_preset_lists_the_presets():
    result = playbook_cli("import", "salesforce", "x.csv", "--workspace", "/tmp/nowhere")
    assert result.returncode == 2
    assert "unknown preset 'salesforce'; presets: generic, jira, zendesk, delighted, posthog-survey, posthog-events, amplitude, assignments" in result.stderr


def test_import_appends_without_repeating_ids(tmp_path):
    first = run_import("zendesk", [FIXTURES / "zendesk_incremental.json"], tmp_path)
    second = run_import("zendesk", [FIXTURES / "zendesk_incremental.json", FIXTURES / "zendesk_admin.csv"], tmp_path)
    assert (first.rows_written, second.rows_written, second.rows_already_there, second.rows_updated) == (4, 2, 4, 0)
    ids = _csv(tmp_path / "escalations.csv")["escalation_id"].tolist()
    assert ids == ["35436", "35437", "35438", "35439", "501", "502"]


def test_import_command_prints_what_it_did(tmp_path):
    result = playbook_cli("import", "zendesk", str(FIXTURES / "zendesk_incremental.json"), "--workspace", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"Read 4 rows from zendesk_incremental.json into {tmp_path / 'escalations.csv'}: 4 added, 0 updated, 0 unchanged (same id)",
        "  zendesk_incremental.json: escalations.account_id: 1 row without 'organization_id' took 'requester_id' instead "
        "(the columns are tried in the order of columns.account_id in the mapping)",
        "  zendesk_incremental.json: 1 row without a 'priority' given priority P3 (defaults.priority in the mapping)",
    ]
    bad = playbook_cli("import", "jira", str(FIXTURES / "jira_bad_dates.csv"), "--workspace", str(tmp_path))
    assert bad.returncode == 2
    assert "error: jira_bad_dates.csv: column 'Created': 1 value does not match" in bad.stderr


# -- the real public exports ---------------------------------------------------------------------


@REAL
def test_real_ticket_export_reports_resolutions_before_first_response(tmp_path):
    result = run_import("generic", [SHARED_REAL / "customer_support_tickets.csv"], tmp_path / "ws",
                        mapping_file=MAPPINGS / "customer_support_tickets.yaml")
    assert (result.rows_read, result.rows_written) == (8469, 5650)
    # Open tickets carry no time at all in this export.
    assert result.set_aside == [
        "2,819 rows set aside: column 'opened_at' (the export's 'First Response Time') is empty but required (row 6: empty, row 7: empty, row 8: empty, "
        "row 19: empty, row 23: empty, ...)"
    ]
    [fault] = result.faults
    assert fault.startswith(
        "customer_support_tickets.csv: 1,365 rows with 'Time to Resolution' before 'First Response Time': kept as exported, "
        "and reports treat resolved_at as unknown rather than show a negative duration (row 4 (id 4): "
        "2023-06-01T01:57:00Z before 2023-06-01T07:29:00Z, "
    )
    # Recount independently from the raw export: closed tickets resolved before their first response.
    raw = pd.read_csv(SHARED_REAL / "customer_support_tickets.csv")
    first = pd.to_datetime(raw["First Response Time"], format="%d-%m-%Y %H:%M")
    resolved = pd.to_datetime(raw["Time to Resolution"], format="%d-%m-%Y %H:%M")
    assert int((resolved < first).sum()) == 1365 and set(raw.loc[resolved < first, "Ticket Status"]) == {"Closed"}


@REAL
def test_real_ticket_export_renders_the_escalations_report(tmp_path):
    ws = tmp_path / "ws"
    run_import("generic", [SHARED_REAL / "customer_support_tickets.csv"], ws, mapping_file=MAPPINGS / "customer_support_tickets.yaml")
    params = make_params(tmp_path, ws, teams={"support": {"name": "Support", "products": ["helpdesk"]}})
    out = tmp_path / "reports"
    run = playbook_cli("run", "--params", str(params), "--out", str(out), "--area", "escalations", "--as-of", "2023-06-02")
    assert run.returncode == 0, run.stdout + run.stderr
    text = visible_text((out / "support" / "escalations.html").read_text())
    assert "Escalations & health" in text or "Escalations & product health" in text
    # the fault is in front of the report's readers, not only in the import's output
    assert "1,365 values emptied (the rows are kept): column 'resolved_at' expected on or after opened_at" in text
    opened = re.search(r"P1 ([\d,]+) 1\.0", text)
    assert opened and int(opened.group(1).replace(",", "")) == int(
        (_csv(ws / "escalations.csv")["priority"] == "P1").sum())


@REAL
def test_real_nps_answers_import_through_the_generic_mapping(tmp_path):
    ws = tmp_path / "ws"
    result = run_import("generic", [SHARED_REAL / "nps_stat5000.csv"], ws, mapping_file=MAPPINGS / "nps_scores.yaml")
    assert (result.rows_read, result.rows_written, result.set_aside) == (1659, 1659, [])
    params = make_params(tmp_path, ws, teams={"survey": {"name": "Survey", "products": ["survey"],
                                                         "period": {"start": "2023-10-01", "end": "2023-10-31"}}})
    out = tmp_path / "reports"
    run = playbook_cli("run", "--params", str(params), "--out", str(out), "--area", "feedback", "--as-of", "2023-10-31")
    assert run.returncode == 0, run.stdout + run.stderr
    text = visible_text((out / "survey" / "feedback.html").read_text())
    assert "NPS is +8.3 (95% interval [4.2, 12.4], 1,659 responses)" in text
