"""A deterministic sample company with planted effects, written as a workspace.

The same seed and as-of date always give the same files. Four product teams share about 2,000
accounts; customers answer NPS surveys, send feedback and ask for roadmap items. Some effects
are planted on purpose so that tests (and a newcomer reading the demo reports) can check that
the analysis finds them; :data:`PLANTED` says what they are.
"""

from __future__ import annotations

import hashlib
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
    # Tools: an under-used tool renewing soon, a team paying for two tools of one category, and
    # a team whose cost per engaged user is far above the others'.
    renewal_tool: str = "Hotjar"
    renewal_team: str = "growth"
    overlap_team: str = "analytics"
    overlap_tools: tuple[str, str] = ("Looker", "Tableau")
    costly_team: str = "platform"


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

# The people behind the tool seats: product teams and the departments they share tools with.
TEAM_SIZES = {"analytics": 30, "mobile": 24, "platform": 18, "growth": 34, "sales": 40, "support": 28, "marketing": 16}

# The tool stack: (tool, category, owner team, cost per seat per year in USD, {team: share of the
# team with a seat}, chance a seat was used in the last 30 days, spare seats bought on top as a
# share of the assigned ones, days from the as-of date to renewal). A tool with no users has
# licences but no seat-level data; for it the spare figure is the number of licences (0: none).
TOOLS: tuple[tuple[str, str, str, float, dict[str, float], float, float, int], ...] = (
    # communication
    ("Slack", "communication", "it", 150, {"analytics": 1, "mobile": 1, "platform": 1, "growth": 1, "sales": 1, "support": 1, "marketing": 1}, 0.93, 0.05, 25),
    ("Zoom", "communication", "it", 160, {"sales": 1, "support": 0.6, "marketing": 0.8}, 0.85, 0.05, 210),
    ("Loom", "communication", "growth", 150, {"marketing": 0.3}, 0.6, 0.1, 120),
    ("Microsoft Teams", "communication", "it", 100, {}, 0.0, 40, 300),
    # docs
    ("Notion", "docs", "analytics", 120, {"analytics": 1, "mobile": 1, "platform": 1, "growth": 1}, 0.9, 0.05, 150),
    ("Confluence", "docs", "platform", 70, {}, 0.0, 0, 340),
    ("Guru", "docs", "it", 120, {"sales": 0.9, "support": 1}, 0.75, 0.1, 120),
    # project management
    ("Jira", "project management", "platform", 100, {"analytics": 1, "mobile": 1, "platform": 1, "growth": 1, "support": 0.4}, 0.92, 0.05, 180),
    ("Linear", "project management", "mobile", 96, {}, 0.0, 10, 270),
    # roadmapping
    ("Productboard", "roadmapping", "analytics", 720, {"analytics": 0.3, "mobile": 0.3, "growth": 0.3, "platform": 0.3}, 0.75, 0.1, 260),
    ("Aha!", "roadmapping", "platform", 900, {}, 0.0, 5, 310),
    # design
    ("Figma", "design", "mobile", 540, {"mobile": 0.6, "growth": 0.3, "analytics": 0.2, "marketing": 0.5}, 0.8, 0.1, 210),
    ("Miro", "design", "growth", 120, {"marketing": 0.5}, 0.7, 0.1, 240),
    ("Sketch", "design", "mobile", 120, {}, 0.0, 8, 200),
    # product analytics
    ("Amplitude", "product analytics", "growth", 600, {"growth": 0.6, "marketing": 0.3}, 0.75, 0.1, 100),
    ("Pendo", "product analytics", "analytics", 700, {"analytics": 0.5, "mobile": 0.4}, 0.72, 0.1, 130),
    ("Mixpanel", "product analytics", "platform", 450, {"platform": 0.3}, 0.7, 0.1, 290),
    # session replay
    ("Hotjar", "session replay", "growth", 400, {"growth": 0.9, "analytics": 0.2}, 0.22, 0.25, 45),
    ("FullStory", "session replay", "mobile", 600, {"mobile": 0.5}, 0.8, 0.05, 250),
    # BI
    ("Looker", "BI", "analytics", 1200, {"analytics": 0.8, "sales": 0.2}, 0.78, 0.05, 160),
    ("Tableau", "BI", "analytics", 900, {"analytics": 0.5}, 0.62, 0.1, 280),
    ("Metabase", "BI", "platform", 100, {"platform": 0.5}, 0.8, 0.1, 190),
    # feature flags
    ("LaunchDarkly", "feature flags", "platform", 500, {"platform": 0.8, "mobile": 0.6}, 0.8, 0.05, 220),
    ("Statsig", "feature flags", "growth", 300, {"growth": 0.4}, 0.75, 0.1, 175),
    # research & surveys
    ("Typeform", "research & surveys", "growth", 300, {"marketing": 0.4}, 0.7, 0.1, 140),
    ("Delighted", "research & surveys", "analytics", 240, {"analytics": 0.2, "mobile": 0.2, "growth": 0.2}, 0.7, 0.1, 170),
    ("SurveyMonkey", "research & surveys", "it", 200, {"support": 0.3}, 0.65, 0.1, 115),
    ("Dovetail", "research & surveys", "growth", 480, {"marketing": 0.3}, 0.7, 0.1, 135),
    ("UserTesting", "research & surveys", "analytics", 1500, {"marketing": 0.2}, 0.75, 0.1, 295),
    # observability: Datadog is the platform team's costly, little-used tool
    ("Datadog", "observability", "platform", 4800, {"platform": 1}, 0.2, 0.2, 320),
    ("Sentry", "observability", "mobile", 312, {"mobile": 0.7}, 0.85, 0.05, 230),
    ("New Relic", "observability", "it", 1500, {}, 0.0, 15, 95),
    ("PagerDuty", "observability", "platform", 1200, {}, 0.0, 12, 330),
    ("Statuspage", "observability", "platform", 300, {"support": 0.3}, 0.7, 0.1, 205),
    # customer platforms
    ("Zendesk", "customer platforms", "it", 1100, {"support": 1}, 0.9, 0.05, 185),
    ("Intercom", "customer platforms", "it", 900, {"support": 0.4}, 0.7, 0.1, 75),
    ("Salesforce", "customer platforms", "it", 1800, {"sales": 1, "support": 0.3}, 0.9, 0.05, 245),
    ("Gong", "customer platforms", "it", 1400, {"sales": 0.8}, 0.8, 0.05, 155),
    ("Calendly", "customer platforms", "it", 96, {"sales": 0.7}, 0.8, 0.1, 65),
    ("Chili Piper", "customer platforms", "it", 300, {"sales": 0.3}, 0.6, 0.1, 225),
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


def make_tools(rng: np.random.Generator, as_of: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tool inventory and its seats, with last activity per seat."""
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    tools, seats = [], []
    for tool, category, owner, per_seat, users, engage, spare, renewal_days in TOOLS:
        assigned_rows = []
        for team, share in users.items():
            members = [f"{team[:3]}-{i:03d}" for i in range(1, TEAM_SIZES[team] + 1)]
            chosen = rng.choice(members, size=max(1, round(share * len(members))), replace=False)
            for user in sorted(chosen):
                new = rng.random() < 0.08
                assigned = end - pd.Timedelta(days=int(rng.integers(1, 59) if new else rng.integers(61, 720)))
                if rng.random() < engage:
                    active = end - pd.Timedelta(seconds=int(rng.integers(60, 30 * 86400)))
                elif rng.random() < 0.4:
                    active = pd.NaT
                else:
                    active = end - pd.Timedelta(days=int(rng.integers(31, 300)))
                    active = max(active, assigned) if not new else pd.NaT
                assigned_rows.append((tool, user, team, assigned, active))
        seats += assigned_rows
        licensed = int(np.ceil(len(assigned_rows) * (1 + spare))) if assigned_rows else int(spare)
        tools.append(
            (tool, category, owner, float(licensed * per_seat), licensed, pd.Timestamp(as_of) + pd.Timedelta(days=renewal_days))
        )
    tool_frame = pd.DataFrame(tools, columns=["tool", "category", "owner_team", "annual_cost", "seats", "renewal_date"])
    seat_frame = pd.DataFrame(seats, columns=["tool", "user_id", "team", "assigned_at", "last_active_at"])
    tool_frame["renewal_date"] = tool_frame["renewal_date"].dt.strftime("%Y-%m-%d")
    for column in ("assigned_at", "last_active_at"):
        seat_frame[column] = _iso(seat_frame[column])
    return tool_frame, seat_frame


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
    tool_frame, seat_frame = make_tools(np.random.default_rng([seed, 1]), as_of)
    tables = {
        "accounts": account_frame,
        "nps_responses": make_nps_responses(rng, as_of, account_frame, responses),
        "roadmap": roadmap,
        "feedback": make_feedback(rng, as_of, account_frame, roadmap, feedback),
        "tools": tool_frame,
        "tool_seats": seat_frame,
    }
    for name, frame in tables.items():
        tmp = out / f".{name}.csv.tmp"
        frame.to_csv(tmp, index=False)
        tmp.replace(out / f"{name}.csv")
    counts = {name: len(frame) for name, frame in tables.items()}
    meta = {"seed": seed, "as_of": as_of.isoformat(), "generator": generator_version(), "rows": counts}
    (out / "sample.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return counts


def generator_version() -> str:
    """A hash of this module, so a sample written by an older generator is known to be stale."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def sample_as_of(out: Path | str) -> date | None:
    """The as-of date a sample workspace was generated for, or None if it is not a sample."""
    meta = Path(out) / "sample.json"
    try:
        return date.fromisoformat(json.loads(meta.read_text(encoding="utf-8"))["as_of"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_current(out: Path | str, as_of: date) -> bool:
    """Whether ``out`` holds a sample for ``as_of`` written by this version of the generator."""
    try:
        meta = json.loads((Path(out) / "sample.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("as_of") == as_of.isoformat() and meta.get("generator") == generator_version()
