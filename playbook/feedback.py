"""Feedback & NPS: the score and where it is heading, what detractors talk about, what customers ask for.

Definitions (DESIGN.md section 5, "feedback"; anchors: Pendo NPS and Feedback, Productboard,
Canny, PostHog surveys):

- NPS = %promoters (9-10) - %detractors (0-6) with a 95% interval, see :func:`playbook.stats.nps`;
  the change between two periods carries its own interval (:func:`playbook.stats.nps_change`).
- Verbatim themes are keyword rules from params: a comment belongs to every theme one of whose
  keywords it contains as a whole word, case-insensitively; a comment matching none is "other".
- Feature demand counts each account once per roadmap item (Productboard's and Canny's
  convention) and weights it by the account's ARR; churned accounts carry no ARR.
- RICE = reach x impact x confidence / effort (Intercom's prioritisation score).

Every function is pure: frames in, new frames or dataclasses out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from playbook import stats
from playbook.config import FeedbackParams
from playbook.period import Period
from playbook.figures import Action, AreaResult, Figure, Severity
from playbook.views import figure_value, short_money
from playbook.roadmap import with_releases
from playbook.context import trend_window

if TYPE_CHECKING:
    from playbook.context import ReportContext

GROUPS = ("promoter", "passive", "detractor")
OTHER_THEME = "other"


def add_groups(responses: pd.DataFrame) -> pd.DataFrame:
    """The responses with a ``group`` column: promoter (9-10), passive (7-8) or detractor (0-6)."""
    score = responses["score"]
    group = np.select([score >= stats.PROMOTER_MIN, score <= stats.DETRACTOR_MAX], ["promoter", "detractor"], "passive")
    return responses.assign(group=pd.Categorical(group, categories=GROUPS))


def _nps_row(scores: pd.Series, confidence: float) -> dict[str, float]:
    result = stats.nps(scores.to_numpy(), confidence)
    return {
        "responses": result.n,
        "promoters": result.promoter_share,
        "passives": result.passive_share,
        "detractors": result.detractor_share,
        "nps": result.score,
        "low": result.low,
        "high": result.high,
    }


def nps_by(responses: pd.DataFrame, column: str, confidence: float = 0.95) -> pd.DataFrame:
    """NPS with its interval for each value of ``column`` (segment, plan, product...), largest first."""
    if responses.empty:
        return pd.DataFrame(columns=[column, "responses", "promoters", "passives", "detractors", "nps", "low", "high"])
    rows = [{column: key, **_nps_row(group["score"], confidence)} for key, group in responses.groupby(column, sort=True)]
    return pd.DataFrame(rows).sort_values(["responses", column], ascending=[False, True], ignore_index=True)


def nps_trend(responses: pd.DataFrame, period: Period, freq: str = "week", periods: int = 12, confidence: float = 0.95) -> pd.DataFrame:
    """NPS per week (weeks start on Monday) or calendar month, for the ``periods`` buckets ending with ``period.end``.

    Buckets with no responses are kept, with NaN figures, so gaps show as gaps.
    """
    alias = "W-SUN" if freq == "week" else "M"
    end_bucket = pd.Period(period.end, freq=alias)
    buckets = pd.period_range(end=end_bucket, periods=periods, freq=alias)
    keyed = responses.assign(bucket=responses["submitted_at"].dt.to_period(alias))
    rows = []
    for bucket in buckets:
        scores = keyed.loc[keyed["bucket"] == bucket, "score"]
        rows.append({"start": bucket.start_time.normalize(), **_nps_row(scores, confidence)})
    return pd.DataFrame(rows)


def arr_by_group(responses: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """ARR of the responding accounts by NPS group, each account placed by its latest answer."""
    latest = (
        add_groups(responses)
        .sort_values("submitted_at", kind="stable")
        .drop_duplicates("account_id", keep="last")
        .merge(accounts[["account_id", "arr"]], on="account_id", how="left")
        .assign(arr=lambda f: f["arr"].fillna(0.0))
    )
    table = (
        latest.groupby("group", observed=False)
        .agg(accounts=("account_id", "nunique"), arr=("arr", "sum"))
        .reindex(list(GROUPS), fill_value=0)
        .reset_index()
    )
    total = table["arr"].sum()
    return table.assign(share=table["arr"] / total if total else np.nan)


def _theme_pattern(keywords: list[str]) -> re.Pattern[str]:
    words = sorted((re.escape(k.strip().lower()) for k in keywords), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(words) + r")(?!\w)", re.IGNORECASE)


def tag_themes(responses: pd.DataFrame, rules: dict[str, list[str]], text_column: str = "comment") -> pd.DataFrame:
    """One row per (response, theme) for responses with text; unmatched text is tagged "other".

    Returns a frame with ``response_id`` and ``theme``.
    """
    with_text = responses.loc[responses[text_column].fillna("").str.strip() != "", ["response_id", text_column]]
    if with_text.empty:
        return pd.DataFrame({"response_id": pd.Series(dtype=object), "theme": pd.Series(dtype=object)})
    parts = []
    for theme, keywords in rules.items():
        hit = with_text[text_column].str.contains(_theme_pattern(keywords), regex=True)
        parts.append(pd.DataFrame({"response_id": with_text.loc[hit, "response_id"], "theme": theme}))
    tagged = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["response_id", "theme"])
    untagged = with_text.loc[~with_text["response_id"].isin(tagged["response_id"]), ["response_id"]]
    return pd.concat([tagged, untagged.assign(theme=OTHER_THEME)], ignore_index=True)


def theme_by_group(responses: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    """For each theme and NPS group: comments that mention it and their share of that group's comments."""
    grouped = add_groups(responses)[["response_id", "group"]]
    commented = grouped[grouped["response_id"].isin(tags["response_id"])]
    per_group = commented.groupby("group", observed=False).size()
    counts = (
        tags.merge(grouped, on="response_id")
        .groupby(["theme", "group"], observed=False)
        .size()
        .rename("comments")
        .reset_index()
    )
    counts["share"] = [c / per_group[g] if per_group.get(g, 0) else np.nan for c, g in zip(counts["comments"], counts["group"])]
    return counts.sort_values(["group", "comments", "theme"], ascending=[True, False, True], ignore_index=True)


@dataclass(frozen=True)
class ThemeFinding:
    """The theme most mentioned by one NPS group, and the runner-up for contrast."""

    group: str
    theme: str | None
    comments: int
    share: float
    group_comments: int
    runner_up: str | None = None
    runner_up_share: float = math.nan


def dominant_theme(table: pd.DataFrame, group: str = "detractor") -> ThemeFinding:
    """The named theme (not "other") with the most comments in ``group``."""
    rows = table[(table["group"] == group) & (table["theme"] != OTHER_THEME) & (table["comments"] > 0)]
    rows = rows.sort_values(["comments", "theme"], ascending=[False, True])
    total = int(round(rows["comments"].iloc[0] / rows["share"].iloc[0])) if len(rows) else 0
    if rows.empty:
        return ThemeFinding(group, None, 0, math.nan, total)
    top = rows.iloc[0]
    second = rows.iloc[1] if len(rows) > 1 else None
    return ThemeFinding(
        group,
        str(top["theme"]),
        int(top["comments"]),
        float(top["share"]),
        total,
        None if second is None else str(second["theme"]),
        math.nan if second is None else float(second["share"]),
    )


def theme_quotes(responses: pd.DataFrame, tags: pd.DataFrame, theme: str, group: str, n: int = 3) -> pd.DataFrame:
    """The ``n`` most recent comments of ``group`` tagged with ``theme``, distinct texts only."""
    ids = tags.loc[tags["theme"] == theme, "response_id"]
    picked = add_groups(responses)
    picked = picked[picked["response_id"].isin(ids) & (picked["group"] == group)]
    picked = picked.sort_values("submitted_at", ascending=False).drop_duplicates("comment")
    return picked.head(n)[["submitted_at", "product", "score", "comment"]].reset_index(drop=True)


def rice(roadmap: pd.DataFrame) -> pd.Series:
    """RICE = reach x impact x confidence / effort, per roadmap item."""
    return roadmap["reach"] * roadmap["impact"] * roadmap["confidence"] / roadmap["effort"]


def feature_demand(feedback: pd.DataFrame, accounts: pd.DataFrame, roadmap: pd.DataFrame) -> pd.DataFrame:
    """Customer demand per roadmap item beside its RICE score, ranked by ARR-weighted demand.

    ``requests`` counts feedback rows, ``accounts`` counts each account once, ``arr`` sums the
    ARR of those accounts (churned accounts count zero). Ranks are 1 = highest; ties share the
    better rank. Items nobody asked for are kept with zero demand.
    """
    live = accounts.assign(arr=accounts["arr"].where(accounts["churned_at"].isna(), 0.0))[["account_id", "arr"]]
    linked = feedback.dropna(subset=["roadmap_item_id"])
    per_account = linked.drop_duplicates(["roadmap_item_id", "account_id"]).merge(live, on="account_id", how="left")
    demand = (
        per_account.groupby("roadmap_item_id")
        .agg(accounts=("account_id", "size"), arr=("arr", "sum"))
        .join(linked.groupby("roadmap_item_id").size().rename("requests"))
    )
    table = (
        roadmap.assign(rice=rice(roadmap))
        .merge(demand, left_on="item_id", right_index=True, how="left")
        .fillna({"requests": 0, "accounts": 0, "arr": 0.0})
        .astype({"requests": int, "accounts": int})
    )
    table["demand_rank"] = table["arr"].rank(ascending=False, method="min").astype(int)
    table["rice_rank"] = table["rice"].rank(ascending=False, method="min").astype(int)
    columns = ["item_id", "title", "product", "status", "requests", "accounts", "arr", "demand_rank", "rice", "rice_rank"]
    return table.sort_values(["demand_rank", "item_id"], ignore_index=True)[columns]


@dataclass(frozen=True)
class FeedbackReport:
    """Everything the feedback notebook shows, computed once."""

    current: stats.NPSResult
    previous: stats.NPSResult
    change: stats.NPSChange
    trend: pd.DataFrame
    by_segment: pd.DataFrame
    by_plan: pd.DataFrame
    by_product: pd.DataFrame
    arr_split: pd.DataFrame
    themes: pd.DataFrame
    detractor_theme: ThemeFinding
    quotes: pd.DataFrame
    demand: pd.DataFrame
    result: AreaResult | None = None


def build_report(
    current: pd.DataFrame,
    previous: pd.DataFrame,
    history: pd.DataFrame,
    feedback: pd.DataFrame,
    accounts: pd.DataFrame,
    roadmap: pd.DataFrame,
    params: FeedbackParams,
    period: Period,
) -> FeedbackReport:
    """Compute the feedback area for one team.

    Args:
        current, previous: NPS responses in the period and in the equally long period before it.
        history: NPS responses over the trend's window.
        feedback: feedback rows of the team's products (any time: demand accumulates).
        accounts: all accounts (for segment, plan and ARR).
        roadmap: the team's roadmap items.
        params: the area's parameters.
        period: the reporting period.
    """
    conf = params.confidence
    now = stats.nps(current["score"].to_numpy(), conf)
    before = stats.nps(previous["score"].to_numpy(), conf)
    change = stats.nps_change(before, now)
    with_accounts = current.merge(accounts[["account_id", "segment", "plan"]], on="account_id", how="left").fillna(
        {"segment": "unknown", "plan": "unknown"}
    )
    tags = tag_themes(current, params.themes)
    themes = theme_by_group(current, tags)
    finding = dominant_theme(themes, "detractor")
    quotes = (
        theme_quotes(current, tags, finding.theme, "detractor", params.quotes_per_theme)
        if finding.theme
        else theme_quotes(current, tags, OTHER_THEME, "detractor", 0)
    )
    demand = feature_demand(feedback, accounts, roadmap)
    report = FeedbackReport(
        current=now,
        previous=before,
        change=change,
        trend=nps_trend(history, period, params.trend, params.trend_periods, conf),
        by_segment=nps_by(with_accounts, "segment", conf),
        by_plan=nps_by(with_accounts, "plan", conf),
        by_product=nps_by(current, "product", conf),
        arr_split=arr_by_group(current, accounts),
        themes=themes,
        detractor_theme=finding,
        quotes=quotes,
        demand=demand,
    )
    return replace(report, result=summarise(report, params))


def _points(value: float) -> str:
    return f"{value:+.0f}" if round(value) else "0"


def _nps_text(result: stats.NPSResult) -> str:
    level = round(result.confidence * 100)
    return f"{result.score:+.1f} ({level}% interval [{result.low:.1f}, {result.high:.1f}], {result.n:,} responses)"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def summarise(report: FeedbackReport, params: FeedbackParams) -> AreaResult:
    """The figures (NPS, responses, ARR with detractors) and the actions, most urgent first.

    Action is needed when NPS fell by ``params.drop_alert`` points or more; the other sentences
    (themes, demand, ARR with detractors) give the context to act on.
    """
    now, before, change = report.current, report.previous, report.change
    detractor_arr = report.arr_split.set_index("group").loc["detractor"]
    figures = {
        "nps": Figure("nps", "NPS", None if math.isnan(now.score) else now.score, "points",
                      previous=None if math.isnan(before.score) else before.score, good="up", rows=now.n),
        "responses": Figure("responses", "responses", now.n, "count", previous=before.n, rows=now.n),
        "detractor_arr": Figure("detractor_arr", "ARR with detractors", float(detractor_arr["arr"]), "money", good="down",
                                rows=int(detractor_arr["accounts"])),
    }
    actions: list[Action] = []
    notes: list[str] = []
    if now.n == 0:
        notes.append("No NPS responses in this period, so there is no score to report.")
    elif before.n == 0:
        notes.append(f"NPS is {_nps_text(now)}; there were no responses in the previous period to compare with.")
    else:
        overlap = (
            "the two intervals overlap, so the move may be noise"
            if change.intervals_overlap
            else "the two intervals do not overlap"
        )
        if change.change <= -params.drop_alert:
            verb = f"NPS fell by {abs(change.change):.0f} points"
        elif change.change >= params.drop_alert:
            verb = f"NPS rose by {change.change:.0f} points"
        else:
            verb = f"NPS moved by {_points(change.change)} points"
        line = (f"{verb}: from {_nps_text(before)} in the previous period to {_nps_text(now)} in this one; "
                f"change {_points(change.change)} (interval {change.low:.0f} to {change.high:.0f}), {overlap}.")
        if change.change <= -params.drop_alert:
            severity = Severity.MEDIUM if change.intervals_overlap else Severity.HIGH
            actions.append(Action("feedback.nps_drop", "NPS", severity, line, figures=("nps",)))
        else:
            notes.append(line)
    if 0 < now.n < params.min_responses:
        notes.append(f"Only {now.n} responses this period (fewer than {params.min_responses}): treat the score as indicative.")
    finding = report.detractor_theme
    if finding.theme:
        runner = (
            f"; next is {finding.runner_up} at {finding.runner_up_share:.0%}" if finding.runner_up else ""
        )
        notes.append(
            f"Detractors mostly talk about {finding.theme}: {finding.comments} of {finding.group_comments} "
            f"detractor comments ({finding.share:.0%}) mention it{runner}."
        )
    demand = report.demand
    if len(demand) and demand["arr"].iloc[0] > 0:
        top = demand.iloc[0]
        n_items = len(demand)
        rice_note = (
            "and it also leads on RICE"
            if top["rice_rank"] == 1
            else f"yet its RICE score of {top['rice']:,.0f} ranks only {_ordinal(int(top['rice_rank']))} of {n_items}"
        )
        notes.append(
            f"Highest ARR-weighted demand: {top['title']} ({top['item_id']}, {str(top['status']).replace('_', ' ')}), asked for by "
            f"{top['accounts']:,} accounts with {short_money(top['arr'])} ARR, {rice_note}."
        )
    arr = figures["detractor_arr"]
    if arr.value:
        notes.append(
            f"{figure_value(arr)} of ARR ({detractor_arr['share']:.0%} of respondents' ARR) sits with "
            f"{int(detractor_arr['accounts']):,} accounts whose latest answer was a detractor."
        )
    return AreaResult(figures, ("nps",), tuple(actions), tuple(notes))


def report(ctx: ReportContext) -> FeedbackReport:
    """Read the team's feedback tables for the period and compute the Feedback & NPS area."""
    settings = ctx.params.feedback
    return build_report(
        current=ctx.read("nps_responses", "current"),
        previous=ctx.read("nps_responses", "previous"),
        history=ctx.read("nps_responses", trend_window(ctx.period, settings.trend, settings.trend_periods)),
        feedback=ctx.read("feedback"),
        accounts=ctx.read("accounts"),
        roadmap=with_releases(ctx.read("roadmap"), ctx.read("releases"), ctx.read("features"), ctx.period.end),
        params=settings,
        period=ctx.period,
    )


def explorer_views() -> dict[str, Any]:
    """The explorer's views of this area (see :mod:`playbook.widgets`): name -> f(ctx, report)."""
    from playbook import plots
    from playbook.widgets import html_table

    columns = [("responses", "Responses", "int"), ("nps", "NPS", "score"), ("low", "Low", "score"), ("high", "High", "score")]
    return {
        "NPS trend": lambda ctx, r: plots.plot_nps_trend(r.trend, f"NPS by {ctx.params.feedback.trend}, {ctx.params.name}", ctx.params.feedback.trend),
        "NPS by segment": lambda ctx, r: html_table(r.by_segment, [("segment", "Segment", "text")] + columns),
        "NPS by plan": lambda ctx, r: html_table(r.by_plan, [("plan", "Plan", "text")] + columns),
        "Comment themes": lambda ctx, r: plots.plot_theme_shares(r.themes, "Comment themes by NPS group"),
        "Feature demand": lambda ctx, r: plots.plot_demand(r.demand, "ARR behind each roadmap item"),
    }
