"""Product health from usage events, computed in DuckDB SQL.

Every function takes the events as a DuckDB relation (``ts, visitor_id, account_id, product,
feature_id``), already narrowed to a team's products, and returns a small pandas frame. Events
can run to tens of millions of rows, so nothing here loops over rows in Python; tests pass a
relation built from a small frame (``duckdb.from_df``).

Definitions (DESIGN.md section 5, "escalations"; anchors: Pendo and PostHog product analytics):

- Stickiness: DAU/MAU (and WAU/MAU) for each day of the period, where MAU counts the visitors
  active in the 30 days ending that day and WAU the 7 days; the period's figure is the average of
  the daily ratios (Pendo's "30-day rolling average", PostHog's stickiness).
- Feature adoption: accounts (and visitors) that used a feature in the period / accounts (and
  visitors) active in the period.
- Core-feature breadth: per active account, the share of the team's core features it used;
  Pendo's PES adoption component is its average.
- Retention: accounts grouped into weekly cohorts (weeks start on Monday) by their first event;
  week N retention = share of the cohort active in the N-th week after its first week. Only weeks
  complete by the period end count.
- Lifecycle (PostHog): for a period against the equally long one before it, accounts are *new*
  (first event ever in the period), *returning* (active in both), *resurrecting* (active now, not
  before, but earlier) or *dormant* (active before, not now); quick ratio = (new + resurrecting)
  / dormant.
- Level shifts (a data check, not a metric): daily events per product, and per event kind where
  events carry one; a step between the medians of the days before and after a day, large and
  sudden, is likelier a tracking change than behaviour (:func:`find_level_shift`).
- PES (Pendo): mean of adoption (average core-feature breadth), stickiness and growth, each on
  0-100, with growth = (new + recovered) / dropped accounts, recovered = resurrecting and dropped
  = dormant. Growth is capped at 100 so that one component cannot outweigh the other two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Sequence

import duckdb
import numpy as np
import pandas as pd

from playbook.period import Period


@dataclass(frozen=True)
class Events:
    """Usage events where DuckDB aggregates them: a relation and the connection it belongs to.

    Queries name the events ``ev`` and take every value (a date, a feature id) as a bound
    ``$name`` parameter, so nothing a user wrote ever becomes part of the SQL text.
    """

    con: duckdb.DuckDBPyConnection
    relation: duckdb.DuckDBPyRelation
    # Small results every report needs more than once and only a pass over the whole history
    # gives (each account's first event): computed once per Events (see :func:`first_seen`), so
    # an Events is a snapshot of those: after the events change, make a new one (a report does).
    _kept: dict[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Events:
        """Events held in a pandas frame (tests, notebooks), on a connection of their own."""
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        return cls(con, con.from_df(frame))

    def query(self, sql: str, tables: dict[str, pd.DataFrame] | None = None, **values: Any) -> pd.DataFrame:
        """Run ``sql`` over the events (named ``ev`` in it) with ``$name`` markers bound from ``values``.

        ``tables`` are pandas frames the query joins, registered under their names for this query
        only (the exposed units of an experiment, say).
        """
        self.relation.create_view("ev", replace=True)
        tables = tables or {}
        for name, frame in tables.items():
            self.con.register(name, frame)
        try:
            return self.con.execute(sql, values).df()
        finally:
            self.con.execute("DROP VIEW IF EXISTS ev")
            for name in tables:
                self.con.unregister(name)


def stickiness(events: Events, period: Period) -> pd.DataFrame:
    """Per day of the period: DAU, WAU, MAU (visitors) and the ratios DAU/MAU and WAU/MAU.

    Computed in time linear in the visitor-days, not in visitor-days x window days: a visit on day
    d keeps its visitor in the 7-day (30-day) window from d until d + 6 (d + 29), or until the day
    before the visitor's next visit, whichever comes first. Those spans never overlap for one
    visitor, so WAU (MAU) on a day is the number of spans that hold it: a running sum over the
    calendar of +1 where a span starts and -1 where it ends. Counting the spans that hold a day is
    counting the distinct visitors with a visit in the window ending that day.

    A day whose 30-day window reaches back before the first event of the data counts only the
    part of the window there is data for, and would start at 100%: ``full`` is False for it, and
    its ratios are left out (NaN), so neither the chart nor the period's average reads them.
    """
    sql = """
        WITH visits AS (
            SELECT DISTINCT CAST(ts AS DATE) AS day, visitor_id FROM ev
            WHERE ts >= $start - INTERVAL 29 DAY AND ts < $stop AND visitor_id IS NOT NULL
        ),
        spans AS (
            SELECT day, lead(day) OVER (PARTITION BY visitor_id ORDER BY day) AS next_day FROM visits
        ),
        steps AS (
            SELECT day, 1 AS dau, 1 AS wau, 1 AS mau FROM spans
            UNION ALL
            SELECT least(day + 7, coalesce(next_day, day + 7)), 0, -1, 0 FROM spans
            UNION ALL
            SELECT least(day + 30, coalesce(next_day, day + 30)), 0, 0, -1 FROM spans
        ),
        per_day AS (
            SELECT day, sum(dau) AS dau, sum(wau) AS wau, sum(mau) AS mau FROM steps GROUP BY day
        ),
        running AS (
            SELECT day, dau,
                   sum(wau) OVER (ORDER BY day) AS wau,
                   sum(mau) OVER (ORDER BY day) AS mau
            FROM per_day
        ),
        calendar AS (
            SELECT CAST(d AS DATE) AS day FROM range($start, $stop, INTERVAL 1 DAY) t(d)
        ),
        -- Data before every window of the period (one row is enough to know), else the first visit day.
        earlier AS (
            SELECT count(*) > 0 AS found FROM (SELECT 1 FROM ev WHERE ts < $start - INTERVAL 29 DAY LIMIT 1)
        ),
        first AS (SELECT min(day) AS day FROM visits)
        -- A calendar day with no step of its own takes the running totals of the latest day before it.
        SELECT c.day,
               CAST(coalesce(CASE WHEN r.day = c.day THEN r.dau END, 0) AS BIGINT) AS dau,
               CAST(coalesce(r.wau, 0) AS BIGINT) AS wau,
               CAST(coalesce(r.mau, 0) AS BIGINT) AS mau,
               (SELECT found FROM earlier) OR coalesce(c.day - 29 >= (SELECT day FROM first), false) AS full
        FROM calendar c ASOF LEFT JOIN running r ON c.day >= r.day
        ORDER BY c.day
    """
    daily = events.query(sql, **period.bounds())
    mau = daily["mau"].where((daily["mau"] > 0) & daily["full"].astype(bool))
    return daily.assign(day=pd.to_datetime(daily["day"]), full=daily["full"].astype(bool),
                        dau_mau=daily["dau"] / mau, wau_mau=daily["wau"] / mau)


def daily_visitors(events: Events, period: Period) -> dict[str, float]:
    """Average visitors a day per product over the period's days (a day without visits counts as 0)."""
    table = events.query(
        """
        SELECT product, count(DISTINCT (visitor_id, CAST(ts AS DATE))) AS visits
        FROM ev WHERE ts >= $start AND ts < $stop GROUP BY product
        """,
        **period.bounds(),
    )
    return {str(r.product): r.visits / period.days for r in table.itertuples()}


_COUNTS_PER_PRODUCT = """
    SELECT product, CAST(NULL AS VARCHAR) AS event, CAST(ts AS DATE) AS day, count(*) AS events FROM ev
    WHERE ts >= $start AND ts < $stop GROUP BY ALL
"""
_COUNTS_PER_KIND = """
    UNION ALL
    SELECT product, event, CAST(ts AS DATE) AS day, count(*) AS events FROM ev
    WHERE ts >= $start AND ts < $stop AND event IS NOT NULL GROUP BY ALL
"""
_DAILY_SERIES = """,
    series AS (SELECT DISTINCT product, event FROM counts),
    calendar AS (SELECT CAST(d AS DATE) AS day FROM range($start, $stop, INTERVAL 1 DAY) t(d))
    SELECT s.product, s.event, c.day, coalesce(n.events, 0) AS events
    FROM series s CROSS JOIN calendar c
    LEFT JOIN counts n ON n.product = s.product AND n.event IS NOT DISTINCT FROM s.event AND n.day = c.day
    ORDER BY s.product, s.event NULLS FIRST, c.day
"""


def daily_volume(events: Events, first: date, last: date) -> pd.DataFrame:
    """Events per day from ``first`` to ``last`` (inclusive) per product, and per product and
    event kind where the events carry an ``event`` column; a day without events counts 0.

    Returns:
        Columns ``product``, ``event`` (None for the product's total), ``day``, ``events``.
    """
    # Per product always; per (product, event kind) for named events, when the column exists.
    # The text is joined from constants: no value is formatted into it (values are bound).
    counts = _COUNTS_PER_PRODUCT + (_COUNTS_PER_KIND if "event" in events.relation.columns else "")
    sql = "WITH counts AS (" + counts + ")" + _DAILY_SERIES
    table = events.query(sql, **Period(first, last).bounds())
    event = table["event"].astype(object)
    return table.assign(event=event.where(event.notna(), None), day=pd.to_datetime(table["day"]), events=table["events"].astype(int))


@dataclass(frozen=True)
class LevelShift:
    """A step in one series of daily event counts (see :func:`find_level_shift`).

    Attributes:
        product: the product.
        event: the event kind, or None for all the product's events.
        day: the first day at the new level.
        before: median events a day in the ``days`` days before ``day``.
        after: median events a day in the ``days`` days from ``day`` on.
        days: the length of each window.
    """

    product: str
    event: str | None
    day: pd.Timestamp
    before: float
    after: float
    days: int

    @property
    def change(self) -> float:
        """Relative change of the daily median: after / before - 1."""
        return self.after / self.before - 1


def find_level_shift(counts: Sequence[float], days: int = 7, min_change: float = 0.3, min_daily: float = 20) -> tuple[int, float, float] | None:
    """The strongest level shift in a series of daily counts, or None.

    The method is the sliding-window test of offline change-point detection (Truong, Oudre and
    Vayatis, "Selective review of offline change point detection methods", Signal Processing
    167, 2020, section 5.3) with medians for robustness, as Twitter's BreakoutDetection (E-Divisive
    with Medians, James, Kejariwal and Matteson 2014): for each candidate day ``d`` with ``days``
    days on either side, compare the median of the ``days`` counts before ``d`` with the median of
    the ``days`` counts from ``d`` on. A candidate counts when the relative change of the medians
    is at least ``min_change`` and the larger median at least ``min_daily`` (thin series are too
    noisy to judge); among those, the day is the one whose split most lowers the summed absolute
    deviations from the median (the least-absolute-deviation estimate of the break, which dates a
    step exactly where the medians alone tie over a few days). A one-day spike or outage cannot
    move a median of seven days, and seven-day windows hold every weekday once, so a weekly
    rhythm is no shift; a gradual trend moves the medians little between adjacent windows.

    Limits: only the strongest shift is returned; a shift with fewer than ``days`` days before or
    after it in the series cannot be told from a short blip and is not reported; a series that starts from zero (a new
    product or event) has no relative change and is set aside.

    Args:
        counts: events per day, consecutive days, zero-filled.
        days: the window on each side (a multiple of 7 keeps weekdays balanced).
        min_change: the smallest relative change of the medians reported (0.3 = 30%).
        min_daily: the smallest daily median, before or after, worth judging.

    Returns:
        (index of the first day at the new level, median before, median after), or None.
    """
    x = np.asarray(counts, dtype=float)

    def medians(d: int) -> tuple[float, float] | None:
        """The two windows' medians at ``d`` when they make a shift, else None."""
        if d < days or d > len(x) - days:
            return None
        low, high = float(np.median(x[d - days:d])), float(np.median(x[d:d + days]))
        if low <= 0 or max(low, high) < min_daily or abs(high / low - 1) < min_change:
            return None
        return low, high

    def gain(start: int, split: int, stop: int) -> float:
        """How much splitting x[start:stop] at ``split`` lowers the summed absolute deviations."""
        whole, left, right = x[start:stop], x[start:split], x[split:stop]
        return float(np.abs(whole - np.median(whole)).sum() - np.abs(left - np.median(left)).sum() - np.abs(right - np.median(right)).sum())

    found = [d for d in range(days, len(x) - days + 1) if medians(d) is not None]
    if not found:
        return None
    best = max(found, key=lambda d: gain(d - days, d, d + days))
    # A median sees a step once most of a window is past it, so near the ends of the series the
    # best candidate can sit a day or two off a step that has no full window beyond it: date it
    # by the best split nearby (windows cut at the series' ends), and keep it only if that day
    # has a full window on either side and makes a shift.
    nearby = range(best - days + 1, best + days)
    split = max(nearby, key=lambda d: gain(max(d - days, 0), d, min(d + days, len(x))))
    shift = medians(split)
    return None if shift is None else (split, *shift)


def level_shifts(volume: pd.DataFrame, first: date, days: int = 7, min_change: float = 0.3, min_daily: float = 20) -> list[LevelShift]:
    """The level shift of each series of :func:`daily_volume` (product, or product and event)
    dated on or after ``first``, the largest relative change first."""
    shifts = []
    for (product, event), part in volume.groupby(["product", "event"], dropna=False, sort=True):
        part = part.sort_values("day")
        found = find_level_shift(part["events"].to_numpy(), days, min_change, min_daily)
        if found is None:
            continue
        index, before, after = found
        day = pd.Timestamp(part["day"].iloc[index])
        if day >= pd.Timestamp(first):
            shifts.append(LevelShift(str(product), None if pd.isna(event) else str(event), day, before, after, days))
    return sorted(shifts, key=lambda s: -abs(s.change))


def average_stickiness(daily: pd.DataFrame, ratio: str = "dau_mau") -> float:
    """The period's stickiness: the mean of the daily ratios (days with no monthly visitors skipped)."""
    values = daily[ratio].dropna()
    return float(values.mean()) if len(values) else math.nan


def feature_adoption(events: Events, features: pd.DataFrame, period: Period) -> pd.DataFrame:
    """Per feature of the team: accounts and visitors that used it, and their share of those active
    in the feature's own product (an account is never counted against a product it does not use)."""
    span = period.bounds()
    used = events.query(
        """
        SELECT feature_id, product, count(DISTINCT account_id) AS accounts, count(DISTINCT visitor_id) AS visitors
        FROM ev WHERE ts >= $start AND ts < $stop AND feature_id IS NOT NULL GROUP BY feature_id, product
        """,
        **span,
    )
    active = events.query(
        """
        SELECT product, count(DISTINCT account_id) AS active_accounts, count(DISTINCT visitor_id) AS active_visitors
        FROM ev WHERE ts >= $start AND ts < $stop GROUP BY product
        """,
        **span,
    )
    table = (
        features[["feature_id", "name", "product", "is_core", "released_at"]]
        # A feature's use counts in its own product only, as its active accounts do.
        .merge(used[["feature_id", "product", "accounts", "visitors"]], on=["feature_id", "product"], how="left")
        .merge(active, on="product", how="left")
        .fillna({"accounts": 0, "visitors": 0, "active_accounts": 0, "active_visitors": 0})
        .astype({"accounts": int, "visitors": int, "active_accounts": int, "active_visitors": int})
    )
    table["adoption"] = (table["accounts"] / table["active_accounts"]).where(table["active_accounts"] > 0)
    table["visitor_adoption"] = (table["visitors"] / table["active_visitors"]).where(table["active_visitors"] > 0)
    return table.sort_values(["is_core", "adoption"], ascending=[False, True], ignore_index=True)


def core_breadth(events: Events, features: pd.DataFrame, period: Period) -> pd.DataFrame:
    """Per active account: core features used, of how many, and the share (breadth).

    An account is measured against the core features of the products it used in the period only,
    so the same account has the same breadth in a team's report and in the organisation's.
    """
    core = features[features["is_core"].astype(bool)]
    columns = ["account_id", "core_used", "core_total", "breadth"]
    if core.empty:
        return pd.DataFrame(columns=columns)
    # A core feature counts in its own product only (its use logged under another product does not).
    sql = """
        SELECT account_id, product,
               count(DISTINCT feature_id) FILTER (WHERE list_contains($core, product || chr(31) || feature_id)) AS core_used
        FROM ev WHERE ts >= $start AND ts < $stop
        GROUP BY account_id, product
    """
    keys = [f"{p}\x1f{f}" for p, f in zip(core["product"].astype(str), core["feature_id"].astype(str))]
    used = events.query(sql, core=keys, **period.bounds())
    per_product = core.groupby("product").size().rename("core_total").reset_index()
    table = (
        used.merge(per_product, on="product", how="inner")
        .groupby("account_id", as_index=False)[["core_used", "core_total"]].sum()
        .sort_values("account_id", ignore_index=True)
    )
    return table.assign(breadth=table["core_used"] / table["core_total"])[columns]


def first_seen(events: Events) -> pd.DataFrame:
    """Each account's first event (``account_id``, ``first_ts``), over the events' whole history.

    The one metric input that needs every event ever logged (the others read a window the scan
    can skip to), so it is read once per :class:`Events` and kept: retention's cohorts and the
    lifecycle's *new* accounts both start from it.
    """
    if "first_seen" not in events._kept:
        events._kept["first_seen"] = events.query("SELECT account_id, min(ts) AS first_ts FROM ev GROUP BY account_id")
    return events._kept["first_seen"]


def retention(events: Events, end: date, cohorts: int = 12, weeks: int = 8) -> pd.DataFrame:
    """Weekly cohorts by first event: for each cohort and week offset N (0..weeks), accounts active and their share.

    Cohorts are the ``cohorts`` weeks ending with the week holding ``end``; an offset appears only
    once its week is complete on ``end``. A cohort's accounts are active from their first week
    on, so only the weeks from the first cohort to ``end`` are read.
    """
    last_week = end - timedelta(days=end.weekday())
    first_cohort = last_week - timedelta(weeks=cohorts - 1)
    sql = """
        WITH firsts AS (
            SELECT account_id, date_trunc('week', first_ts) AS cohort FROM first_seen
        ),
        weeks AS (
            SELECT DISTINCT account_id, date_trunc('week', ts) AS week FROM ev WHERE ts >= $first_cohort AND ts < $stop
        ),
        sized AS (
            SELECT cohort, count(*) AS size FROM firsts
            WHERE cohort >= $first_cohort AND cohort <= $last_week GROUP BY cohort
        ),
        active AS (
            SELECT f.cohort, CAST(datediff('day', f.cohort, w.week) / 7 AS INTEGER) AS offset_weeks,
                   count(DISTINCT w.account_id) AS retained
            FROM firsts f JOIN weeks w USING (account_id)
            WHERE f.cohort >= $first_cohort AND f.cohort <= $last_week
            GROUP BY ALL
        ),
        grid AS (
            SELECT s.cohort, s.size, CAST(o AS INTEGER) AS offset_weeks FROM sized s, range(0, $offsets) t(o)
            WHERE s.cohort + to_days(CAST(7 * o + 6 AS INTEGER)) <= $end
        )
        SELECT g.cohort, g.size, g.offset_weeks, coalesce(a.retained, 0) AS retained
        FROM grid g LEFT JOIN active a USING (cohort, offset_weeks)
        ORDER BY g.cohort, g.offset_weeks
    """
    day = lambda d: datetime.combine(d, time())  # noqa: E731
    table = events.query(
        sql, tables={"first_seen": first_seen(events)}, stop=day(end + timedelta(days=1)), first_cohort=day(first_cohort),
        last_week=day(last_week), end=day(end), offsets=int(weeks) + 1,
    )
    return table.assign(cohort=pd.to_datetime(table["cohort"]), share=table["retained"] / table["size"])


def retention_matrix(long: pd.DataFrame) -> pd.DataFrame:
    """The cohort table as a cohort x week grid of shares (for the heatmap)."""
    if long.empty:
        return pd.DataFrame()
    grid = long.pivot(index="cohort", columns="offset_weeks", values="share")
    grid.index = [f"{c:%d %b} (n={n})" for c, n in long.groupby("cohort")["size"].first().items()]
    return grid


@dataclass(frozen=True)
class RetentionShift:
    """Week-N retention of the cohorts before and after a release."""

    feature_id: str
    name: str
    released: pd.Timestamp
    before: float
    after: float
    before_accounts: int
    after_accounts: int

    @property
    def change(self) -> float:
        return self.after - self.before


def retention_after_releases(long: pd.DataFrame, features: pd.DataFrame, offset: int = 1, window: int = 4) -> list[RetentionShift]:
    """For each release inside the cohort range, week-``offset`` retention of up to ``window``
    cohorts before the release week against the cohorts after it (the release week itself, half
    before and half after, is left out); weighted by cohort size, largest fall first."""
    at = long[long["offset_weeks"] == offset]
    shifts = []
    for feature in features.dropna(subset=["released_at"]).itertuples():
        released = pd.Timestamp(feature.released_at)
        week = released.normalize() - pd.Timedelta(days=released.weekday())
        before = at[at["cohort"] < week].tail(window)
        after = at[at["cohort"] > week].head(window)
        if len(before) < 2 or len(after) < 2:
            continue
        shifts.append(
            RetentionShift(
                feature.feature_id, feature.name, released,
                before["retained"].sum() / before["size"].sum(), after["retained"].sum() / after["size"].sum(),
                int(before["size"].sum()), int(after["size"].sum()),
            )
        )
    return sorted(shifts, key=lambda s: s.change)


def lifecycle(events: Events, end: date, days: int = 7, buckets: int = 12) -> pd.DataFrame:
    """Accounts new, returning, resurrecting and dormant in each of ``buckets`` spans of ``days`` days
    ending on ``end``, with the quick ratio."""
    final = end + timedelta(days=1)
    first = final - timedelta(days=days * buckets)
    sql = """
        WITH acts AS (
            SELECT DISTINCT account_id,
                   CAST(floor(datediff('day', $first, CAST(ts AS DATE)) / $days) AS INTEGER) AS b
            FROM ev WHERE ts < $final AND ts >= $first - to_days(CAST($days AS INTEGER))
        ),
        firsts AS (SELECT account_id, first_ts FROM first_seen),
        spans AS (SELECT CAST(b AS INTEGER) AS b FROM range(0, $buckets) t(b)),
        now_active AS (
            SELECT s.b, a.account_id FROM spans s JOIN acts a ON a.b = s.b
        ),
        classified AS (
            SELECT n.b,
                   CASE WHEN f.first_ts IS NULL OR f.first_ts >= $first + to_days(CAST(n.b * $days AS INTEGER)) THEN 'new'
                        WHEN EXISTS (SELECT 1 FROM acts p WHERE p.account_id = n.account_id AND p.b = n.b - 1) THEN 'returning'
                        ELSE 'resurrecting' END AS state
            FROM now_active n LEFT JOIN firsts f USING (account_id)
        ),
        dormant AS (
            SELECT s.b, count(*) AS dormant FROM spans s JOIN acts p ON p.b = s.b - 1
            WHERE NOT EXISTS (SELECT 1 FROM acts c WHERE c.account_id = p.account_id AND c.b = s.b)
            GROUP BY s.b
        )
        SELECT s.b,
               count(*) FILTER (WHERE c.state = 'new') AS new,
               count(*) FILTER (WHERE c.state = 'returning') AS returning,
               count(*) FILTER (WHERE c.state = 'resurrecting') AS resurrecting,
               coalesce(any_value(d.dormant), 0) AS dormant
        FROM spans s LEFT JOIN classified c ON c.b = s.b LEFT JOIN dormant d ON d.b = s.b
        GROUP BY s.b ORDER BY s.b
    """
    table = events.query(
        sql, tables={"first_seen": first_seen(events)}, first=datetime.combine(first, time()),
        final=datetime.combine(final, time()), days=int(days), buckets=int(buckets),
    )
    table.insert(0, "start", [pd.Timestamp(first) + pd.Timedelta(days=days * int(b)) for b in table.pop("b")])
    gained = table["new"] + table["resurrecting"]
    table["quick_ratio"] = (gained / table["dormant"]).where(table["dormant"] > 0)
    return table


@dataclass(frozen=True)
class PES:
    """Pendo's Product Engagement Score and its three components, each on 0-100."""

    adoption: float
    stickiness: float
    growth: float

    @property
    def score(self) -> float:
        parts = [self.adoption, self.stickiness, self.growth]
        return math.nan if any(math.isnan(p) for p in parts) else sum(parts) / 3


def growth_score(new: int, resurrecting: int, dormant: int) -> float:
    """(new + recovered) / dropped as 0-100, capped at 100; NaN when nothing was gained or lost."""
    if dormant == 0:
        return 100.0 if new + resurrecting > 0 else math.nan
    return min(100.0, 100.0 * (new + resurrecting) / dormant)


def pes(events: Events, features: pd.DataFrame, period: Period, ratio: str = "dau_mau",
        daily: pd.DataFrame | None = None, breadth: pd.DataFrame | None = None) -> PES:
    """PES for a period: average core-feature breadth, average stickiness, and growth against the period before.

    Args:
        daily, breadth: the period's :func:`stickiness` and :func:`core_breadth` when the caller
            has them already; computed here otherwise.
    """
    breadth = core_breadth(events, features, period) if breadth is None else breadth
    adoption = 100 * float(breadth["breadth"].mean()) if len(breadth) else math.nan
    stick = 100 * average_stickiness(stickiness(events, period) if daily is None else daily, ratio)
    cycle = lifecycle(events, period.end, days=period.days, buckets=1).iloc[-1]
    return PES(adoption, stick, growth_score(int(cycle["new"]), int(cycle["resurrecting"]), int(cycle["dormant"])))


def active_days(events: Events, periods: dict[str, Period]) -> pd.DataFrame:
    """Per account, the number of distinct days with an event in each named period."""
    spans = list(periods.items())
    columns = ", ".join(
        f"count(DISTINCT CAST(ts AS DATE)) FILTER (WHERE ts >= $start_{i} AND ts < $stop_{i}) AS p{i}" for i in range(len(spans))
    )
    values: dict[str, Any] = {}
    for i, (_, p) in enumerate(spans):
        values.update({f"{k}_{i}": v for k, v in p.bounds().items()})
    first = min(p.start for p in periods.values())
    last = max(p.end for p in periods.values())
    sql = f"""
        SELECT account_id, {columns} FROM ev
        WHERE ts >= $start AND ts < $stop
        GROUP BY account_id ORDER BY account_id
    """
    table = events.query(sql, **values, **Period(first, last).bounds())
    return table.rename(columns={f"p{i}": name for i, (name, _) in enumerate(spans)})
