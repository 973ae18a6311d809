"""A PostgreSQL warehouse as the workspace (issue 21), against a real server (tests/pgserver.py).

The sample company is loaded once into the server's schema public and kept as a folder of files
(its twin, ``pg_sample.twin``): every comparison reads both. A test that changes data in the
server works on a schema of its own (a copy of what it needs), so the tests do not depend on
their order. The password reaches the playbook through the environment of the test or of the
`playbook` subprocess only (PGPASSWORD, or the variable ``warehouse.password_env`` names).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
import yaml

from conftest import AS_OF, NO_SERVER, PARAMS, PG_SAMPLE_SIZES, visible_text
from pgserver import find_bin

from playbook.areas import AREAS
from playbook.config import WarehouseParams, list_teams
from playbook.context import build, open_report
from playbook.errors import SchemaError
from playbook.figures import result_from_dict
from playbook.warehouse import WarehouseError
from playbook.workspace import Workspace

# Without a server the module is skipped once, with one line saying why (the pg_server fixture
# would skip each test, or fail each one in CI, where the server must be there).
if find_bin() is None and not os.environ.get("CI"):
    pytest.skip(NO_SERVER, allow_module_level=True)

PLAYBOOK = str(Path(sys.executable).parent / "playbook")
DAY = AS_OF.isoformat()
SECRET_VAR = "PLAYBOOK_TEST_DB_SECRET"
WRONG_PASSWORD = "wrongpw-5d1c0e7f9a"

# A schema of the test's own (dropped first) holding copies of tables of schema public; psql
# quotes the names it is given (:"schema" as a name, :'schema' and :'tables' as values).
COPY_SCHEMA = r"""
DROP SCHEMA IF EXISTS :"schema" CASCADE;
CREATE SCHEMA :"schema";
SELECT format('CREATE TABLE %I.%I AS TABLE public.%I', :'schema', t, t) FROM unnest(string_to_array(:'tables', ',')) AS t
\gexec
"""


def copy_schema(server, schema: str, tables) -> None:
    server.psql(COPY_SCHEMA, variables={"schema": schema, "tables": ",".join(tables)})


# Every table of every schema of the database, each as one md5 of all its rows, computed by the
# server (names quoted by format's %I).
CHECKSUMS = r"""
SELECT format('SELECT %L, md5(string_agg(t::text, ''|'' ORDER BY t::text)) FROM %I.%I t',
              schemaname || '.' || tablename, schemaname, tablename)
FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY schemaname, tablename
\gexec
"""


def checksums(server) -> dict[str, str]:
    return dict(line.split("|", 1) for line in server.psql(CHECKSUMS).splitlines() if line)


COUNTS = r"""
SELECT format('SELECT %L, count(*) FROM %I.%I', tablename, schemaname, tablename)
FROM pg_tables WHERE schemaname = :'schema' ORDER BY tablename
\gexec
"""


def counts(server, schema: str, tables) -> dict[str, int | None]:
    """Rows per table of ``schema``, counted by the server (None for a table the schema lacks)."""
    found = dict(line.split("|") for line in server.psql(COUNTS, variables={"schema": schema}).splitlines() if line)
    return {t: int(found[t]) if t in found else None for t in tables}


def write_params(root: Path, workspace: str, warehouse: dict | None = None) -> Path:
    """A copy of the project's params folder whose defaults name ``workspace`` and ``warehouse``."""
    params = root / "params"
    shutil.copytree(PARAMS, params)
    defaults = yaml.safe_load((params / "defaults.yaml").read_text())
    defaults["workspace"] = workspace
    defaults["execution_timeout"] = 120
    if warehouse is not None:
        defaults["warehouse"] = warehouse
    (params / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    return params


def run_env(root: Path, **values: str) -> dict[str, str]:
    """This environment without PGPASSWORD and with no .pgpass to fall back on, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    env["PGPASSFILE"] = str(root / "no-such-pgpass")
    env.update(values)
    return env


def cli(*args, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """The installed `playbook` command, as a scheduler runs it."""
    return subprocess.run([PLAYBOOK, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=900)


def files_holding(text: str, *folders: Path) -> list[Path]:
    """Every file under ``folders`` whose bytes contain ``text``."""
    needle = text.encode()
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def _number(value):
    return None if value is None else float(value)


def facts(result) -> tuple:
    """What a report states: each figure's subject, value, previous and rows; each action's rule,
    subject, severity, money and sentence; the headline."""
    figures = {k: (f.subject, _number(f.value), _number(f.previous), f.rows) for k, f in result.figures.items()}
    actions = [(a.rule, a.subject, a.severity.name, _number(a.money), a.text) for a in result.actions]
    return figures, actions, tuple(result.headline)


def build_result(area: str, team: str, params_dir: Path, workspace: str = ""):
    """The report built in-process, as a notebook's first steps build it (no history)."""
    ctx = open_report(area, team, params_dir, workspace, DAY, history="-")
    try:
        return build(ctx).result, ctx.workspace.is_warehouse, {t: r.source for t, r in ctx.workspace.reports.items()}
    finally:
        ctx.workspace.close()


@pytest.fixture
def pg_password(pg_sample, monkeypatch, tmp_path):
    """PGPASSWORD for the playbook in this test only (and no .pgpass to fall back on)."""
    monkeypatch.setenv("PGPASSWORD", pg_sample.server.password)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-such-pgpass"))
    return pg_sample.server.password


@pytest.fixture(scope="module")
def twin_result(pg_sample):
    """The folder twin's report for a team and area, built once per module (the project's params,
    one workspace for every report, as a backfill reads)."""
    twin = Workspace(pg_sample.twin)
    built = {}

    def result(team: str, area: str):
        if (team, area) not in built:
            ctx = open_report(area, team, PARAMS, str(pg_sample.twin), DAY, history="-")
            ctx.workspace.close()
            built[(team, area)] = build(replace(ctx, workspace=twin)).result
        return built[(team, area)]

    yield result
    twin.close()


# ---------------------------------------------------------------- (a) the same reports


@pytest.mark.parametrize("team", list_teams(PARAMS))
def test_every_report_from_the_warehouse_states_what_the_files_state(team, pg_sample, pg_password, twin_result):
    """Every area's report for the team, built from the PostgreSQL workspace, has the same figures
    (subject, value, previous, rows), actions (rule, subject, severity, money, sentence) and headline
    as the same report built from the folder the data came from."""
    stated = 0
    for area in AREAS:
        result, warehouse, _ = build_result(area, team, PARAMS, pg_sample.url)
        assert warehouse
        assert facts(result) == facts(twin_result(team, area)), f"{team}/{area}"
        stated += sum(f.value is not None for f in result.figures.values()) + len(result.actions)
    assert stated > 10  # the reports say something, so agreeing means something


# ---------------------------------------------------------------- (b) a mapping of the company's own names

MAPPED_ESCALATIONS = (
    "SELECT case_no AS escalation_id, customer AS account_id, product_line AS product, squad AS team, prio AS priority, "
    "kind AS category, subject_line AS title, created AS opened_at, answered AS first_response_at, solved AS resolved_at, "
    "times_reopened AS reopened FROM crm.support_cases"
)
CRM = """
DROP SCHEMA IF EXISTS crm CASCADE;
CREATE SCHEMA crm;
CREATE TABLE crm.support_cases AS
  SELECT escalation_id AS case_no, account_id AS customer, product AS product_line, team AS squad, priority AS prio,
         category AS kind, title AS subject_line, opened_at AS created, first_response_at AS answered,
         resolved_at AS solved, reopened AS times_reopened
  FROM public.escalations;
CREATE TABLE crm.survey_answers AS
  SELECT response_id AS answer_id, account_id AS customer, visitor_id AS visitor, product AS product_line,
         score AS rating, comment AS remark, submitted_at AS answered_at
  FROM public.nps_responses;
CREATE VIEW crm.v_nps AS
  SELECT answer_id AS response_id, customer AS account_id, visitor AS visitor_id, product_line AS product,
         rating AS score, remark AS comment, answered_at AS submitted_at
  FROM crm.survey_answers;
"""


def test_tables_mapped_to_a_query_and_a_view_of_other_names_read_as_the_files(pg_sample, pg_password, twin_result, tmp_path):
    """Escalations mapped to a query over crm.support_cases and NPS responses to the view crm.v_nps
    (tables and columns of other names, params' warehouse.tables) give the areas that read them the
    figures the folder twin gives, and are read from where the mapping says."""
    server = pg_sample.server
    server.psql(CRM)
    params = write_params(tmp_path, pg_sample.url, {"tables": {"escalations": {"sql": MAPPED_ESCALATIONS}, "nps_responses": "crm.v_nps"}})
    affected = [a for a, spec in AREAS.items() if {"escalations", "nps_responses"} & set(spec.tables)]
    assert {"escalations", "feedback", "communication", "enablement"} <= set(affected)
    for area in affected:
        result, warehouse, sources = build_result(area, "all", params)
        assert warehouse
        assert facts(result) == facts(twin_result("all", area)), area
        if "escalations" in sources:
            assert sources["escalations"] == f"{pg_sample.url}, query for escalations"
        if "nps_responses" in sources:
            assert sources["nps_responses"] == f"{pg_sample.url}, table crm.v_nps"


# ---------------------------------------------------------------- (c, e, f) `playbook run` from the warehouse

NEW_FEEDBACK = """
INSERT INTO runs.feedback (feedback_id, account_id, product, source, text, theme, roadmap_item_id, submitted_at)
SELECT 'FB-TEST-0001', account_id, 'onboarding', source, 'Exports got slow after the update', NULL, NULL,
       TIMESTAMP '2026-11-20 09:30:00'
FROM runs.feedback ORDER BY feedback_id LIMIT 1;
"""


@pytest.fixture(scope="module")
def live_runs(pg_sample, tmp_path_factory):
    """Three `playbook run`s of growth's escalations and feedback reports from a copy of the sample
    in schema runs: the first renders both; the second, identical, should reuse both; then
    `playbook validate`, one feedback row inserted with psql, and a third run. The server's
    checksums are taken around them, and the in-process builds for comparison."""
    server = pg_sample.server
    copy_schema(server, "runs", pg_sample.counts)
    root = tmp_path_factory.mktemp("live-runs")
    params = write_params(root, pg_sample.url, {"schema": "runs"})
    out = root / "reports"
    env = run_env(root, PGPASSWORD=server.password)
    args = ["run", "--params", params, "--out", out, "--as-of", DAY, "--team", "growth",
            "--area", "escalations", "--area", "feedback", "--workspace", pg_sample.url, "--jobs", "2"]

    def manifest():
        path = out / "manifest.json"
        return json.loads(path.read_text()) if path.exists() else {"reports": {}}

    def in_process(*areas):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PGPASSWORD", server.password)
            return {area: build_result(area, "growth", params, pg_sample.url)[0] for area in areas}

    before = checksums(server)
    first = cli(*args, env=env, cwd=root)
    first_manifest = manifest()
    built = in_process("escalations", "feedback")
    second = cli(*args, env=env, cwd=root)
    second_manifest = manifest()
    validated = cli("validate", "--params", params, "--workspace", pg_sample.url, env=env, cwd=root)
    after = checksums(server)
    server.psql(NEW_FEEDBACK)
    inserted = checksums(server)
    third = cli(*args, env=env, cwd=root)
    third_manifest = manifest()
    rebuilt = in_process("feedback")
    after_third = checksums(server)
    return SimpleNamespace(
        root=root, params=params, out=out, runs=[first, second, third], validated=validated,
        manifests=[first_manifest, second_manifest, third_manifest], built=built, rebuilt=rebuilt,
        before=before, after=after, inserted=inserted, after_third=after_third,
    )


def _ran(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.e2e
def test_playbook_run_renders_the_warehouse_reports_with_the_in_process_figures(live_runs):
    """`playbook run --workspace postgresql://...` renders growth's escalations and feedback reports
    through papermill kernels (exit 0, HTML and executed notebooks written), and the figures,
    actions and headline the manifest records are the in-process build's."""
    first = live_runs.runs[0]
    assert first.returncode == 0, _ran(first)
    manifest = live_runs.manifests[0]
    assert manifest["executed"] == 2 and manifest["reused"] == 0
    for area in ("escalations", "feedback"):
        entry = manifest["reports"][f"growth/{area}"]
        assert entry["status"] == "rendered" and not entry["reused"]
        html = live_runs.out / "growth" / f"{area}.html"
        notebook = json.loads((live_runs.out / "growth" / f"{area}.ipynb").read_text())
        assert "papermill" in notebook["metadata"]
        page = html.read_text()
        assert page.lstrip().lower().startswith("<!doctype html") and "Growth" in visible_text(page)
        assert facts(result_from_dict(entry["result"])) == facts(live_runs.built[area]), area


@pytest.mark.e2e
def test_an_unchanged_warehouse_reuses_the_reports_and_a_new_row_renders_only_the_report_reading_it(live_runs):
    """A second identical run reuses both reports (nothing executed); after one row is inserted
    into the feedback table (read by the feedback report, not by the escalations one) the
    feedback report runs again, with the figures the in-process build now gives, and the
    escalations report is still reused. (Not an NPS response: the escalations report reads
    nps_responses too, for account health, so a new response rightly renders both.)"""
    first, second, third = live_runs.runs
    assert first.returncode == 0, _ran(first)
    assert second.returncode == 0, _ran(second)
    manifest = live_runs.manifests[1]
    assert manifest["reused"] == 2 and manifest["executed"] == 0, _ran(second)
    assert all(manifest["reports"][f"growth/{a}"]["reused"] for a in ("escalations", "feedback"))
    assert third.returncode == 0, _ran(third)
    manifest = live_runs.manifests[2]
    assert manifest["executed"] == 1 and manifest["reused"] == 1, _ran(third)
    feedback, escalations = manifest["reports"]["growth/feedback"], manifest["reports"]["growth/escalations"]
    assert feedback["status"] == "rendered" and not feedback["reused"]
    assert feedback["fingerprint"] != live_runs.manifests[0]["reports"]["growth/feedback"]["fingerprint"]
    assert escalations["reused"]
    assert facts(result_from_dict(feedback["result"])) == facts(live_runs.rebuilt["feedback"])


@pytest.mark.e2e
def test_runs_and_validate_write_nothing_to_the_server(live_runs):
    """A checksum of every table in the server is the same before and after `playbook run` (twice)
    and `playbook validate`, and after the third run; the checksums do see a change (the row the
    test inserted)."""
    assert all(run.returncode == 0 for run in live_runs.runs), [_ran(r) for r in live_runs.runs]
    assert live_runs.validated.returncode == 0, _ran(live_runs.validated)
    assert "runs.feedback" in live_runs.before and "public.events" in live_runs.before
    assert live_runs.after == live_runs.before
    assert live_runs.inserted["runs.feedback"] != live_runs.after["runs.feedback"]
    assert live_runs.after_third == live_runs.inserted


@pytest.mark.e2e
def test_good_runs_show_the_password_nowhere(live_runs, pg_sample, tmp_path):
    """The password is in no output of the runs and validate above, and in no file they or the
    test wrote (reports, executed notebooks, manifest, history, params); nor when a run reads it
    from the variable warehouse.password_env names, with PGPASSWORD unset and no .pgpass."""
    password = pg_sample.server.password
    params = write_params(tmp_path, pg_sample.url, {"schema": "runs", "password_env": SECRET_VAR})
    out = tmp_path / "reports"
    by_variable = cli("run", "--params", params, "--out", out, "--as-of", DAY, "--team", "growth", "--area", "feedback",
                      env=run_env(tmp_path, **{SECRET_VAR: password}), cwd=tmp_path)
    assert by_variable.returncode == 0, _ran(by_variable)
    assert (out / "growth" / "feedback.html").is_file()
    for proc in [*live_runs.runs, live_runs.validated, by_variable]:
        assert proc.returncode == 0, _ran(proc)
        assert password not in proc.stdout and password not in proc.stderr
    assert files_holding(password, live_runs.root, tmp_path) == []


# ---------------------------------------------------------------- (d, e) what cannot be read stops the run


BAD_MAPPINGS = """
DROP SCHEMA IF EXISTS crm_d CASCADE;
CREATE SCHEMA crm_d;
CREATE VIEW crm_d.v_no_priority AS
  SELECT escalation_id, account_id, product, team, category, title, opened_at, first_response_at, resolved_at, reopened
  FROM public.escalations;
"""


@pytest.fixture(scope="module")
def bad_mappings(pg_sample):
    pg_sample.server.psql(BAD_MAPPINGS)


def _bad_case(name: str, server):
    """(workspace URL given, warehouse settings, PGPASSWORD-side password, what the message names)."""
    from pgserver import free_port

    good = server.password
    if name == "wrong_password":
        return server.url, {}, WRONG_PASSWORD, [server.url, "password authentication failed"]
    if name == "unreachable":
        dead = f"postgresql://{server.user}@127.0.0.1:{free_port()}/{server.database}"
        return dead, {}, good, [dead, "no PostgreSQL server answers there"]
    if name == "missing_table":
        return server.url, {"tables": {"escalations": "crm_d.no_such_table"}}, good, [server.url, "escalations", "crm_d.no_such_table"]
    if name == "view_missing_column":
        return server.url, {"tables": {"escalations": "crm_d.v_no_priority"}}, good, [
            f"{server.url}, table crm_d.v_no_priority", "missing column 'priority'"]
    if name == "failing_query":
        return server.url, {"tables": {"escalations": {"sql": "SELECT no_such_column FROM public.escalations"}}}, good, [
            server.url, "the query for escalations fails", 'column "no_such_column" does not exist']
    if name == "password_in_url":
        written = server.url.replace(f"{server.user}@", f"{server.user}:{good}@")
        return written, {}, good, [server.url, "a password written in the URL is refused"]
    raise ValueError(name)


BAD_CASES = ["wrong_password", "unreachable", "missing_table", "view_missing_column", "failing_query", "password_in_url"]


@pytest.mark.parametrize("source", ["PGPASSWORD", "password_env"])
@pytest.mark.parametrize("case", BAD_CASES)
def test_a_warehouse_that_cannot_be_read_stops_the_run_before_any_kernel(case, source, pg_sample, bad_mappings, tmp_path):
    """A wrong password, a server that does not answer, a mapping to a table the server lacks, a
    mapped view without a contract column and a mapped query that fails each make `playbook run`
    exit 2 with one message naming the server (and the table, column or PostgreSQL's reason)
    before anything is written or any kernel starts; so does a password written in the URL. The
    password (given through PGPASSWORD or the variable warehouse.password_env names) is in no
    output and no file."""
    server = pg_sample.server
    workspace, warehouse, password, named = _bad_case(case, server)
    if source == "password_env":
        warehouse = {**warehouse, "password_env": SECRET_VAR}
        env = run_env(tmp_path, **{SECRET_VAR: password})
    else:
        env = run_env(tmp_path, PGPASSWORD=password)
    params = write_params(tmp_path, server.url, warehouse)
    out = tmp_path / "reports"
    done = cli("run", "--params", params, "--out", out, "--as-of", DAY, "--team", "growth", "--area", "escalations",
               "--workspace", workspace, env=env, cwd=tmp_path)
    assert done.returncode == 2, _ran(done)
    assert done.stderr.startswith("error: "), _ran(done)
    for words in named:
        assert words in done.stderr, _ran(done)
    # Nothing ran: the reports folder was never made (no HTML, no executed notebook, no manifest).
    assert not out.exists()
    assert "[1/1]" not in done.stderr
    for secret in {server.password, password}:
        assert secret not in done.stdout + done.stderr
        assert files_holding(secret, tmp_path) == []


# ---------------------------------------------------------------- (f) never writes

WIPE = """
DROP SCHEMA IF EXISTS victim CASCADE;
CREATE SCHEMA victim;
CREATE TABLE victim.accounts AS TABLE public.accounts;
CREATE FUNCTION victim.wipe() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM victim.accounts;
  RETURN 1;
END $$;
"""


def test_nothing_done_through_the_workspace_writes_to_the_server(pg_sample, pg_password):
    """Through an open warehouse workspace, creating a table, inserting rows, postgres_execute's
    DELETE and a function that deletes each fail (DuckDB's read-only attach, then the server's
    read-only transactions); a mapped query that tries to write fails at open or at load; and
    every table is as it was."""
    server = pg_sample.server
    server.psql(WIPE)
    before = checksums(server)
    attempts = [
        ("CREATE TABLE src.public.x (i INT)", []),
        ("INSERT INTO src.public.accounts SELECT * FROM src.public.accounts LIMIT 1", []),
        ("INSERT INTO src.victim.accounts SELECT * FROM src.victim.accounts LIMIT 1", []),
        ("CALL postgres_execute('src', 'DELETE FROM accounts')", []),
        ("CALL postgres_execute('src', 'DELETE FROM victim.accounts')", []),
        ("SELECT * FROM postgres_query('src', ?)", ["SELECT victim.wipe()"]),
    ]
    with Workspace(pg_sample.url) as ws:
        for sql, values in attempts:
            with pytest.raises(duckdb.Error):
                ws.con.execute(sql, values)
    writing = [
        "WITH d AS (DELETE FROM victim.accounts RETURNING *) SELECT * FROM d",
        "SELECT * FROM victim.accounts WHERE victim.wipe() = 1",
    ]
    for sql in writing:
        with pytest.raises((WarehouseError, SchemaError)):
            with Workspace(pg_sample.url, warehouse=WarehouseParams(tables={"accounts": {"sql": sql}})) as ws:
                ws.load("accounts")
    assert checksums(server) == before
    assert counts(server, "victim", ["accounts"]) == {"accounts": pg_sample.counts["accounts"]}
    assert server.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'x'") == "0"


# ---------------------------------------------------------------- (g) the fingerprint


def _fingerprint(url: str, schema: str, tables: list[str]) -> str:
    with Workspace(url, warehouse=WarehouseParams(schema=schema)) as ws:
        printed = ws.fingerprint(tables)
        assert ws.reports == {}  # asked of the server: no table was read into DuckDB
        return printed


def test_the_fingerprint_changes_with_an_edited_row_or_a_new_event_and_only_then(pg_sample, pg_password):
    """A fresh workspace's fingerprint of nps_responses and events is the same while nothing
    changes; it changes when one response's comment is edited in place (the row count and the
    latest time unchanged) and again when one event is inserted; a table nobody touched keeps its
    own fingerprint."""
    server, url = pg_sample.server, pg_sample.url
    copy_schema(server, "fp", ["nps_responses", "events"])
    tables = ["nps_responses", "events"]
    first = _fingerprint(url, "fp", tables)
    assert _fingerprint(url, "fp", tables) == first
    rows = counts(server, "fp", tables)
    server.psql("UPDATE fp.nps_responses SET comment = coalesce(comment, '') || ' (edited)' "
                "WHERE response_id = (SELECT min(response_id) FROM fp.nps_responses)")
    assert counts(server, "fp", tables) == rows
    edited = _fingerprint(url, "fp", tables)
    assert edited != first
    responses = _fingerprint(url, "fp", ["nps_responses"])
    server.psql("INSERT INTO fp.events SELECT * FROM fp.events ORDER BY ts LIMIT 1")
    assert counts(server, "fp", ["events"])["events"] == rows["events"] + 1
    assert _fingerprint(url, "fp", tables) not in (first, edited)
    assert _fingerprint(url, "fp", ["nps_responses"]) == responses


def test_the_fingerprint_reads_tables_with_several_time_columns(pg_sample, pg_password):
    """Every canonical table has a fingerprint from the server, escalations' (three time columns)
    among them, and editing one escalation's title in place changes it. (The server's query once
    named each latest time "max", which DuckDB refuses twice in one result: every `playbook run`
    from a warehouse stopped before any report.)"""
    server, url = pg_sample.server, pg_sample.url
    with Workspace(url) as ws:
        printed = {t: ws.fingerprint([t]) for t in ws.tables()}
    assert set(printed) == set(pg_sample.counts) and len(set(printed.values())) == len(printed)
    copy_schema(server, "fp_esc", ["escalations"])
    first = _fingerprint(url, "fp_esc", ["escalations"])
    server.psql("UPDATE fp_esc.escalations SET title = coalesce(title, '') || ' (edited)' "
                "WHERE escalation_id = (SELECT min(escalation_id) FROM fp_esc.escalations)")
    assert _fingerprint(url, "fp_esc", ["escalations"]) != first


# ---------------------------------------------------------------- (h) playbook sample --to

SAMPLE_ARGS = ["--seed", "7", "--as-of", DAY, *(x for k, v in PG_SAMPLE_SIZES.items() for x in (f"--{k}", str(v)))]


def test_sample_to_loads_every_table_and_never_overwrites_without_replace(pg_sample, tmp_path):
    """`playbook sample --to URL --schema s2` loads every table with the folder twin's row counts;
    a second call without --replace exits 2 saying the tables are there and writes nothing (a
    table dropped meanwhile stays absent, rows deleted stay deleted); with --replace it loads
    them all again."""
    server, tables = pg_sample.server, list(pg_sample.counts)
    env = run_env(tmp_path, PGPASSWORD=server.password)
    server.psql("DROP SCHEMA IF EXISTS s2 CASCADE")
    loaded = cli("sample", "--to", pg_sample.url, "--schema", "s2", *SAMPLE_ARGS, env=env, cwd=tmp_path)
    assert loaded.returncode == 0, _ran(loaded)
    assert f"into {pg_sample.url}, schema s2" in loaded.stdout
    assert counts(server, "s2", tables) == pg_sample.counts
    server.psql("DROP TABLE s2.roadmap; DELETE FROM s2.events WHERE ctid IN (SELECT ctid FROM s2.events LIMIT 10)")
    changed = counts(server, "s2", tables)
    assert changed["roadmap"] is None and changed["events"] == pg_sample.counts["events"] - 10
    again = cli("sample", "--to", pg_sample.url, "--schema", "s2", *SAMPLE_ARGS, env=env, cwd=tmp_path)
    assert again.returncode == 2, _ran(again)
    assert pg_sample.url in again.stderr and "already has" in again.stderr and "nothing was written" in again.stderr
    assert counts(server, "s2", tables) == changed
    replaced = cli("sample", "--to", pg_sample.url, "--schema", "s2", "--replace", *SAMPLE_ARGS, env=env, cwd=tmp_path)
    assert replaced.returncode == 0, _ran(replaced)
    assert counts(server, "s2", tables) == pg_sample.counts
    for proc in (loaded, again, replaced):
        assert server.password not in proc.stdout + proc.stderr


# ---------------------------------------------------------------- (i) rows set aside


BAD_ROWS = """
INSERT INTO bad.nps_responses (response_id, account_id, visitor_id, product, score, comment, submitted_at)
VALUES ('R-BAD-11', 'A00001', NULL, 'onboarding', 11, 'eleven out of ten', TIMESTAMP '2026-11-20 10:00:00');
INSERT INTO bad.events (ts, visitor_id, account_id, product, feature_id, event)
VALUES (TIMESTAMP '2026-11-20 10:00:00', NULL, 'A00001', 'onboarding', NULL, NULL);
"""


def _files_with_bad_rows(twin: Path, folder: Path) -> Path:
    """The twin's nps_responses and events with the same two bad rows appended."""
    folder.mkdir()
    shutil.copy(twin / "nps_responses.csv", folder / "nps_responses.csv")
    with open(folder / "nps_responses.csv", newline="") as handle:
        header = next(csv.reader(handle))
    row = {"response_id": "R-BAD-11", "account_id": "A00001", "visitor_id": "", "product": "onboarding", "score": "11",
           "comment": "eleven out of ten", "submitted_at": "2026-11-20T10:00:00Z"}
    with open(folder / "nps_responses.csv", "a", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerow([row[c] for c in header])
    con = duckdb.connect()
    con.sql(
        "SELECT * FROM read_parquet(?) UNION ALL "
        "SELECT TIMESTAMP '2026-11-20 10:00:00', NULL, 'A00001', 'onboarding', NULL, NULL",
        params=[str(twin / "events.parquet")],
    ).write_parquet(str(folder / "events.parquet"))
    con.close()
    return folder


def _reasons(lines: list[str], source: str) -> list[str]:
    """The lines of one source without it, and without the row numbers files have and tables lack."""
    assert all(line.startswith(source + ": ") for line in lines), (source, lines)
    return [re.sub(r"row \d+: ", "", line[len(source) + 2:]) for line in lines]


def test_rows_breaking_a_rule_are_set_aside_and_named_like_a_files(pg_sample, pg_password, tmp_path):
    """An NPS response scored 11 and an event without a visitor, inserted into the server, are set
    aside when the warehouse workspace loads them; each line names the server and the table
    (postgresql://...analytics, table bad.nps_responses) and the rule in the same words as the
    folder twin's line for the same rows."""
    server, url = pg_sample.server, pg_sample.url
    copy_schema(server, "bad", ["nps_responses", "events"])
    server.psql(BAD_ROWS)
    folder = _files_with_bad_rows(pg_sample.twin, tmp_path / "bad-files")
    with Workspace(url, warehouse=WarehouseParams(schema="bad")) as ws, Workspace(folder) as files:
        for table, file, rule in (("nps_responses", "nps_responses.csv", "column 'score' expected 0..10"),
                                  ("events", "events.parquet", "column 'visitor_id'")):
            warehouse_report, file_report = ws.load(table), files.load(table)
            assert warehouse_report.rows_set_aside == file_report.rows_set_aside == 1
            assert warehouse_report.rows_kept == file_report.rows_kept == pg_sample.counts[table]
            lines = warehouse_report.describe()
            assert len(lines) == 1 and lines[0].startswith(f"{url}, table bad.{table}: 1 row set aside: {rule}"), lines
            assert _reasons(lines, f"{url}, table bad.{table}") == _reasons(file_report.describe(), file)
        assert "R-BAD-11" not in set(ws.read("nps_responses")["response_id"])


# ---------------------------------------------------------------- found by the hostile read

def test_a_numeric_nan_or_infinity_is_set_aside_not_read_as_zero(pg_sample, pg_password):
    """DuckDB's PostgreSQL reader turns a `numeric` NaN or infinity into 0, a plausible ARR no
    rule could refuse; the playbook reads numeric columns of tables with an id as doubles, so
    such values are set aside as "not a finite number", as a file's are, and the other rows kept."""
    server, url = pg_sample.server, pg_sample.url
    copy_schema(server, "nan", ["accounts"])
    server.psql("ALTER TABLE nan.accounts ALTER COLUMN arr TYPE numeric(14,2)")
    server.psql("ALTER TABLE nan.accounts ALTER COLUMN arr TYPE numeric")
    server.psql("UPDATE nan.accounts SET arr = 'NaN' WHERE account_id = (SELECT min(account_id) FROM nan.accounts)")
    server.psql("UPDATE nan.accounts SET arr = 'Infinity' WHERE account_id = (SELECT max(account_id) FROM nan.accounts)")
    with Workspace(url, warehouse=WarehouseParams(schema="nan")) as ws:
        report = ws.load("accounts")
        kept = ws.read("accounts")
    reasons = {(s.column, s.rule): s.count for s in report.set_aside}
    assert reasons == {("arr", "is not a finite number"): 2}
    assert len(kept) == pg_sample.counts["accounts"] - 2
    assert kept["arr"].dropna().map(math.isfinite).all()
    assert report.source == f"{url}, table nan.accounts"


def test_the_checksum_is_of_the_whole_row_whatever_the_columns_are_called(pg_sample, pg_password):
    """A table with a column named like the alias a checksum query could use still has every
    value of its rows hashed: editing a title changes the fingerprint."""
    server, url = pg_sample.server, pg_sample.url
    copy_schema(server, "fp_alias", ["escalations"])
    server.psql("ALTER TABLE fp_alias.escalations ADD COLUMN t text DEFAULT 'same'")
    server.psql("ALTER TABLE fp_alias.escalations ADD COLUMN playbook_row text DEFAULT 'same'")
    first = _fingerprint(url, "fp_alias", ["escalations"])
    server.psql("UPDATE fp_alias.escalations SET title = coalesce(title, '') || ' (edited)' "
                "WHERE escalation_id = (SELECT min(escalation_id) FROM fp_alias.escalations)")
    assert _fingerprint(url, "fp_alias", ["escalations"]) != first


def test_a_mapped_query_may_begin_and_end_with_comments(pg_sample, pg_password):
    """A dbt model's SQL often begins with a comment and may end with one; both read."""
    url = pg_sample.url
    sql = "-- model: fct_nps\n/* owned by data */\nSELECT * FROM public.nps_responses -- all of them\n"
    mapping = WarehouseParams(tables={"nps_responses": {"sql": sql}})
    with Workspace(url, warehouse=mapping) as ws:
        assert ws.load("nps_responses").rows_read == pg_sample.counts["nps_responses"]
        assert ws.fingerprint(["nps_responses"])


def test_sample_to_replace_that_fails_half_way_writes_nothing(pg_sample, tmp_path):
    """A replace that cannot finish (a view depends on one of the tables) is one transaction: it
    stops with exit 2, says nothing was written, and every table is as it was."""
    server, url = pg_sample.server, pg_sample.url
    env = run_env(tmp_path, PGPASSWORD=server.password)
    copy_schema(server, "atomic", ["accounts", "nps_responses"])
    first = cli("sample", "--to", url, "--schema", "atomic_full", *SAMPLE_ARGS, env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    server.psql("CREATE VIEW atomic_full.depends AS SELECT * FROM atomic_full.nps_responses")
    before = {k: v for k, v in checksums(server).items() if k.startswith("atomic_full.")}
    proc = cli("sample", "--to", url, "--schema", "atomic_full", "--replace", "--seed", "8", "--as-of", DAY,
               *(x for k, v in PG_SAMPLE_SIZES.items() for x in (f"--{k}", str(v))), env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert "nothing was written" in proc.stderr and "depend" in proc.stderr
    assert {k: v for k, v in checksums(server).items() if k.startswith("atomic_full.")} == before
    assert server.password not in proc.stdout + proc.stderr


def test_sample_to_refuses_what_is_not_a_database_url(tmp_path):
    """`--to analytics` (a bare word libpq would read as a database on whatever server the
    environment names) is refused before anything connects."""
    proc = cli("sample", "--to", "analytics", env=run_env(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and "--to expects a postgresql://" in proc.stderr


def test_a_misspelled_schema_stops_the_run_instead_of_dropping_its_tables(pg_sample, pg_password):
    """`warehouse.schema` naming a schema that holds none of the tables left to it (a typo) is
    refused at open, naming the schema and those there, even when other tables are mapped
    elsewhere and found; without `schema` in params, tables absent from public are just absent."""
    url = pg_sample.url
    typo = WarehouseParams(schema="playbok", tables={"nps_responses": "public.nps_responses"})
    with pytest.raises(WarehouseError, match=r"the schema playbok \(warehouse.schema\) holds none.*schemas there: .*public"):
        Workspace(url, warehouse=typo)
    only_mapped = WarehouseParams(tables={"nps_responses": "public.nps_responses"})
    with Workspace(url, warehouse=only_mapped) as ws:
        assert "nps_responses" in ws.tables()


def test_a_nan_in_a_column_named_in_capitals_and_a_number_past_a_double_are_set_aside(pg_sample, pg_password):
    """The loader matches a contract column whatever its case, and so does the cast to double:
    a NaN in "ARR" is set aside, not read as 0; an ARR of 1e400 (past a double, a file's reads
    as infinity) is set aside too, rather than failing the table."""
    server, url = pg_sample.server, pg_sample.url
    copy_schema(server, "nan_caps", ["accounts"])
    server.psql('ALTER TABLE nan_caps.accounts ALTER COLUMN arr TYPE numeric')
    server.psql('ALTER TABLE nan_caps.accounts RENAME COLUMN arr TO "ARR"')
    server.psql('UPDATE nan_caps.accounts SET "ARR" = \'NaN\' WHERE account_id = (SELECT min(account_id) FROM nan_caps.accounts)')
    server.psql('UPDATE nan_caps.accounts SET "ARR" = 1e400 WHERE account_id = (SELECT max(account_id) FROM nan_caps.accounts)')
    with Workspace(url, warehouse=WarehouseParams(schema="nan_caps")) as ws:
        report = ws.load("accounts")
    assert {(s.column, s.rule): s.count for s in report.set_aside} == {("arr", "is not a finite number"): 2}


def test_events_mapped_to_a_query_ending_in_a_comment_read(pg_sample, pg_password):
    """DuckDB wraps a mapped query without a line break; one ending in a -- comment still reads."""
    url = pg_sample.url
    sql = "SELECT * FROM public.events\nWHERE ts >= DATE '2020-01-01'  -- the last years only"
    with Workspace(url, warehouse=WarehouseParams(tables={"events": {"sql": sql}})) as ws:
        assert ws.load("events").rows_read == pg_sample.counts["events"]
