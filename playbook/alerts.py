"""Alert rules from params: a figure that crosses a threshold becomes an action, its rule named.

After PostHog's alerts (a value above or below a bound, or a change beyond one): each rule in
``alerts`` names one figure of one area and one bound (:class:`playbook.config.AlertRule`). A rule
is judged on the figure object the report states, so the action's numbers are the summary's.
An alert on a figure an action of the area already rests on adds nothing, so one problem is
never listed twice; a rule naming a figure the area does not have is said in a note.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from playbook.figures import Action, AreaResult, Figure, Severity
from playbook.views import figure_change, figure_text, short_money

BOUND_WORDS = {"above": "above", "below": "below", "rise": "rising", "fall": "falling"}


def crossed(kind: str, bound: float, figure: Figure) -> bool:
    """Whether ``figure`` is past the bound (a missing value or change crosses nothing)."""
    if kind in ("above", "below"):
        if figure.value is None:
            return False
        return figure.value > bound if kind == "above" else figure.value < bound
    change = figure.change
    if change is None:
        return False
    # A change the report states as exactly the bound reaches it: 0.3 - 0.2 is 0.09999999999999998
    # in floating point, and it reads "up 10 points".
    moved = change if kind == "rise" else -change
    return moved >= bound or math.isclose(moved, bound, rel_tol=1e-9, abs_tol=1e-12)


def bound_words(kind: str, bound: float, figure: Figure) -> str:
    """The rule as a reader says it: "falling 5 points or more", "above 10%", "above $50k"."""
    if figure.unit == "money":
        amount = short_money(bound)
    elif figure.unit == "percent":
        amount = f"{bound * 100:g} points" if kind in ("rise", "fall") else f"{bound:.0%}"
    elif figure.unit in ("points", "score") and kind in ("rise", "fall"):
        amount = f"{bound:g} points"
    else:
        amount = f"{bound:,.0f}" if float(bound).is_integer() else f"{bound:,}"
    tail = " or more against the previous period" if kind in ("rise", "fall") else ""
    return f"{BOUND_WORDS[kind]} {amount}{tail}"


def apply_alerts(result: AreaResult, rules: Iterable[Any], area: str) -> AreaResult:
    """``result`` with an action for each of ``area``'s alert rules its figures cross.

    Args:
        result: the area's figures and actions.
        rules: :class:`playbook.config.AlertRule` objects (rules of other areas are skipped).
        area: the area's name.
    """
    actions, notes = list(result.actions), list(result.notes)
    covered = {key for action in result.actions for key in action.figures}
    # The most severe rule first: of two rules on one figure, the most severe one crossed names it.
    for rule in sorted(rules, key=lambda r: -Severity[r.severity.upper()]):
        if rule.area != area:
            continue
        figure = result.figures.get(rule.key)
        if figure is None:
            notes.append(f"The alert on {rule.figure} in params names a figure this report does not have; "
                         f"its figures are {', '.join(sorted(result.figures))}.")
            continue
        kind, bound = rule.bound
        if rule.key in covered or not crossed(kind, bound, figure):
            continue
        change = figure_change(figure)
        stated = f"{figure_text(figure)} ({change})" if change else figure_text(figure)
        actions.append(Action(
            rule=f"alert.{rule.figure}.{kind}",
            subject=figure.subject or figure.label,
            severity=Severity[rule.severity.upper()],
            text=f"{stated}: past the alert in params, {figure.label} {bound_words(kind, bound, figure)}.",
            figures=(rule.key,),
        ))
        # A second rule on the same figure is the same problem: the most severe that fires names it.
        covered.add(rule.key)
    return AreaResult(result.figures, result.headline, tuple(actions), tuple(notes))
