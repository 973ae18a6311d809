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
- A tool *nobody uses*: licences bought (``seats`` > 0) and no engaged seat, whether no seat was
  ever assigned or none of the assigned ones was used in the engaged window; not a tool whose
  assigned seats are all *new* (``too_early``: just bought, too early to judge, so neither
  cancelled nor rightsized; the summary names it in a note). Its utilisation is
  0%, its idle spend its whole cost, and the recommendation is to cancel it (Zylo and Productiv
  call these "unused applications"); they lead the summary with their total and names.
- Overlap: a team with seats in more than one tool of one *function* (``tools.function``, what
  the tool does: chat, crm, call recording), never a tool nobody uses (that one is to cancel)
  and never tools the params list as meant to coexist (``tools.coexist``; names not in the
  inventory are said in a note). Functions match whatever their case and spacing. A tool without
  a function is compared by its category, as before the column existed, and the consolidation
  sentence says so. A tool without licences has no cost per seat: it is left out of overlaps.
- Money at stake per recommendation: cancel = the whole annual cost; rightsize and review before
  renewal = the idle part (a well-used tool renewing puts only its idle seats at stake);
  consolidate = the team's cost of the tool to drop, capped at the tool's cost.
- Renewal calendar: renewals within 30, 60 and 90 days after the period end.
- Seats to reclaim: assigned seats not used in the engaged window, left out when assigned less
  than ``new_days`` ago (too early to judge).

A tool with zero licences has no utilisation (NaN): it is listed, never recommended on a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from playbook.config import ToolsParams
from playbook.period import Period, day_end
from playbook.figures import Action, AreaResult, Figure, Severity
from playbook.views import count_words, figure_text, figure_value, format_value, plural, short_money

if TYPE_CHECKING:
    from playbook.context import ReportContext

SEGMENTS = ("new", "engaged", "lapsing", "inactive")
# How many tools nobody uses the summary names one by one (costliest first).
UNUSED_NAMED = 8
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


def with_function(tools: pd.DataFrame) -> pd.DataFrame:
    """The inventory with ``function`` (empty where the table gives none) and ``overlap_key``:
    the function, else the category, which is what overlap compares tools by.

    Keys are compared whatever their case and spacing ("Helpdesk" and " helpdesk" are one job),
    and written one way: the commonest spelling, then the first in sort order.
    """
    given = tools["function"] if "function" in tools.columns else pd.Series(None, index=tools.index, dtype=object)
    given = given.where(given.notna() & given.astype(str).str.strip().ne(""), None)
    key = given.fillna(tools["category"])
    spelt = key.astype(str).str.split().str.join(" ").where(key.notna())
    folded = spelt.str.casefold()
    spellings = pd.DataFrame({"folded": folded, "spelt": spelt}).value_counts().rename("n").reset_index()
    one_way = spellings.sort_values(["n", "spelt"], ascending=[False, True]).drop_duplicates("folded").set_index("folded")["spelt"]
    return tools.assign(function=given, overlap_key=folded.map(one_way))


def tool_usage(tools: pd.DataFrame, classified: pd.DataFrame) -> pd.DataFrame:
    """One row per tool: licences, assigned and engaged seats, utilisation, cost per engaged user,
    idle spend, ``too_early`` (licences bought, seats assigned, every one of them new) and
    ``unused`` (licences bought, no engaged seat, not too early to judge)."""
    count_columns = ["assigned", "engaged", "never_used", *(f"seats_{s}" for s in SEGMENTS)]
    counts = _seat_counts(classified, ["tool"]) if len(classified) else pd.DataFrame(columns=["tool", *count_columns])
    table = with_function(tools).merge(counts, on="tool", how="left")
    has_data = table["assigned"].notna()
    for column in count_columns:
        table[column] = table[column].fillna(0).astype(int)
    licences = table["seats"].astype(float)
    licensed = licences > 0
    cost_per_seat = (table["annual_cost"] / licences).where(licensed)
    # Every assigned seat assigned under new_days ago: the tool is being rolled out, not unused.
    too_early = licensed & (table["assigned"] > 0) & (table["seats_new"] == table["assigned"])
    # Licences with no seat row are licences nobody uses: 0% used, all of the cost idle.
    table = table.assign(
        has_seat_data=has_data,
        cost_per_seat=cost_per_seat,
        utilisation=(table["engaged"] / licences).where(licensed),
        idle_spend=((licences - table["engaged"]).clip(lower=0) * cost_per_seat).where(licensed),
        cost_per_engaged=(table["annual_cost"] / table["engaged"]).where(licensed & (table["engaged"] > 0)),
        too_early=too_early,
        unused=licensed & (table["engaged"] == 0) & ~too_early,
    )
    return table.sort_values(["category", "tool"], ignore_index=True)


def team_usage(tools: pd.DataFrame, classified: pd.DataFrame) -> pd.DataFrame:
    """One row per (team, tool) with seats: the team's share of the tool's seats and cost."""
    if classified.empty:
        return pd.DataFrame(columns=["team", "tool", "category", "function", "overlap_key", "annual_cost", "assigned", "engaged",
                                     "utilisation", "allocated_cost", "idle_spend"])
    counts = _seat_counts(classified, ["team", "tool"])
    per_seat = with_function(tools).assign(cost_per_seat=(tools["annual_cost"] / tools["seats"]).where(tools["seats"] > 0))
    table = counts.merge(per_seat[["tool", "category", "function", "overlap_key", "annual_cost", "cost_per_seat"]], on="tool", how="left")
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


def _coexisting(coexist: tuple[tuple[str, ...], ...] | list[list[str]]) -> set[frozenset[str]]:
    """Every pair of tools the params say are meant to coexist, case-folded."""
    pairs = set()
    for group in coexist:
        names = sorted({str(n).strip().casefold() for n in group})
        pairs |= {frozenset((a, b)) for i, a in enumerate(names) for b in names[i + 1:]}
    return pairs


def overlaps(usage_by_team: pd.DataFrame, coexist: tuple[tuple[str, ...], ...] | list[list[str]] = ()) -> pd.DataFrame:
    """(team, function) pairs where the team has seats in more than one tool doing the same job.

    Tools are compared by ``overlap_key`` (the function, else the category); ``no_function`` lists
    the tools of a row compared by their category. A tool without licences (no cost per seat) is
    left out: what dropping it saves is unknown, and it is never recommended on a guess. Within a
    group the most engaged tool is kept; going down the ranking, a tool is kept too when the params list it
    as meant to coexist with every tool kept so far (``coexist``), else it is to drop. A group
    with nothing to drop is no overlap. The money at stake is the team's cost of the tools to
    drop, each capped at the tool's cost: what consolidating onto the kept one could save.
    """
    together = _coexisting(coexist)
    frame = usage_by_team if "overlap_key" in usage_by_team.columns else usage_by_team.assign(overlap_key=usage_by_team["category"])
    if "function" not in frame.columns:
        frame = frame.assign(function=None)
    frame = frame[frame["allocated_cost"].notna()]
    rows = []
    for (team, key), group in frame.groupby(["team", "overlap_key"]):
        if group["tool"].nunique() < 2:
            continue
        ranked = group.sort_values(["engaged", "allocated_cost", "tool"], ascending=[False, False, True])
        kept: list[str] = []
        dropped = []
        for row in ranked.itertuples():
            if all(frozenset((row.tool.casefold(), k.casefold())) in together for k in kept):
                kept.append(row.tool)
            else:
                dropped.append(row)
        if not dropped:
            continue
        listed = ranked[ranked["tool"].isin([kept[0], *(d.tool for d in dropped)])]
        # Dropping a tool saves the team's share of it, never more than the tool costs (a team
        # can hold more seats than were bought).
        saved = [min(float(d.allocated_cost), float(d.annual_cost)) for d in dropped]
        rows.append(
            {
                "team": team,
                "function": key,
                "category": ", ".join(dict.fromkeys(listed["category"])),
                "tools": ", ".join(listed["tool"]),
                "seats": int(listed["assigned"].sum()),
                "keep": kept[0],
                "allocated_cost": float(listed["allocated_cost"].sum()),
                "money": float(sum(saved)),
                # The tools consolidation would drop, each with what dropping it saves the team.
                "drops": [(str(d.tool), c) for d, c in zip(dropped, saved)],
                "no_function": tuple(listed.loc[listed["function"].isna(), "tool"]),
            }
        )
    columns = ["team", "function", "category", "tools", "seats", "keep", "allocated_cost", "money", "drops", "no_function"]
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


def _unused_reason(tool: Any, params: ToolsParams) -> str:
    """Why a tool counts as unused: no seat assigned, or no assigned seat used lately."""
    if tool.assigned == 0:
        return f"{plural(f'{tool.seats:,} seats', tool.seats)}, none assigned"
    return (f"{tool.assigned:,} of {plural(f'{tool.seats:,} seats', tool.seats)} assigned, "
            f"none used in the last {count_words(params.engaged_days, 'days')}")


def recommendations(usage: pd.DataFrame, overlap: pd.DataFrame, calendar: pd.DataFrame, params: ToolsParams,
                    costs: pd.Series | None = None) -> pd.DataFrame:
    """What to do with each tool, with the money at stake per year (USD), largest first.

    - cancel: licences bought and no engaged seat (nobody uses it); money = its whole annual cost.
    - rightsize: utilisation under ``utilisation_floor``, unless every assigned seat is new (too
      early to judge); money = idle spend.
    - consolidate: a team pays for more than one tool of a function; each tool to drop (see
      :func:`overlaps`) has as money that team's cost of it.
    - review before renewal: renewal within ``review_days``; money = its idle spend, the part of
      the cost a renewal could cut (none is known for a tool without licences).

    One row per tool, every reason joined, so no dollar is counted twice: its money is the largest
    of what each reason puts at stake (a consolidation's summed over teams, capped at its cost).
    """
    rows = []
    floor = params.utilisation_floor
    unused = usage["unused"] if "unused" in usage.columns else pd.Series(False, index=usage.index)
    too_early = usage["too_early"] if "too_early" in usage.columns else pd.Series(False, index=usage.index)
    for tool in usage[unused].itertuples():
        rows.append({
            "action": "cancel", "subject": tool.tool, "reason": f"nobody uses it: {_unused_reason(tool, params)}",
            "money": float(tool.annual_cost), "kind": "cancel",
        })
    for tool in usage[(usage["utilisation"] < floor) & ~unused & ~too_early].itertuples():
        rows.append({
            "action": "rightsize", "subject": tool.tool,
            "reason": f"{tool.engaged:,} of {plural(f'{tool.seats:,} seats', tool.seats)} engaged "
                      f"({tool.utilisation:.0%}, floor {floor:.0%})",
            "money": float(tool.idle_spend), "kind": "rightsize",
        })
    for row in overlap.itertuples():
        for tool, cost in row.drops:
            rows.append({
                "action": f"consolidate onto {row.keep}", "subject": tool,
                "reason": f"team {row.team} also pays for {row.keep} ({row.function})",
                "money": cost, "kind": "consolidate",
            })
    for tool in calendar[calendar["days_to_renewal"] <= params.review_days].itertuples():
        measured = not pd.isna(tool.utilisation)
        usage_note = f"{tool.utilisation:.0%} utilisation" if measured else "no licences to measure"
        rows.append({
            "action": "review before renewal", "subject": tool.tool,
            "reason": f"renews {tool.renewal_date:%d %b %Y} (in {count_words(tool.days_to_renewal, 'days')}), {usage_note}",
            "money": float(tool.idle_spend) if measured else 0.0, "kind": "review",
        })
    columns = ["action", "subject", "reason", "money"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    # Every tool's annual cost (``costs``: the whole inventory, so a tool another team owns is capped too).
    cost = pd.concat([c for c in (costs, usage.set_index("tool")["annual_cost"], calendar.set_index("tool")["annual_cost"]) if c is not None])
    cost = cost[~cost.index.duplicated()]

    def at_stake(group: pd.DataFrame) -> float:
        by_kind = group.groupby("kind")["money"].sum()
        if "consolidate" in by_kind and group.name in cost.index and not pd.isna(cost[group.name]):
            by_kind["consolidate"] = min(by_kind["consolidate"], float(cost[group.name]))
        return float(by_kind.max())

    money = frame.groupby("subject", sort=False)[["kind", "money"]].apply(at_stake).rename("money")
    table = frame.groupby("subject", as_index=False, sort=False).agg(
        action=("action", lambda a: "; ".join(dict.fromkeys(a))), reason=("reason", "; ".join)
    ).merge(money, left_on="subject", right_index=True)[columns]
    return table.sort_values(["money", "action"], ascending=[False, True], ignore_index=True)


def seats_to_reclaim(classified: pd.DataFrame, usage: pd.DataFrame) -> pd.DataFrame:
    """Assigned seats not used in the engaged window and not new (too early to judge), costliest
    seat first, then the longest unused (never used first)."""
    idle = classified[~classified["engaged"].astype(bool) & (classified["segment"].astype(str) != "new")]
    table = idle.merge(usage[["tool", "cost_per_seat"]], on="tool", how="left")
    table = table.assign(never=table["last_active_at"].isna())
    table = table.sort_values(["cost_per_seat", "tool", "never", "last_active_at", "user_id"],
                              ascending=[False, True, False, True, True], ignore_index=True)
    return table[["tool", "user_id", "team", "assigned_at", "last_active_at", "segment", "cost_per_seat"]]


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
    reclaim: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Tools in scope without a function in the tools table: overlap compares them by category.
    by_category: tuple[str, ...] = ()
    # Names in params tools.coexist matching no tool of the inventory (a typo, or a tool gone).
    unknown_coexist: tuple[str, ...] = ()
    # Every seat of the tools the team owns, with ``engaged``: the rows behind the idle spend.
    owned_seats: pd.DataFrame = field(default_factory=pd.DataFrame)
    result: AreaResult | None = None


def build_report(tools: pd.DataFrame, seats: pd.DataFrame, params: ToolsParams, period: Period, team: str) -> ToolsReport:
    """Compute the tools area for ``team`` (``"all"``: the whole organisation).

    Args:
        tools: the whole tool inventory (``function`` may be absent: overlap then uses ``category``).
        seats: every seat (all teams: a team's cost is compared with the others').
        params: the area's parameters.
        period: the reporting period; activity is judged at its end.
        team: the team the report is for.
    """
    classified = classify_seats(seats, period.end, params)
    usage = tool_usage(tools, classified)
    by_team = team_usage(tools, classified)
    costs = team_costs(by_team)
    # A tool nobody uses is to cancel, not to consolidate onto another.
    unused = set(usage.loc[usage["unused"], "tool"])
    all_overlaps = overlaps(by_team[~by_team["tool"].isin(unused)], params.coexist)
    calendar_all = renewal_calendar(usage, period.end, params.renewal_horizon_days)
    reclaim_all = seats_to_reclaim(classified, usage)
    if team == ORGANISATION:
        scope_tools = set(usage["tool"])
        owned = scope_tools
        overlap = all_overlaps
        team_tools = by_team
        in_scope = classified
        reclaim = reclaim_all
    else:
        used = set(by_team.loc[by_team["team"] == team, "tool"])
        owned = set(usage.loc[usage["owner_team"] == team, "tool"])
        scope_tools = used | owned
        overlap = all_overlaps[all_overlaps["team"] == team].reset_index(drop=True)
        team_tools = by_team[by_team["team"] == team].reset_index(drop=True)
        in_scope = classified[classified["team"] == team]
        # The seats the team can act on: its people's, and any seat of a tool it owns.
        reclaim = reclaim_all[(reclaim_all["team"] == team) | reclaim_all["tool"].isin(owned)].reset_index(drop=True)
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
    by_category = tuple(sorted(inventory.loc[inventory["function"].isna(), "tool"]))
    report = ToolsReport(team, inventory, team_tools, costs, overlap, calendar, actions, segments, owned_rows, reclaim, by_category,
                         unknown_coexist(params.coexist, usage["tool"]), classified[classified["tool"].isin(owned)].reset_index(drop=True))
    return replace(report, result=summarise(report, params, team))


def unknown_coexist(coexist: tuple[tuple[str, ...], ...] | list[list[str]], tools: pd.Series) -> tuple[str, ...]:
    """The names in ``coexist`` that match no tool of the inventory (case and surrounding spaces
    aside, as the overlap check matches them), each once, in the order the params give them."""
    known = {str(t).strip().casefold() for t in tools}
    unknown: dict[str, str] = {}
    for name in (str(n).strip() for group in coexist for n in group):
        if name.casefold() not in known:
            unknown.setdefault(name.casefold(), name)
    return tuple(unknown.values())


def _unused_action(unused: pd.DataFrame, calendar: pd.DataFrame, params: ToolsParams, team: str) -> Action:
    """One action naming every tool nobody uses, costliest first, with their total."""
    renewing = calendar.set_index("tool")["days_to_renewal"] if len(calendar) else pd.Series(dtype=int)
    parts = []
    for tool in unused.sort_values(["annual_cost", "tool"], ascending=[False, True]).itertuples():
        owner = f"owner: {tool.owner_team}, " if team == ORGANISATION else ""
        days = renewing.get(tool.tool)
        soon = f", renews in {count_words(days, 'days')}" if days is not None and days <= params.review_days else ""
        parts.append(f"{tool.tool} ({owner}{short_money(tool.annual_cost)}; {_unused_reason(tool, params)}{soon})")
    total, count = float(unused["annual_cost"].sum()), len(unused)
    if count > UNUSED_NAMED:
        # A long list stays readable: the costliest by name, the rest in the recommendations table.
        parts = [*parts[:UNUSED_NAMED], f"and {count - UNUSED_NAMED} more (the recommendations table)"]
    them = "them" if count > 1 else "it"
    return Action(
        # The subject names the tools, so the organisation's list (IT's tools too) is not taken
        # for a repeat of one team's on the index's "look here first".
        "tools.unused", ", ".join(sorted(unused["tool"].astype(str))), Severity.HIGH,
        f"{plural(f'{count} tools', count)} nobody uses {'cost' if count > 1 else 'costs'} {short_money(total)} a year: "
        f"{', '.join(parts)}: cancel {them}, or give the seats to people who need {them}.",
        money=total, figures=("unused_spend",),
    )


def _and(names: tuple[str, ...]) -> str:
    """Names as a sentence lists them: "A", "A and B", "A, B and C"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def summarise(report: ToolsReport, params: ToolsParams, team: str) -> AreaResult:
    """The figures (idle spend, spend on tools nobody uses, money at stake, seats to reclaim) and
    the actions: tools nobody uses first, then renewals of under-used tools, the largest idle
    spend, overlaps and a costly team."""
    owned = report.owned
    measured = owned[owned["idle_spend"].notna()]
    unused = owned[owned["unused"]]
    figures = {
        "idle_spend": Figure("idle_spend", "Yearly idle spend", float(measured["idle_spend"].sum()) if len(measured) else None,
                             "money", good="down", rows=len(owned)),
        "unused_spend": Figure("unused_spend", "Yearly spend on tools nobody uses", float(unused["annual_cost"].sum()) if len(owned) else None,
                               "money", good="down", rows=len(unused)),
        "money_at_stake": Figure("money_at_stake", "Money at stake a year", float(report.actions["money"].sum()), "money",
                                 good="down", rows=len(report.actions)),
        "recommendations": Figure("recommendations", "recommendations", len(report.actions), "count", rows=len(report.actions)),
        "seats_to_reclaim": Figure("seats_to_reclaim", "seats to reclaim", len(report.reclaim), "count", good="down",
                                   rows=len(report.reclaim)),
    }
    actions: list[Action] = []
    floor = params.utilisation_floor
    calendar = report.calendar if team == ORGANISATION else report.calendar[report.calendar["owner_team"] == team]
    if len(unused):
        # The organisation's report names them per owning team, so each list is the one that
        # team's own report names (one problem, one subject, one row on the actions page) and
        # the tools no product team owns (IT's) are a list of their own.
        groups = [unused] if team != ORGANISATION else [g for _, g in unused.groupby("owner_team", sort=True)]
        actions += [_unused_action(group, calendar, params, team) for group in groups]
    urgent = calendar[(calendar["days_to_renewal"] <= params.review_days) & (calendar["utilisation"] < floor)
                      & ~calendar["tool"].isin(unused["tool"])]
    for tool in urgent.itertuples():
        actions.append(Action(
            "tools.review_before_renewal", tool.tool, Severity.HIGH,
            f"{tool.tool} renews on {tool.renewal_date:%d %b %Y}, in {count_words(tool.days_to_renewal, 'days')}, with only "
            f"{tool.utilisation:.0%} of its {plural(f'{tool.seats:,} seats', tool.seats)} engaged: review it before renewing "
            f"({short_money(tool.annual_cost)} a year, {short_money(tool.idle_spend)} of it idle).",
            money=float(tool.idle_spend), figures=("idle_spend",),
        ))
    # The largest idle spends are named with their money; smaller ones are in the recommendations table.
    large = owned[(owned["utilisation"] < floor) & ~owned["unused"] & ~owned["too_early"]
                  & (owned["idle_spend"] >= params.rightsize_action_money)
                  & ~owned["tool"].isin(urgent["tool"])].sort_values("idle_spend", ascending=False)
    for tool in large.itertuples():
        owner = f" (owner: {tool.owner_team})" if team == ORGANISATION else ""
        idle_seats = int(tool.seats - tool.engaged)
        # Money ranks actions within a severity only; an idle spend this large is as urgent as a
        # tool nobody uses, so it is not ranked below smaller high-severity sums.
        severity = Severity.HIGH if tool.idle_spend >= params.high_money else Severity.MEDIUM
        actions.append(Action(
            "tools.rightsize", tool.tool, severity,
            f"{tool.tool}{owner} has only {tool.engaged:,} of its {plural(f'{tool.seats:,} seats', tool.seats)} engaged "
            f"({tool.utilisation:.0%}, floor {floor:.0%}): "
            f"rightsizing it to the seats in use would save {short_money(tool.idle_spend)} a year "
            f"({plural(f'{idle_seats:,} idle seats', idle_seats)} at {short_money(tool.cost_per_seat)} each).",
            money=float(tool.idle_spend), figures=("idle_spend",),
        ))
    for row in report.overlap.itertuples():
        owner = "" if team != ORGANISATION else f"Team {row.team}: "
        # The kept tool and each to drop: a tool's own name may hold a comma ("Acme, Inc. Chat").
        count = len(row.drops) + 1
        # Tools compared by category may do different jobs: the sentence says so.
        caveat = ""
        if row.no_function:
            which = "them" if len(row.no_function) == count else _and(row.no_function)
            caveat = f" (compared by category: the tools table gives {which} no function; check they do the same job first)"
        actions.append(Action(
            "tools.consolidate", f"{row.team}: {row.function}", Severity.MEDIUM,
            f"{owner}{count} tools for {row.function} ({row.tools}; {plural(f'{row.seats:,} seats', row.seats)}, "
            f"{short_money(row.allocated_cost)} a year): consolidating onto {row.keep} could save {short_money(row.money)} a year"
            f"{caveat}.",
            money=float(row.money),
        ))
    costs = report.costs
    flagged = costs[costs["ratio_to_others"] > params.cost_ratio_alert]
    if team != ORGANISATION:
        flagged = flagged[flagged["team"] == team]
    for row in flagged.itertuples():
        who = "This team pays" if team != ORGANISATION else f"Team {row.team} pays"
        idle, seats = int(row.seats - row.engaged), int(row.seats)
        actions.append(Action(
            "tools.cost_per_engaged_user", row.team, Severity.MEDIUM,
            f"{who} {short_money(row.cost_per_engaged)} a year per engaged user, {row.ratio_to_others:.1f}x the median of "
            f"the other teams ({short_money(row.others_median)}); {idle:,} of its {plural(f'{seats:,} seats', seats)} "
            f"{'was' if idle == 1 else 'were'} not used in the last {count_words(params.engaged_days, 'days')}.",
        ))
    notes: list[str] = []
    idle = figures["idle_spend"]
    if idle.value is not None:
        whose = "the tools this team owns" if team != ORGANISATION else "all tools"
        licences = int(measured["seats"].sum())
        notes.append(f"Yearly idle spend {figure_value(idle)} on {whose} ({plural(f'{len(measured)} tools', len(measured))} with licences, "
                     f"{int(measured['engaged'].sum()):,} of {plural(f'{licences:,} seats', licences)} engaged).")
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
        notes.append(f"{figure_text(count)}{scope} {'puts' if count.value == 1 else 'put'} {figure_value(money)} a year at stake "
                     "(the recommendations table).")
    if len(report.reclaim):
        notes.append(f"{figure_text(figures['seats_to_reclaim'])}: assigned over {count_words(params.new_days, 'days')} ago and not used "
                     f"in the last {count_words(params.engaged_days, 'days')} (the seats-to-reclaim table).")
    early = owned[owned["too_early"]]
    if len(early):
        count = len(early)
        notes.append(f"Too early to judge: {_and(tuple(early['tool']))}, whose assigned seats were all assigned under "
                     f"{count_words(params.new_days, 'days')} ago, so {'none is' if count > 1 else 'it is not'} counted as "
                     "unused or to rightsize yet.")
    if report.unknown_coexist:
        count = len(report.unknown_coexist)
        notes.append(f"Params tools.coexist names {plural(f'{count} tools', count)} not in the tools table "
                     f"({', '.join(report.unknown_coexist)}): check the spelling; a tool misspelt there is still counted in overlaps.")
    if not actions and not notes:
        notes.append(f"No licences for the {plural(f'{len(owned)} tools', len(owned))} this team owns, so their use cannot be measured."
                     if len(owned) else "No tools or seats for this team in the workspace.")
    return AreaResult(figures, ("idle_spend",), tuple(actions), tuple(notes))


# How the notebook shows the inventory: the columns every scope has, then the scope's own. The
# function says what a tool does (its category is in the overlap table); kept narrow for the page.
INVENTORY_COLUMNS = [
    ("tool", "Tool", "text"),
    ("function", "Function", "text"),
    ("seats", "Seats", "int"),
    ("engaged", "Engaged", "int"),
    ("utilisation", "Utilisation", "pct"),
    ("annual_cost", "Annual cost", "money"),
    ("cost_per_engaged", "Per engaged user", "money"),
    ("idle_spend", "Idle spend", "money"),
    ("renewal_date", "Renews", "date"),
]
OWNER_COLUMN = ("owner_team", "Owner", "text")

# The seats to reclaim, as the notebook shows them.
RECLAIM_COLUMNS = [
    ("tool", "Tool", "text"),
    ("user_id", "User", "text"),
    ("team", "Team", "text"),
    ("assigned_at", "Assigned", "date"),
    ("last_used", "Last active", "text"),
    ("cost_per_seat", "Seat cost a year", "money"),
]


# The other tables, as the notebook and the explorer both show them.
SEGMENT_COLUMNS = [("segment", "Seat segment", "text"), ("seats", "Seats", "int")]
CALENDAR_COLUMNS = [("tool", "Tool", "text"), ("owner_team", "Owner", "text"), ("renewal_date", "Renews", "date"),
                    ("days_to_renewal", "Days left", "int"), ("window", "Window", "text"), ("utilisation", "Utilisation", "pct"),
                    ("annual_cost", "Annual cost", "money")]
COST_COLUMNS = [("team", "Team", "text"), ("tools", "Tools", "int"), ("seats", "Seats", "int"), ("engaged", "Engaged", "int"),
                ("allocated_cost", "Annual cost", "money"), ("cost_per_engaged", "Per engaged user", "money"),
                ("ratio_to_others", "Times the others' median", "num1")]
OVERLAP_COLUMNS = [("team", "Team", "text"), ("function", "Function", "text"), ("category", "Category", "text"), ("tools", "Tools", "text"),
                   ("seats", "Seats", "int"), ("keep", "Most used", "text"), ("money", "Could save", "money")]
OVERLAP_CAPTION = "Overlap: more than one tool doing the same job in one team"
RECOMMENDATION_COLUMNS = [("action", "Action", "text"), ("subject", "Tool", "text"), ("reason", "Why", "text"),
                          ("money", "At stake per year", "money")]
UTILISATION_COLUMNS = [("tool", "Tool", "text"), ("seats", "Seats", "int"), ("engaged", "Engaged", "int"), ("utilisation", "Utilisation", "pct")]
IDLE_SEAT_COLUMNS = [("tool", "Tool", "text"), ("user_id", "User", "text"), ("team", "Team", "text"), ("state", "Why idle", "text"),
                     ("licences", "Licences", "int"), ("idle_spend", "Idle spend a year", "money")]


def recommendation_totals(report: ToolsReport) -> dict[str, float | None]:
    """The recommendations table's total: the summary's money at stake, the very figure."""
    return {"money": report.result.figures["money_at_stake"].value if report.result else float(report.actions["money"].sum())}


def idle_seats(report: ToolsReport) -> pd.DataFrame:
    """The seats behind the yearly idle spend: per tool the team owns with idle licences, each
    assigned seat not engaged (at the tool's cost per seat) and one row for the licences bought
    and never assigned, so the rows add up to the figure: (licences - engaged) x cost per seat."""
    rows = []
    measured = report.owned[report.owned["idle_spend"].notna() & (report.owned["idle_spend"] > 0)]
    seats = report.owned_seats
    for tool in measured.itertuples():
        mine = seats[(seats["tool"] == tool.tool) & ~seats["engaged"].astype(bool)] if len(seats) else seats
        for seat in mine.sort_values(["team", "user_id"]).itertuples():
            state = "never used" if pd.isna(seat.last_active_at) else f"last active {format_value(seat.last_active_at, 'date')}"
            rows.append({"tool": tool.tool, "user_id": seat.user_id, "team": seat.team, "state": state,
                         "licences": 1, "idle_spend": float(tool.cost_per_seat)})
        unassigned = int(tool.seats) - int(tool.assigned)
        if unassigned:
            # Seats assigned beyond the licences bought count back here, so the tool's rows add up.
            what = "licences never assigned" if unassigned > 0 else "seats assigned beyond the licences bought"
            rows.append({"tool": tool.tool, "user_id": "", "team": "", "state": what,
                         "licences": unassigned, "idle_spend": float(unassigned * tool.cost_per_seat)})
    return pd.DataFrame(rows, columns=[c for c, _, _ in IDLE_SEAT_COLUMNS])


def scope_columns(report: ToolsReport, owned: bool = True) -> list[tuple[str, str, str]]:
    """The team's own seat columns in a team report (with the owner for tools other teams own);
    the owner and how many teams use each tool in the organisation's."""
    if report.scope == ORGANISATION:
        return [OWNER_COLUMN, ("teams_using", "Teams using", "int")]
    team = [("team_assigned", "Team seats", "int"), ("team_engaged", "Team engaged", "int"), ("team_allocated_cost", "Team cost", "money")]
    return team if owned else [OWNER_COLUMN, *team]


def inventory_tables(report: ToolsReport) -> list[tuple[pd.DataFrame, list[tuple[str, str, str]], str, dict[str, float] | None]]:
    """The inventory as (rows, columns, caption, totals): the tools in scope with their total (the
    summary's idle spend, the very figure), then, for a team, the tools its people use from other teams."""
    figure = report.result.figures["idle_spend"] if report.result else None
    totals = {"annual_cost": float(report.owned["annual_cost"].sum()), "idle_spend": figure.value if figure else None}
    if report.scope == ORGANISATION:
        return [(report.owned, INVENTORY_COLUMNS + scope_columns(report), "", totals)]
    others = report.inventory[~report.inventory["tool"].isin(report.owned["tool"])].reset_index(drop=True)
    return [(report.owned, INVENTORY_COLUMNS + scope_columns(report), "Tools this team owns", totals),
            (others, INVENTORY_COLUMNS + scope_columns(report, owned=False), "Tools its people use, owned by other teams", None)]


def reclaim_rows(report: ToolsReport) -> pd.DataFrame:
    """The seats to reclaim with ``last_used``: the day last active, or "never"."""
    last = report.reclaim["last_active_at"]
    return report.reclaim.assign(last_used=[format_value(v, "date") if not pd.isna(v) else "never" for v in last])


def function_note(report: ToolsReport) -> str:
    """What overlap compares, said when some tools in scope have no function in the tools table."""
    if not report.by_category:
        return ""
    count = len(report.by_category)
    return (f"{plural(f'{count} tools', count)} in scope {'have' if count > 1 else 'has'} no function in the tools table "
            f"({', '.join(report.by_category[:8])}{', ...' if count > 8 else ''}): overlap compares {'them' if count > 1 else 'it'} "
            "by category, which can group tools that do different jobs. Add a 'function' column (chat, crm, call recording...) "
            "to compare like with like.")


def report(ctx: ReportContext) -> ToolsReport:
    """Read the tool inventory and every seat, and compute the Tools area for the team (or ``all``)."""
    return build_report(
        tools=ctx.read("tools", whole_organisation=True),
        seats=ctx.read("tool_seats", whole_organisation=True),
        params=ctx.params.tools,
        period=ctx.period,
        team=ctx.params.team,
    )


# Tools are bought per team, never per product; seats are judged on the period's last day.
_NO_PRODUCT = "tools are bought and used per team, not per product"
_AT_END = "seats, renewals and costs are judged as of that day"


def explorer_views() -> dict[str, Any]:
    """The explorer's views: the report's sections, with its columns (see :mod:`playbook.widgets`)."""
    from playbook import plots
    from playbook.widgets import Chart, View, table

    def view(draw: Any) -> View:
        return View(draw, ignores={"product": _NO_PRODUCT}, period_end=_AT_END)

    return {
        "Recommendations": view(lambda ctx, r: table(r.actions, RECOMMENDATION_COLUMNS, totals=recommendation_totals(r))),
        "Inventory": view(lambda ctx, r: [table(*parts) for parts in inventory_tables(r)]),
        "Utilisation": view(lambda ctx, r: Chart(plots.plot_utilisation(r.inventory, ctx.params.tools.utilisation_floor,
                                                                        f"Seat utilisation, {ctx.params.name}"),
                                                 table(r.inventory, UTILISATION_COLUMNS))),
        "Seat segments": view(lambda ctx, r: table(r.segments, SEGMENT_COLUMNS, "Seats by segment")),
        "Renewal calendar": view(lambda ctx, r: table(r.calendar, CALENDAR_COLUMNS)),
        "Cost per engaged user": view(lambda ctx, r: table(r.costs, COST_COLUMNS)),
        "Overlap": view(lambda ctx, r: table(r.overlap, OVERLAP_COLUMNS, OVERLAP_CAPTION)),
        "Seats to reclaim": view(lambda ctx, r: table(reclaim_rows(r), RECLAIM_COLUMNS)),
    }


def drilldowns() -> dict[str, Any]:
    """The rows behind the area's figures (see :mod:`playbook.drill`)."""
    from playbook.drill import Drill

    same = {"ignores": {"product": _NO_PRODUCT}, "period_end": _AT_END}
    return {
        "idle_spend": Drill(lambda ctx, r: idle_seats(r), IDLE_SEAT_COLUMNS, "sum", "idle_spend",
                            why="each idle seat of the tools this report owns, and the licences never assigned", **same),
        "unused_spend": Drill(lambda ctx, r: r.owned[r.owned["unused"]], INVENTORY_COLUMNS, "sum", "annual_cost",
                              why="the tools with licences and no engaged seat", **same),
        "money_at_stake": Drill(lambda ctx, r: r.actions, RECOMMENDATION_COLUMNS, "sum", "money", why="the recommendations", **same),
        "seats_to_reclaim": Drill(lambda ctx, r: reclaim_rows(r), RECLAIM_COLUMNS, "count", why="each seat to reclaim", **same),
    }
