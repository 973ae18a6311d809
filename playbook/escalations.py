"""Escalations and product health: SLAs, backlog, ARR at risk, bugs, and the health of accounts.

Definitions (DESIGN.md section 5, "escalations"; anchors: Zendesk and Jira SLA reports, Totango
health scores; the usage metrics are in :mod:`playbook.health`):

- SLA per priority, targets in params: time to first response and to resolution. A target is
  *achieved* when met, *breached* when missed, including escalations still waiting longer than
  the target at the period end; the others are *pending* and left out. Breach rate = breached /
  (achieved + breached), as in Zendesk's SLA reports.
- Open escalations against their SLA now, whatever their open date (Zendesk's "next SLA breach",
  Jira Service Management's SLA timers): for each escalation open at the period end, the target
  whose clock runs (first response until a reply, then resolution); *breaching now* when that
  clock has run out, else its *time to breach*. The period's breach rates above count only
  escalations opened in the period, so a P1 opened months ago and still open shows here. When no
  escalation in the data has a first-response time (an export that records none, such as
  Jira's), no reply can be told from a late one: the resolution clock alone is judged, and
  first-response breach rates are not computed.
- Old severe bugs: S1 and S2 bugs open ``old_bug_days`` or more at the period end, with the
  escalation (and the account's ARR) a customer bug came from.
- Reopen rate = resolved escalations reopened at least once / resolved escalations.
- Backlog: escalations open at the period end; their age in days (median and 90th percentile).
- ARR at risk: ARR of live accounts with an open P1 or P2 escalation at the period end.
- Repeat-escalation accounts: accounts with ``repeat_threshold`` or more escalations opened in
  the period.
- Bugs: open by severity at the period end, opened and closed per week, the customer-found share
  of bugs opened in the period, and the age of open bugs.
- Level shifts in daily event volume per product (a likely tracking change, stated in the summary
  before any usage metric it may have moved): :func:`playbook.health.find_level_shift`.
- Account health, ARR at risk and repeat accounts: :mod:`playbook.accounts`; the least healthy
  accounts are ranked by the ARR they put at risk, not by score alone. Health is the
  account's, over all its products, so an account reads the same in every team's report; a
  team's report lists the accounts that used its products or escalated to it.

Escalation tables are small; the pandas here is vectorised. Events go through DuckDB SQL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from playbook import health
from playbook.config import EscalationsParams
from playbook.accounts import (
    OrganisationInputs, account_health, arr_at_risk, churned_accounts, live_accounts, repeat_accounts, unhealthy_accounts,
)
from playbook.period import Period, day_end, open_at
from playbook.figures import Action, AreaResult, Figure, Severity
from playbook.views import count_words, figure_text, figure_value, param_words, short_money

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


def has_first_responses(escalations: pd.DataFrame) -> bool:
    """Whether any escalation in the data has a first-response time (an export may record none)."""
    return "first_response_at" in escalations and bool(escalations["first_response_at"].notna().any())


def sla_table(escalations: pd.DataFrame, period: Period, params: EscalationsParams, replies: bool = True) -> pd.DataFrame:
    """Per priority, for escalations opened in the period: volume, median times, breach rates.

    Args:
        replies: False when the data records no first responses at all: the first-response
            targets are then not judged (every escalation would read as unanswered).
    """
    return sla_rates(judge_sla(escalations, period, params, replies), params)


def judge_sla(escalations: pd.DataFrame, period: Period, params: EscalationsParams, replies: bool = True) -> pd.DataFrame:
    """The escalations opened in the period, each with its hours to reply and to resolve and the
    outcome against each target (``fr``, ``res``: achieved, breached or pending): the rows behind
    the SLA table's breach rates."""
    now = period.stop
    opened = escalations[period.mask(escalations["opened_at"])]
    # Times recorded after the period end are not known yet at the period end.
    first = opened["first_response_at"].where(opened["first_response_at"] < now)
    resolved = opened["resolved_at"].where(opened["resolved_at"] < now)
    fr_target = opened["priority"].map({p: t.first_response_hours for p, t in params.sla.items()})
    res_target = opened["priority"].map({p: t.resolution_hours for p, t in params.sla.items()})
    return opened.assign(
        first_response_hours=_hours(first - opened["opened_at"]),
        resolution_hours=_hours(resolved - opened["opened_at"]),
        fr=_sla_outcome(opened["opened_at"], first, fr_target, now) if replies else "pending",
        res=_sla_outcome(opened["opened_at"], resolved, res_target, now),
    )


def sla_rates(judged: pd.DataFrame, params: EscalationsParams) -> pd.DataFrame:
    """Per priority: volume, median times and breach rates of :func:`judge_sla`'s escalations."""
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


def live_sla(escalations: pd.DataFrame, end: date, params: EscalationsParams, replies: bool = True) -> pd.DataFrame:
    """Every escalation open at the period end, whatever its open date, against its SLA now.

    The clock that runs out first is the first-response target while there is no reply by the
    end, and the resolution target after it (every priority's first-response target is no longer
    than its resolution target: the params check it). Zendesk's "next SLA breach" and Jira
    Service Management's "time to resolution" timers work the same way.

    Args:
        replies: False when the data records no first responses at all (:func:`has_first_responses`):
            the resolution clock runs for every escalation, since a missing reply says nothing.

    Returns:
        One row per open escalation: ``clock`` ("first response" or "resolution"),
        ``target_hours``, ``due_at``, ``breaching`` (the clock has run out by the end),
        ``hours_over`` (how long ago it ran out, breaching ones) and ``hours_to_breach`` (how long
        is left, the others); ``age_days``. Breaching ones first, by priority then longest
        overdue first; then the rest by priority, soonest due first.
    """
    now = day_end(end)
    still = open_at(escalations, end)
    answered = still["first_response_at"].notna() & (still["first_response_at"] < now) if replies else pd.Series(True, index=still.index)
    fr_target = still["priority"].map({p: t.first_response_hours for p, t in params.sla.items()})
    res_target = still["priority"].map({p: t.resolution_hours for p, t in params.sla.items()})
    target = res_target.where(answered, fr_target).astype(float)
    due = still["opened_at"] + pd.to_timedelta(target, unit="h")
    left = _hours(due - now)
    table = still.assign(
        clock=np.where(answered, "resolution", "first response"),
        target_hours=target,
        due_at=due,
        breaching=left < 0,
        hours_over=(-left).where(left < 0),
        hours_to_breach=left.where(left >= 0),
    )
    return table.sort_values(["breaching", "priority", "hours_over", "hours_to_breach"], ascending=[False, True, False, True], ignore_index=True)


def live_by_priority(live: pd.DataFrame, soon_hours: float) -> pd.DataFrame:
    """Per priority: escalations open at the end, breaching now, due to breach within
    ``soon_hours``, and the hours to the next breach (NaN when none is pending)."""
    rows = []
    for priority in PRIORITIES:
        part = live[live["priority"] == priority]
        rows.append({
            "priority": priority,
            "open": len(part),
            "breaching": int(part["breaching"].sum()),
            "due_soon": int((part["hours_to_breach"] <= soon_hours).sum()),
            "next_breach_hours": float(part["hours_to_breach"].min()) if part["hours_to_breach"].notna().any() else math.nan,
        })
    return pd.DataFrame(rows)


def with_accounts(frame: pd.DataFrame, accounts: pd.DataFrame, end: date) -> pd.DataFrame:
    """``frame`` with the account's name, segment and ARR (ARR only for accounts live at the end,
    since a churned account's ARR is no longer at stake); names fall back to the id."""
    live = live_accounts(accounts, end)[["account_id", "arr"]].rename(columns={"arr": "arr_live"})
    table = (
        frame.merge(accounts[["account_id", "name", "segment"]], on="account_id", how="left")
        .merge(live, on="account_id", how="left")
        .rename(columns={"arr_live": "arr"})
    )
    return table.assign(name=table["name"].fillna(table["account_id"]))


def old_severe_bugs(bugs: pd.DataFrame, escalations: pd.DataFrame, accounts: pd.DataFrame, end: date, min_days: int) -> pd.DataFrame:
    """S1 and S2 bugs open at the period end for ``min_days`` days or more, S1 first, oldest
    first; with the escalation a customer bug came from and that account's ARR when known."""
    still = open_at(bugs, end, closed="closed_at")
    old = still[still["severity"].isin(["S1", "S2"]) & (still["age_days"] >= min_days)]
    # A column of nothing but nulls reads as floats; ids are strings.
    link = old["escalation_id"].astype(object) if "escalation_id" in old else pd.Series(None, index=old.index, dtype=object)
    table = old.assign(escalation_id=link).merge(escalations[["escalation_id", "account_id"]], on="escalation_id", how="left")
    return with_accounts(table, accounts, end).sort_values(["severity", "age_days"], ascending=[True, False], ignore_index=True)


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
    live: pd.DataFrame
    live_priority: pd.DataFrame
    old_bugs: pd.DataFrame
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
    unhealthy: pd.DataFrame
    volume: pd.DataFrame
    shifts: tuple[health.LevelShift, ...] = ()
    team_scope: bool = False
    first_responses: bool = True
    # The escalations opened in the period with their SLA outcomes (judge_sla): the rows behind the breach rates.
    judged: pd.DataFrame = field(default_factory=pd.DataFrame)
    result: AreaResult | None = None


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
    org = organisation or OrganisationInputs(events, responses, escalations)
    # Judged on the whole data, so one team's few unanswered escalations are still late replies.
    replies = has_first_responses(org.escalations)
    live = with_accounts(live_sla(escalations, period.end, params, replies), accounts, period.end)
    # Daily volume over both compared periods, with one window's lead so a shift on the first
    # compared day can be found; only shifts inside the compared span are reported.
    volume = health.daily_volume(events, previous.start - timedelta(days=params.level_shift_days), period.end)
    level_shifts = health.level_shifts(volume, previous.start, params.level_shift_days, params.level_shift_change, params.level_shift_min_daily)
    count, median_age, p90_age = backlog_age(escalations, period.end)
    risk, at_risk = arr_at_risk(escalations, accounts, period.end)
    daily = health.stickiness(events, period)
    daily_before = health.stickiness(events, previous)
    retention_long = health.retention(events, period.end, params.retention_cohorts, params.retention_weeks)
    shifts = health.retention_after_releases(retention_long, features)
    breadth = health.core_breadth(events, features, period)
    windows = {"current": period, "previous": previous, "before_previous": previous.previous()}
    activity = health.active_days(org.events, windows)
    scores = account_health(activity, org.responses, org.escalations, accounts, period, params)
    scores_before = account_health(activity, org.responses, org.escalations, accounts, previous, params, "previous", "before_previous")
    if organisation is not None:
        # The team's accounts: those that used its products or escalated to it in the period.
        mine = set(health.active_days(events, {"current": period}).query("current > 0")["account_id"])
        mine |= set(escalations.loc[period.mask(escalations["opened_at"]), "account_id"])
        scores = scores[scores["account_id"].isin(mine)]
    # A churned account's health fell because it left: it is no mover to act on, as it is no
    # unhealthy ARR (live accounts only, as ARR at risk).
    gone = churned_accounts(accounts, period.end)
    movers = (
        scores.loc[~scores["account_id"].isin(gone), ["account_id", "name", "segment", "arr", "health"]]
        .merge(scores_before[["account_id", "health"]].rename(columns={"health": "health_before"}), on="account_id", how="inner")
        .assign(change=lambda f: f["health"] - f["health_before"])
        .sort_values(["change", "arr"], ascending=[True, False], ignore_index=True)
    )
    judged = judge_sla(escalations, period, params, replies)
    report = EscalationsReport(
        sla=sla_rates(judged, params),
        judged=judged,
        live=live,
        live_priority=live_by_priority(live, params.breach_soon_hours),
        old_bugs=old_severe_bugs(bugs, escalations, accounts, period.end, params.old_bug_days),
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
        # The stickiness and breadth computed above, not read again from the events.
        pes_now=health.pes(events, features, period, ratio, daily=daily, breadth=breadth),
        pes_before=health.pes(events, features, previous, ratio, daily=daily_before),
        health=scores.sort_values("health", ignore_index=True),
        movers=movers,
        unhealthy=unhealthy_accounts(scores, params.unhealthy_below, gone),
        volume=volume,
        shifts=tuple(level_shifts),
        team_scope=organisation is not None,
        first_responses=replies,
    )
    return replace(report, result=summarise(report, params))


PRIORITY_SEVERITY = {"P1": Severity.HIGH, "P2": Severity.MEDIUM}
BUG_SEVERITY = {"S1": Severity.HIGH, "S2": Severity.MEDIUM}
SHOWN = 3  # items named in one summary sentence; the tables list the rest


def _span(hours: float) -> str:
    """A duration as a reader says it: "under an hour", "5 hours", "3 days" (from 48 hours on)."""
    if hours < 1:
        return "under an hour"
    if hours >= 48:
        return count_words(hours / 24, "days")
    return count_words(hours, "hours")


def _who(row: Any) -> str:
    """"Name, $1.2M ARR", "Name", or "" for a row without an account."""
    if pd.isna(getattr(row, "account_id", None)):
        return ""
    return str(row.name) + ("" if pd.isna(row.arr) else f", {short_money(row.arr)} ARR")


def _stake(frame: pd.DataFrame) -> float | None:
    """ARR of the distinct live accounts behind some rows, None when none is known."""
    arr = frame.dropna(subset=["account_id"]).drop_duplicates("account_id")["arr"]
    return float(arr.sum()) if arr.notna().any() else None


def _more(count: int) -> str:
    return f"; and {count - SHOWN} more (listed below)" if count > SHOWN else ""


def _listing(rule: str, subject: str, severity: Severity, lead: str, items: list[str], part: pd.DataFrame, figure: str) -> Action:
    """An action naming the first rows of ``part`` after ``lead``, with the ARR of all of them."""
    money = _stake(part)
    stake = f" {short_money(money)} ARR at stake." if money else ""
    return Action(rule, subject, severity, f"{lead}: {'; '.join(items)}{_more(len(part))}.{stake}", money=money, figures=(figure,))


def summary_shifts(shifts: Sequence[health.LevelShift]) -> list[health.LevelShift]:
    """The level shifts the summary states, largest first: a product's total shift once, and its
    event kinds' shifts only when its total did not shift (the table lists them all)."""
    whole = {s.product for s in shifts if s.event is None}
    return [s for s in shifts if s.event is None or s.product not in whole]


def _shift_words(shift: health.LevelShift) -> str:
    """"onboarding's daily events fell 80% on 01 Nov 2026", or for an event kind "onboarding's
    “signup” daily events ..." with the name as written."""
    what = f"{shift.product}'s" if shift.event is None else f"{shift.product}'s “{shift.event}”"
    return f"{what} daily events {'fell' if shift.change < 0 else 'rose'} {abs(shift.change):.0%} on {shift.day:%d %b %Y}"


def _live_actions(report: EscalationsReport) -> list[Action]:
    """One action per priority with open escalations breaching their SLA now, whatever their open date."""
    actions = []
    breaching = report.live[report.live["breaching"]]
    for priority in PRIORITIES:
        part = breaching[breaching["priority"] == priority]
        if part.empty:
            continue
        items = []
        # The largest accounts first, so the ARR at stake is named, not left in "and N more".
        named = part.assign(_arr=part["arr"].fillna(0)).sort_values(["_arr", "hours_over"], ascending=[False, False], kind="stable")
        for row in named.head(SHOWN).itertuples():
            who = _who(row)
            items.append(f"{row.escalation_id}{f' ({who})' if who else ''}, opened {row.opened_at:%d %b %Y}, "
                         f"{_span(row.hours_over)} past its {row.target_hours:g}-hour {row.clock} target")
        one = len(part) == 1
        lead = (f"{count_words(len(part), f'open {priority} escalations')} {'is' if one else 'are'} breaching "
                f"{'its' if one else 'their'} SLA now")
        actions.append(_listing("escalations.live_breach", priority, PRIORITY_SEVERITY.get(priority, Severity.LOW), lead, items, part,
                                "live_breaches"))
    return actions


def _old_bug_actions(report: EscalationsReport, params: EscalationsParams) -> list[Action]:
    """One action per severity (S1, S2) with bugs open ``old_bug_days`` or more."""
    actions = []
    for severity, level in BUG_SEVERITY.items():
        part = report.old_bugs[report.old_bugs["severity"] == severity]
        if part.empty:
            continue
        items = []
        for row in part.head(SHOWN).itertuples():
            who = _who(row)
            source = f" (from escalation {row.escalation_id}{f', {who}' if who else ''})" if isinstance(row.escalation_id, str) else ""
            items.append(f"{row.bug_id} on {row.product}, open {count_words(row.age_days, 'days')} since {row.opened_at:%d %b %Y}{source}")
        lead = f"{count_words(len(part), f'{severity} bugs')} open {param_words(params.old_bug_days, 'days')} or more"
        actions.append(_listing("escalations.old_bug", severity, level, lead, items, part, "old_bugs"))
    return actions


def summarise(report: EscalationsReport, params: EscalationsParams) -> AreaResult:
    """What breaches now, what is old and severe, who is at risk, what moved: the area's figures,
    actions and notes. Live breaches and old S1/S2 bugs come first; a level shift in daily events
    is stated before any usage metric it may have moved."""
    pes_now, pes_before = report.pes_now, report.pes_before
    stated = summary_shifts(report.shifts)
    shifted = stated[0] if stated else None
    before_pes = None if math.isnan(pes_before.score) else pes_before.score
    figures = {
        "live_breaches": Figure("live_breaches", "escalations breaching SLA now", int(report.live["breaching"].sum()), "count",
                                good="down", rows=len(report.live)),
        # A comparison across a tracking change is not like for like: the previous PES is not set against it.
        "pes": Figure("pes", "Engagement score (PES)", None if math.isnan(pes_now.score) else pes_now.score, "score",
                      previous=None if shifted else before_pes, good="up"),
        "arr_at_risk": Figure("arr_at_risk", "ARR at risk", float(report.arr_at_risk), "money", good="down", rows=len(report.at_risk)),
        "open_escalations": Figure("open_escalations", "escalations open at the period end", report.backlog_count, "count",
                                   good="down", rows=report.backlog_count),
        "old_bugs": Figure("old_bugs", f"S1/S2 bugs open {params.old_bug_days}+ days", len(report.old_bugs), "count",
                           good="down", rows=len(report.old_bugs)),
        "unhealthy_arr": Figure("unhealthy_arr", "Unhealthy accounts' ARR", report.unhealthy["arr"].sum(min_count=1), "money",
                                good="down", rows=len(report.unhealthy)),
    }
    actions: list[Action] = _live_actions(report) + _old_bug_actions(report, params)
    for row in report.sla.itertuples():
        for kind, label in (("first_response", "first responses"), ("resolution", "resolutions")):
            rate = getattr(row, f"{kind}_breach_rate")
            # Each priority's breach rates as figures (the SLA table's very cells), for the history
            # and for alert rules such as "P1 resolution breach rate above 10%".
            key = f"{str(row.priority).lower()}_{kind}_breach_rate"
            figures[key] = Figure(key, f"{row.priority} {label} breached", None if math.isnan(rate) else float(rate), "percent",
                                  good="down", rows=int(row.opened))
            if not math.isnan(rate) and rate > params.breach_target:
                target = getattr(row, f"{kind}_target")
                actions.append(Action(
                    f"escalations.{kind}_breach", row.priority, PRIORITY_SEVERITY.get(row.priority, Severity.LOW),
                    f"{row.priority} {label} breached their {target:g}-hour target in {rate:.0%} of cases "
                    f"({count_words(getattr(row, f'{kind}_breached'), 'escalations')}) this period, above the {params.breach_target:.0%} allowed.",
                    figures=(key,),
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
        # The sum behind the live breaches above: a roll-up, so it ranks after them.
        actions.append(Action(
            "escalations.arr_at_risk", "open P1/P2 escalations", Severity.MEDIUM,
            f"ARR at risk: {figure_value(risk)} across {count_words(len(report.at_risk), 'accounts')} with an open P1 or P2 escalation.",
            money=risk.value, figures=("arr_at_risk",),
        ))
    # A data problem is stated before the usage metrics it may have moved.
    for i, shift in enumerate(stated[:SHOWN]):
        # The last one stated says how many more the table lists.
        more = _more(len(stated)) if i == SHOWN - 1 else ""
        actions.append(Action(
            "escalations.level_shift", f"{shift.product}/{shift.event or 'all'}", Severity.MEDIUM,
            f"Possible tracking change, not behaviour: {_shift_words(shift)} in a single step (a median of "
            f"{shift.before:,.0f} a day in the {count_words(shift.days, 'days')} before, {shift.after:,.0f} in the {count_words(shift.days, 'days')} from it){more}. "
            "A step this sudden is likelier a change in what is tracked than in how the product is used: check the tracking "
            "before reading the usage figures below (stickiness, adoption, PES).",
        ))
    now, before = report.stickiness_now, report.stickiness_before
    name = "DAU/MAU" if params.stickiness == "dau_mau" else "WAU/MAU"
    if before > 0 and not math.isnan(now):
        change = (now - before) / before
        if change <= -params.stickiness_drop_alert:
            caveat = f"Possibly a tracking change rather than behaviour ({_shift_words(shifted)}): " if shifted else ""
            actions.append(Action(
                "escalations.stickiness_drop", name, Severity.MEDIUM,
                f"{caveat}{name} stickiness fell from {before:.1%} to {now:.1%} against the previous period, "
                f"down {abs(change):.0%}" + ("." if shifted else ": visitors come back less often."),
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
    if not report.first_responses and (len(report.live) or report.sla["opened"].sum()):
        notes.append("No escalation in the data has a first-response time, so SLAs are judged on "
                     "resolution only: open escalations run the resolution clock, and first-response breach rates are not computed.")
    soon = report.live[report.live["hours_to_breach"] <= params.breach_soon_hours]
    if len(soon):
        items = "; ".join(f"{r.escalation_id} ({r.priority}, {r.clock}) in {_span(r.hours_to_breach)}" for r in soon.head(SHOWN).itertuples())
        notes.append(f"{count_words(len(soon), 'open escalations')} will breach SLA within {param_words(params.breach_soon_hours, 'hours')}: "
                     f"{items}{_more(len(soon))}.")
    if report.backlog_count:
        notes.append(
            f"{figure_text(figures['open_escalations'])}; median age {count_words(report.backlog_median_days, 'days')}, "
            f"90th percentile {count_words(report.backlog_p90_days, 'days')}."
        )
    unhealthy = report.unhealthy
    if len(unhealthy):
        largest = "; ".join(
            f"{r.name} ({'' if r.name == r.account_id else f'{r.account_id}, '}{'' if pd.isna(r.arr) else f'{short_money(r.arr)} ARR, '}"
            f"health {r.health:.0f})"
            for r in unhealthy.head(SHOWN).itertuples()
        )
        arr = figures["unhealthy_arr"]
        lead = f"{figure_text(arr)} across " if not pd.isna(arr.value) else ""
        notes.append(f"{lead}{count_words(len(unhealthy), 'accounts')} with health under {params.unhealthy_below:g} (of 100); "
                     f"{'largest' if not pd.isna(arr.value) else 'least healthy'}: {largest}.")
    if figures["pes"].value is not None:
        compared = ""
        if shifted and before_pes is not None:
            compared = (f" The previous period's {before_pes:.0f} is not compared with it: {_shift_words(shifted)}, "
                        "likelier a tracking change.")
        notes.append(f"{figure_text(figures['pes'])}, Pendo's product engagement score (0-100): the mean of adoption "
                     f"{pes_now.adoption:.0f} (share of core features an account uses), stickiness {pes_now.stickiness:.0f} "
                     f"({name}) and growth {pes_now.growth:.0f} (new and recovered accounts per 100 dropped, capped at 100); "
                     f"each part unrounded, so their mean can differ by a point from the parts as shown.{compared}")
    if not actions and not notes:
        notes.append("No escalations, bugs or usage for this team in the period.")
    return AreaResult(figures, ("live_breaches", "pes"), tuple(actions), tuple(notes))


# How the notebook shows the tables.
# Short headers keep the tables inside a 1280 px page.
SLA_COLUMNS = [
    ("priority", "Priority", "text"),
    ("opened", "Opened", "int"),
    ("first_response_target", "Reply target (h)", "num1"),
    ("median_first_response", "Median reply (h)", "num1"),
    ("first_response_breach_rate", "Reply breached", "pct"),
    ("resolution_target", "Resolve target (h)", "num1"),
    ("median_resolution", "Median resolve (h)", "num1"),
    ("resolution_breach_rate", "Resolve breached", "pct"),
]
LIVE_PRIORITY_COLUMNS = [
    ("priority", "Priority", "text"),
    ("open", "Open now", "int"),
    ("breaching", "Breaching now", "int"),
    ("due_soon", "Due to breach soon", "int"),
    ("next_breach_hours", "Next breach in (h)", "num1"),
]
LIVE_COLUMNS = [
    ("title", "Escalation", "text"),
    ("escalation_id", "Id", "text"),
    ("priority", "Priority", "text"),
    ("name", "Account", "text"),
    ("arr", "ARR", "money"),
    ("opened_at", "Opened", "date"),
    ("clock", "Clock", "text"),
    ("when", "SLA", "text"),
]
OLD_BUG_COLUMNS = [
    ("bug_id", "Bug", "text"),
    ("severity", "Severity", "text"),
    ("product", "Product", "text"),
    ("opened_at", "Opened", "date"),
    ("age_days", "Age (days)", "int"),
    ("escalation_id", "From escalation", "text"),
    ("name", "Account", "text"),
    ("arr", "ARR", "money"),
]
SHIFT_COLUMNS = [
    ("product", "Product", "text"),
    ("event", "Event", "text"),
    ("day", "From", "date"),
    ("before", "Median a day before", "int"),
    ("after", "Median a day after", "int"),
    ("change", "Change", "pct"),
]
UNHEALTHY_COLUMNS = [
    ("name", "Account", "text"),
    ("account_id", "Id", "text"),
    ("segment", "Segment", "text"),
    ("arr", "ARR at risk", "money"),
    ("health", "Health", "score"),
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


def live_table(report: EscalationsReport, soon_hours: float) -> pd.DataFrame:
    """The open escalations breaching now or due to within ``soon_hours``, with the SLA state in words."""
    live = report.live
    shown = live[live["breaching"] | (live["hours_to_breach"] <= soon_hours)]
    when = [f"{_span(o)} over" if b else f"breaches in {_span(t)}" for b, o, t in zip(shown["breaching"], shown["hours_over"], shown["hours_to_breach"])]
    return shown.assign(when=when)


def shift_table(report: EscalationsReport) -> pd.DataFrame:
    """The level shifts found in daily event volume, one row each."""
    rows = [{"product": s.product, "event": s.event or "all events", "day": s.day, "before": s.before, "after": s.after,
             "change": s.change} for s in report.shifts]
    return pd.DataFrame(rows, columns=[c for c, _, _ in SHIFT_COLUMNS])


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


AT_RISK_COLUMNS = [("name", "Account", "text"), ("account_id", "Id", "text"), ("segment", "Segment", "text"), ("arr", "ARR", "money"),
                   ("open_urgent", "Open P1/P2", "int")]
REPEAT_COLUMNS = [("name", "Account", "text"), ("account_id", "Id", "text"), ("segment", "Segment", "text"), ("arr", "ARR", "money"),
                  ("escalations", "Escalations", "int"), ("still_open", "Still open", "int")]
BUGS_OPEN_COLUMNS = [("severity", "Severity", "text"), ("open", "Open", "int"), ("median_age_days", "Median age (days)", "int")]
PES_COLUMNS = [("component", "Component", "text"), ("previous", "Previous period", "score"), ("current", "This period", "score")]
JUDGED_COLUMNS = [("escalation_id", "Escalation", "text"), ("priority", "Priority", "text"), ("account_id", "Account", "text"),
                  ("product", "Product", "text"), ("opened_at", "Opened", "date"), ("hours", "Hours taken", "num1"),
                  ("outcome", "Outcome", "text"), ("breached", "Breached (1) or not (0)", "int")]


def at_risk_totals(report: EscalationsReport) -> dict[str, float | None]:
    """The accounts-at-risk table's total: the summary's ARR at risk, the very figure."""
    return {"arr": report.result.figures["arr_at_risk"].value if report.result else float(report.arr_at_risk)}


def repeats_caption(report: EscalationsReport) -> str:
    return "Repeat-escalation accounts" + (" (escalations on this team's products)" if report.team_scope else "")


def unhealthy_caption(report: EscalationsReport) -> str:
    shown = min(10, len(report.unhealthy))
    return f"Least healthy accounts by ARR at risk ({shown} of {len(report.unhealthy):,}, largest ARR first)"


def breach_rows(report: EscalationsReport, priority: str, kind: str) -> pd.DataFrame:
    """The escalations behind one priority's breach rate: those of the period whose target was
    judged (achieved or breached; pending ones are not in the rate), ``breached`` 1 or 0."""
    judged = report.judged
    if judged.empty:
        return pd.DataFrame(columns=[c for c, _, _ in JUDGED_COLUMNS])
    outcome = "fr" if kind == "first_response" else "res"
    rows = judged[(judged["priority"] == priority) & (judged[outcome] != "pending")]
    return rows.assign(hours=rows[f"{kind}_hours" if kind == "first_response" else "resolution_hours"], outcome=rows[outcome],
                       breached=(rows[outcome] == "breached").astype(int)).sort_values(["opened_at", "escalation_id"])


# A bug has no account: a segment or plan narrows only the escalations a bug came from.
_NO_ACCOUNT = "bugs are not tied to an account"
_OPEN_AT_END = "what is open is counted on that day"


def explorer_views() -> dict[str, Any]:
    """The explorer's views: the report's sections, with its columns (see :mod:`playbook.widgets`)."""
    from playbook import plots
    from playbook.widgets import Chart, View, rows_of, table

    def open_now(ctx: Any, r: EscalationsReport) -> list[Any]:
        return [table(r.live_priority, LIVE_PRIORITY_COLUMNS),
                table(live_table(r, ctx.params.escalations.breach_soon_hours), LIVE_COLUMNS, "Open escalations breaching now or due to soon")]

    def bugs(ctx: Any, r: EscalationsReport) -> list[Any]:
        days = ctx.params.escalations.old_bug_days
        return [table(r.bugs_open, BUGS_OPEN_COLUMNS), table(r.old_bugs, OLD_BUG_COLUMNS, f"S1/S2 bugs open {param_words(days, 'days')} or more")]

    return {
        "Open escalations against their SLA": View(open_now, period_end=_OPEN_AT_END),
        "SLA by priority": View(lambda ctx, r: table(r.sla, SLA_COLUMNS)),
        "Backlog by age": View(lambda ctx, r: Chart(plots.plot_backlog(r.backlog, "Open escalations by age"), rows_of(r.backlog)),
                               period_end=_OPEN_AT_END),
        "Accounts at risk": View(lambda ctx, r: table(r.at_risk, AT_RISK_COLUMNS, "Accounts at risk", totals=at_risk_totals(r)),
                                 period_end=_OPEN_AT_END),
        "Repeat-escalation accounts": View(lambda ctx, r: table(r.repeats, REPEAT_COLUMNS, repeats_caption(r))),
        "Bugs": View(bugs, period_end="bugs open on that day are counted"),
        "Bugs per week": View(lambda ctx, r: Chart(plots.plot_bugs_weekly(r.bugs_weekly, "Bugs opened and closed per week", through=ctx.period.end),
                                                   rows_of(r.bugs_weekly)),
                              ignores={"segment": _NO_ACCOUNT}, period_end="the weeks shown end on that day"),
        "Tracking check": View(lambda ctx, r: table(shift_table(r), SHIFT_COLUMNS, "Level shifts in the compared periods")),
        "Stickiness": View(lambda ctx, r: Chart(plots.plot_stickiness(r.stickiness, f"Stickiness, {ctx.params.name}"), rows_of(r.stickiness))),
        "Feature adoption": View(lambda ctx, r: Chart(plots.plot_adoption(r.adoption, ctx.params.escalations.adoption_floor,
                                                                          "Feature adoption by active accounts"), rows_of(r.adoption))),
        "Retention": View(lambda ctx, r: Chart(plots.plot_retention(health.retention_matrix(r.retention), "Weekly retention by cohort"),
                                               rows_of(r.retention)), period_end="cohorts are the weeks complete on that day"),
        "Lifecycle": View(lambda ctx, r: table(r.lifecycle, LIFECYCLE_COLUMNS, "Accounts by lifecycle, per week"),
                          period_end="the weeks shown end on that day"),
        "PES": View(lambda ctx, r: table(pes_table(r), PES_COLUMNS)),
        "Least healthy accounts": View(lambda ctx, r: table(r.unhealthy.head(10), UNHEALTHY_COLUMNS, unhealthy_caption(r))),
        "Accounts whose health fell most": View(lambda ctx, r: table(r.movers.head(10), HEALTH_COLUMNS, "Accounts whose health fell most")),
    }


def drilldowns() -> dict[str, Any]:
    """The rows behind the area's figures (see :mod:`playbook.drill`)."""
    from playbook.drill import Drill

    def live(ctx: Any, r: EscalationsReport) -> pd.DataFrame:
        return live_table(r, math.inf)

    drills = {
        "live_breaches": Drill(lambda ctx, r: live(ctx, r)[live(ctx, r)["breaching"].astype(bool)], LIVE_COLUMNS, "count",
                               why="each open escalation past its SLA target at the period end", period_end=_OPEN_AT_END),
        "open_escalations": Drill(live, LIVE_COLUMNS, "count", why="each escalation open at the period end", period_end=_OPEN_AT_END),
        "pes": Drill(lambda ctx, r: pes_table(r).iloc[:3], PES_COLUMNS, "mean", "current", why="PES is the mean of its three components"),
        "arr_at_risk": Drill(lambda ctx, r: r.at_risk, AT_RISK_COLUMNS, "sum", "arr",
                             why="live accounts with an open P1 or P2 escalation", period_end=_OPEN_AT_END),
        "old_bugs": Drill(lambda ctx, r: r.old_bugs, OLD_BUG_COLUMNS, "count", why="each S1/S2 bug open that long",
                          period_end="bugs open on that day are counted"),
        "unhealthy_arr": Drill(lambda ctx, r: r.unhealthy, UNHEALTHY_COLUMNS, "sum", "arr", why="each unhealthy live account"),
    }
    for priority in PRIORITIES:
        for kind, words in (("first_response", "reply"), ("resolution", "resolution")):
            drills[f"{priority.lower()}_{kind}_breach_rate"] = Drill(
                lambda ctx, r, p=priority, k=kind: breach_rows(r, p, k), JUDGED_COLUMNS, "mean", "breached",
                why=f"each {priority} escalation opened in the period whose {words} target was met or breached")
    return drills
