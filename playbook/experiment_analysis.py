"""Experiment results and decisions: each treatment against the control, the SRM check, Holm
and Benjamini-Hochberg adjustment, and the decision rule (the statistics are :mod:`playbook.stats`).

- Each treatment variant is compared with the control on the primary metric: conversion
  (``converted``) for binary metrics, the mean of ``value`` for continuous ones, with CUPED when
  every unit has a ``pre_value``.
- SRM: chi-square of the units per variant against the planned split (``split``, equal when
  empty); p below ``srm_threshold`` (0.001) makes the experiment invalid.
- Several treatment variants: Holm and Benjamini-Hochberg adjusted p-values; decisions use Holm.
- Decision: *invalid (SRM)*; *ship* when a variant is better with adjusted p below ``alpha``;
  *do not ship* when variants are only significantly worse; *no effect* when every variant's
  relative interval lies within +/- the experiment's MDE; otherwise *inconclusive*. Running
  experiments get the same label, marked as interim.
"""

from __future__ import annotations

import math

import pandas as pd

from playbook import stats
from playbook.config import ExperimentsParams

SHIP, DO_NOT_SHIP, NO_EFFECT, INCONCLUSIVE, INVALID = "ship", "do not ship", "no effect", "inconclusive", "invalid (SRM)"


def parse_split(split: object, variants: list[str], experiment: str = "") -> dict[str, float]:
    """Planned weights from ``control=0.5;treatment=0.5`` (any positive numbers; equal when empty).

    Raises:
        ValueError: a malformed split, naming the experiment and what was expected.
    """
    if split is None or (isinstance(split, float) and math.isnan(split)) or not str(split).strip():
        return {v: 1.0 for v in variants}
    weights: dict[str, float] = {}
    for part in str(split).split(";"):
        name, sep, value = part.partition("=")
        try:
            weights[name.strip()] = float(value)
            if not sep or weights[name.strip()] < 0:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"experiment {experiment}: split {split!r} is not of the form 'control=0.5;treatment=0.5' (bad part {part!r})"
            ) from None
    return weights


def variant_stats(exposures: pd.DataFrame) -> pd.DataFrame:
    """Per experiment and variant: units, conversions, rate, mean and sd of value, and whether every unit has a pre value."""
    grouped = exposures.groupby(["experiment_id", "variant"])
    table = grouped.agg(
        units=("unit_id", "size"),
        conversions=("converted", "sum"),
        mean=("value", "mean"),
        sd=("value", "std"),
        with_pre=("pre_value", "count"),
        first_exposure=("exposed_at", "min"),
        last_exposure=("exposed_at", "max"),
    ).reset_index()
    return table.assign(rate=table["conversions"] / table["units"], has_pre=table["with_pre"] == table["units"])


def _compare(kind: str, control: pd.DataFrame, treatment: pd.DataFrame, c: pd.Series, t: pd.Series, confidence: float) -> stats.Comparison:
    if kind == "binary":
        return stats.compare_proportions(int(c["conversions"]), int(c["units"]), int(t["conversions"]), int(t["units"]), confidence)
    if c["has_pre"] and t["has_pre"]:
        return stats.compare_means_cuped(control["value"], control["pre_value"], treatment["value"], treatment["pre_value"], confidence)
    return stats.compare_means(c["mean"], c["sd"], int(c["units"]), t["mean"], t["sd"], int(t["units"]), confidence)


def analyse(experiments: pd.DataFrame, exposures: pd.DataFrame, params: ExperimentsParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Results per (experiment, treatment variant) and one decision per experiment.

    Returns:
        (results, decisions): ``results`` has the comparison, SRM and adjusted p-values per
        variant; ``decisions`` has per experiment the SRM p-value, decision, best variant and notes.
    """
    counts = variant_stats(exposures)
    rows, decisions = [], []
    for exp in experiments[experiments["status"] != "proposed"].itertuples():
        mine = counts[counts["experiment_id"] == exp.experiment_id].set_index("variant")
        control_name = exp.control_variant if isinstance(exp.control_variant, str) and exp.control_variant else "control"
        base = {"experiment_id": exp.experiment_id, "name": exp.name, "team": exp.team, "status": exp.status}
        if control_name not in mine.index or len(mine) < 2:
            decisions.append({**base, "decision": INCONCLUSIVE, "srm_p": math.nan, "best_variant": None,
                              "note": f"no exposures for the control '{control_name}' and a treatment"})
            continue
        weights = parse_split(exp.split, list(mine.index), exp.experiment_id)
        unknown = [v for v in mine.index if v not in weights]
        srm_p = stats.srm_pvalue([int(mine.loc[v, "units"]) for v in mine.index], [weights.get(v, 0.0) for v in mine.index]) if not unknown else math.nan
        units = exposures[exposures["experiment_id"] == exp.experiment_id]
        control_units = units[units["variant"] == control_name]
        variant_rows = []
        for variant in [v for v in mine.index if v != control_name]:
            try:
                result = _compare(exp.metric_type, control_units, units[units["variant"] == variant], mine.loc[control_name], mine.loc[variant], params.confidence)
            except ValueError as err:
                decisions.append({**base, "decision": INCONCLUSIVE, "srm_p": srm_p, "best_variant": None, "note": str(err)})
                variant_rows = []
                break
            variant_rows.append({
                **base, "variant": variant, "metric": exp.primary_metric, "metric_type": exp.metric_type,
                "control_units": int(mine.loc[control_name, "units"]), "units": int(mine.loc[variant, "units"]),
                "control": result.control, "treatment": result.treatment, "abs_lift": result.abs_lift,
                "control_shown": _show(result.control, exp.metric_type), "treatment_shown": _show(result.treatment, exp.metric_type),
                "abs_low": result.abs_ci[0], "abs_high": result.abs_ci[1], "rel_lift": result.rel_lift,
                # A metric cannot fall by more than all of it: the delta-method interval is cut at -100%.
                "rel_low": max(result.rel_ci[0], -1.0), "rel_high": result.rel_ci[1], "p_value": result.p_value,
                "interval": f"{result.rel_ci[0]:+.1%} to {result.rel_ci[1]:+.1%}",
                "chance_to_win": result.chance_to_win, "cuped": result.theta is not None,
                "variance_reduction": result.variance_reduction, "srm_p": srm_p, "mde": exp.mde,
            })
        if not variant_rows:
            if not any(d["experiment_id"] == exp.experiment_id for d in decisions):
                decisions.append({**base, "decision": INCONCLUSIVE, "srm_p": srm_p, "best_variant": None, "note": "no treatment variant"})
            continue
        holm = stats.adjust_pvalues([r["p_value"] for r in variant_rows], "holm")
        bh = stats.adjust_pvalues([r["p_value"] for r in variant_rows], "bh")
        for row, h, b in zip(variant_rows, holm, bh):
            row.update(p_holm=h, p_bh=b)
        rows += variant_rows
        decision, best, note = _decide(variant_rows, srm_p, exp.mde, unknown, params)
        if exp.status == "running":
            note = f"{note}; interim result" if note else "interim result"
        decisions.append({**base, "decision": decision, "srm_p": srm_p, "best_variant": best, "note": note})
    results = pd.DataFrame(rows)
    return results, pd.DataFrame(decisions, columns=["experiment_id", "name", "team", "status", "decision", "srm_p", "best_variant", "note"])


def _show(value: float, kind: str) -> str:
    return f"{value:.2%}" if kind == "binary" else f"{value:,.2f}"


def _decide(rows: list[dict], srm_p: float, mde: float, unknown: list[str], params: ExperimentsParams) -> tuple[str, str | None, str]:
    if unknown:
        return INVALID, None, f"variants not in the planned split: {', '.join(unknown)}"
    if srm_p < params.srm_threshold:
        shown = "< 0.0001" if srm_p < 0.0001 else f"= {srm_p:.4f}"
        return INVALID, None, f"units per variant are off the planned split (SRM p {shown})"
    # A call needs the p-value and the interval on the relative lift to agree (DESIGN §5): the
    # test is on the difference, the interval on the ratio (delta method), and near the edge one
    # can clear zero while the other does not; such a result is too close to call.
    winners = [r for r in rows if r["p_holm"] < params.alpha and r["rel_lift"] > 0 and r["rel_low"] > 0]
    if winners:
        best = max(winners, key=lambda r: r["rel_lift"])
        return SHIP, best["variant"], ""
    if any(r["p_holm"] < params.alpha and r["rel_high"] < 0 for r in rows):
        return DO_NOT_SHIP, None, "significantly worse than control"
    if any(r["p_holm"] < params.alpha for r in rows):
        return INCONCLUSIVE, None, "too close to call: the p-value clears the threshold but the interval includes no change"
    margin = mde if isinstance(mde, float) and not math.isnan(mde) else params.default_mde
    if all(-margin < r["rel_low"] and r["rel_high"] < margin for r in rows):
        return NO_EFFECT, None, f"the interval rules out effects of {margin:.0%} or more"
    return INCONCLUSIVE, None, "too few units to tell"
