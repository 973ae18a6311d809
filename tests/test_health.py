"""Usage metrics (DuckDB SQL) against naive pandas computations on a small seeded frame."""

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from playbook import health
from playbook.period import Period

PERIOD = Period(date(2026, 3, 2), date(2026, 3, 31))


@pytest.fixture
def events_df(rng):
    n = 3000
    day = rng.integers(0, 120, n)  # 2025-12-01 .. 2026-03-30
    visitor = rng.integers(0, 40, n)
    frame = pd.DataFrame(
        {
            "ts": pd.Timestamp("2025-12-01") + pd.to_timedelta(day * 86400 + rng.integers(0, 86400, n), unit="s"),
            "visitor_id": [f"v{v}" for v in visitor],
            "account_id": [f"a{v % 12}" for v in visitor],
            "product": "p",
            "feature_id": rng.choice(["f1", "f2", "f3", None], size=n, p=[0.3, 0.2, 0.1, 0.4]),
        }
    )
    # Two accounts that only appear late: new in the period.
    late = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2026-03-10 10:00", "2026-03-18 09:00", "2026-03-12 12:00"]),
            "visitor_id": ["n1", "n1", "n2"],
            "account_id": ["new1", "new1", "new2"],
            "product": "p",
            "feature_id": ["f1", None, "f3"],
        }
    )
    return pd.concat([frame, late], ignore_index=True)


@pytest.fixture
def features_df():
    return pd.DataFrame(
        {
            "feature_id": ["f1", "f2", "f3", "f4"],
            "name": ["One", "Two", "Three", "Four"],
            "product": "p",
            "team": "t",
            "is_core": [True, True, False, True],
            "released_at": pd.to_datetime(["2025-01-01", "2025-01-01", "2026-02-11", "2025-06-01"]),
        }
    )


def rel(frame):
    return health.Events.from_frame(frame)


def _in(frame, start, end):
    return frame[(frame["ts"] >= pd.Timestamp(start)) & (frame["ts"] < pd.Timestamp(end) + pd.Timedelta(days=1))]


def test_stickiness_matches_a_day_by_day_count(events_df):
    daily = health.stickiness(rel(events_df), PERIOD)
    assert len(daily) == 30
    for row in daily.iloc[[0, 11, 29]].itertuples():
        day = row.day.date()
        dau = _in(events_df, day, day)["visitor_id"].nunique()
        wau = _in(events_df, day - timedelta(days=6), day)["visitor_id"].nunique()
        mau = _in(events_df, day - timedelta(days=29), day)["visitor_id"].nunique()
        assert (row.dau, row.wau, row.mau) == (dau, wau, mau)
        assert row.dau_mau == pytest.approx(dau / mau)
    expected = np.mean([
        _in(events_df, d, d)["visitor_id"].nunique() / _in(events_df, d - timedelta(days=29), d)["visitor_id"].nunique()
        for d in (PERIOD.start + timedelta(days=i) for i in range(30))
    ])
    assert health.average_stickiness(daily) == pytest.approx(expected)


def test_stickiness_leaves_out_days_whose_window_starts_before_the_data(events_df):
    # The data begins 10 days before the period: a day's 30-day window is full only from the
    # 30th day of data on; before that, the few days there are would read as near 100%.
    first = PERIOD.start - timedelta(days=10)
    young = events_df[events_df["ts"] >= pd.Timestamp(first)]
    first_day = young["ts"].min().date()
    daily = health.stickiness(rel(young), PERIOD)
    partial = daily[daily["day"].dt.date < first_day + timedelta(days=29)]
    full = daily[daily["day"].dt.date >= first_day + timedelta(days=29)]
    assert len(partial) and len(full) and not partial["full"].any() and full["full"].all()
    assert partial["dau_mau"].isna().all() and partial["wau_mau"].isna().all() and full["dau_mau"].notna().all()
    # The period's figure is the mean over full days only.
    assert health.average_stickiness(daily) == pytest.approx(full["dau_mau"].mean())
    # With data long before the period, every day is full.
    assert health.stickiness(rel(events_df), PERIOD)["full"].all()


def test_stickiness_counts_no_missing_visitor(events_df):
    # Events without a visitor (possible through the API, set aside by a workspace) are no one:
    # the day-by-day counts are those of the same events without them, as count(DISTINCT) gives.
    nameless = events_df.sample(frac=0.3, random_state=1).assign(visitor_id=None)
    with_them = health.stickiness(rel(pd.concat([events_df, nameless], ignore_index=True)), PERIOD)
    assert nameless["ts"].between(pd.Timestamp(PERIOD.start), pd.Timestamp(PERIOD.end)).any()
    pd.testing.assert_frame_equal(with_them, health.stickiness(rel(events_df), PERIOD))


def test_feature_adoption_and_core_breadth(events_df, features_df):
    span = _in(events_df, PERIOD.start, PERIOD.end)
    active = span["account_id"].nunique()
    table = health.feature_adoption(rel(events_df), features_df, PERIOD).set_index("feature_id")
    for feature in ("f1", "f2", "f3"):
        used = span.loc[span["feature_id"] == feature, "account_id"].nunique()
        assert table.loc[feature, "accounts"] == used
        assert table.loc[feature, "adoption"] == pytest.approx(used / active)
    assert table.loc["f4", "accounts"] == 0 and table.loc["f4", "adoption"] == 0
    breadth = health.core_breadth(rel(events_df), features_df, PERIOD).set_index("account_id")
    naive = span.groupby("account_id")["feature_id"].apply(lambda s: len(set(s.dropna()) & {"f1", "f2", "f4"}) / 3)
    pd.testing.assert_series_equal(breadth["breadth"].sort_index(), naive.sort_index(), check_names=False)


def test_an_account_counts_only_against_the_products_it_uses(events_df, features_df):
    """Adoption and breadth of product p do not change when another product's accounts join the
    events: the organisation's figure for a feature equals its team's (the same computation)."""
    others = pd.DataFrame({
        "ts": pd.to_datetime(["2026-03-05 10:00", "2026-03-06 10:00", "2026-03-07 10:00"]),
        "visitor_id": ["q1", "q2", "q3"], "account_id": ["qa1", "qa2", "qa3"], "product": "q",
        "feature_id": ["g1", None, "g1"],
    })
    features = pd.concat([features_df, pd.DataFrame({
        "feature_id": ["g1"], "name": ["Gee"], "product": "q", "team": "u", "is_core": [True],
        "released_at": pd.to_datetime(["2025-01-01"]),
    })], ignore_index=True)
    alone = health.feature_adoption(rel(events_df), features_df, PERIOD).set_index("feature_id")
    together = health.feature_adoption(rel(pd.concat([events_df, others], ignore_index=True)), features, PERIOD).set_index("feature_id")
    for feature in ("f1", "f2", "f3", "f4"):
        assert together.loc[feature, ["accounts", "active_accounts", "adoption"]].tolist() == alone.loc[feature, ["accounts", "active_accounts", "adoption"]].tolist()
    assert together.loc["g1", ["accounts", "active_accounts"]].tolist() == [2, 3]
    breadth = health.core_breadth(rel(pd.concat([events_df, others], ignore_index=True)), features, PERIOD).set_index("account_id")
    mine = health.core_breadth(rel(events_df), features_df, PERIOD).set_index("account_id")
    pd.testing.assert_series_equal(breadth.loc[mine.index, "breadth"], mine["breadth"])
    # A feature's use logged under another product does not count towards it (nor its product's actives).
    stray = pd.DataFrame({"ts": pd.to_datetime(["2026-03-08 10:00"]), "visitor_id": ["z1"], "account_id": ["za1"],
                          "product": "q", "feature_id": ["f1"]})
    moved = health.feature_adoption(rel(pd.concat([events_df, stray], ignore_index=True)), features_df, PERIOD).set_index("feature_id")
    assert moved.loc["f1", ["accounts", "active_accounts"]].tolist() == alone.loc["f1", ["accounts", "active_accounts"]].tolist()
    # ... nor to an account's core breadth: za1 used no core feature of q, whatever it logged.
    stray_breadth = health.core_breadth(rel(pd.concat([events_df, others, stray], ignore_index=True)), features, PERIOD).set_index("account_id")
    assert stray_breadth.loc["za1", ["core_used", "core_total"]].tolist() == [0, 1]
    # An account of product q is measured against q's one core feature only.
    assert breadth.loc["qa1", ["core_used", "core_total"]].tolist() == [1, 1] and breadth.loc["qa2", "breadth"] == 0


def test_retention_matches_naive_cohorts(events_df):
    end = PERIOD.end
    long = health.retention(rel(events_df), end, cohorts=12, weeks=4)
    week = events_df["ts"].dt.normalize() - pd.to_timedelta(events_df["ts"].dt.day_of_week, unit="D")
    first = week.groupby(events_df["account_id"]).min()
    for row in long.itertuples():
        members = first[first == row.cohort].index
        assert row.size == len(members)
        target = row.cohort + pd.Timedelta(weeks=row.offset_weeks)
        active = events_df.loc[(week == target) & events_df["account_id"].isin(members), "account_id"].nunique()
        assert row.retained == active
        assert row.cohort + pd.Timedelta(days=7 * row.offset_weeks + 6) <= pd.Timestamp(end)
    assert (long.loc[long["offset_weeks"] == 0, "share"] == 1).all()


def test_retention_shift_around_a_release(features_df):
    long = pd.DataFrame(
        {
            "cohort": pd.to_datetime(["2026-01-26", "2026-02-02", "2026-02-09", "2026-02-16", "2026-02-23"]),
            "size": [10, 10, 10, 10, 20],
            "offset_weeks": 1,
            "retained": [8, 9, 5, 3, 6],
        }
    )
    shifts = health.retention_after_releases(long, features_df)
    # f3 shipped Wednesday 11 Feb: its week (9 Feb) is left out, two cohorts either side.
    assert [s.feature_id for s in shifts] == ["f3"]
    assert shifts[0].before == pytest.approx(17 / 20) and shifts[0].after == pytest.approx(9 / 30)


def test_lifecycle_matches_naive_sets(events_df):
    table = health.lifecycle(rel(events_df), PERIOD.end, days=30, buckets=2)
    final = pd.Timestamp(PERIOD.end) + pd.Timedelta(days=1)
    spans = [(final - pd.Timedelta(days=30 * (k + 1)), final - pd.Timedelta(days=30 * k)) for k in (2, 1, 0)]
    active = [set(events_df.loc[(events_df["ts"] >= a) & (events_df["ts"] < b), "account_id"]) for a, b in spans]
    first = events_df.groupby("account_id")["ts"].min()
    for i, row in enumerate(table.itertuples(), start=1):
        now, before = active[i], active[i - 1]
        new = {a for a in now if first[a] >= spans[i][0]}
        assert row.new == len(new)
        assert row.returning == len((now - new) & before)
        assert row.resurrecting == len(now - new - before)
        assert row.dormant == len(before - now)
    last = table.iloc[-1]
    assert last["new"] == 2  # new1 and new2


def test_pes_is_the_mean_of_its_parts(events_df, features_df):
    score = health.pes(rel(events_df), features_df, PERIOD)
    breadth = health.core_breadth(rel(events_df), features_df, PERIOD)["breadth"].mean()
    assert score.adoption == pytest.approx(100 * breadth)
    assert score.stickiness == pytest.approx(100 * health.average_stickiness(health.stickiness(rel(events_df), PERIOD)))
    cycle = health.lifecycle(rel(events_df), PERIOD.end, days=30, buckets=1).iloc[-1]
    assert score.growth == pytest.approx(health.growth_score(cycle["new"], cycle["resurrecting"], cycle["dormant"]))
    assert score.score == pytest.approx((score.adoption + score.stickiness + score.growth) / 3)


@pytest.mark.parametrize("new, res, dormant, expected", [(2, 1, 6, 50.0), (5, 5, 2, 100.0), (0, 0, 0, math.nan), (1, 0, 0, 100.0)])
def test_growth_score(new, res, dormant, expected):
    got = health.growth_score(new, res, dormant)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_no_events_gives_empty_tables_not_errors(events_df, features_df):
    empty = rel(events_df.iloc[0:0])
    assert health.stickiness(empty, PERIOD)["mau"].sum() == 0
    assert math.isnan(health.average_stickiness(health.stickiness(empty, PERIOD)))
    assert health.retention(empty, PERIOD.end).empty
    assert health.core_breadth(empty, features_df, PERIOD).empty
    assert math.isnan(health.pes(empty, features_df, PERIOD).score)
    assert (health.lifecycle(empty, PERIOD.end)[["new", "returning", "resurrecting", "dormant"]].to_numpy() == 0).all()


# -- level shifts in daily event volume ---------------------------------------------------------


def _step(n, at, low=40.0, high=100.0):
    """``n`` days at ``high`` then, from index ``at`` on, at ``low``."""
    return [high] * at + [low] * (n - at)


def test_level_shift_found_and_dated_on_a_clean_step():
    found = health.find_level_shift(_step(30, 12), days=7, min_change=0.3, min_daily=20)
    # Medians of the 7 days either side of day 12: 100 and 40, a change of -60%.
    assert found == (12, 100.0, 40.0)


def test_level_shift_dated_exactly_through_noise_and_a_weekly_rhythm(rng):
    # Five busy weekdays and a quiet weekend, some noise, and volume halved from day 28 on.
    week = np.array([100, 104, 98, 102, 100, 30, 28], dtype=float)
    series = np.tile(week, 8) * np.where(np.arange(56) >= 28, 0.5, 1.0) + rng.normal(0, 2, 56)
    index, before, after = health.find_level_shift(series, days=7, min_change=0.3, min_daily=20)
    assert index == 28
    assert before == pytest.approx(float(np.median(series[21:28])))
    assert after == pytest.approx(float(np.median(series[28:35])))
    # The same rhythm without the step is no shift.
    assert health.find_level_shift(np.tile(week, 8), days=7) is None


@pytest.mark.parametrize(
    "series, why",
    [
        ([80.0] * 40, "a flat series"),
        ([100.0] + [40.0] * 39, "a shift on the first day: no week before it"),
        ([100.0] * 39 + [40.0], "a shift on the last day: one day cannot be told from a blip"),
        ([100.0] * 34 + [40.0] * 6, "six days at the new level: one short of a window"),
        ([100.0] * 20 + [0.0] + [100.0] * 19, "a one-day outage"),
        ([100.0] * 20 + [80.0] * 20, "a 20% step, under the 30% threshold"),
        ([10.0] * 20 + [3.0] * 20, "a series too thin to judge"),
        ([0.0] * 20 + [100.0] * 20, "a series starting from zero has no relative change"),
        ([], "no days at all"),
    ],
)
def test_no_level_shift(series, why):
    assert health.find_level_shift(series, days=7, min_change=0.3, min_daily=20) is None, why


def test_level_shift_at_the_edges_of_what_can_be_seen():
    # The first and the last day with a full window on either side.
    assert health.find_level_shift(_step(40, 7), days=7)[0] == 7
    assert health.find_level_shift(_step(40, 33), days=7)[0] == 33
    # A rise counts as a fall does; a complete loss of tracking too.
    assert health.find_level_shift(_step(30, 15, low=100, high=50), days=7) == (15, 50.0, 100.0)
    assert health.find_level_shift(_step(30, 15, low=0), days=7) == (15, 100.0, 0.0)


def test_daily_volume_per_product_and_event_kind():
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2026-03-01 09:00", "2026-03-01 10:00", "2026-03-03 08:00", "2026-03-03 09:00", "2026-02-28 23:59"]),
            "visitor_id": ["v1", "v2", "v1", "v3", "v1"],
            "account_id": "a1",
            "product": ["p", "p", "p", "q", "p"],
            "feature_id": None,
            "event": ["saved", None, "saved", "saved", "saved"],
        }
    )
    table = health.daily_volume(rel(frame), date(2026, 3, 1), date(2026, 3, 3))
    got = {(r.product, r.event, r.day.day): r.events for r in table.itertuples()}
    # Totals per product (event None), every day of the span, a day without events as 0; and
    # per named event kind; the event before the span is not counted.
    assert got == {
        ("p", None, 1): 2, ("p", None, 2): 0, ("p", None, 3): 1,
        ("p", "saved", 1): 1, ("p", "saved", 2): 0, ("p", "saved", 3): 1,
        ("q", None, 1): 0, ("q", None, 2): 0, ("q", None, 3): 1,
        ("q", "saved", 1): 0, ("q", "saved", 2): 0, ("q", "saved", 3): 1,
    }
    # Without an event column: the products' totals only.
    plain = health.daily_volume(rel(frame.drop(columns="event")), date(2026, 3, 1), date(2026, 3, 3))
    assert plain["event"].isna().all() and plain.groupby("product")["events"].sum().to_dict() == {"p": 3, "q": 1}


def test_level_shifts_per_series_from_a_first_day():
    days = pd.date_range("2026-03-01", periods=30)
    volume = pd.concat([
        pd.DataFrame({"product": "p", "event": None, "day": days, "events": _step(30, 20)}),
        pd.DataFrame({"product": "q", "event": None, "day": days, "events": _step(30, 9, low=100, high=60)}),
        pd.DataFrame({"product": "r", "event": None, "day": days, "events": [50] * 30}),
    ], ignore_index=True)
    shifts = health.level_shifts(volume, date(2026, 3, 1), days=7)
    # The largest relative change first: p -60%, q +67%... q first.
    assert [(s.product, s.day, s.before, s.after) for s in shifts] == [
        ("q", pd.Timestamp("2026-03-10"), 60.0, 100.0), ("p", pd.Timestamp("2026-03-21"), 100.0, 40.0)
    ]
    assert shifts[0].change == pytest.approx(100 / 60 - 1)
    # Only shifts on or after the first day asked for.
    assert [s.product for s in health.level_shifts(volume, date(2026, 3, 15), days=7)] == ["p"]
