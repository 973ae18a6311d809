"""Feedback metrics against hand computations on the small frames in conftest.py."""

import math
import re
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
    # Under the alert (here 61 points) the same change reads in plain words, with no action.
    calm = fb.build_report(
        responses_df, previous, responses_df, empty_feedback, accounts_df, roadmap_df, FeedbackParams(themes=RULES, drop_alert=61),
        Period(date(2026, 11, 1), date(2026, 11, 15)),
    ).result
    assert not calm.needs_action
    assert calm.lines[0].startswith("NPS was down 60 points: from +60.0 (95% interval [")


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


def _answers(parts: dict[str, list[int]]) -> pd.DataFrame:
    rows = [(part, score) for part, scores in parts.items() for score in scores]
    return pd.DataFrame(rows, columns=["part", "score"])


def test_change_parts_add_up_to_the_change_two_parts():
    # Hand computation. Before: A [10, 10, 0] NPS 100/3 on 3/4 of answers, B [10] NPS 100 on 1/4;
    # organisation NPS 50. Now: A [0, 0, 10, 8] NPS -25 on 4/6, B [9, 5] NPS 0 on 2/6; NPS -50/3.
    before, now = _answers({"A": [10, 10, 0], "B": [10]}), _answers({"A": [0, 0, 10, 8], "B": [9, 5]})
    table = fb.nps_change_parts(before, now, "part").set_index("part")
    assert table.index.tolist() == ["A", "B"]
    # A: 4/6 x -25 - 3/4 x 100/3 = -50/3 - 25; B: 2/6 x 0 - 1/4 x 100 = -25.
    assert table.loc["A", "contribution"] == pytest.approx(-125 / 3)
    assert table.loc["B", "contribution"] == pytest.approx(-25)
    assert table["contribution"].sum() == pytest.approx(-50 / 3 - 50)
    # Kitagawa: rate = mean share x change in NPS, mix = mean NPS x change in share.
    assert table.loc["A", "rate_effect"] == pytest.approx((3 / 4 + 4 / 6) / 2 * (-25 - 100 / 3))
    assert table.loc["A", "mix_effect"] == pytest.approx((100 / 3 - 25) / 2 * (4 / 6 - 3 / 4))
    assert table.loc["B", "rate_effect"] == pytest.approx((1 / 4 + 2 / 6) / 2 * -100)
    assert table.loc["B", "mix_effect"] == pytest.approx(50 * (2 / 6 - 1 / 4))
    assert table["shown"].tolist() == [-42, -25]  # adds up to round(-66.7) = -67
    assert table.loc["A", ["responses_before", "responses_now"]].tolist() == [3, 4]


def test_change_parts_with_a_part_absent_in_one_period():
    # Before: only A [10, 0, 9] (NPS 100/3). Now: A [10] (100) and C [0] (-100), half each; NPS 0.
    table = fb.nps_change_parts(_answers({"A": [10, 0, 9]}), _answers({"A": [10], "C": [0]}), "part").set_index("part")
    assert table.index.tolist() == ["C", "A"]
    assert table.loc["C", "contribution"] == pytest.approx(-50)
    assert (table.loc["C", "rate_effect"], table.loc["C", "mix_effect"]) == (0, pytest.approx(-50))
    assert math.isnan(table.loc["C", "nps_before"]) and table.loc["C", "share_before"] == 0
    assert table.loc["A", "contribution"] == pytest.approx(50 - 100 / 3)
    assert table.loc["A", "rate_effect"] + table.loc["A", "mix_effect"] == pytest.approx(50 - 100 / 3)
    # -50 and 16.7 add up to -33.3: shown as -50 and 17, which add up to -33.
    assert table["shown"].tolist() == [-50, 17]


def test_change_parts_single_part_and_no_change():
    single = fb.nps_change_parts(_answers({"A": [10, 9, 3]}), _answers({"A": [10, 2]}), "part")
    assert single["part"].tolist() == ["A"]
    assert single.loc[0, "contribution"] == pytest.approx(0 - 100 / 3)
    assert single.loc[0, "rate_effect"] == pytest.approx(-100 / 3) and single.loc[0, "mix_effect"] == pytest.approx(0)
    same = _answers({"A": [10, 0], "B": [8, 9]})
    flat = fb.nps_change_parts(same, same, "part")
    assert flat["contribution"].tolist() == [0, 0] and flat["shown"].tolist() == [0, 0]
    assert fb.nps_change_parts(same.iloc[0:0], same, "part").empty


def test_whole_parts_add_up_to_the_rounded_total():
    assert fb.whole_parts([0.5, 0.5, 0.5], 1.5) == [1, 1, 0]
    assert fb.whole_parts([-0.4, -0.4, -0.4], -1.2) == [0, 0, -1]
    assert fb.whole_parts([-16.6, -4.8, -2.1, 1.8], -21.7) == [-17, -5, -2, 2]
    assert fb.whole_parts([], 0) == []


def test_summary_names_the_part_that_drove_the_fall(responses_df, accounts_df, roadmap_df):
    # p1 (6 answers) goes from all promoters to the fixture's 4 promoters and 2 passives;
    # p2 (4 answers) from 3 promoters and a passive to 4 detractors.
    previous = responses_df.assign(score=[10, 10, 10, 9, 9, 9, 9, 10, 8, 9])
    empty_feedback = pd.DataFrame(columns=["feedback_id", "account_id", "roadmap_item_id"])
    report = fb.build_report(
        responses_df, previous, responses_df, empty_feedback, accounts_df, roadmap_df, FeedbackParams(themes=RULES, drop_alert=10),
        Period(date(2026, 11, 1), date(2026, 11, 15)), part_of={"p1": "team one", "p2": "team two"}, part_kind="team",
    )
    # Before: NPS (9 - 0) / 10 = 90. Now 0. team one: 0.6 x 66.7 - 0.6 x 100 = -20;
    # team two: 0.4 x -100 - 0.4 x 75 = -70.
    line = report.result.actions[0].text
    assert ("By team, team two drove most of the fall: -70 of the -90 points (its NPS went from +75 to -100 on 40% of this "
            "period's responses); team one -20.") in line
    driver = report.result.figures["nps_driver"]
    assert (driver.value, driver.subject) == (-70, "team two")


def test_driver_sentence_agrees_with_its_parts():
    # A's NPS stays at 0 (a promoter and a detractor each time) while its share grows from 2/6 to
    # 4/6; B stays at +100 on a falling share. A's part: 4/6 x 0 - 2/6 x 0 = 0; B's: 2/6 x 100 -
    # 4/6 x 100 = -33.3: B drove all of it, from its share, its NPS unchanged.
    before, now = _answers({"A": [10, 0], "B": [10, 10, 10, 10]}), _answers({"A": [10, 0, 10, 0], "B": [10, 10]})
    parts = fb.nps_change_parts(before, now, "part")
    driver = fb._change_driver(parts, -100 / 3)
    text = fb._change_parts_text(parts, driver, "team", -100 / 3)
    assert text.startswith("By team, B drove all of the fall: -33 of the -33 points (its NPS stayed at +100 while its share of "
                           "responses went from 67% to 33%); A 0.")
    # Two parts falling equally, rounded to -1 and 0 of a -1 total: the one shown as 0 drove nothing.
    tied = pd.DataFrame({"part": ["x", "y"], "contribution": [-0.6, -0.6], "shown": [0, -1]})
    assert fb._change_driver(tied, -1.2)["part"] == "y"
    assert fb._change_driver(tied.assign(shown=[0, 0]), -1.2) is None
    # The total stated is the sum of the parts as shown, whatever the float error around a half.
    close = pd.DataFrame({"part": ["a", "b"], "contribution": [35.2, 1.3], "shown": [35, 2], "responses_before": [5, 5],
                          "responses_now": [5, 5], "nps_before": [0.0, 0.0], "nps_now": [70.0, 2.0], "share_before": [0.5, 0.5],
                          "share_now": [0.5, 0.5]})
    assert "+35 of the +37 points" in fb._change_parts_text(close, close.iloc[0], "team", 36.4999999)


def test_summary_names_tied_themes_together(responses_df, accounts_df, roadmap_df):
    # Detractors R6 "slow", R7 "expensive": one comment each for performance and pricing.
    answers = responses_df.assign(comment=[None] * 6 + ["So slow", "Too expensive", None, None])
    empty_feedback = pd.DataFrame(columns=["feedback_id", "account_id", "roadmap_item_id"])
    report = fb.build_report(
        answers, answers, answers, empty_feedback, accounts_df, roadmap_df, FeedbackParams(themes=RULES),
        Period(date(2026, 11, 1), date(2026, 11, 15)),
    )
    assert ("Detractors talk most about performance and pricing, as often: each is mentioned in 1 of 2 detractor comments (50%)."
            in report.result.lines)
    assert not any("next is" in line for line in report.result.lines)


@pytest.mark.e2e
def test_organisation_summary_names_the_team_that_drove_the_fall(sample_run, sample_workspace):
    from conftest import visible_text
    from playbook.sample import PLANTED

    _, out = sample_run
    answers = pd.read_csv(sample_workspace / "nps_responses.csv")
    day = pd.to_datetime(answers["submitted_at"], utc=True).dt.strftime("%Y-%m-%d")
    team_of = pd.read_csv(sample_workspace / "features.csv").drop_duplicates("product").set_index("product")["team"]
    answers = answers.assign(team=answers["product"].map(team_of))
    # Each team's part by hand: (its promoters - its detractors) / all answers of the period, x 100.
    parts, totals = {}, {}
    for name, (first, last) in {"now": ("2026-10-29", "2026-11-27"), "before": ("2026-09-29", "2026-10-28")}.items():
        rows = answers[(day >= first) & (day <= last)]
        net = (rows["score"] >= 9).astype(int) - (rows["score"] <= 6).astype(int)
        parts[name] = 100 * net.groupby(rows["team"]).sum() / len(rows)
        totals[name] = 100 * net.sum() / len(rows)
    change = parts["now"] - parts["before"]
    assert change.sum() == pytest.approx(totals["now"] - totals["before"])
    assert change.idxmin() == PLANTED.nps_drop_team and change.min() < (totals["now"] - totals["before"]) / 2
    text = visible_text((out / "all" / "feedback.html").read_text())
    total = round(totals["now"] - totals["before"])
    # "most" when the others moved the same way, "more than all" when they moved against it.
    found = re.search(rf"By team, {PLANTED.nps_drop_team} drove (?:most|more than all) of the fall: ([+-]\d+) of the {total:+d} points "
                      r"\(its NPS went from ([+-]?\d+) to ([+-]?\d+) on (\d+)% of this period's responses\); (.+?)\. A team's part", text)
    assert found, text[:3000]
    driver = int(found.group(1))
    others = {name: int(value) for name, value in (item.rsplit(" ", 1) for item in found.group(5).split(", "))}
    assert set(others) == set(change.index) - {PLANTED.nps_drop_team}
    # Each part shown is within a point of the hand computation, and the parts add up to the change shown.
    assert abs(driver - change[PLANTED.nps_drop_team]) < 1 and all(abs(others[t] - change[t]) < 1 for t in others)
    assert driver + sum(others.values()) == total


def test_demand_sentence_names_the_most_wanted_item_not_yet_shipped(responses_df, accounts_df, roadmap_df):
    # I2 ($80k, A6) leads demand but has shipped: its demand is met. The sentence names I1 (3 accounts, $51k:
    # A1, A3 and A8, churned, at $0), ranked on RICE among the two items still to build (I3 3,000, I1 25).
    requests = pd.DataFrame({
        "feedback_id": [f"F{i}" for i in range(5)], "account_id": ["A1", "A1", "A3", "A8", "A6"], "product": "p1",
        "source": "in-app", "text": "x", "theme": None, "roadmap_item_id": ["I1", "I1", "I1", "I1", "I2"],
        "submitted_at": pd.to_datetime(["2026-11-02"] * 5),
    })
    roadmap = roadmap_df.assign(status=["idea", "shipped", "idea"])
    report = fb.build_report(responses_df, responses_df, responses_df, requests, accounts_df, roadmap, FeedbackParams(themes=RULES),
                             Period(date(2026, 11, 1), date(2026, 11, 15)))
    assert report.demand["item_id"].iloc[0] == "I2"  # the table keeps every item
    line = next(n for n in report.result.notes if n.startswith("Highest ARR-weighted demand"))
    assert line == ("Highest ARR-weighted demand: One (I1, idea), asked for by 3 accounts with $51k ARR, yet its RICE score of 25 "
                    "ranks only 2nd of the 2 items not yet shipped.")
