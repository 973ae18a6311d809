"""Escalations and product health: SLAs, backlog, ARR at risk, bugs, and the health of accounts.

Definitions (DESIGN.md section 5, "escalations"; anchors: Zendesk and Jira SLA reports, Totango
health scores; the usage metrics are in :mod:`playbook.health`):

- SLA per priority, targets in params: time to first response and to resolution. A target is
  *achieved* when met, *breached* when missed, including escalations still waiting longer than
  the target at the period end; the others are *pending* and left out. Breach rate = breached /
  (achieved + breached), as in Zendesk's SLA reports.
- Reopen rate = resolved escalations reopened at least once / resolved escalations.
- Backlog: escalations open at the period end; their age in days (median and 90th percentile).
- ARR at risk: ARR of live accounts with an open P1 or P2 escalation at the period end.
- Repeat-escalation accounts: accounts with ``repeat_threshold`` or more escalations opened in
  the period.
- Bugs: open by severity at the period end, opened and closed per week, the customer-found share
  of bugs opened in the period, and the age of open bugs.
- Account health, ARR at risk and repeat accounts: :mod:`playbook.accounts`. Health is the
  account's, over all its products, so an account reads the same in every team's report; a
  team's report lists the accounts that used its products or escalated to it.

Escalation tables are small; the pandas here is vectorised. Events go through DuckDB SQL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from playbook import health
from playbook.config import EscalationsParams
from playbook.accounts import OrganisationInputs, account_health, arr_at_risk, repeat_accounts
from playbook.period import Period, day_end, open_at
from playbook.figures import Action, AreaResult, Figure, Severity
from playbook.views import figure_text, figure_value, short_money

if TYPE_CHECKING:
    from playbook.context import ReportContext

PRIORITIES = ("P1", "P2", "P3", "P4")
SEVERITIES = ("S1", "S2", "S3", "S4")
AGE_BUCKETS = (0, 7, 30, 90, 10_000)
AGE_LABELS = ("under 1 week", "1-4 weeks", "1-3 months", "over 3 months")


def _hours(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds() / 3600


def _sla_outcome(opened: pd.Series, done: pd.Series, target_hours: pd.Series, now: pd.Timestamp) -> pd.Series:
    """achieved / breached / pending for each escalation, judged at ``now``."""
    taken = _hours(done - opened)
    waited = _hours(now - opened)
    return pd.Series(
        np.select(
            [done.notna() & (taken <= target_hours), done.notna(), waited > target_hours],
            ["achieved", "breached", "breached"],
            "pending",
        ),
        index=opened.index,
    )


def sla_table(escalations: pd.DataFrame, period: Period, params: EscalationsParams) -> pd.DataFrame:
    """Per priority, for escalations opened in the period: volume, median times, breach rates."""
    now = period.stop
    opened = escalations[period.mask(escalations["opened_at"])]
    # Times recorded after the period end are not known yet at the period end.
    first = opened["first_response_at"].where(opened["first_response_at"] < now)
    resolved = opened["resolved_at"].where(opened["resolved_at"] < now)
    fr_target = opened["priority"].map({p: t.first_response_hours for p, t in params.sla.items()})
    res_target = opened["priority"].map({p: t.resolution_hours for p, t in params.sla.items()})
    judged = opened.assign(
        first_response_hours=_hours(first - opened["opened_at"]),
        resolution_hours=_hours(resolved - opened["opened_at"]),
        fr=_sla_outcome(opened["opened_at"], first, fr_target, now),
        res=_sla_outcome(opened["opened_at"], resolved, res_target, now),
    )
    rows = []
    for priority in PRIORITIES:
        part = judged[judged["priority"] == priority]
        fr_done = (part["fr"] != "pending").sum()
        res_done = (part["res"] != "pending").sum()
        rows.append(
            {
                "priority": priority,
                "opened": len(part),
                "first_response_target": params.sla[priority].first_response_hours,
                "median_first_response": part["first_response_hours"].median(),
                "first_response_breached": int((part["fr"] == "breached").sum()),
                "first_response_breach_rate": (part["fr"] == "breached").sum() / fr_done if fr_done else math.nan,
                "resolution_target": params.sla[priority].resolution_hours,
                "median_resolution": part["resolution_hours"].median(),
                "resolution_breached": int((part["res"] == "breached").sum()),
                "resolution_breach_rate": (part["res"] == "breached").sum() / res_done if res_done else math.nan,
            }
        )
    return pd.DataFrame(rows)


def reopen_rate(escalations: pd.DataFrame, period: Period) -> float:
    """Resolved escalations (opened in the period) reopened at least once, over all resolved ones."""
    opened = escalations[period.mask(escalations["opened_at"])]
    resolved = opened[opened["resolved_at"].notna() & (opened["resolved_at"] < period.stop)]
    return float((resolved["reopened"] >= 1).mean()) if len(resolved) else math.nan


def backlog(escalations: pd.DataFrame, end: date) -> pd.DataFrame:
    """Open escalations at the period end by priority and age bucket."""
    still = open_at(escalations, end)
    bucket = pd.cut(still["age_days"], AGE_BUCKETS, labels=AGE_LABELS, right=False)
    return (
        still.assign(age=bucket)
        .groupby(["priority", "age"], observed=False)
        .size()
        .rename("escalations")
        .reset_index()
    )


def backlog_age(escalations: pd.DataFrame, end: date) -> tuple[int, float, float]:
    """Open escalations at the period end: count, median age and 90th-percentile age in days."""
    ages = open_at(escalations, end)["age_days"]
    if ages.empty:
        return 0, math.nan, math.nan
    return len(ages), float(ages.median()), float(ages.quantile(0.9))


def bugs_open_by_severity(bugs: pd.DataFrame, end: date) -> pd.DataFrame:
    """Open bugs at the period end per severity, with the median age in days."""
    still = open_at(bugs, end, closed="closed_at")
    table = still.groupby("severity").agg(open=("bug_id", "size"), median_age_days=("age_days", "median"))
    return table.reindex(list(SEVERITIES)).fillna({"open": 0}).astype({"open": int}).reset_index()


def bugs_per_week(bugs: pd.DataFrame, end: date, weeks: int = 12) -> pd.DataFrame:
    """Bugs opened and closed in each of the ``weeks`` weeks (Monday starts) up to ``end``."""
    last = pd.Timestamp(end) - pd.Timedelta(days=pd.Timestamp(end).weekday())
    starts = [last - pd.Timedelta(weeks=w) for w in range(weeks - 1, -1, -1)]
    opened_week = bugs["opened_at"].dt.normalize() - pd.to_timedelta(bugs["opened_at"].dt.day_of_week, unit="D")
    closed = bugs["closed_at"].where(bugs["closed_at"] < day_end(end))
    closed_week = closed.dt.normalize() - pd.to_timedelta(closed.dt.day_of_week, unit="D")
    return pd.DataFrame(
        {
            "week": starts,
            "opened": [int(((opened_week == s) & (bugs["opened_at"] < day_end(end))).sum()) for s in starts],
            "closed": [int((closed_week == s).sum()) for s in starts],
        }
    )


def customer_found_share(bugs: pd.DataFrame, period: Period) -> float:
    opened = bugs[period.mask(bugs["opened_at"])]
    return float((opened["source"] == "customer").mean()) if len(opened) else math.nan


@dataclass(frozen=True)
class EscalationsReport:
    """Everything the escalations notebook shows for one team, computed once."""

    sla: pd.DataFrame
    reopen_rate: float
    backlog: pd.DataFrame
    backlog_count: int
    backlog_median_days: float
    backlog_p90_days: float
    arr_at_risk: float
    at_risk: pd.DataFrame
    repeats: pd.DataFrame
    bugs_open: pd.DataFrame
    bugs_weekly: pd.DataFrame
    customer_found: float
    stickiness: pd.DataFrame
    stickiness_now: float
    stickiness_before: float
    adoption: pd.DataFrame
    breadth: float
    retention: pd.DataFrame
    retention_shift: health.RetentionShift | None
    lifecycle: pd.DataFrame
    pes_now: health.PES
    pes_before: health.PES
    health: pd.DataFrame
    movers: pd.DataFrame
    team_scope: bool = False
    result: AreaResult | None = None


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def build_report(
    escalations: pd.DataFrame,
    bugs: pd.DataFrame,
    accounts: pd.DataFrame,
    responses: pd.DataFrame,
    features: pd.DataFrame,
    events: health.Events,
    params: EscalationsParams,
    period: Period,
    organisation: OrganisationInputs | None = None,
) -> EscalationsReport:
    """Compute the escalations and product-health area for one team.

    Args:
        organisation: every team's events, answers and escalations, for account health (an
            account's health is the same in every report); None when the team is the organisation.
        escalations, bugs: the team's (any time; windows are applied here).
        accounts: all accounts.
        responses: NPS answers for the team's products (for account health).
        features: the team's features.
        events: the team's usage events (:class:`playbook.health.Events`).
        params: the area's parameters.
        period: the reporting period.
    """
    previous = period.previous()
    ratio = params.stickiness
    count, median_age, p90_age = backlog_age(escalations, period.end)
    risk, at_risk = arr_at_risk(escalations, accounts, period.end)
    daily = health.stickiness(events, period)
    daily_before = health.stickiness(events, previous)
    retention_long = health.retention(events, period.end, params.retention_cohorts, params.retention_weeks)
    shifts = health.retention_after_releases(retention_long, features)
    breadth = health.core_breadth(events, features, period)
    org = organisation or OrganisationInputs(events, responses, escalations)
    windows = {"current": period, "previous": previous, "before_previous": previous.previous()}
    activity = health.active_days(org.events, windows)
    scores = account_health(activity, org.responses, org.escalations, accounts, period, params)
    scores_before = account_health(activity, org.responses, org.escalations, accounts, previous, params, "previous", "before_previous")
    if organisation is not None:
        # The team's accounts: those that used its products or escalated to it in the period.
        mine = set(health.active_days(events, {"current": period}).query("current > 0")["account_id"])
        mine |= set(escalations.loc[period.mask(escalations["opened_at"]), "account_id"])
        scores = scores[scores["account_id"].isin(mine)]
    movers = (
        scores[["account_id", "name", "segment", "arr", "health"]]
        .merge(scores_before[["account_id", "health"]].rename(columns={"health": "health_before"}), on="account_id", how="inner")
        .assign(change=lambda f: f["health"] - f["health_before"])
        .sort_values(["change", "arr"], ascending=[True, False], ignore_index=True)
    )
    report = EscalationsReport(
        sla=sla_table(escalations, period, params),
        reopen_rate=reopen_rate(escalations, period),
        backlog=backlog(escalations, period.end),
        backlog_count=count,
        backlog_median_days=median_age,
        backlog_p90_days=p90_age,
        arr_at_risk=risk,
        at_risk=at_risk,
        repeats=repeat_accounts(escalations, accounts, period, params.repeat_threshold),
        bugs_open=bugs_open_by_severity(bugs, period.end),
        bugs_weekly=bugs_per_week(bugs, period.end, params.bug_weeks),
        customer_found=customer_found_share(bugs, period),
        stickiness=pd.concat([daily_before.assign(window="previous"), daily.assign(window="current")], ignore_index=True),
        stickiness_now=health.average_stickiness(daily, ratio),
        stickiness_before=health.average_stickiness(daily_before, ratio),
        adoption=health.feature_adoption(events, features, period),
        breadth=float(breadth["breadth"].mean()) if len(breadth) else math.nan,
        retention=retention_long,
        retention_shift=shifts[0] if shifts else None,
        lifecycle=health.lifecycle(events, period.end, 7, params.retention_cohorts),
        pes_now=health.pes(events, features, period, ratio),
        pes_before=health.pes(events, features, previous, ratio),
        health=scores.sort_values("health", ignore_index=True),
        movers=movers,
        team_scope=organisation is not None,
    )
    return replace(report, result=summarise(report, params))


PRIORITY_SEVERITY = {"P1": Severity.HIGH, "P2": Severity.MEDIUM}


def summarise(report: EscalationsReport, params: EscalationsParams) -> AreaResult:
    """What breached, who is at risk, what moved: the area's figures and actions."""
    pes_now, pes_before = report.pes_now, report.pes_before
    figures = {
        "pes": Figure("pes", "PES", None if math.isnan(pes_now.score) else pes_now.score, "score",
                      previous=None if math.isnan(pes_before.score) else pes_before.score, good="up"),
        "arr_at_risk": Figure("arr_at_risk", "ARR at risk", float(report.arr_at_risk), "money", good="down", rows=len(report.at_risk)),
        "open_escalations": Figure("open_escalations", "escalations open at the period end", report.backlog_count, "count",
                                   good="down", rows=report.backlog_count),
    }
    actions: list[Action] = []
    for row in report.sla.itertuples():
        for kind, label in (("first_response", "first responses"), ("resolution", "resolutions")):
            rate = getattr(row, f"{kind}_breach_rate")
            if not math.isnan(rate) and rate > params.breach_target:
                target = getattr(row, f"{kind}_target")
                actions.append(Action(
                    f"escalations.{kind}_breach", row.priority, PRIORITY_SEVERITY.get(row.priority, Severity.LOW),
                    f"{row.priority} {label} breached their {target:g}-hour target in {rate:.0%} of cases "
                    f"({_plural(getattr(row, f'{kind}_breached'), 'escalation')}) this period, above the {params.breach_target:.0%} allowed.",
                ))
    # A team's count is of escalations on its own products; the organisation's of all of them.
    where = " on this team's products" if report.team_scope else ""
    for row in report.repeats.head(3).itertuples():
        details = [str(row.account_id)] + ([] if pd.isna(row.arr) else [f"{short_money(row.arr)} ARR", str(row.segment)])
        actions.append(Action(
            "escalations.repeat_account", str(row.account_id), Severity.MEDIUM,
            f"{row.name} ({', '.join(details)}) opened {row.escalations} escalations{where} this period; {int(row.still_open)} still open.",
            money=None if pd.isna(row.arr) else float(row.arr),
        ))
    risk = figures["arr_at_risk"]
    if risk.value:
        actions.append(Action(
            "escalations.arr_at_risk", "open P1/P2 escalations", Severity.HIGH,
            f"ARR at risk: {figure_value(risk)} across {_plural(len(report.at_risk), 'account')} with an open P1 or P2 escalation.",
            money=risk.value, figures=("arr_at_risk",),
        ))
    now, before = report.stickiness_now, report.stickiness_before
    name = "DAU/MAU" if params.stickiness == "dau_mau" else "WAU/MAU"
    if before > 0 and not math.isnan(now):
        change = (now - before) / before
        if change <= -params.stickiness_drop_alert:
            actions.append(Action(
                "escalations.stickiness_drop", name, Severity.MEDIUM,
                f"{name} stickiness fell from {before:.1%} to {now:.1%} against the previous period, "
                f"down {abs(change):.0%}: visitors come back less often.",
            ))
    low = report.adoption[report.adoption["is_core"].astype(bool) & (report.adoption["adoption"] < params.adoption_floor)]
    for row in low.itertuples():
        actions.append(Action(
            "escalations.low_core_adoption", row.feature_id, Severity.MEDIUM,
            f"Core feature {row.name} ({row.feature_id}) is used by only {row.adoption:.0%} of the accounts active in "
            f"{row.product} ({row.accounts} of {row.active_accounts}).",
        ))
    shift = report.retention_shift
    if shift is not None and shift.change <= -params.retention_drop_alert:
        actions.append(Action(
            "escalations.retention_drop", shift.name, Severity.HIGH,
            f"Week-1 retention of new accounts fell from {shift.before:.0%} ({shift.before_accounts} accounts in the cohorts "
            f"before) to {shift.after:.0%} ({shift.after_accounts} accounts since) after {shift.name} was released on "
            f"{shift.released:%d %b %Y}.",
        ))
    notes: list[str] = []
    if figures["pes"].value is not None:
        notes.append(f"PES {figure_value(figures['pes'])}: adoption {pes_now.adoption:.0f}, stickiness {pes_now.stickiness:.0f}, "
                     f"growth {pes_now.growth:.0f}.")
    if report.backlog_count:
        notes.append(
            f"{figure_text(figures['open_escalations'])}; median age {report.backlog_median_days:.0f} days, "
            f"90th percentile {report.backlog_p90_days:.0f} days."
        )
    if not actions and not notes:
        notes.append("No escalations, bugs or usage for this team in the period.")
    return AreaResult(figures, ("pes",), tuple(actions), tuple(notes))


# How the notebook shows the tables.
SLA_COLUMNS = [
    ("priority", "Priority", "text"),
    ("opened", "Opened", "int"),
    ("first_response_target", "First response target (h)", "num1"),
    ("median_first_response", "Median first response (h)", "num1"),
    ("first_response_breach_rate", "First response breached", "pct"),
    ("resolution_target", "Resolution target (h)", "num1"),
    ("median_resolution", "Median resolution (h)", "num1"),
    ("resolution_breach_rate", "Resolution breached", "pct"),
]
LIFECYCLE_COLUMNS = [
    ("start", "Week starting", "date"),
    ("new", "New", "int"),
    ("returning", "Returning", "int"),
    ("resurrecting", "Resurrecting", "int"),
    ("dormant", "Dormant", "int"),
    ("quick_ratio", "Quick ratio", "num1"),
]
HEALTH_COLUMNS = [
    ("name", "Account", "text"),
    ("account_id", "Id", "text"),
    ("segment", "Segment", "text"),
    ("arr", "ARR", "money"),
    ("health_before", "Health before", "score"),
    ("health", "Health now", "score"),
    ("change", "Change", "signed"),
]


def pes_table(report: EscalationsReport) -> pd.DataFrame:
    """PES and its components for the previous and the current period, as rows."""
    rows = []
    for name in ("adoption", "stickiness", "growth"):
        rows.append({"component": name.capitalize(), "previous": getattr(report.pes_before, name), "current": getattr(report.pes_now, name)})
    rows.append({"component": "PES", "previous": report.pes_before.score, "current": report.pes_now.score})
    return pd.DataFrame(rows)


def report(ctx: ReportContext) -> EscalationsReport:
    """Read the team's escalations, bugs, features and events, and compute the area."""
    organisation = None
    if ctx.params.team != "all":
        # An account's health rests on all its products, so it reads the same in every report.
        organisation = OrganisationInputs(
            ctx.events(whole_organisation=True),
            ctx.read("nps_responses", whole_organisation=True),
            ctx.read("escalations", whole_organisation=True),
        )
    return build_report(
        escalations=ctx.read("escalations"),
        bugs=ctx.read("bugs"),
        accounts=ctx.read("accounts"),
        responses=ctx.read("nps_responses"),
        features=ctx.read("features"),
        events=ctx.events(),
        params=ctx.params.escalations,
        period=ctx.period,
        organisation=organisation,
    )


def explorer_views() -> dict[str, Any]:
    """The explorer's views of this area (see :mod:`playbook.widgets`): name -> f(ctx, report)."""
    from playbook import plots
    from playbook.widgets import html_table

    return {
        "SLA": lambda ctx, r: html_table(r.sla, SLA_COLUMNS),
        "Backlog": lambda ctx, r: plots.plot_backlog(r.backlog, "Open escalations by age"),
        "Stickiness": lambda ctx, r: plots.plot_stickiness(r.stickiness, "Stickiness"),
        "Adoption": lambda ctx, r: plots.plot_adoption(r.adoption, ctx.params.escalations.adoption_floor, "Feature adoption"),
        "Retention": lambda ctx, r: plots.plot_retention(health.retention_matrix(r.retention), "Weekly retention by cohort"),
    }
