"""Tools: the product team's tech stack, what it costs and whether it is used.

Definitions (DESIGN.md section 5, "tools"; anchors: Productiv and Zylo licence analytics,
Pendo's licence-utilisation widget):

- A seat is *engaged* when its ``last_active_at`` falls in the last ``engaged_days`` (30) days of
  the period; seats assigned after the period are left out.
- utilisation = engaged seats / provisioned seats (``tools.seats``, the licences bought).
- cost per engaged user = annual cost / engaged seats; idle spend = (seats - engaged) x
  (annual cost / seats).
- Seat segments, in this order: *new* (assigned less than ``new_days``, 60, before the period end;
  too early to judge), *engaged*, *inactive* (no activity for ``inactive_days``, 60, or never),
  otherwise *lapsing* (last active between 30 and 60 days ago).
- A team's share of a tool: the seats assigned to its people, costed at the tool's cost per seat.
  A team's cost per engaged user is its allocated cost over its engaged seats (a person engaged
  in three tools counts three times, as in the per-tool figure).
- Overlap: a team with seats in more than one tool of a category.
- Renewal calendar: renewals within 30, 60 and 90 days after the period end.

A tool with zero seats, or no seat-level data at all, has no utilisation (NaN): it is listed,
never recommended for rightsizing on a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from playbook.config import ToolsParams
from playbook.period import Period, day_end
from playbook.figures import Action, AreaResult, Figure, Severity
from playbook.views import figure_text, figure_value, plural, short_money

if TYPE_CHECKING:
    from playbook.context import ReportContext

SEGMENTS = ("new", "engaged", "lapsing", "inactive")
ORGANISATION = "all"


def classify_seats(seats: pd.DataFrame, end: date, params: ToolsParams) -> pd.DataFrame:
    """Seats assigned by the period end, with ``engaged`` (bool) and ``segment`` columns."""
    now = day_end(end)
    kept = seats[seats["assigned_at"] < now]
    active = kept["last_active_at"]
    engaged = active.notna() & (active >= now - pd.Timedelta(days=params.engaged_days))
    new = kept["assigned_at"] >= now - pd.Timedelta(days=params.new_days)
    inactive = active.isna() | (active < now - pd.Timedelta(days=params.inactive_days))
    segment = np.select([new, engaged, inactive], ["new", "engaged", "inactive"], "lapsing")
    return kept.assign(engaged=engaged.to_numpy(), segment=pd.Categorical(segment, categories=SEGMENTS))


def _seat_counts(classified: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    counts = classified.groupby(by, observed=True).agg(
        assigned=("user_id", "size"),
        engaged=("engaged", "sum"),
        never_used=("last_active_at", lambda s: int(s.isna().sum())),
    )
    segments = pd.crosstab([classified[c] for c in by], classified["segment"]).reindex(columns=list(SEGMENTS), fill_value=0)
    segments.columns = [f"seats_{c}" for c in segments.columns]
    return counts.join(segments).reset_index()


def tool_usage(tools: pd.DataFrame, classified: pd.DataFrame) -> pd.DataFrame:
    """One row per tool: licences, assigned and engaged seats, utilisation, cost per engaged user, idle spend."""
    count_columns = ["assigned", "engaged", "never_used", *(f"seats_{s}" for s in SEGMENTS)]
    counts = _seat_counts(classified, ["tool"]) if len(classified) else pd.DataFrame(columns=["tool", *count_columns])
    table = tools.merge(counts, on="tool", how="left")
    has_data = table["assigned"].notna()
    for column in count_columns:
        table[column] = table[column].fillna(0).astype(int)
    licences = table["seats"].astype(float)
    cost_per_seat = (table["annual_cost"] / licences).where(licences > 0)
    measurable = has_data & (licences > 0)
    table = table.assign(
        has_seat_data=has_data,
        cost_per_seat=cost_per_seat,
        utilisation=(table["engaged"] / licences).where(measurable),
        idle_spend=((licences - table["engaged"]).clip(lower=0) * cost_per_seat).where(measurable),
        cost_per_engaged=(table["annual_cost"] / table["engaged"]).where(measurable & (table["engaged"] > 0)),
    )
    return table.sort_values(["category", "tool"], ignore_index=True)


def team_usage(tools: pd.DataFrame, classified: pd.DataFrame) -> pd.DataFrame:
    """One row per (team, tool) with seats: the team's share of the tool's seats and cost."""
    if classified.empty:
        return pd.DataFrame(columns=["team", "tool", "category", "annual_cost", "assigned", "engaged", "utilisation", "allocated_cost", "idle_spend"])
    counts = _seat_counts(classified, ["team", "tool"])
    per_seat = tools.assign(cost_per_seat=(tools["annual_cost"] / tools["seats"]).where(tools["seats"] > 0))
    table = counts.merge(per_seat[["tool", "category", "annual_cost", "cost_per_seat"]], on="tool", how="left")
    return table.assign(
        utilisation=table["engaged"] / table["assigned"],
        allocated_cost=table["assigned"] * table["cost_per_seat"],
        idle_spend=(table["assigned"] - table["engaged"]) * table["cost_per_seat"],
    ).sort_values(["team", "category", "tool"], ignore_index=True)


def team_costs(usage_by_team: pd.DataFrame) -> pd.DataFrame:
    """Per team: allocated cost, engaged seats, cost per engaged user, and how it compares with the
    median of the *other* teams (``ratio_to_others``)."""
    table = (
        usage_by_team.groupby("team")
        .agg(tools=("tool", "nunique"), seats=("assigned", "sum"), engaged=("engaged", "sum"),
             allocated_cost=("allocated_cost", "sum"), idle_spend=("idle_spend", "sum"))
        .reset_index()
    )
    table["cost_per_engaged"] = (table["allocated_cost"] / table["engaged"]).where(table["engaged"] > 0)
    others = [float(table.loc[table["team"] != team, "cost_per_engaged"].median()) for team in table["team"]]
    table["others_median"] = others
    # No comparison without other teams' costs to compare with (none, or all zero).
    table["ratio_to_others"] = (table["cost_per_engaged"] / table["others_median"]).where(table["others_median"] > 0)
    return table.sort_values("cost_per_engaged", ascending=False, ignore_index=True)


def overlaps(usage_by_team: pd.DataFrame) -> pd.DataFrame:
    """(team, category) pairs where the team has seats in more than one tool.

    The money at stake is the allocated cost of every tool but the one with the most engaged
    seats: what consolidating onto that one could save.
    """
    rows = []
    for (team, category), group in usage_by_team.groupby(["team", "category"]):
        if group["tool"].nunique() < 2:
            continue
        ranked = group.sort_values(["engaged", "allocated_cost"], ascending=[False, False])
        keep = ranked.iloc[0]
        # Dropping a tool saves the team's share of it, never more than the tool costs (a team
        # can hold more seats than were bought).
        saved = ranked.iloc[1:]["allocated_cost"].clip(upper=ranked.iloc[1:]["annual_cost"])
        rows.append(
            {
                "team": team,
                "category": category,
                "tools": ", ".join(ranked["tool"]),
                "seats": int(group["assigned"].sum()),
                "keep": keep["tool"],
                "allocated_cost": float(group["allocated_cost"].sum()),
                "money": float(saved.sum()),
                # The tools consolidation would drop, each with what dropping it saves the team.
                "drops": [(str(t), float(c)) for t, c in zip(ranked.iloc[1:]["tool"], saved)],
            }
        )
    columns = ["team", "category", "tools", "seats", "keep", "allocated_cost", "money", "drops"]
    return pd.DataFrame(rows, columns=columns).sort_values("money", ascending=False, ignore_index=True)


def renewal_calendar(usage: pd.DataFrame, end: date, horizon_days: int = 90) -> pd.DataFrame:
    """Tools renewing within ``horizon_days`` after the period end, soonest first, with their window."""
    start = pd.Timestamp(end)
    days = (usage["renewal_date"].dt.normalize() - start).dt.days
    due = usage.assign(days_to_renewal=days)[(days > 0) & (days <= horizon_days)].copy()
    due["days_to_renewal"] = due["days_to_renewal"].astype(int)
    edges = sorted({0, *(d for d in (30, 60, 90) if d < horizon_days), horizon_days})
    due["window"] = pd.cut(due["days_to_renewal"], edges, labels=[f"within {d} days" for d in edges[1:]]).astype(str)
    return due.sort_values(["days_to_renewal", "tool"], ignore_index=True)


def recommendations(usage: pd.DataFrame, overlap: pd.DataFrame, calendar: pd.DataFrame, params: ToolsParams,
                    costs: pd.Series | None = None) -> pd.DataFrame:
    """What to do with each tool, with the money at stake per year (USD), largest first.

    - rightsize: utilisation under ``utilisation_floor``; money = idle spend.
    - consolidate: a team pays for more than one tool of a category; each tool but the most
      engaged one is to drop, its money = that team's cost of it.
    - review before renewal: renewal within ``review_days``; money = the annual cost up for renewal.

    One row per tool, every reason joined, so no dollar is counted twice: its money is the larger
    of its idle spend (when rightsizing) and what dropping it saves (when consolidating, capped
    at its cost); the annual cost up for renewal counts only when neither applies.
    """
    rows = []
    floor = params.utilisation_floor
    for tool in usage[usage["utilisation"] < floor].itertuples():
        rows.append({
            "action": "rightsize", "subject": tool.tool,
            "reason": f"{tool.utilisation:.0%} of {tool.seats:,} seats engaged (floor {floor:.0%})",
            "money": float(tool.idle_spend), "kind": "rightsize",
        })
    for row in overlap.itertuples():
        for tool, cost in row.drops:
            rows.append({
                "action": f"consolidate onto {row.keep}", "subject": tool,
                "reason": f"team {row.team} also pays for {row.keep} ({row.category})",
                "money": cost, "kind": "consolidate",
            })
    for tool in calendar[calendar["days_to_renewal"] <= params.review_days].itertuples():
        usage_note = "no seat data" if pd.isna(tool.utilisation) else f"{tool.utilisation:.0%} utilisation"
        rows.append({
            "action": "review before renewal", "subject": tool.tool,
            "reason": f"renews {tool.renewal_date:%d %b %Y} (in {tool.days_to_renewal} days), {usage_note}",
            "money": float(tool.annual_cost), "kind": "review",
        })
    columns = ["action", "subject", "reason", "money"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    # Every tool's annual cost (``costs``: the whole inventory, so a tool another team owns is capped too).
    cost = pd.concat([c for c in (costs, usage.set_index("tool")["annual_cost"], calendar.set_index("tool")["annual_cost"]) if c is not None])
    cost = cost[~cost.index.duplicated()]

    def at_stake(group: pd.DataFrame) -> float:
        kept = group[group["kind"] == "rightsize"]["money"].sum()
        dropped = group[group["kind"] == "consolidate"]["money"].sum()
        if group.name in cost.index and not pd.isna(cost[group.name]):
            dropped = min(dropped, float(cost[group.name]))
        if kept or dropped:
            return float(max(kept, dropped))
        return float(group["money"].max())

    money = frame.groupby("subject", sort=False)[["kind", "money"]].apply(at_stake).rename("money")
    table = frame.groupby("subject", as_index=False, sort=False).agg(
        action=("action", lambda a: "; ".join(dict.fromkeys(a))), reason=("reason", "; ".join)
    ).merge(money, left_on="subject", right_index=True)[columns]
    return table.sort_values(["money", "action"], ascending=[False, True], ignore_index=True)


@dataclass(frozen=True)
class ToolsReport:
    """Everything the tools notebook shows for one team (or the organisation), computed once."""

    scope: str
    inventory: pd.DataFrame
    team_tools: pd.DataFrame
    costs: pd.DataFrame
    overlap: pd.DataFrame
    calendar: pd.DataFrame
    actions: pd.DataFrame
    segments: pd.DataFrame
    owned: pd.DataFrame
    result: AreaResult | None = None


def build_report(tools: pd.DataFrame, seats: pd.DataFrame, params: ToolsParams, period: Period, team: str) -> ToolsReport:
    """Compute the tools area for ``team`` (``"all"``: the whole organisation).

    Args:
        tools: the whole tool inventory.
        seats: every seat (all teams: a team's cost is compared with the others').
        params: the area's parameters.
        period: the reporting period; activity is judged at its end.
        team: the team the report is for.
    """
    classified = classify_seats(seats, period.end, params)
    usage = tool_usage(tools, classified)
    by_team = team_usage(tools, classified)
    costs = team_costs(by_team)
    all_overlaps = overlaps(by_team)
    calendar_all = renewal_calendar(usage, period.end, params.renewal_horizon_days)
    if team == ORGANISATION:
        scope_tools = set(usage["tool"])
        owned = scope_tools
        overlap = all_overlaps
        team_tools = by_team
        in_scope = classified
    else:
        used = set(by_team.loc[by_team["team"] == team, "tool"])
        owned = set(usage.loc[usage["owner_team"] == team, "tool"])
        scope_tools = used | owned
        overlap = all_overlaps[all_overlaps["team"] == team].reset_index(drop=True)
        team_tools = by_team[by_team["team"] == team].reset_index(drop=True)
        in_scope = classified[classified["team"] == team]
    inventory = usage[usage["tool"].isin(scope_tools)].merge(
        team_tools[["tool", "assigned", "engaged", "utilisation", "allocated_cost"]].rename(
            columns=lambda c: c if c == "tool" else f"team_{c}"
        ) if team != ORGANISATION else team_tools.groupby("tool").size().rename("teams_using").reset_index(),
        on="tool",
        how="left",
    ).reset_index(drop=True)
    calendar = calendar_all[calendar_all["tool"].isin(scope_tools)].reset_index(drop=True)
    actions = recommendations(
        usage[usage["tool"].isin(owned)], overlap, calendar[calendar["tool"].isin(owned)], params,
        costs=usage.set_index("tool")["annual_cost"],
    )
    segments = in_scope.groupby("segment", observed=False).size().reindex(list(SEGMENTS), fill_value=0).rename("seats").reset_index()
    owned_rows = inventory[inventory["tool"].isin(owned)].reset_index(drop=True)
    report = ToolsReport(team, inventory, team_tools, costs, overlap, calendar, actions, segments, owned_rows)
    return replace(report, result=summarise(report, params, team))


def summarise(report: ToolsReport, params: ToolsParams, team: str) -> AreaResult:
    """The figures (idle spend on the tools in scope, money at stake) and the actions, most urgent first."""
    owned = report.owned
    measured = owned[owned["idle_spend"].notna()]
    figures = {
        "idle_spend": Figure("idle_spend", "Yearly idle spend", float(measured["idle_spend"].sum()) if len(measured) else None,
                             "money", good="down", rows=len(owned)),
        "money_at_stake": Figure("money_at_stake", "Money at stake a year", float(report.actions["money"].sum()), "money",
                                 good="down", rows=len(report.actions)),
        "recommendations": Figure("recommendations", "recommendations", len(report.actions), "count", rows=len(report.actions)),
    }
    actions: list[Action] = []
    floor = params.utilisation_floor
    calendar = report.calendar if team == ORGANISATION else report.calendar[report.calendar["owner_team"] == team]
    urgent = calendar[(calendar["days_to_renewal"] <= params.review_days) & (calendar["utilisation"] < floor)]
    for tool in urgent.itertuples():
        actions.append(Action(
            "tools.review_before_renewal", tool.tool, Severity.HIGH,
            f"{tool.tool} renews on {tool.renewal_date:%d %b %Y}, in {tool.days_to_renewal} days, with only "
            f"{tool.utilisation:.0%} of its {tool.seats:,} seats engaged: review it before renewing "
            f"({short_money(tool.annual_cost)} a year, {short_money(tool.idle_spend)} of it idle).",
            money=float(tool.idle_spend), figures=("idle_spend",),
        ))
    for row in report.overlap.itertuples():
        owner = "" if team != ORGANISATION else f"Team {row.team}: "
        actions.append(Action(
            "tools.consolidate", f"{row.team}: {row.category}", Severity.MEDIUM,
            f"{owner}{row.tools.count(',') + 1} tools in {row.category} ({row.tools}; {row.seats:,} seats, "
            f"{short_money(row.allocated_cost)} a year): consolidating onto {row.keep} could save {short_money(row.money)} a year.",
            money=float(row.money),
        ))
    costs = report.costs
    flagged = costs[costs["ratio_to_others"] > params.cost_ratio_alert]
    if team != ORGANISATION:
        flagged = flagged[flagged["team"] == team]
    for row in flagged.itertuples():
        who = "This team pays" if team != ORGANISATION else f"Team {row.team} pays"
        actions.append(Action(
            "tools.cost_per_engaged_user", row.team, Severity.MEDIUM,
            f"{who} {short_money(row.cost_per_engaged)} a year per engaged user, {row.ratio_to_others:.1f}x the median of "
            f"the other teams ({short_money(row.others_median)}); {int(row.seats - row.engaged):,} of its {int(row.seats):,} seats "
            f"were not used in the last {params.engaged_days} days.",
        ))
    notes: list[str] = []
    idle = figures["idle_spend"]
    if idle.value is not None:
        whose = "the tools this team owns" if team != ORGANISATION else "all tools"
        notes.append(f"Yearly idle spend {figure_value(idle)} on {whose} ({plural(f'{len(measured)} tools', len(measured))} with seat data, "
                     f"{int(measured['engaged'].sum()):,} of {int(measured['seats'].sum()):,} seats engaged).")
    if team != ORGANISATION and flagged.empty:
        mine = costs[costs["team"] == team]
        if len(mine) and not math.isnan(mine["cost_per_engaged"].iloc[0]) and not math.isnan(mine["ratio_to_others"].iloc[0]):
            row = mine.iloc[0]
            notes.append(
                f"Cost per engaged user is {short_money(row['cost_per_engaged'])} a year, "
                f"{row['ratio_to_others']:.1f}x the median of the other teams ({short_money(row['others_median'])})."
            )
    if len(report.actions):
        count, money = figures["recommendations"], figures["money_at_stake"]
        scope = " for this team" if team != ORGANISATION else ""
        notes.append(f"{figure_text(count)}{scope} put {figure_value(money)} a year at stake (the recommendations table).")
    if not actions and not notes:
        notes.append(f"No seat data for the {plural(f'{len(owned)} tools', len(owned))} this team owns, so their use cannot be measured."
                     if len(owned) else "No tools or seats for this team in the workspace.")
    return AreaResult(figures, ("idle_spend",), tuple(actions), tuple(notes))


# How the notebook shows the inventory: the columns every scope has, then the scope's own.
INVENTORY_COLUMNS = [
    ("tool", "Tool", "text"),
    ("category", "Category", "text"),
    ("owner_team", "Owner", "text"),
    ("seats", "Seats", "int"),
    ("engaged", "Engaged", "int"),
    ("utilisation", "Utilisation", "pct"),
    ("annual_cost", "Annual cost", "money"),
    ("cost_per_engaged", "Cost per engaged user", "money"),
    ("idle_spend", "Idle spend", "money"),
    ("renewal_date", "Renews", "date"),
]


def scope_columns(report: ToolsReport) -> list[tuple[str, str, str]]:
    """The team's own seat columns in a team report; how many teams use each tool in the organisation's."""
    if report.scope == ORGANISATION:
        return [("teams_using", "Teams using", "int")]
    return [("team_assigned", "Team seats", "int"), ("team_engaged", "Team engaged", "int"), ("team_allocated_cost", "Team cost", "money")]


def inventory_tables(report: ToolsReport) -> list[tuple[pd.DataFrame, str, dict[str, float] | None]]:
    """The inventory as (rows, caption, totals): the tools in scope with their total (the summary's
    idle spend, the very figure), then, for a team, the tools its people use from other teams."""
    figure = report.result.figures["idle_spend"] if report.result else None
    totals = {"annual_cost": float(report.owned["annual_cost"].sum()), "idle_spend": figure.value if figure else None}
    if report.scope == ORGANISATION:
        return [(report.owned, "", totals)]
    others = report.inventory[~report.inventory["tool"].isin(report.owned["tool"])].reset_index(drop=True)
    return [(report.owned, "Tools this team owns", totals), (others, "Tools its people use, owned by other teams", None)]


def report(ctx: ReportContext) -> ToolsReport:
    """Read the tool inventory and every seat, and compute the Tools area for the team (or ``all``)."""
    return build_report(
        tools=ctx.read("tools", whole_organisation=True),
        seats=ctx.read("tool_seats", whole_organisation=True),
        params=ctx.params.tools,
        period=ctx.period,
        team=ctx.params.team,
    )


def explorer_views() -> dict[str, Any]:
    """The explorer's views of this area (see :mod:`playbook.widgets`): name -> f(ctx, report)."""
    from playbook import plots
    from playbook.widgets import html_table

    return {
        "Utilisation": lambda ctx, r: plots.plot_utilisation(r.inventory, ctx.params.tools.utilisation_floor, "Seat utilisation"),
        "Renewals": lambda ctx, r: html_table(r.calendar, [("tool", "Tool", "text"), ("renewal_date", "Renews", "date"),
                                                           ("utilisation", "Utilisation", "pct"), ("annual_cost", "Annual cost", "money")]),
        "Recommendations": lambda ctx, r: html_table(r.actions, [("action", "Action", "text"), ("subject", "Tool", "text"),
                                                                 ("money", "At stake", "money")]),
    }
