"""Statistics the areas share: NPS and its interval, and the change between two NPS figures.

Public: notebooks and users' own analyses call these. Each function says which convention it
follows, so that a number can be checked against the tool a reader already knows.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from statistics import NormalDist
from typing import Iterable

PROMOTER_MIN = 9
DETRACTOR_MAX = 6


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


@dataclass(frozen=True)
class NPSResult:
    """A Net Promoter Score on -100..100 with its counts, shares and interval.

    ``score``, ``low``, ``high`` and ``se`` are NaN when there are no responses (n = 0); the
    caller reports "no responses" rather than a number.
    """

    score: float
    low: float
    high: float
    se: float
    n: int
    promoters: int
    passives: int
    detractors: int
    confidence: float

    @property
    def promoter_share(self) -> float:
        return self.promoters / self.n if self.n else math.nan

    @property
    def passive_share(self) -> float:
        return self.passives / self.n if self.n else math.nan

    @property
    def detractor_share(self) -> float:
        return self.detractors / self.n if self.n else math.nan


def nps(scores: Iterable[int], confidence: float = 0.95) -> NPSResult:
    """Net Promoter Score of 0..10 answers, with a normal-approximation interval.

    NPS = 100 x (share of promoters, 9-10, minus share of detractors, 0-6). The standard error
    follows the multinomial variance of the difference of two shares,
    ``se = sqrt((pP + pD - (pP - pD)^2) / n)`` (DESIGN.md section 5, as in Pendo's NPS and the
    usual survey-statistics treatment), and the interval is ``NPS +/- z * 100 * se``; it is not
    clipped to -100..100.

    Args:
        scores: whole numbers 0..10; anything else raises ValueError.
        confidence: the interval's level.
    """
    z = _z(confidence)
    promoters = passives = detractors = 0
    for raw in scores:
        value = float(raw)
        if not value.is_integer() or not 0 <= value <= 10:
            raise ValueError(f"NPS scores are whole numbers 0..10, got {raw!r}")
        if value >= PROMOTER_MIN:
            promoters += 1
        elif value <= DETRACTOR_MAX:
            detractors += 1
        else:
            passives += 1
    n = promoters + passives + detractors
    if n == 0:
        nan = math.nan
        return NPSResult(nan, nan, nan, nan, 0, 0, 0, 0, confidence)
    p_p, p_d = promoters / n, detractors / n
    score = 100 * (p_p - p_d)
    se = math.sqrt(max(p_p + p_d - (p_p - p_d) ** 2, 0.0) / n)
    return NPSResult(score, score - z * 100 * se, score + z * 100 * se, se, n, promoters, passives, detractors, confidence)


@dataclass(frozen=True)
class NPSChange:
    """The change from an earlier NPS to a later one, in points, with its interval."""

    before: NPSResult
    after: NPSResult
    change: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """Whether the interval of the change excludes zero."""
        return not math.isnan(self.change) and (self.low > 0 or self.high < 0)

    @property
    def intervals_overlap(self) -> bool:
        """Whether the two periods' own intervals overlap (a stricter, easier-to-read test)."""
        return not (self.after.high < self.before.low or self.after.low > self.before.high)


def nps_change(before: NPSResult, after: NPSResult) -> NPSChange:
    """Difference ``after - before`` of two independent NPS figures.

    The two samples are independent, so the standard error of the difference is
    ``sqrt(se_before^2 + se_after^2)`` (in NPS points: times 100), and the interval uses the
    normal quantile at the ``after`` figure's confidence level.
    """
    if before.n == 0 or after.n == 0:
        nan = math.nan
        return NPSChange(before, after, nan, nan, nan)
    z = _z(after.confidence)
    change = after.score - before.score
    se = 100 * math.sqrt(before.se**2 + after.se**2)
    return NPSChange(before, after, change, change - z * se, change + z * se)


def nps_group(score: int) -> str:
    """The NPS group of one answer: promoter (9-10), passive (7-8) or detractor (0-6)."""
    if score >= PROMOTER_MIN:
        return "promoter"
    return "detractor" if score <= DETRACTOR_MAX else "passive"


# --- Experiments ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Treatment against control on one metric.

    Scales: ``control``, ``treatment``, ``abs_lift``, ``abs_ci`` and ``se_abs`` are on the metric's
    own scale (a rate, a mean or a ratio); ``rel_lift``, ``rel_ci``, ``se_rel`` and ``risk`` are
    relative to the control (0.05 = +5%).

    Attributes:
        control, treatment: the rates (proportions), means or ratios.
        abs_lift: treatment - control; abs_ci its interval.
        rel_lift: (treatment - control) / control; rel_ci its interval.
        p_value: two-sided. Fixed-horizon unless ``sequential``; then always-valid, on the
            relative lift (see :func:`compare_proportions`).
        chance_to_win: P(treatment better than control), flat prior: Phi(rel_lift / se_rel).
        theta, variance_reduction: CUPED only: the adjustment coefficient and the share of the
            difference's variance the adjustment removed.
        se_abs, se_rel: the fixed-horizon standard errors of ``abs_lift`` and ``rel_lift``.
        sequential: whether ``abs_ci``, ``rel_ci`` and ``p_value`` are always-valid (peek-safe)
            confidence sequences rather than fixed-horizon figures.
        fixed_p_value: the fixed-horizon p-value, filled in both modes, so that a report can say
            what a fixed-horizon test would have given.
    """

    control: float
    treatment: float
    abs_lift: float
    abs_ci: tuple[float, float]
    rel_lift: float
    rel_ci: tuple[float, float]
    p_value: float
    chance_to_win: float
    theta: float | None = None
    variance_reduction: float | None = None
    se_abs: float = math.nan
    se_rel: float = math.nan
    sequential: bool = False
    fixed_p_value: float = math.nan

    @property
    def risk(self) -> tuple[float, float]:
        """Expected relative loss of each choice: ``(keep_control, ship_treatment)``.

        As gbstats reports risk (``get_risk`` in ``gbstats/bayesian/tests.py``, GrowthBook): under
        the flat-prior normal posterior of the relative lift, X ~ N(rel_lift, se_rel^2),
        keep_control = P(X > 0) E[X | X > 0] = E[max(X, 0)] and ship_treatment =
        -P(X < 0) E[X | X < 0] = E[max(-X, 0)]. Closed forms, with z = rel_lift / se_rel and the
        standard normal pdf phi and cdf Phi: keep_control = rel_lift Phi(z) + se_rel phi(z),
        ship_treatment = -rel_lift Phi(-z) + se_rel phi(z). Both are on the relative scale and
        assume higher is better (swap them for a lower-is-better metric, as gbstats does for
        inverse metrics). With se_rel = 0 the posterior is a point: (max(rel_lift, 0),
        max(-rel_lift, 0)), so (0, 0) at no lift; NaN when se_rel is unknown.
        """
        mu, sigma = self.rel_lift, self.se_rel
        if math.isnan(mu) or math.isnan(sigma):
            return (math.nan, math.nan)
        if sigma == 0:
            return (max(mu, 0.0), max(-mu, 0.0))
        z = mu / sigma
        density = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        below = 0.5 * math.erfc(z / math.sqrt(2))  # Phi(-z), accurate in the far tail
        above = 0.5 * math.erfc(-z / math.sqrt(2))  # Phi(z)
        # both are non-negative; in the far tail the two terms nearly cancel, so round-off is floored
        return (max(mu * above + sigma * density, 0.0), max(-mu * below + sigma * density, 0.0))


def _check_count(name: str, value: float, minimum: int = 0) -> None:
    if value is None or isinstance(value, bool) or not float(value).is_integer() or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}")


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")


def _win(rel: float, se_rel: float) -> float:
    from scipy.stats import norm

    if se_rel == 0:
        return 0.5 if rel == 0 else float(rel > 0)
    return float(norm.cdf(rel / se_rel))


def _check_tuning(sequential_tuning: float | None) -> None:
    if sequential_tuning is None:
        return
    if isinstance(sequential_tuning, bool) or not isinstance(sequential_tuning, numbers.Real) or not (
        math.isfinite(sequential_tuning) and sequential_tuning > 0
    ):
        raise ValueError(f"sequential_tuning must be a positive finite number (or None), got {sequential_tuning!r}")


def _sequential_rho_squared(alpha: float, tuning: float) -> float:
    """rho^2 = (-2 ln alpha + ln(1 - 2 ln alpha)) / N (Waudby-Smith et al. 2023, arXiv 2103.06476,
    eq. 161; gbstats ``sequential_rho``): the mixing variance that makes the sequence tightest
    near N units."""
    log_alpha = math.log(alpha)
    return (-2 * log_alpha + math.log(1 - 2 * log_alpha)) / tuning


def _sequential_halfwidth(se: float, n: int, alpha: float, tuning: float) -> float:
    """Half-width of the two-sided asymptotic confidence sequence for an estimate with standard
    error ``se`` after ``n`` units (Waudby-Smith et al. 2023, eq. 9; gbstats
    ``sequential_interval_halfwidth`` with s2 = se^2 n):
    se * sqrt(2 (n rho^2 + 1) / (n rho^2) * ln(sqrt(n rho^2 + 1) / alpha))."""
    n_rho2 = n * _sequential_rho_squared(alpha, tuning)
    return se * math.sqrt(2 * (n_rho2 + 1) / n_rho2 * math.log(math.sqrt(n_rho2 + 1) / alpha))


def _sequential_p_value(estimate: float, se: float, n: int, alpha: float, tuning: float) -> float:
    """Always-valid two-sided p-value, the inverse of the mixture e-value (Waudby-Smith et al. 2023;
    as gbstats ``SequentialTwoSidedTTest`` computes it):
    min(1, sqrt(n rho^2 + 1) exp(-rho^2 n d^2 / (2 se^2 (n rho^2 + 1)))), computed in logs so
    that a strong effect gives a tiny p rather than an overflow. 1 when se is 0 (no test), as
    the fixed-horizon p-values here."""
    if se == 0:
        return 1.0
    n_rho2 = n * _sequential_rho_squared(alpha, tuning)
    log_p = 0.5 * math.log(n_rho2 + 1) - n_rho2 * estimate**2 / (2 * se**2 * (n_rho2 + 1))
    return math.exp(min(0.0, log_p))


def sequential_p_value(estimate: float, se: float, n: int, confidence: float, sequential_tuning: float) -> float:
    """The always-valid two-sided p-value of an estimate with standard error ``se`` after ``n``
    units (see :func:`_sequential_p_value`), for tests built outside the comparisons here (a
    segment's effect against the rest's, say).

    Raises:
        ValueError: a confidence outside 0..1 or a sequential_tuning that is not a positive finite number.
    """
    _check_confidence(confidence)
    _check_tuning(sequential_tuning)
    if sequential_tuning is None:
        raise ValueError("sequential_tuning must be a positive finite number, got None")
    _check_count("n", n, 1)
    if not math.isfinite(estimate):
        raise ValueError(f"estimate must be a finite number, got {estimate!r}")
    if not (math.isfinite(se) and se >= 0):
        raise ValueError(f"se must be a finite number of 0 or more, got {se!r}")
    return _sequential_p_value(estimate, se, n, 1 - confidence, sequential_tuning)


def _comparison(
    control: float, treatment: float, diff: float, se_abs: float, rel: float, se_rel: float, quantile: float,
    fixed_p: float, n: int, confidence: float, sequential_tuning: float | None,
    theta: float | None = None, variance_reduction: float | None = None,
) -> Comparison:
    """Assemble a Comparison: fixed-horizon intervals (estimate +/- quantile x se) and p-value, or,
    with a tuning value, always-valid ones on each scale; point estimates and chance to win are the
    same in both modes."""
    if sequential_tuning is None:
        abs_half, rel_half, p_value = quantile * se_abs, quantile * se_rel, fixed_p
    else:
        alpha = 1 - confidence
        abs_half = _sequential_halfwidth(se_abs, n, alpha, sequential_tuning)
        rel_half = _sequential_halfwidth(se_rel, n, alpha, sequential_tuning)
        p_value = _sequential_p_value(rel, se_rel, n, alpha, sequential_tuning)
    return Comparison(
        control, treatment, diff, (diff - abs_half, diff + abs_half), rel, (rel - rel_half, rel + rel_half), p_value,
        _win(rel, se_rel), theta, variance_reduction, se_abs, se_rel, sequential_tuning is not None, fixed_p,
    )


def compare_proportions(
    control_successes: int, control_n: int, treatment_successes: int, treatment_n: int, confidence: float = 0.95,
    sequential_tuning: float | None = None,
) -> Comparison:
    """Two conversion rates, compared as GrowthBook (gbstats) and PostHog do.

    Fixed-horizon (``sequential_tuning=None``):

    - p-value: pooled two-proportion z-test (statsmodels ``proportions_ztest``).
    - ``abs_ci``: unpooled Wald interval, diff +/- z * sqrt(pC(1-pC)/nC + pT(1-pT)/nT).
    - ``rel_ci``: delta method, var = pT(1-pT)/(nT pC^2) + pC(1-pC) pT^2/(nC pC^4), normal quantile.
    - ``chance_to_win``: Phi(rel_lift / se_rel), a flat prior on the relative lift.

    Sequential (a tuning value N, gbstats' default 5000): ``abs_ci``, ``rel_ci`` and ``p_value``
    become always-valid, safe to look at every day (the asymptotic confidence sequences of
    Waudby-Smith et al. 2023, arXiv 2103.06476, as gbstats ``SequentialTwoSidedTTest`` implements
    them). With alpha = 1 - confidence, n = control_n + treatment_n and
    rho^2 = (-2 ln alpha + ln(1 - 2 ln alpha)) / N, each interval is estimate +/- se *
    sqrt(2 (n rho^2 + 1) / (n rho^2) ln(sqrt(n rho^2 + 1) / alpha)) with the se of its own scale,
    and p = min(1, sqrt(n rho^2 + 1) exp(-rho^2 n d^2 / (2 se_rel^2 (n rho^2 + 1)))) for the
    relative lift d. Point estimates, chance to win, ``se_abs``, ``se_rel`` and ``fixed_p_value``
    (the z-test above) are the same in both modes.

    Args:
        control_successes, control_n, treatment_successes, treatment_n: whole counts.
        confidence: the intervals' level (alpha = 1 - confidence for the sequential test).
        sequential_tuning: None for fixed-horizon results; a positive N for always-valid ones.

    Raises:
        ValueError: a count that is negative or not whole, n = 0, successes above n, a control
            rate of 0 (no relative lift exists), or a sequential_tuning that is not a positive
            finite number.
    """
    from scipy.stats import norm

    _check_confidence(confidence)
    _check_tuning(sequential_tuning)
    for name, value, minimum in (
        ("control_successes", control_successes, 0), ("control_n", control_n, 1),
        ("treatment_successes", treatment_successes, 0), ("treatment_n", treatment_n, 1),
    ):
        _check_count(name, value, minimum)
    if control_successes > control_n:
        raise ValueError(f"control_successes ({control_successes}) cannot exceed control_n ({control_n})")
    if treatment_successes > treatment_n:
        raise ValueError(f"treatment_successes ({treatment_successes}) cannot exceed treatment_n ({treatment_n})")
    p_c, p_t = control_successes / control_n, treatment_successes / treatment_n
    if p_c == 0:
        raise ValueError("control_successes is 0: the control rate is 0, so a relative lift does not exist")
    z = float(norm.ppf(0.5 + confidence / 2))
    diff = p_t - p_c
    pooled = (control_successes + treatment_successes) / (control_n + treatment_n)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / control_n + 1 / treatment_n))
    p_value = 1.0 if se_pooled == 0 else float(2 * norm.sf(abs(diff) / se_pooled))
    se_abs = math.sqrt(p_c * (1 - p_c) / control_n + p_t * (1 - p_t) / treatment_n)
    rel = diff / p_c
    se_rel = math.sqrt(p_t * (1 - p_t) / (treatment_n * p_c**2) + p_c * (1 - p_c) * p_t**2 / (control_n * p_c**4))
    return _comparison(
        p_c, p_t, diff, se_abs, rel, se_rel, z, p_value, int(control_n + treatment_n), confidence, sequential_tuning
    )


def _welch(var_c_over_n: float, var_t_over_n: float, n_c: int, n_t: int) -> float:
    """Welch-Satterthwaite degrees of freedom."""
    denominator = var_c_over_n**2 / (n_c - 1) + var_t_over_n**2 / (n_t - 1)
    return (var_c_over_n + var_t_over_n) ** 2 / denominator if denominator > 0 else float("inf")


def compare_means(
    control_mean: float, control_sd: float, control_n: int, treatment_mean: float, treatment_sd: float, treatment_n: int,
    confidence: float = 0.95, sequential_tuning: float | None = None,
) -> Comparison:
    """Two means, by Welch's t-test (scipy ``ttest_ind_from_stats(equal_var=False)``).

    Both intervals use the t quantile with Welch-Satterthwaite degrees of freedom; the relative
    interval's variance comes from the delta method with the sample variances,
    var = sT^2/(nT mC^2) + sC^2 mT^2/(nC mC^4) (as gbstats ``TwoSidedTTest``).
    ``chance_to_win`` = Phi(rel_lift / se_rel). The p-value tests the absolute difference.

    With ``sequential_tuning`` N the intervals and the p-value become always-valid, by the
    formulas of :func:`compare_proportions` with n = control_n + treatment_n (the normal
    asymptotics of the confidence sequence replace the t quantile); ``fixed_p_value`` keeps
    Welch's p.

    Raises:
        ValueError: n below 2, a negative standard deviation, a control mean of 0, or a
            sequential_tuning that is not a positive finite number.
    """
    from scipy.stats import t as t_dist

    _check_confidence(confidence)
    _check_tuning(sequential_tuning)
    _check_count("control_n", control_n, 2)
    _check_count("treatment_n", treatment_n, 2)
    for name, value in (("control_sd", control_sd), ("treatment_sd", treatment_sd)):
        if not value >= 0:
            raise ValueError(f"{name} must be 0 or more, got {value!r}")
    if control_mean == 0:
        raise ValueError("control_mean is 0, so a relative lift does not exist")
    vc, vt = control_sd**2 / control_n, treatment_sd**2 / treatment_n
    se = math.sqrt(vc + vt)
    df = _welch(vc, vt, control_n, treatment_n)
    q = float(t_dist.ppf(0.5 + confidence / 2, df))
    diff = treatment_mean - control_mean
    p_value = 1.0 if se == 0 else float(2 * t_dist.sf(abs(diff) / se, df))
    rel = diff / control_mean
    se_rel = math.sqrt(vt / control_mean**2 + vc * treatment_mean**2 / control_mean**4)
    return _comparison(
        control_mean, treatment_mean, diff, se, rel, se_rel, q, p_value, int(control_n + treatment_n), confidence,
        sequential_tuning,
    )


def compare_means_cuped(
    control_post, control_pre, treatment_post, treatment_pre, confidence: float = 0.95, sequential_tuning: float | None = None
) -> Comparison:
    """Means compared after CUPED (Deng et al. 2013), on unit-level arrays.

    theta = cov(post, pre) / var(pre), pooled over both arms; each unit's metric becomes
    post - theta (pre - mean(pre)), and the adjusted arms go through Welch's test as in
    :func:`compare_means`. The relative lift divides the adjusted difference by the unadjusted
    control mean, its variance by the delta method (var_diff / mC^2 + diff^2 var(mC) / mC^4).
    ``variance_reduction`` = 1 - var(adjusted difference) / var(unadjusted difference).
    ``sequential_tuning`` widens the adjusted intervals and replaces the p-value as in
    :func:`compare_proportions` (n = units of both arms; gbstats applies its sequential test to
    regression-adjusted statistics the same way).

    Raises:
        ValueError: arrays of different lengths within an arm, fewer than 2 units in an arm, a
            constant ``pre`` (no variance to use), a control mean of 0, or a sequential_tuning
            that is not a positive finite number.
    """
    import numpy as np
    from scipy.stats import t as t_dist

    _check_confidence(confidence)
    _check_tuning(sequential_tuning)
    arms = {}
    for name, post, pre in (("control", control_post, control_pre), ("treatment", treatment_post, treatment_pre)):
        post, pre = np.asarray(post, dtype=float), np.asarray(pre, dtype=float)
        if post.shape != pre.shape:
            raise ValueError(f"{name}_post and {name}_pre must have the same length ({len(post)} != {len(pre)})")
        if len(post) < 2:
            raise ValueError(f"{name}_post needs at least 2 units, got {len(post)}")
        arms[name] = (post, pre)
    post_all = np.concatenate([arms["control"][0], arms["treatment"][0]])
    pre_all = np.concatenate([arms["control"][1], arms["treatment"][1]])
    var_pre = pre_all.var(ddof=1)
    if var_pre == 0:
        raise ValueError("the pre values are constant: CUPED has no variance to remove")
    theta = float(np.cov(post_all, pre_all, ddof=1)[0, 1] / var_pre)
    adjusted = {k: post - theta * (pre - pre_all.mean()) for k, (post, pre) in arms.items()}
    (c_post, _), (t_post, _) = arms["control"], arms["treatment"]
    m_c = c_post.mean()
    if m_c == 0:
        raise ValueError("the control mean is 0, so a relative lift does not exist")
    n_c, n_t = len(c_post), len(t_post)
    vc, vt = adjusted["control"].var(ddof=1) / n_c, adjusted["treatment"].var(ddof=1) / n_t
    raw_var = c_post.var(ddof=1) / n_c + t_post.var(ddof=1) / n_t
    se = math.sqrt(vc + vt)
    df = _welch(vc, vt, n_c, n_t)
    q = float(t_dist.ppf(0.5 + confidence / 2, df))
    diff = float(adjusted["treatment"].mean() - adjusted["control"].mean())
    p_value = 1.0 if se == 0 else float(2 * t_dist.sf(abs(diff) / se, df))
    rel = diff / m_c
    se_rel = math.sqrt((vc + vt) / m_c**2 + diff**2 * (c_post.var(ddof=1) / n_c) / m_c**4)
    return _comparison(
        float(m_c), float(m_c + diff), diff, se, rel, se_rel, q, p_value, n_c + n_t, confidence, sequential_tuning,
        theta, float(1 - (vc + vt) / raw_var) if raw_var else 0.0,
    )


@dataclass(frozen=True)
class RatioArm:
    """One arm of a ratio metric as the sufficient statistics a warehouse query returns.

    Each of the ``n`` units has a numerator N_i (e.g. clicks) and a denominator D_i (e.g. page
    views); the arm's ratio is sum(N) / sum(D) (gbstats ``RatioStatistic``: n, m_statistic,
    d_statistic, m_d_sum_of_products).

    Attributes:
        n: units in the arm.
        num_sum, num_sum_squares: sum(N_i) and sum(N_i^2).
        den_sum, den_sum_squares: sum(D_i) and sum(D_i^2).
        num_den_sum: sum(N_i D_i).
    """

    n: int
    num_sum: float
    num_sum_squares: float
    den_sum: float
    den_sum_squares: float
    num_den_sum: float

    @classmethod
    def from_units(cls, numerators, denominators) -> "RatioArm":
        """The sufficient statistics of per-unit arrays (one numerator and one denominator a unit).

        Raises:
            ValueError: arrays of different lengths, or a value that is not finite.
        """
        import numpy as np

        num, den = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
        if num.shape != den.shape or num.ndim != 1:
            raise ValueError(f"numerators and denominators must be 1-d and of the same length ({num.shape} != {den.shape})")
        for name, values in (("numerators", num), ("denominators", den)):
            if not np.isfinite(values).all():
                raise ValueError(f"{name} must be finite numbers; set NaN and infinite values aside first")
        return cls(
            len(num), float(num.sum()), float((num**2).sum()), float(den.sum()), float((den**2).sum()), float((num * den).sum())
        )

    @property
    def ratio(self) -> float:
        """num_sum / den_sum (NaN when den_sum is 0)."""
        return self.num_sum / self.den_sum if self.den_sum else math.nan

    @property
    def ratio_variance(self) -> float:
        """Variance of the arm's ratio by the delta method (Deng et al. 2018; gbstats
        ``variance_of_ratios``), on the ratio's scale:
        (var_N / mu_D^2 + var_D mu_N^2 / mu_D^4 - 2 cov mu_N / mu_D^3) / n, with the sample (n - 1)
        variances and covariance of the per-unit numerator and denominator. It equals the sample
        variance of N - ratio x D over n mu_D^2, so it is never negative; rounding below 0 is set
        to 0."""
        n = self.n
        mu_n, mu_d = self.num_sum / n, self.den_sum / n
        var_n = (self.num_sum_squares - self.num_sum**2 / n) / (n - 1)
        var_d = (self.den_sum_squares - self.den_sum**2 / n) / (n - 1)
        cov = (self.num_den_sum - self.num_sum * self.den_sum / n) / (n - 1)
        value = (var_n / mu_d**2 + var_d * mu_n**2 / mu_d**4 - 2 * cov * mu_n / mu_d**3) / n
        return max(value, 0.0)


def _check_ratio_arm(name: str, arm: RatioArm) -> None:
    if not isinstance(arm, RatioArm):
        raise ValueError(f"{name} must be a RatioArm, got {type(arm).__name__}")
    _check_count(f"{name}.n", arm.n, 2)
    for field in ("num_sum", "num_sum_squares", "den_sum", "den_sum_squares", "num_den_sum"):
        value = getattr(arm, field)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{name}.{field} must be a finite number, got {value!r}")
    for field in ("num_sum_squares", "den_sum_squares"):
        if getattr(arm, field) < 0:
            raise ValueError(f"{name}.{field} must be 0 or more (a sum of squares), got {getattr(arm, field)!r}")
    if arm.den_sum == 0:
        raise ValueError(f"{name}.den_sum is 0: the ratio num_sum / den_sum does not exist")


def compare_ratios(
    control: RatioArm, treatment: RatioArm, confidence: float = 0.95, sequential_tuning: float | None = None
) -> Comparison:
    """Two ratio metrics (sum of numerators / sum of denominators per arm, e.g. revenue per session),
    by the delta method and Welch's test, as gbstats compares ``RatioStatistic`` arms.

    Each arm's ratio r = num_sum / den_sum has the delta-method variance
    :attr:`RatioArm.ratio_variance` (v, on the ratio's scale, already divided by n). Then, as
    :func:`compare_means` with v in place of s^2 / n: abs_lift = rT - rC with se_abs =
    sqrt(vC + vT), Welch-Satterthwaite degrees of freedom and the t quantile for both intervals, the
    p-value of Welch's t-test of the absolute difference; rel_lift = (rT - rC) / rC with
    se_rel^2 = vT / rC^2 + vC rT^2 / rC^4. ``sequential_tuning`` N makes the intervals and the
    p-value always-valid as in :func:`compare_proportions` (n = control.n + treatment.n).

    Args:
        control, treatment: the arms' sufficient statistics.
        confidence: the intervals' level.
        sequential_tuning: None for fixed-horizon results; a positive N for always-valid ones.

    Raises:
        ValueError: naming the argument: n below 2 (``control.n``), a zero denominator sum
            (``treatment.den_sum``), a negative sum of squares, a sum that is not finite, a control
            ratio of 0 (no relative lift), or a sequential_tuning that is not a positive finite
            number.
    """
    from scipy.stats import t as t_dist

    _check_confidence(confidence)
    _check_tuning(sequential_tuning)
    _check_ratio_arm("control", control)
    _check_ratio_arm("treatment", treatment)
    r_c, r_t = control.ratio, treatment.ratio
    if r_c == 0:
        raise ValueError("the control ratio is 0 (control.num_sum is 0), so a relative lift does not exist")
    vc, vt = control.ratio_variance, treatment.ratio_variance
    se = math.sqrt(vc + vt)
    df = _welch(vc, vt, int(control.n), int(treatment.n))
    q = float(t_dist.ppf(0.5 + confidence / 2, df))
    diff = r_t - r_c
    p_value = 1.0 if se == 0 else float(2 * t_dist.sf(abs(diff) / se, df))
    rel = diff / r_c
    se_rel = math.sqrt(vt / r_c**2 + vc * r_t**2 / r_c**4)
    return _comparison(r_c, r_t, diff, se, rel, se_rel, q, p_value, int(control.n + treatment.n), confidence, sequential_tuning)


def srm_pvalue(counts, weights) -> float:
    """Sample-ratio mismatch: Pearson chi-square goodness of fit of ``counts`` against the planned
    ``weights`` (scipy ``chisquare``); below 0.001 the split is broken (GrowthBook's threshold).

    Raises:
        ValueError: lengths differ, a count is negative or not whole, no units at all, or weights
            that are negative or do not sum to a positive number.
    """
    from scipy.stats import chisquare

    counts, weights = list(counts), [float(w) for w in weights]
    if len(counts) != len(weights) or len(counts) < 2:
        raise ValueError(f"counts and weights need the same length, at least 2 (got {len(counts)} and {len(weights)})")
    for i, c in enumerate(counts):
        _check_count(f"counts[{i}]", c, 0)
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights must be 0 or more and sum to a positive number, got {weights}")
    total = sum(counts)
    if total == 0:
        raise ValueError("counts are all 0: no units to test")
    expected = [total * w / sum(weights) for w in weights]
    return float(chisquare(counts, f_exp=expected).pvalue)


def adjust_pvalues(pvalues, method: str = "holm") -> list[float]:
    """Multiple-testing adjusted p-values in input order: ``"holm"`` (family-wise error) or ``"bh"``
    (Benjamini-Hochberg false discovery rate), as statsmodels ``multipletests``."""
    from statsmodels.stats.multitest import multipletests

    names = {"holm": "holm", "bh": "fdr_bh"}
    if method not in names:
        raise ValueError(f"method must be 'holm' or 'bh', got {method!r}")
    values = [float(p) for p in pvalues]
    if any(not 0 <= p <= 1 for p in values):
        raise ValueError(f"p-values must lie in 0..1, got {values}")
    if not values:
        return []
    return [float(p) for p in multipletests(values, method=names[method])[1]]


def sample_size_per_variant(baseline_rate: float, mde: float, relative: bool = True, alpha: float = 0.05, power: float = 0.8) -> int:
    """Units per variant to detect ``mde`` on a conversion rate with a two-sided test.

    n = (z_{1-alpha/2} + z_{power})^2 (p1(1-p1) + p2(1-p2)) / (p2 - p1)^2, rounded up, where p2 is
    the baseline moved by the MDE (relative: p1 (1 + mde); absolute: p1 + mde).

    Raises:
        ValueError: a baseline outside 0..1 (exclusive), an MDE of 0 or one that moves the rate
            outside 0..1, or alpha or power outside 0..1.
    """
    from scipy.stats import norm

    if not 0 < baseline_rate < 1:
        raise ValueError(f"baseline_rate must be between 0 and 1, got {baseline_rate!r}")
    if mde == 0:
        raise ValueError("mde must not be 0")
    for name, value in (("alpha", alpha), ("power", power)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    p1 = baseline_rate
    p2 = p1 * (1 + mde) if relative else p1 + mde
    if not 0 < p2 < 1:
        raise ValueError(f"mde {mde!r} moves the rate to {p2!r}, outside 0..1")
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return math.ceil(z**2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p2 - p1) ** 2)
