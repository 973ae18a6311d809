"""The explorers, driven as an ops lead drives them: the first view shows at once, every control
either changes what is shown or is disabled with its reason, the last choice wins, the rows behind
each figure add up to it, and an export holds the very table shown."""

from __future__ import annotations

import csv
import math
import time

import pandas as pd
import pytest

from conftest import AS_OF, make_params
from playbook.areas import AREAS
from playbook.config import list_teams
from playbook.context import build, open_report
from playbook.drill import FORMULA_START, Table, add_up, rows_behind
from playbook.views import format_value
from playbook.widgets import ALL, ALL_PRODUCTS, DRILL_PREFIX, SCHEDULED, Chart, Choice, Explorer, Markup


def _settle(explorer: Explorer, limit: float = 120.0) -> None:
    """Wait until the explorer has drawn the current choice."""
    stop = time.monotonic() + limit
    while explorer.status.value or explorer.shown != explorer.choice():
        assert time.monotonic() < stop, f"the explorer did not draw {explorer.choice()} in {limit:.0f} s"
        time.sleep(0.05)


def _content(shown):
    """What a reader sees of a view, comparable between two draws."""
    if isinstance(shown, Table):
        return (shown.caption, [label for _, label, _ in shown.columns], shown.shown(), shown.totals)
    if isinstance(shown, list):
        return [_content(t) for t in shown]
    if isinstance(shown, Chart):
        import matplotlib.pyplot as plt

        plt.close(shown.figure)
        return _content(shown.table)
    if isinstance(shown, Markup):
        return shown.html
    return shown


@pytest.fixture(scope="module")
def tiny_params(tmp_path_factory, tiny_workspace):
    return make_params(tmp_path_factory.mktemp("explorer"), tiny_workspace)


@pytest.fixture(scope="module")
def sample_params(tmp_path_factory, sample_workspace):
    return make_params(tmp_path_factory.mktemp("explorer-sample"), sample_workspace)


@pytest.fixture(autouse=True)
def _interactive(monkeypatch):
    # Tests may run under the runner's environment: an ops lead's notebook is not scheduled.
    monkeypatch.delenv(SCHEDULED, raising=False)


@pytest.mark.parametrize("area", sorted(AREAS))
def test_first_view_shows_before_any_change(area, tiny_params):
    ctx = open_report(area, "platform", tiny_params, as_of=AS_OF, history="-")
    report = build(ctx)
    explorer = Explorer(ctx, str(tiny_params), report)
    _settle(explorer)
    assert explorer.shown == Choice("platform", ALL_PRODUCTS, ALL, ALL, ctx.params.period, next(iter(explorer.views)))
    data = explorer.output.outputs[0]["data"]
    # The output names what it shows, and is the notebook's own report, not a recomputation.
    assert f"team <b>{ctx.params.name}</b>" in data["text/html"] and ctx.period.label() in data["text/html"]
    assert "mathjax_ignore" in data["text/html"]


def test_scheduled_run_draws_nothing(tiny_params, monkeypatch):
    monkeypatch.setenv(SCHEDULED, "1")
    ctx = open_report("tools", "platform", tiny_params, as_of=AS_OF, history="-")
    explorer = Explorer(ctx, str(tiny_params), build(ctx))
    time.sleep(0.5)
    assert explorer.last is None and explorer.output.outputs == () and explorer._thread is None


def test_last_choice_wins_and_stale_draws_are_dropped(tiny_params):
    ctx = open_report("escalations", "platform", tiny_params, as_of=AS_OF, history="-")
    explorer = Explorer(ctx, str(tiny_params), build(ctx))
    _settle(explorer)
    drawn = []
    explorer.output.observe(lambda change: drawn.append(change["new"][0]["data"]["text/html"]), names="outputs")
    # View, then period, then product, then team, in quick succession: one redraw, of the last.
    explorer.view.value = "Stickiness"
    assert "Drawing" in explorer.status.value and "pb-stale" in explorer.output._dom_classes
    explorer.period.value = "last_90_days"
    explorer.product.value = explorer.product.options[1]
    explorer.team.value = "growth"
    _settle(explorer)
    assert explorer.shown == Choice("growth", ALL_PRODUCTS, ALL, ALL, "last_90_days", "Stickiness")
    assert len(drawn) == 1 and "team <b>Growth</b>" in drawn[0] and "last 90 days" in drawn[0]
    assert "pb-stale" not in explorer.output._dom_classes


def test_a_draw_overtaken_while_running_is_never_shown(tiny_params, monkeypatch):
    ctx = open_report("feedback", "platform", tiny_params, as_of=AS_OF, history="-")
    explorer = Explorer(ctx, str(tiny_params), build(ctx))
    _settle(explorer)
    drawn = []
    explorer.output.observe(lambda change: drawn.append(change["new"][0]["data"]["text/html"]), names="outputs")
    real = explorer.render
    started = []

    def slow(choice):
        started.append(choice)
        if len(started) == 1:
            time.sleep(1.5)  # the first draw is still running when the next change comes
        return real(choice)

    monkeypatch.setattr(explorer, "render", slow)
    explorer.period.value = "last_90_days"
    while not started:
        time.sleep(0.02)
    explorer.period.value = "previous_month"
    _settle(explorer)
    assert [c.period for c in started] == ["last_90_days", "previous_month"]
    assert len(drawn) == 1 and "previous month" in drawn[0]


def test_team_change_lists_its_products(tiny_params):
    ctx = open_report("feedback", "platform", tiny_params, as_of=AS_OF, history="-")
    explorer = Explorer(ctx, str(tiny_params), build(ctx))
    explorer.team.value = "mobile"
    assert explorer.product.options == (ALL_PRODUCTS, "mobile-app")
    # One product: narrowing to it changes nothing, and the control says so.
    assert explorer.product.disabled and "one product" in explorer.why.value
    _settle(explorer)


def test_custom_range_and_a_bad_one(tiny_params):
    ctx = open_report("feedback", "platform", tiny_params, as_of=AS_OF, history="-")
    explorer = Explorer(ctx, str(tiny_params), build(ctx))
    _settle(explorer)
    assert explorer.start.disabled and explorer.end.disabled
    explorer.period.value = "custom range"
    assert not explorer.start.disabled
    explorer.start.value, explorer.end.value = AS_OF - pd.Timedelta(days=6), AS_OF
    _settle(explorer)
    html = explorer.output.outputs[0]["data"]["text/html"]
    assert "custom range" in html and f"{(AS_OF - pd.Timedelta(days=6)):%d %b %Y} to {AS_OF:%d %b %Y}" in html
    explorer.end.value = AS_OF - pd.Timedelta(days=30)  # before the start: said, not a dead explorer
    _settle(explorer)
    assert "pb-warn" in explorer.output.outputs[0]["data"]["text/html"] and "before it starts" in explorer.output.outputs[0]["data"]["text/html"]
    explorer.period.value = "last_30_days"
    _settle(explorer)
    assert "pb-warn" not in explorer.output.outputs[0]["data"]["text/html"]


# -- every control changes the view, or says why not: judged on the sample company -------------

def _draw_all(area, params, choice, views):
    ctx = open_report(area, choice.get("team", "all"), params, as_of=AS_OF, history="-", period=choice.get("period", "last_30_days"),
                      products=choice.get("products"), accounts=choice.get("accounts"))
    report = build(ctx)
    return {name: _content(view.draw(ctx, report)) for name, view in views.items()}


def _empty(content) -> bool:
    """A view with no rows at all: no control can change what it shows on this data."""
    if isinstance(content, list):
        return all(_empty(c) for c in content)
    return isinstance(content, tuple) and len(content) == 4 and content[2] == []


@pytest.mark.parametrize("area", sorted(AREAS))
def test_each_control_changes_the_view_or_is_disabled_with_a_reason(area, sample_params):
    """Whatever a view declares (see playbook.widgets.View) is checked on the sample company: a
    control it ignores leaves it as it was; one it reads changes it (for some value), unless the
    view has no rows either way."""
    from playbook.config import FixedPeriod

    ctx = open_report(area, "all", sample_params, as_of=AS_OF, history="-")
    views = AREAS[area].views()
    shown = _draw_all(area, sample_params, {}, views)
    longer = _draw_all(area, sample_params, {"period": "last_90_days"}, views)
    # Other last days: the previous month's, and one four months back.
    ends = [_draw_all(area, sample_params, {"period": p}, views)
            for p in ("previous_month", FixedPeriod(start=AS_OF - pd.Timedelta(days=149), end=AS_OF - pd.Timedelta(days=120)))]
    # Two products each way: a view that reads the product differs for at least one of them.
    products = [_draw_all(area, sample_params, {"products": [p]}, views) for p in ctx.params.products[:2]]
    reads_accounts = "accounts" in AREAS[area].tables
    segments = [_draw_all(area, sample_params, {"accounts": {"segment": s}}, views) for s in ("enterprise", "smb")] if reads_accounts else []

    def changes(variants, name):
        return any(v[name] != shown[name] and not (_empty(v[name]) and _empty(shown[name])) for v in variants)

    for name, view in views.items():
        ignores = dict(view.ignores)
        if "period" in ignores:
            assert not changes([longer, *ends], name), f"{area}/{name}: said to ignore the period, yet it changed"
        elif view.period_end:
            assert longer[name] == shown[name], f"{area}/{name}: said to read the period's last day only, yet a longer period changed it"
            assert changes(ends, name), f"{area}/{name}: another last day changed nothing"
        else:
            assert changes([longer, *ends], name), f"{area}/{name}: no other period changed it, and the control is not disabled"
        if "product" in ignores:
            assert not changes(products, name), f"{area}/{name}: said to ignore the product, yet it changed"
        else:
            assert changes(products, name), f"{area}/{name}: no product changed it, and the control is not disabled"
        if reads_accounts:
            if "segment" in ignores:
                assert not changes(segments, name), f"{area}/{name}: said to ignore the segment, yet it changed"
            else:
                assert changes(segments, name), f"{area}/{name}: no segment changed it, and the control is not disabled"


def test_segment_narrows_the_rows_to_its_accounts(sample_params, sample_workspace):
    ctx = open_report("feedback", "all", sample_params, as_of=AS_OF, history="-", accounts={"segment": "enterprise"})
    report = build(ctx)
    rows = AREAS["feedback"].drills()["responses"].rows(ctx, report)
    accounts = pd.read_csv(sample_workspace / "accounts.csv") if (sample_workspace / "accounts.csv").exists() else None
    assert len(rows) and report.result.figures["responses"].value == len(rows)
    if accounts is not None:
        enterprise = set(accounts.loc[accounts["segment"] == "enterprise", "account_id"])
        assert set(rows["account_id"]) <= enterprise
    whole = build(open_report("feedback", "all", sample_params, as_of=AS_OF, history="-"))
    assert report.result.figures["responses"].value < whole.result.figures["responses"].value


# -- drill-down and export --------------------------------------------------------------------

def _agrees(total, value) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return total is None or math.isnan(total)
    return total is not None and math.isclose(total, value, rel_tol=1e-9, abs_tol=1e-9)


def _rows_total(drill, rows):
    """The rows' total, taken here from the rows as the drill describes them (not by the drill's own code)."""
    if drill.how == "count":
        return float(len(rows))
    if rows.empty:
        return None if drill.how != "sum" else 0.0
    column = rows[drill.column].astype(float)
    if drill.how == "sum":
        return column.sum()
    if drill.how == "mean":
        return None if column.isna().any() else column.sum() / len(column)
    if drill.how == "nps":
        return 100.0 * (int((column >= 9).sum()) - int((column <= 6).sum())) / len(column)
    return column.sum() / rows[drill.over].astype(float).sum()


@pytest.mark.parametrize("area", sorted(AREAS))
def test_rows_behind_each_figure_add_up_to_it(area, sample_params):
    checked = 0
    for team in list_teams(sample_params):
        ctx = open_report(area, team, sample_params, as_of=AS_OF, history="-")
        report = build(ctx)
        drills = AREAS[area].drills()
        result = report.result
        # Every headline figure (what the index and the summary lead with) can be drilled into.
        assert set(result.headline) <= set(drills), f"{area}: headline figures without rows behind them"
        for key, drill in drills.items():
            if key not in result.figures:
                continue
            figure = result.figures[key]
            rows = drill.rows(ctx, report)
            assert _agrees(_rows_total(drill, rows), figure.value), f"{area}/{team}/{key}: rows add up to {_rows_total(drill, rows)}, the figure is {figure.value}"
            assert _agrees(add_up(drill, rows), figure.value)
            table = rows_behind(drill, figure, ctx, report)
            assert len(table.frame) == len(rows) and table.caption.startswith(figure.label) or str(int(figure.value or 0)) in table.caption
            if table.totals:
                assert list(table.totals.values()) == [figure.value]  # the total row is the figure itself
            checked += 1
    assert checked >= 2 * len(list_teams(sample_params))


def _parse(cell: str, fmt: str):
    if fmt == "text":
        # Text a spreadsheet would run as a formula is written after an apostrophe (drill.csv_value).
        return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell
    if cell == "":
        return None
    if fmt == "date":
        return pd.Timestamp(cell)
    return float(cell)


@pytest.mark.parametrize("area", sorted(AREAS))
def test_export_writes_the_table_shown(area, tiny_params, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ctx = open_report(area, "all", tiny_params, as_of=AS_OF, history="-")
    explorer = Explorer(ctx, str(tiny_params), build(ctx))
    _settle(explorer)
    names = [n for n in explorer.view.options if n != "Digests"][:3] + [n for n in explorer.view.options if n.startswith(DRILL_PREFIX)][:1]
    for name in names:
        explorer.view.value = name
        _settle(explorer)
        paths = explorer.export()
        shown = explorer.last.table if isinstance(explorer.last, Chart) else explorer.last
        tables = shown if isinstance(shown, list) else [shown]
        assert len(paths) == len(tables)
        for path, table in zip(paths, tables):
            assert path.parent == tiny_params.parent / "reports" / "exports"
            with open(path, newline="", encoding="utf-8-sig") as f:
                header, *body = list(csv.reader(f))
            assert header == [label for _, label, _ in table.columns]
            # Each cell, formatted as the table formats its column, reads as the table shows it.
            formats = [fmt for _, _, fmt in table.columns]
            assert [[format_value(_parse(c, fmt), fmt) for c, fmt in zip(row, formats)] for row in body] == table.shown()
        assert str(paths[0].name) in explorer.export_note.value
    # Two exports in one second never overwrite each other.
    again = explorer.export()
    assert again[0] != paths[0] and paths[0].exists()


# -- what a hostile user tried ----------------------------------------------------------------

def test_export_keeps_text_a_spreadsheet_would_run_as_a_formula_as_text(tmp_path):
    from playbook.drill import write_csv

    table = Table(pd.DataFrame({"name": ['=HYPERLINK("http://x.example","click")', "+1", "Zoë – fine", None], "arr": [1.5, 2, None, 4]}),
                  [("name", "Account", "text"), ("arr", "ARR", "money")])
    path = write_csv(table, tmp_path / "exports", "accounts")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a byte-order mark: a spreadsheet reads "ë" and "–" right
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows == [["Account", "ARR"], ['\'=HYPERLINK("http://x.example","click")', "1.5"], ["'+1", "2.0"], ["Zoë – fine", ""], ["–", "4.0"]]
    assert path.stat().st_mode & 0o044  # readable by others as the umask allows, not 0600


def test_each_team_reads_its_own_workspace(tmp_path, tiny_workspace, sample_workspace):
    import yaml

    params = make_params(tmp_path, tiny_workspace)
    mobile = params / "teams" / "mobile.yaml"
    mobile.write_text(yaml.safe_dump({**yaml.safe_load(mobile.read_text()), "workspace": str(sample_workspace)}))
    ctx = open_report("feedback", "platform", params, as_of=AS_OF, history="-")
    explorer = Explorer(ctx, str(params), build(ctx))
    explorer.team.value = "mobile"
    _settle(explorer)
    own = build(open_report("feedback", "mobile", params, as_of=AS_OF, history="-"))
    shown = explorer.render(explorer.choice())[1]
    assert str(shown.workspace.path) == str(sample_workspace)
    explorer.view.value = f"{DRILL_PREFIX}Responses"
    _settle(explorer)
    assert len(explorer.last.frame) == own.result.figures["responses"].value


def test_a_team_whose_params_do_not_load_is_said(tmp_path, tiny_workspace):
    params = make_params(tmp_path, tiny_workspace)
    (params / "teams" / "broken.yaml").write_text("name: Broken\nproducts: [api]\nfeedback:\n  trend: fortnight\n")
    ctx = open_report("feedback", "platform", params, as_of=AS_OF, history="-")
    explorer = Explorer(ctx, str(params), build(ctx))
    _settle(explorer)
    explorer.team.value = "broken"
    html = explorer.output.outputs[0]["data"]["text/html"]
    assert "pb-warn" in html and "fortnight" in html and not explorer.status.value
    explorer.team.value = "platform"
    _settle(explorer)


def test_a_failed_export_is_said_beside_the_button(tiny_params, tmp_path, monkeypatch):
    ctx = open_report("tools", "platform", tiny_params, as_of=AS_OF, history="-")
    explorer = Explorer(ctx, str(tiny_params), build(ctx))
    _settle(explorer)
    monkeypatch.setattr("playbook.widgets.project_root", lambda _: tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "exports").write_text("a file where the folder should be")
    assert explorer.export() == []
    assert "Export failed" in explorer.export_note.value


def test_views_of_an_older_area_still_draw(tiny_params):
    from IPython.display import HTML

    from playbook.widgets import View

    ctx = open_report("tools", "platform", tiny_params, as_of=AS_OF, history="-")
    explorer = Explorer(ctx, str(tiny_params), build(ctx))
    _settle(explorer)
    explorer.views["Old HTML"] = View(lambda ctx, r: HTML("<b>made by hand</b>"))
    explorer.views["Old frame"] = View(lambda ctx, r: r.calendar)
    assert "<b>made by hand</b>" in explorer._bundle(explorer.views["Old HTML"].draw(ctx, None), explorer.choice(), ctx)["data"]["text/html"]
    frame = explorer._bundle(explorer.views["Old frame"].draw(ctx, explorer._report), explorer.choice(), ctx)["data"]["text/html"]
    assert "pb-table" in frame


def test_a_share_of_parts_with_one_part_missing_adds_up_to_no_value():
    from playbook.drill import Drill

    drill = Drill(lambda ctx, r: None, [], "mean", "current")
    assert add_up(drill, pd.DataFrame({"current": [50.0, 60.0, float("nan")]})) is None
    assert add_up(drill, pd.DataFrame({"current": [50.0, 60.0, 70.0]})) == 60.0
