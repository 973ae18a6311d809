"""Communication and enablement metrics against hand computations, with the awkward cases: a
request never answered, a release with no comms, a training never completed."""

import math
from datetime import date

import pandas as pd
import pytest

from playbook import communication as cm
from playbook import enablement as en
from playbook.config import CommunicationParams, EnablementParams
from playbook.period import Period
from playbook.health import Events
from playbook.views import headline_text

PERIOD = Period(date(2026, 11, 1), date(2026, 11, 30))
CP, EP = CommunicationParams(), EnablementParams()
T = pd.Timestamp


@pytest.fixture
def requests_df():
    rows = [
        ("Q1", "sales", "2026-11-02 09:00", "2026-11-02 15:00", "2026-11-04 09:00"),   # 6 h, 48 h
        ("Q2", "sales", "2026-11-10 09:00", "2026-11-13 09:00", "2026-11-20 09:00"),   # 72 h, 240 h
        ("Q3", "sales", "2026-11-28 09:00", None, None),                               # never answered, waited 63 h
        ("Q4", "support", "2026-11-29 12:00", None, None),                             # unanswered but within 24 h... 36 h: overdue
        ("Q5", "support", "2026-10-01 09:00", "2026-10-01 10:00", None),               # before the period, never closed
    ]
    frame = pd.DataFrame(rows, columns=["request_id", "from_group", "opened_at", "first_response_at", "closed_at"])
    for c in ("opened_at", "first_response_at", "closed_at"):
        frame[c] = pd.to_datetime(frame[c])
    return frame.assign(team="t", topic="x", channel="slack")


def test_requests_by_group_by_hand(requests_df):
    table = cm.requests_by_group(requests_df, PERIOD, CP).set_index("from_group")
    sales = table.loc["sales"]
    assert sales["requests"] == 3
    assert sales["median_first_response"] == pytest.approx(39) and sales["median_close"] == pytest.approx(144)
    assert sales["within_sla"] == pytest.approx(1 / 3)  # Q1 only; Q3 waited past the SLA with no answer
    assert (sales["open"], sales["overdue"]) == (1, 1)
    # Q5 was opened before the period but is still open and overdue at its end: it counts.
    assert table.loc["support", "requests"] == 1 and (table.loc["support", "open"], table.loc["support", "overdue"]) == (2, 2)
    assert table["overdue"].sum() == len(cm.overdue_requests(requests_df, PERIOD.end, CP))


def test_overdue_requests_longest_first(requests_df):
    late = cm.overdue_requests(requests_df, PERIOD.end, CP)
    assert late["request_id"].tolist() == ["Q5", "Q3", "Q4"]
    assert late.loc[0, "waiting_days"] == pytest.approx(60 + 15 / 24)


@pytest.fixture
def releases_df():
    return pd.DataFrame(
        {
            "release_id": ["R1", "R2", "R3"], "product": "p", "team": "t", "feature_id": ["F1", "F2", None],
            "title": ["One", "Two", "Three"], "tier": ["major", "minor", "major"],
            "release_date": pd.to_datetime(["2026-11-05", "2026-10-01", "2026-11-20"]),
            "docs_ready_at": pd.to_datetime(["2026-11-01", "2026-09-20", "2026-11-25"]),
            "training_ready_at": pd.to_datetime(["2026-11-03", None, None]),
            "notes_ready_at": pd.to_datetime(["2026-11-04", "2026-09-30", "2026-11-19"]),
        }
    )


@pytest.fixture
def comms_df():
    return pd.DataFrame(
        {
            "comm_id": ["C1", "C2", "C3", "C4"], "release_id": ["R1", "R1", "R1", "R2"],
            "audience": ["sales", "success", "sales", "support"], "channel": ["email", "email", "slack", "email"],
            "sent_at": pd.to_datetime(["2026-11-05"] * 4), "recipients": [40, 20, 40, 28], "opened": [30, 5, 10, 14],
        }
    )


def test_coverage_and_reach(releases_df, comms_df):
    table = cm.coverage(releases_df, comms_df, CP).set_index("release_id")
    assert table.loc["R1", "missing"] == "support" and table.loc["R1", "coverage"] == pytest.approx(2 / 3)
    assert table.loc["R2", "missing"] == "" and table.loc["R2", "coverage"] == 1
    assert table.loc["R3", "reached"] == "none" and table.loc["R3", "coverage"] == 0  # a release with no comms
    reach = cm.reach(comms_df, releases_df).set_index(["release_id", "audience", "channel"])
    assert reach.loc[("R1", "sales", "email"), "reach"] == pytest.approx(0.75)
    assert reach.loc[("R1", "success", "email"), "reach"] == pytest.approx(0.25)


def test_digests_and_known_issues(releases_df, comms_df):
    roadmap = pd.DataFrame({"item_id": ["I1", "I2"], "title": ["A", "B"], "product": "p", "status": ["planned", "shipped"]})
    escalations = pd.DataFrame({
        "escalation_id": ["E1", "E2"], "priority": ["P1", "P3"], "title": ["Down", "Slow"], "product": "p",
        "opened_at": pd.to_datetime(["2026-11-20", "2026-11-21"]), "resolved_at": pd.to_datetime([None, None]),
    })
    bugs = pd.DataFrame({"bug_id": ["B1", "B2"], "severity": ["S2", "S4"], "product": "p",
                         "opened_at": pd.to_datetime(["2026-11-01", "2026-11-01"]), "closed_at": pd.to_datetime([None, None])})
    issues = cm.known_issues(escalations, bugs, PERIOD.end)
    # The gravest first: the P1 escalation before the S2 bug.
    assert issues["id"].tolist() == ["E1", "B1"]
    digests = {d.audience: d for d in cm.digests(releases_df, comms_df, roadmap, issues, PERIOD, CP)}
    assert digests["support"].shipped["release_id"].tolist() == ["R1", "R3"]
    assert digests["support"].coming["item_id"].tolist() == ["I1"]
    assert digests["support"].unreached["release_id"].tolist() == ["R1", "R3"]
    assert digests["revenue"].unreached["release_id"].tolist() == ["R3"]
    # A major release requires sales, success and support (params): each miss is a real one.
    assert digests["support"].unreached["required"].tolist() == [True, True]
    assert digests["revenue"].unreached["required"].tolist() == [True]
    # Made minor, R3 requires support only: not sent to sales or marketing is no miss.
    minor = releases_df.assign(tier=releases_df["tier"].where(releases_df["release_id"] != "R3", "minor"))
    digests = {d.audience: d for d in cm.digests(minor, comms_df, roadmap, issues, PERIOD, CP)}
    assert digests["revenue"].unreached.set_index("release_id")["required"].to_dict() == {"R3": False}
    assert digests["support"].unreached.set_index("release_id")["required"].to_dict() == {"R1": True, "R3": True}


def test_readiness_by_hand(releases_df):
    table = en.readiness(releases_df, EP).set_index("release_id")
    assert table.loc["R1", "ready"] and table.loc["R1", "docs_days_early"] == pytest.approx(4)
    assert table.loc["R2", "ready"] and table.loc["R2", "training"] == "not required"  # a minor release needs none
    assert not table.loc["R3", "ready"] and table.loc["R3", "not_ready"] == "docs, training (never)"
    assert table.loc["R3", "training"] == "missing"  # required for a major release and never made
    assert table.loc["R3", "docs_days_early"] == pytest.approx(-5)


def test_training_matrix_and_gaps():
    trainings = pd.DataFrame({
        "person_id": ["a", "b", "c", "d", "e", "f"], "audience": ["support"] * 4 + ["sales"] * 2, "team": "t",
        "course_id": "C1", "release_id": "R1", "feature_id": "F1",
        "assigned_at": pd.to_datetime(["2026-11-01"] * 6),
        "completed_at": pd.to_datetime(["2026-11-03", None, None, None, "2026-11-02", "2026-11-04"]),  # three never completed
        "quiz_score": [55.0, None, None, None, 90.0, 70.0],
    })
    features = pd.DataFrame({"feature_id": ["F1"], "name": ["Feature one"]})
    matrix = en.training_matrix(trainings, features).set_index("audience")
    assert matrix.loc["support", "completion"] == pytest.approx(0.25) and matrix.loc["support", "mean_score"] == 55
    assert matrix.loc["sales", "completion"] == 1 and matrix.loc["sales", "mean_score"] == 80
    gaps = en.knowledge_gaps(matrix.reset_index(), EP)
    assert gaps[["audience", "feature"]].values.tolist() == [["support", "Feature one"]]


def test_launch_adoption_by_hand(releases_df):
    events = pd.DataFrame({
        "ts": pd.to_datetime(["2026-11-06", "2026-11-07", "2026-11-08", "2026-11-20", "2026-12-20", "2026-10-02"]),
        "visitor_id": ["v1", "v2", "v3", "v4", "v5", "v6"],
        "account_id": ["a1", "a2", "a3", "a4", "a5", "a6"],
        "product": "p",
        "feature_id": ["F1", None, "F1", None, "F1", "F2"],
    })
    escalations = pd.DataFrame({"title": ["One is broken", "Other"], "opened_at": pd.to_datetime(["2026-11-10", "2026-11-10"])})
    features = pd.DataFrame({"feature_id": ["F1", "F2"], "name": ["One", "Two"]})
    table = en.launch_adoption(Events.from_frame(events), releases_df, escalations, features).set_index("release_id")
    r1 = table.loc["R1"]
    # active 5 Nov - 5 Dec: a1..a4; adopters within 30 days: a1, a3 (a5 first used it later)
    assert (r1["active_accounts"], r1["adopters"]) == (4, 2) and r1["adoption_30d"] == pytest.approx(0.5)
    assert r1["median_days_to_first_use"] == pytest.approx(2)  # adopters in the window: 1 and 3 days (a5's 45 days is outside)
    assert r1["escalations_30d"] == 1
    assert table.loc["R2", "adoption_30d"] == 1.0
    slow = en.slow_launches(table.reset_index(), 0.6)
    assert slow["release_id"].tolist() == ["R1"]


def test_headlines_carry_the_change_against_the_previous_period(requests_df, releases_df, comms_df):
    empty = pd.DataFrame(columns=["item_id", "title", "product", "status"])
    escalations = pd.DataFrame(columns=["escalation_id", "priority", "title", "product", "opened_at", "resolved_at"]).astype(
        {"opened_at": "datetime64[ns]", "resolved_at": "datetime64[ns]"})
    bugs = pd.DataFrame(columns=["bug_id", "severity", "product", "opened_at", "closed_at"]).astype(
        {"opened_at": "datetime64[ns]", "closed_at": "datetime64[ns]"})
    report = cm.build_report(requests_df, releases_df, comms_df, empty, escalations, bugs, CP, PERIOD)
    # at 31 Oct only Q5 was overdue (answered, never closed); at 30 Nov Q5, Q3 and Q4
    assert report.overdue_before == 1 and report.result.figures["overdue_requests"].change == 2
    assert headline_text(report.result) == "3 overdue requests (up 2), 2 releases missed an audience"  # R1 and R3


def test_a_request_closed_without_a_recorded_first_response_is_not_overdue():
    rows = pd.DataFrame({
        "request_id": ["C1", "C2"], "from_group": ["sales", "sales"],
        "opened_at": pd.to_datetime(["2026-06-01 09:00", "2026-11-01 09:00"]),
        "first_response_at": pd.to_datetime([None, None]),
        "closed_at": pd.to_datetime(["2026-06-02 09:00", None]),
    }).assign(team="t", topic="x", channel="slack")
    # C1 was closed in June (answered by closing it); C2 is still open and unanswered.
    assert cm.overdue_requests(rows, PERIOD.end, CP)["request_id"].tolist() == ["C2"]
    assert cm.requests_by_group(rows, PERIOD, CP)["overdue"].sum() == 1
