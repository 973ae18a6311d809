"""How numbers become words: money, percentages, dates, changes, and the figures of an area's result.

Area modules compute numbers and frames; this module is where they become what a reader sees
(seaborn's scales turn data into marks only when drawing; the same split holds here). The
summary box, the index cell and the manifest all format a :class:`~playbook.figures.Figure`
with :func:`figure_text`, so one figure reads the same in each.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from playbook.figures import Action, AreaResult, Figure

Format = str  # "int", "pct", "pct1", "p", "money", "score", "signed", "num1", "date", "text"


def format_value(value: Any, fmt: Format) -> str:
    """One cell as a reader should see it: thousands separators, percentages, dates, signs."""
    if value is None or value is pd.NaT or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if fmt == "int":
        return f"{value:,.0f}"
    if fmt == "pct":
        return f"{value:.0%}"
    if fmt == "pct1":
        return f"{value:+.1%}" if value < 0 else f"{value:.1%}"
    if fmt == "p":
        return "<0.001" if value < 0.001 else f"{value:.3f}"
    if fmt == "money":
        return f"${value:,.0f}"
    if fmt == "score":
        return f"{value:.0f}"
    if fmt == "signed":
        # A change that rounds to nothing has no sign: "0", never "+0" or "-0".
        return "0" if round(value) == 0 else f"{value:+.0f}"
    if fmt == "num1":
        return f"{value:,.1f}"
    if fmt == "date":
        return pd.Timestamp(value).strftime("%d %b %Y") if not isinstance(value, str) else value
    return str(value)


def change_words(change: float | None, unit: str = "") -> str:
    """"down 15", "up 4 points", "up 1 point", "unchanged", or "" when there is nothing to compare with.

    Args:
        change: the signed change, already rounded as it should read.
        unit: the unit written for many, with its leading space (" points", " days"); it is
            made singular for a change of exactly one (:func:`plural`).
    """
    if change is None:
        return ""
    if change == 0:
        return "unchanged"
    return f"{'up' if change > 0 else 'down'} {abs(change):g}{plural(unit, abs(change))}"


def short_money(value: float) -> str:
    """Money in a sentence: $8.6M, $42k, $9,732 (USD)."""
    if abs(value) >= 1e6:
        return f"${value / 1e6:,.1f}M"
    if abs(value) >= 1e4:
        return f"${value / 1e3:,.0f}k"
    return f"${value:,.0f}"


# Plurals that are not the singular plus "s": "-ies" from "-y", "-es" after a hissing sound.
_ES_ENDINGS = ("sses", "shes", "ches", "xes")


def plural(label: str, count: float | None) -> str:
    """``label`` (written for many) made singular when ``count`` is one: the first word ending in a
    plural "s" loses it ("open escalations" -> "open escalation", "replies" -> "reply",
    "boxes" -> "box"); words like "class" or "status" are left alone.

    English takes the singular for exactly one only ("0 days", "1.5 days", "1 day"), so a
    count of ``1.0`` counts as one and ``0`` or ``None`` do not.
    """
    if count is None or count != 1:
        return label
    words = label.split(" ")
    for i, word in enumerate(words):
        lower = word.lower()
        if not lower.endswith("s") or lower.endswith(("ss", "us", "is")) or len(lower) < 3:
            continue
        if lower.endswith("ies") and len(lower) > 4:
            words[i] = word[:-3] + "y"
        elif lower.endswith(_ES_ENDINGS):
            words[i] = word[:-2]
        else:
            words[i] = word[:-1]
        break
    return " ".join(words)


def count_words(count: float, noun: str, digits: int = 0) -> str:
    """A count and its noun agreeing as the reader sees the number: "1 day", "3 days", "1,204
    accounts", "1.5 days", "1.0 days"; the number is rounded first, so 0.6 days reads "1 day".
    Only a bare "1" takes the singular: written with decimals, one reads as many.

    Args:
        count: how many.
        noun: the noun written for many ("days", "open escalations").
        digits: decimals shown.
    """
    shown = f"{round(float(count), digits):,.{digits}f}"
    return f"{shown} {plural(noun, 1 if shown in ('1', '-1') else 2)}"


def param_words(value: float, noun: str) -> str:
    """A parameter and its noun agreeing, the number as written in params: "1 hour", "24 hours",
    "1.5 hours" (:func:`count_words` with as many decimals as the value has)."""
    return count_words(value, noun, len(f"{value:g}".partition(".")[2]))


def with_article(text: str) -> str:
    """"a 15% MDE", "an 18.2% baseline", "an 8% lift": the article as the number is spoken
    (eight, eighteen, eleven and eighty-something begin with a vowel sound)."""
    spoken_vowel = re.match(r"(8|1[18](?!\d)|1[18][.,%]|11$|18$)", text) is not None
    return f"{'an' if spoken_vowel else 'a'} {text}"


def figure_value(figure: Figure) -> str:
    """The value alone, as its unit reads: 41, $161k, 36%, +12, 54, 479 days."""
    value = figure.value
    if value is None or not math.isfinite(float(value)):
        return "–"
    if figure.unit == "money":
        return short_money(value)
    if figure.unit == "percent":
        return f"{value:.0%}"
    if figure.unit == "points":
        return f"{value:+.0f}" if round(value) != 0 else "0"
    if figure.unit == "days":
        return count_words(value, "days")
    return f"{value:,.0f}"


def figure_change(figure: Figure) -> str:
    """"up 6", "down 22 points", "unchanged", or "" when there is no previous value."""
    change = figure.change
    if change is None:
        return ""
    if figure.unit == "money":
        return change_words(round(change)) if round(change) == 0 else f"{'up' if change > 0 else 'down'} {short_money(abs(change))}"
    # A share's change is in percentage points; every other unit's in its own whole units.
    rounded = round(change * 100) if figure.unit == "percent" else round(change)
    return change_words(rounded, " points" if figure.unit in ("percent", "points", "score") else "")


def figure_text(figure: Figure) -> str:
    """"41 overdue requests", "PES 54", "Idle spend $161k": counts lead with the number."""
    if figure.unit == "count":
        shown = round(figure.value) if figure.value is not None and math.isfinite(float(figure.value)) else None
        return f"{figure_value(figure)} {plural(figure.label, shown)}"
    return f"{figure.label} {figure_value(figure)}"


def headline_text(result: AreaResult) -> str:
    """The index cell's line, the same words the summary box opens with."""
    parts = []
    for key in result.headline:
        figure = result.figures[key]
        change = figure_change(figure)
        parts.append(f"{figure_text(figure)} ({change})" if change else figure_text(figure))
    return ", ".join(parts)


def age_words(action: Action | dict[str, Any]) -> str:
    """How long an action has been open, from its history: "new this week" (first seen in the
    last seven days), "open for 3 weeks, since 12 Oct 2026", or "open for at least 8 weeks, since
    the history began on 6 Oct 2026" when the first run recorded already found it; "" when no
    history was read."""
    get = action.get if isinstance(action, dict) else lambda k: getattr(action, k)
    first, weeks = get("first_seen"), get("weeks_open")
    if not first or weeks is None:
        return ""
    since = format_value(pd.Timestamp(first), "date")
    if weeks < 1:
        return f"open since at least {since}, the history's first run" if get("open_before_history") else "new this week"
    if get("open_before_history"):
        return f"open for at least {count_words(weeks, 'weeks')}, since the history began on {since}"
    return f"open for {count_words(weeks, 'weeks')}, since {since}"
