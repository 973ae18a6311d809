"""Accounts: which are live, the ARR at risk from open P1/P2 escalations, the accounts that escalate
again and again, and each account's health score.

Account health (Totango-style weighted score, 0-100, weights in params) over four parts, each
0..1: usage = active days in the period / ``usage_target_days`` (capped at 1); NPS = the latest
answer (promoter 1, passive 0.5, detractor 0, none 0.5); escalations = 1 - escalations opened in
the period / ``escalation_cap`` (floored at 0); trend = the change in active days against the
previous period, 0.5 when flat. The data contract holds no ARR history, so the trend part
follows usage, the leading indicator of ARR. Health is the account's, over all its products
(:class:`OrganisationInputs`), so an account reads the same in every team's report. Accounts
under ``unhealthy_below`` put their ARR at risk and are listed largest ARR first; an account
churned by the period end is left out, as its ARR is lost, not at risk.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from playbook import health
from playbook.config import EscalationsParams
from playbook.period import Period, day_end, open_at


def live_accounts(accounts: pd.DataFrame, end: date) -> pd.DataFrame:
    """The accounts not churned by the end of ``end`` (a churn after it is still to come)."""
    churned = accounts["churned_at"]
    return accounts[churned.isna() | (churned >= day_end(end))]


def churned_accounts(accounts: pd.DataFrame, end: date) -> set[str]:
    """Ids of the accounts churned by the end of ``end``: the complement of :func:`live_accounts`."""
    return set(accounts["account_id"]) - set(live_accounts(accounts, end)["account_id"])


def arr_at_risk(escalations: pd.DataFrame, accounts: pd.DataFrame, end: date) -> tuple[float, pd.DataFrame]:
    """ARR of live accounts with an open P1/P2 escalation at the period end, and those accounts."""
    urgent = open_at(escalations, end)
    urgent = urgent[urgent["priority"].isin(["P1", "P2"])]
    per_account = urgent.groupby("account_id").agg(open_urgent=("escalation_id", "size")).reset_index()
    table = per_account.merge(live_accounts(accounts, end)[["account_id", "name", "segment", "arr"]], on="account_id")
    table = table.sort_values("arr", ascending=False, ignore_index=True)
    return float(table["arr"].sum()), table


def repeat_accounts(escalations: pd.DataFrame, accounts: pd.DataFrame, period: Period, threshold: int = 3) -> pd.DataFrame:
    """Accounts with ``threshold`` or more escalations opened in the period, highest ARR first."""
    opened = escalations[period.mask(escalations["opened_at"])]
    now = period.stop
    counts = opened.assign(still_open=opened["resolved_at"].isna() | (opened["resolved_at"] >= now)).groupby("account_id").agg(
        escalations=("escalation_id", "size"), still_open=("still_open", "sum")
    )
    counts = counts[counts["escalations"] >= threshold].reset_index()
    table = counts.merge(accounts[["account_id", "name", "segment", "arr"]], on="account_id", how="left")
    # Without an accounts table (an imported ticket export alone), accounts are named by their id.
    table["name"] = table["name"].fillna(table["account_id"])
    return table.sort_values(["arr", "escalations"], ascending=False, ignore_index=True)


def account_health(
    activity: pd.DataFrame,
    responses: pd.DataFrame,
    escalations: pd.DataFrame,
    accounts: pd.DataFrame,
    period: Period,
    params: EscalationsParams,
    current: str = "current",
    before: str = "previous",
) -> pd.DataFrame:
    """The weighted 0-100 health score per account (see the module docstring for its parts).

    Args:
        activity: per account, active days in named periods (:func:`playbook.health.active_days`).
        responses: NPS answers for the team's products.
        escalations: the team's escalations.
        accounts: all accounts.
        period: the period the score is for.
        params: weights and caps.
        current, before: the columns of ``activity`` for this period and the one before.
    """
    ids = pd.Index(activity["account_id"].unique()).union(pd.Index(escalations.loc[period.mask(escalations["opened_at"]), "account_id"].unique()))
    table = pd.DataFrame({"account_id": ids}).merge(activity[["account_id", current, before]], on="account_id", how="left")
    table = table.fillna({current: 0, before: 0})
    now, prev = table[current].astype(float), table[before].astype(float)
    usage = (now / params.usage_target_days).clip(upper=1.0)
    top = np.maximum(now, prev)
    trend = pd.Series(np.where(top > 0, 0.5 + 0.5 * (now - prev) / np.where(top > 0, top, 1), 0.5), index=table.index).clip(0, 1)
    recent = responses[(responses["submitted_at"] < period.stop) & (responses["submitted_at"] >= period.stop - pd.Timedelta(days=180))]
    latest = recent.sort_values("submitted_at").drop_duplicates("account_id", keep="last").set_index("account_id")["score"]
    score = table["account_id"].map(latest)
    nps_part = pd.Series(np.select([score >= 9, score >= 7, score.notna()], [1.0, 0.5, 0.0], 0.5), index=table.index)
    counts = escalations[period.mask(escalations["opened_at"])].groupby("account_id").size()
    esc_part = (1 - table["account_id"].map(counts).fillna(0) / params.escalation_cap).clip(lower=0)
    w = params.health_weights
    total = w.usage + w.nps + w.escalations + w.trend
    health_score = 100 * (w.usage * usage + w.nps * nps_part + w.escalations * esc_part + w.trend * trend) / total
    table = table.assign(usage=usage, nps=nps_part, escalations=esc_part, trend=trend, health=health_score)
    return table.merge(accounts[["account_id", "name", "segment", "arr"]], on="account_id", how="left")


def unhealthy_accounts(scores: pd.DataFrame, below: float, churned: Collection[str] = ()) -> pd.DataFrame:
    """Live accounts whose health is under ``below``, ranked by the ARR they put at risk (largest
    first, the least healthy first among equals), as Gainsight and Totango rank a red-health list:
    a score alone ranks a $5k account above a $500k one.

    Args:
        scores: :func:`account_health`'s table (with ``arr``; missing ARR ranks last).
        below: the health score under which an account's ARR counts as at risk, compared with
            the score as shown (a whole number), so no account listed reads "health 50" under 50.
        churned: ids of accounts churned by the period end (:func:`churned_accounts`), left out:
            their ARR is lost, no longer at risk (as in :func:`arr_at_risk`).
    """
    table = scores[(scores["health"].round() < below) & ~scores["account_id"].isin(list(churned))]
    # Without an accounts table (an imported ticket export alone), accounts are named by their id.
    table = table.assign(name=table["name"].fillna(table["account_id"]))
    return table.sort_values(["arr", "health"], ascending=[False, True], na_position="last", ignore_index=True)


@dataclass(frozen=True)
class OrganisationInputs:
    """Every team's rows that an account's health rests on."""

    events: health.Events
    responses: pd.DataFrame
    escalations: pd.DataFrame
