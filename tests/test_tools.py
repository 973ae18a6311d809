"""Tools metrics against hand computations on a small frame with the awkward cases in it:
seats never used, a seat assigned after the period, a tool with zero seats and one without
seat-level data."""

import math
from datetime import date

import pandas as pd
import pytest

from playbook import tools as tl
from playbook.views import headline_text
from playbook.config import ToolsParams
from playbook.period import Period

END = date(2026, 11, 30)
PERIOD = Period(date(2026, 11, 1), END)
PARAMS = ToolsParams()


@pytest.fixture
def tools_df():
    return pd.DataFrame(
        {
            "tool": ["Alpha", "Beta", "Gamma", "Delta"],
            "category": ["c1", "c1", "c2", "c3"],
            "owner_team": ["t1", "t1", "t2", "t2"],
            "annual_cost": [1000.0, 600.0, 500.0, 800.0],
            "seats": [10, 4, 0, 8],
            "renewal_date": pd.to_datetime(["2026-12-20", "2027-01-19", "2027-06-18", None]),
        }
    )


@pytest.fixture
def seats_df():
    rows = [
        ("Alpha", "u1", "t1", "2025-01-01", "2026-11-25"),  # engaged
        ("Alpha", "u2", "t1", "2025-01-01", None),  # never used: inactive
        ("Alpha", "u3", "t1", "2026-11-01", "2026-11-20"),  # new (and engaged)
        ("Alpha", "u4", "t2", "2025-01-01", "2026-10-15"),  # lapsing: 47 days before the end
        ("Alpha", "u5", "t2", "2025-01-01", "2026-08-01"),  # inactive
        ("Alpha", "u6", "t2", "2026-12-05", None),  # assigned after the period: left out
        ("Beta", "u1", "t1", "2025-06-01", "2026-11-29"),  # engaged
        ("Beta", "u7", "t1", "2025-06-01", None),  # never used
        ("Beta", "u8", "t3", "2025-06-01", "2026-11-28"),  # engaged
    ]
    frame = pd.DataFrame(rows, columns=["tool", "user_id", "team", "assigned_at", "last_active_at"])
    return frame.assign(assigned_at=pd.to_datetime(frame["assigned_at"]), last_active_at=pd.to_datetime(frame["last_active_at"]))


def test_classify_seats(seats_df):
    classified = tl.classify_seats(seats_df, END, PARAMS).set_index(["tool", "user_id"])
    assert ("Alpha", "u6") not in classified.index
    assert classified["engaged"].sum() == 4
    assert classified["segment"].astype(str).to_dict() == {
        ("Alpha", "u1"): "engaged", ("Alpha", "u2"): "inactive", ("Alpha", "u3"): "new", ("Alpha", "u4"): "lapsing",
        ("Alpha", "u5"): "inactive", ("Beta", "u1"): "engaged", ("Beta", "u7"): "inactive", ("Beta", "u8"): "engaged",
    }


def test_tool_usage_by_hand(tools_df, seats_df):
    usage = tl.tool_usage(tools_df, tl.classify_seats(seats_df, END, PARAMS)).set_index("tool")
    alpha, beta = usage.loc["Alpha"], usage.loc["Beta"]
    assert (alpha["assigned"], alpha["engaged"], alpha["never_used"]) == (5, 2, 1)
    assert alpha["utilisation"] == pytest.approx(2 / 10)
    assert alpha["idle_spend"] == pytest.approx(8 * 100)
    assert alpha["cost_per_engaged"] == pytest.approx(500)
    assert (alpha["seats_new"], alpha["seats_engaged"], alpha["seats_lapsing"], alpha["seats_inactive"]) == (1, 1, 1, 2)
    assert beta["utilisation"] == pytest.approx(0.5) and beta["idle_spend"] == pytest.approx(300)
    assert beta["cost_per_engaged"] == pytest.approx(300)
    # zero seats, and no seat data: listed, never measured
    for name in ("Gamma", "Delta"):
        row = usage.loc[name]
        assert not row["has_seat_data"] and row["assigned"] == 0
        assert math.isnan(row["utilisation"]) and math.isnan(row["idle_spend"]) and math.isnan(row["cost_per_engaged"])
    assert math.isnan(usage.loc["Gamma", "cost_per_seat"])


def test_team_usage_and_costs_by_hand(tools_df, seats_df):
    by_team = tl.team_usage(tools_df, tl.classify_seats(seats_df, END, PARAMS)).set_index(["team", "tool"])
    assert by_team.loc[("t1", "Alpha"), ["assigned", "engaged"]].tolist() == [3, 2]
    assert by_team.loc[("t1", "Alpha"), "allocated_cost"] == pytest.approx(300)
    assert by_team.loc[("t1", "Alpha"), "idle_spend"] == pytest.approx(100)
    assert by_team.loc[("t2", "Alpha"), "utilisation"] == 0
    costs = tl.team_costs(by_team.reset_index()).set_index("team")
    assert costs.loc["t1", "allocated_cost"] == pytest.approx(600) and costs.loc["t1", "engaged"] == 3
    assert costs.loc["t1", "cost_per_engaged"] == pytest.approx(200)
    assert math.isnan(costs.loc["t2", "cost_per_engaged"])  # nobody engaged: no figure, not infinity
    assert costs.loc["t1", "others_median"] == pytest.approx(150)  # t3 only: t2 has no figure
    assert costs.loc["t1", "ratio_to_others"] == pytest.approx(200 / 150)
    assert costs.loc["t3", "ratio_to_others"] == pytest.approx(150 / 200)


def test_overlap_keeps_the_most_engaged_tool(tools_df, seats_df):
    by_team = tl.team_usage(tools_df, tl.classify_seats(seats_df, END, PARAMS))
    overlap = tl.overlaps(by_team)
    assert overlap.to_dict("records") == [
        {"team": "t1", "category": "c1", "tools": "Alpha, Beta", "seats": 5, "keep": "Alpha", "allocated_cost": 600.0, "money": 300.0,
         "drops": [("Beta", 300.0)]}
    ]


def test_renewal_calendar_windows(tools_df, seats_df):
    usage = tl.tool_usage(tools_df, tl.classify_seats(seats_df, END, PARAMS))
    calendar = tl.renewal_calendar(usage, END, 90)
    assert calendar[["tool", "days_to_renewal", "window"]].values.tolist() == [
        ["Alpha", 20, "within 30 days"], ["Beta", 50, "within 60 days"],
    ]


def test_recommendations_carry_the_money(tools_df, seats_df):
    classified = tl.classify_seats(seats_df, END, PARAMS)
    usage = tl.tool_usage(tools_df, classified)
    overlap = tl.overlaps(tl.team_usage(tools_df, classified))
    actions = tl.recommendations(usage, overlap, tl.renewal_calendar(usage, END), PARAMS)
    # One row per tool, no dollar counted twice: Alpha to rightsize has only its idle part at
    # stake although it also renews soon (8 idle seats x $100, not its $1,000 cost); Beta is to
    # rightsize (2 idle x $150) and to drop in t1's overlap (t1's 2 seats x $150): the same $300.
    assert actions[["action", "subject", "money"]].values.tolist() == [
        ["rightsize; review before renewal", "Alpha", 800.0],
        ["rightsize; consolidate onto Alpha; review before renewal", "Beta", 300.0],
    ]
    assert actions.loc[0, "reason"].startswith("20% of 10 seats engaged (floor 60%); renews 20 Dec 2026")


def test_team_report_scope_and_summary(tools_df, seats_df):
    report = tl.build_report(tools_df, seats_df, PARAMS, PERIOD, "t1")
    assert set(report.inventory["tool"]) == {"Alpha", "Beta"}
    result = report.result
    assert result.needs_action
    assert result.lines[0] == (
        "Alpha renews on 20 Dec 2026, in 20 days, with only 20% of its 10 seats engaged: review it before renewing "
        "($1,000 a year, $800 of it idle)."
    )
    assert any(line.startswith("2 tools in c1 (Alpha, Beta; 5 seats, $600 a year): consolidating onto Alpha") for line in result.lines)
    # Idle spend of the tools t1 owns: Alpha 8 idle seats x $100, Beta 2 x $150.
    assert result.figures["idle_spend"].value == pytest.approx(800 + 300)
    assert headline_text(result) == "Yearly idle spend $1,100"
    # The money at stake is the recommendations column's total, and the summary says so.
    assert result.figures["money_at_stake"].value == report.actions["money"].sum() == pytest.approx(1100)
    assert "2 recommendations for this team put $1,100 a year at stake (the recommendations table)." in result.lines


def test_organisation_report_covers_every_tool(tools_df, seats_df):
    report = tl.build_report(tools_df, seats_df, PARAMS, PERIOD, "all")
    assert set(report.inventory["tool"]) == {"Alpha", "Beta", "Gamma", "Delta"}
    assert report.inventory.set_index("tool").loc["Alpha", "teams_using"] == 2


def test_team_without_seats(tools_df, seats_df):
    report = tl.build_report(tools_df, seats_df.iloc[0:0], PARAMS, PERIOD, "t9")
    assert report.inventory.empty and report.result.figures["idle_spend"].value is None
    assert report.result.lines == ["No tools or seats for this team in the workspace."]
