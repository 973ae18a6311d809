"""The weekly loop (issue 20), end to end: real `playbook run` commands week after week, and what
a reader then finds in the history, the index and the actions page.

Most tests run one team (the tiny sample's mobile-app) on two areas, so each run takes seconds;
the last ones read the shared `sample_run` (the full sample: `playbook backfill` of eight weeks,
then a run).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import date, timedelta
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from bs4 import BeautifulSoup
from pandas.testing import assert_frame_equal

import test_browser
from conftest import AS_OF, make_params, playbook_cli, visible_text
from test_browser import _open

from playbook.history import HISTORY_NAME, History, history_path
from playbook.render import TMP_MARK, TMP_SUFFIX
from playbook.sample import PLANTED

pytestmark = pytest.mark.e2e
# The headless Chromium of the browser tests (skipped where there is none), one per module.
browser = test_browser.browser

WEEK = timedelta(days=7)
D1, D2, D3 = AS_OF - 2 * WEEK, AS_OF - WEEK, AS_OF
MOBILE = {"name": "Mobile", "products": ["mobile-app"]}
AREAS = ("--area", "feedback", "--area", "tools")


def _run(params: Path, out: Path, as_of: date, *extra: str) -> subprocess.CompletedProcess:
    """`playbook run` of the feedback and tools reports for ``as_of``, which must succeed."""
    result = playbook_cli("run", "--params", str(params), "--out", str(out), *AREAS, "--as-of", as_of.isoformat(),
                          "--jobs", "2", *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _set_team(params: Path, team: str, body: dict) -> None:
    (params / "teams" / f"{team}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))


def _actions(out: Path, key: str) -> set[tuple[str, str]]:
    """(rule, subject) of each action the report ``key`` (team/area) recorded in the manifest."""
    manifest = json.loads((out / "manifest.json").read_text())
    return {(a["rule"], a["subject"]) for a in manifest["reports"][key]["result"]["actions"]}


def _rows(out: Path, table_id: str) -> list[dict[str, str]]:
    """The rows of one table of actions.html as a reader sees them: the report's team and area
    (from its link), the rule and subject (from "rule X · Y"), the action's text, the owner and
    the last column (status, or the snooze's reason); [] when the page has no such table."""
    soup = BeautifulSoup((out / "actions.html").read_text(encoding="utf-8"), "html.parser")
    table = soup.find(id=table_id)
    rows = []
    for tr in table.select("tbody > tr") if table is not None else []:
        cells = tr.find_all("td", recursive=False)
        rule_line = cells[1].find(class_="rule").extract().get_text(" ", strip=True)
        rule, subject = rule_line.removeprefix("rule ").split(" · ", 1)
        team, area = cells[2].a["href"].removesuffix(".html").split("/")
        rows.append({"team": team, "area": area, "rule": rule, "subject": subject, "text": cells[1].get_text(" ", strip=True),
                     "owner": cells[3].get_text(" ", strip=True), "last": cells[-1].get_text(" ", strip=True)})
    return rows


def _keys(rows: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    return [(r["team"], r["rule"], r["subject"]) for r in rows]


# -- 1. a point a week, none for a rerun, a break where the params changed ---------------------------


def test_weekly_runs_add_a_point_each_and_a_params_change_breaks_the_series(tmp_path, tiny_workspace):
    params = make_params(tmp_path, tiny_workspace, teams={"mobile": MOBILE})
    out = tmp_path / "reports"
    _run(params, out, D1)
    _run(params, out, D2)
    before = History.read(history_path(out))

    # The same week again, nothing changed: both reports are reused and the history is as it was.
    again = _run(params, out, D2)
    assert "2 of 2 reports ok (2 unchanged since their last render, reused; --force re-renders them)" in again.stdout
    assert "reused   mobile/feedback" in again.stdout and "reused   mobile/tools" in again.stdout
    after = History.read(history_path(out))
    for table in ("runs", "figures", "actions"):
        assert_frame_equal(getattr(after, table), getattr(before, table))

    # The feedback params change (a threshold: no figure moves, but the definitions may have).
    _set_team(params, "mobile", {**MOBILE, "feedback": {"drop_alert": 25}})
    _run(params, out, D3)
    series = History.read(history_path(out)).series("mobile")
    assert set(series.area) == {"feedback", "tools"}
    dates = series.groupby(["area", "figure", series.subject.fillna("")]).as_of.agg(list)
    assert {"nps", "responses", "idle_spend"} <= set(series.figure)
    assert set(map(tuple, dates)) == {(D1, D2, D3)}, dates
    # A break on the third point of every feedback figure, and nowhere else: the tools params did not change.
    breaks = series[series.series_break]
    assert set(zip(breaks.area, breaks.as_of)) == {("feedback", D3)}
    assert len(breaks) == ((series.area == "feedback") & (series.as_of == D3)).sum()

    # The CSV says the same, at full precision.
    csv = playbook_cli("history", "--out", str(out), "--team", "mobile", "--csv")
    assert csv.returncode == 0, csv.stderr
    table = pd.read_csv(StringIO(csv.stdout))
    assert len(table) == len(series) == 3 * len(dates)
    shown = table.assign(as_of=pd.to_datetime(table.as_of).dt.date)[["area", "figure", "as_of", "value", "series_break"]]
    assert_frame_equal(shown, series[["area", "figure", "as_of", "value", "series_break"]], check_dtype=False)

    # And the plain listing marks the third point only.
    text = playbook_cli("history", "--out", str(out), "--team", "mobile", "--area", "feedback", "--figure", "nps")
    assert text.returncode == 0, text.stderr
    points = {line.split()[0]: line for line in text.stdout.splitlines() if re.match(r"^\s+\d{4}-\d{2}-\d{2}\s", line)}
    assert sorted(points) == [D1.isoformat(), D2.isoformat(), D3.isoformat()], text.stdout
    assert points[D3.isoformat()].endswith("params changed")
    assert "params changed" not in points[D1.isoformat()] + points[D2.isoformat()]


# -- 2. a run killed while writing the history -------------------------------------------------------

# Enough rows that writing the history takes seconds, so the run can be caught in the act.
SYNTHETIC_ROWS = 500_000


def _synthetic_figures(rows: int) -> pd.DataFrame:
    """``rows`` figure rows of the mobile team under an area key no report writes ("archive"), one
    point a week since 2000: history the run must carry over untouched."""
    weeks = np.array([date(2000, 1, 7) + timedelta(days=7 * k) for k in range(1000)], dtype=object)
    as_of = weeks[np.arange(rows) % len(weeks)]
    return pd.DataFrame({
        "team": "mobile", "area": "archive", "as_of": as_of, "figure": np.repeat([f"old_{i}" for i in range(rows // len(weeks))], len(weeks)),
        "label": "archived figure", "unit": "count", "good": "up", "subject": None, "value": np.arange(rows, dtype="float64"),
        "previous": np.nan, "headline": False, "period_start": as_of, "period_end": as_of, "fingerprint": "f", "params_hash": "h",
    })


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL")
def test_a_run_killed_while_writing_the_history_leaves_the_last_complete_one(tmp_path, tiny_workspace):
    import os
    import signal

    params = make_params(tmp_path, tiny_workspace, teams={"mobile": MOBILE})
    out = tmp_path / "reports"
    args = ["run", "--params", str(params), "--out", str(out), "--team", "mobile", "--area", "feedback", "--jobs", "1"]
    first = playbook_cli(*args, "--as-of", D1.isoformat())
    assert first.returncode == 0, first.stdout + first.stderr
    store = history_path(out)
    recorded = History.read(store)
    History(recorded.runs, pd.concat([recorded.figures, _synthetic_figures(SYNTHETIC_ROWS)], ignore_index=True),
            recorded.actions).write(store)
    old = History.read(store)
    assert len(old.figures) == len(recorded.figures) + SYNTHETIC_ROWS

    # The next week's run, killed the moment its new history file is being written beside the old.
    temporary = f".{HISTORY_NAME}{TMP_MARK}*{TMP_SUFFIX}"
    command = [str(Path(sys.executable).parent / "playbook"), *args, "--as-of", D2.isoformat(), "--force"]
    with open(tmp_path / "killed.log", "w") as log:
        run = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        seen, deadline = 0, time.monotonic() + 300
        while run.poll() is None and time.monotonic() < deadline:
            # Seen on two polls in a row: DuckDB is writing it (mkstemp's empty file lives a moment only).
            seen = seen + 1 if any(out.glob(temporary)) else 0
            if seen == 2:
                os.kill(run.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        else:
            if run.poll() is None:
                os.kill(run.pid, signal.SIGKILL)
        code = run.wait(timeout=30)
    log_text = (tmp_path / "killed.log").read_text()
    if seen < 2:
        pytest.fail(f"the run ended (exit {code}) without a temporary history file {temporary} ever appearing in {out}: "
                    f"the history was not written beside the old one, or too fast to catch\n{log_text}")
    assert code == -signal.SIGKILL, log_text
    assert list(out.glob(f".{HISTORY_NAME}{TMP_MARK}*")), "killed mid-write, the run's temporary file must still be there"

    # The history reads, whole and as it was before the killed run.
    kept = History.read(store)
    for table in ("runs", "figures", "actions"):
        assert_frame_equal(getattr(kept, table), getattr(old, table))
    assert kept.recorded("mobile", "feedback", D2) is None

    # The next run completes and records its week beside everything that was there.
    again = playbook_cli(*args, "--as-of", D2.isoformat(), "--force")
    assert again.returncode == 0, again.stdout + again.stderr
    now = History.read(store)
    assert now.recorded("mobile", "feedback", D1) is not None and now.recorded("mobile", "feedback", D2) is not None
    assert (now.figures.area == "archive").sum() == SYNTHETIC_ROWS
    assert_frame_equal(now.figures[now.figures.as_of != D2].reset_index(drop=True), old.figures)
    assert set(now.figures[now.figures.as_of == D2].figure) == set(recorded.figures.figure)
    assert not list(out.glob(f".{HISTORY_NAME}{TMP_MARK}*")), list(out.iterdir())


# -- 3. resolved -------------------------------------------------------------------------------------


def test_an_action_gone_since_the_last_run_is_listed_as_resolved(tmp_path, tiny_workspace):
    params = make_params(tmp_path, tiny_workspace, teams={"mobile": MOBILE})
    out = tmp_path / "reports"
    _run(params, out, D1)
    assert ("feedback.nps_drop", "NPS") in _actions(out, "mobile/feedback")
    assert ("mobile", "feedback.nps_drop", "NPS") in _keys(_rows(out, "open-actions"))

    # A fall now needs 100 points to call for action: the drop no longer does.
    _set_team(params, "mobile", {**MOBILE, "feedback": {"drop_alert": 100}})
    _run(params, out, D2)
    assert ("feedback.nps_drop", "NPS") not in _actions(out, "mobile/feedback")
    opened = _rows(out, "open-actions")
    assert opened and ("mobile", "feedback.nps_drop", "NPS") not in _keys(opened)
    resolved = [r for r in _rows(out, "resolved-actions") if r["rule"] == "feedback.nps_drop"]
    assert [(r["team"], r["area"], r["subject"], r["owner"], r["last"]) for r in resolved] == [
        ("mobile", "feedback", "NPS", "Product operations", f"resolved (last seen {D1:%d %b %Y})")]
    assert resolved[0]["text"].startswith("NPS fell by ")
    assert re.search(r"\b1 resolved since the last run\b", visible_text((out / "actions.html").read_text()))


# -- 4. snoozed --------------------------------------------------------------------------------------

SNOOZE_REASON = "Sketch seats move to the design team's contract in December"


@pytest.mark.browser
def test_a_snoozed_action_is_folded_away_until_its_date(tmp_path, tiny_workspace, browser):
    params = make_params(tmp_path, tiny_workspace, teams={"mobile": MOBILE})
    out = tmp_path / "reports"
    _run(params, out, D1)
    target = next(r for r in _rows(out, "open-actions") if r["rule"] == "tools.unused")
    until = D1 + timedelta(days=10)
    (params / "actions.yaml").write_text(yaml.safe_dump({"snoozed": [
        {"rule": target["rule"], "subject": target["subject"], "until": until.isoformat(), "reason": SNOOZE_REASON, "team": "mobile"},
    ]}))

    # The same week again: the reports are reused, the pages judge the snooze.
    again = _run(params, out, D1)
    assert "(2 unchanged since their last render, reused" in again.stdout
    assert (target["team"], target["rule"], target["subject"]) not in _keys(_rows(out, "open-actions"))
    snoozed = _rows(out, "snoozed-actions")
    assert [(r["team"], r["rule"], r["subject"], r["owner"], r["last"]) for r in snoozed] == [
        ("mobile", target["rule"], target["subject"], "IT & procurement", SNOOZE_REASON)]
    assert f"{until:%d %b %Y}" in snoozed[0]["text"] + visible_text((out / "actions.html").read_text())
    index = BeautifulSoup((out / "index.html").read_text(), "html.parser")
    assert target["text"] not in index.find(id="look-here-first").get_text(" ", strip=True)

    # A reader sees the snoozed section folded, its reason only once it is opened.
    page, outside, errors = _open(browser, out / "actions.html")
    assert outside == [] and errors == []
    assert page.evaluate("document.getElementById('snoozed').open") is False
    assert not page.get_by_text(SNOOZE_REASON).is_visible()
    assert page.locator("#snoozed summary").inner_text().startswith("Snoozed (1)")
    page.click("#snoozed summary")
    assert page.evaluate("document.getElementById('snoozed').open") is True
    assert page.get_by_text(SNOOZE_REASON).is_visible()
    page.context.close()

    # After its date the action is open again, and says its snooze has ended.
    _run(params, out, D3)
    back = [r for r in _rows(out, "open-actions") if (r["team"], r["rule"], r["subject"]) == (target["team"], target["rule"], target["subject"])]
    assert len(back) == 1 and back[0]["last"].endswith(f"(snooze ended {until:%d %b %Y})"), back
    assert _rows(out, "snoozed-actions") == []


# -- 5. alert rules ----------------------------------------------------------------------------------


def test_an_alert_rule_in_params_makes_an_action_named_after_it(tmp_path, tiny_workspace):
    params = make_params(tmp_path, tiny_workspace, teams={"mobile": MOBILE})
    out = tmp_path / "reports"
    _run(params, out, D1)
    assert not any(rule.startswith("alert.") for rule, _ in _actions(out, "mobile/feedback"))

    # Any response at all crosses this bound; no feedback action rests on the count of responses.
    owner = "Dana Levy, product ops"
    _set_team(params, "mobile", {**MOBILE, "owners": {"feedback": owner},
                                 "alerts": [{"figure": "feedback.responses", "above": 0, "severity": "high"}]})
    _run(params, out, D2)
    manifest = json.loads((out / "manifest.json").read_text())
    result = manifest["reports"]["mobile/feedback"]["result"]
    alert = [a for a in result["actions"] if a["rule"].startswith("alert.")]
    assert [(a["rule"], a["subject"], a["severity"], a["figures"]) for a in alert] == [
        ("alert.feedback.responses.above", "responses", "high", ["responses"])]
    count = result["figures"]["responses"]["value"]
    assert count > 0
    text = alert[0]["text"]
    assert text.startswith(f"{count:.0f} responses") and text.endswith(": past the alert in params, responses above 0."), text

    # The report's summary states it (new this week), and the actions page lists it with its owner.
    report = BeautifulSoup((out / "mobile" / "feedback.html").read_text(), "html.parser")
    summary = [" ".join(li.get_text(" ").split()) for li in report.select("li.pb-action")]
    assert f"High {text} (new this week)" in summary, summary
    row = [r for r in _rows(out, "open-actions") if r["rule"] == "alert.feedback.responses.above"]
    assert [(r["team"], r["subject"], r["text"], r["owner"]) for r in row] == [("mobile", "responses", text, owner)]
    # The override is the team's feedback owner only; its tools keep the default.
    assert {r["owner"] for r in _rows(out, "open-actions") if r["area"] == "tools"} == {"IT & procurement"}
    # An owner changes nothing that is counted; an alert rule changes the feedback area's actions,
    # so its series marks the change, and only its series: the tools figures run on unbroken.
    series = History.read(history_path(out)).series("mobile")
    assert not series[series.area == "tools"].series_break.any()
    assert series[series.area == "feedback"].groupby("figure").series_break.sum().eq(1).all()


# -- 6. and 7. the full sample, eight weeks backfilled, then a run -----------------------------------


def test_the_sample_history_shows_the_planted_nps_fall_and_the_index_draws_it(tmp_path, sample_run):
    result, out = sample_run
    assert result.returncode == 0, result.stdout + result.stderr
    csv = playbook_cli("history", "--team", PLANTED.nps_drop_team, "--area", "feedback", "--figure", "nps", "--csv", "--out", str(out))
    assert csv.returncode == 0, csv.stderr
    series = pd.read_csv(StringIO(csv.stdout))
    assert list(series.as_of) == [(AS_OF - k * WEEK).isoformat() for k in range(8, -1, -1)]
    values = list(series.value)
    assert len(values) == 9 and not series.series_break.any()
    assert values[-1] == min(values) and values[-1] <= float(np.median(values[:4])) - 20, values

    index = BeautifulSoup((out / "index.html").read_text(), "html.parser")
    cell = index.select_one(f'tbody td a[href="{PLANTED.nps_drop_team}/feedback.html"]').find_parent("td")
    trend = cell.find("svg", class_="trend")
    assert [float(v) for v in json.loads(trend["data-values"])] == values
    assert json.loads(trend["data-dates"]) == list(series.as_of)


def _owners(params: Path, team: str) -> dict[str, str]:
    """The owners params give ``team``: defaults.yaml's, each area overridden by the team's file."""
    defaults = yaml.safe_load((params / "defaults.yaml").read_text()).get("owners") or {}
    own = yaml.safe_load((params / "teams" / f"{team}.yaml").read_text()).get("owners") or {}
    return {**defaults, **own}


ROWS = """() => ['open-actions', 'resolved-actions'].flatMap(id => Array.from(document.querySelectorAll('#' + id + ' tbody tr')).map(tr => {
  const cells = tr.querySelectorAll(':scope > td');
  return [id, cells[2].querySelector('a').getAttribute('href'), cells[1].querySelector('.rule').innerText, cells[3].innerText.trim()];
}))"""


@pytest.mark.browser
def test_the_actions_page_lists_each_planted_problem_once_with_its_owner(browser, sample_run):
    result, out = sample_run
    assert result.returncode == 0, result.stdout + result.stderr
    page, outside, errors = _open(browser, out / "actions.html")
    assert outside == [] and errors == []
    rows = []
    for table, href, rule_line, owner in page.evaluate(ROWS):
        rule, subject = rule_line.removeprefix("rule ").split(" · ", 1)
        team, area = href.removesuffix(".html").split("/")
        rows.append({"table": table, "team": team, "area": area, "rule": rule, "subject": subject, "owner": owner})
    page.context.close()
    opened = [r for r in rows if r["table"] == "open-actions"]
    keys = _keys(opened)
    assert len(keys) == len(set(keys)), [k for k in keys if keys.count(k) > 1]

    planted = [
        (PLANTED.nps_drop_team, "feedback.nps_drop", "NPS"),
        (PLANTED.renewal_team, "tools.review_before_renewal", PLANTED.renewal_tool),
        (PLANTED.srm_team, "experiments.invalid", PLANTED.srm),
        (PLANTED.winner_team, "experiments.ship", PLANTED.winner),
        (PLANTED.harmful_team, "experiments.harmful", PLANTED.harmful),
        (PLANTED.gap_team, "enablement.knowledge_gap", f"{PLANTED.gap_group}: {PLANTED.gap_feature}"),
        (PLANTED.unreached_team, "communication.release_unreached", PLANTED.unreached_release),
        (PLANTED.early_team, "enablement.launch_not_ready", PLANTED.early_release),
        (PLANTED.idle_team, "tools.rightsize", PLANTED.idle_tool),
        (PLANTED.low_adoption_team, "escalations.low_core_adoption", PLANTED.low_adoption_feature),
        (PLANTED.slow_adoption_team, "enablement.slow_adoption", PLANTED.slow_adoption_feature),
    ]
    for team, rule, subject in planted:
        # Once on the page: not again under another team (team `all` names the same problem).
        found = [r for r in opened if (r["rule"], r["subject"]) == (rule, subject)]
        assert [r["team"] for r in found] == [team], (rule, subject, found)
    # A tool nobody uses is named in its team's row of tools nobody uses; a tool of no product team
    # (New Relic, owned by IT) only in team all's.
    unused = {r["team"]: r["subject"].split(", ") for r in opened if r["rule"] == "tools.unused"}
    assert PLANTED.unused_seated_tool in unused.get(PLANTED.unused_seated_team, []), unused
    assert [t for t, tools in unused.items() if PLANTED.unused_tool in tools] == ["all"], unused

    # Every row's owner is the one params give its team for its area.
    params = out.parent / "params"
    for row in rows:
        assert row["owner"] == _owners(params, row["team"])[row["area"]], row


def test_each_tool_nobody_uses_is_named_in_one_row_of_the_actions_page(sample_run):
    """The organisation's report names unused tools per owning team, so no tool a team's own row
    names is listed (and its money counted) again under team all."""
    _, out = sample_run
    rows = [r for r in _rows(out, "open-actions") if r["rule"] == "tools.unused"]
    naming = [r["team"] for r in rows if PLANTED.unused_seated_tool in r["subject"].split(", ")]
    assert naming == [PLANTED.unused_seated_team]
    tools = [t for r in rows for t in r["subject"].split(", ")]
    assert PLANTED.unused_tool in tools and len(tools) == len(set(tools))
