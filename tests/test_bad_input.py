"""The bad-input corpus: files and params as users really hand them over, each with its exact outcome.

Every case is a small workspace (or params folder) and asserts one of three outcomes:

- ``Error``: the table (or params) cannot be used; the message, asserted in full, names the
  file, the column, what was expected and example rows;
- ``Kept``: the table loads; rows that break a rule are set aside and reported (the lines
  asserted in full), the rest are used (their count and, where it matters, their values);
- a "no data" notice in the rendered report (``test_reports_*`` below, one shared run).

Rows are numbered from 1 for the first data row, as the messages number them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import nbformat
import pandas as pd
import pytest
import yaml

from conftest import AS_OF, PARAMS, ROOT, make_params, playbook_cli, visible_text
from playbook.config import check_team_name, load_params
from playbook.errors import ParamsError, SchemaError, UsageError, WorkspaceError
from playbook.schemas import get_table
from playbook.workspace import Workspace

# Judge "the future" against a fixed moment, so the corpus means the same on any day.
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)

VALID = {
    "nps_responses": {"response_id": "R1", "account_id": "A1", "visitor_id": "", "product": "p", "score": "9",
                      "comment": "fine", "submitted_at": "2026-11-01T10:00:00Z"},
    "accounts": {"account_id": "A1", "name": "Acme", "segment": "smb", "plan": "starter", "region": "NA",
                 "arr": "1000", "created_at": "2025-01-01", "churned_at": ""},
    "escalations": {"escalation_id": "E1", "account_id": "A1", "product": "p", "team": "t", "priority": "P1",
                    "category": "bug", "title": "Down", "opened_at": "2026-11-01T10:00:00Z",
                    "first_response_at": "2026-11-01T10:30:00Z", "resolved_at": "", "reopened": "0"},
    "tools": {"tool": "Slack", "category": "communication", "function": "chat", "owner_team": "it", "annual_cost": "3000", "seats": "20",
              "renewal_date": "2027-01-01"},
    "experiments": {"experiment_id": "X1", "product": "p", "team": "t", "name": "Test", "hypothesis": "",
                    "primary_metric": "activation", "metric_type": "binary", "status": "concluded",
                    "start_date": "2026-10-01", "end_date": "2026-10-30", "control_variant": "control",
                    "split": "control=0.5;treatment=0.5", "mde": "0.1", "impact": "5", "confidence": "5", "ease": "5", "unit_type": ""},
    "exposures": {"experiment_id": "X1", "unit_id": "u1", "variant": "control", "exposed_at": "2026-10-02T10:00:00Z",
                  "converted": "0", "value": "", "pre_value": ""},
    "experiment_metrics": {"experiment_id": "X1", "metric": "task_completed", "role": "goal", "kind": "binary", "event": "task_completed",
                           "denominator_event": "", "window_days": "14", "higher_is_better": "true"},
    "events": {"ts": "2026-10-02T10:00:00Z", "visitor_id": "v1", "account_id": "A1", "product": "p", "feature_id": "", "event": ""},
    "releases": None,  # not used by the corpus
}


def csv_text(table: str, *changes: dict[str, Any], sep: str = ",", drop: tuple[str, ...] = (), extra: dict[str, str] | None = None) -> str:
    """A CSV of ``table``: one row per ``changes`` (a valid row with those values changed)."""
    columns = [c for c in get_table(table).column_names if c not in drop] + list(extra or {})
    lines = [sep.join(columns)]
    for number, change in enumerate(changes, start=1):
        row = {**VALID[table], **(extra or {}), **change}
        # ids follow the row number unless the case sets them
        key = get_table(table).key
        if len(key) == 1 and key[0] not in change:
            row[key[0]] = f"{row[key[0]][:1]}{number}"
        lines.append(sep.join(_quote(str(row[c]), sep) for c in columns))
    return "\n".join(lines) + "\n"


def _quote(value: str, sep: str) -> str:
    if any(ch in value for ch in (sep, '"', "\n")):
        return '"' + value.replace('"', '""') + '"'
    return value


@dataclass
class Error:
    """Loading the table raises SchemaError with exactly this message."""

    message: str


@dataclass
class Kept:
    """The table loads: ``lines`` are its report lines exactly, ``rows`` the rows used."""

    rows: int
    lines: list[str] = field(default_factory=list)
    check: Callable[[pd.DataFrame], None] | None = None


@dataclass
class Case:
    name: str
    table: str
    files: dict[str, str | bytes]
    outcome: Error | Kept


NPS_COLUMNS = ", ".join(get_table("nps_responses").column_names)
ONE_MB = "slow " * 210_000 + "end"


def _equals(column: str, expected: list[Any]) -> Callable[[pd.DataFrame], None]:
    def check(frame: pd.DataFrame) -> None:
        assert frame[column].tolist() == expected

    return check


def _usable_metrics(frame: pd.DataFrame) -> None:
    """The two usable rows of the experiment-metrics case: a ratio with its denominator, and a
    metric whose window and direction are left empty (until the end; higher is better)."""
    assert frame["metric"].tolist() == ["m7", "m8"]
    assert frame["denominator_event"].tolist()[0] == "search_run"
    assert frame["window_days"].tolist()[0] == 14 and pd.isna(frame["window_days"].tolist()[1])
    assert frame["higher_is_better"].tolist()[0] == True and pd.isna(frame["higher_is_better"].tolist()[1])  # noqa: E712


CASES = [
    Case("table file missing", "nps_responses", {"accounts.csv": csv_text("accounts", {})}, Error(
        f"{{ws}}: missing table file nps_responses.csv or nps_responses.parquet (expected columns: {NPS_COLUMNS})")),
    Case("empty file", "nps_responses", {"nps_responses.csv": ""}, Error(
        f"nps_responses.csv: the file is empty; expected a header row with the columns {NPS_COLUMNS}")),
    Case("blank lines only", "nps_responses", {"nps_responses.csv": "\n\n  \n"}, Error(
        f"nps_responses.csv: the file is empty; expected a header row with the columns {NPS_COLUMNS}")),
    Case("header only", "nps_responses", {"nps_responses.csv": csv_text("nps_responses")}, Kept(0)),
    Case("required column missing", "nps_responses", {"nps_responses.csv": csv_text("nps_responses", {}, drop=("score",))}, Error(
        f"nps_responses.csv: missing column 'score'; expected columns: {NPS_COLUMNS}; "
        "found: response_id, account_id, visitor_id, product, comment, submitted_at")),
    Case("extra column ignored", "nps_responses",
         {"nps_responses.csv": csv_text("nps_responses", {}, {"score": "3"}, extra={"survey": "q4"})}, Kept(2, check=_equals("score", [9, 3]))),
    # DuckDB matches column names whatever their case: a header in another case is that column.
    Case("an optional column's name in another case", "tools", {"tools.csv": csv_text(
        "tools", {"tool": "Slack"}, {"tool": "Teams", "function": "video meetings"}).replace("function", "Function", 1)},
         Kept(2, check=_equals("function", ["chat", "video meetings"]))),
    Case("a required column's name in another case", "nps_responses", {"nps_responses.csv": csv_text(
        "nps_responses", {}, {"score": "3"}).replace("score", "SCORE", 1)}, Kept(2, check=_equals("score", [9, 3]))),
    Case("wrong type", "nps_responses", {"nps_responses.csv": csv_text("nps_responses", {}, {"score": "nine"}, {"score": "ten"})}, Error(
        "nps_responses.csv: column 'score' expected a whole number of at most 15 digits; 2 values do not parse (row 2: 'nine', row 3: 'ten')")),
    Case("unparseable date", "nps_responses", {"nps_responses.csv": csv_text("nps_responses", {"submitted_at": "2026-13-45"})}, Error(
        "nps_responses.csv: column 'submitted_at' expected an ISO-8601 date or timestamp (UTC); 1 value does not parse (row 1: '2026-13-45')")),
    Case("mixed date formats", "nps_responses", {"nps_responses.csv": csv_text(
        "nps_responses", {"submitted_at": "2026-11-01"}, {"submitted_at": "01/11/2026"}, {"submitted_at": "Nov 3 2026"})}, Error(
        "nps_responses.csv: column 'submitted_at' expected an ISO-8601 date or timestamp (UTC); "
        "2 values do not parse (row 2: '01/11/2026', row 3: 'Nov 3 2026')")),
    Case("offsets other than UTC are converted", "nps_responses", {"nps_responses.csv": csv_text(
        "nps_responses", {"submitted_at": "2026-11-01T23:30:00+02:00"}, {"submitted_at": "2026-11-01 23:30:00-05:00"},
        {"submitted_at": "2026-11-01T23:30:00Z"})}, Kept(3, check=_equals("submitted_at", [
            pd.Timestamp("2026-11-01 21:30"), pd.Timestamp("2026-11-02 04:30"), pd.Timestamp("2026-11-01 23:30")]))),
    Case("dates in the future", "nps_responses", {"nps_responses.csv": csv_text(
        "nps_responses", {}, {"submitted_at": "2027-03-01T00:00:00Z"}, {"submitted_at": "2026-11-28T23:00:00+05:00"})}, Kept(2, [
            "nps_responses.csv: 1 row set aside: column 'submitted_at' is in the future (after 2026-11-28) (row 2: '2027-03-01 00:00:00')",
        ])),
    Case("duplicate ids", "nps_responses", {"nps_responses.csv": csv_text(
        "nps_responses", {"response_id": "R1"}, {"response_id": "R1", "score": "0"}, {"response_id": "R2"})}, Kept(2, [
            "nps_responses.csv: 1 row set aside: column 'response_id' repeats an id already used in an earlier row (row 2: 'R1')",
        ], check=_equals("score", [9, 9]))),
    Case("NPS score out of 0..10", "nps_responses", {"nps_responses.csv": csv_text(
        "nps_responses", {"score": "11"}, {"score": "-1"}, {"score": "10"})}, Kept(1, [
            "nps_responses.csv: 2 rows set aside: column 'score' expected 0..10 (row 1: 11, row 2: -1)",
        ])),
    Case("NPS score not whole", "nps_responses", {"nps_responses.csv": csv_text(
        "nps_responses", {"score": "9.5"}, {"score": "7.0"})}, Kept(1, [
            "nps_responses.csv: 1 row set aside: column 'score' is not a whole number (row 1: 9.5)",
        ], check=_equals("score", [7]))),
    Case("required value empty", "nps_responses", {"nps_responses.csv": csv_text(
        "nps_responses", {"account_id": ""}, {})}, Kept(1, [
            "nps_responses.csv: 1 row set aside: column 'account_id' is empty but required (row 1: empty)",
        ])),
    Case("negative money", "accounts", {"accounts.csv": csv_text("accounts", {"arr": "-500"}, {})}, Kept(1, [
        "accounts.csv: 1 row set aside: column 'arr' expected 0 or more (USD) (row 1: -500)",
    ])),
    Case("negative seats", "tools", {"tools.csv": csv_text("tools", {"tool": "Zoom", "seats": "-3"}, {"tool": "Slack"})}, Kept(1, [
        "tools.csv: 1 row set aside: column 'seats' expected 0 or more (row 1: -3)",
    ])),
    Case("negative counts", "escalations", {"escalations.csv": csv_text("escalations", {"reopened": "-1"}, {})}, Kept(1, [
        "escalations.csv: 1 row set aside: column 'reopened' expected 0 or more (row 1: -1)",
    ])),
    Case("an escalation's account missing from accounts", "escalations", {
        "accounts.csv": csv_text("accounts", {}),
        "escalations.csv": csv_text("escalations", {}, {"account_id": "A404"}, {"account_id": "A405"}),
    }, Kept(1, [
        "escalations.csv: 2 rows set aside: column 'account_id' refers to an account_id missing from accounts.csv (row 2: 'A404', row 3: 'A405')",
    ])),
    Case("a response before its first response time is emptied, not negative", "escalations", {"escalations.csv": csv_text(
        "escalations", {"first_response_at": "2026-11-01T09:00:00Z"}, {})}, Kept(2, [
            "escalations.csv: 1 value emptied (the rows are kept): column 'first_response_at' expected on or after opened_at "
            "(row 1: '2026-11-01 09:00:00')",
        ])),
    Case("exposure outside 0/1 conversion", "exposures", {"exposures.csv": csv_text(
        "exposures", {"unit_id": "u1", "converted": "2"}, {"unit_id": "u2"})}, Kept(1, [
            "exposures.csv: 1 row set aside: column 'converted' expected 0 or 1 (row 1: 2)",
        ])),
    Case("UTF-8 with a byte-order mark", "nps_responses", {"nps_responses.csv": "\ufeff" + csv_text("nps_responses", {})},
         Kept(1, check=_equals("response_id", ["R1"]))),
    Case("Latin-1 file", "nps_responses", {"nps_responses.csv": csv_text(
        "nps_responses", {}, {"comment": "Très lent, déçu"}).encode("latin-1")}, Kept(2, [
            "nps_responses.csv: not UTF-8 (first at line 3, byte 0xE8); read as Windows-1252. "
            "Check accented text in the report, and save the file as UTF-8 to be sure",
        ], check=_equals("comment", ["fine", "Très lent, déçu"]))),
    Case("Windows-1252 curly quotes", "nps_responses", {"nps_responses.csv": csv_text(
        "nps_responses", {"comment": "“Too slow” – 10€"}).encode("cp1252")}, Kept(1, [
            "nps_responses.csv: not UTF-8 (first at line 2, byte 0x93); read as Windows-1252. "
            "Check accented text in the report, and save the file as UTF-8 to be sure",
        ], check=_equals("comment", ["“Too slow” – 10€"]))),
    Case("semicolon-delimited CSV", "nps_responses", {"nps_responses.csv": csv_text(
        "nps_responses", {"comment": "slow, and buggy"}, {"score": "3"}, sep=";")}, Kept(2, check=_equals("comment", ["slow, and buggy", "fine"]))),
    Case("quoted newlines inside comments", "nps_responses", {"nps_responses.csv": csv_text(
        "nps_responses", {"comment": "line one\nline two"}, {})}, Kept(2, check=_equals("comment", ["line one\nline two", "fine"]))),
    Case("a 1 MB comment", "nps_responses", {"nps_responses.csv": csv_text("nps_responses", {"comment": ONE_MB}, {})},
         Kept(2, check=lambda f: [len(c) for c in f["comment"]] == [len(ONE_MB), 4] or pytest.fail("comment lengths"))),
    Case("emoji and right-to-left text", "nps_responses", {"nps_responses.csv": csv_text(
        "nps_responses", {"comment": "😡 بطيء جدا — איטי מאוד"})}, Kept(1, check=_equals("comment", ["😡 بطيء جدا — איטי מאוד"]))),
    Case("a .parquet file that is really CSV", "nps_responses", {"nps_responses.parquet": csv_text("nps_responses", {})}, Error(
        "nps_responses.parquet: not a Parquet file (it begins 'response_id,account_id,v', which looks like CSV text); "
        "if it is CSV, rename it to nps_responses.csv")),
    # Values that cannot be true are set aside, not believed.
    Case("money that is not a finite number", "accounts", {"accounts.csv": csv_text(
        "accounts", {"arr": "NaN"}, {"arr": "inf"}, {"arr": "1e309"}, {"arr": "-Infinity"}, {})}, Kept(1, [
            "accounts.csv: 4 rows set aside: column 'arr' is not a finite number (row 1: nan, row 2: inf, row 3: inf, row 4: -inf)",
        ], check=_equals("arr", [1000.0]))),
    Case("dates that cannot be true", "tools", {"tools.csv": csv_text(
        "tools", {"tool": "A", "renewal_date": "infinity"}, {"tool": "B", "renewal_date": "0001-01-05"},
        {"tool": "C", "renewal_date": "-infinity"}, {"tool": "D", "renewal_date": "1970-01-01T00:00:00Z"},
        {"tool": "E", "renewal_date": "2200-06-01"}, {"tool": "F"})}, Kept(1, [
            "tools.csv: 5 rows set aside: column 'renewal_date' expected a date from 1970-01-02 to 2099-12-31 "
            "(row 1: 'infinity', row 2: '0001-01-05 00:00:00', row 3: '-infinity', row 4: '1970-01-01 00:00:00', "
            "row 5: '2200-06-01 00:00:00')",
        ], check=_equals("tool", ["F"]))),
    Case("whole numbers out of range", "tools", {"tools.csv": csv_text(
        "tools", {"tool": "A", "seats": "nan"}, {"tool": "B", "seats": "1e30"}, {"tool": "C", "seats": "12345678901234567890"},
        {"tool": "D"})}, Error(
            "tools.csv: column 'seats' expected a whole number of at most 15 digits; 3 values do not parse "
            "(row 1: 'nan', row 2: '1e30', row 3: '12345678901234567890')")),
    Case("experiment splits that cannot be planned", "experiments", {"experiments.csv": csv_text(
        "experiments", {"split": "control=0;treatment=0"}, {"split": "control=0.5;treatment=0.5;"},
        {"split": "control=nan;treatment=nan"}, {"split": "control=1"}, {"split": "control=1;control=1"},
        {"split": " control = 40 ; treatment = 60 "}, {"split": ""})}, Kept(2, [
            "experiments.csv: 5 rows set aside: column 'split' expected variant=weight pairs separated by ';', two or more "
            "variants, each weight above 0 (e.g. control=0.5;treatment=0.5) (row 1: 'control=0;treatment=0', "
            "row 2: 'control=0.5;treatment=0.5;', row 3: 'control=nan;treatment=nan', row 4: 'control=1', "
            "row 5: 'control=1;control=1')",
        ], check=_equals("experiment_id", ["X6", "X7"]))),
    Case("a split weight too large to be a number", "experiments", {"experiments.csv": csv_text(
        "experiments", {"split": "control=" + "9" * 400 + ";treatment=1"}, {})}, Kept(1, [
            "experiments.csv: 1 row set aside: column 'split' expected variant=weight pairs separated by ';', two or more "
            f"variants, each weight above 0 (e.g. control=0.5;treatment=0.5) (row 1: 'control={'9' * 400};treatment=1')",
        ])),
    # Experiments (issue 19): a unit's rows in two variants are both kept (the analysis excludes
    # the unit and counts it); only the same unit and variant given again is a repeat.
    Case("a unit in two variants is kept, a repeated variant set aside", "exposures", {"exposures.csv": csv_text(
        "exposures", {"unit_id": "u1"}, {"unit_id": "u1", "variant": "treatment", "exposed_at": "2026-10-03T10:00:00Z"},
        {"unit_id": "u1", "exposed_at": "2026-10-04T10:00:00Z"}, {"unit_id": "u2"})}, Kept(3, [
            "exposures.csv: 1 row set aside: columns 'experiment_id + unit_id + variant' repeats a (experiment_id, unit_id, variant) "
            "combination already used in an earlier row (row 3: 'X1 / u1 / control')",
        ], check=_equals("variant", ["control", "treatment", "control"]))),
    Case("exposures without conversions (metrics from events)", "exposures", {"exposures.csv": csv_text(
        "exposures", {"unit_id": "u1", "converted": ""}, {"unit_id": "u2", "converted": ""})}, Kept(2)),
    Case("an experiment's unit type", "experiments", {"experiments.csv": csv_text(
        "experiments", {"unit_type": "visitor"}, {"unit_type": "account"}, {"unit_type": ""}, {"unit_type": "user"})}, Kept(3, [
            "experiments.csv: 1 row set aside: column 'unit_type' expected visitor or account (row 4: 'user')",
        ], check=lambda f: f["unit_type"].fillna("-").tolist() == ["visitor", "account", "-"] or pytest.fail("unit types"))),
    Case("experiments written before unit types", "experiments", {"experiments.csv": csv_text("experiments", {}, drop=("unit_type",))},
         Kept(1, check=lambda f: f["unit_type"].isna().all() or pytest.fail("unit type"))),
    Case("events without event names", "events", {"events.csv": csv_text("events", {}, {"visitor_id": "v2"}, drop=("event",))},
         Kept(2, check=lambda f: f["event"].isna().all() or pytest.fail("event names"))),
    Case("events with event names", "events", {"events.csv": csv_text("events", {"event": "task_completed"}, {})},
         Kept(2, check=lambda f: sorted(f["event"].fillna("-")) == ["-", "task_completed"] or pytest.fail("event names"))),
    Case("experiment metrics that cannot be computed", "experiment_metrics", {"experiment_metrics.csv": csv_text(
        "experiment_metrics", {"metric": "m1", "role": "primary"}, {"metric": "m2", "kind": "count"},
        {"metric": "m3", "kind": "ratio"}, {"metric": "m4", "window_days": "0"}, {"metric": "m5", "window_days": "2.5"},
        {"metric": "m6", "event": ""}, {"metric": "m7", "kind": "ratio", "denominator_event": "search_run"},
        {"metric": "m8", "window_days": "", "higher_is_better": ""}, {"metric": "m7"})}, Kept(2, [
            "experiment_metrics.csv: 1 row set aside: column 'role' expected one of goal, secondary, guardrail (row 1: 'primary')",
            "experiment_metrics.csv: 1 row set aside: column 'kind' expected one of binary, continuous, ratio (row 2: 'count')",
            "experiment_metrics.csv: 1 row set aside: column 'event' is empty but required (row 6: empty)",
            "experiment_metrics.csv: 1 row set aside: column 'denominator_event' expected the denominator's event when kind is ratio "
            "(row 3: empty)",
            "experiment_metrics.csv: 1 row set aside: column 'window_days' is not a whole number (row 5: 2.5)",
            "experiment_metrics.csv: 1 row set aside: column 'window_days' expected 1 to 3650 (days) (row 4: 0)",
            "experiment_metrics.csv: 1 row set aside: columns 'experiment_id + metric' repeats a (experiment_id, metric) pair already "
            "used in an earlier row (row 9: 'X1 / m7')",
        ], check=lambda f: _usable_metrics(f))),
    Case("experiment metrics whose flags do not parse", "experiment_metrics", {"experiment_metrics.csv": csv_text(
        "experiment_metrics", {"metric": "m1", "higher_is_better": "lower"}, {"metric": "m2"})}, Error(
            "experiment_metrics.csv: column 'higher_is_better' expected true or false; 1 value does not parse (row 1: 'lower')")),
    Case("experiment metrics of an experiment missing from the catalogue", "experiment_metrics", {
        "experiments.csv": csv_text("experiments", {}),
        "experiment_metrics.csv": csv_text("experiment_metrics", {"metric": "m1"}, {"metric": "m2", "experiment_id": "X9"}),
    }, Kept(1, [
        "experiment_metrics.csv: 1 row set aside: column 'experiment_id' refers to an experiment_id missing from experiments.csv "
        "(row 2: 'X9')",
    ], check=_equals("metric", ["m1"]))),
    # Table files that are not files, or not tables.
    Case("a table file that is a link to nothing", "nps_responses", {"nps_responses.csv@": "/nonexistent/answers.csv"}, Error(
        "nps_responses.csv: a link to /nonexistent/answers.csv, which leads to no file, not a table file; expected a CSV or "
        f"Parquet file with the columns {NPS_COLUMNS}")),
    Case("a table file that is a folder", "nps_responses", {"nps_responses.csv/": ""}, Error(
        f"nps_responses.csv: a folder, not a table file; expected a CSV or Parquet file with the columns {NPS_COLUMNS}")),
    Case("a table file that is a named pipe", "nps_responses", {"nps_responses.csv|": ""}, Error(
        f"nps_responses.csv: a named pipe, not a table file; expected a CSV or Parquet file with the columns {NPS_COLUMNS}")),
    Case("a CSV with 10,000 columns", "nps_responses", {"nps_responses.csv": ",".join(
        [*get_table("nps_responses").column_names, *(f"x{i}" for i in range(9_993))]) + "\n"}, Error(
            "nps_responses.csv: the header has 10,000 columns, more than the 1,000 a table may have; expected the columns "
            f"{NPS_COLUMNS} (and any of your own); is this the right file?")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_table(case: Case, tmp_path):
    ws_path = tmp_path / "ws"
    ws_path.mkdir()
    for name, body in case.files.items():
        target = ws_path / name.rstrip("/|@")
        if name.endswith("/"):
            target.mkdir()
        elif name.endswith("@"):
            target.symlink_to(body)
        elif name.endswith("|"):
            os.mkfifo(target)  # opening it would block: the workspace must never open it
        else:
            target.write_bytes(body) if isinstance(body, bytes) else target.write_text(body, encoding="utf-8")
    before = _checksums(ws_path)
    with Workspace(ws_path, now=NOW) as ws:
        if isinstance(case.outcome, Error):
            with pytest.raises(SchemaError) as err:
                ws.load(case.table)
            assert str(err.value) == case.outcome.message.format(ws=ws_path)
        else:
            report = ws.load(case.table)
            assert report.describe() == case.outcome.lines
            # in file order, which a DuckDB scan does not promise
            key = list(get_table(case.table).key)
            frame = ws.read(case.table).sort_values(key, key=lambda c: c.str.zfill(12), ignore_index=True)
            assert len(frame) == case.outcome.rows == report.rows_kept
            if case.outcome.check:
                case.outcome.check(frame)
    # Loading only ever reads.
    assert _checksums(ws_path) == before


def test_events_in_parquet_without_event_names_are_still_read_in_place(tmp_path):
    """A Parquet events file written before the ``event`` column is checked where it lies (not
    copied, which a million rows would make slow) and reads with the column empty."""
    import duckdb

    with duckdb.connect() as con:
        con.execute("COPY (SELECT TIMESTAMP '2026-10-02 10:00:00' + INTERVAL (i) MINUTE AS ts, 'v' || i AS visitor_id, 'A1' AS account_id, "
                    "'p' AS product, CAST(NULL AS VARCHAR) AS feature_id FROM range(3) t(i)) TO ? (FORMAT parquet)",
                    [str(tmp_path / "events.parquet")])
    with Workspace(tmp_path, now=NOW) as ws:
        assert ws.load("events").rows_kept == 3
        events = ws.read("events")
        copied = ws.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = '_raw_events'").fetchone()[0]
    assert list(events.columns) == list(get_table("events").column_names)
    assert events["event"].isna().all() and copied == 0


@pytest.mark.parametrize("present", [False, True])
def test_the_experiments_area_reads_experiment_metrics_when_present(present, tmp_path):
    """``ctx.read("experiment_metrics")``: the rows when the workspace has the table, an empty
    frame with the contract's columns when it has not."""
    from playbook.context import open_report

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "experiments.csv").write_text(csv_text("experiments", {}))
    (ws / "exposures.csv").write_text(csv_text("exposures", {}))
    if present:
        (ws / "experiment_metrics.csv").write_text(csv_text("experiment_metrics", {}, {"metric": "help_opened", "higher_is_better": "false"}))
    ctx = open_report("experiments", "mobile", make_params(tmp_path, ws), as_of=AS_OF)
    try:
        assert ctx.has("experiment_metrics") is present
        metrics = ctx.read("experiment_metrics")
    finally:
        ctx.workspace.close()
    assert list(metrics.columns) == list(get_table("experiment_metrics").column_names)
    expected = [("help_opened", False), ("task_completed", True)] if present else []
    assert sorted(zip(metrics["metric"], metrics["higher_is_better"])) == expected


def test_exposure_variants_unknown_to_their_experiment_invalidate_it(tmp_path):
    """Exposures to a variant the experiment's split does not plan (a typo) make the result invalid, named."""
    from playbook.config import ExperimentsParams
    from playbook.experiments import analyse

    rows = [{"unit_id": f"u{i}", "variant": v, "converted": str(i % 2)} for i, v in
            enumerate(["control"] * 40 + ["treatment"] * 30 + ["treatmnet"] * 10)]
    (tmp_path / "experiments.csv").write_text(csv_text("experiments", {}))
    (tmp_path / "exposures.csv").write_text(csv_text("exposures", *rows))
    with Workspace(tmp_path, now=NOW) as ws:
        _, decisions = analyse(ws.read("experiments"), ws.read("exposures"), ExperimentsParams())
    decision = decisions.set_index("experiment_id").loc["X1"]
    assert decision["decision"] == "invalid (SRM)"
    assert decision["note"] == "variants not in the planned split: treatmnet"


def test_one_experiment_with_an_impossible_split_is_set_aside_and_the_others_are_analysed(tmp_path):
    """validate names the bad split; the analysis carries on with the experiments that can be read."""
    from playbook.config import ExperimentsParams
    from playbook.experiments import analyse

    (tmp_path / "experiments.csv").write_text(csv_text("experiments", {}, {"split": "control=0;treatment=0"}))
    rows = [{"experiment_id": x, "unit_id": f"u{i}", "variant": v, "converted": str(i % 2)}
            for x in ("X1", "X2") for i, v in enumerate(["control"] * 50 + ["treatment"] * 50)]
    (tmp_path / "exposures.csv").write_text(csv_text("exposures", *rows))
    before = _checksums(tmp_path)
    result = playbook_cli("validate", "--workspace", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert ("experiments.csv: 1 row set aside: column 'split' expected variant=weight pairs separated by ';', two or more "
            "variants, each weight above 0 (e.g. control=0.5;treatment=0.5) (row 2: 'control=0;treatment=0')") in result.stdout
    with Workspace(tmp_path, now=NOW) as ws:
        _, decisions = analyse(ws.read("experiments"), ws.read("exposures"), ExperimentsParams())
    assert decisions["experiment_id"].tolist() == ["X1"]
    assert _checksums(tmp_path) == before


def _duckdb_holder(path: Path) -> subprocess.Popen:
    """Another process writing a DuckDB file, holding its lock until told to stop."""
    code = (
        "import duckdb, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "con.execute('CREATE TABLE IF NOT EXISTS accounts AS SELECT 1 AS a')\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "ready"
    return holder


@pytest.mark.parametrize("kind", ["empty", "damaged", "locked"])
def test_a_duckdb_workspace_that_cannot_be_opened_is_named(kind, tmp_path):
    path = tmp_path / "acme.duckdb"
    holder = None
    if kind == "empty":
        path.write_bytes(b"")
        message = f"workspace {path} is an empty file, not a DuckDB database; point `workspace:` in params at your data"
    elif kind == "damaged":
        path.write_bytes(b"PK\x03\x04 this was a zip file, renamed" * 200)
        message = f"workspace {path} is not a DuckDB database (the file is damaged, or another kind of file); "
    else:
        holder = _duckdb_holder(path)
        message = (f"workspace {path} is being written by another program (process {holder.pid}), which holds the database's "
                   "lock; run again once it has finished (the playbook only reads it)")
    try:
        before = path.read_bytes() if kind != "locked" else None
        with pytest.raises(WorkspaceError) as err:
            Workspace(path)
        assert str(err.value).startswith(message)
        # The command line says the same, with exit 2, and writes nothing.
        result = playbook_cli("validate", "--workspace", str(path))
        assert result.returncode == 2 and f"error: {message}" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        if before is not None:
            assert path.read_bytes() == before
    finally:
        if holder is not None:
            holder.communicate("", timeout=30)


# -- params -------------------------------------------------------------------------------------

def _params(tmp_path: Path, team_yaml: str) -> Path:
    folder = tmp_path / "params"
    (folder / "teams").mkdir(parents=True)
    shutil.copy(PARAMS / "defaults.yaml", folder / "defaults.yaml")
    (folder / "teams" / "alpha.yaml").write_text(team_yaml)
    return folder


PARAMS_CASES = [
    ("malformed YAML", "name: Alpha\nproducts: [a, b\nperiod: last_30_days\n",
     "teams/alpha.yaml, line 3, column 7: malformed YAML: expected ',' or ']', but got ':'"),
    ("unknown params key", "name: Alpha\nproducts: [a]\nfeedbak:\n  drop_alert: 5\n",
     "teams/alpha.yaml, line 3: unknown key 'feedbak'"),
    ("period end before start", "name: Alpha\nproducts: [a]\nperiod:\n  start: 2026-06-30\n  end: 2026-06-01\n",
     "teams/alpha.yaml, line 3: period: period end 2026-06-01 is before its start 2026-06-30"),
    ("a time limit of zero", "name: Alpha\nproducts: [a]\ntime_limit: 0\n",
     "teams/alpha.yaml, line 3: time_limit: expected greater than or equal to 1; found 0"),
    ("a key given twice", "name: Alpha\nproducts: [a]\nfeedback:\n  drop_alert: 5\nproducts: [b]\n",
     "teams/alpha.yaml, line 5: key 'products' is given twice, on lines 2 and 5; keep one"),
    ("a key given twice, nested", "name: Alpha\nproducts: [a]\nfeedback:\n  drop_alert: 5\n  drop_alert: 8\n",
     "teams/alpha.yaml, line 5: key 'drop_alert' is given twice, on lines 4 and 5; keep one"),
    ("a period in year 1", "name: Alpha\nproducts: [a]\nperiod:\n  start: 0001-01-05\n  end: 2026-06-01\n",
     "teams/alpha.yaml, line 3: period: period date 0001-01-05 is outside the dates the playbook reads (1970-01-02 to 2099-12-31)"),
]


@pytest.mark.parametrize("team_yaml, message", [c[1:] for c in PARAMS_CASES], ids=[c[0] for c in PARAMS_CASES])
def test_bad_params(team_yaml, message, tmp_path):
    folder = _params(tmp_path, team_yaml)
    with pytest.raises(ParamsError) as err:
        load_params(folder, "alpha")
    assert message in str(err.value)


@pytest.mark.parametrize("team", ["../secrets", "a/b", "..", "growth/../../etc"])
def test_team_names_with_slash_or_dots_are_refused_before_any_path_is_built(team, tmp_path):
    with pytest.raises(UsageError) as err:
        check_team_name(team)
    assert str(err.value) == (f"invalid team name {team!r}: expected lower-case letters, digits, '-' or '_' "
                              "(no '/', '..' or spaces)")
    # The command line refuses it too, and creates nothing.
    result = playbook_cli("run", "--params", str(PARAMS), "--team", team, "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert f"invalid team name {team!r}" in result.stderr
    assert not (tmp_path / "out").exists()


def _checksums(folder: Path) -> dict[str, str]:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_an_as_of_date_that_cannot_be_true_is_refused(tmp_path):
    result = playbook_cli("run", "--params", str(PARAMS), "--as-of", "0001-01-05", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: as_of: 0001-01-05 is outside the dates the playbook reads (1970-01-02 to 2099-12-31); "
                                     "expected a date such as 2026-11-27")
    assert not (tmp_path / "out").exists()


def test_team_files_that_are_not_read_are_named(tmp_path, tiny_workspace):
    params = make_params(tmp_path, tiny_workspace, teams={"mobile": {"name": "Mobile", "products": ["mobile-app"]}})
    for name in ("Mobile.yaml", "équipe.yaml", "growth.yml"):
        (params / "teams" / name).write_text("name: X\nproducts: [x]\n")
    (params / "teams" / "README.md").write_text("notes, not a team")
    expected = [
        "teams/Mobile.yaml is ignored: a team's file name is lower-case letters, digits, '-' or '_' (rename it mobile.yaml)",
        "teams/growth.yml is ignored: team files end in .yaml (rename it growth.yaml)",
        "teams/équipe.yaml is ignored: a team's file name is lower-case letters, digits, '-' or '_'",
    ]
    listed = playbook_cli("list", "--params", str(params))
    assert [line.strip().removeprefix("warning: ") for line in listed.stdout.splitlines() if "ignored" in line] == expected
    # A run says so before it starts; the team named with a capital is not run as "mobile" twice.
    run = playbook_cli("run", "--params", str(params), "--out", str(tmp_path / "out"), "--area", "tools", "--as-of", AS_OF.isoformat())
    assert run.returncode == 0, run.stdout + run.stderr
    assert [line.removeprefix("warning: ") for line in run.stderr.splitlines() if "ignored" in line] == expected
    assert "1 of 1 reports ok" in run.stdout


def test_a_team_or_area_named_twice_is_rendered_once(tmp_path, tiny_workspace):
    params = make_params(tmp_path, tiny_workspace, teams={"mobile": {"name": "Mobile", "products": ["mobile-app"]}})
    run = playbook_cli("run", "--params", str(params), "--out", str(tmp_path / "out"), "--as-of", AS_OF.isoformat(),
                       "--team", "mobile", "--team", "mobile", "--area", "tools", "--area", "tools")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 of 1 reports ok" in run.stdout
    assert run.stderr.count("mobile/tools") <= 1
    assert list(json.loads((tmp_path / "out" / "manifest.json").read_text())["reports"]) == ["mobile/tools"]


def test_a_number_too_large_for_its_column_fails_only_the_areas_that_read_it(tmp_path, tiny_workspace):
    ws = tmp_path / "ws"
    shutil.copytree(tiny_workspace, ws)
    tools = pd.read_csv(ws / "tools.csv", dtype=str, keep_default_na=False)
    tools.loc[1, "seats"] = "1e30"
    tools.to_csv(ws / "tools.csv", index=False)
    before = _checksums(ws)
    message = "tools.csv: column 'seats' expected a whole number of at most 15 digits; 1 value does not parse (row 2: '1e30')"
    check = playbook_cli("validate", "--workspace", str(ws))
    assert check.returncode == 2 and f"error: {message}" in check.stdout and "Traceback" not in check.stderr
    params = make_params(tmp_path, ws, teams={"mobile": {"name": "Mobile", "products": ["mobile-app"]}})
    run = playbook_cli("run", "--params", str(params), "--out", str(tmp_path / "out"), "--as-of", AS_OF.isoformat(),
                       "--area", "tools", "--area", "feedback")
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"FAILED   mobile/tools  {message}" in run.stdout
    assert "ok       mobile/feedback" in run.stdout and "Traceback" not in run.stderr
    assert _checksums(ws) == before
