"""Experimentation: did the experiments succeed, and which proposed ones are worth running.

Definitions (DESIGN.md section 5, "experiments"; anchors: GrowthBook's gbstats, PostHog
experiments, statsmodels). The statistics themselves live in :mod:`playbook.stats`.

- Results and decisions per experiment (comparisons, SRM, Holm, the decision rule):
  :mod:`playbook.experiment_analysis`.
- Backlog: ICE = impact x confidence x ease; units per variant for the MDE at alpha 0.05 and
  power 0.8 (:func:`playbook.stats.sample_size_per_variant`) from the team's baseline conversion
  of the experiment's own team (its experiments' control rate on the same metric, else any, else
  ``default_baseline``); days = units x variants / daily traffic, traffic being the average
  daily visitors of the experiment's own product from ``events`` where present, else the units
  its experiments exposed per day. The same in a team's report and the organisation's. Feasible
  when the days fit in ``max_days``.
- Portfolio: win rate of concluded experiments, median days from start to end, and running
  experiments past their planned end.
- A result that significantly hurt its metric (*do not ship*) is always an action: medium once
  concluded (keep it from being rolled out), high while still running (stop it).
- Sentences give metric keys as words and spell out SRM, MDE and CUPED where first used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from playbook import health, stats
from playbook.config import ExperimentsParams
from playbook.period import Period
from playbook.figures import Action, AreaResult, Figure, Severity
from playbook.experiment_analysis import DO_NOT_SHIP, INVALID, NO_EFFECT, SHIP, analyse, parse_split
from playbook.views import count_words, figure_value, with_article

if TYPE_CHECKING:
    from playbook.context import ReportContext



def team_baseline(experiments: pd.DataFrame, results: pd.DataFrame, metric: str, default: float, team: str | None = None) -> float:
    """The control conversion of ``team``'s experiments on ``metric``, else on any binary metric, else
    ``default`` (only the experiment's own team counts, so the figure is the same in every report)."""
    if team is not None and len(results):
        results = results[results["experiment_id"].isin(experiments.loc[experiments["team"] == team, "experiment_id"])]
    binary = results[results["metric_type"] == "binary"] if len(results) else results
    for subset in (binary[binary["metric"] == metric] if len(binary) else binary, binary):
        if len(subset):
            return float(subset["control"].mean())
    return default


def traffic_per_day(
    daily_visitors: dict[str, float], experiments: pd.DataFrame, exposures: pd.DataFrame, period: Period
) -> dict[str, tuple[float, str]]:
    """Units a day each product can put into an experiment, and where the figure comes from: its
    average daily visitors (events), else the units exposed to its experiments per day in the period."""
    recent = exposures[period.mask(exposures["exposed_at"])]
    exposed = recent.merge(experiments[["experiment_id", "product"]], on="experiment_id").groupby("product").size()
    traffic = {}
    for product in experiments["product"].unique():
        if daily_visitors.get(product, 0) > 0:
            traffic[product] = (float(daily_visitors[product]), "average daily visitors of its product, from events")
        elif exposed.get(product, 0) > 0:
            traffic[product] = (exposed[product] / period.days, "units exposed to its experiments per day in the period, from exposures")
        else:
            traffic[product] = (math.nan, "no traffic data")
    return traffic


def backlog(experiments: pd.DataFrame, results: pd.DataFrame, traffic: dict[str, tuple[float, str]], params: ExperimentsParams) -> pd.DataFrame:
    """Proposed experiments ranked by ICE, with the units and days each needs at its own product's
    traffic and its own team's baseline, and whether it fits."""
    proposed = experiments[experiments["status"] == "proposed"]
    rows = []
    for exp in proposed.itertuples():
        ice = exp.impact * exp.confidence * exp.ease
        variants = max(len(parse_split(exp.split, ["control", "treatment"], exp.experiment_id)), 2)
        mde = exp.mde if not pd.isna(exp.mde) else params.default_mde
        baseline = team_baseline(experiments, results, exp.primary_metric, params.default_baseline, exp.team)
        per_day, source = traffic.get(exp.product, (math.nan, "no traffic data"))
        note = ""
        try:
            n = stats.sample_size_per_variant(baseline, mde) if exp.metric_type == "binary" else None
        except ValueError as err:
            n, note = None, str(err)
        if exp.metric_type != "binary":
            note = "continuous metric: needs a standard deviation to size"
        days = math.ceil(n * variants / per_day) if n and per_day and not math.isnan(per_day) else None
        rows.append({
            "experiment_id": exp.experiment_id, "name": exp.name, "product": exp.product, "metric": exp.primary_metric, "ice": ice,
            "baseline": baseline, "mde": mde, "units_per_variant": n, "variants": variants, "traffic": per_day,
            "traffic_source": source, "days_needed": days,
            "feasible": None if days is None else days <= params.max_days,
            "fits": "unknown" if days is None else ("yes" if days <= params.max_days else "no"), "note": note,
        })
    table = pd.DataFrame(rows, columns=["experiment_id", "name", "product", "metric", "ice", "baseline", "mde", "units_per_variant",
                                        "variants", "traffic", "traffic_source", "days_needed", "feasible", "fits", "note"])
    return table.sort_values(["ice", "experiment_id"], ascending=[False, True], ignore_index=True)


def portfolio(experiments: pd.DataFrame, decisions: pd.DataFrame, as_of: date) -> dict[str, object]:
    """Win rate and time to decision of concluded experiments, and running ones past their planned end."""
    concluded = experiments[experiments["status"] == "concluded"]
    done = decisions[decisions["status"] == "concluded"]
    days = (concluded["end_date"] - concluded["start_date"]).dt.days.dropna()
    running = experiments[experiments["status"] == "running"]
    overdue = running[running["end_date"].notna() & (running["end_date"] < pd.Timestamp(as_of))]
    overdue = overdue.assign(days_over=(pd.Timestamp(as_of) - overdue["end_date"]).dt.days)[["experiment_id", "name", "end_date", "days_over"]]
    return {
        "concluded": len(done),
        "wins": int((done["decision"] == SHIP).sum()),
        "win_rate": float((done["decision"] == SHIP).mean()) if len(done) else math.nan,
        "median_days_to_decision": float(days.median()) if len(days) else math.nan,
        "running": len(running),
        "proposed": int((experiments["status"] == "proposed").sum()),
        "overdue": overdue.reset_index(drop=True),
    }


@dataclass(frozen=True)
class ExperimentsReport:
    """Everything the experiments notebook shows for one team, computed once."""

    results: pd.DataFrame
    decisions: pd.DataFrame
    backlog: pd.DataFrame
    portfolio: dict[str, object]
    traffic: dict[str, tuple[float, str]]
    win_rate_before: float = math.nan
    result: AreaResult | None = None


def build_report(
    experiments: pd.DataFrame, exposures: pd.DataFrame, daily_visitors: dict[str, float], params: ExperimentsParams, period: Period
) -> ExperimentsReport:
    """Compute the experiments area for one team.

    Args:
        experiments: the team's experiments.
        exposures: their exposures.
        daily_visitors: average daily visitors per product (from events; empty without events).
        params: the area's parameters.
        period: the reporting period (as-of date = its end).
    """
    results, decisions = analyse(experiments, exposures, params)
    traffic = traffic_per_day(daily_visitors, experiments, exposures, period)
    # The win rate as it stood at the end of the previous period: experiments concluded by then.
    ended_before = experiments[(experiments["status"] == "concluded") & (experiments["end_date"] <= pd.Timestamp(period.previous().end))]
    before = portfolio(ended_before, decisions[decisions["experiment_id"].isin(ended_before["experiment_id"])], period.previous().end)
    report = ExperimentsReport(
        results=results,
        decisions=decisions,
        backlog=backlog(experiments, results, traffic, params),
        portfolio=portfolio(experiments, decisions, period.end),
        traffic=traffic,
        win_rate_before=before["win_rate"],
    )
    return replace(report, result=summarise(report, params))


def _p(value: float) -> str:
    return "< 0.0001" if value < 0.0001 else f"= {value:.4f}"


def _pct(value: float, digits: int = 1) -> str:
    return f"{100 * value:+.{digits}f}%"


ACRONYMS = {"api", "sdk", "nps", "ui", "csv"}
# What each abbreviation stands for, said where a summary first uses it.
TERMS = {
    "MDE": "MDE, the minimum detectable effect it was sized for",
    "CUPED": "CUPED, which adjusts each unit's metric by its own pre-period value",
}


def metric_words(key: object, capital: bool = True) -> str:
    """A metric's key as words: ``report_saved`` -> "Report saved" (in a sentence, ``capital=False``:
    "report saved"), ``api_calls_per_week`` -> "API calls per week"."""
    words = [w.upper() if w.lower() in ACRONYMS else w for w in str(key).replace("-", "_").split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:] if capital else text


class _Terms:
    """Spells out an abbreviation the first time a summary uses it, and only the first time."""

    def __init__(self) -> None:
        self.said: set[str] = set()

    def __call__(self, abbreviation: str) -> str:
        if abbreviation in self.said:
            return abbreviation
        self.said.add(abbreviation)
        return f"{abbreviation} ({TERMS[abbreviation].split(', ', 1)[1]})"


def summarise(report: ExperimentsReport, params: ExperimentsParams) -> AreaResult:
    """The figures (to ship, win rate) and the actions: invalid, ship, no effect, infeasible, overdue."""
    p = report.portfolio
    to_ship = int((report.decisions["decision"] == SHIP).sum()) if len(report.decisions) else 0
    figures = {
        "to_ship": Figure("to_ship", "to ship", to_ship, "count", rows=len(report.decisions)),
        "win_rate": Figure("win_rate", "win rate", None if math.isnan(p["win_rate"]) else p["win_rate"], "percent",
                           previous=None if math.isnan(report.win_rate_before) else report.win_rate_before, good="up",
                           rows=p["concluded"]),
    }
    harmful = int((report.decisions["decision"] == DO_NOT_SHIP).sum()) if len(report.decisions) else 0
    figures["harmful"] = Figure("harmful", "experiments hurt their metric", harmful, "count", good="down", rows=len(report.decisions))
    actions: list[Action] = []
    notes: list[str] = []
    results = report.results
    level = f"{params.confidence:.0%}"
    term = _Terms()
    for d in report.decisions.itertuples():
        if d.decision == INVALID:
            reason = d.note.removesuffix("; interim result").replace("(SRM p", "(a sample ratio mismatch, SRM p")
            actions.append(Action("experiments.invalid", d.experiment_id, Severity.HIGH,
                                  f"{d.name} ({d.experiment_id}) is invalid: {reason}; do not read its results until the split is fixed."))
    for d in report.decisions.itertuples():
        if d.decision == DO_NOT_SHIP:
            # A result that hurt its metric always reaches the summary: still running, it is hurting now.
            # The variant that significantly hurt (the decision's reason), not merely the lowest lift.
            arms = results[results["experiment_id"] == d.experiment_id]
            hurt = arms[(arms["p_holm"] < params.alpha) & (arms["rel_high"] < 0)]
            worst = (hurt if len(hurt) else arms).sort_values("rel_lift").iloc[0]
            variant = f" (variant {worst['variant']})" if len(arms) > 1 else ""
            fmt = (lambda v: f"{v:.1%}") if worst["metric_type"] == "binary" else (lambda v: f"{v:,.2f}")
            running = d.status == "running"
            actions.append(Action(
                "experiments.harmful", d.experiment_id, Severity.HIGH if running else Severity.MEDIUM, figures=("harmful",), text=
                f"Do not ship {d.name} ({d.experiment_id}){variant}: it hurt {metric_words(worst['metric'], False)}, which went from "
                f"{fmt(worst['control'])} to {fmt(worst['treatment'])}, {_pct(worst['rel_lift'])} relative ({level} interval "
                f"{_pct(worst['rel_low'])} to {_pct(worst['rel_high'])}), p {_p(worst['p_holm'])}"
                + ("; it is still running, so stop it now." if running else "; make sure the change is not rolled out."),
            ))
    for d in report.decisions.itertuples():
        if d.decision == SHIP:
            r = results[(results["experiment_id"] == d.experiment_id) & (results["variant"] == d.best_variant)].iloc[0]
            fmt = (lambda v: f"{v:.1%}") if r["metric_type"] == "binary" else (lambda v: f"{v:,.2f}")
            actions.append(Action(
                "experiments.ship", d.experiment_id, Severity.MEDIUM,
                f"Ship {d.name} ({d.experiment_id}): {metric_words(r['metric'], False)} went from {fmt(r['control'])} to {fmt(r['treatment'])}, "
                f"{_pct(r['rel_lift'])} relative ({level} interval {_pct(r['rel_low'])} to {_pct(r['rel_high'])}), "
                f"p {_p(r['p_holm'])}, chance to beat control {r['chance_to_win']:.1%}."
                + (" Interim: still running." if d.status == "running" else ""),
                figures=("to_ship",),
            ))
    for d in report.decisions.itertuples():
        if d.decision == NO_EFFECT:
            r = results[results["experiment_id"] == d.experiment_id].iloc[0]
            actions.append(Action(
                "experiments.no_effect", d.experiment_id, Severity.LOW,
                f"{d.name} ({d.experiment_id}) made no difference: {_pct(r['rel_lift'])} relative "
                f"({level} interval {_pct(r['rel_low'])} to {_pct(r['rel_high'])}), within the {r['mde']:.0%} {term('MDE')}; stop or rethink it.",
            ))
    if len(results):
        for r in results[results["cuped"].astype(bool)].itertuples():
            shrink = 1 - math.sqrt(1 - r.variance_reduction) if r.variance_reduction is not None else math.nan
            notes.append(
                f"{term('CUPED')} on {r.name} ({r.experiment_id}) used the pre-period {metric_words(r.metric, False)} to cut the variance by "
                f"{r.variance_reduction:.0%}, narrowing the interval by {shrink:.0%}: {_pct(r.rel_lift)} relative "
                f"({level} interval {_pct(r.rel_low)} to {_pct(r.rel_high)})."
            )
    too_long = report.backlog[report.backlog["feasible"] == False]  # noqa: E712 - None means unknown
    for b in too_long.itertuples():
        actions.append(Action(
            "experiments.infeasible", b.experiment_id, Severity.LOW,
            f"{b.name} ({b.experiment_id}) cannot reach significance in time: {with_article(f'{b.mde:.0%}')} {term('MDE')} on {with_article(f'{b.baseline:.1%}')} baseline needs "
            f"{b.units_per_variant:,} units per variant, {count_words(b.days_needed, 'days')} at {b.traffic:,.0f} a day, against {params.max_days} allowed.",
        ))
    if p["concluded"]:
        median = p["median_days_to_decision"]
        # No start dates (the contract allows none) give no time to decision: say so, never "nan days".
        timing = ("no start dates to time the decisions" if median is None or math.isnan(median)
                  else f"median {count_words(median, 'days')} from start to decision")
        notes.append(
            f"{p['wins']} of {count_words(p['concluded'], 'concluded experiments')} shipped a winner ({figure_value(figures['win_rate'])}); "
            f"{timing}."
        )
    for o in p["overdue"].itertuples():
        actions.append(Action("experiments.overdue", o.experiment_id, Severity.MEDIUM,
                              f"{o.name} ({o.experiment_id}) is still running {count_words(o.days_over, 'days')} after its planned end ({o.end_date:%d %b %Y})."))
    if not actions and not notes:
        notes.append("No experiments for this team in the workspace.")
    return AreaResult(figures, ("to_ship", "win_rate"), tuple(actions), tuple(notes))


RESULT_COLUMNS = [
    ("name", "Experiment", "text"),
    ("variant", "Variant", "text"),
    ("metric_shown", "Metric", "text"),
    ("units_shown", "Units (control / variant)", "text"),
    ("control_shown", "Control", "text"),
    ("treatment_shown", "Variant's", "text"),
    ("rel_lift", "Relative lift", "pct1"),
    ("interval", "Interval", "text"),
    ("p_holm", "p (Holm)", "p"),
    ("chance_to_win", "Chance to win", "pct1"),
]
DECISION_COLUMNS = [
    ("name", "Experiment", "text"),
    ("experiment_id", "Id", "text"),
    ("status", "Status", "text"),
    ("decision", "Decision", "text"),
    ("srm_p", "SRM p", "p"),
    ("note", "Note", "text"),
]
BACKLOG_COLUMNS = [
    ("name", "Experiment", "text"),
    ("experiment_id", "Id", "text"),
    ("metric_shown", "Metric", "text"),
    ("ice", "ICE", "int"),
    ("baseline", "Baseline", "pct1"),
    ("mde", "MDE", "pct"),
    ("units_per_variant", "Units per variant", "int"),
    ("traffic", "Units a day", "int"),
    ("days_needed", "Days needed", "int"),
    ("fits", "Fits in time", "text"),
    ("note", "Note", "text"),
]


def results_table(results: pd.DataFrame) -> pd.DataFrame:
    """The results as the table shows them: metric keys as words, both arms' units in one column."""
    if results.empty:
        return results.assign(metric_shown=pd.Series(dtype=object), units_shown=pd.Series(dtype=object))
    return results.assign(
        metric_shown=results["metric"].map(metric_words),
        units_shown=[f"{c:,} / {u:,}" for c, u in zip(results["control_units"], results["units"])],
    )


def backlog_table(backlog: pd.DataFrame) -> pd.DataFrame:
    """The backlog as the table shows it, metric keys as words."""
    return backlog.assign(metric_shown=backlog["metric"].map(metric_words) if len(backlog) else pd.Series(dtype=object))


def traffic_note(report: ExperimentsReport, params: ExperimentsParams) -> str:
    """The traffic each product's experiments are sized with, and the longest run allowed."""
    parts = [f"{product} {per_day:,.0f} units a day ({source})" if not math.isnan(per_day) else f"{product}: {source}"
             for product, (per_day, source) in sorted(report.traffic.items())]
    return f"Traffic: {'; '.join(parts) or 'no experiments'}; longest allowed run: {params.max_days} days."


def portfolio_table(report: ExperimentsReport) -> pd.DataFrame:
    p = report.portfolio
    return pd.DataFrame(
        [
            {"measure": "Concluded", "value": f"{p['concluded']:,}"},
            {"measure": "Shipped a winner", "value": f"{p['wins']:,}"},
            {"measure": "Win rate", "value": "–" if math.isnan(p["win_rate"]) else f"{p['win_rate']:.0%}"},
            {"measure": "Median days to decision", "value": "–" if math.isnan(p["median_days_to_decision"]) else f"{p['median_days_to_decision']:.0f}"},
            {"measure": "Running", "value": f"{p['running']:,}"},
            {"measure": "Proposed", "value": f"{p['proposed']:,}"},
        ]
    )


def report(ctx: ReportContext) -> ExperimentsReport:
    """Read the team's experiments and exposures (and its traffic from events) and compute the area."""
    catalogue = ctx.read("experiments")
    units = ctx.read("exposures")
    units = units[units["experiment_id"].isin(catalogue["experiment_id"])]
    # Each experiment is sized at its own product's traffic, the same in every report.
    visitors = health.daily_visitors(ctx.events(), ctx.period) if ctx.has("events") else {}
    return build_report(catalogue, units, visitors, ctx.params.experiments, ctx.period)


def explorer_views() -> dict[str, Any]:
    """The explorer's views of this area (see :mod:`playbook.widgets`): name -> f(ctx, report)."""
    from playbook import plots
    from playbook.widgets import html_table

    return {
        "Forest plot": lambda ctx, r: plots.plot_forest(r.results, "Relative lift by experiment and variant"),
        "Decisions": lambda ctx, r: html_table(r.decisions, DECISION_COLUMNS),
        "Backlog": lambda ctx, r: html_table(backlog_table(r.backlog), BACKLOG_COLUMNS),
    }
