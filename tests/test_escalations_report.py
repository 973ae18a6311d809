"""End to end: the rendered escalations reports state each planted effect for its team, with the
figures recomputed here from the raw files by plain pandas."""

import re
from datetime import timedelta

import duckdb
import pandas as pd
import pytest

from conftest import AS_OF, visible_text
from playbook.sample import PLANTED, TEAM_PRODUCTS

pytestmark = pytest.mark.e2e

START = pd.Timestamp(AS_OF - timedelta(days=29))
END = pd.Timestamp(AS_OF) + pd.Timedelta(days=1)


def _text(out, team):
    return visible_text((out / team / "escalations.html").read_text())


@pytest.fixture(scope="module")
def events(sample_workspace):
    frame = duckdb.execute("SELECT * FROM read_parquet(?)", [str(sample_workspace / "events.parquet")]).df()
    return frame.assign(ts=pd.to_datetime(frame["ts"]))


def test_sla_breach(sample_run, sample_workspace):
    _, out = sample_run
    esc = pd.read_csv(sample_workspace / "escalations.csv", parse_dates=["opened_at", "first_response_at"])
    esc = esc.assign(opened_at=esc["opened_at"].dt.tz_localize(None), first_response_at=esc["first_response_at"].dt.tz_localize(None))
    p1 = esc[(esc["team"] == PLANTED.sla_team) & (esc["priority"] == "P1") & (esc["opened_at"] >= START) & (esc["opened_at"] < END)]
    taken = (p1["first_response_at"] - p1["opened_at"]).dt.total_seconds() / 3600
    waited = (END - p1["opened_at"]).dt.total_seconds() / 3600
    breached = (taken > 1) | (taken.isna() & (waited > 1))
    judged = taken.notna() | (waited > 1)
    rate = breached.sum() / judged.sum()
    assert rate > 0.10
    assert f"P1 first responses breached their 1-hour target in {rate:.0%} of cases" in _text(out, PLANTED.sla_team)


def test_high_arr_account_with_repeat_escalations(sample_run, sample_workspace):
    _, out = sample_run
    accounts = pd.read_csv(sample_workspace / "accounts.csv")
    top = accounts[accounts["churned_at"].isna()].sort_values("arr", ascending=False).iloc[0]
    esc = pd.read_csv(sample_workspace / "escalations.csv", parse_dates=["opened_at"])
    opened = esc["opened_at"].dt.tz_localize(None)
    mine = esc[(esc["account_id"] == top["account_id"]) & (esc["team"] == PLANTED.repeat_team) & (opened >= START) & (opened < END)]
    assert len(mine) >= 3
    arr = f"${top['arr'] / 1e3:,.0f}k" if top["arr"] < 1e6 else f"${top['arr'] / 1e6:,.1f}M"
    # The team's report counts the escalations on its own products, and says so.
    assert (f"{top['name']} ({top['account_id']}, {arr} ARR, {top['segment']}) opened {len(mine)} escalations on this team's products "
            "this period") in _text(out, PLANTED.repeat_team)


def _dau_mau(frame, first, last):
    days = frame.assign(day=frame["ts"].dt.normalize())[["day", "visitor_id"]].drop_duplicates()
    ratios = []
    for day in pd.date_range(first, last):
        window = days[(days["day"] > day - pd.Timedelta(days=30)) & (days["day"] <= day)]
        ratios.append((days["day"] == day).sum() / window["visitor_id"].nunique())
    return sum(ratios) / len(ratios)


def test_stickiness_drop(sample_run, events):
    _, out = sample_run
    mine = events[events["product"].isin(TEAM_PRODUCTS[PLANTED.stickiness_team])]
    now = _dau_mau(mine, START, END - pd.Timedelta(days=1))
    before = _dau_mau(mine, START - pd.Timedelta(days=30), START - pd.Timedelta(days=1))
    assert now <= before * (2 / 3)
    assert f"DAU/MAU stickiness fell from {before:.1%} to {now:.1%}" in _text(out, PLANTED.stickiness_team)


def test_low_core_feature_adoption(sample_run, events):
    _, out = sample_run
    # The feature's own product: mobile has one, so the team's active accounts are its product's.
    assert len(TEAM_PRODUCTS[PLANTED.low_adoption_team]) == 1
    span = events[events["product"].isin(TEAM_PRODUCTS[PLANTED.low_adoption_team]) & (events["ts"] >= START) & (events["ts"] < END)]
    active = span["account_id"].nunique()
    used = span.loc[span["feature_id"] == PLANTED.low_adoption_feature, "account_id"].nunique()
    assert used / active < 0.10
    product = TEAM_PRODUCTS[PLANTED.low_adoption_team][0]
    assert f"({PLANTED.low_adoption_feature}) is used by only {used / active:.0%} of the accounts active in {product} ({used} of {active})" in _text(
        out, PLANTED.low_adoption_team
    )


def test_retention_falls_after_the_release(sample_run, sample_workspace):
    _, out = sample_run
    features = pd.read_csv(sample_workspace / "features.csv", parse_dates=["released_at"]).set_index("feature_id")
    release = features.loc[PLANTED.retention_release]
    text = _text(out, PLANTED.retention_team)
    found = re.search(
        rf"Week-1 retention of new accounts fell from (\d+)% \(\d+ accounts in the cohorts before\) to (\d+)% \(\d+ accounts since\) "
        rf"after {re.escape(release['name'])} was released on {release['released_at']:%d %b %Y}",
        text,
    )
    assert found and int(found.group(1)) - int(found.group(2)) >= 15
