"""The experiment statistics against statsmodels and scipy, textbook cases and every error message."""

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from playbook import stats

Z95 = sps.norm.ppf(0.975)


@pytest.mark.parametrize("cs, cn, ts, tn", [(200, 1000, 250, 1000), (500, 5000, 600, 5000), (31, 240, 29, 260), (3, 50, 9, 45)])
def test_compare_proportions_matches_statsmodels(cs, cn, ts, tn):
    result = stats.compare_proportions(cs, cn, ts, tn)
    _, p = proportions_ztest([ts, cs], [tn, cn])
    assert result.p_value == pytest.approx(p, rel=1e-9)
    low, high = confint_proportions_2indep(ts, tn, cs, cn, method="wald", compare="diff")
    assert result.abs_ci == pytest.approx((low, high), rel=1e-9)
    pc, pt = cs / cn, ts / tn
    var = pt * (1 - pt) / (tn * pc**2) + pc * (1 - pc) * pt**2 / (cn * pc**4)
    assert result.rel_lift == pytest.approx((pt - pc) / pc)
    assert result.rel_ci == pytest.approx(((pt - pc) / pc - Z95 * math.sqrt(var), (pt - pc) / pc + Z95 * math.sqrt(var)))
    assert result.chance_to_win == pytest.approx(sps.norm.cdf(result.rel_lift / math.sqrt(var)))
    assert (result.control, result.treatment) == (pc, pt)


def test_compare_proportions_confidence_level():
    wide, narrow = stats.compare_proportions(200, 1000, 250, 1000, 0.99), stats.compare_proportions(200, 1000, 250, 1000, 0.8)
    assert wide.abs_ci[1] - wide.abs_ci[0] > narrow.abs_ci[1] - narrow.abs_ci[0]


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 0, 1, 10), "control_n must be a whole number of at least 1, got 0"),
        ((-1, 10, 1, 10), "control_successes must be a whole number of at least 0, got -1"),
        ((11, 10, 1, 10), r"control_successes \(11\) cannot exceed control_n \(10\)"),
        ((1, 10, 12, 10), r"treatment_successes \(12\) cannot exceed treatment_n \(10\)"),
        ((0, 10, 1, 10), "the control rate is 0, so a relative lift does not exist"),
        ((1.5, 10, 1, 10), "control_successes must be a whole number"),
    ],
)
def test_compare_proportions_errors(args, message):
    with pytest.raises(ValueError, match=message):
        stats.compare_proportions(*args)


def test_compare_means_matches_scipy_and_statsmodels(rng):
    control, treatment = rng.normal(100, 20, 300), rng.normal(104, 26, 250)
    result = stats.compare_means(control.mean(), control.std(ddof=1), 300, treatment.mean(), treatment.std(ddof=1), 250)
    expected = sps.ttest_ind(treatment, control, equal_var=False)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    low, high = CompareMeans(DescrStatsW(treatment), DescrStatsW(control)).tconfint_diff(usevar="unequal")
    assert result.abs_ci == pytest.approx((low, high), rel=1e-9)
    mc, mt = control.mean(), treatment.mean()
    var = treatment.var(ddof=1) / (250 * mc**2) + control.var(ddof=1) * mt**2 / (300 * mc**4)
    df = expected.df
    q = sps.t.ppf(0.975, df)
    assert result.rel_ci == pytest.approx(((mt - mc) / mc - q * math.sqrt(var), (mt - mc) / mc + q * math.sqrt(var)))


@pytest.mark.parametrize(
    "args, message",
    [
        ((10, 1, 1, 11, 1, 5), "control_n must be a whole number of at least 2, got 1"),
        ((10, -1, 5, 11, 1, 5), "control_sd must be 0 or more, got -1"),
        ((0, 1, 5, 11, 1, 5), "control_mean is 0"),
    ],
)
def test_compare_means_errors(args, message):
    with pytest.raises(ValueError, match=message):
        stats.compare_means(*args)


def test_cuped_theta_is_the_pooled_regression_slope_and_shrinks_the_interval(rng):
    pre_c, pre_t = rng.normal(50, 10, 400), rng.normal(50, 10, 400)
    post_c = 10 + 0.9 * pre_c + rng.normal(0, 5, 400)
    post_t = 12 + 0.9 * pre_t + rng.normal(0, 5, 400)
    result = stats.compare_means_cuped(post_c, pre_c, post_t, pre_t)
    slope = np.polyfit(np.concatenate([pre_c, pre_t]), np.concatenate([post_c, post_t]), 1)[0]
    assert result.theta == pytest.approx(slope, rel=1e-9)
    plain = stats.compare_means(post_c.mean(), post_c.std(ddof=1), 400, post_t.mean(), post_t.std(ddof=1), 400)
    width = lambda r: r.abs_ci[1] - r.abs_ci[0]  # noqa: E731
    assert width(result) < 0.7 * width(plain)
    assert result.variance_reduction == pytest.approx(1 - (width(result) / width(plain)) ** 2, rel=0.01)
    # adjusted arms, computed independently
    mean_pre = np.concatenate([pre_c, pre_t]).mean()
    adj_c, adj_t = post_c - slope * (pre_c - mean_pre), post_t - slope * (pre_t - mean_pre)
    assert result.abs_lift == pytest.approx(adj_t.mean() - adj_c.mean())
    assert result.p_value == pytest.approx(sps.ttest_ind(adj_t, adj_c, equal_var=False).pvalue, rel=1e-9)
    assert result.rel_lift == pytest.approx((adj_t.mean() - adj_c.mean()) / post_c.mean())
    assert result.control == pytest.approx(post_c.mean())


def test_cuped_errors():
    with pytest.raises(ValueError, match=r"control_post and control_pre must have the same length \(3 != 2\)"):
        stats.compare_means_cuped([1, 2, 3], [1, 2], [1, 2], [1, 2])
    with pytest.raises(ValueError, match="the pre values are constant"):
        stats.compare_means_cuped([1, 2, 3], [1, 1, 1], [1, 2], [1, 1])
    with pytest.raises(ValueError, match="treatment_post needs at least 2 units, got 1"):
        stats.compare_means_cuped([1, 2, 3], [1, 2, 3], [1], [1])


def test_srm_matches_scipy():
    assert stats.srm_pvalue([5000, 4600], [0.5, 0.5]) == pytest.approx(sps.chisquare([5000, 4600]).pvalue)
    assert stats.srm_pvalue([2000, 1000, 1000], [2, 1, 1]) == pytest.approx(1.0)
    assert stats.srm_pvalue([5000, 4600], [0.5, 0.5]) < 0.001


@pytest.mark.parametrize(
    "counts, weights, message",
    [
        ([10, 10], [0.5], "same length"),
        ([10, -1], [1, 1], r"counts\[1\] must be a whole number of at least 0, got -1"),
        ([10, 10], [0, 0], "sum to a positive number"),
        ([0, 0], [1, 1], "counts are all 0"),
    ],
)
def test_srm_errors(counts, weights, message):
    with pytest.raises(ValueError, match=message):
        stats.srm_pvalue(counts, weights)


def test_adjust_pvalues_textbook_and_order():
    # Holm: sorted 0.01, 0.03, 0.04 -> 0.03, 0.06, 0.06 (monotone); BH: 0.03, 0.04, 0.04.
    assert stats.adjust_pvalues([0.01, 0.04, 0.03], "holm") == pytest.approx([0.03, 0.06, 0.06])
    assert stats.adjust_pvalues([0.01, 0.04, 0.03], "bh") == pytest.approx([0.03, 0.04, 0.04])
    assert stats.adjust_pvalues([0.5], "holm") == [0.5]
    with pytest.raises(ValueError, match="method must be 'holm' or 'bh', got 'bonf'"):
        stats.adjust_pvalues([0.1], "bonf")
    with pytest.raises(ValueError, match="p-values must lie in 0..1"):
        stats.adjust_pvalues([1.2], "bh")


def test_sample_size_textbook():
    # 10% baseline, +20% relative (to 12%): (1.95996 + 0.84162)^2 * (0.09 + 0.1056) / 0.02^2 = 3838.1 -> 3839
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    expected = math.ceil(z**2 * (0.1 * 0.9 + 0.12 * 0.88) / 0.02**2)
    assert stats.sample_size_per_variant(0.10, 0.20) == expected == 3839
    assert stats.sample_size_per_variant(0.10, 0.02, relative=False) == expected
    assert stats.sample_size_per_variant(0.10, 0.20, power=0.9) > expected


@pytest.mark.parametrize(
    "args, message",
    [((0, 0.1), "baseline_rate must be between 0 and 1, got 0"), ((0.1, 0), "mde must not be 0"), ((0.9, 0.5), "outside 0..1"),
     ((0.1, 0.1, True, 1.5), "alpha must be between 0 and 1")],
)
def test_sample_size_errors(args, message):
    with pytest.raises(ValueError, match=message):
        stats.sample_size_per_variant(*args)
