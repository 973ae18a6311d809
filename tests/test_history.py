"""The history store (playbook.history), alert rules (playbook.alerts), snoozes and the actions
board, on small synthetic results and real DuckDB files in tmp_path: no kernel, no workspace."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest

from conftest import AS_OF, make_params
from playbook.alerts import apply_alerts
from playbook.config import AlertRule, Params, Snooze, load_params, load_snoozes
from playbook.errors import ParamsError
from playbook.figures import Action, AreaResult, Figure, Severity
from playbook.history import History, HistoryError, params_hash, week_dates
from playbook.render import actions_board, sparkline, trends
from playbook.views import age_words

# Three weekly as-of dates ending on the suite's as-of date (2026-11-13, -20, -27).
W1, W2, W3 = week_dates(AS_OF, 3)
PERIOD = (date(2026, 10, 29), AS_OF)


def _figure(key: str, value: float | None, unit: str = "count", previous: float | None = None,
            subject: str | None = None, label: str | None = None, good: str | None = None) -> Figure:
    return Figure(key, label or key.replace("_", " "), value, unit, previous, good, subject)


def _action(rule: str, subject: str, severity: Severity = Severity.MEDIUM, money: float | None = None,
            figures: tuple[str, ...] = (), first_seen: date | None = None, weeks_open: int | None = None) -> Action:
    return Action(rule, subject, severity, f"{rule} on {subject}", money, figures,
                  first_seen.isoformat() if first_seen else None, weeks_open)


def _result(values: dict[str, float | None], actions: tuple[Action, ...] = ()) -> AreaResult:
    """A result whose figures are counts with these values; the first one is the headline."""
    return AreaResult({k: _figure(k, v) for k, v in values.items()}, tuple(list(values)[:1]), actions)


def _record(history: History, team: str, area: str, day: date, result: AreaResult, digest: str = "h1") -> History:
    return history.record(team, area, day, result, period=(day - timedelta(days=29), day),
                          fingerprint=f"fp-{day}", params_hash=digest)


def _aged_record(history: History, team: str, area: str, day: date, actions: tuple[Action, ...]) -> History:
    """What a weekly run does: age the actions against the history, then record them."""
    aged = history.age(team, area, day, actions)
    return _record(history, team, area, day, _result({"n": 1.0}, aged))


# -- record, write, read ---------------------------------------------------------------------------


def test_round_trip_keeps_every_figure_exact_values_nones_and_run_facts(tmp_path):
    result = AreaResult(
        {
            "nps": _figure("nps", 0.1 + 0.2, "points", previous=-12.5, label="NPS", good="up"),
            "responses": _figure("responses", 1234.0, previous=1200.0),
            "idle_spend": _figure("idle_spend", None, "money", subject="Datadog", good="down"),
            "share": _figure("share", 1 / 3, "percent", previous=2 / 3),
        },
        headline=("nps", "responses"),
        actions=(
            _action("feedback.drop", "NPS", Severity.HIGH, figures=("nps", "responses")),
            _action("tools.rightsize", "Datadog", Severity.LOW, money=12345.678, figures=("idle_spend",)),
        ),
    )
    path = tmp_path / "history.duckdb"
    recorded = History().record("growth", "feedback", AS_OF, result, period=PERIOD, fingerprint="fp-1", params_hash="abc123")
    recorded.write(path)
    back = History.read(path)

    figures = back.figures.set_index("figure")
    assert sorted(figures.index) == ["idle_spend", "nps", "responses", "share"]
    # Exactly the floats that went in, not their printed forms.
    assert figures.loc["nps", "value"] == 0.30000000000000004
    assert figures.loc["share", "value"] == 1 / 3 and figures.loc["share", "previous"] == 2 / 3
    assert figures.loc["nps", "previous"] == -12.5
    assert math.isnan(figures.loc["idle_spend", "value"]) and math.isnan(figures.loc["idle_spend", "previous"])
    assert figures.loc["idle_spend", "subject"] == "Datadog" and figures.loc["nps", "subject"] is None
    assert figures.loc["responses", "good"] is None and figures.loc["nps", "good"] == "up"
    assert figures.headline.to_dict() == {"nps": True, "responses": True, "idle_spend": False, "share": False}
    assert set(figures.period_start) == {PERIOD[0]} and set(figures.period_end) == {PERIOD[1]}
    assert set(figures.fingerprint) == {"fp-1"} and set(figures.params_hash) == {"abc123"}
    assert set(figures.as_of) == {AS_OF}

    run = back.recorded("growth", "feedback", AS_OF)
    assert {k: run[k] for k in ("period_start", "period_end", "fingerprint", "params_hash", "source")} == {
        "period_start": PERIOD[0], "period_end": PERIOD[1], "fingerprint": "fp-1", "params_hash": "abc123", "source": "run"}

    actions = back.actions.set_index("rule")
    assert actions.loc["feedback.drop", "figures"] == "nps,responses"
    assert actions.loc["feedback.drop", "severity"] == "high" and math.isnan(actions.loc["feedback.drop", "money"])
    assert actions.loc["tools.rightsize", "money"] == 12345.678
    # An action with no first_seen is first seen on the day it is recorded.
    assert set(actions.first_seen) == {AS_OF}

    for name in ("runs", "figures", "actions"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(recorded, name))


def test_record_takes_the_manifest_dict_as_well_as_the_result():
    result = _result({"a": 0.1 + 0.2, "b": None}, (_action("x.rule", "S"),))
    args = dict(period=PERIOD, fingerprint="fp", params_hash="h")
    from_object = History().record("growth", "tools", AS_OF, result, **args)
    from_dict = History().record("growth", "tools", AS_OF, json.loads(json.dumps(result.to_dict())), **args)
    pd.testing.assert_frame_equal(from_dict.figures, from_object.figures)
    pd.testing.assert_frame_equal(from_dict.actions, from_object.actions)


def test_three_weeks_give_three_points_and_a_rerun_replaces_its_day():
    history = History()
    for week, day in enumerate((W1, W2, W3)):
        history = _record(history, "growth", "feedback", day, _result({"nps": 10.0 + week, "responses": 100.0 * week}))
    history = _record(history, "analytics", "feedback", W2, _result({"nps": -5.0}))

    series = history.series("growth", "feedback")
    assert series.groupby("figure").as_of.apply(list).to_dict() == {"nps": [W1, W2, W3], "responses": [W1, W2, W3]}
    assert series[series.figure == "nps"].value.tolist() == [10.0, 11.0, 12.0]

    rows = len(history.figures), len(history.runs)
    rerun = _record(history, "growth", "feedback", W2, _result({"nps": 0.1 + 0.2, "responses": 7.0}), digest="h1")
    assert (len(rerun.figures), len(rerun.runs)) == rows
    nps = rerun.series("growth", "feedback", "nps")
    assert nps.as_of.tolist() == [W1, W2, W3]
    assert nps.value.tolist() == [10.0, 0.30000000000000004, 12.0]
    # The other team's point on the same day is not touched by growth's rerun.
    assert rerun.series("analytics").value.tolist() == [-5.0]
    # The history is a value: recording made a new one and left the old as it was.
    assert history.series("growth", "feedback", "nps").value.tolist() == [10.0, 11.0, 12.0]


def test_a_rerun_with_fewer_figures_drops_the_figures_it_no_longer_has():
    history = _record(History(), "growth", "tools", W1, _result({"a": 1.0, "b": 2.0}, (_action("tools.x", "S"),)))
    history = _record(history, "growth", "tools", W1, _result({"a": 3.0}))
    assert history.figures[["figure", "value"]].values.tolist() == [["a", 3.0]]
    assert history.actions.empty


def test_series_break_marks_the_first_point_after_a_params_change_per_series():
    weeks = week_dates(AS_OF, 5)
    growth_hashes = ["h1", "h1", "h2", "h2", "h1"]
    history = History()
    for day, digest in zip(weeks, growth_hashes):
        # csat only exists from the third week on: its first point has nothing before it.
        values = {"nps": 1.0, "responses": 2.0} | ({"csat": 3.0} if day >= weeks[2] else {})
        history = _record(history, "growth", "feedback", day, _result(values), digest=digest)
        # analytics sorts after growth and keeps h1 throughout: its first point follows growth's
        # last (h1 here) and growth's "responses" follows its "nps", so a shift across series
        # would mark them; nothing in analytics ever breaks.
        history = _record(history, "analytics", "feedback", day, _result({"nps": 4.0}), digest="h3")

    series = history.series()
    marked = {(r.team, r.figure, r.as_of) for r in series.itertuples() if r.series_break}
    assert marked == {(team, figure, weeks[i]) for team, figure, i in [
        ("growth", "nps", 2), ("growth", "responses", 2), ("growth", "nps", 4), ("growth", "responses", 4),
        ("growth", "csat", 4),
    ]}
    assert not series[series.team == "analytics"].series_break.any()


def _base_params(**changes) -> dict:
    params = {"team": "growth", "name": "Growth", "products": ["onboarding", "billing"]} | changes
    return Params.model_validate(params).model_dump(mode="json")


def test_params_hash_ignores_owners_other_areas_alerts_limits_and_other_areas():
    base = _base_params()
    unscored = [
        _base_params(owners={"feedback": "Dana Levy"}),
        _base_params(alerts=[{"figure": "tools.idle_spend", "above": 5}]),
        _base_params(workspace="/srv/data/sample/"),
        _base_params(time_limit=60, execution_timeout=30),
        _base_params(name="Growth & billing"),
        _base_params(tools={"utilisation_floor": 0.5}),
        _base_params(escalations={"breach_target": 0.2}, enablement={"min_completion": 0.8}),
    ]
    for changed in unscored:
        assert params_hash(changed, "feedback") == params_hash(base, "feedback")
    # The area's own alert rules change its actions: adding one is a change of its params.
    assert params_hash(_base_params(alerts=[{"figure": "feedback.nps", "fall": 5}]), "feedback") != params_hash(base, "feedback")
    # A change of tools' section is one for tools only.
    assert params_hash(_base_params(tools={"utilisation_floor": 0.5}), "tools") != params_hash(base, "tools")


def test_params_hash_changes_with_the_areas_section_and_shared_keys():
    base = params_hash(_base_params(), "feedback")
    assert params_hash(_base_params(feedback={"drop_alert": 5}), "feedback") != base
    assert params_hash(_base_params(period="last_90_days"), "feedback") != base
    assert params_hash(_base_params(period={"start": "2026-01-01", "end": "2026-03-31"}), "feedback") != base
    assert params_hash(_base_params(products=["onboarding"]), "feedback") != base
    # The same params hash the same whatever the keys' order (files get edited, not rewritten).
    shuffled = dict(reversed(list(_base_params().items())))
    assert params_hash(shuffled, "feedback") == base


# -- ages of actions -------------------------------------------------------------------------------


def test_age_keeps_first_seen_of_an_action_found_last_time_and_restarts_after_a_gap():
    a, b, c = _action("tools.rightsize", "Datadog"), _action("tools.overlap", "chat"), _action("tools.renew", "Zoom")
    history = _aged_record(History(), "growth", "tools", W1, (a, b))
    # At W2 only a is found: b has a gap from now on.
    history = _aged_record(history, "growth", "tools", W2, (a,))
    # Another team found b at W2: that is not growth's series.
    history = _aged_record(history, "analytics", "tools", W2, (b,))

    aged = {x.rule: x for x in history.age("growth", "tools", W3, (a, b, c))}
    assert (aged["tools.rightsize"].first_seen, aged["tools.rightsize"].weeks_open) == (W1.isoformat(), 2)
    assert (aged["tools.overlap"].first_seen, aged["tools.overlap"].weeks_open) == (W3.isoformat(), 0)
    assert (aged["tools.renew"].first_seen, aged["tools.renew"].weeks_open) == (W3.isoformat(), 0)
    assert age_words(aged["tools.overlap"]) == age_words(aged["tools.renew"]) == "new this week"
    # Found by the first run the history holds: it may be older, so the age is "at least".
    assert aged["tools.rightsize"].open_before_history and not aged["tools.overlap"].open_before_history
    assert age_words(aged["tools.rightsize"]) == "open for at least 2 weeks, since the history began on 13 Nov 2026"
    # One first found after the history began has its age as it is.
    later = _aged_record(history, "growth", "tools", W3, (a, c))
    found = {x.rule: x for x in later.age("growth", "tools", W3 + timedelta(days=14), (a, c))}
    assert not found["tools.renew"].open_before_history
    assert age_words(found["tools.renew"]) == f"open for 2 weeks, since {W3:%d %b %Y}"


def test_weeks_open_counts_whole_weeks_between_irregular_runs():
    a = _action("escalations.breach", "P1")
    start = date(2026, 11, 10)
    history = _aged_record(History(), "growth", "escalations", start, (a,))
    # 6 days on: still week 0; 13 days on: 1 week (whole weeks, rounded down).
    assert history.age("growth", "escalations", start + timedelta(days=6), (a,))[0].weeks_open == 0
    one = history.age("growth", "escalations", start + timedelta(days=13), (a,))[0]
    assert (one.first_seen, one.weeks_open) == ("2026-11-10", 1)
    assert age_words(one) == "open for at least 1 week, since the history began on 10 Nov 2026"
    history = _aged_record(history, "growth", "escalations", start + timedelta(days=13), (a,))
    later = history.age("growth", "escalations", start + timedelta(days=27), (a,))[0]
    assert (later.first_seen, later.weeks_open) == ("2026-11-10", 3)
    assert age_words(later) == "open for at least 3 weeks, since the history began on 10 Nov 2026"


def test_age_words_without_history_is_empty():
    assert age_words(_action("x.y", "z")) == ""
    assert age_words({"first_seen": "2026-11-06", "weeks_open": 3}) == "open for 3 weeks, since 06 Nov 2026"


def test_digest_follows_the_previous_run_only():
    a, b = _action("tools.rightsize", "Datadog"), _action("tools.overlap", "chat")
    history = _aged_record(History(), "growth", "tools", W1, (a,))
    before = history.digest("growth", "tools", W2)

    # Rows for the as-of date itself, for later dates and for other teams change nothing.
    same = _aged_record(history, "growth", "tools", W2, (a, b))
    same = _aged_record(same, "growth", "tools", W3, (b,))
    same = _aged_record(same, "analytics", "tools", W1, (b,))
    assert same.digest("growth", "tools", W2) == before
    # Recording the previous run again with the same actions is no change either.
    assert _aged_record(history, "growth", "tools", W1, (a,)).digest("growth", "tools", W2) == before

    # The previous run's actions changing, or a run in between, is.
    assert _aged_record(history, "growth", "tools", W1, (a, b)).digest("growth", "tools", W2) != before
    assert _aged_record(history, "growth", "tools", W1, (b,)).digest("growth", "tools", W2) != before
    between = _aged_record(history, "growth", "tools", W2 - timedelta(days=3), (a,))
    assert between.digest("growth", "tools", W2) != before


# -- the store on disk -----------------------------------------------------------------------------


def test_reading_a_duckdb_file_of_someone_elses_is_refused(tmp_path):
    path = tmp_path / "history.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE runs (a INTEGER)")
    con.execute("CREATE TABLE orders (b INTEGER)")
    con.close()
    with pytest.raises(HistoryError) as err:
        History.read(path)
    assert str(err.value) == (f"{path} is not a playbook history (it has no actions, figures, playbook_history table); "
                              "move it away, or give another --out")


def test_reading_a_text_file_is_refused_and_leaves_it_alone(tmp_path):
    path = tmp_path / "history.duckdb"
    path.write_text("team,area\ngrowth,tools\n")
    with pytest.raises(HistoryError, match=rf"^cannot read the history {path}: .*not a valid DuckDB database file"):
        History.read(path)
    assert path.read_text() == "team,area\ngrowth,tools\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.duckdb"]


def test_reading_a_folder_or_a_link_is_refused(tmp_path):
    folder = tmp_path / "history.duckdb"
    folder.mkdir()
    with pytest.raises(HistoryError, match=rf"^{folder} is not a plain file"):
        History.read(folder)
    real = tmp_path / "real.duckdb"
    _record(History(), "growth", "tools", W1, _result({"a": 1.0})).write(real)
    link = tmp_path / "link.duckdb"
    link.symlink_to(real)
    with pytest.raises(HistoryError, match=rf"^{link} is not a plain file"):
        History.read(link)


def test_a_missing_file_reads_empty_and_is_not_created(tmp_path):
    path = tmp_path / "reports" / "history.duckdb"
    history = History.read(path)
    assert history.runs.empty and history.figures.empty and history.actions.empty
    assert list(history.figures.columns)[:4] == ["team", "area", "as_of", "figure"]
    assert history.series().empty and history.previous_as_of("growth", "tools", AS_OF) is None
    assert not path.parent.exists()


def test_write_replaces_the_file_and_leaves_nothing_beside_it(tmp_path):
    path = tmp_path / "history.duckdb"
    first = _record(History(), "growth", "tools", W1, _result({"a": 1.0}, (_action("tools.x", "S"),)))
    first.write(path)
    second = _record(first, "growth", "tools", W2, _result({"a": 2.0}))
    second.write(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.duckdb"]
    back = History.read(path)
    assert back.series("growth", "tools", "a").value.tolist() == [1.0, 2.0]
    assert len(back.actions) == 1
    # An empty history is a valid store too.
    History().write(path)
    assert History.read(path).figures.empty
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.duckdb"]


# -- the actions page ------------------------------------------------------------------------------


def _entry(team: str, area: str, day: date, actions: tuple[Action, ...], html: bool = True) -> dict:
    return {"team": team, "team_name": team.title(), "area": area, "as_of": day.isoformat(),
            "html": f"{team}/{area}.html" if html else None, "status": "rendered" if html else "failed",
            "result": _result({"n": 1.0}, actions).to_dict()}


def _marks(rows: list[dict]) -> list[tuple[str, str, str]]:
    return [(r["team"], r["rule"], r["subject"]) for r in rows]


def test_board_has_one_row_per_team_rule_and_subject():
    rightsize = ("tools.rightsize", "Datadog")
    reports = {
        "growth/tools": _entry("growth", "tools", AS_OF, (_action(*rightsize, Severity.HIGH, money=5000.0, first_seen=W1, weeks_open=2),)),
        "analytics/tools": _entry("analytics", "tools", AS_OF, (_action(*rightsize, Severity.LOW, first_seen=AS_OF, weeks_open=0),)),
        # all repeats Datadog (a team names it: no row of its own) and has Hotjar alone (a row).
        "all/tools": _entry("all", "tools", AS_OF, (_action(*rightsize, Severity.HIGH, money=9000.0),
                                                    _action("tools.rightsize", "Hotjar", Severity.MEDIUM))),
        # A failed report shows nothing, so its actions are no rows.
        "mobile/tools": _entry("mobile", "tools", AS_OF, (_action("tools.rightsize", "Figma"),), html=False),
    }
    owners = {"growth": {"tools": "Dana Levy"}, "analytics": {"feedback": "Product operations"}, "all": {"tools": "IT"}}
    board = actions_board(reports, None, [], owners, AS_OF)

    # Most urgent first: high, then medium, then low.
    assert _marks(board["open"]) == [("growth", *rightsize), ("all", "tools.rightsize", "Hotjar"), ("analytics", *rightsize)]
    rows = {r["team"]: r for r in board["open"]}
    assert {t: r["owner"] for t, r in rows.items()} == {"growth": "Dana Levy", "analytics": "", "all": "IT"}
    assert (rows["growth"]["status"], rows["growth"]["first_seen"], rows["growth"]["weeks_open"]) == ("ongoing", W1, 2)
    assert (rows["analytics"]["status"], rows["analytics"]["first_seen"]) == ("new", AS_OF)
    # No history read: no first_seen, so new.
    assert (rows["all"]["status"], rows["all"]["first_seen"]) == ("new", None)
    assert rows["growth"]["money"] == 5000.0 and rows["growth"]["html"] == "growth/tools.html"
    assert board["snoozed"] == [] and board["resolved"] == []


def test_a_snooze_hides_its_row_until_its_date_inclusive():
    until = AS_OF + timedelta(days=7)
    reports = {
        "growth/tools": _entry("growth", "tools", AS_OF, (_action("tools.rightsize", "Datadog"), _action("tools.renew", "Zoom"))),
        "analytics/tools": _entry("analytics", "tools", AS_OF, (_action("tools.rightsize", "Datadog"), _action("tools.renew", "Zoom"))),
    }
    snoozes = [
        Snooze(rule="tools.rightsize", subject="Datadog", until=until, reason="new contract in January"),
        Snooze(rule="tools.renew", subject="Zoom", until=until, reason="growth renews with sales", team="growth"),
    ]

    on_the_day = actions_board(reports, None, snoozes, {}, until)
    assert sorted(_marks(on_the_day["snoozed"])) == [
        ("analytics", "tools.rightsize", "Datadog"), ("growth", "tools.renew", "Zoom"), ("growth", "tools.rightsize", "Datadog")]
    assert _marks(on_the_day["open"]) == [("analytics", "tools.renew", "Zoom")]
    reasons = {(r["team"], r["rule"]): (r["until"], r["reason"]) for r in on_the_day["snoozed"]}
    assert reasons[("growth", "tools.renew")] == (until, "growth renews with sales")
    assert reasons[("analytics", "tools.rightsize")] == (until, "new contract in January")

    day_after = actions_board(reports, None, snoozes, {}, until + timedelta(days=1))
    assert day_after["snoozed"] == []
    assert len(day_after["open"]) == 4
    assert {r["snooze_ended"] for r in day_after["open"] if r["team"] == "growth"} == {until}
    assert {(r["rule"], r["snooze_ended"]) for r in day_after["open"] if r["team"] == "analytics"} == {
        ("tools.rightsize", until), ("tools.renew", None)}


def test_resolved_are_the_previous_runs_actions_gone_now():
    datadog, hotjar, slack, zoom = (_action("tools.rightsize", s) for s in ("Datadog", "Hotjar", "Slack", "Zoom"))
    history = History()
    history = _aged_record(history, "growth", "tools", W1, (datadog, slack))
    history = _aged_record(history, "growth", "tools", W2, (datadog, hotjar))
    history = _aged_record(history, "all", "tools", W2, (datadog, zoom))
    # This run: growth still has Datadog, Hotjar is gone; all finds neither Datadog nor Zoom.
    growth_now = history.age("growth", "tools", W3, (datadog,))
    history = _record(history, "growth", "tools", W3, _result({"n": 1.0}, growth_now))
    history = _record(history, "all", "tools", W3, _result({"n": 1.0}))
    reports = {"growth/tools": _entry("growth", "tools", W3, growth_now), "all/tools": _entry("all", "tools", W3, ())}

    board = actions_board(reports, history, [], {"growth": {"tools": "IT"}}, W3)
    # Slack went away before the previous run: resolved then, not now. Datadog, gone from all,
    # is still open in growth: not resolved.
    assert sorted(_marks(board["resolved"])) == [("all", "tools.rightsize", "Zoom"), ("growth", "tools.rightsize", "Hotjar")]
    hotjar_row = next(r for r in board["resolved"] if r["subject"] == "Hotjar")
    assert {k: hotjar_row[k] for k in ("status", "first_seen", "last_seen", "weeks_open", "owner", "money")} == {
        "status": "resolved", "first_seen": W2, "last_seen": W2, "weeks_open": 0, "owner": "IT", "money": None}
    assert _marks(board["open"]) == [("growth", "tools.rightsize", "Datadog")]
    assert (board["open"][0]["status"], board["open"][0]["first_seen"], board["open"][0]["weeks_open"]) == ("ongoing", W1, 2)

    # Without a history there is nothing to call resolved.
    assert actions_board(reports, None, [], {}, W3)["resolved"] == []


# -- alert rules -----------------------------------------------------------------------------------


@pytest.fixture
def alert_result() -> AreaResult:
    return AreaResult(
        {
            "nps": _figure("nps", 30.0, "points", previous=40.0, label="NPS", good="up"),
            "idle_spend": _figure("idle_spend", 60_000.0, "money", subject="Datadog", label="Idle spend", good="down"),
            "responses": _figure("responses", None, label="responses"),
        },
        headline=("nps",),
    )


@pytest.mark.parametrize(("bound", "fires"), [
    ({"above": 29}, True), ({"above": 30}, False), ({"below": 31}, True), ({"below": 30}, False),
    ({"fall": 10}, True), ({"fall": 10.5}, False), ({"rise": 1}, False),
])
def test_alert_fires_only_on_the_far_side_of_its_bound(alert_result, bound, fires):
    out = apply_alerts(alert_result, [AlertRule(figure="feedback.nps", **bound)], "feedback")
    kind = next(iter(bound))
    assert [a.rule for a in out.actions] == ([f"alert.feedback.nps.{kind}"] if fires else [])
    assert out.notes == ()


def test_alert_action_names_the_rule_and_its_figure(alert_result):
    rules = [AlertRule(figure="feedback.nps", fall=5), AlertRule(figure="feedback.idle_spend", above=50_000, severity="high")]
    out = apply_alerts(alert_result, rules, "feedback")
    assert [(a.rule, a.subject, a.severity, a.figures) for a in out.actions] == [
        ("alert.feedback.idle_spend.above", "Datadog", Severity.HIGH, ("idle_spend",)),
        ("alert.feedback.nps.fall", "NPS", Severity.MEDIUM, ("nps",)),
    ]
    assert [a.text for a in out.actions] == [
        "Idle spend $60k: past the alert in params, Idle spend above $50k.",
        "NPS +30 (down 10 points): past the alert in params, NPS falling 5 points or more against the previous period.",
    ]


def test_alert_on_a_missing_value_or_change_adds_nothing(alert_result):
    rules = [AlertRule(figure="feedback.responses", below=10), AlertRule(figure="feedback.idle_spend", rise=1)]
    assert apply_alerts(alert_result, rules, "feedback") == alert_result


def test_alert_skips_a_figure_an_action_already_rests_on(alert_result):
    drop = _action("feedback.nps_drop", "NPS", Severity.HIGH, figures=("responses", "nps"))
    result = AreaResult(alert_result.figures, alert_result.headline, (drop,))
    rules = [AlertRule(figure="feedback.nps", fall=5), AlertRule(figure="feedback.idle_spend", above=1)]
    out = apply_alerts(result, rules, "feedback")
    assert [a.rule for a in out.actions] == ["feedback.nps_drop", "alert.feedback.idle_spend.above"]


def test_alert_on_an_unknown_figure_is_noted_and_other_areas_rules_ignored(alert_result):
    rules = [AlertRule(figure="feedback.npz", fall=5), AlertRule(figure="tools.idle_spend", above=1),
             AlertRule(figure="tools.nothing", above=1)]
    out = apply_alerts(alert_result, rules, "feedback")
    assert out.actions == ()
    assert out.notes == ("The alert on feedback.npz in params names a figure this report does not have; "
                         "its figures are idle_spend, nps, responses.",)


def test_alert_on_a_change_the_report_states_as_exactly_the_bound():
    breach = AreaResult({"rate": _figure("rate", 0.3, "percent", previous=0.2, label="breach rate")}, ("rate",))
    out = apply_alerts(breach, [AlertRule(figure="escalations.rate", rise=0.10)], "escalations")
    assert [a.rule for a in out.actions] == ["alert.escalations.rate.rise"]


def _team_params(tmp_path, alerts: list[dict]):
    return make_params(tmp_path, tmp_path / "workspace", {"alpha": {"name": "Alpha", "products": ["a"], "alerts": alerts}})


def test_alert_rules_load_from_a_team_file(tmp_path):
    params = load_params(_team_params(tmp_path, [{"figure": "feedback.nps", "fall": 5, "severity": "high"}]), "alpha")
    (rule,) = params.alerts
    assert (rule.area, rule.key, rule.bound, rule.severity) == ("feedback", "nps", ("fall", 5.0), "high")


@pytest.mark.parametrize(("alert", "message"), [
    ({"figure": "feedback.nps", "above": 1, "below": 2},
     r"alerts\.0: alert on feedback\.nps: give exactly one of above, below, rise, fall; found above, below"),
    ({"figure": "feedback.nps", "severity": "high"},
     r"alerts\.0: alert on feedback\.nps: give exactly one of above, below, rise, fall; found none"),
    ({"figure": "nps", "above": 1}, r"alerts\.0\.figure: expected <area>\.<figure key>, such as feedback\.nps; found 'nps'"),
    ({"figure": "feedback.nps", "fall": -5}, r"alerts\.0\.fall: expected greater than 0; found -5"),
])
def test_bad_alert_rules_are_params_errors_naming_the_key(tmp_path, alert, message):
    with pytest.raises(ParamsError, match=r"teams/alpha\.yaml, line 4: " + message):
        load_params(_team_params(tmp_path, [alert]), "alpha")


# -- snoozes ---------------------------------------------------------------------------------------


def _snooze_file(tmp_path, text: str):
    folder = tmp_path / "params"
    folder.mkdir(exist_ok=True)
    (folder / "actions.yaml").write_text(text)
    return folder


def test_snoozes_load_and_a_missing_file_gives_none(tmp_path):
    assert load_snoozes(tmp_path / "params") == []
    folder = _snooze_file(tmp_path, "snoozed:\n  - rule: tools.renew\n    subject: Zoom\n    until: 2027-01-15\n"
                                    "    reason: waiting for the contract\n    team: growth\n")
    assert load_snoozes(folder) == [Snooze(rule="tools.renew", subject="Zoom", until=date(2027, 1, 15),
                                           reason="waiting for the contract", team="growth")]


def test_a_snooze_without_reason_names_the_file_entry_and_line(tmp_path):
    folder = _snooze_file(tmp_path, "# why each is snoozed\nsnoozed:\n  - rule: tools.renew\n    subject: Zoom\n"
                                    "    until: 2027-01-15\n    reason: contract\n\n  - rule: tools.rightsize\n"
                                    "    subject: Datadog\n    until: 2027-01-15\n")
    with pytest.raises(ParamsError) as err:
        load_snoozes(folder)
    assert str(err.value) == f"{folder / 'actions.yaml'}, entry 2 (line 8): missing required key 'reason'"
    assert "params/actions.yaml" in str(err.value)


@pytest.mark.parametrize("until", ["2027-02-30", "soon"])
def test_a_snooze_with_a_bad_date_names_the_file_entry_and_line(tmp_path, until):
    folder = _snooze_file(tmp_path, f"snoozed:\n  - rule: tools.renew\n    subject: Zoom\n    until: {until}\n    reason: x\n")
    with pytest.raises(ParamsError, match=rf"params/actions\.yaml, entry 1 \(line 2\): until: expected a valid date.*; found '{until}'"):
        load_snoozes(folder)


# -- the index's trend lines -----------------------------------------------------------------------


def test_sparkline_needs_two_points():
    assert sparkline([]) is None
    assert sparkline([{"as_of": W1, "value": 1.0}]) is None
    assert sparkline([{"as_of": W1, "value": None}, {"as_of": W2, "value": None}]) is None
    assert sparkline([{"as_of": W1, "value": 1.0}, {"as_of": W2, "value": None}]) is not None


def test_sparkline_is_split_by_a_missing_value_and_by_a_params_change():
    values = [0.1 + 0.2, 1 / 3, None, 2.0, 5.0, -1.5, 7.0]
    days = week_dates(AS_OF, len(values))
    points = [{"as_of": d, "value": v, "series_break": i == 5} for i, (d, v) in enumerate(zip(days, values))]
    drawing = sparkline(points)
    # Three pieces: before the gap, from the gap to the change, after the change.
    assert [len(line.split(" ")) for line in drawing["lines"]] == [2, 2, 2]
    assert drawing["lone"] == [] and len(drawing["breaks"]) == 1
    assert json.loads(drawing["data_values"]) == values
    assert json.loads(drawing["data_dates"]) == [d.isoformat() for d in days]
    # The highest value is drawn at the top, the lowest at the bottom.
    ys = [float(xy.split(",")[1]) for line in drawing["lines"] for xy in line.split(" ")]
    assert min(ys) == 4.0 and max(ys) == drawing["height"] - 4.0
    assert drawing["last"][1] == min(ys)

    lone = sparkline([{"as_of": W1, "value": 1.0}, {"as_of": W2, "value": None}, {"as_of": W3, "value": 2.0}])
    assert lone["lines"] == [] and len(lone["lone"]) == 2


def test_trends_draw_the_first_headline_up_to_the_reports_own_date():
    weeks = week_dates(AS_OF, 15)
    history = History()
    for i, day in enumerate(weeks):
        values = {"nps": float(i) + 0.1, "responses": 100.0}
        history = _record(history, "growth", "feedback", day, _result(values), digest="h1" if i < 10 else "h2")
    shown = weeks[13]
    reports = {"growth/feedback": {"team": "growth", "area": "feedback", "as_of": shown.isoformat(), "html": "x",
                                   "result": _result({"nps": 0.0, "responses": 0.0}).to_dict()}}
    drawing = trends(reports, history)["growth/feedback"]
    assert json.loads(drawing["data_values"]) == [float(i) + 0.1 for i in range(2, 14)]
    assert json.loads(drawing["data_dates"]) == [d.isoformat() for d in weeks[2:14]]
    assert len(drawing["breaks"]) == 1
    assert drawing["text"].startswith("nps over the last 12 runs, ")
    assert drawing["text"].endswith("; the params changed once (dashed line)")
    assert trends(reports, History()) == {}


# -- what a hostile file or params cannot do ------------------------------------------------------


def test_nested_yaml_aliases_in_actions_yaml_are_read_once(tmp_path):
    # 40 levels of aliases, each naming the one before twice: 2 ** 40 paths if followed.
    lines = ["a0: &a0 {k: v}"] + [f"a{i}: &a{i} {{x: *a{i - 1}, y: *a{i - 1}}}" for i in range(1, 40)] + ["snoozed: []"]
    (tmp_path / "actions.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(ParamsError, match="unknown key 'a0'"):
        load_snoozes(tmp_path)


def _store(tmp_path, change: str | None = None, *params):
    path = tmp_path / "history.duckdb"
    _aged_record(History(), "growth", "tools", W1, (_action("tools.rightsize", "Datadog"),)).write(path)
    if change:
        con = duckdb.connect(str(path))
        con.execute(change, list(params))
        con.close()
    return path


@pytest.mark.parametrize("change, expected", [
    ("CREATE TABLE annotations (note VARCHAR)", "holds tables the playbook did not write \\(annotations\\)"),
    ("UPDATE playbook_history SET version = 99", "written by a newer playbook \\(history version 99"),
    ("UPDATE runs SET as_of = NULL", "the runs table has rows without as_of"),
    ("UPDATE actions SET first_seen = NULL", "the actions table has rows without first_seen"),
])
def test_a_history_the_playbook_would_lose_or_misread_is_refused_and_kept(tmp_path, change, expected):
    path = _store(tmp_path, change)
    before = path.read_bytes()
    with pytest.raises(HistoryError, match=expected):
        History.read(path)
    assert path.read_bytes() == before


def test_a_history_with_text_for_dates_is_refused(tmp_path):
    path = _store(tmp_path, "CREATE OR REPLACE TABLE runs AS SELECT team, area, 'garbage' AS as_of FROM runs")
    with pytest.raises(HistoryError, match="holds values that are not what the playbook wrote"):
        History.read(path)


def test_writing_removes_the_replaced_files_stale_write_ahead_log(tmp_path):
    path = _store(tmp_path)
    (tmp_path / "history.duckdb.wal").write_bytes(b"a log of the file that is about to be replaced")
    History.read(path).write(path)
    assert not (tmp_path / "history.duckdb.wal").exists()
    assert len(History.read(path).runs) == 1


def test_a_reused_report_whose_point_the_history_lost_is_recorded_again():
    from playbook.runner.outcomes import Outcome, Status
    from playbook.runner.run import record_outcomes

    result = _result({"idle_spend": 10.0}).to_dict()
    reused = Outcome("growth", "tools", Status.RENDERED, result=result, as_of=W2.isoformat(), reused=True,
                     period={"start": "2026-10-01", "end": W2.isoformat()}, fingerprint="f")
    params = {"growth": _base_params()}
    lost = record_outcomes(History(), [reused], params)
    assert lost.recorded("growth", "tools", W2) is not None
    # When the point is there, a reused report adds nothing: the very same history comes back.
    assert record_outcomes(lost, [reused], params) is lost


def test_two_alert_rules_on_one_figure_make_one_action():
    result = _result({"responses": 300.0})
    rules = [AlertRule(figure="feedback.responses", above=100, severity="high"),
             AlertRule(figure="feedback.responses", above=200, severity="low")]
    out = apply_alerts(result, rules, "feedback")
    assert [(a.rule, a.severity) for a in out.actions] == [("alert.feedback.responses.above", Severity.HIGH)]


def test_owners_and_alerts_name_areas_that_exist(tmp_path):
    params = make_params(tmp_path, tmp_path, teams={"alpha": {"name": "Alpha", "products": ["p"], "owners": {"feedbak": "Dana"}}})
    with pytest.raises(ParamsError, match="alpha.yaml, line 5: owners names the area 'feedbak', which does not exist"):
        load_params(params, "alpha")
    (params / "teams" / "alpha.yaml").write_text("name: Alpha\nproducts: [p]\nalerts:\n  - {figure: feedbak.nps, fall: 5}\n")
    with pytest.raises(ParamsError, match="alerts names the area 'feedbak'"):
        load_params(params, "alpha")


def test_a_backfill_never_starts_before_the_earliest_date_read():
    from playbook.errors import UsageError

    with pytest.raises(UsageError, match="before the earliest date the playbook reads"):
        week_dates(date(1970, 1, 2), 3)


def test_age_walks_back_over_weeks_backfilled_after_a_run():
    # A run at W2 found the action first; a backfill then recorded W1, which found it too.
    a = _action("feedback.nps_drop", "NPS")
    history = _aged_record(History(), "mobile", "feedback", W2, (a,))
    history = _record(history, "mobile", "feedback", W1, _result({"n": 1.0}, (a,)))
    aged = history.age("mobile", "feedback", W3, (a,))[0]
    assert (aged.first_seen, aged.weeks_open, aged.open_before_history) == (W1.isoformat(), 2, True)


def test_an_action_the_first_run_found_days_ago_is_not_called_new():
    a = _action("tools.unused", "Sketch")
    history = _aged_record(History(), "mobile", "tools", W3 - timedelta(days=3), (a,))
    aged = history.age("mobile", "tools", W3, (a,))[0]
    assert aged.weeks_open == 0 and aged.open_before_history
    assert age_words(aged).startswith("open since at least ") and "new" not in age_words(aged)


def test_of_two_alerts_crossed_on_one_figure_the_most_severe_names_it():
    result = _result({"detractor_arr": 5_100_000.0})
    rules = [AlertRule(figure="feedback.detractor_arr", above=1_000_000, severity="low"),
             AlertRule(figure="feedback.detractor_arr", above=5_000_000, severity="high")]
    (action,) = apply_alerts(result, rules, "feedback").actions
    assert action.severity == Severity.HIGH and action.text.endswith("above 5,000,000.")


def test_an_error_quotes_an_aliased_value_cut_short(tmp_path):
    params = make_params(tmp_path, tmp_path, teams={})
    levels = ["products:\n  - &a0 [x, x, x, x, x, x, x, x, x, x]\n"]
    levels += [f"  - &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)]
    (params / "teams" / "alpha.yaml").write_text("name: Alpha\n" + "".join(levels))
    with pytest.raises(ParamsError) as caught:
        load_params(params, "alpha")
    # Each of the ten items is named with its value cut short (the whole value is 10 ** 9 items).
    assert "products" in str(caught.value) and len(str(caught.value)) < 50_000


@pytest.mark.parametrize("change, expected", [
    ("CREATE SCHEMA mine; CREATE TABLE mine.runs (note VARCHAR)", "tables the playbook did not write \\(mine.runs\\)"),
    ("ALTER TABLE figures ADD COLUMN comment VARCHAR", "columns the playbook did not write \\(figures.comment\\)"),
])
def test_tables_and_columns_of_anyone_else_are_never_rewritten_away(tmp_path, change, expected):
    path = _store(tmp_path)
    con = duckdb.connect(str(path))
    for statement in change.split("; "):
        con.execute(statement)
    con.close()
    with pytest.raises(HistoryError, match=expected):
        History.read(path)
