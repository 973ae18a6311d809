"""Typed run parameters: ``params/defaults.yaml`` merged under ``params/teams/<team>.yaml``.

YAML becomes a :class:`Params` object in exactly one function, :func:`load_params`. Every
problem (malformed YAML, an unknown key, a wrong type, a bad date) is raised as a
:class:`~playbook.errors.ParamsError` naming the file, the key, the line, what was expected and
what was found.

Relative paths in parameters (the workspace) are resolved against the folder that holds the
``params`` folder, i.e. the project root, so a notebook opened from ``notebooks/`` and a
scheduled run from the project root read the same data.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from playbook.errors import ParamsError, UsageError
from playbook.schemas import EARLIEST, LATEST
from playbook.yaml_params import deep_merge, read_yaml_lines

TEAM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FixedPeriod(_Strict):
    """An explicit reporting period, both ends inclusive."""

    start: date
    end: date

    @model_validator(mode="after")
    def _end_after_start(self) -> FixedPeriod:
        if self.end < self.start:
            raise ValueError(f"period end {self.end} is before its start {self.start}")
        for day in (self.start, self.end):
            if not EARLIEST <= day <= LATEST:
                raise ValueError(f"period date {day} is outside the dates the playbook reads ({EARLIEST} to {LATEST})")
        return self


class FeedbackParams(_Strict):
    """Parameters of the Feedback & NPS area."""

    confidence: float = Field(0.95, gt=0, lt=1)
    trend: Literal["week", "month"] = "week"
    trend_periods: int = Field(12, ge=2, le=104)
    min_responses: int = Field(30, ge=1)
    drop_alert: float = Field(10.0, gt=0, description="NPS fall, in points, that needs action")
    quotes_per_theme: int = Field(3, ge=0, le=20)
    top_items: int = Field(10, ge=1, le=100)
    themes: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("themes")
    @classmethod
    def _themes_have_keywords(cls, themes: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, words in themes.items():
            if not words or any(not str(w).strip() for w in words):
                raise ValueError(f"theme '{name}' needs a list of non-empty keywords")
        return themes


class ToolsParams(_Strict):
    """Parameters of the Tools area."""

    utilisation_floor: float = Field(0.6, gt=0, le=1, description="rightsize below this utilisation")
    engaged_days: int = Field(30, ge=1, le=365)
    new_days: int = Field(60, ge=1, le=365)
    inactive_days: int = Field(60, ge=1, le=365)
    renewal_horizon_days: int = Field(90, ge=30, le=730)
    review_days: int = Field(60, ge=1, le=365, description="review renewals this close to the period end")
    cost_ratio_alert: float = Field(2.0, gt=1, description="flag a team paying this many times the others' median")
    rightsize_action_money: float = Field(
        10_000, ge=0, description="a tool to rightsize whose idle spend reaches this (USD a year) is named in the summary"
    )
    high_money: float = Field(
        50_000, ge=0, description="a tool to rightsize whose idle spend reaches this (USD a year) is a high-severity action"
    )
    coexist: tuple[tuple[str, ...], ...] = Field(
        (), description="groups of tools meant to coexist: never counted as an overlap of one another"
    )

    @model_validator(mode="after")
    def _coexist_groups(self) -> ToolsParams:
        for group in self.coexist:
            names = {name.strip().casefold() for name in group}
            if len(names) < 2 or "" in names:
                raise ValueError(f"each tools.coexist group names two or more different tools; found {list(group)}")
        return self


class SLATarget(_Strict):
    """Hours allowed for the first response and for resolution (the first no longer than the
    second: checked in :class:`EscalationsParams`, where the priority can be named)."""

    first_response_hours: float = Field(gt=0, allow_inf_nan=False)
    resolution_hours: float = Field(gt=0, allow_inf_nan=False)


class HealthWeights(_Strict):
    """Weights of the account health score's parts; any non-negative numbers, normalised."""

    usage: float = Field(0.4, ge=0, allow_inf_nan=False)
    nps: float = Field(0.2, ge=0, allow_inf_nan=False)
    escalations: float = Field(0.2, ge=0, allow_inf_nan=False)
    trend: float = Field(0.2, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _some_weight(self) -> HealthWeights:
        if self.usage + self.nps + self.escalations + self.trend <= 0:
            raise ValueError("at least one health weight must be above 0")
        return self


DEFAULT_SLA = {
    "P1": SLATarget(first_response_hours=1, resolution_hours=24),
    "P2": SLATarget(first_response_hours=4, resolution_hours=72),
    "P3": SLATarget(first_response_hours=8, resolution_hours=168),
    "P4": SLATarget(first_response_hours=24, resolution_hours=336),
}


class EscalationsParams(_Strict):
    """Parameters of the Escalations and product-health area."""

    sla: dict[Literal["P1", "P2", "P3", "P4"], SLATarget] = Field(default_factory=lambda: dict(DEFAULT_SLA))
    breach_target: float = Field(0.10, allow_inf_nan=False, ge=0, le=1, description="largest acceptable breach rate")
    repeat_threshold: int = Field(3, ge=2)
    stickiness: Literal["dau_mau", "wau_mau"] = "dau_mau"
    stickiness_drop_alert: float = Field(0.33, allow_inf_nan=False, gt=0, lt=1, description="relative fall that needs action")
    adoption_floor: float = Field(0.10, allow_inf_nan=False, gt=0, lt=1, description="core features adopted by fewer active accounts are flagged")
    retention_cohorts: int = Field(12, ge=4, le=52)
    retention_weeks: int = Field(8, ge=1, le=26)
    retention_drop_alert: float = Field(0.15, allow_inf_nan=False, gt=0, lt=1, description="fall in week-1 retention, in points of share")
    usage_target_days: int = Field(12, ge=1, le=31)
    escalation_cap: int = Field(3, ge=1)
    bug_weeks: int = Field(12, ge=2, le=104)
    health_weights: HealthWeights = HealthWeights()
    breach_soon_hours: float = Field(24, allow_inf_nan=False, gt=0, description="open escalations due to breach within this many hours are listed")
    old_bug_days: int = Field(60, ge=1, description="open S1/S2 bugs older than this are called out")
    unhealthy_below: float = Field(50, allow_inf_nan=False, gt=0, le=100, description="accounts with a health score below this put their ARR at risk")
    level_shift_days: int = Field(7, ge=3, le=28, description="days on each side of a candidate level shift in daily events")
    level_shift_change: float = Field(
        0.3, gt=0, lt=1, allow_inf_nan=False,
        description="relative change of median daily events that counts as a level shift, as a fraction (0.3 = 30%, "
        "not 30); under 1, since a fall is at most 100% (to no events): at 1 or more no fall would ever be reported",
    )
    level_shift_min_daily: float = Field(20, allow_inf_nan=False, ge=0, description="series with fewer median events a day are too thin to judge")

    @field_validator("sla")
    @classmethod
    def _reply_before_resolution(cls, sla: dict[str, SLATarget]) -> dict[str, SLATarget]:
        # The live SLA runs the first-response clock, then the resolution clock: a reply target
        # past the resolution target would make the live table and the SLA table disagree.
        for priority, target in sla.items():
            if target.first_response_hours > target.resolution_hours:
                raise ValueError(
                    f"{priority} first_response_hours ({target.first_response_hours:g}) is longer than its resolution_hours "
                    f"({target.resolution_hours:g}); a first response comes before resolution, so its target can be no longer"
                )
        return sla

    @model_validator(mode="after")
    def _every_priority(self) -> EscalationsParams:
        missing = [p for p in ("P1", "P2", "P3", "P4") if p not in self.sla]
        if missing:
            raise ValueError(f"sla needs a target for every priority; missing {', '.join(missing)}")
        return self


class ExperimentsParams(_Strict):
    """Parameters of the Experimentation area."""

    confidence: float = Field(0.95, gt=0, lt=1)
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level for decisions (Holm-adjusted)")
    srm_threshold: float = Field(0.001, gt=0, lt=1, description="SRM p-value below which an experiment is invalid")
    default_mde: float = Field(0.05, gt=0, description="relative MDE when an experiment states none")
    default_baseline: float = Field(0.10, gt=0, lt=1, description="conversion used to size a proposal with no history")
    max_days: int = Field(42, ge=1, le=365, description="longest an experiment may run")
    sequential_tuning: float = Field(
        5000, ge=100, le=1e9, allow_inf_nan=False,
        description="running experiments get always-valid (sequential) intervals tuned for about this many units (GrowthBook's default)",
    )
    segment_min_units: int = Field(100, ge=2, description="units per arm a segment needs before its effect is shown")


Audience = Literal["sales", "success", "support", "marketing", "leadership", "product"]


class CommunicationParams(_Strict):
    """Parameters of the Cross-communication area."""

    first_response_hours: float = Field(24, gt=0, description="intake SLA: first response to a request")
    close_hours: float = Field(120, gt=0, description="intake SLA: closing a request")
    slow_ratio_alert: float = Field(2.0, gt=1, description="flag a group whose median wait is this many times the SLA")
    required_audiences: dict[Literal["major", "minor"], list[Audience]] = Field(
        default_factory=lambda: {"major": ["sales", "success", "support"], "minor": ["support"]}
    )
    digest_audiences: dict[str, list[Audience]] = Field(
        default_factory=lambda: {"revenue": ["sales", "marketing"], "support": ["support"], "success": ["success"]}
    )
    lookback_days: int = Field(180, ge=7, le=730, description="releases this recent are checked for reach and coverage")


class EnablementParams(_Strict):
    """Parameters of the Product enablement area."""

    required_items: dict[Literal["major", "minor"], list[Literal["docs", "training", "notes"]]] = Field(
        default_factory=lambda: {"major": ["docs", "training", "notes"], "minor": ["notes"]}
    )
    min_completion: float = Field(0.5, gt=0, le=1, description="training completion below this is a knowledge gap")
    min_quiz_score: float = Field(60, gt=0, le=100, description="a mean quiz score below this is a knowledge gap")
    slow_ratio: float = Field(0.5, gt=0, lt=1, description="a launch adopted by under this share of the team's median is slow")
    lookback_days: int = Field(180, ge=7, le=730, description="releases and trainings this recent are reported")


class AlertRule(_Strict):
    """A threshold on one figure that makes an action when crossed (after PostHog's alerts: a
    value above or below a bound, or a change beyond one).

    Exactly one bound: ``above`` / ``below`` the value, or a ``rise`` / ``fall`` of at least this
    much against the previous period (the change the report states beside the figure). Bounds are
    in the figure's unit: points for NPS, a share for a percentage (0.10 is 10%), USD for money.
    """

    figure: str = Field(description="<area>.<figure key>, e.g. feedback.nps or escalations.live_breaches")
    above: float | None = Field(None, allow_inf_nan=False)
    below: float | None = Field(None, allow_inf_nan=False)
    rise: float | None = Field(None, gt=0, allow_inf_nan=False)
    fall: float | None = Field(None, gt=0, allow_inf_nan=False)
    severity: Literal["low", "medium", "high"] = "medium"

    @field_validator("figure")
    @classmethod
    def _area_and_key(cls, figure: str) -> str:
        if not re.match(r"^[a-z0-9][a-z0-9_-]*\.[a-z0-9_]+$", figure):
            raise ValueError(f"expected <area>.<figure key>, such as feedback.nps; found {figure!r}")
        return figure

    @model_validator(mode="after")
    def _one_bound(self) -> AlertRule:
        given = [k for k in ("above", "below", "rise", "fall") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"alert on {self.figure}: give exactly one of above, below, rise, fall; found "
                             f"{', '.join(given) or 'none'}")
        return self

    @property
    def area(self) -> str:
        return self.figure.split(".", 1)[0]

    @property
    def key(self) -> str:
        return self.figure.split(".", 1)[1]

    @property
    def bound(self) -> tuple[str, float]:
        """Which bound, and its value."""
        return next((k, float(getattr(self, k))) for k in ("above", "below", "rise", "fall") if getattr(self, k) is not None)


class WarehouseQuery(_Strict):
    """A canonical table as a query the warehouse runs over the company's own tables."""

    sql: str = Field(min_length=1, description="a SELECT in PostgreSQL's SQL whose columns are the table's")

    @field_validator("sql")
    @classmethod
    def _one_select(cls, sql: str) -> str:
        # Comments first are fine (a dbt model's header): the query is what follows them.
        body = re.sub(r"\A(\s*(--[^\n]*(\n|\Z)|/\*.*?\*/))*", "", sql, flags=re.S)
        head = body.lstrip().split(None, 1)[0].lower() if body.strip() else ""
        if head not in ("select", "with", "table", "values", "("):
            raise ValueError(f"expected a query that begins with select or with; found one that begins {head!r}")
        return sql


class WarehouseParams(_Strict):
    """Where a PostgreSQL workspace keeps each canonical table (README, Live data).

    By default every table is a table of its canonical name in ``schema``; ``tables`` points one
    at another table or view (``support.tickets``) or at a query (``{sql: SELECT ...}``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_name: str = Field("public", alias="schema", min_length=1, description="schema holding the canonical tables")
    password_env: str | None = Field(None, description="environment variable holding the password (default: PGPASSWORD or ~/.pgpass)")
    tables: dict[str, str | WarehouseQuery] = Field(default_factory=dict, description="a table or view name, or {sql: ...}, per canonical table")

    @field_validator("tables")
    @classmethod
    def _canonical(cls, tables: dict[str, Any]) -> dict[str, Any]:
        from playbook.schemas import TABLES

        unknown = [t for t in tables if t not in TABLES]
        if unknown:
            raise ValueError(f"no canonical table {', '.join(map(repr, unknown))}; the tables are {', '.join(TABLES)}")
        bad = [t for t, v in tables.items() if isinstance(v, str) and (not v.strip() or v.count(".") > 1)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: expected a table or view as name or schema.name")
        return tables

    @field_validator("password_env")
    @classmethod
    def _variable_name(cls, name: str | None) -> str | None:
        if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"expected the name of an environment variable, such as ANALYTICS_PASSWORD; found {name!r}")
        return name


# A plain address (no display name, comment or quoting), so that what params name is exactly
# whom the server is asked to deliver to.
ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _addresses(values: list[str]) -> list[str]:
    bad = [v for v in values if not ADDRESS.match(str(v).strip())]
    if bad:
        raise ValueError(f"expected e-mail addresses such as ops@example.com; found {', '.join(map(repr, bad))}")
    return [str(v).strip() for v in values]


def _env_name(name: str | None) -> str | None:
    if name and not ENV_NAME.fullmatch(name):
        raise ValueError(f"expected the name of an environment variable, such as PLAYBOOK_SMTP_PASSWORD; found {name!r}")
    return name or None


class EmailParams(_Strict):
    """The SMTP server e-mails go through; the user and password come from environment variables
    named here, so that no secret is ever written in params, the manifest or a log."""

    host: str = Field("", description="SMTP server; empty: no e-mail is sent")
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = Field("starttls", description="starttls (port 587), ssl (port 465), or none (a relay on this machine)")
    sender: str = "product-ops@example.com"
    user_env: str | None = Field(None, description="environment variable holding the SMTP user")
    password_env: str | None = Field(None, description="environment variable holding the SMTP password")
    timeout: float = Field(30, gt=0, le=600, description="seconds to wait for the server")
    ca_file: str | None = Field(None, description="PEM file of the certificate authority the server's certificate is checked against "
                                "(default: the system's); for a relay with a company CA")
    attach_pdf: bool = Field(False, description="attach each message's reports as PDF")

    _names = field_validator("user_env", "password_env")(classmethod(lambda cls, v: _env_name(v)))

    @field_validator("sender")
    @classmethod
    def _sender(cls, sender: str) -> str:
        if any(ord(c) < 32 for c in sender):
            raise ValueError(f"expected one line, such as \"Product ops <ops@example.com>\"; found {sender!r}")
        address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
        _addresses([address])
        return sender


class ChatParams(_Strict):
    """A Slack-compatible incoming webhook; its URL is a secret, so params name the variable holding it."""

    webhook_env: str | None = Field(None, description="environment variable holding the webhook URL; unset: no chat message")
    timeout: float = Field(30, gt=0, le=600)

    _name = field_validator("webhook_env")(classmethod(lambda cls, v: _env_name(v)))


# Keys of ``delivery`` that hold for the whole run and so belong in defaults.yaml only.
RUN_DELIVERY_KEYS = ("email", "chat", "reports_url", "ops_lead", "failures", "top_actions")


class DeliveryParams(_Strict):
    """Who receives which message (``playbook deliver``; README, Delivery).

    ``team`` and ``digests`` are a team's own (its file may set them); the rest holds for the run
    and is set in defaults.yaml.
    """

    email: EmailParams = EmailParams()
    chat: ChatParams = ChatParams()
    reports_url: str = Field("", description="where the reports folder is served, for links in messages")
    team: list[str] = Field(default_factory=list, description="addresses that receive this team's own summary")
    digests: dict[str, list[str]] = Field(default_factory=dict, description="addresses per digest audience (communication.digest_audiences)")
    ops_lead: list[str] = Field(default_factory=list, description="addresses that receive the actions page's top items")
    failures: list[str] = Field(default_factory=list, description="addresses that receive a failed run's failure summary")
    top_actions: int = Field(10, ge=1, le=100, description="actions in the ops lead's message and the chat message")

    _lists = field_validator("team", "ops_lead", "failures")(classmethod(lambda cls, v: _addresses(v)))

    @field_validator("digests")
    @classmethod
    def _digest_addresses(cls, digests: dict[str, list[str]]) -> dict[str, list[str]]:
        return {audience: _addresses(to) for audience, to in digests.items()}

    @field_validator("reports_url")
    @classmethod
    def _served(cls, url: str) -> str:
        url = url.strip()
        if url and not re.fullmatch(r"https?://[^\s/<>|\"']+(/[^\s<>|\"']*)?", url):
            raise ValueError(f"expected the http(s) address the reports folder is served at, such as https://ops.example.com/reports/; found {url!r}")
        return url if not url or url.endswith("/") else url + "/"


class Params(_Strict):
    """Everything one team's reports need: who the team is, what data, which period, thresholds."""

    team: str
    name: str
    products: list[str] = Field(min_length=1)
    workspace: str = "data/sample"
    warehouse: WarehouseParams = WarehouseParams()
    period: FixedPeriod | Literal["last_30_days", "last_90_days", "previous_month", "quarter_to_date"] = (
        "last_30_days"
    )
    extra_areas: list[str] = Field(default_factory=list, description="modules that register more areas (README, Add an area)")
    execution_timeout: int = Field(600, ge=10, description="seconds one notebook cell may run")
    time_limit: int = Field(1800, ge=1, description="seconds one whole report may take, kernel start included")
    feedback: FeedbackParams = FeedbackParams()
    tools: ToolsParams = ToolsParams()
    escalations: EscalationsParams = EscalationsParams()
    experiments: ExperimentsParams = ExperimentsParams()
    communication: CommunicationParams = CommunicationParams()
    enablement: EnablementParams = EnablementParams()
    owners: dict[str, str] = Field(default_factory=dict, description="who follows up each area's actions (the actions page)")
    alerts: list[AlertRule] = Field(default_factory=list, description="thresholds on figures that make actions")
    delivery: DeliveryParams = DeliveryParams()

    @field_validator("owners")
    @classmethod
    def _owners_named(cls, owners: dict[str, str]) -> dict[str, str]:
        blank = [area for area, who in owners.items() if not str(who).strip()]
        if blank:
            raise ValueError(f"owners: give a name for {', '.join(blank)} (or leave the area out)")
        return owners

    @model_validator(mode="after")
    def _digest_audiences_known(self) -> Params:
        unknown = [a for a in self.delivery.digests if a not in self.communication.digest_audiences]
        if unknown:
            raise ValueError(f"delivery.digests names {', '.join(map(repr, unknown))}, which communication.digest_audiences does not "
                             f"write; the audiences are {', '.join(self.communication.digest_audiences)}")
        return self

    def owner(self, area: str) -> str:
        """Who follows up ``area``'s actions for this team ("" when params name nobody)."""
        return self.owners.get(area, "")


def extra_area_modules(params_dir: Path | str) -> list[str]:
    """The modules ``defaults.yaml`` names in ``extra_areas`` (each registers an area when imported)."""
    path = Path(params_dir) / "defaults.yaml"
    data = read_yaml_lines(path)[0] if path.exists() else {}
    modules = data.get("extra_areas") or []
    if not isinstance(modules, list) or not all(isinstance(m, str) and m for m in modules):
        raise ParamsError(f"{path}: extra_areas must be a list of module names, such as ['my_company.churn_area']")
    return modules


def load_areas(params_dir: Path | str) -> None:
    """Register the areas ``defaults.yaml`` adds, so the plan, the CLI and each kernel know them."""
    from playbook.areas import load_extra_areas

    load_extra_areas(extra_area_modules(params_dir))


def _is_branch(part: object) -> bool:
    """Whether a pydantic error location part names a union member rather than a key."""
    text = str(part)
    return text[:1].isupper() or text.startswith(("literal[", "function-"))


def _relevant_errors(errors: list[dict[str, Any]], data: dict[str, Any]) -> list[dict[str, Any]]:
    """Keep, for a union such as ``period``, only the errors of the member the value was meant for.

    A mapping was meant as explicit dates, a plain value as a relative period name; reporting the
    other member's complaint too would only confuse.
    """
    kept = []
    for err in errors:
        loc = list(err["loc"])
        branch = next((i for i, part in enumerate(loc) if _is_branch(part)), None)
        if branch is not None:
            value: Any = data
            for part in loc[:branch]:
                value = value.get(part) if isinstance(value, dict) else None
            is_model_branch = not str(loc[branch]).startswith("literal[")
            if is_model_branch != isinstance(value, dict):
                continue
        kept.append(err)
    return kept or errors


def shown(value: Any) -> str:
    """A value as an error message quotes it, cut short: YAML aliases can make a few hundred bytes
    of params a structure of billions of items, whose whole repr would never finish."""
    import reprlib

    quote = reprlib.Repr()
    quote.maxlevel, quote.maxlist, quote.maxdict, quote.maxtuple, quote.maxset = 3, 6, 6, 6, 6
    quote.maxstring, quote.maxother = 120, 120
    return quote.repr(value)


def _describe_error(err: dict[str, Any], origins: dict[tuple[str, ...], tuple[Path, int]], fallback: Path) -> str:
    loc = tuple(str(p) for p in err["loc"] if not _is_branch(p))
    key = ".".join(loc) or "(top level)"
    where, line = fallback, None
    for depth in range(len(loc), 0, -1):
        if loc[:depth] in origins:
            where, line = origins[loc[:depth]]
            break
    place = f"{where}, line {line}" if line else f"{where}"
    found = err.get("input")
    if err["type"] == "extra_forbidden":
        return f"{place}: unknown key '{key}'; check its spelling against params/defaults.yaml"
    if err["type"] == "missing":
        return f"{place}: missing required key '{key}'"
    message = err["msg"].replace("Input should be", "expected").replace("Value error, ", "")
    # A check of the playbook's own already says what it found.
    return f"{place}: {key}: {message}" if "; found " in message else f"{place}: {key}: {message}; found {shown(found)}"


def load_params(params_dir: Path | str, team: str) -> Params:
    """Load, merge and validate one team's parameters.

    Args:
        params_dir: the folder holding ``defaults.yaml`` and ``teams/``.
        team: the team's file name without ``.yaml``; refused unless it is a plain slug, so a
            name like ``../x`` never becomes a path.

    Raises:
        UsageError: the team name is not a slug or has no parameters file.
        ParamsError: a file is malformed or a value is unknown, of the wrong type or out of range.
    """
    params_dir = Path(params_dir)
    check_team_name(team)
    defaults_path = params_dir / "defaults.yaml"
    team_path = params_dir / "teams" / f"{team}.yaml"
    if not team_path.exists():
        known = ", ".join(list_teams(params_dir)) or "none"
        raise UsageError(f"unknown team '{team}': no {team_path}; known teams: {known}")
    defaults, default_lines = read_yaml_lines(defaults_path) if defaults_path.exists() else ({}, {})
    overrides, team_lines = read_yaml_lines(team_path)
    if "team" in overrides:
        raise ParamsError(f"{team_path}, line {team_lines[('team',)]}: the key 'team' is set from the file name; remove it")
    if "extra_areas" in overrides:
        raise ParamsError(f"{team_path}, line {team_lines[('extra_areas',)]}: extra_areas belongs in {defaults_path.name}, "
                          "where the runner and every team read it; move it there")
    for key in RUN_DELIVERY_KEYS:
        if isinstance(overrides.get("delivery"), dict) and key in overrides["delivery"]:
            raise ParamsError(f"{team_path}, line {team_lines[('delivery', key)]}: delivery.{key} holds for the whole run and belongs in "
                              f"{defaults_path.name}; a team's file may set delivery.team and delivery.digests")
    origins = {k: (defaults_path, v) for k, v in default_lines.items()}
    origins.update({k: (team_path, v) for k, v in team_lines.items()})
    merged = deep_merge(defaults, overrides) | {"team": team}
    try:
        params = Params.model_validate(merged)
    except ValidationError as err:
        problems = [_describe_error(e, origins, team_path) for e in _relevant_errors(err.errors(), merged)]
        raise ParamsError("invalid parameters:\n  " + "\n  ".join(problems)) from None
    _check_area_names(params, origins, team_path)
    return params


def load_delivery(params_dir: Path | str) -> DeliveryParams:
    """The run-wide delivery settings (server, webhook, ops lead, failures) from defaults.yaml
    alone, so that a mistake in one team's file never keeps the failures address from hearing.

    Raises:
        ParamsError: defaults.yaml's ``delivery`` is malformed, naming the line.
    """
    defaults_path = Path(params_dir) / "defaults.yaml"
    defaults, lines = read_yaml_lines(defaults_path) if defaults_path.exists() else ({}, {})
    section = defaults.get("delivery") or {}
    try:
        return DeliveryParams.model_validate(section)
    except ValidationError as err:
        origins = {k: (defaults_path, v) for k, v in lines.items()}
        problems = [_describe_error({**e, "loc": ("delivery", *e["loc"])}, origins, defaults_path) for e in err.errors()]
        raise ParamsError("invalid parameters:\n  " + "\n  ".join(problems)) from None


def _check_area_names(params: Params, origins: dict[tuple[str, ...], tuple[Path, int]], fallback: Path) -> None:
    """Owners and alert rules name registered areas (a misspelt one would silently do nothing)."""
    from playbook.areas import AREAS

    # Areas of the user's register when their modules load: load them first.
    load_areas(fallback.parent.parent)

    problems = []
    for key in ("owners", "alerts"):
        named = params.owners if key == "owners" else [rule.area for rule in params.alerts]
        for area in named:
            if area not in AREAS:
                where, line = origins.get((key, area), origins.get((key,), (fallback, None)))
                place = f"{where}, line {line}" if line else f"{where}"
                problems.append(f"{place}: {key} names the area '{area}', which does not exist; areas: {', '.join(AREAS)}")
    if problems:
        raise ParamsError("invalid parameters:\n  " + "\n  ".join(problems))


def check_team_name(team: str) -> None:
    """Refuse a team name that could escape the params or reports folder."""
    if not isinstance(team, str) or not TEAM_NAME.match(team):
        raise UsageError(
            f"invalid team name {team!r}: expected lower-case letters, digits, '-' or '_' "
            "(no '/', '..' or spaces)"
        )


def list_teams(params_dir: Path | str) -> list[str]:
    """The teams that have a parameters file, sorted (see :func:`ignored_team_files` for the others)."""
    folder = Path(params_dir) / "teams"
    return sorted(p.stem for p in folder.glob("*.yaml") if TEAM_NAME.match(p.stem)) if folder.is_dir() else []


def ignored_team_files(params_dir: Path | str) -> list[str]:
    """A line for each file in ``teams/`` that is not read as a team, and why (so none is ignored silently)."""
    folder = Path(params_dir) / "teams"
    if not folder.is_dir():
        return []
    lines = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        shown = f"{folder.name}/{path.name}"
        if path.suffix.lower() in (".yml", ".yaml") and path.suffix != ".yaml":
            lines.append(f"{shown} is ignored: team files end in .yaml (rename it {path.stem}.yaml)")
        elif path.suffix == ".yaml" and not TEAM_NAME.match(path.stem):
            hint = path.stem.lower()
            fix = f" (rename it {hint}.yaml)" if TEAM_NAME.match(hint) else ""
            lines.append(f"{shown} is ignored: a team's file name is lower-case letters, digits, '-' or '_'{fix}")
    return lines


def project_root(params_dir: Path | str) -> Path:
    """The folder relative paths in parameters are resolved against (the params folder's parent)."""
    return Path(params_dir).resolve().parent


def workspace_path(params: Params, params_dir: Path | str) -> Path | str:
    """The team's workspace as an absolute path, or a ``postgresql://`` URL as written."""
    return resolve_workspace(params.workspace, project_root(params_dir))


def resolve_workspace(value: str | Path, base: Path | str) -> Path | str:
    """A workspace setting as an absolute path (relative to ``base``), or a database URL as it is."""
    from playbook.warehouse import is_url

    if is_url(value):
        return str(value).strip()
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(base) / path


class Snooze(_Strict):
    """An action hidden from the open list of the actions page until a date, and why.

    Attributes:
        rule: the action's rule, as the actions page shows it (``tools.rightsize``).
        subject: what it is about, as shown (``Datadog``).
        until: the last day it stays snoozed; from the day after, it is open again.
        reason: why, shown beside it in the folded section.
        team: only this team's action (default: the action in any team).
    """

    rule: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    until: date
    reason: str = Field(min_length=1)
    team: str | None = None

    def matches(self, rule: str, subject: str, team: str) -> bool:
        return self.rule == rule and self.subject == subject and (self.team is None or self.team == team)


SNOOZE_FILE = "actions.yaml"


def load_snoozes(params_dir: Path | str) -> list[Snooze]:
    """The snoozes in ``params/actions.yaml`` (none when the file is absent).

    The file holds ``snoozed:``, a list of entries with rule, subject, until, reason (and
    optionally team). YAML becomes snoozes only here.

    Raises:
        ParamsError: the file is malformed, or an entry lacks a key or has a bad value (the
            message names the file, the entry and its line).
    """
    import yaml

    path = Path(params_dir) / SNOOZE_FILE
    if not path.exists():
        return []
    data, _ = read_yaml_lines(path)
    unknown = sorted(set(data) - {"snoozed"})
    if unknown:
        raise ParamsError(f"{path}: unknown key '{unknown[0]}'; the file holds one list, snoozed:")
    entries = data.get("snoozed") or []
    if not isinstance(entries, list):
        raise ParamsError(f"{path}: snoozed: expected a list of entries (rule, subject, until, reason); found {type(entries).__name__}")
    node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    items = next((v for k, v in node.value if k.value == "snoozed"), None) if isinstance(node, yaml.MappingNode) else None
    lines = [n.start_mark.line + 1 for n in items.value] if isinstance(items, yaml.SequenceNode) else []
    snoozes = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path}, entry {number}" + (f" (line {lines[number - 1]})" if number <= len(lines) else "")
        if not isinstance(entry, dict):
            raise ParamsError(f"{where}: expected a mapping with rule, subject, until and reason; found {shown(entry)}")
        try:
            snoozes.append(Snooze.model_validate(entry))
        except ValidationError as err:
            problems = []
            for e in err.errors():
                key = ".".join(str(p) for p in e["loc"]) or "(entry)"
                if e["type"] == "missing":
                    problems.append(f"missing required key '{key}'")
                elif e["type"] == "extra_forbidden":
                    problems.append(f"unknown key '{key}' (expected rule, subject, until, reason, team)")
                else:
                    problems.append(f"{key}: {e['msg'].replace('Input should be', 'expected')}; found {shown(e.get('input'))}")
            raise ParamsError(f"{where}: " + "; ".join(problems)) from None
    return snoozes
