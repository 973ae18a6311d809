"""The data contract: canonical tables, their columns, types and the rules rows must keep.

These follow DESIGN.md section 3. Column names are a contract that users' data, importers and
tests rely on: columns may be added, never renamed. Times are ISO-8601 UTC, ids are strings and
money is USD.

A rule (``check``) is a SQL predicate over the typed column that is true for a usable value;
rows that break a rule are set aside and reported, never silently used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

ColumnType = Literal["string", "int", "float", "bool", "timestamp"]

# Each contract type as DuckDB stores it (the one map of it: typed empty tables, typed writes).
SQL_TYPES: dict[str, str] = {"string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "timestamp": "TIMESTAMP"}

TYPE_NAMES: dict[str, str] = {
    "string": "text",
    "int": "a whole number of at most 15 digits",
    "float": "a number",
    "bool": "true or false",
    "timestamp": "an ISO-8601 date or timestamp (UTC)",
}


# Values that cannot be true, whatever the column, are set aside like any rule-breaking row: a
# number that is not finite (NaN, infinity, 1e309) and a time outside the years a product-ops
# record can fall in (year 1, "infinity", the Unix epoch itself standing in for "unknown").
EARLIEST, LATEST = date(1970, 1, 2), date(2099, 12, 31)
PLAUSIBLE_DATES = f"a date from {EARLIEST.isoformat()} to {LATEST.isoformat()}"

# A table with more columns than this is not a table of the contract (a wide export, or a file
# split on the wrong character); reading it would only exhaust the database's memory.
MAX_COLUMNS = 1_000

# An experiment's planned split: at least two distinct variants, each weight a plain, finite number above 0
# (a regular expression for the form, then the weights and the names checked one by one).
_SPLIT = (
    r"regexp_full_match({col}, '\s*[^=;\s][^=;]*=\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*"
    r"(;\s*[^=;\s][^=;]*=\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*)+')"
    " AND list_min(list_transform(string_split({col}, ';'), lambda p: TRY_CAST(trim(split_part(p, '=', 2)) AS DOUBLE))) > 0"
    " AND isfinite(list_sum(list_transform(string_split({col}, ';'), lambda p: TRY_CAST(trim(split_part(p, '=', 2)) AS DOUBLE))))"
    " AND len(list_distinct(list_transform(string_split({col}, ';'), lambda p: trim(split_part(p, '=', 1)))))"
    " = len(string_split({col}, ';'))"
)


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    Attributes:
        name: the column name, exactly as in files.
        type: how values are parsed.
        nullable: whether an empty value is allowed; a required value that is missing sets the
            row aside.
        check: SQL predicate over the parsed column (written with ``{col}``) that holds for a
            usable value.
        expect: what ``check`` allows, in words, for messages ("0..10").
        clear: when the check fails, empty the value (and report it) instead of setting the whole
            row aside; for optional facts such as a first response time recorded before the
            escalation was opened, where the row itself is still good.
        past: the time records something that has happened (an answer submitted, an event), so
            a value in the future is a fault and sets the row aside. Planned times (a release
            date, a renewal, an experiment's end) may lie ahead.
        optional: a file may lack the column altogether (added to the contract after users'
            files were written); it then reads as empty, and the area says what it falls back to.
    """

    name: str
    type: ColumnType = "string"
    nullable: bool = False
    check: str | None = None
    expect: str = ""
    clear: bool = False
    past: bool = False
    optional: bool = False


@dataclass(frozen=True)
class Reference:
    """A column whose values must exist in another table's column (a foreign key)."""

    column: str
    table: str
    target: str


@dataclass(frozen=True)
class Table:
    """A canonical table: its columns, its id columns, the column that places a row in time, and
    the columns that point at other tables.

    Rows whose reference points nowhere are set aside when the referenced table is present.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    time_column: str | None = None
    references: tuple[Reference, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _c(
    name: str, type: ColumnType = "string", nullable: bool = False, check: str | None = None, expect: str = "", clear: bool = False
) -> Column:
    return Column(name, type, nullable, check, expect, clear, past=(name, type) in _HAPPENED)


# Times that record something that already happened (see Column.past).
_HAPPENED = {
    (name, "timestamp")
    for name in ("submitted_at", "ts", "opened_at", "first_response_at", "resolved_at", "closed_at", "exposed_at",
                 "sent_at", "completed_at", "last_active_at", "created_at")
}


_NON_NEGATIVE = "{col} >= 0"

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "accounts",
            (
                _c("account_id"),
                _c("name"),
                _c("segment"),
                _c("plan"),
                _c("region"),
                _c("arr", "float", check=_NON_NEGATIVE, expect="0 or more (USD)"),
                _c("created_at", "timestamp"),
                _c("churned_at", "timestamp", nullable=True),
            ),
            key=("account_id",),
        ),
        Table(
            "nps_responses",
            (
                _c("response_id"),
                _c("account_id"),
                _c("visitor_id", nullable=True),
                _c("product"),
                _c("score", "int", check="{col} BETWEEN 0 AND 10", expect="0..10"),
                _c("comment", nullable=True),
                _c("submitted_at", "timestamp"),
            ),
            key=("response_id",),
            time_column="submitted_at",
        ),
        Table(
            "feedback",
            (
                _c("feedback_id"),
                _c("account_id"),
                _c("product"),
                _c("source"),
                _c("text", nullable=True),
                _c("theme", nullable=True),
                _c("roadmap_item_id", nullable=True),
                _c("submitted_at", "timestamp"),
            ),
            key=("feedback_id",),
            time_column="submitted_at",
        ),
        Table(
            "roadmap",
            (
                _c("item_id"),
                _c("product"),
                _c("team"),
                _c("title"),
                _c(
                    "status",
                    check="{col} IN ('idea', 'planned', 'in_progress', 'shipped')",
                    expect="one of idea, planned, in_progress, shipped",
                ),
                _c("reach", "float", check=_NON_NEGATIVE, expect="0 or more"),
                _c("impact", "float", check=_NON_NEGATIVE, expect="0 or more"),
                _c("confidence", "float", check="{col} BETWEEN 0 AND 1", expect="0..1"),
                _c("effort", "float", check="{col} > 0", expect="more than 0"),
            ),
            key=("item_id",),
        ),
        Table(
            "tools",
            (
                _c("tool"),
                _c("category"),
                # What the tool does (chat, crm, call recording): overlap compares tools of one
                # function. Optional: a file without it falls back to the category (see tools.py).
                Column("function", nullable=True, optional=True),
                _c("owner_team"),
                _c("annual_cost", "float", check=_NON_NEGATIVE, expect="0 or more (USD)"),
                _c("seats", "int", check=_NON_NEGATIVE, expect="0 or more"),
                _c("renewal_date", "timestamp", nullable=True),
            ),
            key=("tool",),
        ),
        Table(
            "tool_seats",
            (
                _c("tool"),
                _c("user_id"),
                _c("team"),
                _c("assigned_at", "timestamp"),
                _c("last_active_at", "timestamp", nullable=True),
            ),
            key=("tool", "user_id"),
            references=(Reference("tool", "tools", "tool"),),
        ),
        Table(
            "features",
            (
                _c("feature_id"),
                _c("name"),
                _c("product"),
                _c("team"),
                _c("is_core", "bool"),
                _c("released_at", "timestamp", nullable=True),
            ),
            key=("feature_id",),
        ),
        Table(
            "events",
            (
                _c("ts", "timestamp"),
                _c("visitor_id"),
                _c("account_id"),
                _c("product"),
                _c("feature_id", nullable=True),
                # The name of a tracked action (``report_saved``), which experiment metrics count
                # (see experiment_metrics). Optional: a file without it has no named events.
                Column("event", nullable=True, optional=True),
            ),
            time_column="ts",
        ),
        Table(
            "escalations",
            (
                _c("escalation_id"),
                _c("account_id"),
                _c("product"),
                _c("team"),
                _c("priority", check="{col} IN ('P1', 'P2', 'P3', 'P4')", expect="one of P1, P2, P3, P4"),
                _c("category"),
                _c("title", nullable=True),
                _c("opened_at", "timestamp"),
                _c("first_response_at", "timestamp", nullable=True, check='{col} >= "opened_at"', expect="on or after opened_at", clear=True),
                _c("resolved_at", "timestamp", nullable=True, check='{col} >= "opened_at"', expect="on or after opened_at", clear=True),
                _c("reopened", "int", check=_NON_NEGATIVE, expect="0 or more"),
            ),
            key=("escalation_id",),
            time_column="opened_at",
            references=(Reference("account_id", "accounts", "account_id"),),
        ),
        Table(
            "bugs",
            (
                _c("bug_id"),
                _c("product"),
                _c("team"),
                _c("severity", check="{col} IN ('S1', 'S2', 'S3', 'S4')", expect="one of S1, S2, S3, S4"),
                _c("source", check="{col} IN ('customer', 'internal')", expect="customer or internal"),
                _c("opened_at", "timestamp"),
                _c("closed_at", "timestamp", nullable=True, check='{col} >= "opened_at"', expect="on or after opened_at", clear=True),
                _c("escalation_id", nullable=True),
            ),
            key=("bug_id",),
            time_column="opened_at",
        ),
        Table(
            "experiments",
            (
                _c("experiment_id"),
                _c("product"),
                _c("team"),
                _c("name"),
                _c("hypothesis", nullable=True),
                _c("primary_metric"),
                _c("metric_type", check="{col} IN ('binary', 'continuous')", expect="binary or continuous"),
                _c("status", check="{col} IN ('proposed', 'running', 'concluded')", expect="proposed, running or concluded"),
                _c("start_date", "timestamp", nullable=True),
                _c("end_date", "timestamp", nullable=True),
                _c("control_variant", nullable=True),
                _c("split", nullable=True, check=_SPLIT,
                   expect="variant=weight pairs separated by ';', two or more variants, each weight above 0 (e.g. control=0.5;treatment=0.5)"),
                _c("mde", "float", nullable=True, check="{col} > 0", expect="above 0 (a relative effect)"),
                _c("impact", "float", nullable=True, check="{col} BETWEEN 1 AND 10", expect="1..10"),
                _c("confidence", "float", nullable=True, check="{col} BETWEEN 1 AND 10", expect="1..10"),
                _c("ease", "float", nullable=True, check="{col} BETWEEN 1 AND 10", expect="1..10"),
                # What a unit is, and so how it joins events for experiment_metrics: a visitor
                # (visitor_id) or an account (account_id). Optional; empty means visitor.
                Column("unit_type", nullable=True, check="{col} IN ('visitor', 'account')", expect="visitor or account", optional=True),
            ),
            key=("experiment_id",),
        ),
        Table(
            "exposures",
            (
                _c("experiment_id"),
                _c("unit_id"),
                _c("variant"),
                _c("exposed_at", "timestamp"),
                _c("converted", "int", nullable=True, check="{col} IN (0, 1)", expect="0 or 1"),
                _c("value", "float", nullable=True),
                _c("pre_value", "float", nullable=True),
            ),
            # One row per unit and variant: a unit exposed to two variants keeps both rows, so
            # the analysis can exclude it and say so (GrowthBook's "multiple exposures" check);
            # only the same (experiment, unit, variant) given again is a repeat.
            key=("experiment_id", "unit_id", "variant"),
            time_column="exposed_at",
            references=(Reference("experiment_id", "experiments", "experiment_id"),),
        ),
        # The metrics of an experiment computed from events, each per exposed unit (GrowthBook's
        # metric definitions: goal, secondary and guardrail metrics; binary, count and ratio).
        Table(
            "experiment_metrics",
            (
                _c("experiment_id"),
                _c("metric"),
                _c("role", check="{col} IN ('goal', 'secondary', 'guardrail')", expect="one of goal, secondary, guardrail"),
                _c("kind", check="{col} IN ('binary', 'continuous', 'ratio')", expect="one of binary, continuous, ratio"),
                # An events.event or a feature_id: the rows that count.
                _c("event"),
                _c("denominator_event", nullable=True, check="{col} IS NOT NULL OR \"kind\" <> 'ratio'",
                   expect="the denominator's event when kind is ratio"),
                # Days after a unit's first exposure that count; empty: until the experiment's end.
                _c("window_days", "int", nullable=True, check="{col} BETWEEN 1 AND 3650", expect="1 to 3650 (days)"),
                # Empty means higher is better.
                _c("higher_is_better", "bool", nullable=True),
            ),
            key=("experiment_id", "metric"),
            references=(Reference("experiment_id", "experiments", "experiment_id"),),
        ),
        Table(
            "stakeholder_requests",
            (
                _c("request_id"),
                _c(
                    "from_group",
                    check="{col} IN ('sales', 'success', 'support', 'marketing', 'leadership')",
                    expect="one of sales, success, support, marketing, leadership",
                ),
                _c("team"),
                _c("topic"),
                _c("channel", nullable=True),
                _c("opened_at", "timestamp"),
                _c("first_response_at", "timestamp", nullable=True, check='{col} >= "opened_at"', expect="on or after opened_at", clear=True),
                _c("closed_at", "timestamp", nullable=True, check='{col} >= "opened_at"', expect="on or after opened_at", clear=True),
            ),
            key=("request_id",),
            time_column="opened_at",
        ),
        Table(
            "releases",
            (
                _c("release_id"),
                _c("product"),
                _c("team"),
                _c("feature_id", nullable=True),
                _c("title"),
                _c("tier", check="{col} IN ('major', 'minor')", expect="major or minor"),
                _c("release_date", "timestamp"),
                _c("docs_ready_at", "timestamp", nullable=True),
                _c("training_ready_at", "timestamp", nullable=True),
                _c("notes_ready_at", "timestamp", nullable=True),
            ),
            key=("release_id",),
            time_column="release_date",
        ),
        Table(
            "release_comms",
            (
                _c("comm_id"),
                _c("release_id"),
                _c("audience"),
                _c("channel"),
                _c("sent_at", "timestamp"),
                _c("recipients", "int", check=_NON_NEGATIVE, expect="0 or more"),
                _c("opened", "int", check='{col} >= 0 AND {col} <= "recipients"', expect="0 up to recipients"),
            ),
            key=("comm_id",),
            references=(Reference("release_id", "releases", "release_id"),),
        ),
        Table(
            "trainings",
            (
                _c("person_id"),
                _c(
                    "audience",
                    check="{col} IN ('sales', 'success', 'support', 'marketing', 'product')",
                    expect="one of sales, success, support, marketing, product",
                ),
                _c("team"),
                _c("course_id"),
                _c("release_id", nullable=True),
                _c("feature_id", nullable=True),
                _c("assigned_at", "timestamp"),
                _c("completed_at", "timestamp", nullable=True, check='{col} >= "assigned_at"', expect="on or after assigned_at", clear=True),
                _c("quiz_score", "float", nullable=True, check="{col} BETWEEN 0 AND 100", expect="0..100"),
            ),
            key=("person_id", "course_id"),
            time_column="assigned_at",
        ),
    )
}


def get_table(name: str) -> Table:
    """The contract of one table; raises KeyError with the known names."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}") from None
