"""Feedback metrics against hand computations on the small frames in conftest.py."""

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from playbook import feedback as fb
from playbook.views import headline_text
from playbook.config import FeedbackParams
from playbook.period import Period

RULES = {"performance": ["slow", "crash", "crashes"], "pricing": ["expensive", "pricing"], "support": ["support"]}


def test_add_groups_does_not_mutate_input(responses_df):
    before = responses_df.copy()
    grouped = fb.add_groups(responses_df)
    assert_frame_equal(responses_df, before)
    assert grouped["group"].tolist() == ["promoter"] * 4 + ["passive"] * 2 + ["detractor"] * 4


def test_nps_by_product(responses_df):
    table = fb.nps_by(responses_df, "product").set_index("product")
    assert table.loc["p1", "responses"] == 6
    assert table.loc["p1", "nps"] == pytest.approx(100 * 4 / 6)
    assert table.loc["p1", "passives"] == pytest.approx(2 / 6)
    assert table.loc["p2", "nps"] == pytest.approx(-100)
    assert table.index.tolist() == ["p1", "p2"]  # largest first


def test_weekly_trend_keeps_empty_weeks(responses_df):
    trend = fb.nps_trend(responses_df, Period(date(2026, 11, 1), date(2026, 11, 15)), "week", 3)
    assert trend["start"].dt.strftime("%Y-%m-%d").tolist() == ["2026-10-26", "2026-11-02", "2026-11-09"]
    assert trend["responses"].tolist() == [0, 3, 7]
    assert math.isnan(trend.loc[0, "nps"])
    assert trend.loc[1, "nps"] == pytest.approx(100)
    assert trend.loc[2, "nps"] == pytest.approx(100 * (1 - 4) / 7)


def test_monthly_trend(responses_df):
    trend = fb.nps_trend(responses_df, Period(date(2026, 11, 1), date(2026, 11, 30)), "month", 2)
    assert trend["responses"].tolist() == [0, 10]
    assert trend.loc[1, "nps"] == pytest.approx(0)


def test_arr_by_group_uses_latest_answer_per_account(responses_df, accounts_df):
    table = fb.arr_by_group(responses_df, accounts_df).set_index("group")
    assert table["accounts"].tolist() == [2, 2, 3]
    assert table["arr"].tolist() == [3000.0, 60000.0, 80500.0]
    assert table["share"].sum() == pytest.approx(1)
    assert table.loc["detractor", "share"] == pytest.approx(80500 / 143500)


def test_tag_themes_whole_words_case_insensitive(responses_df):
    tags = fb.tag_themes(responses_df, RULES)
    got = tags.groupby("response_id")["theme"].apply(sorted).to_dict()
    assert got == {
        "R0": ["other"],
        "R2": ["support"],
        "R4": ["performance"],
        "R6": ["performance"],
        "R7": ["pricing"],
        "R8": ["other"],
        "R9": ["pricing"],
    }


def test_tag_themes_with_no_text():
    empty = pd.DataFrame({"response_id": ["R1"], "comment": [None]})
    assert fb.tag_themes(empty, RULES).empty


def test_theme_by_group_and_dominant_theme(responses_df):
    tags = fb.tag_themes(responses_df, RULES)
    table = fb.theme_by_group(responses_df, tags)
    detractor = table[table["group"] == "detractor"].set_index("theme")
    assert detractor.loc["pricing", "comments"] == 2 and detractor.loc["pricing", "share"] == pytest.approx(0.5)
    assert detractor.loc["performance", "share"] == pytest.approx(0.25)
    assert detractor.loc["support", "comments"] == 0
    finding = fb.dominant_theme(table, "detractor")
    assert (finding.theme, finding.comments, finding.group_comments) == ("pricing", 2, 4)
    assert finding.share == pytest.approx(0.5)
    assert finding.runner_up == "performance" and finding.runner_up_share == pytest.approx(0.25)


def test_quotes_are_recent_first(responses_df):
    tags = fb.tag_themes(responses_df, RULES)
    quotes = fb.theme_quotes(responses_df, tags, "pricing", "detractor", 5)
    assert quotes["comment"].tolist() == ["Pricing is confusing", "Too expensive"]


@pytest.fixture
def roadmap_df():
    return pd.DataFrame(
        {
            "item_id": ["I1", "I2", "I3"],
            "product": ["p1"] * 3,
            "team": ["t"] * 3,
            "title": ["One", "Two", "Three"],
            "status": ["idea", "planned", "idea"],
            "reach": [100.0, 10.0, 1000.0],
            "impact": [1.0, 1.0, 3.0],
            "confidence": [0.5, 1.0, 1.0],
            "effort": [2.0, 1.0, 1.0],
        }
    )


def test_feature_demand_counts_accounts_once_and_weights_by_arr(accounts_df, roadmap_df):
    requests = pd.DataFrame(
        {
            "feedback_id": [f"F{i}" for i in range(6)],
            "account_id": ["A1", "A1", "A3", "A8", "A6", "A2"],
            "product": ["p1"] * 6,
            "source": ["in-app"] * 6,
            "text": ["x"] * 6,
            "theme": [None] * 6,
            "roadmap_item_id": ["I1", "I1", "I1", "I1", "I2", None],
            "submitted_at": pd.to_datetime(["2026-11-01"] * 6),
        }
    )
    table = fb.feature_demand(requests, accounts_df, roadmap_df).set_index("item_id")
    assert table.index.tolist() == ["I2", "I1", "I3"]
    assert table.loc["I1", ["requests", "accounts"]].tolist() == [4, 3]
    assert table.loc["I1", "arr"] == 51000.0  # A8 churned: counts zero
    assert table.loc["I3", ["requests", "accounts", "arr"]].tolist() == [0, 0, 0.0]
    assert table["rice"].tolist() == [10.0, 25.0, 3000.0]
    assert table["demand_rank"].tolist() == [1, 2, 3]
    assert table["rice_rank"].tolist() == [3, 2, 1]


def test_build_report_summary_states_the_fall(responses_df, accounts_df, roadmap_df):
    previous = responses_df.assign(score=[10, 10, 10, 9, 9, 9, 9, 8, 7, 2])
    empty_feedback = pd.DataFrame(columns=["feedback_id", "account_id", "roadmap_item_id"])
    params = FeedbackParams(themes=RULES, drop_alert=10)
    report = fb.build_report(
        responses_df, previous, responses_df, empty_feedback, accounts_df, roadmap_df, params,
        Period(date(2026, 11, 1), date(2026, 11, 15)),
    )
    result = report.result
    assert result.needs_action and result.actions[0].rule == "feedback.nps_drop"
    assert report.change.change == pytest.approx(-60)
    assert result.lines[0].startswith("NPS fell by 60 points: from +60.0 (95% interval [")
    assert "Detractors mostly talk about pricing: 2 of 4 detractor comments (50%)" in result.lines[2]
    nps = result.figures["nps"]
    assert (nps.value, nps.change, headline_text(result)) == (0, pytest.approx(-60), "NPS 0 (down 60 points)")


def test_build_report_with_no_responses(accounts_df, roadmap_df, responses_df):
    none = responses_df.iloc[0:0]
    empty_feedback = pd.DataFrame(columns=["feedback_id", "account_id", "roadmap_item_id"])
    report = fb.build_report(
        none, none, none, empty_feedback, accounts_df, roadmap_df, FeedbackParams(themes=RULES),
        Period(date(2026, 11, 1), date(2026, 11, 15)),
    )
    assert report.result.lines[0] == "No NPS responses in this period, so there is no score to report."
    assert not report.result.needs_action and report.result.figures["nps"].value is None
    assert np.isnan(report.trend["nps"]).all()
