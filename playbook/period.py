"""Reporting periods: inclusive dates for readers, a half-open span [start, stop) for computing.

A period ends on its last day *included*, as readers say it ("1 to 30 Nov"); every filter uses
the exclusive ``stop`` (the first instant after that day), so no module adds a day by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd

from playbook.errors import ParamsError

RELATIVE_PERIODS = ("last_30_days", "last_90_days", "previous_month", "quarter_to_date")


def day_end(day: date) -> pd.Timestamp:
    """The first instant after ``day``: the exclusive stop of a span that includes ``day``."""
    return pd.Timestamp(day) + pd.Timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """A resolved reporting period: inclusive dates, and the equally long period before it."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> pd.Timestamp:
        """The first instant of the period."""
        return pd.Timestamp(self.start)

    @property
    def stop(self) -> pd.Timestamp:
        """The first instant after the period (exclusive)."""
        return day_end(self.end)

    def bounds(self) -> dict[str, datetime]:
        """``start`` (inclusive) and ``stop`` (exclusive) as values to bind to SQL ``$start``/``$stop``."""
        return {"start": datetime.combine(self.start, time()), "stop": datetime.combine(self.end + timedelta(days=1), time())}

    def mask(self, times: pd.Series) -> pd.Series:
        """Which of ``times`` fall in the period (missing times do not)."""
        return (times >= self.start_at) & (times < self.stop)

    def previous(self) -> Period:
        end = self.start - timedelta(days=1)
        return Period(end - timedelta(days=self.days - 1), end)

    def label(self) -> str:
        return f"{self.start:%d %b %Y} to {self.end:%d %b %Y}"


def resolve_period(period: Any, as_of: date) -> Period:
    """Turn a fixed period (anything with ``start`` and ``end``) or a relative one into dates,
    relative ones ending on ``as_of``."""
    if hasattr(period, "start") and hasattr(period, "end"):
        return Period(period.start, period.end)
    if period == "last_30_days":
        return Period(as_of - timedelta(days=29), as_of)
    if period == "last_90_days":
        return Period(as_of - timedelta(days=89), as_of)
    if period == "previous_month":
        end = as_of.replace(day=1) - timedelta(days=1)
        return Period(end.replace(day=1), end)
    if period == "quarter_to_date":
        first_month = 3 * ((as_of.month - 1) // 3) + 1
        return Period(as_of.replace(month=first_month, day=1), as_of)
    raise ParamsError(f"unknown period {period!r}; expected one of {', '.join(RELATIVE_PERIODS)}")


def open_at(frame: pd.DataFrame, end: date, opened: str = "opened_at", closed: str = "resolved_at") -> pd.DataFrame:
    """Rows open at the end of ``end`` (escalations, bugs): opened by then and not closed by then;
    with ``age_days``."""
    now = day_end(end)
    still = frame[(frame[opened] < now) & (frame[closed].isna() | (frame[closed] >= now))]
    return still.assign(age_days=(now - still[opened]).dt.total_seconds() / 86400)
