"""End to end: the rendered experiments reports state each planted finding for its team."""

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
