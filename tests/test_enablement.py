"""Enablement read as of a day: only what that day knew counts (a backfilled week reads as it did)."""

from __future__ import annotations

import pandas as pd

from playbook.context import build, open_report
from playbook.sample import PLANTED


def test_a_past_day_knows_no_later_docs_completions_or_escalations(params_dir, sample_workspace):
    releases = pd.read_csv(sample_workspace / "releases.csv", parse_dates=["release_date", "docs_ready_at"])
    early = releases.set_index("release_id").loc[PLANTED.early_release]
    day = early["release_date"].date()
    assert early["docs_ready_at"].date() > day  # the planted launch's docs came after it shipped

    report = build(open_report("enablement", PLANTED.early_team, params_dir=params_dir, as_of=day.isoformat(), history="-"))
    row = report.readiness.set_index("release_id").loc[PLANTED.early_release]
    # On launch day its docs were not there yet; today they are late, but that day knew neither.
    assert row["docs"] == "missing" and not row["ready"]

    # No course completed after the day counts, however many were completed since.
    trainings = pd.read_csv(sample_workspace / "trainings.csv", parse_dates=["assigned_at", "completed_at"])
    stop = pd.Timestamp(day) + pd.Timedelta(days=1)
    later = trainings[(trainings["team"] == PLANTED.early_team) & (trainings["completed_at"].dt.tz_localize(None) >= stop)]
    assert len(later) > 0
    known = trainings[(trainings["team"] == PLANTED.early_team) & (trainings["completed_at"].dt.tz_localize(None) < stop)
                      & (trainings["assigned_at"].dt.tz_localize(None) < stop)]
    assert report.matrix["completed"].sum() <= len(known)
    # And no escalation opened after the day is counted against the launch.
    assert report.adoption["escalations_30d"].fillna(0).sum() == 0
    assert not any(a.rule == "enablement.launch_escalations" for a in report.result.actions)

    today = build(open_report("enablement", PLANTED.early_team, params_dir=params_dir, history="-",
                              as_of=(pd.Timestamp(day) + pd.Timedelta(days=40)).date().isoformat()))
    assert today.matrix["completed"].sum() > report.matrix["completed"].sum()
