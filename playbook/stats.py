"""Statistics the areas share: NPS and its interval, and the change between two NPS figures.

Public: notebooks and users' own analyses call these. Each function says which convention it
follows, so that a number can be checked against the tool a reader already knows.
"""

from __future__ import annotations

import math
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
