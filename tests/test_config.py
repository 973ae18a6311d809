from datetime import date
from pathlib import Path

import pytest

from conftest import PARAMS
from playbook.config import FixedPeriod, list_teams, load_params
from playbook.period import Period, resolve_period
from playbook.errors import ParamsError, UsageError


def _params(tmp_path: Path, team_yaml: str, defaults: str | None = None) -> Path:
    folder = tmp_path / "params"
    (folder / "teams").mkdir(parents=True)
    (folder / "defaults.yaml").write_text(defaults if defaults is not None else (PARAMS / "defaults.yaml").read_text())
    (folder / "teams" / "alpha.yaml").write_text(team_yaml)
    return folder


def test_project_params_load_for_every_team():
    assert list_teams(PARAMS) == ["all", "analytics", "growth", "mobile", "platform"]
    for team in list_teams(PARAMS):
        params = load_params(PARAMS, team)
        assert params.team == team and params.products


def test_team_overrides_merge_under_defaults(tmp_path):
    folder = _params(tmp_path, "name: Alpha\nproducts: [a]\nfeedback:\n  drop_alert: 5\n")
    params = load_params(folder, "alpha")
    assert params.feedback.drop_alert == 5
    # untouched keys in the same section keep their defaults
    assert params.feedback.confidence == 0.95
    assert "performance" in params.feedback.themes


def test_unknown_key_names_file_key_and_line(tmp_path):
    folder = _params(tmp_path, "name: Alpha\nproducts: [a]\nfeedback:\n  drop_alrt: 5\n")
    with pytest.raises(ParamsError, match=r"teams/alpha\.yaml, line 4: unknown key 'feedback\.drop_alrt'"):
        load_params(folder, "alpha")


def test_wrong_type_names_expected_and_found(tmp_path):
    folder = _params(tmp_path, "name: Alpha\nproducts: [a]\nfeedback:\n  confidence: high\n")
    with pytest.raises(ParamsError) as err:
        load_params(folder, "alpha")
    text = str(err.value)
    assert "alpha.yaml, line 4: feedback.confidence: expected a valid number" in text
    assert "found 'high'" in text


def test_out_of_range_value(tmp_path):
    folder = _params(tmp_path, "name: Alpha\nproducts: [a]\nfeedback:\n  confidence: 1.5\n")
    with pytest.raises(ParamsError, match=r"line 4: feedback\.confidence: expected less than 1; found 1\.5"):
        load_params(folder, "alpha")


def test_bad_date_in_period(tmp_path):
    folder = _params(tmp_path, "name: Alpha\nproducts: [a]\nperiod:\n  start: 2026-13-01\n  end: 2026-12-31\n")
    with pytest.raises(ParamsError) as err:
        load_params(folder, "alpha")
    assert "alpha.yaml, line 4: period.start: expected a valid date" in str(err.value)
    assert "found '2026-13-01'" in str(err.value)


def test_period_end_before_start(tmp_path):
    folder = _params(tmp_path, "name: Alpha\nproducts: [a]\nperiod: {start: 2026-03-01, end: 2026-01-01}\n")
    with pytest.raises(ParamsError, match=r"period end 2026-01-01 is before its start 2026-03-01"):
        load_params(folder, "alpha")


def test_malformed_yaml_gives_line(tmp_path):
    folder = _params(tmp_path, "name: Alpha\nproducts: [a\nfeedback: {}\n")
    with pytest.raises(ParamsError, match=r"teams/alpha\.yaml, line 3, column \d+: malformed YAML"):
        load_params(folder, "alpha")


def test_malformed_defaults_is_named(tmp_path):
    folder = _params(tmp_path, "name: Alpha\nproducts: [a]\n", defaults="feedback:\n  confidence: 0.9\n   trend: week\n")
    with pytest.raises(ParamsError, match=r"defaults\.yaml, line 3"):
        load_params(folder, "alpha")


def test_missing_required_key(tmp_path):
    folder = _params(tmp_path, "name: Alpha\n")
    with pytest.raises(ParamsError, match=r"missing required key 'products'"):
        load_params(folder, "alpha")


def test_error_in_defaults_points_at_defaults(tmp_path):
    defaults = (PARAMS / "defaults.yaml").read_text().replace("trend: week", "trend: fortnight")
    folder = _params(tmp_path, "name: Alpha\nproducts: [a]\n", defaults=defaults)
    with pytest.raises(ParamsError) as err:
        load_params(folder, "alpha")
    assert "defaults.yaml, line" in str(err.value) and "feedback.trend: expected 'week' or 'month'" in str(err.value)


@pytest.mark.parametrize("team", ["../etc", "a/b", "..", "Alpha", "a b", ""])
def test_unsafe_team_names_are_refused_before_any_path(team, tmp_path):
    with pytest.raises(UsageError, match="invalid team name"):
        load_params(tmp_path, team)


def test_unknown_team_lists_known_ones(tmp_path):
    folder = _params(tmp_path, "name: Alpha\nproducts: [a]\n")
    with pytest.raises(UsageError, match=r"unknown team 'beta'.*known teams: alpha"):
        load_params(folder, "beta")


@pytest.mark.parametrize(
    "period, start, end",
    [
        ("last_30_days", date(2026, 10, 29), date(2026, 11, 27)),
        ("last_90_days", date(2026, 8, 30), date(2026, 11, 27)),
        ("previous_month", date(2026, 10, 1), date(2026, 10, 31)),
        ("quarter_to_date", date(2026, 10, 1), date(2026, 11, 27)),
    ],
)
def test_relative_periods(period, start, end):
    assert resolve_period(period, date(2026, 11, 27)) == Period(start, end)


def test_fixed_period_and_previous():
    period = resolve_period(FixedPeriod(start=date(2026, 1, 1), end=date(2026, 1, 31)), date(2026, 11, 27))
    assert period.days == 31
    assert period.previous() == Period(date(2025, 12, 1), date(2025, 12, 31))


def test_unknown_relative_period_gets_one_clear_error(tmp_path):
    folder = _params(tmp_path, "name: Alpha\nproducts: [a]\nperiod: last_week\n")
    with pytest.raises(ParamsError) as err:
        load_params(folder, "alpha")
    text = str(err.value)
    assert "alpha.yaml, line 3: period: expected 'last_30_days', 'last_90_days', 'previous_month' or 'quarter_to_date'; found 'last_week'" in text
    assert "FixedPeriod" not in text and text.count("\n") == 1


def test_first_response_target_longer_than_resolution_is_refused(tmp_path):
    team = "name: Alpha\nproducts: [a]\nescalations:\n  sla:\n    P3: {first_response_hours: 800, resolution_hours: 168}\n"
    with pytest.raises(ParamsError) as err:
        load_params(_params(tmp_path, team), "alpha")
    # The priority and both values are named, at the line of the sla block.
    assert ("alpha.yaml, line 4: escalations.sla: P3 first_response_hours (800) is longer than its resolution_hours (168); "
            "a first response comes before resolution") in str(err.value)
    # Equal targets are allowed: both clocks run out at the same time.
    equal = "name: Alpha\nproducts: [a]\nescalations:\n  sla:\n    P3: {first_response_hours: 168, resolution_hours: 168}\n"
    assert load_params(_params(tmp_path / "equal", equal), "alpha").escalations.sla["P3"].first_response_hours == 168


@pytest.mark.parametrize("key, value, found", [
    ("breach_soon_hours", ".inf", "inf"),
    ("level_shift_min_daily", ".inf", "inf"),
    ("level_shift_min_daily", ".nan", "nan"),
    ("unhealthy_below", ".nan", "nan"),
])
def test_escalations_params_refuse_infinities_and_nan(tmp_path, key, value, found):
    folder = _params(tmp_path, f"name: Alpha\nproducts: [a]\nescalations:\n  {key}: {value}\n")
    with pytest.raises(ParamsError, match=rf"line 4: escalations\.{key}: expected a finite number; found {found}"):
        load_params(folder, "alpha")


def test_sla_hours_refuse_infinity(tmp_path):
    team = "name: Alpha\nproducts: [a]\nescalations:\n  sla:\n    P1: {first_response_hours: 1, resolution_hours: .inf}\n"
    with pytest.raises(ParamsError, match=r"resolution_hours: expected a finite number; found inf"):
        load_params(_params(tmp_path, team), "alpha")


def test_level_shift_change_is_a_fraction_under_one(tmp_path):
    # 30 meant as 30% would report no fall at all: refused, and the description says why.
    folder = _params(tmp_path, "name: Alpha\nproducts: [a]\nescalations:\n  level_shift_change: 30\n")
    with pytest.raises(ParamsError, match=r"line 4: escalations\.level_shift_change: expected less than 1; found 30"):
        load_params(folder, "alpha")
    with pytest.raises(ParamsError, match=r"escalations\.level_shift_change: expected less than 1; found 1"):
        load_params(_params(tmp_path / "one", "name: Alpha\nproducts: [a]\nescalations:\n  level_shift_change: 1\n"), "alpha")
    from playbook.config import EscalationsParams

    description = EscalationsParams.model_fields["level_shift_change"].description
    assert "0.3 = 30%" in description and "no fall would ever be reported" in description
    ok = _params(tmp_path / "ok", "name: Alpha\nproducts: [a]\nescalations:\n  level_shift_change: 0.95\n")
    assert load_params(ok, "alpha").escalations.level_shift_change == 0.95
