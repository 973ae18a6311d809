from datetime import date

import matplotlib as mpl
import pandas as pd

from playbook import feedback as fb
from playbook import plots
from playbook.period import Period


def _labels(fig):
    ax = fig.axes[0]
    return ax.get_title(loc="left"), ax.get_xlabel(), ax.get_ylabel()


def test_theme_restores_rc_params():
    before = dict(mpl.rcParams)
    with plots.theme():
        assert mpl.rcParams["axes.titleweight"] == "bold"
    assert dict(mpl.rcParams) == before


def test_charts_have_titles_and_labelled_axes_with_units(responses_df, accounts_df):
    trend = fb.nps_trend(responses_df, Period(date(2026, 11, 1), date(2026, 11, 15)), "week", 3)
    title, x, y = _labels(plots.plot_nps_trend(trend, "NPS by week"))
    assert title == "NPS by week" and x == "Week starting" and "points" in y
    tags = fb.tag_themes(responses_df, {"pricing": ["pricing", "expensive"]})
    title, x, y = _labels(plots.plot_theme_shares(fb.theme_by_group(responses_df, tags), "Themes"))
    assert title == "Themes" and "(%)" in x and y == "Theme"
    demand = pd.DataFrame({"title": ["A", "B"], "arr": [2e6, 1e6], "rice_rank": [2, 1], "accounts": [3, 4]})
    title, x, y = _labels(plots.plot_demand(demand, "Demand"))
    assert title == "Demand" and "USD millions" in x and y == "Roadmap item"


def test_empty_inputs_draw_a_no_data_figure(responses_df):
    none = responses_df.iloc[0:0]
    trend = fb.nps_trend(none, Period(date(2026, 11, 1), date(2026, 11, 15)), "week", 3)
    empty_demand = pd.DataFrame({"title": [], "arr": [], "rice_rank": [], "accounts": []})
    empty_themes = fb.theme_by_group(none, fb.tag_themes(none, {"x": ["y"]}))
    for fig in (plots.plot_nps_trend(trend, "T"), plots.plot_demand(empty_demand, "D"), plots.plot_theme_shares(empty_themes, "S")):
        texts = [t.get_text() for t in fig.axes[0].texts]
        assert len(texts) == 1 and texts[0].startswith("No ")


def test_dollar_signs_are_drawn_as_written_not_as_mathematics():
    """"$5 vs $10" as mathtext would be drawn as "5vs10": narrower than the same words in plain text."""
    import io

    import matplotlib.pyplot as plt

    demand = pd.DataFrame({"title": ["Pricing $5 vs $10 tiers", "Pricing S5 vs S10 tiers"], "arr": [2e6, 1e6],
                           "rice_rank": [1, 2], "accounts": [3, 4]})
    fig = plots.plot_demand(demand, "Costs $5 {per seat $ month")
    with mpl.rc_context({"text.parse_math": False}):  # as show_figure draws it
        fig.canvas.draw()
    labels = {t.get_text(): t for t in fig.axes[0].get_yticklabels()}
    assert all(not t.get_parse_math() for t in labels.values())
    dollars, plain = (labels[k].get_window_extent().width for k in ("Pricing $5 vs $10 tiers", "Pricing S5 vs S10 tiers"))
    assert abs(dollars - plain) / plain < 0.05
    plt.close(fig)
    # A title that is not valid mathtext is saved as a picture without failing, as it was written.
    fig = plots.plot_nps_trend(pd.DataFrame(columns=["start", "nps", "low", "high"]), "NPS, Costs $5 {per seat $ month")
    fig.savefig(io.BytesIO(), format="png")
    assert fig.axes[0].get_title(loc="left") == "NPS, Costs $5 {per seat $ month"


def test_partial_buckets_are_those_ending_after_the_last_day_with_data():
    # Weeks start on Monday: 16 Nov runs to 22 Nov (whole by 27 Nov), 23 Nov to 29 Nov (cut short).
    starts = pd.Series(pd.to_datetime(["2026-11-09", "2026-11-16", "2026-11-23"]))
    assert plots.partial_buckets(starts, date(2026, 11, 27)).tolist() == [False, False, True]
    assert plots.partial_buckets(starts, date(2026, 11, 29)).tolist() == [False, False, False]  # its Sunday: whole
    assert plots.partial_buckets(starts, date(2026, 11, 28)).tolist() == [False, False, True]
    assert plots.partial_buckets(starts, None).tolist() == [False, False, False]
    months = pd.Series(pd.to_datetime(["2026-10-01", "2026-11-01"]))
    assert plots.partial_buckets(months, date(2026, 11, 30), "month").tolist() == [False, False]
    assert plots.partial_buckets(months, date(2026, 11, 27), "month").tolist() == [False, True]


def _weekly_trend():
    starts = pd.date_range("2026-10-05", periods=8, freq="W-MON")  # Mondays, the last 23 Nov
    nps = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 80.0, 95.0]
    return pd.DataFrame({"start": starts, "nps": nps, "low": [v - 40 for v in nps], "high": [v + 40 for v in nps]})


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_nps_trend_marks_the_partial_week_and_keeps_its_interval_on_the_scale():
    fig = plots.plot_nps_trend(_weekly_trend(), "NPS by week", through=date(2026, 11, 27))
    ax = fig.axes[0]
    assert "partial week (data to 27 Nov)" in _legend(ax)
    # The band's top edge is +100 where the interval reached +135, never above.
    band = next(c for c in ax.collections if c.get_label() == "95% interval")
    tops = band.get_paths()[0].vertices[:, 1]
    assert tops.max() == 100.0 and tops.min() == -30.0
    # The whole weeks are one solid line without the last week; the last week is a hollow dot.
    solid = next(line for line in ax.get_lines() if line.get_label() == "NPS")
    assert list(solid.get_ydata()) == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 80.0]
    hollow = [line for line in ax.get_lines() if line.get_markerfacecolor() in ("white", (1.0, 1.0, 1.0, 1.0)) and len(line.get_xdata()) == 1]
    assert [list(line.get_ydata()) for line in hollow] == [[95.0]]
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--" and len(line.get_xdata()) == 2]
    assert [list(line.get_ydata()) for line in dashed] == [[80.0, 95.0]]


def test_a_trend_of_whole_weeks_has_no_partial_mark():
    fig = plots.plot_nps_trend(_weekly_trend(), "NPS by week", through=date(2026, 11, 29))
    assert not any("partial" in t for t in _legend(fig.axes[0]))
    assert len(next(line for line in fig.axes[0].get_lines() if line.get_label() == "NPS").get_xdata()) == 8


def test_bugs_chart_marks_the_partial_week_of_both_lines():
    weekly = pd.DataFrame({"week": pd.date_range("2026-11-02", periods=4, freq="W-MON"), "opened": [3, 4, 5, 1], "closed": [2, 3, 4, 0]})
    fig = plots.plot_bugs_weekly(weekly, "Bugs", through=date(2026, 11, 27))
    ax = fig.axes[0]
    assert _legend(ax) == ["opened", "closed", "partial week (data to 27 Nov)"]
    whole = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines() if line.get_label() in ("opened", "closed")}
    assert whole == {"opened": [3, 4, 5], "closed": [2, 3, 4]}
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["02 Nov", "09 Nov", "16 Nov", "23 Nov"]


def test_alt_text_says_title_kind_axes_and_series():
    weekly = pd.DataFrame({"week": pd.date_range("2026-11-02", periods=4, freq="W-MON"), "opened": [3, 4, 5, 1], "closed": [2, 3, 4, 0]})
    text = plots.describe_figure(plots.plot_bugs_weekly(weekly, "Bugs opened and closed per week", through=date(2026, 11, 27)))
    assert text.startswith("Bugs opened and closed per week. Line chart; horizontal axis Week starting, 02 Nov to 23 Nov;")
    assert "vertical axis Bugs (count)" in text and "showing opened, closed and partial week (data to 27 Nov)" in text
    inventory = pd.DataFrame({"tool": ["Slack", "Zoom", "Jira"], "utilisation": [0.5, 0.9, None]})
    text = plots.describe_figure(plots.plot_utilisation(inventory, 0.6, "Seat utilisation"))
    assert text.startswith("Seat utilisation. Horizontal bar chart; Tool: Slack and Zoom; value axis Engaged seats / provisioned seats (%), 0% to 100%")
    assert "Jira" in text  # the footnote naming the tool without seat data
    assert plots.describe_figure(plots._no_data("Demand", "No feature requests.")) == "Demand: No feature requests."


def test_alt_text_of_a_heatmap_names_its_rows_columns_and_range():
    matrix = pd.DataFrame({"audience": ["sales", "sales", "support", "support"], "feature": ["Embeds", "Templates"] * 2,
                           "completion": [0.5, 0.9, 0.7, 0.2], "mean_score": [50.0, 90.0, 70.0, 65.0]})
    text = plots.describe_figure(plots.plot_knowledge_gaps(matrix, 0.6, 60, "Training by group and feature"))
    assert text == (
        "Training by group and feature. Training completed (%). Heatmap, values from 20 to 90; rows Group: sales and support; "
        "columns Feature: Embeds and Templates. Mean quiz score (0-100). Heatmap, values from 50 to 90; rows Group: sales and "
        "support; columns Feature: Embeds and Templates."
    )


def _overlaps(texts):
    boxes = [t.get_window_extent() for t in texts if t.get_text()]
    return [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]


def test_knowledge_gap_labels_do_not_overlap_with_long_feature_names():
    features = ["Bulk endpoints", "Dark theme", "Embeds", "Offline drafts", "Redesigned report builder", "Templates",
                "Usage meter", "Zapier triggers", "Single sign-on for every workspace", "Audit log"]
    matrix = pd.DataFrame([{"audience": a, "feature": f, "completion": 0.8, "mean_score": 80.0}
                           for a in ("sales", "success", "support", "marketing") for f in features])
    fig = plots.plot_knowledge_gaps(matrix, 0.6, 60, "Training")
    fig.canvas.draw()
    for ax in fig.axes:
        assert _overlaps(ax.get_xticklabels()) == [] and _overlaps(ax.get_yticklabels()) == []
    bottom = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert "Redesigned\nreport\nbuilder" in bottom and len(bottom) == len(features)
