"""End to end: the rendered tools reports name the planted findings, with figures recomputed here
from the raw files by plain pandas."""

import shutil

import pandas as pd
import pytest

from conftest import AS_OF, make_params, playbook_cli, visible_text
from playbook.sample import PLANTED

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def raw(sample_workspace):
    tools = pd.read_csv(sample_workspace / "tools.csv")
    seats = pd.read_csv(sample_workspace / "tool_seats.csv", parse_dates=["assigned_at", "last_active_at"])
    now = pd.Timestamp(AS_OF, tz="UTC") + pd.Timedelta(days=1)
    seats = seats[seats["assigned_at"] < now]
    seats = seats.assign(engaged=seats["last_active_at"] >= now - pd.Timedelta(days=30))
    return tools.set_index("tool"), seats


def _money(value):
    return f"${value / 1e3:,.0f}k" if value >= 1e4 else f"${value:,.0f}"


def test_underused_tool_renewing_soon(sample_run, raw):
    _, out = sample_run
    tools, seats = raw
    tool = tools.loc[PLANTED.renewal_tool]
    utilisation = seats.loc[seats["tool"] == PLANTED.renewal_tool, "engaged"].sum() / tool["seats"]
    days = (pd.Timestamp(tool["renewal_date"]) - pd.Timestamp(AS_OF)).days
    assert utilisation < 0.4 and days <= 60
    text = visible_text((out / PLANTED.renewal_team / "tools.html").read_text())
    assert (
        f"{PLANTED.renewal_tool} renews on {pd.Timestamp(tool['renewal_date']):%d %b %Y}, in {days} days, "
        f"with only {utilisation:.0%} of its {tool['seats']} seats engaged: review it before renewing"
    ) in text


def test_overlapping_tools_in_one_team(sample_run, raw):
    _, out = sample_run
    tools, seats = raw
    mine = seats[(seats["team"] == PLANTED.overlap_team) & seats["tool"].isin(PLANTED.overlap_tools)]
    per_seat = tools["annual_cost"] / tools["seats"]
    cost = mine.groupby("tool").size() * per_seat.reindex(PLANTED.overlap_tools)
    engaged = mine.groupby("tool")["engaged"].sum()
    keep = engaged.idxmax()
    function = tools.loc[PLANTED.overlap_tools[0], "function"]
    assert tools.loc[PLANTED.overlap_tools[1], "function"] == function
    text = visible_text((out / PLANTED.overlap_team / "tools.html").read_text())
    assert (
        f"2 tools for {function} ({keep}, {engaged.drop(keep).index[0]}; {len(mine)} seats, {_money(cost.sum())} a year): "
        f"consolidating onto {keep} could save {_money(cost.drop(keep).sum())} a year."
    ) in text


def test_costly_team(sample_run, raw):
    _, out = sample_run
    tools, seats = raw
    per_seat = (tools["annual_cost"] / tools["seats"]).rename("per_seat")
    costed = seats.join(per_seat, on="tool")
    per_team = costed.groupby("team").apply(lambda g: g["per_seat"].sum() / g["engaged"].sum(), include_groups=False)
    mine = per_team[PLANTED.costly_team]
    others = per_team.drop(PLANTED.costly_team).median()
    assert mine > 2 * others
    text = visible_text((out / PLANTED.costly_team / "tools.html").read_text())
    assert f"This team pays ${mine:,.0f} a year per engaged user, {mine / others:.1f}x the median of the other teams (${others:,.0f})" in text
    # the other product teams are not flagged
    for team in ("analytics", "growth", "mobile"):
        assert "This team pays" not in visible_text((out / team / "tools.html").read_text())


def test_organisation_report_names_all_three(sample_run):
    _, out = sample_run
    text = visible_text((out / "all" / "tools.html").read_text())
    assert f"{PLANTED.renewal_tool} renews on" in text
    assert f"Team {PLANTED.overlap_team}: 2 tools for BI dashboards" in text
    assert f"Team {PLANTED.costly_team} pays" in text


def _unused(tools, seats):
    """Tools with licences and no seat engaged in the last 30 days, costliest first (by hand)."""
    engaged = seats.groupby("tool")["engaged"].sum().reindex(tools.index, fill_value=0)
    assigned = seats.groupby("tool").size().reindex(tools.index, fill_value=0)
    unused = tools[(tools["seats"] > 0) & (engaged == 0)].assign(assigned=assigned)
    return unused.reset_index().sort_values(["annual_cost", "tool"], ascending=[False, True])


def _described(row, owner=False):
    who = f"owner: {row.owner_team}, " if owner else ""
    seats = f"{row.seats} seat{'' if row.seats == 1 else 's'}"
    how = f"{seats}, none assigned" if row.assigned == 0 else f"{row.assigned} of {seats} assigned, none used in the last 30 days"
    return f"{row.tool} ({who}{_money(row.annual_cost)}; {how}"


def test_tools_nobody_uses_lead_the_summaries(sample_run, raw):
    _, out = sample_run
    tools, seats = raw
    unused = _unused(tools, seats)
    # Both shapes are planted: licences with no seat assigned, and assigned seats nobody used.
    assert unused.set_index("tool").loc[PLANTED.unused_tool, "assigned"] == 0
    assert unused.set_index("tool").loc[PLANTED.unused_seated_tool, "assigned"] > 0
    text = visible_text((out / "all" / "tools.html").read_text())
    lead = "What needs action Yearly idle spend"
    highs = text[text.index(lead):].split(" High ")[1:]
    # The organisation's report names them per owning team (each list the one that team's own
    # report names), costliest list first among them.
    named = [i for i, line in enumerate(highs) if " nobody uses cost" in line]
    groups = sorted(unused.groupby("owner_team"), key=lambda g: -g[1]["annual_cost"].sum())
    assert len(named) == len(groups)
    assert named == sorted(named)
    for at, (_, group) in zip(named, groups):
        count = len(group)
        lead = f"{count} tools nobody uses cost" if count > 1 else "1 tool nobody uses costs"
        assert highs[at].startswith(f"{lead} {_money(group['annual_cost'].sum())} a year: "
                                    + ", ".join(_described(r, owner=True) + ")" for r in group.itertuples())[:-1])
    # They lead, unless a larger high-severity sum does (the summary ranks by severity, then
    # money): only the planted idle tool, whose idle spend is larger, may come before the first.
    assert all(line.startswith(f"{PLANTED.idle_tool} ") for line in highs[:named[0]]) and named[0] <= 1
    mine = unused[unused["owner_team"] == PLANTED.unused_seated_team]
    text = visible_text((out / PLANTED.unused_seated_team / "tools.html").read_text())
    assert f"{len(mine)} tools nobody uses cost {_money(mine['annual_cost'].sum())} a year: " in text
    assert _described(mine.set_index("tool").loc[[PLANTED.unused_seated_tool]].reset_index().iloc[0]) in text
    assert "nothing needs action" not in text


def test_largest_idle_spend_is_named_with_its_money(sample_run, raw):
    _, out = sample_run
    tools, seats = raw
    engaged = seats.groupby("tool")["engaged"].sum().reindex(tools.index, fill_value=0)
    idle = (tools["seats"] - engaged) * tools["annual_cost"] / tools["seats"]
    used = idle[(engaged > 0) & (tools["seats"] > 0)]
    assert used.idxmax() == PLANTED.idle_tool
    tool = tools.loc[PLANTED.idle_tool]
    count = int(engaged[PLANTED.idle_tool])
    said = (f"has only {count} of its {tool['seats']} seats engaged ({count / tool['seats']:.0%}, floor 60%): rightsizing it to "
            f"the seats in use would save {_money(used.max())} a year")
    assert f"{PLANTED.idle_tool} {said}" in visible_text((out / PLANTED.idle_team / "tools.html").read_text())
    assert f"{PLANTED.idle_tool} (owner: {PLANTED.idle_team}) {said}" in visible_text((out / "all" / "tools.html").read_text())


def test_seats_to_reclaim_are_counted_and_listed(sample_run, raw):
    _, out = sample_run
    tools, seats = raw
    now = pd.Timestamp(AS_OF, tz="UTC") + pd.Timedelta(days=1)
    owned = set(tools.index[tools["owner_team"] == PLANTED.idle_team])
    idle = seats[~seats["engaged"] & (seats["assigned_at"] < now - pd.Timedelta(days=60))
                 & ((seats["team"] == PLANTED.idle_team) | seats["tool"].isin(owned))]
    text = visible_text((out / PLANTED.idle_team / "tools.html").read_text())
    assert f"{len(idle)} seats to reclaim: assigned over 60 days ago and not used in the last 30 days" in text
    listed = text[text.index("Seats to reclaim How this is measured"):]
    never = idle[idle["last_active_at"].isna() & (idle["tool"] == PLANTED.idle_tool)]
    assert len(never) and all(f"{PLANTED.idle_tool} {u} {PLANTED.idle_team}" in listed for u in never["user_id"])


def test_seats_of_unknown_tools_are_set_aside_and_the_rest_renders(sample_workspace, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(sample_workspace, ws)
    seats = pd.read_csv(ws / "tool_seats.csv", dtype=str, keep_default_na=False)
    ghosts = pd.DataFrame(
        {"tool": ["Ghost", "Ghost", "Phantom"], "user_id": ["gro-901", "gro-902", "gro-903"], "team": ["growth"] * 3,
         "assigned_at": ["2025-01-01T00:00:00Z"] * 3, "last_active_at": [""] * 3}
    )
    pd.concat([seats, ghosts]).to_csv(ws / "tool_seats.csv", index=False)
    first = len(seats) + 1
    line = (
        f"tool_seats.csv: 3 rows set aside: column 'tool' refers to a tool missing from tools.csv "
        f"(row {first}: 'Ghost', row {first + 1}: 'Ghost', row {first + 2}: 'Phantom')"
    )
    params = make_params(tmp_path, ws, teams={"growth": {"name": "Growth", "products": ["onboarding", "billing"]}})
    run = playbook_cli("run", "--params", str(params), "--out", str(tmp_path / "out"), "--area", "tools", "--as-of", AS_OF.isoformat())
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"warning: {line}" in run.stderr
    text = visible_text((tmp_path / "out" / "growth" / "tools.html").read_text())
    assert "Data quality" in text and line in text
    assert f"{PLANTED.renewal_tool} renews on" in text  # the rest still renders
