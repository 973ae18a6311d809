"""Tools metrics against hand computations on a small frame with the awkward cases in it:
seats never used, a seat assigned after the period, a tool with zero seats, one with licences
and no seat assigned, one whose assigned seats nobody used, overlap by function."""

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
    # zero licences: listed, never measured
    gamma = usage.loc["Gamma"]
    assert not gamma["has_seat_data"] and gamma["assigned"] == 0 and not gamma["unused"]
    assert math.isnan(gamma["utilisation"]) and math.isnan(gamma["idle_spend"]) and math.isnan(gamma["cost_per_engaged"])
    assert math.isnan(gamma["cost_per_seat"])
    # 8 licences and no seat assigned: nobody uses it, 0% used, its whole $800 idle, no cost per engaged user
    delta = usage.loc["Delta"]
    assert not delta["has_seat_data"] and delta["unused"]
    assert delta["utilisation"] == 0 and delta["idle_spend"] == pytest.approx(800) and math.isnan(delta["cost_per_engaged"])
    assert usage["unused"].tolist() == [tool == "Delta" for tool in usage.index]


def test_assigned_seats_nobody_used_make_an_unused_tool(tools_df, seats_df):
    # Epsilon: 5 licences at $120, 3 assigned: one never used, one last used an hour before the
    # 30-day window opens (31 Oct 00:00 for a period ending 30 Nov), one used long ago.
    tools = pd.concat([tools_df, pd.DataFrame({"tool": ["Epsilon"], "category": ["c1"], "owner_team": ["t1"], "annual_cost": [600.0],
                                               "seats": [5], "renewal_date": pd.to_datetime([None])})], ignore_index=True)
    extra = pd.DataFrame({"tool": ["Epsilon"] * 3, "user_id": ["u1", "u2", "u3"], "team": ["t1"] * 3,
                          "assigned_at": pd.to_datetime(["2025-01-01"] * 3),
                          "last_active_at": pd.to_datetime([None, "2026-10-30 23:00", "2026-02-01 00:00"])})
    usage = tl.tool_usage(tools, tl.classify_seats(pd.concat([seats_df, extra], ignore_index=True), END, PARAMS)).set_index("tool")
    row = usage.loc["Epsilon"]
    assert row["has_seat_data"] and (row["assigned"], row["engaged"]) == (3, 0) and row["unused"]
    assert row["utilisation"] == 0 and row["idle_spend"] == pytest.approx(600)


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
    # No function column: tools are compared by category, and the row says which ones were.
    assert overlap.to_dict("records") == [
        {"team": "t1", "function": "c1", "category": "c1", "tools": "Alpha, Beta", "seats": 5, "keep": "Alpha", "allocated_cost": 600.0,
         "money": 300.0, "drops": [("Beta", 300.0)], "no_function": ("Alpha", "Beta")}
    ]


@pytest.fixture
def crm_tools():
    """One sales team with five tools of one category: two CRMs, a call recorder, two schedulers."""
    return pd.DataFrame({
        "tool": ["CRM-A", "CRM-B", "Recorder", "Sched-1", "Sched-2"],
        "category": ["customer platforms"] * 5,
        "function": ["crm", "crm", "call recording", "scheduling", "scheduling"],
        "owner_team": ["it"] * 5,
        "annual_cost": [1000.0, 400.0, 900.0, 100.0, 300.0],
        "seats": [10, 4, 3, 2, 3],
        "renewal_date": pd.to_datetime([None] * 5),
    })


def _seats(spec):
    """Seat rows from {tool: (assigned, engaged)} for team s: engaged ones used yesterday, the others never."""
    rows = []
    for tool, (assigned, engaged) in spec.items():
        for i in range(assigned):
            rows.append((tool, f"{tool}-u{i}", "s", pd.Timestamp("2025-01-01"), pd.Timestamp("2026-11-29") if i < engaged else pd.NaT))
    return pd.DataFrame(rows, columns=["tool", "user_id", "team", "assigned_at", "last_active_at"])


def test_overlap_only_within_one_function(crm_tools):
    seats = _seats({"CRM-A": (10, 8), "CRM-B": (4, 3), "Recorder": (3, 3), "Sched-1": (2, 2), "Sched-2": (3, 1)})
    by_team = tl.team_usage(crm_tools, tl.classify_seats(seats, END, PARAMS))
    overlap = tl.overlaps(by_team).set_index("function")
    # The call recorder does a job of its own: no overlap. CRMs: keep CRM-A (8 engaged), drop
    # CRM-B, the team's 4 seats x $100 = $400. Schedulers: keep Sched-1 (2 engaged against 1),
    # drop Sched-2, 3 seats x $100 = $300.
    assert sorted(overlap.index) == ["crm", "scheduling"]
    assert overlap.loc["crm", ["tools", "keep", "seats", "allocated_cost", "money"]].tolist() == ["CRM-A, CRM-B", "CRM-A", 14, 1400.0, 400.0]
    assert overlap.loc["scheduling", ["tools", "keep", "money"]].tolist() == ["Sched-1, Sched-2", "Sched-1", 300.0]
    assert overlap.loc["crm", "drops"] == [("CRM-B", 400.0)]


def test_one_tool_in_a_function_is_no_overlap(crm_tools):
    seats = _seats({"CRM-A": (10, 8), "Recorder": (3, 3), "Sched-1": (2, 2)})
    by_team = tl.team_usage(crm_tools, tl.classify_seats(seats, END, PARAMS))
    assert tl.overlaps(by_team).empty
    # The same three tools compared by category (no function column) would have been one overlap.
    assert len(tl.overlaps(by_team.drop(columns=["function", "overlap_key"]))) == 1


def test_tools_meant_to_coexist_are_no_overlap(crm_tools):
    seats = _seats({"CRM-A": (10, 8), "CRM-B": (4, 3), "Sched-1": (2, 2), "Sched-2": (3, 1)})
    by_team = tl.team_usage(crm_tools, tl.classify_seats(seats, END, PARAMS))
    overlap = tl.overlaps(by_team, coexist=[["sched-2", "Sched-1"]])  # names match whatever their case
    assert overlap["function"].tolist() == ["crm"]
    # Three tools of a function where only two are meant to coexist: the third is still to drop.
    tools = crm_tools.assign(function=["crm", "crm", "crm", "scheduling", "scheduling"])
    seats = _seats({"CRM-A": (10, 8), "CRM-B": (4, 3), "Recorder": (3, 2)})
    by_team = tl.team_usage(tools, tl.classify_seats(seats, END, PARAMS))
    overlap = tl.overlaps(by_team, coexist=[["CRM-A", "CRM-B"]])
    # keep CRM-A, keep CRM-B (meant to coexist with it), drop Recorder: 3 seats x $300
    assert overlap[["tools", "keep", "money"]].values.tolist() == [["CRM-A, Recorder", "CRM-A", 900.0]]


def test_a_missing_function_falls_back_to_the_category(crm_tools):
    tools = crm_tools.assign(function=["crm", None, "call recording", "", "scheduling"])
    usage = tl.tool_usage(tools, tl.classify_seats(_seats({"CRM-A": (1, 1)}), END, PARAMS)).set_index("tool")
    assert usage["overlap_key"].to_dict() == {"CRM-A": "crm", "CRM-B": "customer platforms", "Recorder": "call recording",
                                              "Sched-1": "customer platforms", "Sched-2": "scheduling"}
    report = tl.build_report(tools, _seats({"CRM-A": (1, 1)}), PARAMS, PERIOD, "all")
    assert report.by_category == ("CRM-B", "Sched-1")
    assert tl.function_note(report).startswith("2 tools in scope have no function in the tools table (CRM-B, Sched-1): overlap compares them by category")
    assert tl.function_note(tl.build_report(crm_tools, _seats({"CRM-A": (1, 1)}), PARAMS, PERIOD, "all")) == ""


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
    # One row per tool, no dollar counted twice: Delta (8 licences, none assigned) is to cancel,
    # its whole $800; Alpha to rightsize has only its idle part at stake although it also renews
    # soon (8 idle seats x $100, not its $1,000 cost); Beta is to rightsize (2 idle x $150) and to
    # drop in t1's overlap (t1's 2 seats x $150): the same $300.
    assert actions[["action", "subject", "money"]].values.tolist() == [
        ["cancel", "Delta", 800.0],
        ["rightsize; review before renewal", "Alpha", 800.0],
        ["rightsize; consolidate onto Alpha; review before renewal", "Beta", 300.0],
    ]
    assert actions.loc[1, "reason"].startswith("2 of 10 seats engaged (20%, floor 60%); renews 20 Dec 2026")
    assert actions.loc[0, "reason"] == "nobody uses it: 8 seats, none assigned"


def test_review_of_a_well_used_tool_puts_only_its_idle_part_at_stake():
    # 10 licences at $100, 9 engaged, renewing in 20 days: $100 at stake, not the $1,000 it costs.
    tools = pd.DataFrame({"tool": ["Well"], "category": ["c"], "owner_team": ["t"], "annual_cost": [1000.0], "seats": [10],
                          "renewal_date": pd.to_datetime(["2026-12-20"])})
    seats = pd.DataFrame({"tool": ["Well"] * 9, "user_id": [f"u{i}" for i in range(9)], "team": ["t"] * 9,
                          "assigned_at": pd.to_datetime(["2025-01-01"] * 9), "last_active_at": pd.to_datetime(["2026-11-29"] * 9)})
    usage = tl.tool_usage(tools, tl.classify_seats(seats, END, PARAMS))
    actions = tl.recommendations(usage, tl.overlaps(tl.team_usage(tools, tl.classify_seats(seats, END, PARAMS))),
                                 tl.renewal_calendar(usage, END), PARAMS)
    assert actions[["action", "subject", "money"]].values.tolist() == [["review before renewal", "Well", 100.0]]
    assert actions.loc[0, "reason"] == "renews 20 Dec 2026 (in 20 days), 90% utilisation"


def test_seats_to_reclaim_by_hand(tools_df, seats_df):
    classified = tl.classify_seats(seats_df, END, PARAMS)
    reclaim = tl.seats_to_reclaim(classified, tl.tool_usage(tools_df, classified))
    # Not engaged and not new: Beta u7 (never; $150 a seat), then Alpha ($100): u2 never used,
    # u5 last active 1 Aug, u4 15 Oct. Left out: u3 (new), u6 (assigned after the period).
    assert reclaim[["tool", "user_id", "team", "cost_per_seat"]].values.tolist() == [
        ["Beta", "u7", "t1", 150.0], ["Alpha", "u2", "t1", 100.0], ["Alpha", "u5", "t2", 100.0], ["Alpha", "u4", "t2", 100.0],
    ]
    # A team's list: its people's seats and every seat of the tools it owns (t1 owns Alpha and Beta; t2 neither).
    assert len(tl.build_report(tools_df, seats_df, PARAMS, PERIOD, "t1").reclaim) == 4
    t2 = tl.build_report(tools_df, seats_df, PARAMS, PERIOD, "t2")
    assert t2.reclaim["user_id"].tolist() == ["u5", "u4"]
    assert tl.reclaim_rows(t2)["last_used"].tolist() == ["01 Aug 2026", "15 Oct 2026"]
    assert tl.reclaim_rows(tl.build_report(tools_df, seats_df, PARAMS, PERIOD, "t1"))["last_used"].tolist()[:2] == ["never", "never"]


def test_team_report_scope_and_summary(tools_df, seats_df):
    report = tl.build_report(tools_df, seats_df, PARAMS, PERIOD, "t1")
    assert set(report.inventory["tool"]) == {"Alpha", "Beta"}
    result = report.result
    assert result.needs_action
    assert result.lines[0] == (
        "Alpha renews on 20 Dec 2026, in 20 days, with only 20% of its 10 seats engaged: review it before renewing "
        "($1,000 a year, $800 of it idle)."
    )
    assert any(line.startswith("2 tools for c1 (Alpha, Beta; 5 seats, $600 a year): consolidating onto Alpha") for line in result.lines)
    # Idle spend of the tools t1 owns: Alpha 8 idle seats x $100, Beta 2 x $150.
    assert result.figures["idle_spend"].value == pytest.approx(800 + 300)
    assert headline_text(result) == "Yearly idle spend $1,100"
    # The money at stake is the recommendations column's total, and the summary says so.
    assert result.figures["money_at_stake"].value == report.actions["money"].sum() == pytest.approx(1100)
    assert "2 recommendations for this team put $1,100 a year at stake (the recommendations table)." in result.lines


def test_tools_nobody_uses_lead_the_summary(tools_df, seats_df):
    # t2 owns Gamma (no licences: not "unused") and Delta (8 licences, none assigned, $800), and
    # Epsilon, 4 licences at $50 renewing in 20 days, whose one assigned seat nobody used.
    tools = pd.concat([tools_df, pd.DataFrame({"tool": ["Epsilon"], "category": ["c3"], "owner_team": ["t2"], "annual_cost": [200.0],
                                               "seats": [4], "renewal_date": pd.to_datetime(["2026-12-20"])})], ignore_index=True)
    seats = pd.concat([seats_df, pd.DataFrame({"tool": ["Epsilon"], "user_id": ["u9"], "team": ["t2"],
                                               "assigned_at": pd.to_datetime(["2025-01-01"]), "last_active_at": pd.NaT})],
                      ignore_index=True)
    result = tl.build_report(tools, seats, PARAMS, PERIOD, "t2").result
    assert result.lines[0] == (
        "2 tools nobody uses cost $1,000 a year: Delta ($800; 8 seats, none assigned), Epsilon ($200; 1 of 4 seats assigned, "
        "none used in the last 30 days, renews in 20 days): cancel them, or give the seats to people who need them."
    )
    assert result.actions[0].rule == "tools.unused" and result.actions[0].money == pytest.approx(1000)
    assert result.figures["unused_spend"].value == pytest.approx(1000)
    # Not also asked to review before renewal: cancelling covers it.
    assert [a.rule for a in result.actions] == ["tools.unused"]
    # In the organisation's report, the owner is named too.
    org = tl.build_report(tools, seats, PARAMS, PERIOD, "all").result
    assert org.lines[0].startswith("2 tools nobody uses cost $1,000 a year: Delta (owner: t2, $800; 8 seats, none assigned)")
    assert org.actions[0].severity == tl.Severity.HIGH
    # The subject names the tools, so the organisation's list is not taken for a repeat of a
    # team's on the index's "look here first" (it is only when it names the same tools).
    assert result.actions[0].subject == org.actions[0].subject == "Delta, Epsilon"


def test_large_idle_spend_is_named_with_its_money(tools_df, seats_df):
    # Alpha (t1): 2 of 10 seats engaged, $800 idle; with the threshold at $500 it is named (its
    # renewal in 20 days is past the 10-day review window set here, so no review action names it).
    params = ToolsParams(rightsize_action_money=500, review_days=10)
    result = tl.build_report(tools_df, seats_df, params, PERIOD, "t1").result
    named = [a for a in result.actions if a.rule == "tools.rightsize"]
    assert [(a.subject, a.money) for a in named] == [("Alpha", 800.0)]
    assert named[0].text == ("Alpha has only 2 of its 10 seats engaged (20%, floor 60%): rightsizing it to the seats in use "
                             "would save $800 a year (8 idle seats at $100 each).")
    # Beta's $300 idle is under the threshold: in the recommendations table only.
    assert "Beta" in set(tl.build_report(tools_df, seats_df, params, PERIOD, "t1").actions["subject"])
    assert not any(a.subject == "Beta" and a.rule == "tools.rightsize" for a in result.actions)
    assert named[0].severity == tl.Severity.MEDIUM


def test_a_large_idle_spend_ranks_with_the_high_actions(tools_df, seats_df):
    # Alpha's $800 idle reaches high_money ($800) here: high, and ranked above the smaller high
    # sums by its money; at $801 it stays medium, below every high action.
    at = tl.build_report(tools_df, seats_df, ToolsParams(rightsize_action_money=500, review_days=10, high_money=800), PERIOD, "t1").result
    under = tl.build_report(tools_df, seats_df, ToolsParams(rightsize_action_money=500, review_days=10, high_money=801), PERIOD, "t1").result
    rightsize = [a for a in at.actions if a.rule == "tools.rightsize"][0]
    assert rightsize.severity == tl.Severity.HIGH
    assert [a for a in under.actions if a.rule == "tools.rightsize"][0].severity == tl.Severity.MEDIUM
    # Ranked by severity, then money: nothing high with less money comes before it.
    before = at.actions[: at.actions.index(rightsize)]
    assert all(a.severity == tl.Severity.HIGH and (a.money or 0) >= 800 for a in before)


def test_coexist_params_are_checked():
    assert ToolsParams(coexist=[["Zendesk", "Intercom"]]).coexist == (("Zendesk", "Intercom"),)
    with pytest.raises(ValueError, match=r"each tools.coexist group names two or more different tools; found \['Slack', 'slack'\]"):
        ToolsParams(coexist=[["Slack", "slack"]])


def test_organisation_report_covers_every_tool(tools_df, seats_df):
    report = tl.build_report(tools_df, seats_df, PARAMS, PERIOD, "all")
    assert set(report.inventory["tool"]) == {"Alpha", "Beta", "Gamma", "Delta"}
    assert report.inventory.set_index("tool").loc["Alpha", "teams_using"] == 2


def test_team_without_seats(tools_df, seats_df):
    report = tl.build_report(tools_df, seats_df.iloc[0:0], PARAMS, PERIOD, "t9")
    assert report.inventory.empty and report.result.figures["idle_spend"].value is None
    assert report.result.lines == ["No tools or seats for this team in the workspace."]


def test_a_tools_table_without_function_still_loads(tmp_path):
    """A tools file written before the contract had ``function`` reads with the column empty, and
    overlap falls back to the category; a file with it keeps its values."""
    from playbook.workspace import Workspace

    (tmp_path / "tools.csv").write_text(
        "tool,category,owner_team,annual_cost,seats,renewal_date\nSlack,communication,it,300,2,2027-01-01\n"
        "Zoom,communication,it,200,2,\n", encoding="utf-8")
    (tmp_path / "tool_seats.csv").write_text(
        "tool,user_id,team,assigned_at,last_active_at\nSlack,u1,t1,2025-01-01,2026-11-29\nZoom,u1,t1,2025-01-01,2026-11-28\n"
        "Zoom,u2,t1,2025-01-01,\n", encoding="utf-8")
    with Workspace(tmp_path) as ws:
        tools, seats = ws.read("tools"), ws.read("tool_seats")
    assert "function" in tools.columns and tools["function"].isna().all() and len(tools) == 2
    report = tl.build_report(tools, seats, PARAMS, PERIOD, "t1")
    assert report.by_category == ("Slack", "Zoom")
    # Compared by category, chat and video meetings are one overlap. One engaged seat each; the
    # tie goes to the larger team cost: keep Zoom (2 seats x $100), drop Slack (1 seat x $150).
    assert report.overlap[["function", "keep", "money"]].values.tolist() == [["communication", "Zoom", 150.0]]
    (tmp_path / "tools.csv").write_text(
        "tool,category,function,owner_team,annual_cost,seats,renewal_date\nSlack,communication,chat,it,300,2,2027-01-01\n"
        "Zoom,communication,video meetings,it,200,2,\n", encoding="utf-8")
    with Workspace(tmp_path) as ws:
        tools = ws.read("tools")
    assert tools.set_index("tool")["function"].to_dict() == {"Slack": "chat", "Zoom": "video meetings"}
    report = tl.build_report(tools, seats, PARAMS, PERIOD, "t1")
    assert report.overlap.empty and report.by_category == ()


def test_a_long_list_of_unused_tools_names_the_costliest():
    # Ten tools with licences and no seat, costing $100..$1,000: the eight costliest are named, the total covers all ten.
    tools = pd.DataFrame({"tool": [f"T{i:02d}" for i in range(1, 11)], "category": ["c"] * 10, "owner_team": ["t"] * 10,
                          "annual_cost": [100.0 * i for i in range(1, 11)], "seats": [1] * 10, "renewal_date": pd.to_datetime([None] * 10)})
    seats = pd.DataFrame(columns=["tool", "user_id", "team", "assigned_at", "last_active_at"]).astype(
        {"assigned_at": "datetime64[ns]", "last_active_at": "datetime64[ns]"})
    line = tl.build_report(tools, seats, PARAMS, PERIOD, "t").result.lines[0]
    assert line.startswith("10 tools nobody uses cost $5,500 a year: T10 ($1,000; 1 seat, none assigned), T09 ($900;")
    assert "T03 ($300; 1 seat, none assigned), and 2 more (the recommendations table): cancel them" in line
    assert "T02 (" not in line and "T01 (" not in line


def _frame(rows, columns):
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("renewal_date", "assigned_at", "last_active_at"):
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column])
    return frame


TOOL_COLUMNS = ["tool", "category", "function", "owner_team", "annual_cost", "seats", "renewal_date"]
SEAT_COLUMNS = ["tool", "user_id", "team", "assigned_at", "last_active_at"]


def test_a_tool_without_licences_is_left_out_of_overlaps():
    # Confluence: no licences bought (seats 0), so no cost per seat, yet team t has 3 seats in it,
    # all engaged, beside Notion (10 licences at $100, 2 seats engaged) and WikiJS (5 at $100, 1
    # engaged), all "wiki". Left out: the overlap is Notion against WikiJS only; keep Notion,
    # drop WikiJS, whose 1 seat saves $100.
    tools = _frame([("Notion", "docs", "wiki", "t", 1000.0, 10, None), ("Confluence", "docs", "wiki", "t", 5000.0, 0, None),
                    ("WikiJS", "docs", "wiki", "t", 500.0, 5, None)], TOOL_COLUMNS)
    seats = _frame([("Notion", "n1", "t", "2025-01-01", "2026-11-29"), ("Notion", "n2", "t", "2025-01-01", "2026-11-29"),
                    *(("Confluence", f"c{i}", "t", "2025-01-01", "2026-11-29") for i in range(3)),
                    ("WikiJS", "w1", "t", "2025-01-01", "2026-11-29")], SEAT_COLUMNS)
    report = tl.build_report(tools, seats, PARAMS, PERIOD, "t")
    assert report.overlap[["tools", "keep", "money"]].values.tolist() == [["Notion, WikiJS", "Notion", 100.0]]
    assert "Confluence" not in set(report.actions["subject"])
    line = [line for line in report.result.lines if "tools for wiki" in line]
    assert line == ["2 tools for wiki (Notion, WikiJS; 3 seats, $300 a year): consolidating onto Notion could save $100 a year."]
    assert not any("nan" in line.casefold() for line in report.result.lines)
    # Without WikiJS nothing is left to compare: no overlap, no $nan anywhere.
    alone = tl.build_report(tools.iloc[:2], seats[seats["tool"] != "WikiJS"], PARAMS, PERIOD, "all")
    assert alone.overlap.empty and "Confluence" not in set(alone.actions["subject"])
    assert not any("nan" in line.casefold() for line in alone.result.lines)


def test_a_tool_whose_seats_are_all_new_is_too_early_to_judge():
    # CRM: 1 licence at $24,000 renewing in a year, its one seat assigned 10 days before the
    # period end and not used yet: new (under 60 days), so not "nobody uses", not to rightsize.
    tools = _frame([("CRM", "sales", "crm", "g", 24000.0, 1, "2027-11-15"), ("Chat", "comms", "chat", "g", 2000.0, 2, "2027-06-01")],
                   TOOL_COLUMNS)
    seats = _frame([("CRM", "u1", "g", "2026-11-20", None), ("Chat", "u1", "g", "2025-01-01", "2026-11-29"),
                    ("Chat", "u2", "g", "2025-01-01", "2026-11-29")], SEAT_COLUMNS)
    report = tl.build_report(tools, seats, PARAMS, PERIOD, "g")
    crm = report.owned.set_index("tool").loc["CRM"]
    assert crm["too_early"] and not crm["unused"] and crm["seats_new"] == 1
    assert report.actions.empty and report.reclaim.empty
    assert report.result.figures["unused_spend"].value == 0
    assert report.result.actions == () and not any("nobody uses" in line for line in report.result.lines)
    assert ("Too early to judge: CRM, whose assigned seats were all assigned under 60 days ago, so it is not counted as unused "
            "or to rightsize yet.") in report.result.lines
    # With new_days at 5 the seat is 10 days old, no longer new: nobody uses the tool.
    later = tl.build_report(tools, seats, ToolsParams(new_days=5), PERIOD, "g")
    assert later.result.actions[0].rule == "tools.unused" and later.result.actions[0].money == 24000
    assert later.actions[["action", "subject"]].values.tolist() == [["cancel", "CRM"]]
    # One new seat beside an old one nobody used: not all new, so the tool is unused.
    mixed = tl.build_report(tools, pd.concat([seats, _frame([("CRM", "u3", "g", "2025-01-01", None)], SEAT_COLUMNS)]), PARAMS, PERIOD, "g")
    assert mixed.owned.set_index("tool").loc["CRM", ["too_early", "unused"]].tolist() == [False, True]


def test_functions_match_whatever_their_case_and_spacing(crm_tools):
    tools = crm_tools.assign(function=["Helpdesk", " helpdesk ", "call recording", "Scheduling", "scheduling"])
    seats = _seats({"CRM-A": (10, 8), "CRM-B": (4, 3), "Sched-1": (2, 2), "Sched-2": (3, 1)})
    overlap = tl.build_report(tools, seats, PARAMS, PERIOD, "s").overlap.set_index("function")
    # One spelling each: a tie goes to the first in sort order ("Helpdesk" before "helpdesk").
    assert overlap[["tools", "keep", "money"]].to_dict("index") == {
        "Helpdesk": {"tools": "CRM-A, CRM-B", "keep": "CRM-A", "money": 400.0},
        "Scheduling": {"tools": "Sched-1, Sched-2", "keep": "Sched-1", "money": 300.0},
    }
    # The commonest spelling wins; the inventory keeps each tool's own.
    usage = tl.tool_usage(crm_tools.assign(function=["CRM", "crm", "crm ", "x", "y"]), tl.classify_seats(seats, END, PARAMS))
    assert usage.set_index("tool")["overlap_key"].to_dict() == {"CRM-A": "crm", "CRM-B": "crm", "Recorder": "crm", "Sched-1": "x",
                                                                 "Sched-2": "y"}
    assert usage.set_index("tool").loc["CRM-A", "function"] == "CRM"


def test_coexist_names_not_in_the_inventory_are_noted(crm_tools):
    seats = _seats({"CRM-A": (10, 8), "CRM-B": (4, 3), "Sched-1": (2, 2), "Sched-2": (3, 1)})
    params = ToolsParams(coexist=[["sched-1", "Chilli Piper"], ["CRM-A", "CRM-B"], ["chilli piper", "Gong "]])
    report = tl.build_report(crm_tools, seats, params, PERIOD, "s")
    assert report.unknown_coexist == ("Chilli Piper", "Gong")
    assert ("Params tools.coexist names 2 tools not in the tools table (Chilli Piper, Gong): check the spelling; a tool misspelt "
            "there is still counted in overlaps.") in report.result.lines
    # The misspelt group leaves the schedulers compared: still an overlap; the CRMs are meant to coexist.
    assert report.overlap["function"].tolist() == ["scheduling"]
    one = tl.build_report(crm_tools, seats, ToolsParams(coexist=[["Sched-1", "Chili Piper"]]), PERIOD, "s").result.lines
    assert any(line.startswith("Params tools.coexist names 1 tool not in the tools table (Chili Piper)") for line in one)
    clean = tl.build_report(crm_tools, seats, ToolsParams(coexist=[["sched-1", " SCHED-2"]]), PERIOD, "s")
    assert clean.unknown_coexist == () and not any("tools.coexist" in line for line in clean.result.lines)


def test_the_tool_count_counts_tools_not_commas():
    # "Acme, Inc. Chat" holds a comma: 2 tools for chat, not 3.
    tools = _frame([("Slack", "comms", "chat", "p", 1000.0, 10, None), ("Acme, Inc. Chat", "comms", "chat", "p", 2400.0, 1, None)],
                   TOOL_COLUMNS)
    seats = _frame([("Slack", "u1", "p", "2025-01-01", "2026-11-29"), ("Slack", "u2", "p", "2025-01-01", "2026-11-29"),
                    ("Acme, Inc. Chat", "u1", "p", "2025-01-01", "2026-11-29")], SEAT_COLUMNS)
    lines = tl.build_report(tools, seats, PARAMS, PERIOD, "p").result.lines
    assert ("2 tools for chat (Slack, Acme, Inc. Chat; 3 seats, $2,600 a year): consolidating onto Slack could save $2,400 a year."
            in lines)


def test_a_consolidation_by_category_says_so(tools_df, seats_df, crm_tools):
    # No function column: Alpha and Beta are compared by their category c1.
    lines = tl.build_report(tools_df, seats_df, PARAMS, PERIOD, "t1").result.lines
    assert ("2 tools for c1 (Alpha, Beta; 5 seats, $600 a year): consolidating onto Alpha could save $300 a year (compared by "
            "category: the tools table gives them no function; check they do the same job first).") in lines
    # CRM-B has no function, so its category "customer platforms" puts it beside CRM-A, whose
    # function is that very name: only CRM-B is named. Keep CRM-A (8 engaged), drop CRM-B (4 x $100).
    tools = crm_tools.assign(function=["Customer platforms", None, "call recording", "scheduling", "scheduling"])
    lines = tl.build_report(tools, _seats({"CRM-A": (10, 8), "CRM-B": (4, 3)}), PARAMS, PERIOD, "s").result.lines
    assert ("2 tools for Customer platforms (CRM-A, CRM-B; 14 seats, $1,400 a year): consolidating onto CRM-A could save $400 a "
            "year (compared by category: the tools table gives CRM-B no function; check they do the same job first).") in lines
    # With functions for every tool, no caveat.
    lines = tl.build_report(crm_tools, _seats({"CRM-A": (10, 8), "CRM-B": (4, 3)}), PARAMS, PERIOD, "s").result.lines
    assert "2 tools for crm (CRM-A, CRM-B; 14 seats, $1,400 a year): consolidating onto CRM-A could save $400 a year." in lines


def test_number_words_agree_with_params_of_one():
    # Windows of one day. Team g: Big (1 licence, $24,000, its seat last used 2 days before the
    # end) and Chat (2 licences, $2,000, both used on the last day); team m: Video (1 licence,
    # $500, used on the last day). g pays $26,000 / 2 engaged = $13,000 per engaged user, 26x m's $500.
    params = ToolsParams(engaged_days=1, new_days=1, inactive_days=1)
    tools = _frame([("Big", "c", "crm", "g", 24000.0, 1, None), ("Chat", "c", "chat", "g", 2000.0, 2, None),
                    ("Video", "c", "video", "m", 500.0, 1, None)], TOOL_COLUMNS)
    seats = _frame([("Big", "g1", "g", "2025-01-01", "2026-11-28 12:00"), ("Chat", "g1", "g", "2025-01-01", "2026-11-30 12:00"),
                    ("Chat", "g2", "g", "2025-01-01", "2026-11-30 12:00"), ("Video", "m1", "m", "2025-01-01", "2026-11-30 12:00")],
                   SEAT_COLUMNS)
    lines = tl.build_report(tools, seats, params, PERIOD, "all").result.lines
    assert lines[0] == ("1 tool nobody uses costs $24k a year: Big (owner: g, $24k; 1 of 1 seat assigned, none used in the last 1 day): "
                        "cancel it, or give the seats to people who need it.")
    assert ("Team g pays $13k a year per engaged user, 26.0x the median of the other teams ($500); 1 of its 3 seats was not used "
            "in the last 1 day.") in lines
    assert "Yearly idle spend $24k on all tools (3 tools with licences, 3 of 4 seats engaged)." in lines
    assert "1 seat to reclaim: assigned over 1 day ago and not used in the last 1 day (the seats-to-reclaim table)." in lines
