"""The experiments area on small hand-made frames, checked with statsmodels and by hand."""

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportions_ztest

from playbook import experiment_analysis as xa
from playbook import experiments as ex
from playbook import stats
from playbook.config import ExperimentsParams
from playbook.period import Period

PARAMS = ExperimentsParams()
PERIOD = Period(date(2026, 11, 1), date(2026, 11, 30))


def _exp(exp_id, status="concluded", kind="binary", split=None, mde=0.1, start="2026-10-01", end="2026-10-29", ice=(5, 5, 5)):
    return {
        "experiment_id": exp_id, "product": "p", "team": "t", "name": f"Exp {exp_id}", "hypothesis": None,
        "primary_metric": "conv" if kind == "binary" else "spend", "metric_type": kind, "status": status,
        "start_date": pd.Timestamp(start) if start else pd.NaT, "end_date": pd.Timestamp(end) if end else pd.NaT,
        "control_variant": "control", "split": split, "mde": mde, "impact": ice[0], "confidence": ice[1], "ease": ice[2],
    }


def _units(exp_id, variant, n, conversions=None, values=None, pre=None, day="2026-11-10"):
    converted = None if conversions is None else np.r_[np.ones(conversions, int), np.zeros(n - conversions, int)]
    return pd.DataFrame({
        "experiment_id": exp_id, "unit_id": [f"{exp_id}-{variant}-{i}" for i in range(n)], "variant": variant,
        "exposed_at": pd.Timestamp(day), "converted": converted, "value": values, "pre_value": pre,
    })


def test_parse_split():
    assert xa.parse_split(None, ["control", "b"]) == {"control": 1.0, "b": 1.0}
    assert xa.parse_split("control=0.6; treatment=0.4", []) == {"control": 0.6, "treatment": 0.4}
    with pytest.raises(ValueError, match=r"experiment X1: split 'control:0.5' is not of the form 'control=0.5;treatment=0.5' \(bad part 'control:0.5'\)"):
        xa.parse_split("control:0.5", [], "X1")


@pytest.fixture
def catalogue():
    return pd.DataFrame([
        _exp("WIN"), _exp("FLAT"), _exp("SRM", status="running", split="control=0.5;treatment=0.5", end="2026-11-20"),
        _exp("BAD"), _exp("MULTI"), _exp("CUP", kind="continuous"),
        _exp("NEW", status="proposed", start=None, end=None, mde=0.2, ice=(8, 5, 4)),
        _exp("HUGE", status="proposed", start=None, end=None, mde=0.01, ice=(9, 9, 9)),
    ])


@pytest.fixture
def units(rng):
    pre_c, pre_t = rng.normal(50, 10, 300), rng.normal(50, 10, 300)
    return pd.concat([
        _units("WIN", "control", 4000, 400), _units("WIN", "treatment", 4000, 500),
        _units("FLAT", "control", 30000, 3000), _units("FLAT", "treatment", 30000, 3010),
        _units("SRM", "control", 5000, 500), _units("SRM", "treatment", 4600, 460),
        _units("BAD", "control", 4000, 500), _units("BAD", "treatment", 4000, 380),
        _units("MULTI", "control", 2000, 200), _units("MULTI", "b", 2000, 215), _units("MULTI", "c", 2000, 260),
        _units("CUP", "control", 300, values=pre_c * 0.9 + rng.normal(0, 4, 300), pre=pre_c),
        _units("CUP", "treatment", 300, values=pre_t * 0.9 + 2 + rng.normal(0, 4, 300), pre=pre_t),
    ], ignore_index=True)


def test_decisions(catalogue, units):
    results, decisions = xa.analyse(catalogue, units, PARAMS)
    decided = decisions.set_index("experiment_id")["decision"].to_dict()
    assert decided == {"WIN": "ship", "FLAT": "no effect", "SRM": "invalid (SRM)", "BAD": "do not ship", "MULTI": "ship", "CUP": "ship"}
    # The running experiment is read with always-valid intervals, the concluded ones at a fixed horizon.
    analysis = decisions.set_index("experiment_id")["analysis"]
    assert analysis["SRM"] == xa.SEQUENTIAL and (analysis.drop("SRM") == xa.FIXED).all()
    assert decisions.set_index("experiment_id").loc["MULTI", "best_variant"] == "c"
    win = results[results["experiment_id"] == "WIN"].iloc[0]
    _, p = proportions_ztest([500, 400], [4000, 4000])
    assert win["p_value"] == pytest.approx(p) and win["p_holm"] == pytest.approx(p)
    assert win["rel_lift"] == pytest.approx(0.25)


def test_holm_and_bh_across_variants(catalogue, units):
    results, _ = xa.analyse(catalogue, units, PARAMS)
    multi = results[results["experiment_id"] == "MULTI"].set_index("variant")
    raw = [stats.compare_proportions(200, 2000, 215, 2000).p_value, stats.compare_proportions(200, 2000, 260, 2000).p_value]
    assert multi["p_value"].tolist() == pytest.approx(raw)
    assert multi["p_holm"].tolist() == pytest.approx(stats.adjust_pvalues(raw, "holm"))
    assert multi["p_bh"].tolist() == pytest.approx(stats.adjust_pvalues(raw, "bh"))


def test_continuous_with_pre_values_uses_cuped(catalogue, units):
    results, _ = xa.analyse(catalogue, units, PARAMS)
    row = results[results["experiment_id"] == "CUP"].iloc[0]
    arms = {v: units[(units["experiment_id"] == "CUP") & (units["variant"] == v)] for v in ("control", "treatment")}
    expected = stats.compare_means_cuped(arms["control"]["value"], arms["control"]["pre_value"], arms["treatment"]["value"], arms["treatment"]["pre_value"])
    assert bool(row["cuped"]) and row["rel_lift"] == pytest.approx(expected.rel_lift)
    assert row["variance_reduction"] == pytest.approx(expected.variance_reduction) and row["variance_reduction"] > 0.5


def test_missing_control_is_inconclusive_with_a_note(catalogue, units):
    only_treatment = units[~((units["experiment_id"] == "WIN") & (units["variant"] == "control"))]
    _, decisions = xa.analyse(catalogue, only_treatment, PARAMS)
    row = decisions.set_index("experiment_id").loc["WIN"]
    assert row["decision"] == "inconclusive" and row["note"] == "no exposures for the control 'control' and a treatment"


def test_backlog_sizes_and_flags(catalogue, units):
    results, _ = xa.analyse(catalogue, units, PARAMS)
    traffic_by_product = ex.traffic_per_day({}, catalogue, units, PERIOD)
    traffic, source = traffic_by_product["p"]
    assert source.startswith("units exposed to its experiments per day") and traffic == pytest.approx(len(units) / 30)
    table = ex.backlog(catalogue, results, traffic_by_product, PARAMS).set_index("experiment_id")
    baseline = results[results["metric_type"] == "binary"]["control"].mean()
    n = stats.sample_size_per_variant(baseline, 0.01)
    assert table.loc["HUGE", "ice"] == 729 and table.index.tolist() == ["HUGE", "NEW"]
    assert table.loc["HUGE", "units_per_variant"] == n
    assert table.loc["HUGE", "days_needed"] == math.ceil(2 * n / traffic)
    assert table.loc["HUGE", "fits"] == "no" and table.loc["NEW", "fits"] == "yes"


def test_traffic_prefers_events_per_product(catalogue):
    two = pd.concat([catalogue, pd.DataFrame([{**_exp("OTHER"), "product": "q"}])], ignore_index=True)
    traffic = ex.traffic_per_day({"p": 812.5}, two, pd.DataFrame(columns=["experiment_id", "exposed_at"]), PERIOD)
    assert traffic["p"] == (812.5, "average daily visitors of its product, from events")
    assert traffic["q"][1] == "no traffic data" and math.isnan(traffic["q"][0])


def test_backlog_uses_its_own_team_baseline_and_product_traffic(catalogue, units):
    """A team's backlog and the organisation's size an experiment the same way: the baseline of its
    own team's results and the traffic of its own product, whatever else is in the frame."""
    results, _ = xa.analyse(catalogue, units, PARAMS)
    other = pd.DataFrame([{**_exp("ELSE"), "team": "u", "product": "q"}])
    high = pd.concat([_units("ELSE", "control", 1000, 900), _units("ELSE", "treatment", 1000, 900)])
    both = pd.concat([catalogue, other], ignore_index=True)
    results_both, _ = xa.analyse(both, pd.concat([units, high]), PARAMS)
    traffic = {"p": (500.0, "x"), "q": (99_999.0, "y")}
    alone = ex.backlog(catalogue, results, traffic, PARAMS).set_index("experiment_id")
    together = ex.backlog(both, results_both, traffic, PARAMS).set_index("experiment_id")
    assert together.loc["HUGE", ["baseline", "days_needed"]].tolist() == alone.loc["HUGE", ["baseline", "days_needed"]].tolist()
    assert alone.loc["HUGE", "traffic"] == 500.0


def test_portfolio(catalogue, units):
    _, decisions = xa.analyse(catalogue, units, PARAMS)
    result = ex.portfolio(catalogue, decisions, date(2026, 11, 27))
    assert (result["concluded"], result["wins"]) == (5, 3) and result["win_rate"] == pytest.approx(3 / 5)
    assert result["median_days_to_decision"] == 28
    assert result["overdue"][["experiment_id", "days_over"]].values.tolist() == [["SRM", 7]]


def test_summary_sentences(catalogue, units):
    report = ex.build_report(catalogue, units, {}, PARAMS, PERIOD)
    text = "\\n".join(report.result.lines)
    assert "Exp SRM (SRM) is invalid: units per variant are off the planned split (a sample ratio mismatch, SRM p " in text
    assert "Ship Exp WIN (WIN): conv went from 10.0% to 12.5%, +25.0% relative (95% interval" in text
    assert "Exp FLAT (FLAT) made no difference: +0.3% relative" in text
    assert "Exp HUGE (HUGE) cannot reach significance in time" in text
    assert report.result.needs_action
    # The harmful result leads, then the invalid experiment (both high); the backlog's note (low) comes after the ships (medium).
    severities = [int(a.severity) for a in report.result.actions]
    assert [a.rule for a in report.result.actions[:2]] == ["experiments.harmful", "experiments.invalid"]
    assert severities == sorted(severities, reverse=True)


def test_a_harmful_result_reaches_the_summary(catalogue, units):
    # BAD: 500 of 4,000 (12.5%) against 380 of 4,000 (9.5%), relative -24.0%.
    report = ex.build_report(catalogue, units, {}, PARAMS, PERIOD)
    _, p = proportions_ztest([380, 500], [4000, 4000])
    assert p < 0.0001
    harmful = [a for a in report.result.actions if a.rule == "experiments.harmful"]
    # Concluded, it is still the most urgent kind: a harmful change must not be rolled out.
    assert [a.subject for a in harmful] == ["BAD"] and harmful[0].severity == ex.Severity.HIGH
    assert harmful[0].text.startswith(
        "Do not ship Exp BAD (BAD): it hurt conv, which went from 12.5% to 9.5%, -24.0% relative (95% interval -")
    assert harmful[0].text.endswith("p < 0.0001; make sure the change is not rolled out.")
    assert report.result.figures["harmful"].value == 1


def test_a_running_harmful_experiment_is_urgent(units):
    catalogue = pd.DataFrame([_exp("BAD", status="running", end="2026-12-20")])
    report = ex.build_report(catalogue, units[units["experiment_id"] == "BAD"], {}, PARAMS, PERIOD)
    (action,) = report.result.actions
    assert action.severity == ex.Severity.HIGH and action.text.endswith("; it is still running, so stop it now.")


def test_abbreviations_are_spelled_out_once(catalogue, units):
    text = "\n".join(ex.build_report(catalogue, units, {}, PARAMS, PERIOD).result.lines)
    assert text.count("MDE (the minimum detectable effect it was sized for)") == 1
    assert "within the 10% MDE (the minimum detectable effect" in text and "a 1% MDE on a" in text
    assert text.count("CUPED (which adjusts each unit's metric by its own pre-period value)") == 1


def test_metric_words():
    assert ex.metric_words("report_saved") == "Report saved"
    assert ex.metric_words("api_calls_per_week") == "API calls per week"
    assert ex.metric_words("api_calls_per_week", capital=False) == "API calls per week"
    assert ex.metric_words("task_done", capital=False) == "task done"
    assert ex.metric_words("upgrade") == "Upgrade"


@pytest.mark.parametrize(
    ("p", "low", "high", "expected"),
    [
        (0.01, 0.02, 0.30, xa.SHIP),             # both clear zero upwards
        (0.0457, -0.007, 0.284, xa.INCONCLUSIVE),  # p under alpha, interval through zero (the sample's Sandbox accounts)
        (0.01, -0.30, -0.02, xa.DO_NOT_SHIP),    # both clear zero downwards
        (0.04, -0.25, 0.01, xa.INCONCLUSIVE),    # harmful by p, not by the interval
    ],
)
def test_a_call_needs_the_p_value_and_the_interval_to_agree(p, low, high, expected):
    row = {"variant": "treatment", "p_holm": p, "rel_lift": (low + high) / 2, "rel_low": low, "rel_high": high}
    decision, best, note = xa._decide([row], srm_p=0.5, mde=0.1, unknown=[], params=ExperimentsParams())
    assert decision == expected
    assert (best == "treatment") == (expected == xa.SHIP)
    if expected == xa.INCONCLUSIVE:
        assert "interval includes no change" in note


def test_the_harmful_sentence_names_the_variant_that_hurt():
    # Control 900 of 3,000 (30%); variant a 720 of 3,000 (24%, -20%, p < 0.001); variant b, 1% of
    # the split, 14 of 60 (23.3%, -22%): a lower lift, but on too few units to be significant. The decision rests on a, so the sentence names a, not b's lower lift.
    catalogue = pd.DataFrame([_exp("TWO", split="control=0.495;a=0.495;b=0.01")])
    units = pd.concat([_units("TWO", "control", 3000, 900), _units("TWO", "a", 3000, 720), _units("TWO", "b", 60, 14)],
                      ignore_index=True)
    results, decisions = xa.analyse(catalogue, units, PARAMS)
    arms = results.set_index("variant")
    assert arms.loc["a", "p_holm"] < 0.001 and arms.loc["b", "p_holm"] > PARAMS.alpha
    assert decisions.loc[0, "decision"] == xa.DO_NOT_SHIP
    # No relative interval reaches below -100% (a rate cannot fall by more than all of it).
    assert (results["rel_low"] >= -1).all()
    (action,) = [a for a in ex.build_report(catalogue, units, {}, PARAMS, PERIOD).result.actions if a.rule == "experiments.harmful"]
    assert action.text.startswith("Do not ship Exp TWO (TWO) (variant a): it hurt conv, which went from 30.0% to 24.0%, -20.0% relative")


def test_no_start_dates_give_no_time_to_decision(units):
    catalogue = pd.DataFrame([_exp("WIN", start=None)])
    report = ex.build_report(catalogue, units[units["experiment_id"] == "WIN"], {}, PARAMS, PERIOD)
    assert "1 of 1 concluded experiment shipped a winner (100%); no start dates to time the decisions." in report.result.lines
    assert not any("nan" in line for line in report.result.lines)


def test_status_as_of_a_past_day_is_what_that_day_knew():
    """A report for a past week (a backfill) judges what that week knew: an experiment concluded
    after it was still running, one that had not started was a proposal; today's run is as it is."""
    from playbook.experiments import status_as_of

    catalogue = pd.DataFrame({
        "experiment_id": ["done", "later", "running", "idea", "undated"],
        "status": ["concluded", "concluded", "running", "proposed", "concluded"],
        "start_date": pd.to_datetime(["2026-10-01", "2026-11-10", "2026-11-12", None, None]),
        "end_date": pd.to_datetime(["2026-10-30", "2026-11-20", "2026-12-10", None, None]),
    })
    then = status_as_of(catalogue, date(2026, 11, 5)).set_index("experiment_id")["status"].to_dict()
    assert then == {"done": "concluded", "later": "proposed", "running": "proposed", "idea": "proposed", "undated": "concluded"}
    mid = status_as_of(catalogue, date(2026, 11, 15)).set_index("experiment_id")["status"].to_dict()
    assert mid == {"done": "concluded", "later": "running", "running": "running", "idea": "proposed", "undated": "concluded"}
    # On its end date it has concluded; the input is not changed.
    assert status_as_of(catalogue, date(2026, 11, 20)).set_index("experiment_id").loc["later", "status"] == "concluded"
    assert catalogue["status"].tolist() == ["concluded", "concluded", "running", "proposed", "concluded"]
