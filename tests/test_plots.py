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
