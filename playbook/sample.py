"""A deterministic sample company with planted effects, written as a workspace.

The same seed and as-of date always give the same files. Four product teams share about 2,000
accounts; customers answer NPS surveys, send feedback and ask for roadmap items. Some effects
are planted on purpose so that tests (and a newcomer reading the demo reports) can check that
the analysis finds them; :data:`PLANTED` says what they are.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from playbook.config import DEFAULT_SLA as _PARAM_SLA
from playbook.errors import PlaybookError
from playbook.exports import iso_text
from playbook.render import replacing, tmp_prefix, write_atomic

TEAM_PRODUCTS: dict[str, tuple[str, ...]] = {
    "analytics": ("insights", "dashboards"),
    "mobile": ("mobile-app",),
    "platform": ("api", "integrations"),
    "growth": ("onboarding", "billing"),
}
PRODUCT_TEAM = {product: team for team, products in TEAM_PRODUCTS.items() for product in products}
# SLA targets in hours per priority: the parameters' defaults (escalations.sla), defined once in config.
DEFAULT_SLA = {priority: target.model_dump() for priority, target in _PARAM_SLA.items()}
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
    # Tools nobody uses: one with licences and no seat assigned, one whose assigned seats nobody
    # used in the last 30 days; and the largest idle spend, to be named with its money.
    unused_tool: str = "New Relic"
    unused_seated_tool: str = "Sketch"
    unused_seated_team: str = "mobile"
    idle_tool: str = "Datadog"
    idle_team: str = "platform"
    # Escalations and product health.
    sla_team: str = "platform"
    repeat_team: str = "analytics"
    repeat_escalations: int = 4
    stickiness_team: str = "growth"  # its stickiness falls by a third or more: the tracking change below
    # A tracking change, not behaviour: from this many days before the as-of date (1 Nov for an
    # as-of of 27 Nov) the product logs only this share of its visits, a one-day level shift in
    # its daily event volume that drags the team's stickiness down.
    level_shift_team: str = "growth"
    level_shift_product: str = "onboarding"
    level_shift_days_ago: int = 26
    level_shift_kept: float = 0.2
    # A P1 opened long before the period and still open, far past its resolution target, on an
    # S1 bug opened the next day and still open too.
    live_breach_team: str = "mobile"
    live_breach_priority: str = "P1"
    live_breach_days_ago: int = 249
    old_bug_severity: str = "S1"
    low_adoption_team: str = "mobile"
    low_adoption_feature: str = "F-MOB-3"
    retention_team: str = "analytics"
    retention_release: str = "F-INS-5"
    retention_release_days_ago: int = 42
    # Experiments.
    winner: str = "EXP-GRO-1"
    winner_team: str = "growth"
    flat: str = "EXP-ANA-1"
    flat_team: str = "analytics"
    srm: str = "EXP-MOB-1"
    srm_team: str = "mobile"
    cuped: str = "EXP-PLA-1"
    cuped_team: str = "platform"
    infeasible: str = "EXP-MOB-9"
    infeasible_team: str = "mobile"
    # A concluded experiment that significantly hurt its metric: conversion from
    # harmful_control_rate to harmful_control_rate x (1 + harmful_effect), about 2,000 units per arm.
    harmful: str = "EXP-GRO-6"
    harmful_name: str = "Pricing page FAQ"
    harmful_team: str = "growth"
    harmful_control_rate: float = 0.28
    harmful_effect: float = -0.2
    # A running experiment a peek would ship (issue 19): its conversions are set so that the
    # fixed-horizon pooled z-test gives a p-value in (peeking_p_low, peeking_p] at the planted
    # control rate, while an always-valid interval (GrowthBook's tuning 5,000: about three
    # standard errors wide on each side at its ~2,400 units) still includes zero: keep running.
    peeking: str = "EXP-ANA-3"
    peeking_name: str = "Chart suggestions"
    peeking_team: str = "analytics"
    peeking_control_rate: float = 0.2
    peeking_p: float = 0.02
    peeking_p_low: float = 0.015
    # A concluded experiment where this share of its units (rounded) also has a later exposure
    # to the other variant, with the same unit_id: to be excluded from analysis and counted.
    both_arms: str = "EXP-ANA-7"
    both_arms_name: str = "Saved filters"
    both_arms_team: str = "analytics"
    both_arms_share: float = 0.02
    # A concluded experiment measured from events (experiment_metrics), its units the visitors
    # active on the product between guarded_start_days_ago and guarded_end_days_ago (the end
    # date excluded), exposed at their first event there, split 50/50. Its effects are planted by
    # labelling existing event rows (events.event) in each treatment unit's metric window, so no
    # health figure moves; every mobile-app row carries one of these kinds at the base rates in
    # event_rates over all 180 days, so no (product, event) series steps when it starts (a sample
    # written in blocks, with more events per visit day, names the binary metrics' kinds more
    # rarely: see _event_rates).
    guarded: str = "EXP-MOB-7"
    guarded_name: str = "Quick actions bar"
    guarded_team: str = "mobile"
    guarded_product: str = "mobile-app"
    guarded_start_days_ago: int = 45
    guarded_end_days_ago: int = 17
    event_rates: tuple[tuple[str, float], ...] = (
        ("task_completed", 0.10), ("app_crash", 0.16), ("search_run", 0.14), ("search_result_opened", 0.08), ("help_opened", 0.08),
    )
    # (b, e) Goal, binary, higher is better, 14-day window: treatment units outside the opposite
    # segment gain goal_lift (a share of those units given a first task_completed they lacked);
    # in opposite_segment (accounts.segment) treatment loses opposite_lift (a share of the units
    # that had one lose every task_completed in the window).
    goal_metric: str = "task_completed"
    goal_window_days: int = 14
    goal_lift: float = 0.22
    opposite_segment: str = "smb"
    opposite_lift: float = -0.10
    # (b) Guardrail, continuous (app_crash rows per unit), lower is better, window until the
    # experiment's end: treatment gets guardrail_lift more crashes (relative), a harmful change
    # that blocks shipping the goal's win.
    guardrail_metric: str = "app_crash"
    guardrail_lift: float = 0.35
    # (d) Ratio, secondary, 14-day window: search_result_opened rows per search_run row; in
    # treatment ratio_moved of the search_run rows become search_result_opened.
    ratio_metric: str = "search_success"
    ratio_event: str = "search_result_opened"
    ratio_denominator: str = "search_run"
    ratio_moved: float = 0.2
    # (f) Secondary, binary, lower is better, 14-day window: treatment units that opened help
    # lose every help_opened in the window, for a fall of lower_lift in the share opening help.
    lower_metric: str = "help_opened"
    lower_lift: float = -0.09
    # Communication and enablement.
    slow_intake_team: str = "mobile"
    slow_intake_group: str = "sales"
    unreached_release: str = "REL-API-3"
    unreached_team: str = "platform"
    unreached_audience: str = "support"
    early_release: str = "REL-INS-5"
    early_team: str = "analytics"
    gap_group: str = "support"
    gap_feature: str = "F-BIL-3"
    gap_team: str = "growth"
    slow_adoption_feature: str = "F-INT-3"
    slow_adoption_team: str = "platform"


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
TEAM_SIZES = {"analytics": 30, "mobile": 24, "platform": 18, "growth": 34, "sales": 40, "support": 28, "marketing": 16, "success": 20}

# The tool stack: (tool, category, function (what it does), owner team, cost per seat per year in
# USD, {team: share of the team with a seat}, chance a seat was used in the last 30 days, spare
# seats bought on top as a share of the assigned ones, days from the as-of date to renewal). A
# tool with no users has licences but no seat assigned; for it the spare figure is the number of
# licences (0: none).
TOOLS: tuple[tuple[str, str, str, str, float, dict[str, float], float, float, int], ...] = (
    # communication
    ("Slack", "communication", "chat", "it", 150, {"analytics": 1, "mobile": 1, "platform": 1, "growth": 1, "sales": 1, "support": 1, "marketing": 1}, 0.93, 0.05, 25),
    ("Zoom", "communication", "video meetings", "it", 160, {"sales": 1, "support": 0.6, "marketing": 0.8}, 0.85, 0.05, 210),
    ("Loom", "communication", "video messages", "growth", 150, {"marketing": 0.3}, 0.6, 0.1, 120),
    ("Microsoft Teams", "communication", "chat", "it", 100, {}, 0.0, 40, 300),
    # docs
    ("Notion", "docs", "wiki", "analytics", 120, {"analytics": 1, "mobile": 1, "platform": 1, "growth": 1}, 0.9, 0.05, 150),
    ("Confluence", "docs", "wiki", "platform", 70, {}, 0.0, 0, 340),
    ("Guru", "docs", "knowledge base", "it", 120, {"sales": 0.9, "support": 1}, 0.75, 0.1, 120),
    # project management
    ("Jira", "project management", "issue tracking", "platform", 100, {"analytics": 1, "mobile": 1, "platform": 1, "growth": 1, "support": 0.4}, 0.92, 0.05, 180),
    ("Linear", "project management", "issue tracking", "mobile", 96, {}, 0.0, 10, 270),
    # roadmapping
    ("Productboard", "roadmapping", "roadmapping", "analytics", 720, {"analytics": 0.3, "mobile": 0.3, "growth": 0.3, "platform": 0.3}, 0.75, 0.1, 260),
    ("Aha!", "roadmapping", "roadmapping", "platform", 900, {}, 0.0, 5, 310),
    # design
    ("Figma", "design", "interface design", "mobile", 540, {"mobile": 0.6, "growth": 0.3, "analytics": 0.2, "marketing": 0.5}, 0.8, 0.1, 210),
    ("Miro", "design", "whiteboard", "growth", 120, {"marketing": 0.5}, 0.7, 0.1, 240),
    # product analytics
    ("Amplitude", "product analytics", "product analytics", "growth", 600, {"growth": 0.6, "marketing": 0.3}, 0.75, 0.1, 100),
    ("Pendo", "product analytics", "product analytics", "analytics", 700, {"analytics": 0.5, "mobile": 0.4}, 0.72, 0.1, 130),
    ("Mixpanel", "product analytics", "product analytics", "platform", 450, {"platform": 0.3}, 0.7, 0.1, 290),
    # session replay
    ("Hotjar", "session replay", "session replay", "growth", 400, {"growth": 0.9, "analytics": 0.2}, 0.22, 0.25, 45),
    ("FullStory", "session replay", "session replay", "mobile", 600, {"mobile": 0.5}, 0.8, 0.05, 250),
    # BI
    ("Looker", "BI", "BI dashboards", "analytics", 1200, {"analytics": 0.8, "sales": 0.2}, 0.78, 0.05, 160),
    ("Tableau", "BI", "BI dashboards", "analytics", 900, {"analytics": 0.5}, 0.62, 0.1, 280),
    ("Metabase", "BI", "BI dashboards", "platform", 100, {"platform": 0.5}, 0.8, 0.1, 190),
    # feature flags
    ("LaunchDarkly", "feature flags", "feature flags", "platform", 500, {"platform": 0.8, "mobile": 0.6}, 0.8, 0.05, 220),
    ("Statsig", "feature flags", "feature flags", "growth", 300, {"growth": 0.4}, 0.75, 0.1, 175),
    # research & surveys
    ("Typeform", "research & surveys", "surveys", "growth", 300, {"marketing": 0.4}, 0.7, 0.1, 140),
    ("Delighted", "research & surveys", "surveys", "analytics", 240, {"analytics": 0.2, "mobile": 0.2, "growth": 0.2}, 0.7, 0.1, 170),
    ("SurveyMonkey", "research & surveys", "surveys", "it", 200, {"support": 0.3}, 0.65, 0.1, 115),
    ("Dovetail", "research & surveys", "research repository", "growth", 480, {"marketing": 0.3}, 0.7, 0.1, 135),
    ("UserTesting", "research & surveys", "user testing", "analytics", 1500, {"marketing": 0.2}, 0.75, 0.1, 295),
    # observability: Datadog is the platform team's costly, little-used tool
    ("Datadog", "observability", "monitoring", "platform", 4800, {"platform": 1}, 0.2, 0.2, 320),
    ("Sentry", "observability", "error tracking", "mobile", 312, {"mobile": 0.7}, 0.85, 0.05, 230),
    ("New Relic", "observability", "monitoring", "it", 1500, {}, 0.0, 15, 95),
    ("PagerDuty", "observability", "on-call alerting", "platform", 1200, {}, 0.0, 12, 330),
    ("Statuspage", "observability", "status page", "platform", 300, {"support": 0.3}, 0.7, 0.1, 205),
    # customer platforms
    ("Zendesk", "customer platforms", "helpdesk", "it", 1100, {"support": 1}, 0.9, 0.05, 185),
    ("Intercom", "customer platforms", "helpdesk", "it", 900, {"support": 0.4}, 0.7, 0.1, 75),
    ("Salesforce", "customer platforms", "crm", "it", 1800, {"sales": 1, "support": 0.3}, 0.9, 0.05, 245),
    ("Gong", "customer platforms", "call recording", "it", 1400, {"sales": 0.8}, 0.8, 0.05, 155),
    ("Calendly", "customer platforms", "scheduling", "it", 96, {"sales": 0.7}, 0.8, 0.1, 65),
    ("Chili Piper", "customer platforms", "scheduling", "it", 300, {"sales": 0.3}, 0.6, 0.1, 225),
    # last, so its draws leave every other tool's seats as they were: assigned mobile seats, none used
    ("Sketch", "design", "interface design", "mobile", 120, {"mobile": 0.25}, 0.0, 0.3, 200),
)

# Features per product: (feature_id, name, is_core, days before the as-of date it shipped).
FEATURES: tuple[tuple[str, str, str, bool, int], ...] = (
    ("F-INS-1", "insights", "Saved reports", True, 900),
    ("F-INS-2", "insights", "Funnels", True, 700),
    ("F-INS-3", "insights", "Cohort tables", False, 400),
    ("F-INS-4", "insights", "Scheduled e-mails", False, 250),
    ("F-INS-5", "insights", "Redesigned report builder", False, 42),
    ("F-DSH-1", "dashboards", "Dashboard builder", True, 900),
    ("F-DSH-2", "dashboards", "Sharing", True, 600),
    ("F-DSH-3", "dashboards", "Alerts", False, 300),
    ("F-DSH-4", "dashboards", "Embeds", False, 150),
    ("F-MOB-1", "mobile-app", "Home feed", True, 900),
    ("F-MOB-2", "mobile-app", "Push notifications", True, 800),
    ("F-MOB-3", "mobile-app", "Shared workspaces", True, 500),
    ("F-MOB-4", "mobile-app", "Offline drafts", False, 200),
    ("F-MOB-5", "mobile-app", "Dark theme", False, 90),
    ("F-API-1", "api", "REST v2", True, 900),
    ("F-API-2", "api", "Webhooks", True, 600),
    ("F-API-3", "api", "Bulk endpoints", False, 120),
    ("F-INT-1", "integrations", "Salesforce sync", True, 800),
    ("F-INT-2", "integrations", "Slack app", True, 500),
    ("F-INT-3", "integrations", "Zapier triggers", False, 100),
    ("F-ONB-1", "onboarding", "Setup checklist", True, 700),
    ("F-ONB-2", "onboarding", "Invite teammates", True, 600),
    ("F-ONB-3", "onboarding", "Templates", False, 60),
    ("F-BIL-1", "billing", "Self-serve upgrade", True, 800),
    ("F-BIL-2", "billing", "Invoices", True, 700),
    ("F-BIL-3", "billing", "Usage meter", False, 75),
)
# Chance an account uses each product.
PRODUCT_UPTAKE = {"insights": 0.6, "dashboards": 0.45, "mobile-app": 0.5, "api": 0.25, "integrations": 0.3, "onboarding": 0.35, "billing": 0.3}
EVENT_DAYS = 180
# The title of the planted live-breach escalation (see Planted.live_breach_team).
LIVE_BREACH_TITLE = "Sync drops records for large workspaces"
ESCALATION_CATEGORIES = {
    "performance": ("Reports time out for our team", "Dashboard takes minutes to load", "App freezes on large accounts"),
    "data": ("Numbers do not match our export", "Missing data since yesterday", "Duplicate records after import"),
    "access": ("Users locked out after SSO change", "Cannot invite new admins", "Permissions reset unexpectedly"),
    "billing": ("Charged twice this month", "Invoice shows the wrong plan", "Cannot download invoices"),
    "integration": ("Salesforce sync stopped", "Webhooks not delivered", "Slack alerts missing"),
    "bug": ("Export button does nothing", "Filters reset on refresh", "Error when saving a report"),
}

_ADJECTIVES = ("Blue", "North", "Bright", "Silver", "Rapid", "Quiet", "Golden", "Urban", "Clear", "Summit", "Harbor", "Maple")
_NOUNS = ("Harbor", "Peak", "River", "Forge", "Signal", "Field", "Bridge", "Orbit", "Stone", "Lantern", "Grove", "Works")
_SUFFIXES = ("Labs", "Group", "Systems", "Co", "Partners", "Health", "Logistics", "Retail", "Media", "Finance")


def _iso(values: pd.Series) -> pd.Series:
    """Times as the CSV files spell them, to the second; a missing time stays missing (NaN), as the
    generator reads it back."""
    return iso_text(pd.to_datetime(values).dt.floor("s"), missing=None)


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
    # A growing company: one account in seven signed up in the last 180 days.
    recent = rng.random(n) < 0.14
    created = pd.Series(np.where(recent, _moments(rng, as_of, 180, n), _moments(rng, as_of - timedelta(days=180), 3 * 365, n)))
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


# Roadmap items that are a feature of the features table, named differently or not (the contract
# allows the added ``feature_id`` column; items without one link by title, see playbook.roadmap).
ROADMAP_FEATURES = {"MOB-1": "F-MOB-5", "PLA-5": "F-API-3", "PLA-8": "F-INT-3", "GRO-5": "F-ONB-2"}


def make_roadmap() -> pd.DataFrame:
    """The four teams' roadmap items with their RICE inputs, and the feature each one is, where known."""
    frame = pd.DataFrame(
        ROADMAP, columns=["item_id", "product", "title", "status", "reach", "impact", "confidence", "effort"]
    )
    frame.insert(2, "team", frame["product"].map(PRODUCT_TEAM))
    frame["feature_id"] = frame["item_id"].map(ROADMAP_FEATURES)
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
    for tool, category, function, owner, per_seat, users, engage, spare, renewal_days in TOOLS:
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
            (tool, category, function, owner, float(licensed * per_seat), licensed, pd.Timestamp(as_of) + pd.Timedelta(days=renewal_days))
        )
    tool_frame = pd.DataFrame(tools, columns=["tool", "category", "function", "owner_team", "annual_cost", "seats", "renewal_date"])
    seat_frame = pd.DataFrame(seats, columns=["tool", "user_id", "team", "assigned_at", "last_active_at"])
    tool_frame["renewal_date"] = tool_frame["renewal_date"].dt.strftime("%Y-%m-%d")
    for column in ("assigned_at", "last_active_at"):
        seat_frame[column] = _iso(seat_frame[column])
    return tool_frame, seat_frame


def make_features(as_of: date) -> pd.DataFrame:
    """The features of every product, which ones are core, and when they shipped."""
    frame = pd.DataFrame(FEATURES, columns=["feature_id", "product", "name", "is_core", "days_ago"])
    released = pd.Timestamp(as_of) - pd.to_timedelta(frame["days_ago"], unit="D")
    return pd.DataFrame(
        {
            "feature_id": frame["feature_id"],
            "name": frame["name"],
            "product": frame["product"],
            "team": frame["product"].map(PRODUCT_TEAM),
            "is_core": frame["is_core"],
            "released_at": released.dt.strftime("%Y-%m-%dT10:00:00Z"),
        }
    )


# Above this many events a sample is drawn and written in blocks of visitor rows (issue 23), each
# block's events in memory alone; at or below it, in one piece, exactly as before blocks existed.
# It is at most 2,250,000 so that every single-piece sample keeps today's visitors (see
# _visitor_scale: its scale rounds to 1 up to there).
EVENT_CHUNK = 2_000_000
# The DuckDB memory cap for the final sort of the blocks' events into one file.
MERGE_MEMORY = "1GB"


def _visitor_scale(target: int) -> int:
    """How many times the default visitors each account has in a sample of ``target`` events.

    Real products with 100M events a quarter have far more visitors than the default sample's
    (issue 23 cites some 200,000): the visitors grow with the square root of the events (ten
    times the default's at 100M), so the events per visitor-day grow with its square root too;
    rounded, at least 1 (the default and smaller samples keep their visitors).
    """
    return max(1, round(math.sqrt(target / 1_000_000)))


@dataclass(frozen=True)
class _EventRows:
    """The (account, visitor, product) rows events are drawn for, one entry per row, and what
    each row's events need: the days it may be seen and its chance of a visit on one of them."""

    start: pd.Timestamp  # the first day of the events
    account_ids: np.ndarray  # per account
    acc: np.ndarray  # per row: the account's position
    vis: np.ndarray  # the visitor's number within the account
    prod: np.ndarray  # the product's position in PRODUCT_UPTAKE
    rate: np.ndarray  # the chance of a visit on a day the row is alive
    first: np.ndarray  # the first day (from start) the row may be seen
    end: np.ndarray  # the last day the row may be seen


def _plan_event_rows(rng: np.random.Generator, as_of: date, accounts: pd.DataFrame, scale: int) -> _EventRows:
    """Who uses what: each account's visitors (``scale`` times the default) and products, each
    visitor's chance of coming back on a day, and the days each may be seen (the planted
    retention drop: new analytics accounts after the planted release often leave after their
    first week)."""
    start = pd.Timestamp(as_of) - pd.Timedelta(days=EVENT_DAYS - 1)
    products = list(PRODUCT_UPTAKE)
    n_acc = len(accounts)
    created = pd.to_datetime(accounts["created_at"]).dt.tz_localize(None)
    churned = pd.to_datetime(accounts["churned_at"]).dt.tz_localize(None)
    first_day = ((created.dt.normalize() - start).dt.days.clip(lower=0)).to_numpy()
    last_day = ((churned.dt.normalize() - start).dt.days.fillna(EVENT_DAYS - 1).clip(upper=EVENT_DAYS - 1)).to_numpy().astype(int)
    visitors = scale * np.select(
        [accounts["segment"] == "enterprise", accounts["segment"] == "mid-market"],
        [rng.integers(8, 21, n_acc), rng.integers(3, 9, n_acc)],
        rng.integers(1, 4, n_acc),
    )
    uses = rng.random((n_acc, len(products))) < np.array(list(PRODUCT_UPTAKE.values()))
    uses[~uses.any(axis=1), 0] = True
    # New analytics accounts after the planted release often leave after their first week.
    release_day = EVENT_DAYS - 1 - PLANTED.retention_release_days_ago
    is_new = created >= start
    leaves = np.where(first_day >= release_day, rng.random(n_acc) < 0.6, rng.random(n_acc) < 0.1) & is_new.to_numpy()
    # Three quarters of each account's visitors use each of its products: one draw per (account,
    # product, visitor) in that order (as many draws, in the same order, as one at a time).
    acc_of, prod_of = np.nonzero(uses)
    many = visitors[acc_of]
    acc, prod = np.repeat(acc_of, many), np.repeat(prod_of, many)
    vis = np.arange(len(acc)) - np.repeat(np.cumsum(many) - many, many)
    kept = rng.random(len(acc)) < 0.75
    acc, vis, prod = acc[kept], vis[kept], prod[kept]
    rate = rng.beta(2, 9, len(acc))
    team_of = np.array([PRODUCT_TEAM[p] for p in products])
    end = last_day[acc].copy()
    # Leaving accounts are not seen after the (Monday-to-Sunday) week they started in.
    first_week_end = first_day + 6 - (start + pd.to_timedelta(first_day, unit="D")).day_of_week.to_numpy()
    gone = (team_of[prod] == PLANTED.retention_team) & leaves[acc]
    end[gone] = np.minimum(end[gone], first_week_end[acc][gone])
    return _EventRows(start, accounts["account_id"].to_numpy(), acc, vis, prod, rate, first_day[acc], end)


def _visit_chances(rows: _EventRows, part: slice) -> tuple[np.ndarray, np.ndarray]:
    """For the rows in ``part``, each day's chance of a visit (rows x days) and whether the row
    may be seen that day. The planted tracking change: from its day on, the level-shift product
    logs only a share of its visits."""
    days = np.arange(EVENT_DAYS)
    chance = np.repeat(rows.rate[part, None], EVENT_DAYS, axis=1)
    shift_day = EVENT_DAYS - 1 - PLANTED.level_shift_days_ago
    shifted = np.array(list(PRODUCT_UPTAKE))[rows.prod[part]] == PLANTED.level_shift_product
    chance[np.ix_(shifted, days >= shift_day)] *= PLANTED.level_shift_kept
    alive = (days[None, :] >= rows.first[part][:, None]) & (days[None, :] <= rows.end[part][:, None])
    return chance, alive


def _feature_finders(rng: np.random.Generator, n_acc: int) -> tuple[np.ndarray, np.ndarray]:
    """The accounts that ever find the planted low-adoption feature, and those that try the
    planted slow launch in its first 30 days."""
    return rng.random(n_acc) < 0.05, rng.random(n_acc) < 0.04


def _draw_events(
    rng: np.random.Generator,
    as_of: date,
    rows: _EventRows,
    part: slice,
    target: float,
    visits: float | None = None,
    finders: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The events of the rows in ``part``, sorted by time: each row's visits, as many events on a
    visit day as ``target`` spread over ``visits`` visit days (None: the visits drawn here), and
    the features they used, with the planted low adoption and slow launch.

    ``finders`` (:func:`_feature_finders`) None draws them here, after the events' draws: the
    single-piece order, so that a sample of one block is drawn exactly as it always was.
    """
    products = list(PRODUCT_UPTAKE)
    acc, prod = rows.acc[part], rows.prod[part]
    chance, alive = _visit_chances(rows, part)
    active = (rng.random(chance.shape) < chance) & alive
    del chance, alive
    row, day = np.nonzero(active)
    del active
    per_day = max(target / max(len(row) if visits is None else visits, 1), 0.05)
    counts = np.maximum(rng.poisson(per_day, len(row)), 1 if per_day >= 1 else 0)
    row, day = np.repeat(row, counts), np.repeat(day, counts)
    del counts
    # Seconds from the first day's midnight: the events' times, kept as numbers until sorted.
    second = day * 86400 + rng.integers(0, 86400, len(row))
    del day
    features = make_features(as_of)
    # Features by position in ``features`` (-1: none), named only once the events are sorted.
    feature = np.full(len(row), -1, dtype=np.int16)
    with_feature = rng.random(len(row)) < 0.6
    event_prod = prod[row]
    for p, product in enumerate(products):
        mine = np.flatnonzero(features["product"].to_numpy() == product)
        weights = np.where(features["is_core"].to_numpy()[mine], 3.0, 1.0)
        pick = (event_prod == p) & with_feature
        feature[pick] = rng.choice(mine, size=int(pick.sum()), p=weights / weights.sum())
    del with_feature, event_prod
    released = (pd.to_datetime(features["released_at"]).dt.tz_localize(None) - rows.start).dt.total_seconds().to_numpy()
    used = feature >= 0
    feature[used & (released[np.maximum(feature, 0)] > second)] = -1
    ids = features["feature_id"].tolist()
    finds, early = _feature_finders(rng, len(rows.account_ids)) if finders is None else finders
    event_acc = acc[row]
    # Few accounts ever find the planted core feature.
    feature[(feature == ids.index(PLANTED.low_adoption_feature)) & ~finds[event_acc]] = -1
    # The planted slow launch: in its first 30 days only a few accounts try the new feature.
    launch = ids.index(PLANTED.slow_adoption_feature)
    feature[(feature == launch) & (second < released[launch] + 30 * 86400) & ~early[event_acc]] = -1
    del event_acc
    order = np.argsort(second, kind="stable")
    row, second, feature = row[order], second[order], feature[order]
    del order
    visitor = np.array([f"U{a + 1:05d}-{v:02d}" for a, v in zip(acc, rows.vis[part])], dtype=object)
    return pd.DataFrame(
        {
            "ts": rows.start + pd.to_timedelta(second, unit="s"),
            "visitor_id": visitor[row],
            "account_id": rows.account_ids[acc[row]],
            "product": np.array(products, dtype=object)[prod[row]],
            "feature_id": np.array([*ids, None], dtype=object)[feature],
        }
    )


def make_events(rng: np.random.Generator, as_of: date, accounts: pd.DataFrame, target: int) -> pd.DataFrame:
    """About ``target`` product-usage events over the last 180 days, with the planted health effects.

    Each account uses some products; each of its visitors comes back on a day with a chance of
    their own. A tracking change on one growth product logs only part of its visits from a fixed
    day (:attr:`Planted.level_shift_product`), a step in its daily volume; new
    analytics accounts signed up after the planted release often stop after their first week; one
    mobile core feature is used by few accounts. All in memory: :func:`generate` draws a sample
    above :data:`EVENT_CHUNK` events in blocks instead (:func:`_write_event_blocks`).
    """
    rows = _plan_event_rows(rng, as_of, accounts, _visitor_scale(target))
    return _draw_events(rng, as_of, rows, slice(None), target)


def make_escalations(rng: np.random.Generator, as_of: date, accounts: pd.DataFrame, n: int, sla: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """Customer escalations over the last year, with the planted SLA breaches and repeat account."""
    products = rng.choice(list(PRODUCT_WEIGHTS), size=n, p=list(PRODUCT_WEIGHTS.values()))
    live = accounts[accounts["churned_at"].isna()].reset_index(drop=True)
    weights = np.sqrt(live["arr"].to_numpy())
    account = live["account_id"].to_numpy()[rng.choice(len(live), size=n, p=weights / weights.sum())]
    priority = rng.choice(["P1", "P2", "P3", "P4"], size=n, p=[0.08, 0.22, 0.42, 0.28])
    opened = _moments(rng, as_of, 365, n)
    teams = pd.Series(products).map(PRODUCT_TEAM).to_numpy()
    # Median first response: a quarter of the target, except the planted team's P1s (twice it).
    target_fr = np.array([sla[p][0] for p in priority])
    factor = np.where((teams == PLANTED.sla_team) & (priority == "P1"), 2.0, 0.12)
    first_response = opened + pd.to_timedelta(target_fr * factor * rng.lognormal(0, 0.8, n) * 3600, unit="s")
    target_res = np.array([sla[p][1] for p in priority])
    resolved = first_response + pd.to_timedelta(target_res * 0.25 * rng.lognormal(0, 0.6, n) * 3600, unit="s")
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    recent = opened > end - pd.Timedelta(days=10)
    still_open = np.where(recent, rng.random(n) < 0.2, rng.random(n) < 0.01) | (resolved >= end).to_numpy()
    no_reply = still_open & (rng.random(n) < 0.03) | (first_response >= end).to_numpy()
    categories = rng.choice(list(ESCALATION_CATEGORIES), size=n)
    titles = [str(rng.choice(ESCALATION_CATEGORIES[c])) for c in categories]
    frame = pd.DataFrame(
        {
            "account_id": account,
            "product": products,
            "team": teams,
            "priority": priority,
            "category": categories,
            "title": titles,
            "opened_at": opened,
            "first_response_at": first_response.where(~no_reply),
            "resolved_at": resolved.where(~still_open),
            "reopened": rng.choice([0, 1, 2], size=n, p=[0.91, 0.075, 0.015]),
        }
    )
    # The planted repeat account: the largest live account escalates four times this month.
    top = live.sort_values("arr", ascending=False).iloc[0]["account_id"]
    k = PLANTED.repeat_escalations
    product = TEAM_PRODUCTS[PLANTED.repeat_team][0]
    opened_top = end - pd.to_timedelta(rng.integers(2, 28, k) * 86400 + rng.integers(0, 86400, k), unit="s")
    repeat = pd.DataFrame(
        {
            "account_id": top,
            "product": product,
            "team": PLANTED.repeat_team,
            "priority": ["P2", "P2", "P1", "P3"][:k] + ["P3"] * max(0, k - 4),
            "category": "data",
            "title": [str(t) for t in rng.choice(ESCALATION_CATEGORIES["data"], size=k)],
            "opened_at": opened_top,
            "first_response_at": opened_top + pd.Timedelta(minutes=25),
            "resolved_at": [opened_top[0] + pd.Timedelta(days=1)] + [pd.NaT] * (k - 1),
            "reopened": [1] + [0] * (k - 1),
        }
    )
    # The planted slow team: this month's P1s wait two to five hours for a first reply (target: one).
    slow_n = 6
    opened_slow = end - pd.to_timedelta(rng.integers(3, 28, slow_n) * 86400 + rng.integers(0, 86400, slow_n), unit="s")
    reply = pd.to_timedelta(np.array([0.5, 2.0, 2.5, 3.0, 4.0, 5.0]) * 3600, unit="s")
    slow = pd.DataFrame(
        {
            "account_id": live["account_id"].to_numpy()[rng.choice(len(live), size=slow_n, replace=False)],
            "product": rng.choice(TEAM_PRODUCTS[PLANTED.sla_team], size=slow_n),
            "team": PLANTED.sla_team,
            "priority": "P1",
            "category": "performance",
            "title": [str(t) for t in rng.choice(ESCALATION_CATEGORIES["performance"], size=slow_n)],
            "opened_at": opened_slow,
            "first_response_at": opened_slow + reply,
            "resolved_at": opened_slow + reply + pd.Timedelta(hours=10),
            "reopened": 0,
        }
    )
    # Support escalations about the newest analytics feature in the weeks after its launch.
    launched = end - pd.Timedelta(days=PLANTED.retention_release_days_ago + 1)
    about = pd.DataFrame(
        {
            "account_id": live["account_id"].to_numpy()[rng.choice(len(live), size=3, replace=False)],
            "product": TEAM_PRODUCTS[PLANTED.retention_team][0],
            "team": PLANTED.retention_team,
            "priority": ["P2", "P3", "P3"],
            "category": "bug",
            "title": ["Redesigned report builder loses my filters", "Cannot find export in the redesigned report builder",
                      "Redesigned report builder is slow on big reports"],
            "opened_at": [launched + pd.Timedelta(days=d) for d in (3, 9, 20)],
            "first_response_at": [launched + pd.Timedelta(days=d, hours=2) for d in (3, 9, 20)],
            "resolved_at": [launched + pd.Timedelta(days=d + 2) for d in (3, 9, 20)],
            "reopened": 0,
        }
    )
    # The planted live breach: a P1 of the second-largest live account, answered at once, opened
    # months before the period and still open (drawn without the generator, so no other plant moves).
    opened_live = end - pd.Timedelta(days=PLANTED.live_breach_days_ago, hours=7)
    live_breach = pd.DataFrame(
        {
            "account_id": [live.sort_values("arr", ascending=False).iloc[1]["account_id"]],
            "product": TEAM_PRODUCTS[PLANTED.live_breach_team][0],
            "team": PLANTED.live_breach_team,
            "priority": PLANTED.live_breach_priority,
            "category": "data",
            "title": LIVE_BREACH_TITLE,
            "opened_at": [opened_live],
            "first_response_at": [opened_live + pd.Timedelta(minutes=20)],
            "resolved_at": [pd.NaT],
            "reopened": 0,
        }
    )
    frame = pd.concat([frame, repeat, slow, about, live_breach], ignore_index=True).sort_values("opened_at", kind="stable", ignore_index=True)
    frame.insert(0, "escalation_id", [f"E{i:06d}" for i in range(1, len(frame) + 1)])
    for column in ("opened_at", "first_response_at", "resolved_at"):
        frame[column] = _iso(pd.to_datetime(frame[column]))
    return frame


def make_bugs(rng: np.random.Generator, as_of: date, escalations: pd.DataFrame, n: int) -> pd.DataFrame:
    """Bugs found by customers and internally; some customer bugs come from an escalation."""
    products = rng.choice(list(PRODUCT_WEIGHTS), size=n, p=list(PRODUCT_WEIGHTS.values()))
    opened = _moments(rng, as_of, 365, n)
    closed = opened + pd.to_timedelta(rng.lognormal(np.log(12), 0.9, n) * 86400, unit="s")
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    still_open = (closed >= end).to_numpy() | (rng.random(n) < 0.08)
    source = rng.choice(["customer", "internal"], size=n, p=[0.4, 0.6])
    links = []
    by_product = escalations.groupby("product")["escalation_id"].apply(list).to_dict()
    for product, src in zip(products, source):
        pool = by_product.get(product, [])
        links.append(str(rng.choice(pool)) if src == "customer" and pool and rng.random() < 0.3 else None)
    frame = pd.DataFrame(
        {
            "bug_id": [f"B{i:05d}" for i in range(1, n + 1)],
            "product": products,
            "team": pd.Series(products).map(PRODUCT_TEAM),
            "severity": rng.choice(["S1", "S2", "S3", "S4"], size=n, p=[0.05, 0.2, 0.45, 0.3]),
            "source": source,
            "opened_at": opened,
            "closed_at": closed.where(~still_open),
            "escalation_id": links,
        }
    )
    # The planted old bug: the planted live P1's cause, filed the day after it and still open.
    live_p1 = escalations[(escalations["title"] == LIVE_BREACH_TITLE) & (escalations["team"] == PLANTED.live_breach_team)]
    if len(live_p1):
        cause = live_p1.iloc[0]
        frame = pd.concat([frame, pd.DataFrame({
            "bug_id": ["B"], "product": [cause["product"]], "team": [cause["team"]], "severity": [PLANTED.old_bug_severity],
            "source": ["customer"], "opened_at": [pd.Timestamp(cause["opened_at"]).tz_localize(None) + pd.Timedelta(days=1)],
            "closed_at": [pd.NaT], "escalation_id": [cause["escalation_id"]],
        })], ignore_index=True)
    frame = frame.sort_values("opened_at", kind="stable", ignore_index=True)
    frame["bug_id"] = [f"B{i:05d}" for i in range(1, len(frame) + 1)]
    for column in ("opened_at", "closed_at"):
        frame[column] = _iso(frame[column])
    return frame


# Experiments that are not planted: (team, name, metric, status, relative effect, units per arm).
OTHER_EXPERIMENTS = (
    ("growth", "Shorter sign-up form", "signup", "concluded", 0.05, 1500),
    ("growth", "Annual plan nudge", "upgrade", "running", 0.0, 900),
    ("growth", "Trial length 21 days", "upgrade", "proposed", 0.08, 0),
    ("growth", "Referral banner", "invite_sent", "proposed", 0.15, 0),
    ("growth", "Pricing page FAQ", "upgrade", "concluded", -0.06, 2000),
    ("analytics", "Default date range 90 days", "report_saved", "concluded", 0.1, 2500),
    ("analytics", "Chart suggestions", "report_saved", "running", 0.03, 1200),
    ("analytics", "Export to slides", "export", "proposed", 0.2, 0),
    ("analytics", "Onboarding sample dashboard", "activation", "concluded", 0.0, 1800),
    ("analytics", "Weekly digest e-mail", "return_visit", "proposed", 0.1, 0),
    ("mobile", "Bigger tap targets", "task_done", "concluded", 0.04, 2200),
    ("mobile", "Swipe to archive", "task_done", "concluded", 0.0, 1600),
    ("mobile", "Widget promo card", "widget_added", "proposed", 0.3, 0),
    ("mobile", "Push opt-in prompt timing", "push_opt_in", "running", 0.12, 1400),
    ("platform", "Webhook retry UI", "webhook_fixed", "concluded", 0.15, 700),
    ("platform", "Rate-limit headers docs", "support_ticket", "proposed", 0.1, 0),
    ("platform", "API key rotation wizard", "key_rotated", "concluded", 0.0, 900),
    ("platform", "SDK quick start", "first_call", "running", 0.06, 1000),
    ("platform", "Status page subscription", "subscribed", "proposed", 0.2, 0),
    ("growth", "Checkout trust badges", "upgrade", "concluded", 0.02, 1200),
    ("mobile", "Offline banner copy", "task_done", "proposed", 0.05, 0),
    ("analytics", "Saved filters", "report_saved", "concluded", 0.07, 1400),
    ("platform", "Sandbox accounts", "first_call", "concluded", 0.09, 1100),
    ("growth", "Free plan limits", "upgrade", "proposed", 0.1, 0),
)


def _pooled_p(conversions: tuple[int, int], units: tuple[int, int]) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (the fixed-horizon test a peek uses)."""
    (x1, x2), (n1, n2) = conversions, units
    pooled = (x1 + x2) / (n1 + n2)
    z = (x2 / n2 - x1 / n1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return math.erfc(abs(z) / math.sqrt(2))


def _plant_peeking(arms: list[pd.DataFrame], own: np.random.Generator) -> None:
    """Set the peeking plant's conversions (control, then treatment) in place: the control at its
    planted rate, the treatment at the fewest conversions whose pooled p-value is at most
    :attr:`Planted.peeking_p`, whatever the arms' sizes (drawn by the shared generator)."""
    control, treatment = arms
    units = (len(control), len(treatment))
    wins = round(units[0] * PLANTED.peeking_control_rate)
    found = wins * units[1] // units[0]
    while _pooled_p((wins, found), units) > PLANTED.peeking_p:
        found += 1
    for frame, count in ((control, wins), (treatment, found)):
        converted = np.zeros(len(frame), dtype=int)
        converted[own.choice(len(frame), size=count, replace=False)] = 1
        frame["converted"] = converted


def _second_exposures(units: pd.DataFrame, own: np.random.Generator, last: pd.Timestamp) -> pd.DataFrame:
    """A later exposure to the other variant for :attr:`Planted.both_arms_share` of ``units`` (a
    two-variant experiment's exposures): the same unit_id, one to 72 hours after its first (not
    after ``last``), with its conversion."""
    chosen = units.iloc[np.sort(own.choice(len(units), size=round(len(units) * PLANTED.both_arms_share), replace=False))]
    first, second = units["variant"].unique()
    later = chosen["exposed_at"] + pd.to_timedelta(own.integers(3600, 72 * 3600, len(chosen)), unit="s").to_numpy()
    return chosen.assign(variant=chosen["variant"].map({first: second, second: first}),
                         exposed_at=later.clip(upper=last - pd.Timedelta(seconds=1)))


def make_experiments(rng: np.random.Generator, as_of: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """About 30 experiments over the four teams and their unit-level exposures, with the planted ones."""
    day = pd.Timestamp(as_of)
    experiments, exposures, again = [], [], pd.DataFrame()

    def add(exp_id, team, name, metric, kind, status, start, end, mde, ice, split=None):
        experiments.append({
            "experiment_id": exp_id, "product": TEAM_PRODUCTS[team][0], "team": team, "name": name,
            "hypothesis": f"{name} will raise {metric.replace('_', ' ')}", "primary_metric": metric, "metric_type": kind,
            "status": status, "start_date": start, "end_date": end, "control_variant": "control", "split": split,
            "mde": mde, "impact": ice[0], "confidence": ice[1], "ease": ice[2], "unit_type": None,
        })

    def expose(exp_id, start, end, variants):
        """variants: {name: (units, conversions or None, values or None, pre or None)}"""
        span = max(int((min(end, day) - start).days), 1)
        for variant, (units, conversions, values, pre) in variants.items():
            converted = np.zeros(units, dtype=int)
            if conversions is not None:
                converted[rng.choice(units, size=conversions, replace=False)] = 1
            exposures.append(pd.DataFrame({
                "experiment_id": exp_id,
                "unit_id": [f"{exp_id}-{variant[:1]}{i:05d}" for i in range(units)],
                "variant": variant,
                "exposed_at": start + pd.to_timedelta(rng.integers(0, span * 86400, units), unit="s"),
                "converted": converted if values is None else None,
                "value": values,
                "pre_value": pre,
            }))

    # (a) a clear winner: +2 points on 10%, 5,000 units per arm.
    start, end = day - pd.Timedelta(days=40), day - pd.Timedelta(days=12)
    add(PLANTED.winner, "growth", "Onboarding checklist v2", "activation", "binary", "concluded", start, end, 0.1, (8, 7, 6))
    expose(PLANTED.winner, start, end, {"control": (5000, 500, None, None), "treatment": (5000, 600, None, None)})
    # (b) a flat result: 8.00% against 8.03% on 20,000 units per arm.
    start, end = day - pd.Timedelta(days=50), day - pd.Timedelta(days=20)
    add(PLANTED.flat, "analytics", "Report templates gallery", "report_saved", "binary", "concluded", start, end, 0.1, (6, 6, 7))
    expose(PLANTED.flat, start, end, {"control": (20000, 1600, None, None), "treatment": (20000, 1605, None, None)})
    # (c) a broken split: planned 50/50, observed 5,000 against 4,600.
    start, end = day - pd.Timedelta(days=14), day + pd.Timedelta(days=14)
    add(PLANTED.srm, "mobile", "Dark theme by default", "task_done", "binary", "running", start, end, 0.05, (5, 5, 8),
        "control=0.5;treatment=0.5")
    expose(PLANTED.srm, start, end, {"control": (5000, 1500, None, None), "treatment": (4600, 1410, None, None)})
    # (d) a continuous metric with a strongly correlated pre-period value.
    start, end = day - pd.Timedelta(days=45), day - pd.Timedelta(days=15)
    add(PLANTED.cuped, "platform", "API docs redesign", "api_calls_per_week", "continuous", "concluded", start, end, 0.05, (7, 6, 5))
    arms = {}
    for variant, lift in (("control", 0.0), ("treatment", 0.04)):
        pre = rng.normal(100, 30, 800).clip(1)
        post = (0.9 * pre + 10 + rng.normal(0, 14, 800)) * (1 + lift)
        arms[variant] = (800, None, post.round(2), pre.round(2))
    expose(PLANTED.cuped, start, end, arms)
    # (e) a proposal whose MDE needs far more traffic than the team has.
    add(PLANTED.infeasible, "mobile", "Onboarding tooltip copy", "task_done", "binary", "proposed", None, None, 0.01, (4, 5, 9))
    # The rest: modest effects, a mix of statuses; one running past its planned end.
    counters: dict[str, int] = {}
    for team, name, metric, status, effect, units in OTHER_EXPERIMENTS:
        counters[team] = counters.get(team, 1) + 1
        exp_id = f"EXP-{team[:3].upper()}-{counters[team]}"
        ice = tuple(int(v) for v in rng.integers(3, 10, 3))
        mde = float(rng.choice([0.05, 0.1, 0.15, 0.2]))
        if status == "proposed":
            add(exp_id, team, name, metric, "binary", status, None, None, mde, ice)
            continue
        length = int(rng.integers(14, 35))
        start = day - pd.Timedelta(days=int(rng.integers(length + 1, 200)) if status == "concluded" else int(rng.integers(5, 30)))
        end = start + pd.Timedelta(days=length)
        if name == "Chart suggestions":
            end = day - pd.Timedelta(days=6)  # overdue: still running after its planned end
        add(exp_id, team, name, metric, "binary", status, start, end, mde, ice)
        base = float(rng.uniform(0.08, 0.3))
        counts = rng.binomial(2 * units, 0.5)
        arms = {
            "control": (counts, int(rng.binomial(counts, base)), None, None),
            "treatment": (2 * units - counts, int(rng.binomial(2 * units - counts, min(base * (1 + effect), 0.95))), None, None),
        }
        expose(exp_id, start, end, arms)
        if exp_id == PLANTED.harmful:
            # The planted harmful result: its conversions are drawn again at the planted rates from
            # a generator of its own, so the shared one, and every later experiment, is unchanged.
            own = np.random.default_rng(zlib.crc32(exp_id.encode()))
            rates = (PLANTED.harmful_control_rate, PLANTED.harmful_control_rate * (1 + PLANTED.harmful_effect))
            for frame, rate in zip(exposures[-len(arms):], rates):
                converted = np.zeros(len(frame), dtype=int)
                converted[own.choice(len(frame), size=round(len(frame) * rate), replace=False)] = 1
                frame["converted"] = converted
        elif exp_id == PLANTED.peeking:
            _plant_peeking(exposures[-len(arms):], np.random.default_rng(zlib.crc32(exp_id.encode())))
        elif exp_id == PLANTED.both_arms:
            own = np.random.default_rng(zlib.crc32(exp_id.encode()))
            again = _second_exposures(pd.concat(exposures[-len(arms):], ignore_index=True), own, min(end, day))
    frame = pd.DataFrame(experiments)
    for column in ("start_date", "end_date"):
        frame[column] = pd.to_datetime(frame[column]).dt.strftime("%Y-%m-%d")
    # The second exposures come last, so every other experiment's rows keep their place.
    units = pd.concat([*exposures, again], ignore_index=True)
    units["exposed_at"] = _iso(units["exposed_at"])
    units["converted"] = units["converted"].astype("Int64")
    return frame, units


def _event_rates(thin: float) -> tuple[tuple[str, float], ...]:
    """The base rates of the event names in a sample with ``thin`` times the default sample's
    events per visit day: the kinds of the binary metrics (goal, lower) ``thin`` times rarer, so
    that the share of units with one in a window stays about the default's (at ten events a
    visit day nearly every unit has a task_completed and none can gain a first one); the others
    as :attr:`Planted.event_rates` says."""
    binary = {PLANTED.goal_metric, PLANTED.lower_metric}
    return tuple((kind, rate / thin if kind in binary else rate) for kind, rate in PLANTED.event_rates)


def label_events(
    rng: np.random.Generator, events: pd.DataFrame, rates: tuple[tuple[str, float], ...] = PLANTED.event_rates
) -> pd.DataFrame:
    """The events with an ``event`` column: each row of :attr:`Planted.guarded_product`, over the
    whole span, names one tracked action at the base ``rates`` (:attr:`Planted.event_rates`,
    or :func:`_event_rates` in a large sample; the others, and every other product's rows, name
    none). Rows are only labelled, never added."""
    kinds = np.array([kind for kind, _ in rates] + [None], dtype=object)
    edges = np.cumsum([rate for _, rate in rates])
    on = (events["product"] == PLANTED.guarded_product).to_numpy()
    label = np.full(len(events), None, dtype=object)
    label[on] = kinds[np.searchsorted(edges, rng.random(int(on.sum())), side="right")]
    return events.assign(event=label)


def make_event_experiment(
    rng: np.random.Generator, as_of: date, events: pd.DataFrame, accounts: pd.DataFrame,
    rates: tuple[tuple[str, float], ...] = PLANTED.event_rates,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The planted experiment measured from events (:attr:`Planted.guarded`): its catalogue row,
    its exposures, its ``experiment_metrics`` rows, and the events with its effects labelled
    (``rates``: the base rates the events were named at, see :func:`label_events`).

    Its units are the visitors active on the product from the start date up to (not on) the end
    date, each exposed at its first event there and put in treatment by a fair draw. Each effect
    relabels rows of treatment units inside the metric's window (from the exposure on), so the
    number of rows, and every figure counted from them, is unchanged.
    """
    day = pd.Timestamp(as_of)
    start = day - pd.Timedelta(days=PLANTED.guarded_start_days_ago)
    end = day - pd.Timedelta(days=PLANTED.guarded_end_days_ago)
    exp_id, window = PLANTED.guarded, pd.Timedelta(days=PLANTED.goal_window_days)
    label = events["event"].to_numpy(dtype=object, copy=True)
    on = (events["product"] == PLANTED.guarded_product).to_numpy()
    ts = events["ts"].to_numpy()
    inside = on & (ts >= start.to_datetime64()) & (ts < end.to_datetime64())
    first = events[inside].groupby("visitor_id", sort=True)["ts"].min()
    owner = events.loc[on, ["visitor_id", "account_id"]].drop_duplicates("visitor_id").set_index("visitor_id")["account_id"]
    segment = owner.reindex(first.index).map(accounts.set_index("account_id")["segment"])
    units = pd.DataFrame({"unit_id": first.index, "t0": first.to_numpy(), "treated": rng.random(len(first)) < 0.5,
                          "opposite": (segment == PLANTED.opposite_segment).to_numpy()})
    # Each unit's rows on the product from its exposure to the end of the experiment's last day.
    rows = pd.DataFrame({"row": np.flatnonzero(on), "unit_id": events["visitor_id"].to_numpy()[on], "ts": ts[on]})
    rows = rows.merge(units, on="unit_id")
    rows = rows[(rows["ts"] >= rows["t0"]) & (rows["ts"] < end + pd.Timedelta(days=1))].sort_values("row", ignore_index=True)
    in_window = (rows["ts"] < rows["t0"] + window).to_numpy()

    def units_with(kind: str, among: np.ndarray) -> np.ndarray:
        """The units of ``among`` with a row of ``kind`` in the window."""
        held = rows.loc[in_window & (label[rows["row"]] == kind), "unit_id"].unique()
        return among[np.isin(among, held)]

    def some(pool: np.ndarray, share: float, of: int) -> np.ndarray:
        """``share`` x ``of`` units drawn from ``pool`` (all of it when it is smaller)."""
        return rng.choice(pool, size=min(len(pool), round(abs(share) * of)), replace=False) if len(pool) else pool

    def clear(kind: str, chosen: np.ndarray) -> None:
        """The chosen units' rows of ``kind`` in the window name nothing any more."""
        hit = rows.loc[in_window & rows["unit_id"].isin(chosen).to_numpy() & (label[rows["row"]] == kind), "row"]
        label[hit.to_numpy()] = None

    treated = units[units["treated"]]
    gaining = treated.loc[~treated["opposite"], "unit_id"].to_numpy()
    losing = treated.loc[treated["opposite"], "unit_id"].to_numpy()
    goal = PLANTED.goal_metric
    # (b, e) The goal: a first task_completed for goal_lift of the treated units outside the
    # opposite segment (on one of their unlabelled rows), none left for opposite_lift of those in it.
    free = rows[in_window & pd.isna(label[rows["row"]])]
    lacking = np.setdiff1d(gaining, units_with(goal, gaining))
    lacking = lacking[np.isin(lacking, free["unit_id"].unique())]
    chosen = some(lacking, PLANTED.goal_lift, len(gaining))
    pick = free[free["unit_id"].isin(chosen)].sample(frac=1, random_state=rng).drop_duplicates("unit_id")
    label[pick["row"].to_numpy()] = goal
    clear(goal, some(units_with(goal, losing), PLANTED.opposite_lift, len(losing)))
    # (f) Fewer treated units open help.
    everyone = treated["unit_id"].to_numpy()
    clear(PLANTED.lower_metric, some(units_with(PLANTED.lower_metric, everyone), PLANTED.lower_lift, len(everyone)))
    # (d) More of the treated units' searches find a result worth opening.
    mine = rows["treated"].to_numpy()
    searches = rows.loc[in_window & mine & (label[rows["row"]] == PLANTED.ratio_denominator), "row"].to_numpy()
    label[searches[rng.random(len(searches)) < PLANTED.ratio_moved]] = PLANTED.ratio_event
    # (b) The guardrail: guardrail_lift more crashes over the whole experiment, on unlabelled rows.
    rates = dict(rates)
    quiet = rows.loc[mine & pd.isna(label[rows["row"]]), "row"].to_numpy()
    chance = rates[PLANTED.guardrail_metric] * PLANTED.guardrail_lift / (1 - sum(rates.values()))
    label[quiet[rng.random(len(quiet)) < chance]] = PLANTED.guardrail_metric
    catalogue = pd.DataFrame([{
        "experiment_id": exp_id, "product": PLANTED.guarded_product, "team": PLANTED.guarded_team, "name": PLANTED.guarded_name,
        "hypothesis": f"{PLANTED.guarded_name} will raise {goal.replace('_', ' ')}", "primary_metric": goal, "metric_type": "binary",
        "status": "concluded", "start_date": start.strftime("%Y-%m-%d"), "end_date": end.strftime("%Y-%m-%d"), "control_variant": "control",
        "split": None, "mde": 0.05, "impact": 7, "confidence": 6, "ease": 6, "unit_type": "visitor",
    }])
    exposures = pd.DataFrame({
        "experiment_id": exp_id, "unit_id": units["unit_id"], "variant": np.where(units["treated"], "treatment", "control"),
        "exposed_at": _iso(units["t0"]), "converted": pd.array([pd.NA] * len(units), dtype="Int64"), "value": None, "pre_value": None,
    })
    metrics = pd.DataFrame(
        [(goal, "goal", "binary", goal, None, PLANTED.goal_window_days, "true"),
         (PLANTED.guardrail_metric, "guardrail", "continuous", PLANTED.guardrail_metric, None, None, "false"),
         (PLANTED.ratio_metric, "secondary", "ratio", PLANTED.ratio_event, PLANTED.ratio_denominator, PLANTED.goal_window_days, "true"),
         (PLANTED.lower_metric, "secondary", "binary", PLANTED.lower_metric, None, PLANTED.goal_window_days, "false")],
        columns=["metric", "role", "kind", "event", "denominator_event", "window_days", "higher_is_better"],
    ).astype({"window_days": "Int64"})
    metrics.insert(0, "experiment_id", exp_id)
    return catalogue, exposures, metrics, events.assign(event=label)


def _event_blocks(rows: _EventRows, target: int, chunk: int) -> tuple[list[slice], float]:
    """Cut the rows into blocks of about ``chunk`` events each and say how many visit days all
    the rows are expected to have (the events' days are spread over those).

    Every row's expected visit days (the sum of its daily chances while it may be seen) sets
    both: blocks of consecutive rows with equal shares of them, and the events per visit day of
    every block (``target`` over their total), without drawing any row's days first.
    """
    expected = np.concatenate([
        np.sum(np.multiply(*_visit_chances(rows, slice(lo, lo + 10_000))), axis=1) for lo in range(0, len(rows.acc), 10_000)
    ] or [np.zeros(0)])
    n_blocks = max(1, math.ceil(target / chunk))
    cuts = np.searchsorted(np.cumsum(expected), expected.sum() * np.arange(1, n_blocks) / n_blocks)
    bounds = np.unique([0, *cuts, len(expected)])
    return [slice(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])] or [slice(0, 0)], float(expected.sum())


def _remove_dead_parts(path: Path) -> None:
    """Remove the parts folders a killed writer of ``path`` left (``.NAME.playbook-PID-*.parts``
    whose process is gone): a Ctrl-C removes its own, the OOM killer's SIGKILL cannot."""
    import shutil

    from playbook.render import TMP_MARK, owner_pid
    from playbook.runner.kernels import gone

    for folder in path.parent.glob(f".{path.name}{TMP_MARK}*.parts"):
        pid = owner_pid(folder.name)
        if pid is not None and folder.is_dir() and gone(pid):
            shutil.rmtree(folder, ignore_errors=True)


def _write_event_blocks(
    path: Path,
    rngs: tuple[np.random.Generator, np.random.Generator, np.random.Generator],
    as_of: date,
    accounts: pd.DataFrame,
    target: int,
    chunk: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Draw about ``target`` events block by block and write them to ``path`` sorted by time;
    return how many there are and the planted event experiment's tables (as
    :func:`make_event_experiment`: catalogue, exposures, metrics).

    Never more than one block's events are in memory. The rows of visitors are planned as for one
    piece (:func:`_plan_event_rows`); each block (:func:`_event_blocks`) draws its visits and events,
    names them (:func:`label_events`, at :func:`_event_rates`) and plants the experiment on its own visitors
    (:func:`make_event_experiment`: a visitor's rows on the product are in one block, and each
    effect is drawn as a share of the units in reach, so the shares hold block by block), each
    from a generator of its own spawned from the piece's generator. Each block goes to a Parquet
    part in a hidden folder beside ``path``; DuckDB then sorts the parts into ``path`` within
    :data:`MERGE_MEMORY` (spilling to that folder), and the folder is removed, also on failure.

    Args:
        path: the events file to write (replaced atomically).
        rngs: the generators of the events, of their names and of the experiment.
        progress: called with (steps done, steps) after each block and after the final sort.
    """
    import shutil
    import tempfile

    import duckdb

    events_rng, label_rng, experiment_rng = rngs
    rows = _plan_event_rows(events_rng, as_of, accounts, _visitor_scale(target))
    finders = _feature_finders(events_rng, len(accounts))
    blocks, visits = _event_blocks(rows, target, chunk)
    # Events per visit day grow with target / scale (the visit days grow with the visitors).
    rates = _event_rates(max(1.0, target / (1_000_000 * _visitor_scale(target))))
    steps = len(blocks) + 1
    streams = zip(events_rng.spawn(len(blocks)), label_rng.spawn(len(blocks)), experiment_rng.spawn(len(blocks)))
    _remove_dead_parts(path)
    folder = Path(tempfile.mkdtemp(prefix=tmp_prefix(path), suffix=".parts", dir=path.parent))
    try:
        parts, exposures, count = [], [], 0
        for k, (part, (own, names, experiment)) in enumerate(zip(blocks, streams)):
            frame = label_events(names, _draw_events(own, as_of, rows, part, target, visits, finders), rates)
            catalogue, units, metrics, frame = make_event_experiment(experiment, as_of, frame, accounts, rates)
            exposures.append(units)
            count += len(frame)
            parts.append(str(folder / f"part-{k:05d}.parquet"))
            # The block and the row within it break ties of time in the final sort: the same
            # seed gives the same file.
            frame["seq"] = (k << 32) + np.arange(len(frame), dtype=np.int64)
            with duckdb.connect() as con:
                con.execute("SET TimeZone = 'UTC'")
                con.register("frame", frame)
                con.execute(
                    "COPY (SELECT ts::TIMESTAMP AS ts, visitor_id::VARCHAR AS visitor_id, account_id::VARCHAR AS account_id, product::VARCHAR AS product, "
                    "feature_id::VARCHAR AS feature_id, event::VARCHAR AS event, seq FROM frame) TO ? (FORMAT parquet)",
                    [parts[-1]],
                )
            del frame
            if progress:
                progress(k + 1, steps)
        config = {"memory_limit": MERGE_MEMORY, "temp_directory": str(folder), "preserve_insertion_order": False}
        with replacing(path) as tmp, duckdb.connect(config=config) as con:
            con.execute("SET TimeZone = 'UTC'")
            con.execute("COPY (SELECT * EXCLUDE (seq) FROM read_parquet($parts) ORDER BY ts, seq) TO $out (FORMAT parquet, COMPRESSION zstd)",
                        {"parts": parts, "out": str(tmp)})
        if progress:
            progress(steps, steps)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    units = pd.concat(exposures, ignore_index=True).sort_values("unit_id", kind="stable", ignore_index=True)
    return count, catalogue, units, metrics


# Releases: a feature's launch, or one without a feature. Major tiers need docs, training and
# notes, and the sales, success and support audiences (params: enablement and communication).
MAJOR_FEATURES = {"F-INS-5", "F-DSH-4", "F-MOB-5", "F-API-3", "F-BIL-3"}
OTHER_RELEASES = (
    ("insights", "Faster report loading", 20), ("mobile-app", "Crash fixes for Android", 12), ("api", "Rate-limit headers", 35),
    ("onboarding", "Clearer sign-up errors", 28), ("dashboards", "Print layout", 160), ("billing", "Invoice PDF redesign", 210),
)
AUDIENCE_SIZES = {"sales": 40, "success": 20, "support": 28, "marketing": 16}
REQUEST_TOPICS = {
    "sales": ("Can we promise SSO to a prospect?", "Roadmap date for a deal", "Pricing for a custom plan", "Security questionnaire"),
    "success": ("Customer asks about a missing export", "Renewal at risk: feature gap", "Onboarding help for a large account"),
    "support": ("Bug reproduction needed", "Known issue wording", "Workaround for a failing sync"),
    "marketing": ("Launch blog review", "Screenshots for the release", "Webinar speaker"),
    "leadership": ("Board deck numbers", "Quarterly roadmap review", "Competitor response"),
}


def make_releases(rng: np.random.Generator, as_of: date) -> pd.DataFrame:
    """Releases of the last year (feature launches and others), with when docs, training and notes were ready."""
    day = pd.Timestamp(as_of)
    rows = []
    features = make_features(as_of)
    for f in features.itertuples():
        released = pd.Timestamp(f.released_at).tz_localize(None)
        if released < day - pd.Timedelta(days=365):
            continue
        rows.append((f"REL-{f.feature_id[2:]}", f.product, f.team, f.feature_id, f"{f.name} launch",
                     "major" if f.feature_id in MAJOR_FEATURES else "minor", released))
    for i, (product, title, days_ago) in enumerate(OTHER_RELEASES, start=1):
        rows.append((f"REL-X{i}", product, PRODUCT_TEAM[product], None, title, "minor", day - pd.Timedelta(days=days_ago)))
    frame = pd.DataFrame(rows, columns=["release_id", "product", "team", "feature_id", "title", "tier", "release_date"])
    lead = lambda: pd.to_timedelta(rng.integers(3, 15, len(frame)), unit="D")  # noqa: E731
    frame["docs_ready_at"] = frame["release_date"] - lead()
    frame["training_ready_at"] = (frame["release_date"] - lead()).where(frame["tier"] == "major")
    frame["notes_ready_at"] = frame["release_date"] - lead()
    early = frame["release_id"] == PLANTED.early_release
    frame.loc[early, "docs_ready_at"] = frame.loc[early, "release_date"] + pd.Timedelta(days=5)
    for column in ("release_date", "docs_ready_at", "training_ready_at", "notes_ready_at"):
        frame[column] = _iso(frame[column])
    return frame.sort_values("release_date", ignore_index=True)


def make_release_comms(rng: np.random.Generator, releases: pd.DataFrame) -> pd.DataFrame:
    """Release notes sent to each audience the tier requires (and sometimes marketing)."""
    rows = []
    for r in releases.itertuples():
        audiences = ["sales", "success", "support"] if r.tier == "major" else ["support"]
        if rng.random() < 0.5:
            audiences.append("marketing")
        if r.release_id == PLANTED.unreached_release:
            audiences = [a for a in audiences if a != PLANTED.unreached_audience]
        sent = pd.Timestamp(r.release_date).tz_localize(None) + pd.Timedelta(hours=int(rng.integers(1, 48)))
        for audience in audiences:
            recipients = AUDIENCE_SIZES[audience]
            rows.append((r.release_id, audience, str(rng.choice(["email", "slack"])), sent, recipients, int(rng.binomial(recipients, 0.6))))
    frame = pd.DataFrame(rows, columns=["release_id", "audience", "channel", "sent_at", "recipients", "opened"])
    frame.insert(0, "comm_id", [f"C{i:05d}" for i in range(1, len(frame) + 1)])
    frame["sent_at"] = _iso(frame["sent_at"])
    return frame


def make_trainings(rng: np.random.Generator, as_of: date, releases: pd.DataFrame) -> pd.DataFrame:
    """A course per feature launch for sales, success and support; the planted gap is support on one feature."""
    day = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    rows = []
    for r in releases.dropna(subset=["feature_id"]).itertuples():
        assigned = pd.Timestamp(r.release_date).tz_localize(None) - pd.Timedelta(days=7)
        for audience in ("sales", "success", "support"):
            gap = audience == PLANTED.gap_group and r.feature_id == PLANTED.gap_feature
            for i in range(1, AUDIENCE_SIZES[audience] + 1):
                done = rng.random() < (0.3 if gap else 0.85)
                completed = assigned + pd.Timedelta(days=int(rng.integers(1, 21)))
                completed = completed if done and completed < day else pd.NaT
                score = float(np.clip(rng.normal(52 if gap else 82, 8), 0, 100).round()) if pd.notna(completed) else None
                rows.append((f"{audience[:3]}-{i:03d}", audience, r.team, f"C-{r.feature_id[2:]}", r.release_id, r.feature_id,
                             assigned, completed, score))
    frame = pd.DataFrame(rows, columns=["person_id", "audience", "team", "course_id", "release_id", "feature_id", "assigned_at", "completed_at", "quiz_score"])
    for column in ("assigned_at", "completed_at"):
        frame[column] = _iso(frame[column])
    return frame


def make_requests(rng: np.random.Generator, as_of: date, n: int) -> pd.DataFrame:
    """Requests to product teams from the rest of the company; the planted team answers sales slowly."""
    groups = rng.choice(list(REQUEST_TOPICS), size=n, p=[0.3, 0.25, 0.25, 0.1, 0.1])
    teams = rng.choice(list(TEAM_PRODUCTS), size=n)
    opened = _moments(rng, as_of, 180, n)
    slow = (teams == PLANTED.slow_intake_team) & (groups == PLANTED.slow_intake_group)
    first = opened + pd.to_timedelta(np.where(slow, 72, 5) * rng.lognormal(0, 0.6, n) * 3600, unit="s")
    closed = first + pd.to_timedelta(36 * rng.lognormal(0, 0.8, n) * 3600, unit="s")
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    open_now = (closed >= end).to_numpy() | (rng.random(n) < 0.03)
    frame = pd.DataFrame(
        {
            "request_id": [f"Q{i:05d}" for i in range(1, n + 1)],
            "from_group": groups,
            "team": teams,
            "topic": [str(rng.choice(REQUEST_TOPICS[g])) for g in groups],
            "channel": rng.choice(["slack", "email", "form"], size=n, p=[0.5, 0.3, 0.2]),
            "opened_at": opened,
            "first_response_at": first.where(first < end),
            "closed_at": closed.where(~open_now),
        }
    ).sort_values("opened_at", ignore_index=True)
    frame["request_id"] = [f"Q{i:05d}" for i in range(1, n + 1)]
    for column in ("opened_at", "first_response_at", "closed_at"):
        frame[column] = _iso(frame[column])
    return frame


def generate(
    out: Path | str,
    seed: int = 7,
    as_of: date | None = None,
    accounts: int = 2000,
    responses: int = 10_000,
    feedback: int = 3_000,
    events: int = 1_000_000,
    escalations: int = 3_000,
    bugs: int = 900,
    requests: int = 1_200,
    chunk: int = EVENT_CHUNK,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Write the sample workspace to ``out`` and return the row count of each table.

    Args:
        out: the folder to write (created if needed; existing table files are replaced).
        seed: the random seed; the same seed and ``as_of`` give identical files.
        as_of: the last day the data covers (default: today).
        accounts, responses, feedback, escalations, bugs, requests: table sizes.
        events: about this many product-usage events (written as Parquet); above ``chunk`` they
            are drawn and written in blocks of about ``chunk`` events (:func:`_write_event_blocks`),
            so memory does not grow with them, and each account has more visitors
            (:func:`_visitor_scale`).
        chunk: the most events drawn in one piece (a test lowers it to draw a small sample in blocks).
        progress: called with (steps done, steps) while events are written in blocks; quiet otherwise.
    """
    if events < 0 or chunk < 1:
        raise ValueError(f"events must be 0 or more and chunk 1 or more, not events={events}, chunk={chunk}")
    as_of = as_of or date.today()
    rng = np.random.default_rng(seed)
    out = Path(out)
    check_writable(out)
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
    health_rng = np.random.default_rng([seed, 2])
    sla = {p: (DEFAULT_SLA[p]["first_response_hours"], DEFAULT_SLA[p]["resolution_hours"]) for p in DEFAULT_SLA}
    tables["features"] = make_features(as_of)
    tables["escalations"] = make_escalations(health_rng, as_of, account_frame, escalations, sla)
    tables["bugs"] = make_bugs(health_rng, as_of, tables["escalations"], bugs)
    # Event names and the experiment measured from events draw from generators of their own, so
    # every other table comes out as it did before they were planted.
    label_rng, experiment_rng = np.random.default_rng([seed, 5]), np.random.default_rng([seed, 6])
    catalogue, units = make_experiments(np.random.default_rng([seed, 3]), as_of)
    if events <= chunk:
        event_frame = label_events(label_rng, make_events(health_rng, as_of, account_frame, events))
        guarded, guarded_units, metrics, event_frame = make_event_experiment(experiment_rng, as_of, event_frame, account_frame)
        n_events = len(event_frame)
    else:
        event_frame = None
        n_events, guarded, guarded_units, metrics = _write_event_blocks(
            out / "events.parquet", (health_rng, label_rng, experiment_rng), as_of, account_frame, events, chunk, progress)
    tables["experiments"] = pd.concat([catalogue, guarded], ignore_index=True)
    tables["exposures"] = pd.concat([units, guarded_units], ignore_index=True)
    tables["experiment_metrics"] = metrics
    comms_rng = np.random.default_rng([seed, 4])
    tables["releases"] = make_releases(comms_rng, as_of)
    tables["release_comms"] = make_release_comms(comms_rng, tables["releases"])
    tables["trainings"] = make_trainings(comms_rng, as_of, tables["releases"])
    tables["stakeholder_requests"] = make_requests(comms_rng, as_of, requests)
    for name, frame in tables.items():
        write_atomic(out / f"{name}.csv", frame.to_csv(index=False))
    if event_frame is not None:
        _write_parquet(event_frame, out / "events.parquet")
    counts = {name: len(frame) for name, frame in tables.items()} | {"events": n_events}
    # What was written, with checksums: the proof that a later run may replace these files.
    files = {f"{name}.csv": _sha256(out / f"{name}.csv") for name in tables}
    files["events.parquet"] = _sha256(out / "events.parquet")
    meta = {"seed": seed, "as_of": as_of.isoformat(), "generator": generator_version(), "rows": counts, "files": files}
    write_atomic(out / MARKER, json.dumps(meta, indent=2) + "\n")
    return counts


MARKER = "sample.json"


def _marker(out: Path) -> dict | None:
    """The sample's own ``sample.json`` in ``out``, or None when there is none (or another file of that name)."""
    try:
        meta = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    is_ours = isinstance(meta, dict) and {"seed", "as_of", "generator", "rows"} <= set(meta) and isinstance(meta["rows"], dict)
    return meta if is_ours else None


def _rows(path: Path) -> int | None:
    """Rows in a table file the sample wrote (CSV data rows, Parquet rows), or None when unreadable."""
    import duckdb

    reader = "read_parquet(?)" if path.suffix == ".parquet" else "read_csv(?, all_varchar = true, header = true)"
    try:
        with duckdb.connect() as con:
            return int(con.execute(f"SELECT count(*) FROM {reader}", [str(path)]).fetchone()[0])
    except duckdb.Error:
        return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_writable(out: Path) -> None:
    """Refuse to write the sample over a folder the sample generator did not write.

    A folder may be (re)written when it is absent or empty, or when it holds only what an
    earlier sample wrote there, unchanged since (``sample.json`` lists every file with its
    checksum). A real workspace, a sample someone imported into, or any file of anyone else's
    makes it refuse, naming what it found.

    Raises:
        PlaybookError: ``out`` is a file, or holds what the sample did not write.
    """
    if not out.exists():
        return
    if not out.is_dir():
        raise PlaybookError(f"{out} is a file, not a folder; the sample is written into a folder of its own")
    meta = _marker(out)
    written = meta.get("files") if meta else None
    legacy = meta is not None and not isinstance(written, dict)
    if legacy:
        # A sample written before checksums were kept: its own table files, holding the rows it
        # counted and not written after it (a copy that keeps times would pass the second test,
        # hardly the first).
        written = {f"{name}.csv": n for name, n in meta.get("rows", {}).items() if name != "events"}
        written["events.parquet"] = meta.get("rows", {}).get("events")
    written = written if isinstance(written, dict) else {}
    foreign = []
    for entry in sorted(out.iterdir()):
        name = entry.name
        if name == MARKER and meta is not None:
            continue
        if name.startswith("."):
            continue  # never written over: the sample writes no hidden file (.DS_Store, .gitkeep, its temporary files)
        if name not in written or entry.is_symlink() or not entry.is_file():
            foreign.append(name)
        elif legacy and (entry.stat().st_mtime > (out / MARKER).stat().st_mtime + 1 or _rows(entry) != written[name]):
            foreign.append(f"{name} (changed since the sample wrote it)")
        elif not legacy and _sha256(entry) != written[name]:
            foreign.append(f"{name} (changed since the sample wrote it)")
    if foreign:
        shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
        raise PlaybookError(
            f"{out} holds data the sample did not write ({shown}); refusing to overwrite it. "
            "Give another --out (or workspace in params), or move that data away yourself"
        )


def generator_version() -> str:
    """A hash of this module, so a sample written by an older generator is known to be stale."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame as Parquet through DuckDB (timestamps as UTC), replacing ``path`` atomically."""
    import duckdb

    with replacing(path) as tmp, duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("frame", frame)
        con.execute("COPY (SELECT * FROM frame) TO ? (FORMAT parquet, COMPRESSION zstd)", [str(tmp)])


def sample_as_of(out: Path | str) -> date | None:
    """The as-of date a sample workspace was generated for, or None if it is not a sample."""
    meta = _marker(Path(out))
    try:
        return date.fromisoformat(meta["as_of"]) if meta else None
    except (TypeError, ValueError):
        return None


def is_current(out: Path | str, as_of: date) -> bool:
    """Whether ``out`` holds a sample for ``as_of`` written by this version of the generator."""
    meta = _marker(Path(out))
    return bool(meta) and meta.get("as_of") == as_of.isoformat() and meta.get("generator") == generator_version()
