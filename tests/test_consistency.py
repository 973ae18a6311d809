"""One set of numbers: a full sample run read as a stakeholder reads it, every figure checked
against every other place that shows it (see ``tests/consistency.py`` for the checks)."""

from __future__ import annotations

import pytest

from consistency import (
    check_actions_page_matches_reports,
    check_trends_end_at_the_headline,
    check_colour_means_action,
    check_index_matches_summary,
    check_look_here_first,
    check_same_subject,
    check_teams_add_up,
    check_totals_match_tables,
    read_index,
    read_run,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def run(sample_run):
    result, out = sample_run
    assert result.returncode == 0, result.stdout + result.stderr
    cells, soup = read_index(out)
    reports = read_run(out)
    # Every team and area, and the organisation: 5 x 6 reports, each in the index.
    assert len(reports) == 30 and len(cells) == 30 and {r.team for r in reports.values()} >= {"all"}
    return cells, soup, reports, out


def test_index_figures_and_changes_are_in_each_summary(run):
    cells, _, reports, _ = run
    assert check_index_matches_summary(cells, reports) == []


def test_summary_totals_equal_their_tables(run):
    _, _, reports, _ = run
    assert check_totals_match_tables(reports) == []


def test_teams_add_up_to_all(run):
    _, _, reports, _ = run
    assert check_teams_add_up(reports) == []


def test_one_subject_has_one_figure_in_every_report(run):
    _, _, reports, _ = run
    assert check_same_subject(reports) == []


def test_only_cells_with_an_action_are_coloured(run):
    cells, soup, reports, _ = run
    assert check_colour_means_action(cells, reports) == []
    assert check_look_here_first(soup) == []


def test_trends_and_the_actions_page_agree_with_the_reports(run):
    _, soup, reports, out = run
    assert soup.select("td svg.trend"), "the index draws no trend after a backfilled run"
    assert check_trends_end_at_the_headline(soup) == []
    assert check_actions_page_matches_reports(out, reports) == []


def test_the_history_checks_catch_what_they_look_for(run):
    _, _, _, out = run
    cells, soup = read_index(out)
    svg = soup.select_one("td svg.trend")
    svg.find("title").string = svg.find("title").get_text() + ", 12345"
    assert check_trends_end_at_the_headline(soup)
    reports = read_run(out)
    aged = next(r for r in reports.values() if r.team != "all" and any("open for" in line for line in r.summary))
    aged.summary = [line.replace("open for", "open for 1") for line in aged.summary]
    assert any("weeks open" in p for p in check_actions_page_matches_reports(out, reports))
    dropped = next(r for r in reports.values() if r.team != "all" and r.actions)
    dropped.summary = [line[:12] if line.startswith(("High ", "Medium ", "Low ")) else line for line in dropped.summary]
    assert any(f"is not in {dropped.name}'s summary" in p for p in check_actions_page_matches_reports(out, reports))


def test_the_checks_catch_what_they_look_for(run):
    """Each check fails on a report changed the way main's reports were wrong, so a green run
    means the figures agree, not that the checks found nothing to read."""
    cells, _ = read_index(run[3])
    reports = read_run(run[3])  # fresh copies: this test edits them
    tools = reports["all/tools"]
    tools.summary = [line.replace("put $", "put $1") for line in tools.summary]
    assert any("at stake" in p for p in check_totals_match_tables({"all/tools": tools}))
    overdue = reports["platform/communication"]
    overdue.summary = [line.replace(" requests are overdue", "0 requests are overdue") for line in overdue.summary]
    assert check_teams_add_up(reports) and check_totals_match_tables({"x": overdue})
    first = next(c for c in cells if c.headline)
    first.headline += " (up 999)"
    assert any("up 999" in p for p in check_index_matches_summary([first], reports))
    backlog = next(r for r in reports.values() if r.team != "all" and r.table(header="Days needed") and r.table(header="Days needed").rows)
    backlog.table(header="Days needed").rows[0][backlog.table(header="Days needed").header.index("Days needed")] += "1"
    assert any(p.startswith("days needed") for p in check_same_subject(reports))
