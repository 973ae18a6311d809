import math

import pandas as pd
import pytest

from conftest import SHARED_REAL
from playbook import stats


def _hand_nps(scores, z=1.959963984540054):
    n = len(scores)
    p = sum(1 for s in scores if s >= 9) / n
    d = sum(1 for s in scores if s <= 6) / n
    se = math.sqrt((p + d - (p - d) ** 2) / n)
    return 100 * (p - d), 100 * (p - d - z * se), 100 * (p - d + z * se), se


def test_nps_matches_hand_computation(rng):
    scores = rng.integers(0, 11, size=537).tolist()
    result = stats.nps(scores)
    score, low, high, se = _hand_nps(scores)
    assert result.n == 537
    assert result.promoters + result.passives + result.detractors == 537
    assert result.promoters == sum(s >= 9 for s in scores)
    assert result.detractors == sum(s <= 6 for s in scores)
    assert result.score == pytest.approx(score)
    assert result.low == pytest.approx(low)
    assert result.high == pytest.approx(high)
    assert result.se == pytest.approx(se)
    assert result.promoter_share == pytest.approx(result.promoters / 537)


def test_nps_small_example_by_hand():
    # 3 promoters, 1 passive, 2 detractors: NPS = (3 - 2) / 6 = 16.67
    result = stats.nps([10, 9, 9, 7, 6, 0])
    assert result.score == pytest.approx(100 / 6)
    p, d = 0.5, 1 / 3
    se = math.sqrt((p + d - (p - d) ** 2) / 6)
    assert result.high - result.score == pytest.approx(1.959963984540054 * 100 * se)


def test_nps_confidence_widens_interval():
    scores = [10, 9, 8, 6, 3, 10, 9, 9, 2, 7] * 5
    narrow, wide = stats.nps(scores, 0.8), stats.nps(scores, 0.99)
    assert wide.high - wide.low > narrow.high - narrow.low
    assert wide.score == narrow.score


def test_nps_all_promoters_has_zero_width():
    result = stats.nps([9, 10, 10])
    assert (result.score, result.low, result.high) == (100, 100, 100)


def test_nps_empty_is_a_note_not_a_crash():
    result = stats.nps([])
    assert result.n == 0 and math.isnan(result.score) and math.isnan(result.promoter_share)


@pytest.mark.parametrize("bad", [11, -1, 7.5, "x"])
def test_nps_rejects_values_outside_scale(bad):
    with pytest.raises(ValueError):
        stats.nps([9, bad])


def test_nps_change_interval_by_hand():
    before = stats.nps([10] * 60 + [8] * 20 + [3] * 20)
    after = stats.nps([10] * 30 + [8] * 20 + [3] * 50)
    change = stats.nps_change(before, after)
    se = 100 * math.sqrt(before.se**2 + after.se**2)
    assert change.change == pytest.approx(after.score - before.score) == pytest.approx(-60)
    assert change.low == pytest.approx(-60 - 1.959963984540054 * se)
    assert change.significant and not change.intervals_overlap


def test_nps_change_with_empty_side_is_nan():
    change = stats.nps_change(stats.nps([]), stats.nps([10, 9]))
    assert math.isnan(change.change) and not change.significant


@pytest.mark.skipif(not (SHARED_REAL / "nps_stat5000.csv").exists(), reason="../shared/data/real is not present")
def test_nps_on_real_export():
    """1,659 real answers: NPS +8.32, 95% interval [4.24, 12.40] (published with the file)."""
    scores = pd.read_csv(SHARED_REAL / "nps_stat5000.csv")["response"]
    result = stats.nps(scores)
    assert result.n == 1659
    assert round(result.score, 2) == 8.32
    assert (round(result.low, 2), round(result.high, 2)) == (4.24, 12.40)
