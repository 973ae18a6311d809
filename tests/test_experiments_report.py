"""End to end: the rendered experiments reports state each planted finding for its team."""

from pathlib import Path
import re

import pandas as pd
import pytest
from scipy.stats import chisquare

from conftest import visible_text
from playbook.sample import PLANTED

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def exposures(sample_workspace):
    return pd.read_csv(sample_workspace / "exposures.csv")


def _text(out, team):
    return visible_text((out / team / "experiments.html").read_text())


def _table(html: str, header: str) -> pd.DataFrame:
    """The first table of the report with a column named ``header``, as text cells (what a reader sees)."""
    from bs4 import BeautifulSoup

    for table in BeautifulSoup(html, "html.parser").find_all("table"):
        heads = [" ".join(th.get_text(" ").split()) for th in table.find("tr").find_all(["th", "td"])]
        if header in heads:
            rows = [[" ".join(td.get_text(" ").split()) for td in tr.find_all(["th", "td"])] for tr in table.find_all("tr")[1:]]
            return pd.DataFrame([r for r in rows if len(r) == len(heads)], columns=heads)
    raise AssertionError(f"no table with a column {header!r}")


def test_clear_winner(sample_run, exposures):
    _, out = sample_run
    arms = exposures[exposures["experiment_id"] == PLANTED.winner].groupby("variant")["converted"].agg(["mean", "size"])
    assert arms["size"].min() >= 2000 and arms.loc["treatment", "mean"] - arms.loc["control", "mean"] == pytest.approx(0.02)
    assert (
        f"Ship Onboarding checklist v2 ({PLANTED.winner}): activation went from {arms.loc['control', 'mean']:.1%} "
        f"to {arms.loc['treatment', 'mean']:.1%}"
    ) in _text(out, PLANTED.winner_team)


def test_flat_result(sample_run):
    _, out = sample_run
    assert f"Report templates gallery ({PLANTED.flat}) made no difference" in _text(out, PLANTED.flat_team)


def test_sample_ratio_mismatch(sample_run, exposures):
    _, out = sample_run
    counts = exposures[exposures["experiment_id"] == PLANTED.srm].groupby("variant").size()
    p = chisquare(counts.to_numpy()).pvalue
    assert p < 0.001
    shown = "< 0.0001" if p < 0.0001 else f"= {p:.4f}"
    assert f"Dark theme by default ({PLANTED.srm}) is invalid: units per variant are off the planned split (a sample ratio mismatch, SRM p {shown})" in _text(
        out, PLANTED.srm_team
    )


def test_cuped_narrows_the_interval(sample_run):
    _, out = sample_run
    found = re.search(rf"CUPED (?:\([^)]*\) )?on API docs redesign \({PLANTED.cuped}\) used the pre-period [\w ]+ to cut the variance by (\d+)%, "
                      rf"narrowing the interval by (\d+)%", _text(out, PLANTED.cuped_team))
    assert found and int(found.group(2)) >= 30


def test_infeasible_proposal(sample_run):
    _, out = sample_run
    text = _text(out, PLANTED.infeasible_team)
    found = re.search(rf"Onboarding tooltip copy \({PLANTED.infeasible}\) cannot reach significance in time: a 1% MDE (?:\([^)]*\) )?on a [\d.]+% "
                      rf"baseline needs ([\d,]+) units per variant, ([\d,]+) days at [\d,]+ a day, against 42 allowed", text)
    assert found and int(found.group(2).replace(",", "")) > 42


def test_harmful_result_in_the_team_and_organisation_summaries(sample_run, exposures):
    _, out = sample_run
    arms = exposures[exposures["experiment_id"] == PLANTED.harmful].groupby("variant")["converted"].agg(["sum", "size"])
    control, treatment = arms.loc["control", "sum"] / arms.loc["control", "size"], arms.loc["treatment", "sum"] / arms.loc["treatment", "size"]
    assert control == pytest.approx(PLANTED.harmful_control_rate, abs=0.001)
    assert treatment / control - 1 == pytest.approx(PLANTED.harmful_effect, abs=0.005)
    stated = (f"Do not ship {PLANTED.harmful_name} ({PLANTED.harmful}): it hurt upgrade, which went from {control:.1%} to "
              f"{treatment:.1%}, {100 * (treatment / control - 1):+.1f}% relative (95% interval")
    for team in (PLANTED.harmful_team, "all"):
        assert stated in _text(out, team), team


# --- Issue 19: peek-safe calls, guardrails, ratio and lower-is-better metrics, clean exposures, segments.


def test_a_running_experiment_a_peek_would_ship_is_kept_running(sample_run, exposures):
    """The planted peek: a fixed-horizon test says p < 0.05, the always-valid interval includes zero."""
    from statsmodels.stats.proportion import proportions_ztest

    _, out = sample_run
    arms = exposures[exposures["experiment_id"] == PLANTED.peeking].groupby("variant")["converted"].agg(["sum", "size"])
    _, p = proportions_ztest([arms.loc["treatment", "sum"], arms.loc["control", "sum"]], [arms.loc["treatment", "size"], arms.loc["control", "size"]])
    assert p < 0.05
    lift = (arms.loc["treatment", "sum"] / arms.loc["treatment", "size"]) / (arms.loc["control", "sum"] / arms.loc["control", "size"]) - 1
    for team in (PLANTED.peeking_team, "all"):
        text = _text(out, team)
        found = re.search(
            rf"Keep running {PLANTED.peeking_name} \({PLANTED.peeking}\), do not ship yet: report saved is {re.escape(f'{100 * lift:+.1f}')}% relative so far, "
            rf"but its 95% always-valid interval \(([-+][\d.]+)% to ([-+][\d.]+)%\) still includes no change\. "
            rf"A fixed-horizon test would give p = {p:.4f}", text)
        assert found and float(found.group(1)) < 0 < float(found.group(2)), team
        assert f"Ship {PLANTED.peeking_name}" not in text


def _guarded_units(sample_workspace):
    """The guarded experiment's units with, per metric, the rows of its event in the metric's window,
    counted with pandas from the written files (not the report's SQL)."""
    import duckdb

    # DuckDB only reads the file (the project has no other Parquet reader); pandas does the counting.
    events = duckdb.connect().execute("SELECT ts, visitor_id, product, event, feature_id FROM read_parquet($path)",
                                      {"path": str(sample_workspace / "events.parquet")}).df()
    metrics = pd.read_csv(sample_workspace / "experiment_metrics.csv")
    metrics = metrics[metrics["experiment_id"] == PLANTED.guarded].set_index("metric")
    catalogue = pd.read_csv(sample_workspace / "experiments.csv").set_index("experiment_id")
    units = pd.read_csv(sample_workspace / "exposures.csv")
    units = units[units["experiment_id"] == PLANTED.guarded]
    units = units[units.groupby("unit_id")["variant"].transform("nunique") == 1].groupby(["unit_id", "variant"], as_index=False)["exposed_at"].min()
    units["t0"] = pd.to_datetime(units["exposed_at"], utc=True).dt.tz_localize(None)
    events["ts"] = pd.to_datetime(events["ts"], utc=True).dt.tz_localize(None)
    mine = events[events["product"] == catalogue.loc[PLANTED.guarded, "product"]].merge(units, left_on="visitor_id", right_on="unit_id")
    end = pd.Timestamp(catalogue.loc[PLANTED.guarded, "end_date"]) + pd.Timedelta(days=1)

    def count(event, window):
        stop = mine["t0"] + pd.Timedelta(days=window) if not pd.isna(window) else end
        inside = mine[((mine["event"] == event) | (mine["feature_id"] == event)) & (mine["ts"] >= mine["t0"]) & (mine["ts"] < stop)]
        return units.set_index("unit_id")["variant"].to_frame().join(inside.groupby("unit_id").size().rename("n")).fillna({"n": 0})

    return metrics, count


def test_a_win_blocked_by_a_guardrail(sample_run, sample_workspace):
    _, out = sample_run
    metrics, count = _guarded_units(sample_workspace)
    goal = count(metrics.loc[PLANTED.goal_metric, "event"], metrics.loc[PLANTED.goal_metric, "window_days"])
    rates = (goal["n"] > 0).groupby(goal["variant"]).mean()
    crash = count(metrics.loc[PLANTED.guardrail_metric, "event"], metrics.loc[PLANTED.guardrail_metric, "window_days"])
    means = crash.groupby("variant")["n"].mean()
    assert rates["treatment"] > rates["control"] and means["treatment"] > means["control"]
    blocked = (f"Do not ship {PLANTED.guarded_name} ({PLANTED.guarded}): its guardrail app crash (lower is better) got worse, from "
               f"{means['control']:.2f} to {means['treatment']:.2f} per unit, {100 * (means['treatment'] / means['control'] - 1):+.1f}% relative (95% interval +")
    won = (f"That blocks its win on task completed, from {rates['control']:.1%} to {rates['treatment']:.1%}, "
           f"{100 * (rates['treatment'] / rates['control'] - 1):+.1f}% relative")
    for team in (PLANTED.guarded_team, "all"):
        text = _text(out, team)
        assert blocked in text and won in text, team
        # Harmful results lead: before the invalid experiment's sentence, also high severity.
        assert text.index(blocked) < text.index(f"({PLANTED.srm}) is invalid"), team
    assert f"Ship {PLANTED.guarded_name}" not in _text(out, PLANTED.guarded_team)


def test_the_ratio_and_lower_is_better_metrics_in_the_results(sample_run, sample_workspace):
    _, out = sample_run
    metrics, count = _guarded_units(sample_workspace)
    ratio = metrics.loc[PLANTED.ratio_metric]
    num, den = count(ratio["event"], ratio["window_days"]), count(ratio["denominator_event"], ratio["window_days"])
    sums = num.groupby("variant")["n"].sum() / den.groupby("variant")["n"].sum()
    lower = count(metrics.loc[PLANTED.lower_metric, "event"], metrics.loc[PLANTED.lower_metric, "window_days"])
    shares = (lower["n"] > 0).groupby(lower["variant"]).mean()
    assert shares["treatment"] < shares["control"]
    results = _table((out / PLANTED.guarded_team / "experiments.html").read_text(), "Expected loss if shipped")
    rows = results[results["Experiment"] == PLANTED.guarded_name].set_index("Metric")
    assert rows.loc["Search success (secondary)", "Control"] == f"{sums['control']:,.2f}"
    assert rows.loc["Search success (secondary)", "Variant's"] == f"{sums['treatment']:,.2f}"
    help_row = rows.loc["Help opened (secondary), lower is better"]
    assert (help_row["Control"], help_row["Variant's"]) == (f"{shares['control']:.2%}", f"{shares['treatment']:.2%}")
    # Lower is better: a fall is a win, so its chance to win is high.
    assert help_row["Chance to win"] == "> 99.9%" or float(help_row["Chance to win"].rstrip("%")) > 95
    assert "App crash (guardrail), lower is better" in rows.index


def test_units_in_both_arms_are_left_out_and_counted(sample_run, exposures):
    _, out = sample_run
    mine = exposures[exposures["experiment_id"] == PLANTED.both_arms]
    per_unit = mine.groupby("unit_id")["variant"].nunique()
    both = int((per_unit > 1).sum())
    assert both / len(per_unit) == pytest.approx(PLANTED.both_arms_share, abs=0.002)
    stated = (f"{both} units of {PLANTED.both_arms_name} ({PLANTED.both_arms}), {both / len(per_unit):.1%} of its {len(per_unit):,}, "
              "were exposed to more than one variant; they are left out of every metric.")
    for team in (PLANTED.both_arms_team, "all"):
        assert stated in _text(out, team), team
    row = _table((out / PLANTED.both_arms_team / "experiments.html").read_text(), "Expected loss if shipped").set_index("Experiment").loc[PLANTED.both_arms_name]
    kept = mine[mine["unit_id"].isin(per_unit[per_unit == 1].index)].groupby("variant").size()
    assert row["Units (control / variant)"] == f"{kept['control']:,} / {kept['treatment']:,}"


def test_a_segment_with_the_opposite_effect(sample_run):
    _, out = sample_run
    for team in (PLANTED.guarded_team, "all"):
        text = _text(out, team)
        found = re.search(rf"{PLANTED.guarded_name} \({PLANTED.guarded}\) hurts segment {PLANTED.opposite_segment}: "
                          rf"task completed (-[\d.]+)% relative there .*? while it rose by ([\d.]+)% in the rest; the difference has p ([<=] [\d.]+) "
                          rf"after a Bonferroni correction over (\d+) segments", text)
        assert found, team
        # The segment and its plan holding the same accounts are one test, not two.
        assert "hurts plan " not in text and "for plan enterprise" not in text


def test_a_public_style_assignment_export_with_users_in_both_arms(tmp_path):
    """GrowthBook's assignment-query shape, imported with the `assignments` preset: the users seen
    in both variations are kept by the import, then counted, left out and named by the report."""
    from conftest import make_params, playbook_cli

    export = Path(__file__).parent / "fixtures" / "assignments_both_arms.csv"
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "experiments.csv").write_text(
        "experiment_id,product,team,name,hypothesis,primary_metric,metric_type,status,start_date,end_date,control_variant,split,mde,impact,confidence,ease\n"
        "checkout-redesign,checkout,shop,Checkout redesign,,purchase,binary,concluded,2026-09-01,2026-09-28,0,0=0.5;1=0.5,0.1,5,5,5\n"
        "search-ranking-v2,checkout,shop,Search ranking v2,,purchase,binary,concluded,2026-09-01,2026-09-28,0,0=0.5;1=0.5,0.1,5,5,5\n")
    imported = playbook_cli("import", "assignments", str(export), "--workspace", str(ws))
    assert imported.returncode == 0, imported.stderr
    params = make_params(tmp_path, ws, teams={"shop": {"name": "Shop", "products": ["checkout"]}})
    out = tmp_path / "reports"
    run = playbook_cli("run", "--params", str(params), "--team", "shop", "--area", "experiments", "--out", str(out), "--as-of", "2026-10-05")
    assert run.returncode == 0, run.stdout + run.stderr

    raw = pd.read_csv(export, dtype=str).drop_duplicates()
    mine = raw[raw["experiment_id"] == "checkout-redesign"]
    arms = mine.groupby("user_id")["variation_id"].nunique()
    both, users = int((arms > 1).sum()), len(arms)
    assert both > 0
    html = (out / "shop" / "experiments.html").read_text()
    text = visible_text(html)
    assert (f"{both} units of Checkout redesign (checkout-redesign), {both / users:.1%} of its {users:,}, were exposed to more than one "
            "variant; they are left out of every metric.") in text
    assert "search-ranking-v2), " not in text.split("were exposed to more than one variant")[0][-80:]
    clean = mine[mine["user_id"].isin(arms[arms == 1].index)]
    kept = clean.groupby("variation_id").agg(units=("user_id", "size"), conversions=("converted", lambda c: (c == "1").sum()))
    results = _table(html, "Expected loss if shipped").set_index("Experiment")
    row = results.loc["Checkout redesign"]
    assert row["Units (control / variant)"] == f"{kept.loc['0', 'units']:,} / {kept.loc['1', 'units']:,}"
    assert row["Control"] == f"{kept.loc['0', 'conversions'] / kept.loc['0', 'units']:.2%}"
    decisions = _table(html, "Units in two variants (left out)").set_index("Id")
    assert decisions.loc["checkout-redesign", "Units in two variants (left out)"] == f"{both:,} ({both / users:.1%})"
    assert decisions.loc["search-ranking-v2", "Units in two variants (left out)"] == "–"
