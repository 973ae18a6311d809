"""End to end: the communication and enablement reports state each planted finding for its team."""

import re
from datetime import timedelta

import pandas as pd
import pytest

from conftest import AS_OF, visible_text
from playbook.sample import PLANTED

pytestmark = pytest.mark.e2e


def _text(out, team, area):
    return visible_text((out / team / f"{area}.html").read_text())


def test_slow_answers_to_sales(sample_run, sample_workspace):
    _, out = sample_run
    requests = pd.read_csv(sample_workspace / "stakeholder_requests.csv", parse_dates=["opened_at", "first_response_at"])
    start = pd.Timestamp(AS_OF - timedelta(days=29), tz="UTC")
    mine = requests[(requests["team"] == PLANTED.slow_intake_team) & (requests["from_group"] == PLANTED.slow_intake_group)
                    & (requests["opened_at"] >= start)]
    hours = ((mine["first_response_at"] - mine["opened_at"]).dt.total_seconds() / 3600).median()
    assert hours > 2 * 24
    assert f"Requests from {PLANTED.slow_intake_group} wait {hours:.0f} hours for a first response (median of {len(mine)} requests;" in _text(
        out, PLANTED.slow_intake_team, "communication"
    )


def test_major_release_that_never_reached_support(sample_run, sample_workspace):
    _, out = sample_run
    comms = pd.read_csv(sample_workspace / "release_comms.csv")
    assert PLANTED.unreached_audience not in set(comms.loc[comms["release_id"] == PLANTED.unreached_release, "audience"])
    text = _text(out, PLANTED.unreached_team, "communication")
    assert re.search(rf"The major release .+ \({PLANTED.unreached_release}, .+\) never reached {PLANTED.unreached_audience}", text)


def test_knowledge_gap(sample_run, sample_workspace):
    _, out = sample_run
    trainings = pd.read_csv(sample_workspace / "trainings.csv")
    cell = trainings[(trainings["audience"] == PLANTED.gap_group) & (trainings["feature_id"] == PLANTED.gap_feature)]
    completion = cell["completed_at"].notna().mean()
    score = cell["quiz_score"].mean()
    assert completion < 0.5 and score < 60
    features = pd.read_csv(sample_workspace / "features.csv").set_index("feature_id")
    assert (
        f"Knowledge gap, {PLANTED.gap_group} on {features.loc[PLANTED.gap_feature, 'name']}: {completion:.0%} completed the training "
        f"({cell['completed_at'].notna().sum()} of {len(cell)}), mean quiz score {score:.0f}"
    ) in _text(out, PLANTED.gap_team, "enablement")


def test_release_shipped_before_its_docs(sample_run, sample_workspace):
    _, out = sample_run
    releases = pd.read_csv(sample_workspace / "releases.csv", parse_dates=["release_date", "docs_ready_at"]).set_index("release_id")
    release = releases.loc[PLANTED.early_release]
    late = (release["docs_ready_at"] - release["release_date"]).days
    assert late > 0
    assert (
        f"The major release {release['title']} ({PLANTED.early_release}) shipped on {release['release_date']:%d %b %Y} before it was "
        f"ready: docs came {late} days after the release."
    ) in _text(out, PLANTED.early_team, "enablement")


def test_slow_launch_adoption(sample_run, sample_workspace):
    _, out = sample_run
    features = pd.read_csv(sample_workspace / "features.csv").set_index("feature_id")
    name = features.loc[PLANTED.slow_adoption_feature, "name"]
    found = re.search(rf"{name} was adopted by only (\d+)% of the accounts active in its product in the 30 days after its launch .+ against a median of (\d+)%",
                      _text(out, PLANTED.slow_adoption_team, "enablement"))
    assert found and int(found.group(1)) * 2 < int(found.group(2))
