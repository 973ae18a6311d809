"""What an area's build returns besides its frames: typed figures and actions (the area contract).

A figure is a number computed once; every place that shows it (the summary, the headline, the
index cell, the manifest, a table's total) renders this one object through :mod:`playbook.views`,
so it reads the same everywhere. An action is a problem a rule found, with how severe it is and
the money at stake; the index colours a cell, and lists "look here first", from actions alone.

The objects are frozen dataclasses of plain values (after gbstats' result models) so that they
serialise to JSON for the manifest and the notebook's record, and back with :func:`result_from_dict`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Any, Literal

Unit = Literal["count", "money", "percent", "points", "score", "days"]
Good = Literal["up", "down"]


class Severity(IntEnum):
    """How urgent an action is; the index and the summary rank by it, then by money at stake."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3


@dataclass(frozen=True)
class Figure:
    """One number a report states.

    Attributes:
        key: stable name within the area (``idle_spend``), used by the manifest and history.
        label: what it is, in a reader's words ("overdue requests").
        value: the number (None when it cannot be computed, e.g. no data).
        unit: how views format it: count, money (USD), percent (a share 0..1), points, score, days.
        previous: the same figure for the previous period, when there is one.
        good: which direction is good ("up", "down"), or None when neither is.
        subject: what it is about (an account, a tool, an experiment), None for the whole scope.
        rows: how many rows of the area's data it is computed from.
    """

    key: str
    label: str
    value: float | None
    unit: Unit = "count"
    previous: float | None = None
    good: Good | None = None
    subject: str | None = None
    rows: int | None = None

    @property
    def change(self) -> float | None:
        """Value minus previous, unrounded (views round it once, as every sentence does)."""
        if _missing(self.value) or _missing(self.previous):
            return None
        return self.value - self.previous


@dataclass(frozen=True)
class Action:
    """A problem a rule found.

    Attributes:
        rule: the rule's stable name (``tools.rightsize``), one per kind of problem.
        subject: what it is about; one action per rule and subject.
        severity: how urgent.
        text: the sentence the summary shows (made by the area's views).
        money: USD a year at stake, when the problem has a price.
        figures: keys of the figures it rests on.
        first_seen: the as-of date (ISO) of the first run in the unbroken series of runs that
            found it, from the history (:mod:`playbook.history`); None when no history was read.
        weeks_open: whole weeks from ``first_seen`` to this run's as-of date (0: new this week).
        open_before_history: first seen in the first run the history holds, so it may have been
            open longer: the age is "at least".
    """

    rule: str
    subject: str
    severity: Severity
    text: str
    money: float | None = None
    figures: tuple[str, ...] = ()
    first_seen: str | None = None
    weeks_open: int | None = None
    open_before_history: bool = False

    def rank(self) -> tuple[int, float]:
        """Sort key, most urgent first: severity, then money at stake."""
        return (-int(self.severity), -(0.0 if _missing(self.money) else float(self.money)))


@dataclass(frozen=True)
class AreaResult:
    """An area report's figures, actions and further notes, as the summary, index and manifest read them.

    Attributes:
        figures: every figure the summary states, by key.
        headline: keys of the figures the index shows, in order.
        actions: what needs action, most urgent first.
        notes: sentences that inform without asking for action, after the actions.
    """

    figures: dict[str, Figure]
    headline: tuple[str, ...]
    actions: tuple[Action, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        # A value that cannot be true (NaN, an infinity) is no value: it reads "–", never "nan".
        figures = {}
        for key, figure in self.figures.items():
            clean = {f: None for f in ("value", "previous") if getattr(figure, f) is not None and _missing(getattr(figure, f))}
            figures[key] = Figure(**{**asdict(figure), **clean}) if clean else figure
        object.__setattr__(self, "figures", figures)
        missing = [k for k in self.headline if k not in self.figures]
        if missing:
            raise ValueError(f"headline names figures the result lacks: {', '.join(missing)}")
        object.__setattr__(self, "actions", tuple(sorted(self.actions, key=Action.rank)))

    @property
    def needs_action(self) -> bool:
        return bool(self.actions)

    @property
    def lines(self) -> list[str]:
        """The summary's sentences in the order shown: the actions, then the notes."""
        return [a.text for a in self.actions] + list(self.notes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "figures": {k: _plain(asdict(f)) for k, f in self.figures.items()},
            "headline": list(self.headline),
            "actions": [{**_plain(asdict(a)), "severity": a.severity.name.lower(), "figures": list(a.figures)} for a in self.actions],
            "notes": list(self.notes),
        }


def result_from_dict(data: dict[str, Any]) -> AreaResult:
    """The :class:`AreaResult` a manifest or a notebook record holds (the inverse of ``to_dict``)."""
    figures = {k: Figure(**f) for k, f in data.get("figures", {}).items()}
    actions = [
        Action(**{**a, "severity": Severity[str(a["severity"]).upper()], "figures": tuple(a.get("figures", ()))})
        for a in data.get("actions", [])
    ]
    return AreaResult(figures, tuple(data.get("headline", ())), tuple(actions), tuple(data.get("notes", ())))


def _missing(value: Any) -> bool:
    """No usable number: None, NaN or an infinity (of any float type, numpy's included)."""
    if value is None:
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """NaN as None and numpy scalars as Python numbers, so the dict is valid JSON."""
    out = {}
    for key, value in values.items():
        if hasattr(value, "item"):
            value = value.item()
        out[key] = None if isinstance(value, float) and math.isnan(value) else value
    return out
