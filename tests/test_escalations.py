"""Escalation and bug metrics against hand computations on a small frame."""

import math
from dataclasses import replace
from datetime import date

import pandas as pd
import pytest

from playbook import accounts as ac
from playbook import escalations as es
from playbook import views
from playbook.config import EscalationsParams
from playbook.period import Period

PERIOD = Period(date(2026, 11, 1), date(2026, 11, 30))
PARAMS = EscalationsParams()
T = pd.Timestamp


@pytest.fixture
def esc_df():
    rows = [
        ("E1", "A1", "P1", "2026-11-05 10:00", "2026-11-05 10:30", "2026-11-05 20:00", 0),
        ("E2", "A1", "P1", "2026-11-10 10:00", "2026-11-10 12:00", "2026-11-12 10:00", 1),
        ("E3", "A2", "P1", "2026-11-30 23:30", None, None, 0),  # too recent to judge: pending
        ("E4", "A2", "P2", "2026-11-20 00:00", None, None, 0),  # never answered: breached both
        ("E5", "A3", "P3", "2026-10-01 00:00", None, None, 0),  # before the period, still open
        ("E6", "A1", "P2", "2026-11-25 09:00", "2026-11-25 10:00", "2026-12-03 00:00", 0),  # resolved after the end
        ("E7", "A1", "P4", "2026-11-26 00:00", "2026-11-26 02:00", "2026-11-27 00:00", 0),
    ]
    frame = pd.DataFrame(rows, columns=["escalation_id", "account_id", "priority", "opened_at", "first_response_at", "resolved_at", "reopened"])
    for column in ("opened_at", "first_response_at", "resolved_at"):
        frame[column] = pd.to_datetime(frame[column])
    return frame.assign(product="p", team="t", category="bug", title="x")


@pytest.fixture
def accounts3():
    return pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A3"],
            "name": ["Big", "Mid", "Gone"],
            "segment": ["enterprise", "mid-market", "smb"],
            "arr": [500_000.0, 100_000.0, 50_000.0],
            "churned_at": pd.to_datetime([None, None, "2026-11-15"]),
        }
    )


def test_sla_table_by_hand(esc_df):
    table = es.sla_table(esc_df, PERIOD, PARAMS).set_index("priority")
    assert table["opened"].tolist() == [3, 2, 0, 1]
    p1, p2, p3, p4 = (table.loc[p] for p in ("P1", "P2", "P3", "P4"))
    assert p1["first_response_breach_rate"] == pytest.approx(1 / 2)  # E1 achieved, E2 breached, E3 pending
    assert p1["median_first_response"] == pytest.approx(1.25)
    assert p1["resolution_breach_rate"] == pytest.approx(1 / 2)
    assert p2["first_response_breach_rate"] == pytest.approx(1 / 2)  # E4 waited 11 days, E6 answered in 1 h
    assert p2["resolution_breach_rate"] == 1.0  # E6 was still open past 72 h at the end
    assert math.isnan(p2["median_resolution"])
    assert math.isnan(p3["first_response_breach_rate"])
    assert p4["first_response_breach_rate"] == 0 and p4["resolution_breach_rate"] == 0


def test_reopen_rate(esc_df):
    assert es.reopen_rate(esc_df, PERIOD) == pytest.approx(1 / 3)  # E1, E2, E7 resolved; E2 reopened


def test_backlog_age_and_buckets(esc_df):
    count, median, p90 = es.backlog_age(esc_df, PERIOD.end)
    ages = pd.Series([0.5 / 24, 11.0, 61.0, 5 + 15 / 24])
    assert count == 4
    assert median == pytest.approx(ages.median()) and p90 == pytest.approx(ages.quantile(0.9))
    table = es.backlog(esc_df, PERIOD.end).set_index(["priority", "age"])["escalations"]
    assert table[("P1", "under 1 week")] == 1 and table[("P2", "1-4 weeks")] == 1
    assert table[("P2", "under 1 week")] == 1 and table[("P3", "1-3 months")] == 1 and table.sum() == 4


def test_arr_at_risk_and_repeat_accounts(esc_df, accounts3):
    risk, table = ac.arr_at_risk(esc_df, accounts3, PERIOD.end)
    assert risk == 600_000 and table["account_id"].tolist() == ["A1", "A2"]
    repeats = ac.repeat_accounts(esc_df, accounts3, PERIOD, threshold=3)
    assert repeats[["account_id", "escalations", "still_open"]].values.tolist() == [["A1", 4, 1]]


@pytest.fixture
def bugs_df():
    rows = [
        ("B1", "S1", "customer", "2026-11-02", None),
        ("B2", "S2", "internal", "2026-11-03", "2026-11-10"),
        ("B3", "S2", "customer", "2026-11-16", None),
        ("B4", "S3", "internal", "2026-10-01", None),
        ("B5", "S1", "internal", "2026-11-20", "2026-12-05"),  # closed after the end: open at the end
    ]
    frame = pd.DataFrame(rows, columns=["bug_id", "severity", "source", "opened_at", "closed_at"])
    return frame.assign(opened_at=pd.to_datetime(frame["opened_at"]), closed_at=pd.to_datetime(frame["closed_at"]), product="p", team="t")


def test_bugs_by_hand(bugs_df):
    table = es.bugs_open_by_severity(bugs_df, PERIOD.end).set_index("severity")
    assert table["open"].tolist() == [2, 1, 1, 0]
    assert table.loc["S3", "median_age_days"] == pytest.approx(61)
    weekly = es.bugs_per_week(bugs_df, PERIOD.end, weeks=5).set_index("week")
    assert weekly.loc[T("2026-11-02"), "opened"] == 2 and weekly.loc[T("2026-11-09"), "closed"] == 1
    assert weekly["closed"].sum() == 1  # B5 closed after the end
    assert es.customer_found_share(bugs_df, PERIOD) == pytest.approx(2 / 4)


def test_account_health_by_hand(esc_df, accounts3):
    activity = pd.DataFrame({"account_id": ["A1", "A2"], "current": [6, 12], "previous": [12, 0]})
    responses = pd.DataFrame(
        {"account_id": ["A1", "A2", "A2"], "score": [10, 3, 8], "submitted_at": pd.to_datetime(["2026-11-02", "2026-10-01", "2026-11-20"])}
    )
    table = ac.account_health(activity, responses, esc_df, accounts3, PERIOD, PARAMS).set_index("account_id")
    # A1: usage 6/12, promoter, 4 escalations (cap 3) -> 0, trend 0.5 + 0.5 * (6 - 12) / 12 = 0.25
    assert table.loc["A1", ["usage", "nps", "escalations", "trend"]].tolist() == pytest.approx([0.5, 1.0, 0.0, 0.25])
    assert table.loc["A1", "health"] == pytest.approx(100 * (0.4 * 0.5 + 0.2 * 1 + 0.2 * 0 + 0.2 * 0.25))
    # A2: usage 1, latest answer 8 (passive), 2 escalations -> 1/3 left, trend from nothing -> 1
    assert table.loc["A2", ["usage", "nps", "escalations", "trend"]].tolist() == pytest.approx([1.0, 0.5, 1 / 3, 1.0])


def test_summary_names_breaches_and_repeat_account(esc_df, accounts3):
    from playbook.health import Events

    no_events = Events.from_frame(pd.DataFrame({
        "ts": pd.Series([], dtype="datetime64[us]"), "visitor_id": pd.Series([], dtype=object), "account_id": pd.Series([], dtype=object),
        "product": pd.Series([], dtype=object), "feature_id": pd.Series([], dtype=object),
    }))
    features = pd.DataFrame(columns=["feature_id", "name", "product", "team", "is_core", "released_at"])
    responses = pd.DataFrame(columns=["account_id", "score", "submitted_at"]).astype({"submitted_at": "datetime64[ns]"})
    bugs = pd.DataFrame(columns=["bug_id", "severity", "source", "opened_at", "closed_at"]).astype(
        {"opened_at": "datetime64[ns]", "closed_at": "datetime64[ns]"}
    )
    report = es.build_report(esc_df, bugs, accounts3, responses, features, no_events, PARAMS, PERIOD)
    assert report.result.needs_action
    assert "P1 first responses breached their 1-hour target in 50% of cases (1 escalation) this period, above the 10% allowed." in report.result.lines
    assert "Big (A1, $500k ARR, enterprise) opened 4 escalations this period; 1 still open." in report.result.lines
    assert "ARR at risk: $600k across 2 accounts with an open P1 or P2 escalation." in report.result.lines
    assert report.result.figures["pes"].value is None
    # Open now and past their targets, whatever their open date: E4 (P2, never answered, 4-hour
    # reply target, 260 hours over), E6 (P2, answered, 72-hour resolution target, 63 hours over) and
    # E5 (P3, opened before the period, 8-hour reply target, 1,456 hours over; its account churned).
    assert report.result.figures["live_breaches"].value == 3
    # The largest account is named first, whatever the hours over.
    assert ("2 open P2 escalations are breaching their SLA now: E6 (Big, $500k ARR), opened 25 Nov 2026, 3 days past its "
            "72-hour resolution target; E4 (Mid, $100k ARR), opened 20 Nov 2026, 11 days past its 4-hour first response target. "
            "$600k ARR at stake.") in report.result.lines
    assert ("1 open P3 escalation is breaching its SLA now: E5 (Gone), opened 01 Oct 2026, 61 days past its 8-hour first "
            "response target.") in report.result.lines
    assert "1 open escalation will breach SLA within 24 hours: E3 (P1, first response) in under an hour." in report.result.notes
    # Severity, then money: the P1 breach rates (high) first; then the live P2 breaches (medium,
    # $600k), before ARR at risk (medium, the same $600k, the roll-up of what they name).
    rules = [a.rule for a in report.result.actions]
    assert rules[:4] == ["escalations.first_response_breach", "escalations.resolution_breach", "escalations.live_breach", "escalations.arr_at_risk"]
    assert rules[-1] == "escalations.live_breach" and report.result.actions[-1].subject == "P3"
    assert report.result.headline == ("live_breaches", "pes")


def test_live_sla_whatever_the_open_date(esc_df):
    live = es.live_sla(esc_df, PERIOD.end, PARAMS)
    # The end is 1 Dec 00:00. Open then: E5 (P3, opened 1 Oct, no reply: due 1 Oct 08:00), E4 (P2,
    # opened 20 Nov, no reply: due 20 Nov 04:00), E6 (P2, replied, resolution due 28 Nov 09:00)
    # and E3 (P1, opened 30 Nov 23:30, no reply: due 1 Dec 00:30). Breaching first, by priority,
    # longest over first.
    assert live["escalation_id"].tolist() == ["E4", "E6", "E5", "E3"]
    assert live["clock"].tolist() == ["first response", "resolution", "first response", "first response"]
    assert live["breaching"].tolist() == [True, True, True, False]
    assert live["hours_over"].iloc[:3].tolist() == pytest.approx([11 * 24 - 4, 2 * 24 + 15, 61 * 24 - 8])
    assert live["hours_to_breach"].iloc[3] == pytest.approx(0.5) and live["hours_to_breach"].iloc[:3].isna().all()
    assert live["due_at"].iloc[1] == T("2026-11-28 09:00") and live["due_at"].iloc[2] == T("2026-10-01 08:00")
    table = es.live_by_priority(live, 24).set_index("priority")
    assert table.loc["P1"].tolist() == [1, 0, 1, pytest.approx(0.5)]
    assert table.loc["P2", ["open", "breaching", "due_soon"]].tolist() == [2, 2, 0]
    assert table.loc["P3", ["open", "breaching"]].tolist() == [1, 1] and table.loc["P4", "open"] == 0
    assert math.isnan(table.loc["P2", "next_breach_hours"])


def test_live_sla_edges(esc_df):
    # Nothing open: no rows, and zeros per priority.
    done = esc_df[esc_df["escalation_id"].isin(["E1", "E2", "E7"])]
    assert es.live_sla(done, PERIOD.end, PARAMS).empty
    table = es.live_by_priority(es.live_sla(done, PERIOD.end, PARAMS), 24)
    assert table["open"].sum() == 0 and table["breaching"].sum() == 0 and table["next_breach_hours"].isna().all()
    # Due exactly at the end: not breached yet, no time left. A reply after the end is no reply yet.
    edge = pd.DataFrame({
        "escalation_id": ["X1", "X2"], "account_id": "A1", "priority": ["P1", "P2"],
        "opened_at": [T("2026-11-30 00:00"), T("2026-11-30 22:00")],
        "first_response_at": [T("2026-11-30 00:10"), T("2026-12-01 02:00")], "resolved_at": pd.NaT, "reopened": 0,
    })
    live = es.live_sla(edge, PERIOD.end, PARAMS).set_index("escalation_id")
    assert not live.loc["X1", "breaching"] and live.loc["X1", "hours_to_breach"] == 0
    assert live.loc["X2", "clock"] == "first response" and live.loc["X2", "hours_to_breach"] == pytest.approx(2)


def test_old_severe_bugs_with_the_arr_behind_them(esc_df, accounts3):
    rows = [
        ("B1", "S1", "2026-11-02", None, None),  # 29 days: too young
        ("B6", "S2", "2026-08-01", None, "E1"),  # 122 days, from Big's escalation
        ("B7", "S1", "2026-09-01", "2026-11-15", None),  # closed
        ("B8", "S2", "2026-06-01", None, "E5"),  # 183 days, from a churned account's escalation
        ("B9", "S1", "2026-10-02", None, None),  # exactly 60 days
        ("B10", "S3", "2026-01-01", None, None),  # not severe
    ]
    bugs = pd.DataFrame(rows, columns=["bug_id", "severity", "opened_at", "closed_at", "escalation_id"])
    bugs = bugs.assign(opened_at=pd.to_datetime(bugs["opened_at"]), closed_at=pd.to_datetime(bugs["closed_at"]), product="p", source="customer")
    table = es.old_severe_bugs(bugs, esc_df, accounts3, PERIOD.end, 60)
    assert table["bug_id"].tolist() == ["B9", "B8", "B6"]
    assert table["age_days"].tolist() == pytest.approx([60, 183, 122])
    assert table["name"].tolist()[1:] == ["Gone", "Big"]
    # A churned account's ARR is no longer at stake.
    assert math.isnan(table["arr"].iloc[1]) and table["arr"].iloc[2] == 500_000
    # No escalation column (an import without links) and no old bug: no rows, no error.
    assert es.old_severe_bugs(bugs.drop(columns="escalation_id"), esc_df, accounts3, PERIOD.end, 400).empty


def test_unhealthy_accounts_ranked_by_arr_at_risk():
    scores = pd.DataFrame({
        "account_id": ["a", "b", "c", "d", "e"],
        "name": ["Ann", "Bo", "Cy", "Di", None],
        "health": [49.4, 49.6, 30.0, 80.0, 10.0],
        "arr": [100.0, 500.0, 500.0, 900.0, math.nan],
    })
    # Under 50 as shown (49.6 reads 50): a, c, e; the largest ARR first, missing ARR last; an
    # account missing from the accounts table is named by its id.
    table = ac.unhealthy_accounts(scores, 50)
    assert table["account_id"].tolist() == ["c", "a", "e"] and table["name"].tolist() == ["Cy", "Ann", "e"]
    assert ac.unhealthy_accounts(scores, 5).empty


def _empty_inputs():
    """No events, features, answers or bugs: the escalation side of a report alone."""
    from playbook.health import Events

    no_events = Events.from_frame(pd.DataFrame({
        "ts": pd.Series([], dtype="datetime64[us]"), "visitor_id": pd.Series([], dtype=object), "account_id": pd.Series([], dtype=object),
        "product": pd.Series([], dtype=object), "feature_id": pd.Series([], dtype=object),
    }))
    features = pd.DataFrame(columns=["feature_id", "name", "product", "team", "is_core", "released_at"])
    responses = pd.DataFrame(columns=["account_id", "score", "submitted_at"]).astype({"submitted_at": "datetime64[ns]"})
    bugs = pd.DataFrame(columns=["bug_id", "severity", "source", "opened_at", "closed_at", "product"]).astype(
        {"opened_at": "datetime64[ns]", "closed_at": "datetime64[ns]"}
    )
    return bugs, responses, features, no_events


def test_churned_accounts_are_not_unhealthy_arr(esc_df, accounts3):
    # Gone (A3) churned on 15 Nov, after escalating on 3 Nov; an account churned on the last day
    # of the period is gone too, one churned the day after is still live at the end.
    assert ac.churned_accounts(accounts3, PERIOD.end) == {"A3"}
    edge = accounts3.assign(churned_at=pd.to_datetime([None, "2026-11-30 23:00", "2026-12-01 00:00"]))
    assert ac.churned_accounts(edge, PERIOD.end) == {"A2"}
    extra = pd.DataFrame([("E8", "A3", "P4", T("2026-11-03 09:00"), T("2026-11-03 10:00"), T("2026-11-04 09:00"), 0)],
                         columns=["escalation_id", "account_id", "priority", "opened_at", "first_response_at", "resolved_at", "reopened"])
    escalations = pd.concat([esc_df, extra.assign(product="p", team="t", category="bug", title="x")], ignore_index=True)
    bugs, responses, features, no_events = _empty_inputs()
    report = es.build_report(escalations, bugs, accounts3, responses, features, no_events, PARAMS, PERIOD)
    # No usage and no answers: health = 100 * (0.4 * 0 + 0.2 * 0.5 + 0.2 * escalations part + 0.2 * 0.5),
    # the escalations part 1 - n / 3 (floored at 0): A1 (4) 20, A2 (2) 26.7, A3 (1) 33.3, all under 50.
    health = report.health.set_index("account_id")["health"]
    assert health.to_dict() == pytest.approx({"A1": 20.0, "A2": 20 + 20 / 3, "A3": 20 + 40 / 3})
    # The churned A3 is left out: its $50k is lost, not at risk.
    assert report.unhealthy["account_id"].tolist() == ["A1", "A2"]
    assert report.result.figures["unhealthy_arr"].value == 600_000
    note = next(n for n in report.result.notes if "health under" in n)
    assert note.startswith("Unhealthy accounts' ARR $600k across 2 accounts with health under 50") and "Gone" not in note
    # Without an accounts table's churn dates, nobody is left out.
    assert ac.unhealthy_accounts(report.health, 50)["account_id"].tolist() == ["A1", "A2", "A3"]


def test_no_first_responses_in_the_data_judges_resolution_only(esc_df, accounts3):
    silent = esc_df.assign(first_response_at=pd.NaT)
    assert es.has_first_responses(esc_df) and not es.has_first_responses(silent)
    live = es.live_sla(silent, PERIOD.end, PARAMS, replies=False).set_index("escalation_id")
    # The end is 1 Dec 00:00. Resolution clocks: E4 (P2, 20 Nov 00:00 + 72 h) 192 h over; E6 (P2,
    # 25 Nov 09:00 + 72 h) 63 h over; E5 (P3, 1 Oct + 168 h) 61 * 24 - 168 h over; E3 (P1,
    # 30 Nov 23:30 + 24 h) 23.5 h to go.
    assert (live["clock"] == "resolution").all()
    assert live.loc[["E4", "E6", "E5"], "hours_over"].tolist() == pytest.approx([192, 63, 61 * 24 - 168])
    assert live.loc["E3", "hours_to_breach"] == pytest.approx(23.5) and not live.loc["E3", "breaching"]
    # Read as unanswered instead, E3 would be due within the hour on its 1-hour reply target.
    assert es.live_sla(silent, PERIOD.end, PARAMS).set_index("escalation_id").loc["E3", "hours_to_breach"] == pytest.approx(0.5)
    # The SLA table judges no reply targets: no 100% breach from a column the data never fills.
    table = es.sla_table(silent, PERIOD, PARAMS, replies=False).set_index("priority")
    assert table["first_response_breach_rate"].isna().all() and (table["first_response_breached"] == 0).all()
    assert table.loc["P1", "resolution_breach_rate"] == pytest.approx(1 / 2)
    bugs, responses, features, no_events = _empty_inputs()
    report = es.build_report(silent, bugs, accounts3, responses, features, no_events, PARAMS, PERIOD)
    assert not report.first_responses and report.result.figures["live_breaches"].value == 3
    assert not [a for a in report.result.actions if a.rule == "escalations.first_response_breach"]
    assert ("No escalation in the data has a first-response time, so SLAs are judged on resolution only: open escalations "
            "run the resolution clock, and first-response breach rates are not computed.") in report.result.notes
    # 23.5 hours left, read to the hour.
    assert "1 open escalation will breach SLA within 24 hours: E3 (P1, resolution) in 24 hours." in report.result.notes
    # With replies in the data, a team's unanswered escalations are late replies, and no note.
    assert es.build_report(esc_df, bugs, accounts3, responses, features, no_events, PARAMS, PERIOD).first_responses


def test_level_shift_summary_states_each_product_once(esc_df, accounts3):
    from playbook.health import LevelShift

    bugs, responses, features, no_events = _empty_inputs()
    base = es.build_report(esc_df, bugs, accounts3, responses, features, no_events, PARAMS, PERIOD)
    day = T("2026-11-10")
    shifts = [  # as health.level_shifts returns them: the largest relative change first
        LevelShift("r", None, day, 100.0, 180.0, 7),  # +80%
        LevelShift("p", "a", day, 100.0, 30.0, 7),  # -70%, p's total shifted too
        LevelShift("q", 'user\'s "click"', day, 100.0, 32.0, 7),  # -68%, q's total did not shift
        LevelShift("p", None, day, 200.0, 80.0, 7),  # -60%
        LevelShift("p", "b", day, 100.0, 50.0, 7),  # -50%
        LevelShift("s", None, day, 100.0, 60.0, 7),  # -40%
    ]
    assert [(s.product, s.event) for s in es.summary_shifts(shifts)] == [("r", None), ("q", 'user\'s "click"'), ("p", None), ("s", None)]
    result = es.summarise(replace(base, shifts=tuple(shifts)), PARAMS)
    stated = [a for a in result.actions if a.rule == "escalations.level_shift"]
    assert [a.subject for a in stated] == ["r/all", 'q/user\'s "click"', "p/all"]
    assert stated[0].text.startswith("Possible tracking change, not behaviour: r's daily events rose 80% on 10 Nov 2026 in a single step")
    # The event name as written, not a Python repr.
    assert stated[1].text.startswith("Possible tracking change, not behaviour: q's “user's \"click\"” daily events fell 68% on 10 Nov 2026")
    assert "\\'" not in stated[1].text
    # p once (its total), and s left out but counted.
    assert ("p's daily events fell 60% on 10 Nov 2026 in a single step (a median of 200 a day in the 7 days before, 80 in the "
            "7 days from it); and 1 more (listed below). A step") in stated[2].text
    assert sum("p's" in a.text for a in result.actions) == 1
    # Without p's total, p's event kind is stated; three in all, so no "more".
    few = [a for a in es.summarise(replace(base, shifts=tuple(shifts[:3])), PARAMS).actions if a.rule == "escalations.level_shift"]
    assert [a.subject for a in few] == ["r/all", "p/a", 'q/user\'s "click"'] and not any("more" in a.text for a in few)


def test_number_words_for_params_of_one(esc_df, accounts3):
    assert views.param_words(1, "hours") == "1 hour" and views.param_words(24.0, "hours") == "24 hours"
    assert views.param_words(1.5, "hours") == "1.5 hours" and views.param_words(0.25, "hours") == "0.25 hours"
    _, responses, features, no_events = _empty_inputs()
    bugs = pd.DataFrame({"bug_id": ["B1"], "severity": ["S1"], "source": ["internal"], "product": ["p"],
                         "opened_at": [T("2026-11-28")], "closed_at": [pd.NaT], "escalation_id": [None]})
    params = EscalationsParams(old_bug_days=1, breach_soon_hours=1)
    report = es.build_report(esc_df, bugs, accounts3, responses, features, no_events, params, PERIOD)
    # B1 is 3 days old at the end; E3 is due in half an hour.
    assert any(line.startswith("1 S1 bug open 1 day or more: B1 on p, open 3 days since 28 Nov 2026") for line in report.result.lines)
    assert "1 open escalation will breach SLA within 1 hour: E3 (P1, first response) in under an hour." in report.result.notes
