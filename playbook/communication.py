"""Cross-communication: requests from the rest of the company, release-note reach, and digests.

Few vendors publish formulas here, so each definition is stated in the report as well
(DESIGN.md section 5, "communication"; anchors: intake SLAs, Pendo release-note reach):

- Request times: hours from ``opened_at`` to the first response (closing counts as one when no
  response was recorded) and to closing. Medians and
  90th percentiles cover the requests opened in the period that got one. A request is *overdue*
  when, at the period end, it has waited longer than the intake SLA (params) for a first
  response, or longer than the closing SLA to be closed.
- Reach = opened / recipients, per release, audience and channel.
- Coverage = audiences reached / audiences the release's tier requires (params); the audiences a
  release never reached are listed.
- Digest per audience (revenue, support, success): what shipped in the period (releases), what
  is coming (roadmap items planned or in progress), known issues (open P1/P2 escalations and
  S1/S2 bugs, where those tables exist).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from playbook.config import CommunicationParams
from playbook.period import Period, day_end
from playbook.figures import Action, AreaResult, Figure, Severity
from playbook.views import count_words, figure_change, figure_value
from playbook.roadmap import with_releases

if TYPE_CHECKING:
    from playbook.context import ReportContext


def request_times(requests: pd.DataFrame, end: date, params: CommunicationParams) -> pd.DataFrame:
    """Each request with hours to first response and to close (as known at the end), open and overdue flags."""
    now = day_end(end)
    closed = requests["closed_at"].where(requests["closed_at"] < now)
    # A request closed without a recorded first response was answered by closing it.
    first = requests["first_response_at"].where(requests["first_response_at"] < now).fillna(closed)
    waited = (now - requests["opened_at"]).dt.total_seconds() / 3600
    table = requests[requests["opened_at"] < now].assign(
        hours_to_first_response=(first - requests["opened_at"]).dt.total_seconds() / 3600,
        hours_to_close=(closed - requests["opened_at"]).dt.total_seconds() / 3600,
        waiting_hours=waited,
        is_open=closed.isna(),
    )
    # Only a request still open at the end can be overdue: one closed without a recorded first
    # response was answered by closing it.
    unanswered = table["is_open"] & table["hours_to_first_response"].isna() & (table["waiting_hours"] > params.first_response_hours)
    unclosed = table["is_open"] & (table["waiting_hours"] > params.close_hours)
    return table.assign(overdue=unanswered | unclosed)


def requests_by_group(requests: pd.DataFrame, period: Period, params: CommunicationParams) -> pd.DataFrame:
    """Per requesting group: for requests opened in the period, volume, median and p90 hours to first
    response and to close and the share answered within the SLA; and how many of all its requests
    are open or overdue at the period end, whenever they were opened."""
    timed = request_times(requests, period.end, params)
    opened = timed[timed["opened_at"] >= pd.Timestamp(period.start)]
    # Open and overdue count every request at the period end, whenever it was opened: the same
    # rows as the overdue list and the summary's figure.
    now_open = timed.groupby("from_group")["is_open"].sum()
    now_overdue = timed.groupby("from_group")["overdue"].sum()
    rows = []
    for group in sorted(set(opened["from_group"]) | set(timed.loc[timed["is_open"], "from_group"])):
        part = opened[opened["from_group"] == group]
        first, close = part["hours_to_first_response"], part["hours_to_close"]
        answered = first.notna() | (part["waiting_hours"] > params.first_response_hours)
        within = (first <= params.first_response_hours).sum()
        rows.append(
            {
                "from_group": group,
                "requests": len(part),
                "median_first_response": first.median(),
                "p90_first_response": first.quantile(0.9),
                "median_close": close.median(),
                "p90_close": close.quantile(0.9),
                "within_sla": within / answered.sum() if answered.sum() else math.nan,
                "open": int(now_open.get(group, 0)),
                "overdue": int(now_overdue.get(group, 0)),
            }
        )
    columns = ["from_group", "requests", "median_first_response", "p90_first_response", "median_close", "p90_close",
               "within_sla", "open", "overdue"]
    return pd.DataFrame(rows, columns=columns).sort_values("requests", ascending=False, ignore_index=True)


def overdue_requests(requests: pd.DataFrame, end: date, params: CommunicationParams) -> pd.DataFrame:
    """Requests overdue at the period end, longest waiting first."""
    timed = request_times(requests, end, params)
    late = timed[timed["overdue"]].assign(waiting_days=lambda f: f["waiting_hours"] / 24)
    return late.sort_values("waiting_hours", ascending=False, ignore_index=True)


def reach(comms: pd.DataFrame, releases: pd.DataFrame) -> pd.DataFrame:
    """Per release, audience and channel: recipients, opened and reach = opened / recipients."""
    merged = comms.merge(releases[["release_id", "title", "tier", "release_date"]], on="release_id", how="inner")
    table = merged.groupby(["release_id", "title", "tier", "release_date", "audience", "channel"], as_index=False)[["recipients", "opened"]].sum()
    table["reach"] = (table["opened"] / table["recipients"]).where(table["recipients"] > 0)
    return table.sort_values(["release_date", "audience"], ascending=[False, True], ignore_index=True)


def coverage(releases: pd.DataFrame, comms: pd.DataFrame, params: CommunicationParams) -> pd.DataFrame:
    """Per release: the audiences its tier requires, those its notes reached, the missing ones, and coverage."""
    sent = comms[comms["recipients"] > 0].groupby("release_id")["audience"].agg(lambda a: sorted(set(a)))
    rows = []
    for r in releases.itertuples():
        required = sorted(params.required_audiences.get(r.tier, []))
        reached = sent.get(r.release_id, [])
        missing = [a for a in required if a not in reached]
        rows.append(
            {
                "release_id": r.release_id, "title": r.title, "tier": r.tier, "release_date": r.release_date,
                "required": ", ".join(required), "reached": ", ".join(reached) or "none", "missing": ", ".join(missing),
                "coverage": (len(required) - len(missing)) / len(required) if required else math.nan,
            }
        )
    columns = ["release_id", "title", "tier", "release_date", "required", "reached", "missing", "coverage"]
    return pd.DataFrame(rows, columns=columns).sort_values("release_date", ascending=False, ignore_index=True)


@dataclass(frozen=True)
class Digest:
    """What one audience outside product needs to know, readable on its own."""

    audience: str
    groups: list[str]
    shipped: pd.DataFrame
    coming: pd.DataFrame
    issues: pd.DataFrame
    unreached: pd.DataFrame  # shipped releases whose notes reached none of ``groups``; ``required``: its tier requires them


def known_issues(escalations: pd.DataFrame, bugs: pd.DataFrame, end: date) -> pd.DataFrame:
    """Open P1/P2 escalations and S1/S2 bugs at the period end, as one list: the gravest first
    (P1 and S1, then P2 and S2; an escalation before a bug), the oldest first within each. A bug
    that came from an escalation is described by that escalation's title."""
    now = day_end(end)
    rows = []
    titles = dict(zip(escalations["escalation_id"], escalations["title"])) if len(escalations) else {}
    if len(escalations):
        open_esc = escalations[(escalations["opened_at"] < now) & (escalations["resolved_at"].isna() | (escalations["resolved_at"] >= now))]
        for e in open_esc[open_esc["priority"].isin(["P1", "P2"])].itertuples():
            rows.append({"kind": f"escalation {e.priority}", "id": e.escalation_id, "what": f"{e.escalation_id}: {e.title}",
                         "product": e.product, "since": e.opened_at, "_level": int(e.priority[1]), "_bug": 0})
    if len(bugs):
        open_bugs = bugs[(bugs["opened_at"] < now) & (bugs["closed_at"].isna() | (bugs["closed_at"] >= now))]
        for b in open_bugs[open_bugs["severity"].isin(["S1", "S2"])].itertuples():
            source = getattr(b, "escalation_id", None)
            what = f"{b.bug_id}, from escalation {source}: {titles[source]}" if isinstance(source, str) and source in titles else b.bug_id
            rows.append({"kind": f"bug {b.severity}", "id": b.bug_id, "what": what, "product": b.product, "since": b.opened_at,
                         "_level": int(b.severity[1]), "_bug": 1})
    columns = ["kind", "id", "what", "product", "since"]
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(rows).sort_values(["_level", "_bug", "since"], ignore_index=True)[columns]


def digests(
    releases: pd.DataFrame, comms: pd.DataFrame, roadmap: pd.DataFrame, issues: pd.DataFrame, period: Period, params: CommunicationParams
) -> list[Digest]:
    """One digest per audience in params (revenue, support, success)."""
    start, now = period.start_at, period.stop
    shipped = releases[(releases["release_date"] >= start) & (releases["release_date"] < now)]
    # A miss is looked for as far back as the coverage rule looks (lookback_days), so a digest
    # never stays silent about notes its audience was owed and never got.
    recent = releases[(releases["release_date"] >= pd.Timestamp(period.end) - pd.Timedelta(days=params.lookback_days))
                      & (releases["release_date"] < now)]
    coming = roadmap[roadmap["status"].isin(["planned", "in_progress"])][["item_id", "title", "product", "status"]]
    result = []
    for audience, groups in params.digest_audiences.items():
        got = comms[comms["audience"].isin(groups)].groupby("release_id").size()
        unreached = recent[~recent["release_id"].isin(got.index)]
        # Whether the release's tier requires these groups (the coverage rule): a minor release
        # not sent to sales is not a miss, and the digest must not read as one; such a release is
        # mentioned only when it shipped in the period.
        required = pd.Series([bool(set(groups) & set(params.required_audiences.get(tier, []))) for tier in unreached["tier"]],
                             index=unreached.index, dtype=bool)
        unreached = unreached.assign(required=required)[required | unreached["release_id"].isin(shipped["release_id"])]
        result.append(Digest(audience, list(groups), shipped.reset_index(drop=True), coming.reset_index(drop=True), issues, unreached.reset_index(drop=True)))
    return result


@dataclass(frozen=True)
class CommunicationReport:
    """Everything the communication notebook shows for one team, computed once."""

    requests: pd.DataFrame
    overdue: pd.DataFrame
    reach: pd.DataFrame
    coverage: pd.DataFrame
    digests: list[Digest]
    overdue_before: int | None = None
    result: AreaResult | None = None


def build_report(
    requests: pd.DataFrame,
    releases: pd.DataFrame,
    comms: pd.DataFrame,
    roadmap: pd.DataFrame,
    escalations: pd.DataFrame,
    bugs: pd.DataFrame,
    params: CommunicationParams,
    period: Period,
) -> CommunicationReport:
    """Compute the communication area for one team (all frames already narrowed to the team)."""
    recent = releases[releases["release_date"] >= pd.Timestamp(period.end) - pd.Timedelta(days=params.lookback_days)]
    report = CommunicationReport(
        requests=requests_by_group(requests, period, params),
        overdue=overdue_requests(requests, period.end, params),
        reach=reach(comms, recent),
        coverage=coverage(recent, comms, params),
        digests=digests(releases, comms, roadmap, known_issues(escalations, bugs, period.end), period, params),
        overdue_before=len(overdue_requests(requests, period.previous().end, params)),
    )
    return replace(report, result=summarise(report, params))


def summarise(report: CommunicationReport, params: CommunicationParams) -> AreaResult:
    """The figures (overdue requests, releases that missed an audience, reach) and the actions."""
    missed = report.coverage[report.coverage["missing"] != ""]
    figures = {
        "overdue_requests": Figure("overdue_requests", "overdue requests", len(report.overdue), "count",
                                   previous=report.overdue_before, good="down", rows=len(report.overdue)),
        "releases_missed": Figure("releases_missed", "releases missed an audience", len(missed), "count", good="down", rows=len(report.coverage)),
    }
    if len(report.reach) and report.reach["recipients"].sum() > 0:
        figures["reach"] = Figure("reach", "release-note reach", report.reach["opened"].sum() / report.reach["recipients"].sum(),
                                  "percent", good="up", rows=len(report.reach))
    actions = []
    sla = params.first_response_hours
    for row in report.requests.itertuples():
        if not np.isnan(row.median_first_response) and row.median_first_response > params.slow_ratio_alert * sla:
            actions.append(Action(
                "communication.slow_first_response", row.from_group, Severity.MEDIUM,
                f"Requests from {row.from_group} wait {row.median_first_response:.0f} hours for a first response (median of "
                f"{row.requests} requests; 90th percentile {row.p90_first_response:.0f} hours), {row.median_first_response / sla:.1f}x the "
                f"{sla:g}-hour intake SLA.",
            ))
    for row in missed.itertuples():
        actions.append(Action(
            "communication.release_unreached", row.release_id, Severity.HIGH if row.tier == "major" else Severity.MEDIUM,
            f"The {row.tier} release {row.title} ({row.release_id}, {row.release_date:%d %b %Y}) never reached {row.missing}: "
            f"its notes went to {row.reached} only.", figures=("releases_missed",),
        ))
    overdue = figures["overdue_requests"]
    if overdue.value:
        change = figure_change(overdue)
        actions.append(Action(
            "communication.overdue_requests", "requests", Severity.MEDIUM,
            f"{figure_value(overdue)} {'request is' if overdue.value == 1 else 'requests are'} overdue at the period end"
            f"{f' ({change})' if change else ''}; the oldest has waited {count_words(report.overdue['waiting_days'].iloc[0], 'days')}.",
            figures=("overdue_requests",),
        ))
    notes = []
    if "reach" in figures:
        notes.append(f"Release notes in the last {params.lookback_days} days were opened by {figure_value(figures['reach'])} of their recipients.")
    if not actions and not notes:
        notes.append("No requests or releases for this team in the period.")
    return AreaResult(figures, ("overdue_requests", "releases_missed"), tuple(actions), tuple(notes))


OVERDUE_SHOWN = 15


def overdue_caption(overdue: pd.DataFrame) -> str:
    """The overdue list's caption, saying when it shows only the longest-waiting part."""
    if len(overdue) > OVERDUE_SHOWN:
        return f"Overdue requests: the {OVERDUE_SHOWN} longest-waiting of {len(overdue):,}"
    return "Overdue requests, longest waiting first"


REQUEST_COLUMNS = [
    ("from_group", "From", "text"),
    ("requests", "Requests", "int"),
    ("median_first_response", "Median first response (h)", "num1"),
    ("p90_first_response", "90th pct first response (h)", "num1"),
    ("median_close", "Median to close (h)", "num1"),
    ("p90_close", "90th pct to close (h)", "num1"),
    ("within_sla", "Answered within SLA", "pct"),
    ("open", "Open", "int"),
    ("overdue", "Overdue", "int"),
]


def report(ctx: ReportContext) -> CommunicationReport:
    """Read the team's requests, releases, release notes, roadmap and known issues, and compute the area."""
    releases = ctx.read("releases")
    comms = ctx.read("release_comms")
    return build_report(
        requests=ctx.read("stakeholder_requests"),
        releases=releases,
        comms=comms[comms["release_id"].isin(releases["release_id"])],
        roadmap=with_releases(ctx.read("roadmap"), releases, ctx.read("features"), ctx.period.end),
        escalations=ctx.read("escalations"),
        bugs=ctx.read("bugs"),
        params=ctx.params.communication,
        period=ctx.period,
    )


OVERDUE_COLUMNS = [("request_id", "Request", "text"), ("from_group", "From", "text"), ("topic", "Topic", "text"), ("opened_at", "Opened", "date"),
                   ("waiting_days", "Waiting (days)", "num1")]
COVERAGE_COLUMNS = [("release_id", "Release", "text"), ("title", "Title", "text"), ("tier", "Tier", "text"), ("release_date", "Released", "date"),
                    ("reached", "Reached", "text"), ("missing", "Never reached", "text"), ("coverage", "Coverage", "pct")]
REACH_COLUMNS = [("title", "Release", "text"), ("audience", "Audience", "text"), ("channel", "Channel", "text"), ("recipients", "Recipients", "int"),
                 ("opened", "Opened", "int"), ("reach", "Reach", "pct")]

# Requests come to a team, not to a product; release notes are judged over a window ending on the period's last day.
_NO_PRODUCT = "requests are made to a team, not about one product"
_LOOKBACK = "the releases of the lookback_days (params) before it are checked"


def explorer_views() -> dict[str, Any]:
    """The explorer's views: the report's sections, with its columns (see :mod:`playbook.widgets`)."""
    from playbook import plots
    from playbook.display import digests_html
    from playbook.widgets import Chart, Markup, View, table

    def digest_view(ctx: Any, r: CommunicationReport) -> Any:
        return Markup("".join(digests_html(r.digests, ctx.params.name, ctx.period.label())))

    def waits(ctx: Any, r: CommunicationReport) -> Any:
        sla = ctx.params.communication.first_response_hours
        return Chart(plots.plot_request_waits(r.requests, sla, "Wait for a first response, by group"), table(r.requests, REQUEST_COLUMNS))

    return {
        "Digests": View(digest_view),
        "Requests by group": View(waits, ignores={"product": _NO_PRODUCT}),
        "Requests table": View(lambda ctx, r: table(r.requests, REQUEST_COLUMNS), ignores={"product": _NO_PRODUCT}),
        "Overdue requests": View(lambda ctx, r: table(r.overdue.head(OVERDUE_SHOWN), OVERDUE_COLUMNS, overdue_caption(r.overdue)),
                                 ignores={"product": _NO_PRODUCT}, period_end="a request is overdue on that day"),
        "Release-note coverage": View(lambda ctx, r: table(r.coverage, COVERAGE_COLUMNS), period_end=_LOOKBACK),
        "Reach by audience and channel": View(lambda ctx, r: table(r.reach, REACH_COLUMNS, "Reach by audience and channel"),
                                              period_end=_LOOKBACK),
    }


def drilldowns() -> dict[str, Any]:
    """The rows behind the area's figures (see :mod:`playbook.drill`)."""
    from playbook.drill import Drill

    return {
        "overdue_requests": Drill(lambda ctx, r: r.overdue, OVERDUE_COLUMNS, "count", why="each request past its SLA at the period end",
                                  ignores={"product": _NO_PRODUCT}, period_end="a request is overdue on that day"),
        "releases_missed": Drill(lambda ctx, r: r.coverage[r.coverage["missing"] != ""], COVERAGE_COLUMNS, "count",
                                 why="each release an audience its tier requires never got notes for", period_end=_LOOKBACK),
        "reach": Drill(lambda ctx, r: r.reach, REACH_COLUMNS, "ratio", "opened", "recipients",
                       why="release notes sent, by audience and channel: opened over recipients", period_end=_LOOKBACK),
    }
