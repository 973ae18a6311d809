"""Experiment results and decisions: every metric of every treatment against the control, the SRM
check, Holm and Benjamini-Hochberg adjustment, guardrails, segments and the decision rule (the
statistics are :mod:`playbook.stats`).

Definitions (DESIGN.md section 5, "experiments"; anchors: GrowthBook's gbstats, Eppo, Statsig):

- **Clean exposures**: a unit exposed to more than one variant of an experiment is left out of
  every metric and counted (GrowthBook removes such units and warns about them).
- **Metrics**: an experiment's rows in ``experiment_metrics`` (goal, secondary, guardrail;
  binary, continuous or ratio; computed per exposed unit from ``events`` by
  :func:`unit_metric_values`); an experiment without rows there has one goal metric, its
  ``primary_metric``, from the ``converted`` or ``value`` column of ``exposures`` (with CUPED when
  every unit has a ``pre_value``).
- **Peek-safe**: running experiments get always-valid (sequential) intervals and p-values
  (``sequential_tuning`` in params); concluded ones fixed-horizon results.
- **Adjustment**: Holm and Benjamini-Hochberg across an experiment's goal and secondary metrics x
  treatment variants; guardrails are not corrected (as GrowthBook does). Decisions use Holm.
- **Direction**: a lower-is-better metric improves when it falls; chance to win and risk follow
  the metric's direction.
- **Decision**: *invalid (SRM)*; *ship* when a variant wins a goal metric (adjusted p below
  ``alpha`` and the interval on the better side of zero) and no guardrail of that variant has its
  interval wholly on the harmful side; *blocked by guardrail* when it would ship but a guardrail
  blocks it; *do not ship* when a goal metric is significantly worse, or a guardrail is; when
  the p-value and the interval disagree the call is *inconclusive* and the note says why; *no
  effect* when every goal interval lies within +/- the MDE; otherwise *inconclusive*, which for a
  running experiment reads *keep running*.
- **Segments**: the goal metric per account segment and plan; a segment's effect is flagged where
  a Welch test of its effect against the rest's (always-valid while the experiment runs),
  Bonferroni-corrected over the segments shown, falls below ``alpha``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from playbook import stats
from playbook.config import ExperimentsParams

SHIP, DO_NOT_SHIP, NO_EFFECT, INCONCLUSIVE, INVALID = "ship", "do not ship", "no effect", "inconclusive", "invalid (SRM)"
BLOCKED, KEEP_RUNNING = "blocked by guardrail", "keep running"
GOAL, SECONDARY, GUARDRAIL = "goal", "secondary", "guardrail"
FIXED, SEQUENTIAL = "fixed horizon", "always-valid"
DECISION_FIELDS = ["experiment_id", "name", "team", "status", "decision", "srm_p", "best_variant", "note", "analysis",
                   "units_excluded", "share_excluded", "unchecked_guardrails", "harmful_variants"]


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


def clean_exposures(exposures: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exposures without the units seen in more than one variant of the same experiment.

    Returns:
        (clean, excluded): ``clean`` keeps one row per unit (its first exposure where a unit has
        repeated rows in one variant); ``excluded`` has per experiment the units before cleaning,
        the units left out and their share.
    """
    columns = ["experiment_id", "units", "units_excluded", "share_excluded"]
    if exposures.empty:
        return exposures, pd.DataFrame(columns=columns)
    variants = exposures.groupby(["experiment_id", "unit_id"], sort=False)["variant"].nunique()
    several = variants[variants > 1]
    keep = ~pd.MultiIndex.from_frame(exposures[["experiment_id", "unit_id"]]).isin(several.index)
    clean = exposures[keep]
    # A unit repeated within its one variant keeps its first exposure, in the rows' own order.
    first = clean.assign(_pos=np.arange(len(clean))).sort_values("exposed_at", kind="stable").drop_duplicates(["experiment_id", "unit_id"])
    clean = clean.iloc[np.sort(first["_pos"].to_numpy())]
    per = variants.groupby(level="experiment_id").agg(units="size", units_excluded=lambda s: int((s > 1).sum())).reset_index()
    per["share_excluded"] = per["units_excluded"] / per["units"]
    return clean, per[columns]


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


# --- Metric definitions and per-unit values -------------------------------------------------

METRIC_COLUMNS = ["experiment_id", "metric", "role", "kind", "event", "denominator_event", "window_days", "higher_is_better", "source"]


def _flag(value: object, default: bool = True) -> bool:
    """A nullable boolean cell: null is ``default``; "false", "0", "no" are false."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return default
    if isinstance(value, str):
        return value.strip().lower() not in {"false", "0", "no", "f", "n"}
    return bool(value)


def metric_definitions(experiments: pd.DataFrame, metrics: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each analysed experiment's metrics: its ``experiment_metrics`` rows (source ``events``), or
    else its ``primary_metric`` as the one goal metric read from ``exposures`` (source ``exposures``)."""
    rows = []
    defined = metrics if metrics is not None and len(metrics) else pd.DataFrame(columns=METRIC_COLUMNS)
    for exp in experiments[experiments["status"] != "proposed"].itertuples():
        mine = defined[defined["experiment_id"] == exp.experiment_id]
        if mine.empty:
            rows.append({"experiment_id": exp.experiment_id, "metric": exp.primary_metric, "role": GOAL, "kind": exp.metric_type,
                         "event": None, "denominator_event": None, "window_days": None, "higher_is_better": True,
                         "source": "exposures"})
            continue
        for m in mine.itertuples():
            window = getattr(m, "window_days", None)
            rows.append({
                "experiment_id": exp.experiment_id, "metric": m.metric, "role": m.role, "kind": m.kind, "event": m.event,
                "denominator_event": getattr(m, "denominator_event", None),
                "window_days": None if window is None or pd.isna(window) else int(window),
                "higher_is_better": _flag(getattr(m, "higher_is_better", None)), "source": "events",
            })
    order = {GOAL: 0, SECONDARY: 1, GUARDRAIL: 2}
    table = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    return table.assign(_order=table["role"].map(order)).sort_values(["experiment_id", "_order"], kind="stable").drop(columns="_order")


_UNIT_METRICS_TEXT = """
    WITH wanted AS (
        SELECT visitor_id, account_id, product, ts, event, feature_id FROM (
            -- Text, whatever a frame of nothing but None was read as (DuckDB reads it as a number).
            SELECT visitor_id, account_id, product, ts, CAST({event} AS VARCHAR) AS event,
                   CAST(feature_id AS VARCHAR) AS feature_id FROM ev WHERE ts >= $first AND ts < $last
        ) WHERE list_contains($names, event) OR list_contains($names, feature_id)
    ),
    hits AS (
        SELECT m.row_id, e.event, e.feature_id, CAST(m.event AS VARCHAR) AS num_event,
               CAST(m.denominator_event AS VARCHAR) AS den_event
        FROM um m JOIN wanted e ON e.visitor_id = m.unit_id AND e.product = m.product AND e.ts >= m.t0 AND e.ts < m.t_end
        WHERE NOT m.by_account
        UNION ALL
        SELECT m.row_id, e.event, e.feature_id, CAST(m.event AS VARCHAR), CAST(m.denominator_event AS VARCHAR)
        FROM um m JOIN wanted e ON e.account_id = m.unit_id AND e.product = m.product AND e.ts >= m.t0 AND e.ts < m.t_end
        WHERE m.by_account
    )
    SELECT row_id,
           count(*) FILTER (WHERE event = num_event OR feature_id = num_event) AS num,
           count(*) FILTER (WHERE event = den_event OR feature_id = den_event) AS den
    FROM hits GROUP BY row_id
"""
# Events without an `event` column (a workspace from before the contract had it) match on feature_id only.
_UNIT_METRICS = {True: _UNIT_METRICS_TEXT.replace("{event}", "event"), False: _UNIT_METRICS_TEXT.replace("{event}", "CAST(NULL AS VARCHAR)")}


def unit_metric_values(events, units: pd.DataFrame, experiments: pd.DataFrame, definitions: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per exposed unit and events-based metric: the numerator and denominator counts, in DuckDB SQL.

    A unit joins ``events`` of its experiment's product on ``visitor_id`` (``unit_type`` visitor or
    null) or ``account_id`` (account); an event row counts for a metric when its ``event`` or its
    ``feature_id`` is the metric's event and it falls in ``[first exposure, first exposure +
    window_days)``, or up to the experiment's end (else the as-of day) without a window. Binary
    metrics are ``num > 0``, continuous ones ``num``, ratios ``num / den`` summed over the arm.

    Args:
        events: a :class:`playbook.health.Events`.
        units: clean exposures (one row per unit).
        experiments: the catalogue (``product``, ``unit_type``, ``end_date``).
        definitions: :func:`metric_definitions`; only rows with source ``events`` are computed.
        as_of: the report's last day.

    Returns:
        experiment_id, metric, unit_id, variant, num, den.
    """
    wanted = definitions[definitions["source"] == "events"]
    out_columns = ["experiment_id", "metric", "unit_id", "variant", "num", "den"]
    if wanted.empty or units.empty:
        return pd.DataFrame(columns=out_columns)
    catalogue = experiments.set_index("experiment_id")
    unit_type = catalogue["unit_type"] if "unit_type" in catalogue else pd.Series(None, index=catalogue.index, dtype=object)
    first = units.groupby(["experiment_id", "unit_id", "variant"], as_index=False)["exposed_at"].min()
    frame = first.merge(wanted, on="experiment_id")
    if frame.empty:
        return pd.DataFrame(columns=out_columns)
    # Times as naive UTC (the workspace's convention; DuckDB's session time zone is UTC).
    t0 = pd.to_datetime(frame["exposed_at"], utc=True).dt.tz_localize(None)
    # Without a window a metric counts to the experiment's end; a running one (perhaps past its
    # planned end) to the as-of day. Nothing after the as-of day ever counts (no look-ahead).
    cutoff = pd.Timestamp(as_of).tz_localize(None) + pd.Timedelta(days=1)
    end = pd.to_datetime(frame["experiment_id"].map(catalogue["end_date"]), utc=True).dt.tz_localize(None) + pd.Timedelta(days=1)
    running = frame["experiment_id"].map(catalogue["status"]).eq("running").to_numpy()
    end = end.where(~running & end.notna(), cutoff).clip(upper=cutoff)
    windowed = (t0 + pd.to_timedelta(frame["window_days"].astype(float).clip(upper=3650), unit="D")).clip(upper=cutoff)
    um = pd.DataFrame({
        "row_id": np.arange(len(frame)),
        "unit_id": frame["unit_id"].astype(str),
        "product": frame["experiment_id"].map(catalogue["product"]).astype(str),
        "by_account": frame["experiment_id"].map(unit_type).eq("account").to_numpy(),
        "t0": t0, "t_end": windowed.where(frame["window_days"].notna(), end),
        "event": frame["event"].astype(str), "denominator_event": pd.Series([None if pd.isna(e) else str(e) for e in frame["denominator_event"]], dtype=object),
    })
    names = sorted(set(um["event"]) | {e for e in um["denominator_event"] if e is not None})
    counts = events.query(_UNIT_METRICS["event" in events.relation.columns], tables={"um": um}, names=names,
                          first=um["t0"].min(), last=um["t_end"].max())
    merged = um[["row_id"]].merge(counts, on="row_id", how="left").fillna({"num": 0, "den": 0})
    return pd.DataFrame({
        "experiment_id": frame["experiment_id"].to_numpy(), "metric": frame["metric"].to_numpy(), "unit_id": frame["unit_id"].to_numpy(),
        "variant": frame["variant"].to_numpy(), "num": merged["num"].to_numpy(dtype=float), "den": merged["den"].to_numpy(dtype=float),
    })


def unit_accounts(events, units: pd.DataFrame, experiments: pd.DataFrame) -> pd.DataFrame:
    """The account of each exposed unit: the unit itself for account experiments, else the account of
    the visitor's earliest event. Units without events have no account (no segment)."""
    if units.empty:
        return pd.DataFrame(columns=["experiment_id", "unit_id", "account_id"])
    kind = units["experiment_id"].map(experiments.set_index("experiment_id").get("unit_type", pd.Series(dtype=object)))
    by_account = units[kind.eq("account").to_numpy()]
    visitors = units.loc[~kind.eq("account").to_numpy(), ["experiment_id", "unit_id"]]
    found = pd.DataFrame(columns=["visitor_id", "account_id"])
    if len(visitors) and events is not None:
        ids = pd.DataFrame({"visitor_id": visitors["unit_id"].astype(str).unique()})
        found = events.query(
            "SELECT e.visitor_id, arg_min(e.account_id, e.ts) AS account_id FROM ev e JOIN ids USING (visitor_id) GROUP BY e.visitor_id",
            tables={"ids": ids},
        )
    mapped = visitors.merge(found, left_on="unit_id", right_on="visitor_id", how="inner")[["experiment_id", "unit_id", "account_id"]]
    own = by_account.assign(account_id=by_account["unit_id"])[["experiment_id", "unit_id", "account_id"]]
    return pd.concat([own, mapped], ignore_index=True)


# --- Comparing arms -------------------------------------------------------------------------


def _unit_values(definition: pd.Series, exposures: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """One metric's per-unit frame: unit_id, variant, x (and pre, num, den where they apply)."""
    if definition["source"] == "exposures":
        mine = exposures[exposures["experiment_id"] == definition["experiment_id"]]
        x = mine["converted"] if definition["kind"] == "binary" else mine["value"]
        return pd.DataFrame({"unit_id": mine["unit_id"], "variant": mine["variant"], "x": x, "pre": mine["pre_value"]})
    mine = values[(values["experiment_id"] == definition["experiment_id"]) & (values["metric"] == definition["metric"])]
    # Only the units the analysis keeps (clean, exposed by the as-of day), whatever ``values`` holds.
    kept = exposures.loc[exposures["experiment_id"] == definition["experiment_id"], ["unit_id", "variant"]]
    mine = mine.merge(kept, on=["unit_id", "variant"])
    x = (mine["num"] > 0).astype(float) if definition["kind"] == "binary" else mine["num"].astype(float)
    return pd.DataFrame({"unit_id": mine["unit_id"], "variant": mine["variant"], "x": x, "pre": np.nan, "num": mine["num"], "den": mine["den"]})


def compare_arms(kind: str, control: pd.DataFrame, treatment: pd.DataFrame, confidence: float, tuning: float | None) -> stats.Comparison:
    """Treatment against control on per-unit frames from :func:`_unit_values`.

    Binary: two proportions (rows without a value count as not converted, as in the contract);
    continuous: Welch's test on the units with a value (CUPED when every unit has ``pre``);
    ratio: the delta method on the arms' sums.
    """
    if kind == "binary":
        return stats.compare_proportions(int(control["x"].fillna(0).sum()), len(control), int(treatment["x"].fillna(0).sum()),
                                         len(treatment), confidence, sequential_tuning=tuning)
    if kind == "ratio":
        return stats.compare_ratios(stats.RatioArm.from_units(control["num"], control["den"]),
                                    stats.RatioArm.from_units(treatment["num"], treatment["den"]), confidence, sequential_tuning=tuning)
    if control["pre"].notna().all() and treatment["pre"].notna().all() and len(control) and len(treatment):
        return stats.compare_means_cuped(control["x"], control["pre"], treatment["x"], treatment["pre"], confidence, sequential_tuning=tuning)
    # Units counted as in the contract's exposures (every row), their mean and sd over the values present.
    return stats.compare_means(float(control["x"].mean()), float(control["x"].std()), len(control), float(treatment["x"].mean()),
                               float(treatment["x"].std()), len(treatment), confidence, sequential_tuning=tuning)


def show_value(value: float, kind: str) -> str:
    """A rate as a percentage, a mean or a ratio with two decimals."""
    return f"{value:.2%}" if kind == "binary" else f"{value:,.2f}"


def _row(base: dict, definition: pd.Series, variant: str, n_c: int, n_t: int, result: stats.Comparison, srm_p: float, mde: float) -> dict:
    higher = bool(definition["higher_is_better"])
    keep_control, ship = result.risk
    return {
        **base, "variant": variant, "metric": definition["metric"], "metric_type": definition["kind"], "role": definition["role"],
        "higher_is_better": higher, "source": definition["source"],
        "control_units": n_c, "units": n_t,
        "control": result.control, "treatment": result.treatment, "abs_lift": result.abs_lift,
        "control_shown": show_value(result.control, definition["kind"]), "treatment_shown": show_value(result.treatment, definition["kind"]),
        "abs_low": result.abs_ci[0], "abs_high": result.abs_ci[1], "rel_lift": result.rel_lift,
        # A metric cannot fall by more than all of it: the delta-method interval is cut at -100%.
        "rel_low": max(result.rel_ci[0], -1.0), "rel_high": result.rel_ci[1], "p_value": result.p_value,
        "fixed_p": result.fixed_p_value, "analysis": SEQUENTIAL if result.sequential else FIXED,
        "interval": f"{max(result.rel_ci[0], -1.0):+.1%} to {result.rel_ci[1]:+.1%}",
        # Chance to win and risk in the metric's own direction: for a lower-is-better metric a fall wins.
        "chance_to_win": result.chance_to_win if higher else 1 - result.chance_to_win,
        "risk_control": keep_control if higher else ship, "risk_ship": ship if higher else keep_control,
        "cuped": result.theta is not None, "variance_reduction": result.variance_reduction, "srm_p": srm_p, "mde": mde,
        "se_abs": result.se_abs,
    }


@dataclass(frozen=True)
class Analysis:
    """Everything :func:`analyse_all` computes.

    Attributes:
        results: per experiment x metric x treatment variant.
        decisions: one row per analysed experiment (``DECISION_FIELDS``).
        excluded: per experiment, the units seen in more than one variant (left out).
        segments: the goal metric per segment and plan, with the Bonferroni-corrected test of each
            segment's effect against the rest's.
        definitions: the metrics analysed (:func:`metric_definitions`).
    """

    results: pd.DataFrame
    decisions: pd.DataFrame
    excluded: pd.DataFrame
    segments: pd.DataFrame
    definitions: pd.DataFrame


def analyse(experiments: pd.DataFrame, exposures: pd.DataFrame, params: ExperimentsParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Results per (experiment, treatment variant) and one decision per experiment, from exposures
    alone (see :func:`analyse_all` for metrics from events and segments)."""
    analysis = analyse_all(experiments, exposures, params)
    return analysis.results, analysis.decisions


def analyse_all(
    experiments: pd.DataFrame, exposures: pd.DataFrame, params: ExperimentsParams, metrics: pd.DataFrame | None = None,
    values: pd.DataFrame | None = None, accounts: pd.DataFrame | None = None, unit_account: pd.DataFrame | None = None,
    events=None, as_of: pd.Timestamp | None = None,
) -> Analysis:
    """Results, decisions, exclusions and segments of every experiment that has started.

    Args:
        experiments: the catalogue.
        exposures: unit-level exposures (a unit may have a row per variant; such units are excluded).
        params: the area's parameters.
        metrics: ``experiment_metrics`` rows (optional).
        values: :func:`unit_metric_values` of the clean exposures; computed here from ``events``
            when not given (needed when ``metrics`` has rows).
        accounts: ``accounts`` (segment, plan) for the segment breakdown (optional).
        unit_account: :func:`unit_accounts`; computed here from ``events`` when not given.
        events: a :class:`playbook.health.Events` to compute ``values`` and ``unit_account`` from.
        as_of: the report's last day (events after it never count).
    """
    clean, excluded = clean_exposures(exposures)
    definitions = metric_definitions(experiments, metrics)
    if events is not None and values is None:
        values = unit_metric_values(events, clean, experiments, definitions, as_of)
    if events is not None and accounts is not None and unit_account is None:
        unit_account = unit_accounts(events, clean, experiments)
    values = values if values is not None else pd.DataFrame(columns=["experiment_id", "metric", "unit_id", "variant", "num", "den"])
    counts = variant_stats(clean)
    dropped = excluded.set_index("experiment_id") if len(excluded) else None
    rows, decisions, segment_rows = [], [], []
    for exp in experiments[experiments["status"] != "proposed"].itertuples():
        mine = counts[counts["experiment_id"] == exp.experiment_id].set_index("variant")
        control_name = exp.control_variant if isinstance(exp.control_variant, str) and exp.control_variant else "control"
        running = exp.status == "running"
        tuning = params.sequential_tuning if running else None
        out = int(dropped.loc[exp.experiment_id, "units_excluded"]) if dropped is not None and exp.experiment_id in dropped.index else 0
        share = float(dropped.loc[exp.experiment_id, "share_excluded"]) if out else 0.0
        base = {"experiment_id": exp.experiment_id, "name": exp.name, "team": exp.team, "status": exp.status}
        extra = {"analysis": SEQUENTIAL if running else FIXED, "units_excluded": out, "share_excluded": share}
        if control_name not in mine.index or len(mine) < 2:
            left = " once the units seen in more than one variant are left out" if out else ""
            decisions.append({**base, **extra, "decision": INCONCLUSIVE, "srm_p": math.nan, "best_variant": None,
                              "note": f"no exposures for the control '{control_name}' and a treatment{left}"})
            continue
        mine_defs = definitions[definitions["experiment_id"] == exp.experiment_id]
        if not (mine_defs["role"] == GOAL).any():
            decisions.append({**base, **extra, "decision": INCONCLUSIVE, "srm_p": math.nan, "best_variant": None,
                              "note": "no goal metric: its experiment_metrics rows are secondary or guardrail only; add the goal"})
            continue
        weights = parse_split(exp.split, list(mine.index), exp.experiment_id)
        unknown = [v for v in mine.index if v not in weights]
        srm_p = stats.srm_pvalue([int(mine.loc[v, "units"]) for v in mine.index], [weights.get(v, 0.0) for v in mine.index]) if not unknown else math.nan
        variant_rows, failure, unchecked = [], None, []
        for _, definition in mine_defs.iterrows():
            per_unit = _unit_values(definition, clean, values)
            control = per_unit[per_unit["variant"] == control_name]
            for variant in [v for v in mine.index if v != control_name]:
                treatment = per_unit[per_unit["variant"] == variant]
                try:
                    result = compare_arms(definition["kind"], control, treatment, params.confidence, tuning)
                except ValueError as err:
                    reason = _why_not(definition, control, treatment, err)
                    if definition["role"] == GOAL:
                        failure = reason
                        break
                    # A guardrail or secondary metric that cannot be compared is said, never dropped silently.
                    unchecked.append({"variant": variant, "metric": definition["metric"], "role": definition["role"], "reason": reason})
                    continue
                variant_rows.append(_row(base, definition, variant, len(control), len(treatment), result, srm_p, exp.mde))
            if failure:
                break
        if failure or not variant_rows:
            decisions.append({**base, **extra, "decision": INCONCLUSIVE, "srm_p": srm_p, "best_variant": None,
                              "note": failure or "no treatment variant"})
            continue
        _adjust(variant_rows)
        rows += variant_rows
        decision, best, note = _decide(variant_rows, srm_p, exp.mde, unknown, params, running=running, unchecked=unchecked)
        # Nothing harmful or unchecked is left out of the note, whatever the call rests on.
        blind = list(dict.fromkeys(u["reason"] for u in unchecked if u["role"] == GUARDRAIL))
        skipped = [u["reason"] for u in unchecked if u["role"] != GUARDRAIL or not note.startswith("cannot ship before")]
        harmed = [] if decision in (DO_NOT_SHIP, BLOCKED, INVALID) else _harmed_variants(variant_rows, params, best)
        if harmed:
            note = "; ".join([*([note] if note else []), *(f"do not ship {v}: {'guardrail ' if r.get('role') == GUARDRAIL else ''}{_metric_change(r)}" for v, r in harmed)])
        if skipped:
            note = "; ".join([*([note] if note else []), "not compared: " + "; ".join(dict.fromkeys(skipped))])
        extra = {**extra, "unchecked_guardrails": "; ".join(blind), "harmful_variants": ", ".join(v for v, _ in harmed)}
        decisions.append({**base, **extra, "decision": decision, "srm_p": srm_p, "best_variant": best, "note": note})
        if accounts is not None and unit_account is not None and decision != INVALID:
            goal = definitions[(definitions["experiment_id"] == exp.experiment_id) & (definitions["role"] == GOAL)]
            if len(goal):
                segment_rows += _segments(base, goal.iloc[0], clean, values, accounts, unit_account, control_name,
                                          [r for r in variant_rows if r["metric"] == goal.iloc[0]["metric"]], params, tuning)
    return Analysis(
        results=pd.DataFrame(rows),
        decisions=pd.DataFrame(decisions, columns=DECISION_FIELDS),
        excluded=excluded[excluded["units_excluded"] > 0].reset_index(drop=True) if len(excluded) else excluded,
        segments=pd.DataFrame(segment_rows, columns=SEGMENT_FIELDS),
        definitions=definitions,
    )


def _adjust(rows: list[dict]) -> None:
    """Holm and BH across the goal and secondary rows; guardrails keep their own p-value."""
    tested = [r for r in rows if r["role"] != GUARDRAIL]
    holm = stats.adjust_pvalues([r["p_value"] for r in tested], "holm")
    bh = stats.adjust_pvalues([r["p_value"] for r in tested], "bh")
    for row, h, b in zip(tested, holm, bh):
        row.update(p_holm=h, p_bh=b)
    for row in rows:
        if row["role"] == GUARDRAIL:
            row.update(p_holm=row["p_value"], p_bh=row["p_value"])


def better(row: dict) -> bool:
    """The interval lies wholly on the metric's better side of zero."""
    return row["rel_low"] > 0 if row.get("higher_is_better", True) else row["rel_high"] < 0


def worse(row: dict) -> bool:
    """The interval lies wholly on the metric's harmful side of zero."""
    return row["rel_high"] < 0 if row.get("higher_is_better", True) else row["rel_low"] > 0


def _why_not(definition: pd.Series, control: pd.DataFrame, treatment: pd.DataFrame, err: ValueError) -> str:
    """Why a metric could not be compared, in words: no matching events is the usual reason."""
    words = str(definition["metric"]).replace("_", " ")
    if definition["source"] == "events":
        seen = {arm: int((frame["num"] > 0).sum()) for arm, frame in (("control", control), ("variant", treatment))}
        if not any(seen.values()):
            return f"{words}: no events named '{definition['event']}' for its units in the window"
        if not seen["control"]:
            return f"{words}: only the variant has any '{definition['event']}' events ({seen['variant']:,} units), so no relative change exists"
    return f"{words}: {err}"


def _decide(rows: list[dict], srm_p: float, mde: float, unknown: list[str], params: ExperimentsParams, running: bool = False,
            unchecked: list[dict] | None = None) -> tuple[str, str | None, str]:
    if unknown:
        return INVALID, None, f"variants not in the planned split: {', '.join(unknown)}"
    if srm_p < params.srm_threshold:
        shown = "< 0.0001" if srm_p < 0.0001 else f"= {srm_p:.4f}"
        return INVALID, None, f"units per variant are off the planned split (SRM p {shown})"
    unchecked = unchecked or []
    goals = [r for r in rows if r.get("role", GOAL) == GOAL]
    guards = [r for r in rows if r.get("role", GOAL) == GUARDRAIL]
    # One test per call (DESIGN §5): the adjusted p-value below alpha AND the reported interval on
    # the same side of zero; near the edge one can clear zero while the other does not.
    worse_goals = [r for r in goals if r["p_holm"] < params.alpha and worse(r)]
    worse_guards = [g for g in guards if worse(g)]
    harmed = {r["variant"] for r in worse_goals + worse_guards}
    blind = {u["variant"] for u in unchecked if u["role"] == GUARDRAIL}
    winners = [r for r in goals if r["p_holm"] < params.alpha and better(r)]
    clear = [w for w in winners if w["variant"] not in harmed | blind]
    if clear:
        best = max(clear, key=lambda r: abs(r["rel_lift"]))["variant"]
        return SHIP, best, ""
    if worse_goals:
        several = len({r.get("metric") for r in goals}) > 1
        return DO_NOT_SHIP, None, "significantly worse than control" + (" on " + ", ".join(_metric_change(r) for r in worse_goals) if several else "")
    if winners:
        best = max(winners, key=lambda r: abs(r["rel_lift"]))
        hurt = [g for g in worse_guards if g["variant"] == best["variant"]]
        if hurt:
            return BLOCKED, best["variant"], "blocked by guardrail " + ", ".join(_metric_change(g) for g in hurt)
        missing = [u["reason"] for u in unchecked if u["role"] == GUARDRAIL and u["variant"] == best["variant"]]
        return (KEEP_RUNNING if running else INCONCLUSIVE), None, "cannot ship before every guardrail is checked: guardrail " + "; guardrail ".join(missing)
    if worse_guards:
        return DO_NOT_SHIP, None, "guardrail got worse: " + ", ".join(_metric_change(g) for g in worse_guards)
    verdict = KEEP_RUNNING if running else INCONCLUSIVE
    if any(r["p_holm"] < params.alpha for r in goals):
        return verdict, None, "too close to call: the p-value clears the threshold but the interval includes no change"
    if any(better(r) or worse(r) for r in goals):
        # The other disagreement: the interval clears zero, the p-value adjusted across the metrics does not.
        r = next(r for r in goals if better(r) or worse(r))
        tested = sum(1 for x in rows if x.get("role", GOAL) != GUARDRAIL)
        adjusted = f" adjusted over {tested} tests" if tested > 1 else ""
        return verdict, None, (f"too close to call: the interval clears zero but the p-value{adjusted} "
                               f"({r['p_holm']:.3f}) does not clear {params.alpha:g}")
    margin = mde if isinstance(mde, float) and not math.isnan(mde) else params.default_mde
    if all(-margin < r["rel_low"] and r["rel_high"] < margin for r in goals):
        return NO_EFFECT, None, f"the interval rules out effects of {margin:.0%} or more"
    if running:
        return KEEP_RUNNING, None, "the always-valid interval still includes no change"
    return INCONCLUSIVE, None, "too few units to tell"


def harms(row, alpha: float) -> bool:
    """A goal significantly worse (adjusted p below ``alpha``, interval on the harmful side) or a
    guardrail whose interval lies wholly on the harmful side; a secondary metric never harms."""
    role = row.get("role", GOAL)
    return role != SECONDARY and worse(row) and (role == GUARDRAIL or row["p_holm"] < alpha)


def _harmed_variants(rows: list[dict], params: ExperimentsParams, best: str | None) -> list[tuple[str, dict]]:
    """Variants other than ``best`` that :func:`harms`, each with its worst such row (the largest
    relative change)."""
    found: dict[str, dict] = {}
    for r in rows:
        if r["variant"] == best or not harms(r, params.alpha):
            continue
        if r["variant"] not in found or abs(r["rel_lift"]) > abs(found[r["variant"]]["rel_lift"]):
            found[r["variant"]] = r
    return sorted(found.items())


def _metric_change(row: dict) -> str:
    words = str(row["metric"]).replace("_", " ")
    return f"{words} {row['rel_lift']:+.1%} (interval {row['interval']})"


# --- Segments -------------------------------------------------------------------------------

SEGMENT_FIELDS = ["experiment_id", "name", "team", "status", "variant", "metric", "metric_type", "higher_is_better", "dimension", "segment",
                  "control_units", "units", "control", "treatment", "rel_lift", "rel_low", "rel_high", "interval", "rest_rel_lift",
                  "p_difference", "p_bonferroni", "shown", "differs", "opposite"]


def _segments(base: dict, goal: pd.Series, clean: pd.DataFrame, values: pd.DataFrame, accounts: pd.DataFrame, unit_account: pd.DataFrame,
              control_name: str, overall: list[dict], params: ExperimentsParams, tuning: float | None) -> list[dict]:
    """The goal metric per account segment and plan, each segment's effect tested against the rest's."""
    from scipy.stats import t as t_dist

    per_unit = _unit_values(goal, clean, values)
    mapped = unit_account[unit_account["experiment_id"] == goal["experiment_id"]][["unit_id", "account_id"]]
    per_unit = per_unit.merge(mapped, on="unit_id", how="inner").merge(accounts[["account_id", "segment", "plan"]], on="account_id", how="left")
    if per_unit.empty:
        return []
    rows = []
    for variant_row in overall:
        variant = variant_row["variant"]
        arms = per_unit[per_unit["variant"].isin([control_name, variant])]
        candidates, seen = [], set()
        for dimension in ("segment", "plan"):
            for value, inside in arms.groupby(dimension, sort=True):
                # A plan holding exactly a segment's units (enterprise, say) is the same test: shown once.
                units = frozenset(inside["unit_id"])
                if units in seen:
                    continue
                seen.add(units)
                rest = arms[arms[dimension] != value]
                parts = [inside[inside["variant"] == control_name], inside[inside["variant"] == variant],
                         rest[rest["variant"] == control_name], rest[rest["variant"] == variant]]
                if min(len(p) for p in parts) < params.segment_min_units:
                    continue
                try:
                    seg = compare_arms(goal["kind"], parts[0], parts[1], params.confidence, tuning)
                    other = compare_arms(goal["kind"], parts[2], parts[3], params.confidence, tuning)
                except ValueError:
                    continue
                candidates.append((dimension, str(value), parts, seg, other))
        shown = len(candidates)
        for dimension, value, parts, seg, other in candidates:
            # Welch's test of the segment's absolute effect against the rest's (unequal variances,
            # Welch-Satterthwaite degrees of freedom from each side's units), Bonferroni over the shown.
            se = math.hypot(seg.se_abs, other.se_abs)
            df_seg, df_rest = len(parts[0]) + len(parts[1]) - 2, len(parts[2]) + len(parts[3]) - 2
            df = se**4 / (seg.se_abs**4 / df_seg + other.se_abs**4 / df_rest) if se > 0 else math.inf
            p = 1.0 if se == 0 else float(2 * t_dist.sf(abs(seg.abs_lift - other.abs_lift) / se, df))
            if tuning is not None:
                # A running experiment: the difference is judged peek-safe too, with the always-valid p.
                p = stats.sequential_p_value(seg.abs_lift - other.abs_lift, se, df_seg + df_rest + 4, params.confidence, tuning)
            bonferroni = min(1.0, p * shown)
            differs = bonferroni < params.alpha
            rows.append({
                **base, "variant": variant, "metric": goal["metric"], "metric_type": goal["kind"], "higher_is_better": bool(goal["higher_is_better"]),
                "dimension": dimension, "segment": value, "control_units": len(parts[0]), "units": len(parts[1]),
                "control": seg.control, "treatment": seg.treatment, "rel_lift": seg.rel_lift, "rel_low": max(seg.rel_ci[0], -1.0),
                "rel_high": seg.rel_ci[1], "interval": f"{max(seg.rel_ci[0], -1.0):+.1%} to {seg.rel_ci[1]:+.1%}",
                "rest_rel_lift": other.rel_lift, "p_difference": p, "p_bonferroni": bonferroni, "shown": shown, "differs": differs,
                "opposite": differs and (seg.rel_lift > 0) != (other.rel_lift > 0) and seg.rel_lift != 0,
            })
    return rows
