"""Experiments with several metrics from events, guardrails, ratio and lower-is-better metrics,
peek-safe calls on running experiments, units in two variants and segments: on small hand-made
frames, each figure checked by an independent computation (pandas, scipy, statsmodels)."""

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from scipy.stats import t as t_dist
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from playbook import experiment_analysis as xa
from playbook import experiments as ex
from playbook import stats
from playbook.config import ExperimentsParams
from playbook.health import Events
from playbook.period import Period

PARAMS = ExperimentsParams()
PERIOD = Period(date(2026, 11, 1), date(2026, 11, 30))
START = pd.Timestamp("2026-11-02")


def _catalogue(status="concluded", unit_type="visitor", exp_id="M1", end="2026-11-29"):
    return pd.DataFrame([{
        "experiment_id": exp_id, "product": "app", "team": "t", "name": "Quick bar", "hypothesis": None, "primary_metric": "done",
        "metric_type": "binary", "status": status, "start_date": pd.Timestamp("2026-11-01"), "end_date": pd.Timestamp(end),
        "control_variant": "control", "split": None, "mde": 0.1, "impact": 5, "confidence": 5, "ease": 5, "unit_type": unit_type,
    }])


def _metrics(*rows, exp_id="M1"):
    columns = ["metric", "role", "kind", "event", "denominator_event", "window_days", "higher_is_better"]
    return pd.DataFrame([dict(zip(columns, r)) for r in rows]).assign(experiment_id=exp_id)


@pytest.fixture(scope="module")
def planted():
    """1,200 visitors per arm of a product `app`; in treatment `task_done` is likelier (a win), `crash`
    more frequent (a lower-is-better guardrail that gets worse), `help` rarer (lower is better, a win),
    and searches open more results (a ratio). Accounts: a third of the units are in segment `smb`,
    where the goal effect is reversed. Plus rows that must NOT count: before exposure, after the
    14-day window, on another product."""
    rng = np.random.default_rng(11)
    n = 1200
    units = pd.DataFrame({
        "experiment_id": "M1", "unit_id": [f"V{i:05d}" for i in range(2 * n)], "variant": ["control"] * n + ["treatment"] * n,
        "exposed_at": START + pd.to_timedelta(rng.integers(0, 5 * 86400, 2 * n), unit="s"), "converted": None, "value": None,
        "pre_value": None,
    })
    account = np.array(["A-SMB", "A-ENT", "A-MID"])[np.arange(2 * n) % 3]
    treated = units["variant"].eq("treatment").to_numpy()
    smb = account == "A-SMB"
    rows = []

    def emit(kind, counts, offset_days=1.0, product="app"):
        for i in np.flatnonzero(counts):
            for _ in range(counts[i]):
                rows.append((units.loc[i, "exposed_at"] + pd.Timedelta(days=offset_days * rng.random() + 0.01), units.loc[i, "unit_id"],
                             account[i], product, kind))

    done_rate = np.where(treated, np.where(smb, 0.20, 0.45), np.where(smb, 0.40, 0.25))
    emit("task_done", (rng.random(2 * n) < done_rate).astype(int), 10)
    emit("crash", rng.poisson(np.where(treated, 0.9, 0.5)), 10)
    emit("help", (rng.random(2 * n) < np.where(treated, 0.10, 0.18)).astype(int), 10)
    searches = rng.poisson(4, 2 * n)
    emit("search", searches, 10)
    emit("opened", rng.binomial(searches, np.where(treated, 0.45, 0.35)), 10)
    # Never counted: a month after exposure (outside the window), and on another product.
    late = [(units.loc[i, "exposed_at"] + pd.Timedelta(days=20), units.loc[i, "unit_id"], account[i], "app", "task_done") for i in range(0, 2 * n, 2)]
    other = [(units.loc[i, "exposed_at"] + pd.Timedelta(days=1), units.loc[i, "unit_id"], account[i], "web", "task_done") for i in range(1, 2 * n, 2)]
    before = [(units.loc[i, "exposed_at"] - pd.Timedelta(hours=1), units.loc[i, "unit_id"], account[i], "app", "crash") for i in range(0, 2 * n, 3)]
    events = pd.DataFrame(rows + late + other + before, columns=["ts", "visitor_id", "account_id", "product", "event"])
    events["feature_id"] = None
    accounts = pd.DataFrame({"account_id": ["A-SMB", "A-ENT", "A-MID"], "segment": ["smb", "enterprise", "mid-market"],
                             "plan": ["starter", "enterprise", "growth"]})
    metrics = _metrics(
        ("task_done", "goal", "binary", "task_done", None, 14, True),
        ("search_success", "secondary", "ratio", "opened", "search", 14, True),
        ("help_opened", "secondary", "binary", "help", None, 14, False),
        ("app_crash", "guardrail", "continuous", "crash", None, 14, False),
    )
    return units, Events.from_frame(events), events, accounts, metrics


def _analyse(planted, status="concluded", metrics=None, params=PARAMS):
    units, events, _, accounts, defined = planted
    catalogue = _catalogue(status)
    metrics = defined if metrics is None else metrics
    definitions = xa.metric_definitions(catalogue, metrics)
    clean, _ = xa.clean_exposures(units)
    values = xa.unit_metric_values(events, clean, catalogue, definitions, pd.Timestamp("2026-11-30"))
    unit_account = xa.unit_accounts(events, clean, catalogue)
    return xa.analyse_all(catalogue, units, params, metrics, values, accounts, unit_account), values


def _independent_counts(planted, event):
    """Per unit, the rows of ``event`` on the product in [exposure, exposure + 14 days): pandas, not SQL."""
    units, _, frame, _, _ = planted
    joined = frame[(frame["event"] == event) & (frame["product"] == "app")].merge(units, left_on="visitor_id", right_on="unit_id")
    inside = joined[(joined["ts"] >= joined["exposed_at"]) & (joined["ts"] < joined["exposed_at"] + pd.Timedelta(days=14))]
    return units.set_index("unit_id")["variant"].to_frame().join(inside.groupby("unit_id").size().rename("n")).fillna({"n": 0})


def test_unit_values_count_only_rows_in_the_window_on_the_product(planted):
    _, values = _analyse(planted)
    for metric, event in (("task_done", "task_done"), ("app_crash", "crash")):
        expected = _independent_counts(planted, event)["n"]
        got = values[values["metric"] == metric].set_index("unit_id")["num"].reindex(expected.index)
        assert (got == expected).all(), metric
    # The late rows (20 days after exposure), the other product's and those before exposure are not counted.
    assert values.loc[values["metric"] == "task_done", "num"].max() <= 1


def test_a_win_blocked_by_a_guardrail(planted):
    analysis, values = _analyse(planted)
    decision = analysis.decisions.iloc[0]
    assert decision["decision"] == xa.BLOCKED and decision["best_variant"] == "treatment"
    assert decision["note"].startswith("blocked by guardrail app crash +")
    rows = analysis.results.set_index("metric")
    # The goal, by hand: a two-proportion z-test on "did task_done at least once".
    done = _independent_counts(planted, "task_done")
    arms = (done["n"] > 0).groupby(done["variant"]).agg(["sum", "size"])
    _, p = proportions_ztest([arms.loc["treatment", "sum"], arms.loc["control", "sum"]], [arms.loc["treatment", "size"], arms.loc["control", "size"]])
    assert rows.loc["task_done", "p_value"] == pytest.approx(p, rel=1e-9)
    # Holm over the goal and the two secondaries (three tests); the guardrail is not adjusted.
    tested = rows.loc[["task_done", "search_success", "help_opened"], "p_value"].tolist()
    assert rows.loc[["task_done", "search_success", "help_opened"], "p_holm"].tolist() == pytest.approx(multipletests(tested, method="holm")[1].tolist())
    assert rows.loc["app_crash", "p_holm"] == rows.loc["app_crash", "p_value"]
    # The guardrail, lower is better: crashes per unit rose, so its chance to win is low and its risk real.
    crash = _independent_counts(planted, "crash")
    means = crash.groupby("variant")["n"].mean()
    assert rows.loc["app_crash", "control"] == pytest.approx(means["control"]) and rows.loc["app_crash", "rel_low"] > 0
    assert rows.loc["app_crash", "chance_to_win"] < 0.01 and rows.loc["app_crash", "risk_ship"] > 0.1
    # Without the guardrail the same win ships.
    _, _, _, _, metrics = planted
    unguarded, _ = _analyse(planted, metrics=metrics[metrics["role"] != "guardrail"])
    assert unguarded.decisions.iloc[0]["decision"] == xa.SHIP


def test_a_lower_is_better_metric_wins_when_it_falls(planted):
    analysis, _ = _analyse(planted)
    help_row = analysis.results.set_index("metric").loc["help_opened"]
    assert help_row["rel_high"] < 0 and xa.better(help_row.to_dict()) and not xa.worse(help_row.to_dict())
    # Chance to win is P(the variant is lower): 1 - Phi(rel / se_rel).
    assert help_row["chance_to_win"] > 0.99
    # As the only goal, a fall in a lower-is-better metric ships.
    _, _, _, _, metrics = planted
    only = metrics[metrics["metric"] == "help_opened"].assign(role="goal")
    solo, _ = _analyse(planted, metrics=only)
    assert solo.decisions.iloc[0]["decision"] == xa.SHIP


def test_the_ratio_metric_is_the_ratio_of_sums_with_the_delta_method(planted):
    analysis, _ = _analyse(planted)
    row = analysis.results.set_index("metric").loc["search_success"]
    opened, searched = _independent_counts(planted, "opened"), _independent_counts(planted, "search")
    arms = {}
    for arm in ("control", "treatment"):
        x, y = opened.loc[opened["variant"] == arm, "n"].to_numpy(), searched.loc[searched["variant"] == arm, "n"].to_numpy()
        n, mx, my = len(x), x.mean(), y.mean()
        var = (x.var(ddof=1) / my**2 + y.var(ddof=1) * mx**2 / my**4 - 2 * np.cov(x, y, ddof=1)[0, 1] * mx / my**3) / n
        arms[arm] = (x.sum() / y.sum(), var)
    assert row["control"] == pytest.approx(arms["control"][0]) and row["treatment"] == pytest.approx(arms["treatment"][0])
    se = math.sqrt(arms["control"][1] + arms["treatment"][1])
    assert row["abs_high"] - row["abs_low"] == pytest.approx(2 * se * t_dist.ppf(0.975, 1e6), rel=1e-3)


def test_a_segment_with_the_opposite_effect_is_flagged(planted):
    analysis, _ = _analyse(planted)
    seg = analysis.segments.set_index(["dimension", "segment"])
    # Three segments; each plan holds exactly one segment's units, so it is the same test and not
    # shown again: three shown, Bonferroni over three.
    assert set(seg.index) == {("segment", "smb"), ("segment", "enterprise"), ("segment", "mid-market")}
    smb = seg.loc[("segment", "smb")]
    assert smb["opposite"] and smb["rel_lift"] < 0 < smb["rest_rel_lift"] and smb["shown"] == 3
    # Enterprise and mid-market differ from the rest too (smb pulls the rest down) but not the other way.
    assert seg["opposite"].sum() == 1
    # The test of the smb effect against the rest's, by hand (normal, as the units are many).
    done = _independent_counts(planted, "task_done")
    done["smb"] = [int(u[1:]) % 3 == 0 for u in done.index]
    effects = {}
    for part, frame in done.groupby("smb"):
        rates = (frame["n"] > 0).groupby(frame["variant"]).agg(["mean", "size"])
        diff = rates.loc["treatment", "mean"] - rates.loc["control", "mean"]
        var = sum(rates.loc[a, "mean"] * (1 - rates.loc[a, "mean"]) / rates.loc[a, "size"] for a in ("control", "treatment"))
        effects[part] = (diff, var)
    z = (effects[True][0] - effects[False][0]) / math.sqrt(effects[True][1] + effects[False][1])
    assert smb["p_difference"] == pytest.approx(2 * norm.sf(abs(z)), rel=0.05)
    assert smb["p_bonferroni"] == pytest.approx(min(1, 3 * smb["p_difference"]))
    # The summary says so.
    report = ex.build_report(_catalogue(), planted[0], {}, PARAMS, PERIOD, planted[4], *_values_and_accounts(planted))
    text = "\n".join(report.result.lines)
    assert "Quick bar (M1) hurts segment smb: task done -" in text
    assert "so keep smb in mind when it is reworked." in text  # blocked by its guardrail: no rollout advice
    assert "after a Bonferroni correction over 3 segments" in text
    assert "for segment enterprise" not in text


def _values_and_accounts(planted):
    units, events, _, accounts, metrics = planted
    catalogue = _catalogue()
    clean, _ = xa.clean_exposures(units)
    values = xa.unit_metric_values(events, clean, catalogue, xa.metric_definitions(catalogue, metrics), pd.Timestamp("2026-11-30"))
    return values, accounts, xa.unit_accounts(events, clean, catalogue)


def test_the_summary_leads_with_the_blocked_win(planted):
    report = ex.build_report(_catalogue(), planted[0], {}, PARAMS, PERIOD, planted[4], *_values_and_accounts(planted))
    first = report.result.actions[0]
    assert first.rule == "experiments.harmful" and first.severity == ex.Severity.HIGH
    assert first.text.startswith("Do not ship Quick bar (M1): its guardrail app crash (lower is better) got worse, from ")
    assert " per unit, +" in first.text and ". That blocks its win on task done, from " in first.text
    assert first.text.endswith("; fix the regression before shipping.")
    assert report.result.figures["harmful"].value == 1 and report.result.figures["to_ship"].value == 0


def test_units_in_two_variants_are_left_out_and_counted():
    rng = np.random.default_rng(5)
    n = 1000
    units = pd.DataFrame({"experiment_id": "E", "unit_id": [f"u{i}" for i in range(2 * n)], "variant": ["control"] * n + ["treatment"] * n,
                          "exposed_at": pd.Timestamp("2026-11-10"), "converted": (rng.random(2 * n) < 0.3).astype(int), "value": None,
                          "pre_value": None})
    # 20 control units (1% of the 2,000) also saw the treatment, later, and converted there.
    again = units.iloc[:20].assign(variant="treatment", exposed_at=pd.Timestamp("2026-11-12"), converted=1)
    both = pd.concat([units, again], ignore_index=True)
    clean, excluded = xa.clean_exposures(both)
    assert len(clean) == 2 * n - 20 and not clean["unit_id"].isin(units["unit_id"].iloc[:20]).any()
    assert excluded.to_dict("records") == [{"experiment_id": "E", "units": 2000, "units_excluded": 20, "share_excluded": 0.01}]
    catalogue = _catalogue(exp_id="E", unit_type=None)
    report = ex.build_report(catalogue, both, {}, PARAMS, PERIOD)
    row = report.results.iloc[0]
    kept = units.iloc[20:]
    assert (row["control_units"], row["units"]) == (n - 20, n)
    assert row["control"] == pytest.approx(kept.loc[kept["variant"] == "control", "converted"].mean())
    assert report.decisions.iloc[0]["units_excluded"] == 20
    assert ("20 units of Quick bar (E), 1.0% of its 2,000, were exposed to more than one variant; they are left out of every metric. "
            "Check how units are assigned.") in report.result.lines


def _peeking_units():
    """Control 480 of 2,400 (20.0%), treatment 549 of 2,400 (22.9%): fixed-horizon p about 0.013."""
    return pd.DataFrame({
        "experiment_id": "P", "unit_id": [f"p{i}" for i in range(4800)], "variant": ["control"] * 2400 + ["treatment"] * 2400,
        "exposed_at": pd.Timestamp("2026-11-10"), "converted": np.r_[np.ones(480), np.zeros(1920), np.ones(549), np.zeros(1851)].astype(int),
        "value": None, "pre_value": None,
    })


def test_a_running_experiment_is_read_peek_safe():
    units = _peeking_units()
    _, fixed_p = proportions_ztest([549, 480], [2400, 2400])
    assert 0.005 < fixed_p < 0.05
    running = ex.build_report(_catalogue("running", exp_id="P", end="2026-12-20"), units, {}, PARAMS, PERIOD)
    decision, row = running.decisions.iloc[0], running.results.iloc[0]
    assert decision["decision"] == xa.KEEP_RUNNING and decision["analysis"] == xa.SEQUENTIAL
    assert row["fixed_p"] == pytest.approx(fixed_p) and row["p_value"] > PARAMS.alpha and row["rel_low"] < 0 < row["rel_high"]
    # The always-valid interval is the fixed one widened by the confidence-sequence factor (issue's formula).
    n, tuning, alpha = 4800, PARAMS.sequential_tuning, 0.05
    rho2 = (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / tuning
    half = math.sqrt(2 * (n * rho2 + 1) / (n * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha))
    fixed = stats.compare_proportions(480, 2400, 549, 2400)
    assert (row["rel_high"] - row["rel_lift"]) == pytest.approx(half * fixed.se_rel, rel=1e-9)
    (action,) = [a for a in running.result.actions if a.rule == "experiments.keep_running"]
    assert action.text.startswith("Keep running Quick bar (P), do not ship yet: done is +14.4% relative so far, but its 95% always-valid interval (-")
    assert f"A fixed-horizon test would give p = {fixed_p:.4f}" in action.text
    assert not any(a.rule == "experiments.ship" for a in running.result.actions)
    # The same data, concluded, is a fixed-horizon win.
    concluded = ex.build_report(_catalogue("concluded", exp_id="P"), units, {}, PARAMS, PERIOD)
    assert concluded.decisions.iloc[0]["decision"] == xa.SHIP and concluded.results.iloc[0]["p_value"] == pytest.approx(fixed_p)


def test_experiments_without_metric_rows_keep_todays_figures():
    units = _peeking_units()
    catalogue = _catalogue("concluded", exp_id="P")
    plain = ex.build_report(catalogue, units, {}, PARAMS, PERIOD)
    other = _metrics(("x", "goal", "binary", "x", None, 14, True), exp_id="SOMETHING-ELSE")
    with_table = ex.build_report(catalogue, units, {}, PARAMS, PERIOD, other)
    assert with_table.results.equals(plain.results)
    row = plain.results.iloc[0]
    reference = stats.compare_proportions(480, 2400, 549, 2400)
    assert (row["p_value"], row["rel_lift"], row["rel_high"]) == (reference.p_value, reference.rel_lift, reference.rel_ci[1])


# --- What a hostile reading found: nothing is dropped silently, no call hides a harm, no look-ahead.


def _arms(n, rates, seed=0):
    """Per-arm visitor units and one event row per 'hit' (rate per unit), a day after exposure."""
    rng = np.random.default_rng(seed)
    units, rows = [], []
    for variant, per_event in rates.items():
        ids = [f"{variant}-{i}" for i in range(n)]
        units.append(pd.DataFrame({"experiment_id": "M1", "unit_id": ids, "variant": variant, "exposed_at": START,
                                   "converted": None, "value": None, "pre_value": None}))
        for event, rate in per_event.items():
            for unit in np.array(ids)[rng.random(n) < rate]:
                rows.append((START + pd.Timedelta(days=1), unit, "A-ENT", "app", event))
    events = pd.DataFrame(rows, columns=["ts", "visitor_id", "account_id", "product", "event"]).assign(feature_id=None)
    return pd.concat(units, ignore_index=True), events


def _report(units, events, metrics, status="concluded", end="2026-11-29", as_of="2026-11-30", split=None):
    catalogue = _catalogue(status, end=end).assign(split=split)
    ev = Events.from_frame(events)
    clean, _ = xa.clean_exposures(units)
    values = xa.unit_metric_values(ev, clean, catalogue, xa.metric_definitions(catalogue, metrics), pd.Timestamp(as_of))
    return ex.build_report(catalogue, units, {}, PARAMS, PERIOD, metrics, values)


GOAL = ("goal", "goal", "binary", "done", None, 14, True)


def test_a_guardrail_that_cannot_be_compared_stops_the_ship_and_says_why():
    # Crashes only in the treatment: no relative change exists, and no guardrail may be skipped.
    units, events = _arms(1000, {"control": {"done": 0.20}, "treatment": {"done": 0.27, "crash": 0.05}})
    report = _report(units, events, _metrics(GOAL, ("crash", "guardrail", "binary", "crash", None, 14, False)))
    decision = report.decisions.iloc[0]
    assert decision["decision"] == xa.INCONCLUSIVE
    crashed = int(events.loc[events["event"] == "crash", "visitor_id"].nunique())
    assert decision["note"] == (f"cannot ship before every guardrail is checked: guardrail crash: only the variant has any 'crash' events "
                                f"({crashed:,} units), so no relative change exists")
    assert any(a.rule == "experiments.unchecked" for a in report.result.actions) and report.result.figures["to_ship"].value == 0
    # A misspelt event matches nothing: the report says so, it does not ship.
    misspelt = _report(units, events, _metrics(GOAL, ("crash", "guardrail", "binary", "crsh", None, 14, False))).decisions.iloc[0]
    assert misspelt["decision"] == xa.INCONCLUSIVE and "guardrail crash: no events named 'crsh' for its units in the window" in misspelt["note"]


def test_a_win_on_one_goal_does_not_hide_a_loss_on_another():
    units, events = _arms(1500, {"control": {"done": 0.20, "kept": 0.40}, "treatment": {"done": 0.30, "kept": 0.28}}, seed=1)
    report = _report(units, events, _metrics(GOAL, ("kept", "goal", "binary", "kept", None, 14, True)))
    decision = report.decisions.iloc[0]
    assert decision["decision"] == xa.DO_NOT_SHIP and decision["note"].startswith("significantly worse than control on kept -")
    assert report.result.actions[0].rule == "experiments.harmful"


def test_rows_without_a_goal_metric_are_said_not_guessed():
    units, events = _arms(500, {"control": {"done": 0.2}, "treatment": {"done": 0.3}})
    report = _report(units, events, _metrics(("done", "secondary", "binary", "done", None, 14, True)))
    assert report.decisions.iloc[0]["note"] == "no goal metric: its experiment_metrics rows are secondary or guardrail only; add the goal"
    assert report.decisions.iloc[0]["decision"] == xa.INCONCLUSIVE


def test_an_interval_that_clears_zero_with_an_adjusted_p_that_does_not_is_explained():
    row = {"variant": "treatment", "metric": "done", "role": "goal", "p_holm": 0.056, "rel_lift": 0.2, "rel_low": 0.013, "rel_high": 0.403}
    other = {**row, "metric": "other", "role": "secondary", "p_holm": 0.5, "rel_low": -0.1, "rel_high": 0.1}
    for running, verdict in ((True, xa.KEEP_RUNNING), (False, xa.INCONCLUSIVE)):
        decision, _, note = xa._decide([row, other], 0.5, 0.1, [], PARAMS, running=running)
        assert decision == verdict
        assert note == "too close to call: the interval clears zero but the p-value adjusted over 2 tests (0.056) does not clear 0.05"


def test_a_harmful_variant_is_named_first_when_another_ships():
    units, events = _arms(1500, {"control": {"done": 0.20, "crash": 0.10}, "treatment": {"done": 0.32, "crash": 0.10},
                                 "v2": {"done": 0.21, "crash": 0.30}}, seed=2)
    report = _report(units, events, _metrics(GOAL, ("crash", "guardrail", "binary", "crash", None, 14, False)),
                     split="control=1;treatment=1;v2=1")
    decision = report.decisions.iloc[0]
    assert (decision["decision"], decision["best_variant"]) == (xa.SHIP, "treatment")
    assert decision["note"].startswith("do not ship v2: guardrail crash +") and decision["harmful_variants"] == "v2"
    first, *rest = report.result.actions
    assert first.rule == "experiments.harmful" and first.text.startswith("Do not ship Quick bar (M1) variant v2: it hurt its guardrail crash")
    assert any(a.text.startswith("Ship Quick bar (M1) variant treatment: goal went from") for a in rest)
    assert report.result.figures["harmful"].value == 1


def test_metrics_count_to_the_as_of_day_never_past_it():
    units, events = _arms(800, {"control": {"done": 0.2}, "treatment": {"done": 0.2}})
    # A running experiment past its planned end: units exposed after the end still count to the as-of day.
    late = units.assign(exposed_at=pd.Timestamp("2026-11-20"))
    late_events = events.assign(ts=pd.Timestamp("2026-11-21"))
    metrics = _metrics(("goal", "goal", "binary", "done", None, None, True))
    report = _report(late, late_events, metrics, status="running", end="2026-11-10", as_of="2026-11-30")
    assert report.results.iloc[0]["control"] == pytest.approx((late_events["visitor_id"].str.startswith("control")).sum() / 800)
    # Events after the as-of day are never counted, window or not.
    ahead = _report(late, late_events, _metrics(GOAL), status="running", end="2026-12-20", as_of="2026-11-20")
    assert ahead.decisions.iloc[0]["note"].startswith("goal: no events named 'done'")


def test_one_unit_in_two_variants_reads_in_the_singular():
    units, events = _arms(500, {"control": {"done": 0.2}, "treatment": {"done": 0.3}})
    twice = pd.concat([units, units.iloc[:1].assign(variant="treatment")], ignore_index=True)
    report = _report(twice, events, _metrics(GOAL))
    assert ("1 unit of Quick bar (M1), 0.1% of its 1,000, was exposed to more than one variant; it is left out of every metric. "
            "Check how units are assigned.") in report.result.lines


def test_sequential_tuning_out_of_range_is_refused():
    from pydantic import ValidationError

    for bad in (1e-310, 0, 1e300, float("inf")):
        with pytest.raises(ValidationError, match="sequential_tuning"):
            ExperimentsParams(sequential_tuning=bad)


def test_a_running_experiments_segment_difference_is_judged_peek_safe(planted):
    running, _ = _analyse(planted, status="running")
    concluded, _ = _analyse(planted)
    smb_run = running.segments.set_index(["dimension", "segment"]).loc[("segment", "smb")]
    smb_fixed = concluded.segments.set_index(["dimension", "segment"]).loc[("segment", "smb")]
    # The same difference and standard error, tested with the always-valid p of the formula.
    done = _independent_counts(planted, "task_done")
    done["smb"] = [int(u[1:]) % 3 == 0 for u in done.index]
    parts = {}
    for part, frame in done.groupby("smb"):
        rates = (frame["n"] > 0).groupby(frame["variant"]).agg(["mean", "size"])
        parts[part] = (rates.loc["treatment", "mean"] - rates.loc["control", "mean"],
                       sum(rates.loc[a, "mean"] * (1 - rates.loc[a, "mean"]) / rates.loc[a, "size"] for a in ("control", "treatment")))
    d, se, n = parts[True][0] - parts[False][0], math.sqrt(parts[True][1] + parts[False][1]), len(done)
    rho2 = (-2 * math.log(0.05) + math.log(1 - 2 * math.log(0.05))) / PARAMS.sequential_tuning
    expected = min(1.0, math.sqrt(n * rho2 + 1) * math.exp(-rho2 * n * d**2 / (2 * se**2 * (n * rho2 + 1))))
    assert smb_run["p_difference"] == pytest.approx(expected, rel=1e-6)
    assert smb_run["p_difference"] > smb_fixed["p_difference"]



def test_a_harmful_variant_is_named_when_the_winner_cannot_be_checked():
    # Treatment wins, but its refund guardrail has no events; v2 crashes far more. Nothing ships, v2's harm leads.
    units, events = _arms(1500, {"control": {"done": 0.20, "crash": 0.10}, "treatment": {"done": 0.32, "crash": 0.10},
                                 "v2": {"done": 0.21, "crash": 0.30}}, seed=2)
    metrics = _metrics(GOAL, ("crash", "guardrail", "binary", "crash", None, 14, False), ("refund", "guardrail", "binary", "refund", None, 14, False))
    report = _report(units, events, metrics, split="control=1;treatment=1;v2=1")
    decision = report.decisions.iloc[0]
    assert decision["decision"] == xa.INCONCLUSIVE and decision["harmful_variants"] == "v2"
    assert decision["unchecked_guardrails"] == "refund: no events named 'refund' for its units in the window"
    first = report.result.actions[0]
    assert first.rule == "experiments.harmful" and first.text.startswith("Do not ship Quick bar (M1) variant v2: it hurt its guardrail crash")
    assert first.text.endswith("make sure it is not rolled out.") and report.result.figures["harmful"].value == 1
    unchecked = [a.text for a in report.result.actions if a.rule == "experiments.unchecked"]
    assert unchecked == ["Quick bar (M1) cannot be shipped until every guardrail is checked, although it won on its goal: guardrail refund: "
                         "no events named 'refund' for its units in the window."]


def test_an_unchecked_guardrail_is_said_whatever_the_call():
    # Too few units to tell on the goal, and crashes only in the variant: the guardrail is still named.
    units, events = _arms(150, {"control": {"done": 0.20}, "treatment": {"done": 0.22, "crash": 0.11}}, seed=3)
    report = _report(units, events, _metrics(GOAL, ("crash", "guardrail", "binary", "crash", None, 14, False)))
    decision = report.decisions.iloc[0]
    assert decision["decision"] == xa.INCONCLUSIVE and "not compared: crash: only the variant has any 'crash' events" in decision["note"]
    (action,) = [a for a in report.result.actions if a.rule == "experiments.unchecked"]
    assert action.text.startswith("Quick bar (M1) cannot be shipped until every guardrail is checked: guardrail crash: only the variant has any")


def test_units_exposed_after_the_as_of_day_are_not_in_the_report():
    units, events = _arms(1000, {"control": {"done": 0.2}, "treatment": {"done": 0.3}}, seed=4)
    later = units.assign(unit_id=units["unit_id"] + "-late", exposed_at=pd.Timestamp("2026-12-10"))
    plain = ex.build_report(_catalogue(), units.assign(converted=np.arange(len(units)) % 5 == 0), {}, PARAMS, PERIOD)
    everything = pd.concat([units, later], ignore_index=True)
    both = ex.build_report(_catalogue(), everything.assign(converted=np.arange(len(everything)) % 5 == 0), {}, PARAMS, PERIOD)
    assert both.results.iloc[0]["control_units"] == plain.results.iloc[0]["control_units"] == 1000


def test_a_single_test_is_not_called_adjusted():
    row = {"variant": "treatment", "metric": "done", "role": "goal", "p_holm": 0.1, "rel_lift": 0.2, "rel_low": 0.01, "rel_high": 0.4}
    _, _, note = xa._decide([row], 0.5, 0.1, [], PARAMS)
    assert note == "too close to call: the interval clears zero but the p-value (0.100) does not clear 0.05"
