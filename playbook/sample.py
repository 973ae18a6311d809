"""A deterministic sample company with planted effects, written as a workspace.

The same seed and as-of date always give the same files. Four product teams share about 2,000
accounts; customers answer NPS surveys, send feedback and ask for roadmap items. Some effects
are planted on purpose so that tests (and a newcomer reading the demo reports) can check that
the analysis finds them; :data:`PLANTED` says what they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

TEAM_PRODUCTS: dict[str, tuple[str, ...]] = {
    "analytics": ("insights", "dashboards"),
    "mobile": ("mobile-app",),
    "platform": ("api", "integrations"),
    "growth": ("onboarding", "billing"),
}
PRODUCT_TEAM = {product: team for team, products in TEAM_PRODUCTS.items() for product in products}
# Share of survey answers and feedback per product.
PRODUCT_WEIGHTS = {
    "insights": 0.18,
    "dashboards": 0.14,
    "mobile-app": 0.26,
    "api": 0.10,
    "integrations": 0.10,
    "onboarding": 0.11,
    "billing": 0.11,
}
# Baseline chances of promoter, passive, detractor per product (NPS 20..40).
BASELINE_GROUPS = {
    "insights": (0.52, 0.30, 0.18),
    "dashboards": (0.48, 0.32, 0.20),
    "mobile-app": (0.55, 0.27, 0.18),
    "api": (0.50, 0.30, 0.20),
    "integrations": (0.45, 0.33, 0.22),
    "onboarding": (0.47, 0.33, 0.20),
    "billing": (0.42, 0.36, 0.22),
}


@dataclass(frozen=True)
class Planted:
    """The effects the generator plants; tests check that the analysis finds each one."""

    nps_drop_team: str = "mobile"
    nps_drop_product: str = "mobile-app"
    # Chances of promoter, passive, detractor for that product in the last 30 days (NPS about -17).
    nps_drop_groups: tuple[float, float, float] = (0.28, 0.27, 0.45)
    dominant_theme: str = "performance"
    demand_item: str = "MOB-3"
    demand_item_title: str = "Offline mode"


PLANTED = Planted()

THEME_PHRASES: dict[str, tuple[str, ...]] = {
    "performance": (
        "The app is so slow since the last update.",
        "It keeps crashing when I open a report.",
        "Screens freeze for seconds at a time.",
        "Loading takes forever on my phone.",
        "Everything feels sluggish and laggy.",
    ),
    "pricing": (
        "Too expensive for what we use.",
        "The price went up again at renewal.",
        "Our invoice is hard to understand.",
        "The cost per seat is hard to justify.",
    ),
    "usability": (
        "The new menu is confusing.",
        "Settings are hard to find.",
        "The layout feels cluttered and unintuitive.",
        "Navigation changed and my team is lost.",
    ),
    "integrations": (
        "The Salesforce sync breaks every week.",
        "We need a better Slack integration.",
        "Webhook deliveries are unreliable.",
        "The API is missing the fields we need.",
    ),
    "support": (
        "Support took three days to answer my ticket.",
        "The response time from support is too long.",
        "The agent did not understand the problem.",
    ),
    "reliability": (
        "Another outage this month.",
        "Too many bugs in basic workflows.",
        "Exports are broken half the time.",
        "We see errors when saving.",
    ),
}
PRAISE = (
    "Love the product, it saves us hours every week.",
    "Great support team, always helpful.",
    "The new dashboards are fantastic.",
    "Easy to roll out to the whole company.",
    "Exactly what we needed, thank you!",
    "Works well, would recommend.",
)
NEUTRAL = (
    "Does the job.",
    "Fine overall, a few rough edges.",
    "Good, but the pricing could be clearer.",
    "Mostly happy; loading can be slow at times.",
    "OK. Would like more integrations.",
)

# Roadmap items per team: (id, product, title, status, reach, impact, confidence, effort).
# RICE values are written out so the planted item's middling rank is visible here.
ROADMAP: tuple[tuple[str, str, str, str, float, float, float, float], ...] = (
    ("MOB-1", "mobile-app", "Dark mode", "planned", 4000, 1, 0.8, 2),
    ("MOB-2", "mobile-app", "Push notification settings", "in_progress", 3000, 1, 1.0, 1),
    ("MOB-3", "mobile-app", "Offline mode", "idea", 1500, 2, 0.5, 6),
    ("MOB-4", "mobile-app", "Biometric login", "planned", 2500, 0.5, 0.8, 1),
    ("MOB-5", "mobile-app", "Android stability fixes", "in_progress", 5000, 2, 1.0, 2),
    ("MOB-6", "mobile-app", "Tablet layout", "idea", 800, 1, 0.5, 4),
    ("MOB-7", "mobile-app", "In-app chat", "idea", 1200, 0.5, 0.5, 3),
    ("MOB-8", "mobile-app", "Home-screen widget", "idea", 1000, 0.5, 0.8, 2),
    ("ANA-1", "insights", "Scheduled report e-mails", "planned", 3000, 1, 0.8, 2),
    ("ANA-2", "insights", "Cohort analysis", "in_progress", 2000, 2, 0.8, 4),
    ("ANA-3", "dashboards", "Dashboard sharing links", "planned", 3500, 1, 1.0, 1),
    ("ANA-4", "dashboards", "Custom colour themes", "idea", 1500, 0.5, 0.5, 1),
    ("ANA-5", "insights", "Anomaly alerts", "idea", 1800, 2, 0.5, 5),
    ("ANA-6", "dashboards", "Drill-down on charts", "shipped", 2500, 1, 0.8, 3),
    ("ANA-7", "insights", "CSV export of every chart", "planned", 2200, 0.5, 1.0, 1),
    ("ANA-8", "dashboards", "Embedded dashboards", "idea", 900, 2, 0.5, 6),
    ("PLA-1", "api", "GraphQL endpoint", "idea", 900, 1, 0.5, 8),
    ("PLA-2", "integrations", "HubSpot integration", "planned", 1600, 1, 0.8, 3),
    ("PLA-3", "api", "Higher rate limits", "in_progress", 1200, 1, 1.0, 1),
    ("PLA-4", "integrations", "Two-way Salesforce sync", "planned", 2000, 2, 0.8, 5),
    ("PLA-5", "api", "Bulk import endpoint", "idea", 700, 1, 0.8, 2),
    ("PLA-6", "integrations", "Slack app rewrite", "idea", 1500, 0.5, 0.5, 4),
    ("PLA-7", "api", "Webhook retries", "shipped", 1100, 1, 1.0, 1),
    ("PLA-8", "integrations", "Zapier triggers", "idea", 1300, 0.5, 0.8, 2),
    ("GRO-1", "onboarding", "Guided setup checklist", "in_progress", 5000, 1, 0.8, 2),
    ("GRO-2", "billing", "Annual billing discount", "planned", 2000, 1, 0.8, 1),
    ("GRO-3", "onboarding", "Template gallery", "idea", 3000, 0.5, 0.5, 3),
    ("GRO-4", "billing", "Self-serve seat changes", "planned", 1800, 1, 1.0, 2),
    ("GRO-5", "onboarding", "Invite teammates flow", "shipped", 4000, 1, 1.0, 1),
    ("GRO-6", "billing", "Invoices in local currency", "idea", 900, 1, 0.5, 3),
    ("GRO-7", "onboarding", "Sample data on sign-up", "idea", 2500, 0.5, 0.8, 1),
    ("GRO-8", "billing", "Usage-based pricing preview", "idea", 1200, 2, 0.5, 5),
)

_ADJECTIVES = ("Blue", "North", "Bright", "Silver", "Rapid", "Quiet", "Golden", "Urban", "Clear", "Summit", "Harbor", "Maple")
_NOUNS = ("Harbor", "Peak", "River", "Forge", "Signal", "Field", "Bridge", "Orbit", "Stone", "Lantern", "Grove", "Works")
_SUFFIXES = ("Labs", "Group", "Systems", "Co", "Partners", "Health", "Logistics", "Retail", "Media", "Finance")


def _iso(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _moments(rng: np.random.Generator, as_of: date, days: int, size: int) -> pd.Series:
    """Random UTC timestamps within the ``days`` days that end on ``as_of`` (inclusive)."""
    end = datetime(as_of.year, as_of.month, as_of.day) + timedelta(days=1)
    seconds = rng.integers(0, days * 86400, size=size)
    return pd.Series(pd.Timestamp(end) - pd.to_timedelta(seconds + 1, unit="s"))


def make_accounts(rng: np.random.Generator, as_of: date, n: int) -> pd.DataFrame:
    """Accounts with segment, plan, region, ARR (USD) and creation and churn dates."""
    segment = rng.choice(["smb", "mid-market", "enterprise"], size=n, p=[0.55, 0.30, 0.15])
    median_arr = pd.Series(segment).map({"smb": 8_000, "mid-market": 40_000, "enterprise": 180_000}).to_numpy()
    arr = np.round(median_arr * rng.lognormal(0, 0.45, size=n), -2)
    plan = np.where(
        segment == "enterprise", "enterprise", np.where(rng.random(n) < 0.6, "growth", "starter")
    )
    created = _moments(rng, as_of - timedelta(days=400), 3 * 365, n)
    churned = created + pd.to_timedelta(rng.integers(60, 700, size=n), unit="D")
    end = pd.Timestamp(as_of)
    churned = churned.where((rng.random(n) < 0.06) & (churned < end))
    names = [
        f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {rng.choice(_SUFFIXES)}" for _ in range(n)
    ]
    return pd.DataFrame(
        {
            "account_id": [f"A{i:05d}" for i in range(1, n + 1)],
            "name": names,
            "segment": segment,
            "plan": plan,
            "region": rng.choice(["NA", "EMEA", "APAC", "LATAM"], size=n, p=[0.45, 0.3, 0.17, 0.08]),
            "arr": arr,
            "created_at": _iso(created),
            "churned_at": _iso(churned),
        }
    )


def _scores(rng: np.random.Generator, groups: np.ndarray) -> np.ndarray:
    promoter = rng.choice([9, 10], size=len(groups), p=[0.45, 0.55])
    passive = rng.choice([7, 8], size=len(groups))
    detractor = rng.choice(np.arange(0, 7), size=len(groups), p=[0.04, 0.04, 0.07, 0.1, 0.15, 0.25, 0.35])
    return np.select([groups == 0, groups == 1], [promoter, passive], detractor)


def make_nps_responses(rng: np.random.Generator, as_of: date, accounts: pd.DataFrame, n: int) -> pd.DataFrame:
    """NPS answers over the last year, with comments whose themes follow the planted effects."""
    products = rng.choice(list(PRODUCT_WEIGHTS), size=n, p=list(PRODUCT_WEIGHTS.values()))
    submitted = _moments(rng, as_of, 365, n)
    recent = submitted >= pd.Timestamp(as_of) - pd.Timedelta(days=29)
    planted = (products == PLANTED.nps_drop_product) & recent.to_numpy()
    uniform = rng.random(n)
    groups = np.empty(n, dtype=int)
    for product, chances in BASELINE_GROUPS.items():
        rows = products == product
        edges = np.cumsum(chances)
        groups[rows] = np.searchsorted(edges, uniform[rows] * edges[-1], side="right")
    edges = np.cumsum(PLANTED.nps_drop_groups)
    groups[planted] = np.searchsorted(edges, uniform[planted] * edges[-1], side="right")
    scores = _scores(rng, groups)
    themes = list(THEME_PHRASES)
    comments: list[str | None] = []
    for group, is_planted, has_comment in zip(groups, planted, rng.random(n) < 0.55):
        if not has_comment:
            comments.append(None)
        elif group == 0:
            comments.append(str(rng.choice(PRAISE)))
        elif group == 1:
            comments.append(str(rng.choice(NEUTRAL)))
        else:
            if is_planted and rng.random() < 0.7:
                theme = PLANTED.dominant_theme
            else:
                theme = str(rng.choice(themes))
            comments.append(str(rng.choice(THEME_PHRASES[theme])))
    order = np.argsort(submitted.to_numpy(), kind="stable")
    frame = pd.DataFrame(
        {
            "account_id": accounts["account_id"].to_numpy()[rng.integers(0, len(accounts), size=n)],
            "visitor_id": [f"V{v:06d}" for v in rng.integers(1, 60_000, size=n)],
            "product": products,
            "score": scores,
            "comment": comments,
            "submitted_at": _iso(submitted),
        }
    ).iloc[order]
    frame.insert(0, "response_id", [f"R{i:06d}" for i in range(1, n + 1)])
    return frame.reset_index(drop=True)


def make_roadmap() -> pd.DataFrame:
    """The four teams' roadmap items with their RICE inputs."""
    frame = pd.DataFrame(
        ROADMAP, columns=["item_id", "product", "title", "status", "reach", "impact", "confidence", "effort"]
    )
    frame.insert(2, "team", frame["product"].map(PRODUCT_TEAM))
    return frame


def make_feedback(rng: np.random.Generator, as_of: date, accounts: pd.DataFrame, roadmap: pd.DataFrame, n: int) -> pd.DataFrame:
    """Feature requests and other feedback; the planted item is asked for by large accounts."""
    products = rng.choice(list(PRODUCT_WEIGHTS), size=n, p=list(PRODUCT_WEIGHTS.values()))
    account_rows = rng.integers(0, len(accounts), size=n)
    items: list[str | None] = []
    for product in products:
        candidates = roadmap.loc[roadmap["product"] == product, "item_id"].tolist()
        candidates = [c for c in candidates if c != PLANTED.demand_item]
        items.append(str(rng.choice(candidates)) if rng.random() < 0.75 else None)
    frame = pd.DataFrame(
        {
            "account_id": accounts["account_id"].to_numpy()[account_rows],
            "product": products,
            "source": rng.choice(["in-app", "support", "sales", "community"], size=n, p=[0.4, 0.25, 0.2, 0.15]),
            "roadmap_item_id": items,
            "submitted_at": _moments(rng, as_of, 365, n),
        }
    )
    # The planted item: requested by 45 enterprise accounts, fewer requests than the most
    # asked-for item but far more ARR behind them.
    enterprise = accounts.loc[accounts["segment"] == "enterprise", "account_id"].to_numpy()
    askers = rng.choice(enterprise, size=min(45, len(enterprise)), replace=False)
    planted = pd.DataFrame(
        {
            "account_id": askers,
            "product": PLANTED.nps_drop_product,
            "source": rng.choice(["sales", "support"], size=len(askers)),
            "roadmap_item_id": PLANTED.demand_item,
            "submitted_at": _moments(rng, as_of, 365, len(askers)),
        }
    )
    frame = pd.concat([frame, planted], ignore_index=True).sort_values("submitted_at", kind="stable")
    titles = roadmap.set_index("item_id")["title"]
    frame["text"] = [
        f"Please add: {titles[item]}" if isinstance(item, str) else "General feedback about the product."
        for item in frame["roadmap_item_id"]
    ]
    frame["theme"] = None
    frame["submitted_at"] = _iso(frame["submitted_at"])
    frame.insert(0, "feedback_id", [f"F{i:06d}" for i in range(1, len(frame) + 1)])
    return frame[["feedback_id", "account_id", "product", "source", "text", "theme", "roadmap_item_id", "submitted_at"]]


def generate(
    out: Path | str,
    seed: int = 7,
    as_of: date | None = None,
    accounts: int = 2000,
    responses: int = 10_000,
    feedback: int = 3_000,
) -> dict[str, int]:
    """Write the sample workspace to ``out`` and return the row count of each table.

    Args:
        out: the folder to write (created if needed; existing table files are replaced).
        seed: the random seed; the same seed and ``as_of`` give identical files.
        as_of: the last day the data covers (default: today).
        accounts, responses, feedback: table sizes.
    """
    as_of = as_of or date.today()
    rng = np.random.default_rng(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    account_frame = make_accounts(rng, as_of, accounts)
    roadmap = make_roadmap()
    tables = {
        "accounts": account_frame,
        "nps_responses": make_nps_responses(rng, as_of, account_frame, responses),
        "roadmap": roadmap,
        "feedback": make_feedback(rng, as_of, account_frame, roadmap, feedback),
    }
    for name, frame in tables.items():
        tmp = out / f".{name}.csv.tmp"
        frame.to_csv(tmp, index=False)
        tmp.replace(out / f"{name}.csv")
    counts = {name: len(frame) for name, frame in tables.items()}
    meta = {"seed": seed, "as_of": as_of.isoformat(), "rows": counts}
    (out / "sample.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return counts


def sample_as_of(out: Path | str) -> date | None:
    """The as-of date a sample workspace was generated for, or None if it is not a sample."""
    meta = Path(out) / "sample.json"
    try:
        return date.fromisoformat(json.loads(meta.read_text(encoding="utf-8"))["as_of"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
