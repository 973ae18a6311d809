"""Product enablement: are the people who sell and support the product ready for what ships?

Definitions, stated in the report too (DESIGN.md section 5, "enablement"; anchors: Pendo guides
and time to first use, sales-certification practice):

- Launch readiness: for each release, whether docs, training and notes were ready on or before
  ``release_date``; the tier says which are required (params). A required item with no date was
  never ready; an item the tier does not require and nobody made is "not required".
- Training by group and feature: completion = completed / assigned; mean quiz score over the
  completed ones. A knowledge gap is a (group, feature) pair whose completion or mean score falls
  below the thresholds in params.
- Post-launch adoption: for a release of a feature, the days from ``release_date`` to each
  account's first use of the feature, as a median over the accounts that adopted it within the
  30 days (so it reads inside the window the share is counted in); the share of accounts active
  in the 30 days after the release that used the feature in those 30 days; and the escalations whose title names the
  feature, opened in those 30 days. A launch is *slow* when its share is under ``slow_ratio``
  times the median of the team's other launches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from playbook.config import EnablementParams
from playbook.period import Period
from playbook.figures import Action, AreaResult, Figure, Severity
from playbook.health import Events
from playbook.views import count_words

if TYPE_CHECKING:
    from playbook.context import ReportContext

ITEMS = ("docs", "training", "notes")


def readiness(releases: pd.DataFrame, params: EnablementParams) -> pd.DataFrame:
    """Per release: each item ready on time, days early (negative: late), and what required item was missing."""
    rows = []
    for r in releases.itertuples():
        required = params.required_items.get(r.tier, [])
        row = {"release_id": r.release_id, "title": r.title, "tier": r.tier, "release_date": r.release_date}
        late = []
        for item in ITEMS:
            ready_at = getattr(r, f"{item}_ready_at")
            early = (r.release_date - ready_at).total_seconds() / 86400 if pd.notna(ready_at) else math.nan
            on_time = pd.notna(ready_at) and ready_at <= r.release_date
            row[f"{item}_days_early"] = early
            row[item] = "ready" if on_time else "late" if pd.notna(ready_at) else "missing" if item in required else "not required"
            if item in required and not on_time:
                late.append(item if pd.notna(ready_at) else f"{item} (never)")
        row["not_ready"] = ", ".join(late)
        row["ready"] = not late
        rows.append(row)
    columns = ["release_id", "title", "tier", "release_date", *ITEMS, *(f"{i}_days_early" for i in ITEMS), "not_ready", "ready"]
    return pd.DataFrame(rows, columns=columns).sort_values("release_date", ascending=False, ignore_index=True)


def training_matrix(trainings: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Per (group, feature): people assigned, completed, completion and mean quiz score."""
    table = trainings.groupby(["audience", "feature_id"]).agg(
        assigned=("person_id", "size"), completed=("completed_at", "count"), mean_score=("quiz_score", "mean")
    ).reset_index()
    table["completion"] = table["completed"] / table["assigned"]
    names = features.set_index("feature_id")["name"] if len(features) else pd.Series(dtype=object)
    table["feature"] = table["feature_id"].map(names).fillna(table["feature_id"])
    return table


def knowledge_gaps(matrix: pd.DataFrame, params: EnablementParams) -> pd.DataFrame:
    """(group, feature) pairs under the completion or score threshold, worst first."""
    low = matrix[(matrix["completion"] < params.min_completion) | (matrix["mean_score"] < params.min_quiz_score)]
    return low.sort_values(["completion", "mean_score"], ignore_index=True)


def launch_adoption(
    events: Events, releases: pd.DataFrame, escalations: pd.DataFrame, features: pd.DataFrame, window_days: int = 30
) -> pd.DataFrame:
    """Per release of a feature: accounts active after launch, adopters within the window, their share,
    their median days to first use, and escalations naming the feature in the window."""
    launches = releases.dropna(subset=["feature_id"])
    names = features.set_index("feature_id")["name"] if len(features) else pd.Series(dtype=object)
    products = features.set_index("feature_id")["product"] if "product" in features.columns else pd.Series(dtype=object)
    rows = []
    for r in launches.itertuples():
        # The feature's own product (the release's when the feature is not in the features table).
        product = str(products.get(r.feature_id, r.product))
        start = r.release_date
        stop = start + pd.Timedelta(days=window_days)
        # Active accounts are those active in the feature's own product, in every report.
        sql = """
            WITH span AS (SELECT * FROM ev WHERE ts >= $start AND ts < $stop AND product = $product),
            firsts AS (SELECT account_id, min(ts) AS first_use FROM ev
                       WHERE feature_id = $feature AND product = $product AND ts >= $start GROUP BY account_id)
            SELECT (SELECT count(DISTINCT account_id) FROM span) AS active,
                   (SELECT count(*) FROM firsts WHERE first_use < $stop) AS adopters,
                   (SELECT median(datediff('second', $start, first_use)) / 86400.0 FROM firsts WHERE first_use < $stop) AS median_days,
                   (SELECT max(ts) FROM ev) AS last_event
        """
        got = events.query(sql, start=pd.Timestamp(start).to_pydatetime(), stop=pd.Timestamp(stop).to_pydatetime(),
                           feature=str(r.feature_id), product=product).iloc[0]
        name = names.get(r.feature_id, r.feature_id)
        mentions = escalations[
            (escalations["opened_at"] >= start) & (escalations["opened_at"] < stop)
            & escalations["title"].fillna("").str.contains(str(name), case=False, regex=False)
        ] if len(escalations) else escalations
        complete = pd.notna(got["last_event"]) and pd.Timestamp(got["last_event"]) >= stop - pd.Timedelta(days=1)
        rows.append(
            {
                "release_id": r.release_id, "team": r.team, "feature_id": r.feature_id, "feature": name, "tier": r.tier, "release_date": start,
                "active_accounts": int(got["active"]), "adopters": int(got["adopters"]),
                "adoption_30d": got["adopters"] / got["active"] if got["active"] else math.nan,
                "median_days_to_first_use": got["median_days"], "escalations_30d": len(mentions), "complete_window": complete,
            }
        )
    columns = ["release_id", "team", "feature_id", "feature", "tier", "release_date", "active_accounts", "adopters", "adoption_30d",
               "median_days_to_first_use", "escalations_30d", "complete_window"]
    return pd.DataFrame(rows, columns=columns).sort_values("release_date", ascending=False, ignore_index=True)


def slow_launches(adoption: pd.DataFrame, ratio: float) -> pd.DataFrame:
    """Launches whose 30-day adoption is under ``ratio`` x the median of their own team's other
    launches (the same comparison in the team's report and the organisation's)."""
    usable = adoption[adoption["active_accounts"] > 0].dropna(subset=["adoption_30d"])
    rows = []
    for r in usable.itertuples():
        others = usable.loc[(usable["release_id"] != r.release_id) & (usable["team"] == r.team), "adoption_30d"]
        if len(others) and r.adoption_30d < ratio * others.median():
            rows.append({**r._asdict(), "others_median": float(others.median())})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class EnablementReport:
    """Everything the enablement notebook shows for one team, computed once."""

    readiness: pd.DataFrame
    matrix: pd.DataFrame
    gaps: pd.DataFrame
    adoption: pd.DataFrame
    slow: pd.DataFrame
    ready_before: float = math.nan
    result: AreaResult | None = None


READY_COLUMNS = ("docs_ready_at", "training_ready_at", "notes_ready_at")


def _before(times: pd.Series, stop: pd.Timestamp) -> pd.Series:
    """Whether each time is before ``stop`` (a naive day boundary; UTC times compared as UTC)."""
    stamps = pd.to_datetime(times, utc=True, errors="coerce").dt.tz_localize(None)
    return (stamps < stop).fillna(False).astype(bool)


def build_report(
    releases: pd.DataFrame,
    trainings: pd.DataFrame,
    features: pd.DataFrame,
    escalations: pd.DataFrame,
    events: Events,
    params: EnablementParams,
    period: Period,
) -> EnablementReport:
    """Compute the enablement area for one team over the releases of the last ``lookback_days``.

    Only what the as-of day knew counts: docs, training or notes ready after it are not ready
    yet, a course completed after it is not completed (nor scored), and escalations opened after
    it are not there, so a past week (``playbook backfill``) reads as that week did.
    """
    stop = pd.Timestamp(period.stop)
    releases = releases.assign(**{c: releases[c].where(_before(releases[c], stop)) for c in READY_COLUMNS if c in releases})
    trainings = trainings[_before(trainings["assigned_at"], stop)]
    done = _before(trainings["completed_at"], stop)
    trainings = trainings.assign(completed_at=trainings["completed_at"].where(done), quiz_score=trainings["quiz_score"].where(done))
    escalations = escalations[_before(escalations["opened_at"], stop)]
    since = pd.Timestamp(period.end) - pd.Timedelta(days=params.lookback_days)
    recent = releases[(releases["release_date"] >= since) & (releases["release_date"] < period.stop)]
    # The same window ending a period earlier, for the index's change.
    shift = pd.Timedelta(days=period.days)
    earlier = releases[(releases["release_date"] >= since - shift) & (releases["release_date"] < period.stop - shift)]
    before = readiness(earlier, params)["ready"]
    courses = trainings[trainings["assigned_at"] >= since - pd.Timedelta(days=30)]
    matrix = training_matrix(courses, features)
    adoption = launch_adoption(events, recent, escalations, features)
    report = EnablementReport(
        readiness=readiness(recent, params),
        matrix=matrix,
        gaps=knowledge_gaps(matrix, params),
        adoption=adoption,
        slow=slow_launches(adoption, params.slow_ratio),
        ready_before=float(before.mean()) if len(before) else math.nan,
    )
    return replace(report, result=summarise(report, params))


def summarise(report: EnablementReport, params: EnablementParams) -> AreaResult:
    """The figures (launches ready, knowledge gaps) and the actions: launches not ready, gaps, slow adoption."""
    ready = float(report.readiness["ready"].mean()) if len(report.readiness) else None
    figures = {
        "knowledge_gaps": Figure("knowledge_gaps", "knowledge gaps", len(report.gaps), "count", good="down", rows=len(report.matrix)),
        "launches_ready": Figure("launches_ready", "launches ready", ready, "percent",
                                 previous=None if math.isnan(report.ready_before) else report.ready_before, good="up",
                                 rows=len(report.readiness)),
    }
    actions: list[Action] = []
    for r in report.readiness[~report.readiness["ready"]].itertuples():
        detail = []
        for item in ITEMS:
            early = getattr(r, f"{item}_days_early")
            if getattr(r, item) == "late" and item in r.not_ready:
                detail.append(f"{item} came {count_words(abs(early), 'days')} after the release")
            elif getattr(r, item) == "missing" and item in r.not_ready:
                detail.append(f"{item} never came")
        actions.append(Action(
            "enablement.launch_not_ready", r.release_id, Severity.HIGH if r.tier == "major" else Severity.MEDIUM,
            f"The {r.tier} release {r.title} ({r.release_id}) shipped on {r.release_date:%d %b %Y} before it was ready: {'; '.join(detail)}.",
            figures=("launches_ready",),
        ))
    for g in report.gaps.itertuples():
        actions.append(Action(
            "enablement.knowledge_gap", f"{g.audience}: {g.feature_id}", Severity.MEDIUM,
            f"Knowledge gap, {g.audience} on {g.feature}: {g.completion:.0%} completed the training ({g.completed} of {g.assigned}), "
            f"mean quiz score {g.mean_score:.0f} (thresholds: {params.min_completion:.0%} completion, a mean score of {params.min_quiz_score:.0f}).",
            figures=("knowledge_gaps",),
        ))
    for s in report.slow.itertuples():
        actions.append(Action(
            "enablement.slow_adoption", s.feature_id, Severity.MEDIUM,
            f"{s.feature} was adopted by only {s.adoption_30d:.0%} of the accounts active in its product in the 30 days after its "
            f"launch on {s.release_date:%d %b %Y} ({s.adopters} of {s.active_accounts}), against a median of {s.others_median:.0%} "
            f"for the other launches of team {s.team}.",
        ))
    for m in report.adoption[report.adoption["escalations_30d"] > 0].itertuples():
        actions.append(Action(
            "enablement.launch_escalations", m.feature_id, Severity.LOW,
            f"{m.escalations_30d} escalations named {m.feature} in the 30 days after its launch.",
        ))
    notes = []
    if not actions:
        notes.append("Every launch in the window was ready on time, and no group is behind on its training." if len(report.readiness)
                     else f"No launches in the last {params.lookback_days} days, and no group is behind on its training.")
    return AreaResult(figures, ("knowledge_gaps", "launches_ready"), tuple(actions), tuple(notes))


READINESS_COLUMNS = [
    ("title", "Title", "text"),
    ("release_id", "Release", "text"),
    ("tier", "Tier", "text"),
    ("release_date", "Released", "date"),
    ("docs", "Docs", "text"),
    ("training", "Training", "text"),
    ("notes", "Notes", "text"),
    ("not_ready", "Not ready in time", "text"),
]
ADOPTION_COLUMNS = [
    ("feature", "Feature", "text"),
    ("release_date", "Released", "date"),
    ("active_accounts", "Active accounts", "int"),
    ("adopters", "Adopted in 30 days", "int"),
    ("adoption_30d", "Share", "pct"),
    ("median_days_to_first_use", "Median days to first use (of those adopters)", "num1"),
    ("escalations_30d", "Escalations naming it", "int"),
]


def report(ctx: ReportContext) -> EnablementReport:
    """Read the team's releases, trainings, features, escalations and events, and compute the area."""
    return build_report(
        releases=ctx.read("releases"),
        trainings=ctx.read("trainings"),
        features=ctx.read("features"),
        escalations=ctx.read("escalations"),
        events=ctx.events(),
        params=ctx.params.enablement,
        period=ctx.period,
    )


# The area reports the releases and trainings of a window that ends on the period's last day.
_LOOKBACK = "the releases and trainings of the lookback_days (params) before it are reported"

GAP_COLUMNS = [("audience", "Group", "text"), ("feature", "Feature", "text"), ("assigned", "Assigned", "int"), ("completed", "Completed", "int"),
               ("completion", "Completion", "pct"), ("mean_score", "Mean score", "score")]
READY_ROW_COLUMNS = [("release_id", "Release", "text"), ("title", "Title", "text"), ("tier", "Tier", "text"),
                     ("release_date", "Released", "date"), ("is_ready", "Ready (1) or not (0)", "int")]


def explorer_views() -> dict[str, Any]:
    """The explorer's views: the report's sections, with its columns (see :mod:`playbook.widgets`)."""
    from playbook import plots
    from playbook.widgets import Chart, View, table

    def gaps(ctx: Any, r: EnablementReport) -> Any:
        e = ctx.params.enablement
        return Chart(plots.plot_knowledge_gaps(r.matrix, e.min_completion, e.min_quiz_score, "Training by group and feature"),
                     table(r.gaps, GAP_COLUMNS, "Knowledge gaps"))

    return {
        "Knowledge gaps": View(gaps, period_end=_LOOKBACK),
        "Knowledge gaps table": View(lambda ctx, r: table(r.gaps, GAP_COLUMNS, "Knowledge gaps"), period_end=_LOOKBACK),
        "Launch readiness": View(lambda ctx, r: table(r.readiness, READINESS_COLUMNS), period_end=_LOOKBACK),
        "Post-launch adoption": View(lambda ctx, r: table(r.adoption, ADOPTION_COLUMNS), period_end=_LOOKBACK),
    }


def drilldowns() -> dict[str, Any]:
    """The rows behind the area's figures (see :mod:`playbook.drill`)."""
    from playbook.drill import Drill

    return {
        "knowledge_gaps": Drill(lambda ctx, r: r.gaps, GAP_COLUMNS, "count", why="each group and feature under the completion or score floor",
                                period_end=_LOOKBACK),
        "launches_ready": Drill(lambda ctx, r: r.readiness.assign(is_ready=r.readiness["ready"].astype(int)), READY_ROW_COLUMNS, "mean",
                                "is_ready", why="each launch of the lookback window", period_end=_LOOKBACK),
    }
