"""Experimentation: did the experiments succeed, and which proposed ones are worth running.

Definitions (DESIGN.md section 5, "experiments"; anchors: GrowthBook's gbstats, PostHog
experiments, statsmodels). The statistics themselves live in :mod:`playbook.stats`.

- Results and decisions per experiment (every goal, secondary and guardrail metric; always-valid
  intervals while running; SRM; Holm; guardrails; units in two variants; segments; the decision
  rule): :mod:`playbook.experiment_analysis`.
- Backlog: ICE = impact x confidence x ease; units per variant for the MDE at alpha 0.05 and
  power 0.8 (:func:`playbook.stats.sample_size_per_variant`) from the team's baseline conversion
  of the experiment's own team (its experiments' control rate on the same metric, else any, else
  ``default_baseline``); days = units x variants / daily traffic, traffic being the average
  daily visitors of the experiment's own product from ``events`` where present, else the units
  its experiments exposed per day. The same in a team's report and the organisation's. Feasible
  when the days fit in ``max_days``.
- Portfolio: win rate of concluded experiments, median days from start to end, and running
  experiments past their planned end.
- Harmful results lead the summary: a result that significantly hurt a goal or guardrail metric
  (*do not ship*) or a win a guardrail blocks is a high-severity action, concluded (keep it from
  being rolled out) or running (stop it). A running result a fixed-horizon test would call but
  the always-valid interval does not is "keep running", with both figures.
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
from playbook.experiment_analysis import (
    BLOCKED, DO_NOT_SHIP, GUARDRAIL, INVALID, KEEP_RUNNING, NO_EFFECT, SEQUENTIAL, SHIP, analyse, analyse_all, harms, parse_split,
    worse,
)
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
    excluded: pd.DataFrame | None = None
    segments: pd.DataFrame | None = None


def build_report(
    experiments: pd.DataFrame, exposures: pd.DataFrame, daily_visitors: dict[str, float], params: ExperimentsParams, period: Period,
    metrics: pd.DataFrame | None = None, values: pd.DataFrame | None = None, accounts: pd.DataFrame | None = None,
    unit_account: pd.DataFrame | None = None, events=None,
) -> ExperimentsReport:
    """Compute the experiments area for one team.

    Args:
        experiments: the team's experiments.
        exposures: their exposures.
        daily_visitors: average daily visitors per product (from events; empty without events).
        params: the area's parameters.
        period: the reporting period (as-of date = its end).
        metrics, values, accounts, unit_account, events: the experiments' metric definitions, their
            per-unit values from events, the accounts, each unit's account and the events to compute
            the two from (see :func:`playbook.experiment_analysis.analyse_all`); all optional.
    """
    experiments = status_as_of(experiments, period.end)
    # A unit exposed after the as-of day is not in this report (no look-ahead).
    exposures = exposures[pd.to_datetime(exposures["exposed_at"], utc=True).dt.tz_localize(None) < pd.Timestamp(period.end) + pd.Timedelta(days=1)]
    analysis = analyse_all(experiments, exposures, params, metrics, values, accounts, unit_account, events, pd.Timestamp(period.end))
    results, decisions = analysis.results, analysis.decisions
    traffic = traffic_per_day(daily_visitors, experiments, exposures, period)
    # The win rate as it stood at the end of the previous period: experiments concluded by then.
    ended_before = experiments[(experiments["status"] == "concluded") & (experiments["end_date"] <= pd.Timestamp(period.previous().end))]
    before = portfolio(ended_before, decisions[decisions["experiment_id"].isin(ended_before["experiment_id"])], period.previous().end)
    report = ExperimentsReport(
        results=results,
        decisions=decisions,
        backlog=backlog(experiments, _goals(results), traffic, params),
        portfolio=portfolio(experiments, decisions, period.end),
        traffic=traffic,
        win_rate_before=before["win_rate"],
        excluded=analysis.excluded,
        segments=analysis.segments,
    )
    return replace(report, result=summarise(report, params))


def status_as_of(experiments: pd.DataFrame, day: Any) -> pd.DataFrame:
    """Each experiment's status as it stood on the as-of ``day``: one that started after it was
    still a proposal, and one concluded after it was still running. A report for a past week
    (``playbook backfill``) so judges what that week knew, not today's outcome: an experiment
    that ended on 16 Nov is read as running, with always-valid intervals, on 20 Oct."""
    if experiments.empty:
        return experiments
    day = pd.Timestamp(day)
    start = pd.to_datetime(experiments["start_date"], errors="coerce")
    end = pd.to_datetime(experiments["end_date"], errors="coerce")
    status = experiments["status"].where(~((experiments["status"] == "concluded") & (end > day)), "running")
    status = status.where(~(status.isin(["running", "concluded"]) & (start > day)), "proposed")
    return experiments.assign(status=status)


def _goals(results: pd.DataFrame) -> pd.DataFrame:
    """The goal-metric rows of the results (a baseline is a goal's control rate)."""
    return results[results["role"] == "goal"] if len(results) and "role" in results else results


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


def _fmt(kind: str):
    return (lambda v: f"{v:.1%}") if kind == "binary" else (lambda v: f"{v:,.2f}")


def _change(r, level: str) -> str:
    """"report saved went from 8.0% to 9.1%, +13.8% relative (95% interval +2.0% to +25.6%), p = 0.0210"
    with "always-valid" before "interval" where the result is sequential, "per unit" after a count
    from events and "(lower is better)" after a metric where a fall is the improvement."""
    fmt = _fmt(r["metric_type"])
    kind = "always-valid " if r["analysis"] == SEQUENTIAL else ""
    lower = "" if r["higher_is_better"] else " (lower is better)"
    per = " per unit" if r["metric_type"] == "continuous" and r.get("source") == "events" else ""
    return (f"{metric_words(r['metric'], False)}{lower} went from {fmt(r['control'])} to {fmt(r['treatment'])}{per}, {_pct(r['rel_lift'])} relative "
            f"({level} {kind}interval {_pct(r['rel_low'])} to {_pct(r['rel_high'])}), p {_p(r['p_holm'])}")


def chance_words(value: float) -> str:
    """A chance as a percentage that never claims certainty: "> 99.9%", "< 0.1%", else "97.6%"."""
    if pd.isna(value):
        return "–"
    return "> 99.9%" if value > 0.999 else "< 0.1%" if value < 0.001 else f"{value:.1%}"


def _arm(results: pd.DataFrame, experiment_id: str, variant: str | None, role: str = "goal") -> pd.DataFrame:
    mine = results[results["experiment_id"] == experiment_id]
    mine = mine[mine["role"] == role] if "role" in mine else mine
    return mine if variant is None else mine[mine["variant"] == variant]


def summarise(report: ExperimentsReport, params: ExperimentsParams) -> AreaResult:
    """The figures (to ship, win rate, harmful) and the actions, harmful results first: blocked by a
    guardrail or worse than control, invalid, ship, keep running, segments that go the other way,
    no effect, units in two variants, infeasible, overdue."""
    p = report.portfolio
    decided = report.decisions["decision"] if len(report.decisions) else pd.Series(dtype=object)
    figures = {
        "to_ship": Figure("to_ship", "to ship", int((decided == SHIP).sum()), "count", rows=len(report.decisions)),
        "win_rate": Figure("win_rate", "win rate", None if math.isnan(p["win_rate"]) else p["win_rate"], "percent",
                           previous=None if math.isnan(report.win_rate_before) else report.win_rate_before, good="up",
                           rows=p["concluded"]),
    }
    results = report.results
    # A shipping experiment whose other variant hurt a goal or guardrail counts as harmful too.
    side_harm = _other_variants_harmed(report, params)
    figures["harmful"] = Figure("harmful", "experiments hurt a goal or guardrail metric",
                                int(decided.isin([DO_NOT_SHIP, BLOCKED]).sum()) + len(side_harm), "count", good="down", rows=len(report.decisions))
    actions: list[Action] = []
    notes: list[str] = []
    level = f"{params.confidence:.0%}"
    term = _Terms()
    by = {d: [r for r in report.decisions.itertuples() if r.decision == d] for d in (INVALID, DO_NOT_SHIP, BLOCKED, SHIP, KEEP_RUNNING, NO_EFFECT)}
    # Harmful results first (the summary leads with them): a win a guardrail blocks, a result worse than control.
    for d in by[BLOCKED]:
        win = _arm(results, d.experiment_id, d.best_variant).sort_values("p_holm").iloc[0]
        guards = _arm(results, d.experiment_id, d.best_variant, GUARDRAIL)
        hurt = [g for _, g in guards.iterrows() if worse(g)]
        variant = f" (variant {d.best_variant})" if len(_arm(results, d.experiment_id, None)["variant"].unique()) > 1 else ""
        running = d.status == "running"
        actions.append(Action(
            "experiments.harmful", d.experiment_id, Severity.HIGH, figures=("harmful",), text=
            f"Do not ship {d.name} ({d.experiment_id}){variant}: its guardrail "
            + "; and its guardrail ".join(_change(g, level).replace(" went from", " got worse, from", 1) for g in hurt)
            + f". That blocks its win on {_change(win, level).replace(' went from', ', from', 1)}"
            + ("; it is still running, so stop it now." if running else "; fix the regression before shipping."),
        ))
    for d in by[DO_NOT_SHIP]:
        # A result that hurt always reaches the summary: still running, it is hurting now. The variant
        # that significantly hurt (the decision's reason), not merely the lowest lift.
        arms = _arm(results, d.experiment_id, None)
        hurt = arms[arms.apply(harms, axis=1, alpha=params.alpha)] if len(arms) else arms
        guard = hurt.empty
        if guard:
            guards = _arm(results, d.experiment_id, None, GUARDRAIL)
            hurt = guards[guards.apply(worse, axis=1)] if len(guards) else guards
        worst = (hurt if len(hurt) else arms).sort_values("rel_lift", key=abs, ascending=False).iloc[0]
        variant = f" (variant {worst['variant']})" if len(arms["variant"].unique()) > 1 else ""
        running = d.status == "running"
        what = "its guardrail " if guard else ""
        change = _change(worst, level).replace(" went from", ", which went from", 1)
        actions.append(Action(
            "experiments.harmful", d.experiment_id, Severity.HIGH, figures=("harmful",), text=
            f"Do not ship {d.name} ({d.experiment_id}){variant}: it hurt {what}{change}"
            + ("; it is still running, so stop it now." if running else "; make sure the change is not rolled out."),
        ))
    decided_as = dict(zip(report.decisions["experiment_id"], report.decisions["decision"])) if len(report.decisions) else {}
    for d, rows in side_harm.items():
        for variant, mine in rows.groupby("variant", sort=True):
            worst = mine.sort_values("rel_lift", key=abs, ascending=False).iloc[0]
            what = "its guardrail " if worst["role"] == GUARDRAIL else ""
            name = names_of(report).get(d, d)
            tail = "ship only the winning variant." if decided_as.get(d) == SHIP else "make sure it is not rolled out."
            actions.append(Action(
                "experiments.harmful", f"{d}:{variant}", Severity.HIGH, figures=("harmful",), text=
                f"Do not ship {name} ({d}) variant {variant}: it hurt {what}{_change(worst, level).replace(' went from', ', which went from', 1)}; {tail}",
            ))
    for d in by[INVALID]:
        reason = d.note.replace("(SRM p", "(a sample ratio mismatch, SRM p")
        actions.append(Action("experiments.invalid", d.experiment_id, Severity.HIGH,
                              f"{d.name} ({d.experiment_id}) is invalid: {reason}; do not read its results until the split is fixed."))
    for d in by[SHIP]:
        r = _arm(results, d.experiment_id, d.best_variant).sort_values("p_holm").iloc[0]
        still = " It is still running; the always-valid interval allows the call now." if d.status == "running" else ""
        variant = f" variant {d.best_variant}" if len(_arm(results, d.experiment_id, None)["variant"].unique()) > 1 else ""
        actions.append(Action(
            "experiments.ship", d.experiment_id, Severity.MEDIUM,
            f"Ship {d.name} ({d.experiment_id}){variant}: {_change(r, level)}, chance to win {chance_words(r['chance_to_win'])}, "
            f"expected loss if shipped {_risk(r['risk_ship'])}.{still}",
            figures=("to_ship",),
        ))
    for d in by[KEEP_RUNNING]:
        # A running result a fixed-horizon test would call is the tempting, wrong call: say why not.
        arms = _arm(results, d.experiment_id, None)
        peeked = arms[arms["fixed_p"] < params.alpha] if "fixed_p" in arms else arms.iloc[:0]
        if peeked.empty:
            continue
        r = peeked.sort_values("fixed_p").iloc[0]
        interval = f"its {level} always-valid interval ({_pct(r['rel_low'])} to {_pct(r['rel_high'])})"
        why = (f"{interval} still includes no change" if r["rel_low"] <= 0 <= r["rel_high"]
               else f"{interval} clears zero while its p-value adjusted across its metrics ({r['p_holm']:.3f}) does not")
        actions.append(Action(
            "experiments.keep_running", d.experiment_id, Severity.LOW,
            f"Keep running {d.name} ({d.experiment_id}), do not ship yet: {metric_words(r['metric'], False)} is {_pct(r['rel_lift'])} relative so far, "
            f"but {why}. A fixed-horizon test would give p {_p(r['fixed_p'])}, which overstates the evidence when a running experiment "
            "is checked week after week.",
        ))
    for d in report.decisions.itertuples():
        reasons = getattr(d, "unchecked_guardrails", "")
        if isinstance(reasons, str) and reasons:
            won = ", although it won on its goal" if str(d.note).startswith("cannot ship before every guardrail is checked") else ""
            actions.append(Action(
                "experiments.unchecked", d.experiment_id, Severity.MEDIUM,
                f"{d.name} ({d.experiment_id}) cannot be shipped until every guardrail is checked{won}: guardrail "
                + reasons.replace("; ", "; guardrail ") + ".",
            ))
    segments = report.segments if report.segments is not None else pd.DataFrame()
    if len(segments):
        # The summary names a segment where the effect goes the other way; the table flags every difference.
        decided = dict(zip(report.decisions["experiment_id"], report.decisions["decision"]))
        for s in segments[segments["opposite"]].itertuples():
            improves = (s.rel_lift > 0) == bool(s.higher_is_better)
            verb = "helps only" if improves else "hurts"
            rest = "fell" if (s.rest_rel_lift < 0) else "rose"
            advice = (f"check {s.segment} before rolling it out to them" if decided.get(s.experiment_id) == SHIP
                      else f"keep {s.segment} in mind when it is reworked")
            actions.append(Action(
                "experiments.segment", f"{s.experiment_id}:{s.variant}:{s.dimension}={s.segment}", Severity.MEDIUM,
                f"{s.name} ({s.experiment_id}) {verb} {s.dimension} {s.segment}: {metric_words(s.metric, False)} "
                f"{_pct(s.rel_lift)} relative there ({level} interval {_pct(s.rel_low)} to {_pct(s.rel_high)}, "
                f"{s.control_units + s.units:,} units), while it {rest} by {abs(s.rest_rel_lift):.1%} in the rest; the difference has p "
                f"{_p(s.p_bonferroni)} after a Bonferroni correction over {count_words(s.shown, 'segments')}, so {advice}.",
            ))
    for d in by[NO_EFFECT]:
        r = _arm(results, d.experiment_id, None).iloc[0]
        actions.append(Action(
            "experiments.no_effect", d.experiment_id, Severity.LOW,
            f"{d.name} ({d.experiment_id}) made no difference: {_pct(r['rel_lift'])} relative "
            f"({level} interval {_pct(r['rel_low'])} to {_pct(r['rel_high'])}), within the {r['mde']:.0%} {term('MDE')}; stop or rethink it.",
        ))
    excluded = report.excluded if report.excluded is not None else pd.DataFrame()
    names = names_of(report)
    for e in excluded.itertuples():
        one = e.units_excluded == 1
        actions.append(Action(
            "experiments.mixed_units", e.experiment_id, Severity.LOW,
            f"{count_words(e.units_excluded, 'units')} of {names.get(e.experiment_id, e.experiment_id)} ({e.experiment_id}), "
            f"{e.share_excluded:.1%} of its {e.units:,}, {'was' if one else 'were'} exposed to more than one variant; "
            f"{'it is' if one else 'they are'} left out of every metric. Check how units are assigned.",
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
    if p["running"]:
        notes.append(
            f"{count_words(p['running'], 'running experiments')} {'is' if p['running'] == 1 else 'are'} read with always-valid (sequential) intervals, "
            f"which stay right however often they are checked (tuned for about {params.sequential_tuning:,.0f} units); concluded ones with "
            "fixed-horizon intervals."
        )
    for o in p["overdue"].itertuples():
        actions.append(Action("experiments.overdue", o.experiment_id, Severity.MEDIUM,
                              f"{o.name} ({o.experiment_id}) is still running {count_words(o.days_over, 'days')} after its planned end ({o.end_date:%d %b %Y})."))
    if not actions and not notes:
        notes.append("No experiments for this team in the workspace.")
    return AreaResult(figures, ("to_ship", "win_rate"), tuple(actions), tuple(notes))


def names_of(report: ExperimentsReport) -> dict[str, str]:
    """Experiment id -> name, for the experiments the report analysed."""
    return dict(zip(report.decisions["experiment_id"], report.decisions["name"])) if len(report.decisions) else {}


def _other_variants_harmed(report: ExperimentsReport, params: ExperimentsParams) -> dict[str, pd.DataFrame]:
    """For each experiment not itself called harmful: the rows of the variants that hurt a goal
    (significantly) or a guardrail (interval wholly on the harmful side), as the decision found them."""
    out = {}
    if report.results.empty or "harmful_variants" not in report.decisions:
        return out
    for d in report.decisions.itertuples():
        if d.decision in (DO_NOT_SHIP, BLOCKED) or not isinstance(d.harmful_variants, str) or not d.harmful_variants:
            continue
        variants = d.harmful_variants.split(", ")
        rows = report.results[(report.results["experiment_id"] == d.experiment_id) & report.results["variant"].isin(variants)]
        bad = rows[[harms(r, params.alpha) for _, r in rows.iterrows()]]
        if len(bad):
            out[d.experiment_id] = bad
    return out


def _risk(value: float) -> str:
    """An expected relative loss: "0.03%", "< 0.01%" for a negligible one."""
    return "< 0.01%" if value < 0.0001 else f"{value:.2%}"


RESULT_COLUMNS = [
    ("experiment_shown", "Experiment", "text"),
    ("metric_shown", "Metric", "text"),
    ("units_shown", "Units (control / variant)", "text"),
    ("control_shown", "Control", "text"),
    ("treatment_shown", "Variant's", "text"),
    ("rel_shown", "Relative lift", "text"),
    ("interval", "Interval", "text"),
    ("p_holm", "p (Holm; guardrails unadjusted)", "p"),
    ("chance_shown", "Chance to win", "text"),
    ("risk_shown", "Expected loss if shipped", "text"),
    ("analysis", "Analysis", "text"),
]
DECISION_COLUMNS = [
    ("name", "Experiment", "text"),
    ("experiment_id", "Id", "text"),
    ("status", "Status", "text"),
    ("analysis", "Analysis", "text"),
    ("decision", "Decision", "text"),
    ("srm_p", "SRM p", "p"),
    ("excluded_shown", "Units in two variants (left out)", "text"),
    ("note", "Note", "text"),
]
SEGMENT_COLUMNS = [
    ("experiment_shown", "Experiment", "text"),
    ("metric_shown", "Goal metric", "text"),
    ("segment_shown", "Segment", "text"),
    ("units_shown", "Units (control / variant)", "text"),
    ("rel_shown", "Relative lift", "text"),
    ("interval", "Interval", "text"),
    ("rest_shown", "In the rest", "text"),
    ("p_bonferroni", "p of the difference (Bonferroni)", "p"),
    ("flag", "Flag", "text"),
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


def _experiment_shown(frame: pd.DataFrame) -> list[str]:
    """The experiment's name, with the variant in brackets where it has more than one treatment."""
    many = frame.groupby("experiment_id")["variant"].transform("nunique") > 1
    return [f"{n} ({v})" if m else str(n) for n, v, m in zip(frame["name"], frame["variant"], many)]


def results_table(results: pd.DataFrame) -> pd.DataFrame:
    """The results as the table shows them: metric keys as words with their role and direction,
    both arms' units in one column, the expected loss of shipping."""
    if results.empty:
        return results.assign(metric_shown=pd.Series(dtype=object), units_shown=pd.Series(dtype=object), risk_shown=pd.Series(dtype=object),
                              rel_shown=pd.Series(dtype=object), chance_shown=pd.Series(dtype=object), experiment_shown=pd.Series(dtype=object))
    role = results["role"] if "role" in results else pd.Series("goal", index=results.index)
    higher = results["higher_is_better"] if "higher_is_better" in results else pd.Series(True, index=results.index)
    shown = [metric_words(m) + ("" if r == "goal" else f" ({r})") + ("" if h else ", lower is better")
             for m, r, h in zip(results["metric"], role, higher)]
    return results.assign(
        metric_shown=shown,
        units_shown=[f"{c:,} / {u:,}" for c, u in zip(results["control_units"], results["units"])],
        risk_shown=[_risk(v) if not pd.isna(v) else "–" for v in results.get("risk_ship", pd.Series(math.nan, index=results.index))],
        rel_shown=[_pct(v) for v in results["rel_lift"]],
        chance_shown=[chance_words(v) for v in results["chance_to_win"]],
        experiment_shown=_experiment_shown(results),
    )


def decisions_table(decisions: pd.DataFrame) -> pd.DataFrame:
    """The decisions as the table shows them: units seen in two variants as "count (share)"."""
    if decisions.empty:
        return decisions.assign(excluded_shown=pd.Series(dtype=object))
    return decisions.assign(excluded_shown=[
        "–" if not n else f"{int(n):,} ({share:.1%})" for n, share in zip(decisions["units_excluded"].fillna(0), decisions["share_excluded"].fillna(0))
    ])


def segments_table(segments: pd.DataFrame | None) -> pd.DataFrame:
    """The goal metric per segment as the table shows it, flagged where it differs from the rest."""
    if segments is None or segments.empty:
        return pd.DataFrame(columns=[c for c, _, _ in SEGMENT_COLUMNS])
    flag = ["goes the other way" if o else ("differs" if d else "") for o, d in zip(segments["opposite"], segments["differs"])]
    return segments.assign(
        metric_shown=segments["metric"].map(metric_words),
        segment_shown=[f"{d} {s}" for d, s in zip(segments["dimension"], segments["segment"])],
        units_shown=[f"{c:,} / {u:,}" for c, u in zip(segments["control_units"], segments["units"])],
        rel_shown=[_pct(v) for v in segments["rel_lift"]], rest_shown=[_pct(v) for v in segments["rest_rel_lift"]],
        experiment_shown=_experiment_shown(segments),
        flag=flag,
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
    """Read the team's experiments, exposures and metric definitions (and, from events, its traffic
    and each metric's per-unit values) and compute the area."""
    catalogue = ctx.read("experiments")
    units = ctx.read("exposures")
    units = units[units["experiment_id"].isin(catalogue["experiment_id"])]
    metrics = ctx.read("experiment_metrics") if ctx.has("experiment_metrics") else None
    if metrics is not None:
        metrics = metrics[metrics["experiment_id"].isin(catalogue["experiment_id"])]
    events = ctx.events() if ctx.has("events") else None
    # Each experiment is sized at its own product's traffic, the same in every report.
    visitors = health.daily_visitors(events, ctx.period) if events is not None else {}
    accounts = ctx.read("accounts") if events is not None and ctx.has("accounts") else None
    return build_report(catalogue, units, visitors, ctx.params.experiments, ctx.period, metrics, accounts=accounts, events=events)


PORTFOLIO_COLUMNS = [("measure", "Measure", "text"), ("value", "Value", "text")]
OVERDUE_COLUMNS = [("name", "Experiment", "text"), ("experiment_id", "Id", "text"), ("end_date", "Planned end", "date"),
                   ("days_over", "Days over", "int")]
WON_COLUMNS = [("name", "Experiment", "text"), ("experiment_id", "Id", "text"), ("status", "Status", "text"), ("decision", "Decision", "text"),
               ("won", "Shipped a winner (1) or not (0)", "int")]


def explorer_views() -> dict[str, Any]:
    """The explorer's views: the report's sections, with its columns (see :mod:`playbook.widgets`)."""
    from playbook import plots
    from playbook.widgets import Chart, View, table

    # An experiment is read with all its data up to the period's last day, whenever it started.
    as_of = "every experiment is read with its data up to that day"
    return {
        "Decisions": View(lambda ctx, r: table(decisions_table(r.decisions), DECISION_COLUMNS), period_end=as_of),
        "Results": View(lambda ctx, r: Chart(plots.plot_forest(r.results, "Relative lift by experiment, metric and variant"),
                                             table(results_table(r.results), RESULT_COLUMNS)), period_end=as_of),
        "Results table": View(lambda ctx, r: table(results_table(r.results), RESULT_COLUMNS), period_end=as_of),
        "Segments": View(lambda ctx, r: table(segments_table(r.segments), SEGMENT_COLUMNS), period_end=as_of),
        "Backlog": View(lambda ctx, r: table(backlog_table(r.backlog), BACKLOG_COLUMNS)),
        "Portfolio": View(lambda ctx, r: [table(portfolio_table(r), PORTFOLIO_COLUMNS),
                                          table(r.portfolio["overdue"], OVERDUE_COLUMNS, "Running past the planned end")], period_end=as_of),
    }


def won_rows(report: ExperimentsReport) -> pd.DataFrame:
    """The concluded experiments behind the win rate, ``won`` 1 when one shipped a winner."""
    done = report.decisions[report.decisions["status"] == "concluded"] if len(report.decisions) else report.decisions
    if done.empty:
        return pd.DataFrame(columns=[c for c, _, _ in WON_COLUMNS])
    return done.assign(won=(done["decision"] == SHIP).astype(int))


def drilldowns() -> dict[str, Any]:
    """The rows behind the area's figures (see :mod:`playbook.drill`)."""
    from playbook.drill import Drill

    return {
        "to_ship": Drill(lambda ctx, r: decisions_table(r.decisions[r.decisions["decision"] == SHIP]) if len(r.decisions) else r.decisions,
                         DECISION_COLUMNS, "count", why="each experiment whose decision is to ship",
                         period_end="every experiment is read with its data up to that day"),
        "win_rate": Drill(lambda ctx, r: won_rows(r), WON_COLUMNS, "mean", "won", why="each concluded experiment",
                          period_end="experiments concluded by that day count"),
    }
