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
