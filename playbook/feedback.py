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
- The change in NPS split by team (the organisation's report) or product (a team's): NPS is the
  response-weighted mean of the parts' NPS, so the change is exactly the sum of each part's
  share x NPS now minus share x NPS before; each part splits into rate and mix effects after
  Kitagawa (1955), see :func:`nps_change_parts`.

Every function is pure: frames in, new frames or dataclasses out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from playbook import stats
from playbook.config import FeedbackParams
from playbook.period import Period
from playbook.figures import Action, AreaResult, Figure, Severity
from playbook.views import count_words, figure_value, format_value, short_money
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


def latest_answers(responses: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """Each responding account once, by its latest answer, with its NPS group, name and ARR (0
    for an account the accounts table lacks): the rows behind the ARR by NPS group."""
    named = accounts[[c for c in ("account_id", "name", "segment", "plan", "arr") if c in accounts.columns]]
    return (
        add_groups(responses)
        .sort_values("submitted_at", kind="stable")
        .drop_duplicates("account_id", keep="last")
        .merge(named, on="account_id", how="left")
        .assign(arr=lambda f: f["arr"].fillna(0.0))
        .reset_index(drop=True)
    )


def arr_by_group(responses: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """ARR of the responding accounts by NPS group, each account placed by its latest answer."""
    latest = latest_answers(responses, accounts)
    table = (
        latest.groupby("group", observed=False)
        .agg(accounts=("account_id", "nunique"), arr=("arr", "sum"))
        .reindex(list(GROUPS), fill_value=0)
        .reset_index()
    )
    total = table["arr"].sum()
    return table.assign(share=table["arr"] / total if total else np.nan)


CHANGE_PART_COLUMNS = ["part", "responses_before", "responses_now", "share_before", "share_now", "nps_before", "nps_now",
                       "contribution", "rate_effect", "mix_effect", "shown"]


def whole_parts(values: list[float], total: float) -> list[int]:
    """``values`` rounded to whole numbers that add up to ``round(total)`` (largest remainder).

    Each value is rounded down, then the units still missing go to the values with the largest
    remainders (ties to the earlier one), so no rounded part is more than one away from its value
    and the parts shown add up to the total shown (Hamilton's apportionment method).
    """
    floors = [math.floor(v) for v in values]
    # Rounded at 9 decimals first, so a total that is a half only up to float error rounds as
    # every other sentence shows it.
    missing = round(round(total, 9)) - sum(floors)
    order = sorted(range(len(values)), key=lambda i: (-(values[i] - floors[i]), i))
    for i in order[: max(missing, 0)]:
        floors[i] += 1
    return floors


def nps_change_parts(previous: pd.DataFrame, current: pd.DataFrame, by: str) -> pd.DataFrame:
    """The change in NPS between two periods split exactly into each part's contribution.

    NPS is a response-weighted mean of the parts' NPS: with ``w`` a part's share of the period's
    responses and ``N`` its NPS, NPS = sum(w x N), so the change is sum(w1 x N1 - w0 x N0) and
    each part's term is its contribution (in points; a part with no responses in a period has the
    term 0 there). Each contribution splits further, as in Kitagawa's decomposition of a
    difference between two rates (E. M. Kitagawa, "Components of a difference between two rates",
    JASA 50, 1955), into a rate effect (mean share x change in its NPS) and a mix effect (mean
    NPS x change in its share), which add up to it exactly. A part present in one period only
    has no NPS change to speak of: its whole contribution is mix.

    Args:
        previous, current: the two periods' responses, with ``score`` and the ``by`` column.
        by: the column naming the part (``team``, ``product``).

    Returns:
        One row per part, largest contribution (in size) first, with ``shown``: the contributions
        rounded to whole points that add up to the rounded change (:func:`whole_parts`). Empty
        when either period has no responses (there is no change to split).
    """
    if previous.empty or current.empty:
        return pd.DataFrame(columns=CHANGE_PART_COLUMNS)

    def side(frame: pd.DataFrame) -> pd.DataFrame:
        scores = frame.assign(points=np.select([frame["score"] >= stats.PROMOTER_MIN, frame["score"] <= stats.DETRACTOR_MAX], [100.0, -100.0], 0.0))
        table = scores.groupby(by)["points"].agg(["size", "mean"])
        return table.assign(share=table["size"] / len(frame))

    before, now = side(previous), side(current)
    rows = []
    for part in sorted(set(before.index) | set(now.index)):
        n0, n1 = (int(t.loc[part, "size"]) if part in t.index else 0 for t in (before, now))
        w0, w1 = (float(t.loc[part, "share"]) if part in t.index else 0.0 for t in (before, now))
        v0, v1 = (float(t.loc[part, "mean"]) if part in t.index else math.nan for t in (before, now))
        contribution = (w1 * v1 if n1 else 0.0) - (w0 * v0 if n0 else 0.0)
        both = n0 > 0 and n1 > 0
        rate = (w0 + w1) / 2 * (v1 - v0) if both else 0.0
        rows.append({"part": part, "responses_before": n0, "responses_now": n1, "share_before": w0, "share_now": w1,
                     "nps_before": v0, "nps_now": v1, "contribution": contribution, "rate_effect": rate,
                     "mix_effect": contribution - rate if not both else (v0 + v1) / 2 * (w1 - w0)})
    table = pd.DataFrame(rows)
    total = float(table["contribution"].sum())
    table["shown"] = whole_parts(table["contribution"].tolist(), total)
    table = table.assign(size=table["contribution"].abs()).sort_values(["size", "part"], ascending=[False, True])
    return table.drop(columns="size").reset_index(drop=True)[CHANGE_PART_COLUMNS]


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
    change_parts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CHANGE_PART_COLUMNS))
    part_kind: str = "product"
    # The period's responses, and each responding account by its latest answer: the rows behind NPS and ARR.
    responses: pd.DataFrame = field(default_factory=pd.DataFrame)
    latest: pd.DataFrame = field(default_factory=pd.DataFrame)
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
    part_of: dict[str, str] | None = None,
    part_kind: str = "product",
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
        part_of: product -> the part its responses count towards when the change in NPS is
            split (its team in the organisation's report); a product not named is its own part.
        part_kind: what a part is, in words ("team", "product").
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
        change_parts=nps_change_parts(_with_part(previous, part_of), _with_part(current, part_of), "part"),
        part_kind=part_kind,
        responses=add_groups(current).sort_values(["submitted_at", "response_id"] if "response_id" in current else ["submitted_at"],
                                                  ignore_index=True),
        latest=latest_answers(current, accounts),
    )
    return replace(report, result=summarise(report, params))


def demand_table(demand: pd.DataFrame, top: int) -> pd.DataFrame:
    """The ``top`` items of :func:`feature_demand` as the table shows them, statuses as words ("in progress")."""
    head = demand.head(top)
    return head.assign(status=head["status"].astype(str).str.replace("_", " "))


def change_part_columns(kind: str) -> list[tuple[str, str, str]]:
    """The columns of the table of contributions to the change in NPS (``kind``: team or product)."""
    return [
        ("part", kind.capitalize(), "text"), ("responses_before", "Responses before", "int"), ("responses_now", "Responses now", "int"),
        ("share_before", "Share before", "pct"), ("share_now", "Share now", "pct"), ("nps_before", "NPS before", "score"),
        ("nps_now", "NPS now", "score"), ("rate_effect", "From its NPS", "num1"), ("mix_effect", "From its share", "num1"),
        ("shown", "Part of the change", "signed"),
    ]


def _with_part(responses: pd.DataFrame, part_of: dict[str, str] | None) -> pd.DataFrame:
    products = responses["product"].astype(str)
    return responses.assign(part=products.map(part_of).fillna(products) if part_of else products)


def _points(value: float) -> str:
    return format_value(value, "signed")


def _nps_text(result: stats.NPSResult) -> str:
    level = round(result.confidence * 100)
    return f"{result.score:+.1f} ({level}% interval [{result.low:.1f}, {result.high:.1f}], {result.n:,} responses)"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _change_driver(parts: pd.DataFrame, change: float) -> pd.Series | None:
    """The part whose contribution moved NPS most in the direction it went; None when there is
    one part only or the change rounds to zero."""
    if len(parts) < 2 or round(change) == 0:
        return None
    # Equal contributions: the one whose rounded part is the larger, so the sentence names a part it can show.
    ranked = parts.sort_values(["contribution", "shown"], ascending=change < 0, kind="stable")
    driver = ranked.iloc[0]
    # A driver whose rounded part is nothing, or points the other way, drove nothing worth a sentence.
    return driver if driver["shown"] * change > 0 else None


def _change_parts_text(parts: pd.DataFrame, driver: pd.Series, kind: str, change: float) -> str:
    """The sentence naming the part that drove the change, then every other part's contribution."""
    # The parts as shown add up to the change as shown (whole_parts), so the sentence states that sum.
    total = int(parts["shown"].sum())
    move = "fall" if change < 0 else "rise"
    amount = ("all" if driver["shown"] == total else "more than all" if abs(driver["shown"]) > abs(total)
              else "most" if abs(driver["shown"]) * 2 > abs(total) else "the largest part")
    if driver["responses_before"] and driver["responses_now"] and round(driver["nps_before"]) == round(driver["nps_now"]):
        how = (f"its NPS stayed at {_points(driver['nps_now'])} while its share of responses went from "
               f"{driver['share_before']:.0%} to {driver['share_now']:.0%}")
    elif driver["responses_before"] and driver["responses_now"]:
        how = (f"its NPS went from {_points(driver['nps_before'])} to {_points(driver['nps_now'])} on "
               f"{driver['share_now']:.0%} of this period's responses")
    else:
        how = f"it had no responses in the {'previous' if not driver['responses_before'] else 'current'} period"
    others = ", ".join(f"{r.part} {_points(r.shown)}" for r in parts.itertuples() if r.part != driver["part"])
    return (f"By {kind}, {driver['part']} drove {amount} of the {move}: {_points(driver['shown'])} of the {_points(total)} {'point' if abs(round(total)) == 1 else 'points'} "
            f"({how}); {others}. A {kind}'s part = its share of responses x its NPS, this period minus the previous, "
            f"rounded to whole points that add up to the change.")


def _theme_text(themes: pd.DataFrame, finding: ThemeFinding) -> str:
    """What detractors talk about most; themes tied at the top are named together, not as "next"."""
    rows = themes[(themes["group"] == finding.group) & (themes["theme"] != OTHER_THEME)]
    tied = sorted(rows.loc[rows["comments"] == finding.comments, "theme"].astype(str))
    counted = f"{finding.comments} of {finding.group_comments} {finding.group} comments ({finding.share:.0%})"
    if len(tied) > 1:
        names = ", ".join(tied[:-1]) + f" and {tied[-1]}"
        return f"{finding.group.capitalize()}s talk most about {names}, as often: each is mentioned in {counted}."
    runner = f"; next is {finding.runner_up} at {finding.runner_up_share:.0%}" if finding.runner_up else ""
    return f"{finding.group.capitalize()}s mostly talk about {finding.theme}: {counted} mention it{runner}."


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
            verb = f"NPS fell by {count_words(abs(change.change), 'points')}"
        elif change.change >= params.drop_alert:
            verb = f"NPS rose by {count_words(change.change, 'points')}"
        else:
            # Under the alert, in plain words ("was down 6 points"); "fell by" and "rose by" are kept
            # for a change that calls for action.
            verb = "NPS was unchanged" if round(change.change) == 0 else (
                f"NPS was {'up' if change.change > 0 else 'down'} {count_words(abs(change.change), 'points')}")
        line = (f"{verb}: from {_nps_text(before)} in the previous period to {_nps_text(now)} in this one; "
                f"change {_points(change.change)} (interval {_points(change.low)} to {_points(change.high)}), {overlap}.")
        driver = _change_driver(report.change_parts, change.change)
        if driver is not None:
            figures["nps_driver"] = Figure("nps_driver", f"NPS change from {report.part_kind} {driver['part']}", float(driver["shown"]),
                                           "points", good="up", subject=str(driver["part"]), rows=int(driver["responses_now"]))
            line = f"{line} {_change_parts_text(report.change_parts, driver, report.part_kind, change.change)}"
        if change.change <= -params.drop_alert:
            severity = Severity.MEDIUM if change.intervals_overlap else Severity.HIGH
            actions.append(Action("feedback.nps_drop", "NPS", severity, line, figures=("nps",)))
        else:
            notes.append(line)
    if 0 < now.n < params.min_responses:
        notes.append(f"Only {now.n} responses this period (fewer than {params.min_responses}): treat the score as indicative.")
    finding = report.detractor_theme
    if finding.theme:
        notes.append(_theme_text(report.themes, finding))
    # Demand for a shipped item is met: the sentence names the most-wanted item still to build,
    # ranked on RICE among those (the table keeps every item).
    demand = report.demand[report.demand["status"].astype(str) != "shipped"] if len(report.demand) else report.demand
    if len(demand) and demand["arr"].iloc[0] > 0:
        top = demand.iloc[0]
        n_items = len(demand)
        rank = int((demand["rice"] > top["rice"]).sum()) + 1
        rice_note = (
            "and it also leads on RICE"
            if rank == 1
            else f"yet its RICE score of {top['rice']:,.0f} ranks only {_ordinal(rank)} of the {n_items} items not yet shipped"
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
    features, roadmap = ctx.read("features"), ctx.read("roadmap")
    # The organisation's change is split by team (each product's team as the features and the
    # roadmap name it); a team's own change by product.
    by_team = ctx.params.team == "all"
    owners = pd.concat([f[["product", "team"]] for f in (features, roadmap) if len(f)]) if len(features) or len(roadmap) else None
    part_of = dict(owners.dropna().drop_duplicates("product").itertuples(index=False)) if by_team and owners is not None else None
    return build_report(
        current=ctx.read("nps_responses", "current"),
        previous=ctx.read("nps_responses", "previous"),
        history=ctx.read("nps_responses", trend_window(ctx.period, settings.trend, settings.trend_periods)),
        feedback=ctx.read("feedback"),
        accounts=ctx.read("accounts"),
        roadmap=with_releases(roadmap, ctx.read("releases"), features, ctx.period.end),
        params=settings,
        period=ctx.period,
        part_of=part_of,
        part_kind="team" if part_of else "product",
    )


NPS_COLUMNS = [("responses", "Responses", "int"), ("promoters", "Promoters", "pct"), ("passives", "Passives", "pct"),
               ("detractors", "Detractors", "pct"), ("nps", "NPS", "score"), ("low", "Interval low", "score"), ("high", "Interval high", "score")]
ARR_SPLIT_COLUMNS = [("group", "NPS group", "text"), ("accounts", "Accounts", "int"), ("arr", "ARR", "money"), ("share", "Share of ARR", "pct")]
DEMAND_COLUMNS = [("demand_rank", "Demand rank", "int"), ("title", "Item", "text"), ("item_id", "Id", "text"), ("status", "Status", "text"),
                  ("requests", "Requests", "int"), ("accounts", "Accounts", "int"), ("arr", "ARR asking", "money"), ("rice", "RICE", "num1"),
                  ("rice_rank", "RICE rank", "int")]
QUOTE_COLUMNS = [("product", "Product", "text"), ("score", "Score", "int"), ("submitted_at", "Submitted", "date"), ("comment", "Comment", "text")]
RESPONSE_COLUMNS = [("response_id", "Response", "text"), ("account_id", "Account", "text"), ("product", "Product", "text"),
                    ("submitted_at", "Submitted", "date"), ("score", "Score", "int"), ("group", "NPS group", "text")]
DETRACTOR_COLUMNS = [("name", "Account", "text"), ("account_id", "Id", "text"), ("segment", "Segment", "text"), ("plan", "Plan", "text"),
                     ("score", "Latest score", "int"), ("submitted_at", "Answered", "date"), ("arr", "ARR", "money")]


def explorer_views() -> dict[str, Any]:
    """The explorer's views: the report's sections, with its columns (see :mod:`playbook.widgets`)."""
    from playbook import plots
    from playbook.display import quotes_html
    from playbook.widgets import Chart, Markup, View, rows_of, table

    def demand(ctx: Any, r: FeedbackReport) -> Any:
        top = ctx.params.feedback.top_items
        return Chart(plots.plot_demand(r.demand, "ARR behind each roadmap item", top), table(demand_table(r.demand, top), DEMAND_COLUMNS))

    # Demand accumulates over all time: the period does not narrow it.
    always = {"period": "requests for roadmap items count over all time, not per period"}
    return {
        "NPS trend": View(lambda ctx, r: Chart(plots.plot_nps_trend(r.trend, f"NPS by {ctx.params.feedback.trend}, {ctx.params.name}",
                                                                    ctx.params.feedback.trend, through=ctx.period.end), rows_of(r.trend)),
                          period_end="the trend's buckets end on that day"),
        "Where the change came from": View(lambda ctx, r: table(r.change_parts, change_part_columns(r.part_kind),
                                                                "Contributions to the change in NPS, in points")),
        "NPS by segment": View(lambda ctx, r: table(r.by_segment, [("segment", "Segment", "text")] + NPS_COLUMNS, "By customer segment")),
        "NPS by plan": View(lambda ctx, r: table(r.by_plan, [("plan", "Plan", "text")] + NPS_COLUMNS, "By plan")),
        "NPS by product": View(lambda ctx, r: table(r.by_product, [("product", "Product", "text")] + NPS_COLUMNS, "By product")),
        "ARR by NPS group": View(lambda ctx, r: table(r.arr_split, ARR_SPLIT_COLUMNS)),
        "Comment themes": View(lambda ctx, r: Chart(plots.plot_theme_shares(r.themes, "Comment themes by NPS group"), rows_of(r.themes))),
        "Detractor comments": View(lambda ctx, r: Markup(quotes_html(r.quotes, r.detractor_theme.theme),
                                                         table(r.quotes, QUOTE_COLUMNS))),
        "Feature demand": View(demand, ignores=always),
    }


def drilldowns() -> dict[str, Any]:
    """The rows behind the area's figures (see :mod:`playbook.drill`)."""
    from playbook.drill import Drill

    return {
        "nps": Drill(lambda ctx, r: r.responses, RESPONSE_COLUMNS, "nps", "score", why="each response of the period"),
        "responses": Drill(lambda ctx, r: r.responses, RESPONSE_COLUMNS, "count", why="each response of the period"),
        "detractor_arr": Drill(lambda ctx, r: r.latest[r.latest["group"].astype(str) == "detractor"].sort_values(
                                   ["arr", "account_id"], ascending=[False, True]),
                               DETRACTOR_COLUMNS, "sum", "arr", why="each account whose latest answer in the period was 0-6"),
    }
